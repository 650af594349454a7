//! `token`: a bearer token as presented in `Authorization` or `?token=`, through the access
//! token verifier ([`verify`]) for both audiences.
//!
//! Checked: whatever verifies was signed (HMAC-SHA256 over its first two parts) with the key
//! under test, does not verify under any other key, names the audience it was verified for,
//! carries a user, a session (and for an anchor token, an anchor) and has not expired at `now`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use orbit_shared::token::{verify, Audience, Claims};
use sha2::Sha256;

/// The key tokens are checked against; the seeds are signed with it.
pub const KEY: &[u8] = b"orbit-fuzz-access-token-key-32by";
/// Another key: nothing may verify under both.
pub const OTHER_KEY: &[u8] = b"orbit-fuzz-another-token-key-32b";
/// The instant tokens are checked at (seconds since the epoch); the seeds are issued at 1,000
/// for 900 s.
pub const NOW: u64 = 1_500;

pub fn token(data: &[u8]) {
    // A header value or a query parameter reaches the verifier as text.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for audience in [Audience::Web, Audience::Anchor] {
        let verified = verify(text, KEY, audience, NOW);
        let Ok(claims) = verified else {
            continue;
        };
        signed_with_key(text);
        holds(&claims, audience);
        assert!(
            verify(text, OTHER_KEY, audience, NOW).is_err(),
            "a token verified under two keys: {text:?}"
        );
    }
    // A key that is empty is a misconfiguration, never a pass.
    assert!(verify(text, b"", Audience::Web, NOW).is_err());
}

fn signed_with_key(text: &str) {
    let Some((signing_input, signature)) = text.rsplit_once('.') else {
        panic!("a token without a signature verified: {text:?}");
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(KEY) else {
        panic!("HMAC takes a key of any length");
    };
    mac.update(signing_input.as_bytes());
    let expected = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    assert_eq!(
        signature, expected,
        "a token verified that the key did not sign: {text:?}"
    );
}

fn holds(claims: &Claims, audience: Audience) {
    assert_eq!(claims.aud, audience.as_str());
    assert!(!claims.sub.is_empty() && !claims.sid.is_empty());
    if audience == Audience::Anchor {
        assert!(claims.aid.as_deref().is_some_and(|a| !a.is_empty()));
    }
    assert!(NOW < claims.exp, "an expired token verified");
}

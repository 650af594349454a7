//! Access tokens: HS256 JWTs (SPEC §2).
//!
//! Web tokens have `aud` "orbit-web"; anchor tokens have `aud` "orbit-anchor" and an `aid`
//! claim. Both carry `sub` (user id) and `sid` (session id, checked against the sessions
//! table for revocation by the caller). Expiry is checked against the `now` the caller passes
//! in, never against a clock read here.
//!
//! ```
//! use orbit_shared::token::{issue, verify, Audience, Claims};
//! let key = b"0123456789abcdef0123456789abcdef";
//! let claims = Claims::web("user-1", "session-1", 1_000, 900);
//! let token = issue(&claims, key).unwrap();
//! assert_eq!(verify(&token, key, Audience::Web, 1_500).unwrap(), claims);
//! assert_eq!(verify(&token, key, Audience::Web, 2_000).unwrap_err().code().as_str(), "token_expired");
//! ```

use jsonwebtoken::{
    decode, encode, errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use orbit_protocol::ErrorCode;
use serde::{Deserialize, Serialize};

/// Lifetime of an access token, in seconds.
pub const ACCESS_TOKEN_SECONDS: u64 = 15 * 60;

/// Who a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Web,
    Anchor,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Web => "orbit-web",
            Audience::Anchor => "orbit-anchor",
        }
    }
}

/// The claims Orbit puts in an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub aud: String,
    /// User id.
    pub sub: String,
    /// Session id.
    pub sid: String,
    /// Anchor id, on anchor tokens only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aid: Option<String>,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Expires at, seconds since the Unix epoch.
    pub exp: u64,
}

impl Claims {
    /// Claims of a web access token issued at `now` for `ttl` seconds.
    pub fn web(user: &str, session: &str, now: u64, ttl: u64) -> Self {
        Claims {
            aud: Audience::Web.as_str().into(),
            sub: user.into(),
            sid: session.into(),
            aid: None,
            iat: now,
            exp: now.saturating_add(ttl),
        }
    }

    /// Claims of an anchor access token issued at `now` for `ttl` seconds.
    pub fn anchor(user: &str, session: &str, anchor: &str, now: u64, ttl: u64) -> Self {
        Claims {
            aud: Audience::Anchor.as_str().into(),
            aid: Some(anchor.into()),
            ..Claims::web(user, session, now, ttl)
        }
    }
}

/// Why a token was refused. Each maps to a distinct code in the 401 answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token is for another audience")]
    WrongAudience,
    #[error("the token has expired")]
    Expired,
    #[error("the token lacks a required claim")]
    MissingClaim,
    #[error("the signing key is empty")]
    EmptyKey,
}

impl TokenError {
    /// The wire code: 401 for a token's fault, 500 (`server_misconfigured`) for a missing key.
    pub fn code(&self) -> ErrorCode {
        match self {
            TokenError::Malformed => ErrorCode::TokenMalformed,
            TokenError::BadSignature => ErrorCode::TokenBadSignature,
            TokenError::WrongAudience => ErrorCode::TokenWrongAudience,
            TokenError::Expired => ErrorCode::TokenExpired,
            TokenError::MissingClaim => ErrorCode::TokenMalformed,
            TokenError::EmptyKey => ErrorCode::ServerMisconfigured,
        }
    }
}

/// Signs `claims` with the HS256 `key`.
pub fn issue(claims: &Claims, key: &[u8]) -> Result<String, TokenError> {
    if key.is_empty() {
        return Err(TokenError::EmptyKey);
    }
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(key),
    )
    .map_err(|_| TokenError::Malformed)
}

/// Verifies signature, audience and expiry (against `now`, seconds since the epoch).
pub fn verify(token: &str, key: &[u8], audience: Audience, now: u64) -> Result<Claims, TokenError> {
    if key.is_empty() {
        return Err(TokenError::EmptyKey);
    }
    let mut validation = Validation::new(Algorithm::HS256);
    // Expiry is checked below against the caller's clock: there is none to read inside workerd.
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    validation.validate_aud = false;
    let data = decode::<Claims>(token, &DecodingKey::from_secret(key), &validation).map_err(
        |e| match e.kind() {
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            ErrorKind::MissingRequiredClaim(_) => TokenError::MissingClaim,
            _ => TokenError::Malformed,
        },
    )?;
    let claims = data.claims;
    if claims.aud != audience.as_str() {
        return Err(TokenError::WrongAudience);
    }
    if claims.sub.is_empty() || claims.sid.is_empty() {
        return Err(TokenError::MissingClaim);
    }
    if audience == Audience::Anchor && claims.aid.as_deref().is_none_or(str::is_empty) {
        return Err(TokenError::MissingClaim);
    }
    if now >= claims.exp {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"test-key-test-key-test-key-32byt";

    #[test]
    fn forged_with_another_key_is_refused() {
        let token = issue(&Claims::web("u", "s", 0, 900), b"another-key").unwrap();
        assert_eq!(
            verify(&token, KEY, Audience::Web, 1),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn web_token_cannot_open_the_anchor_door() {
        let token = issue(&Claims::web("u", "s", 0, 900), KEY).unwrap();
        assert_eq!(
            verify(&token, KEY, Audience::Anchor, 1),
            Err(TokenError::WrongAudience)
        );
        let token = issue(&Claims::anchor("u", "s", "a", 0, 900), KEY).unwrap();
        assert_eq!(
            verify(&token, KEY, Audience::Web, 1),
            Err(TokenError::WrongAudience)
        );
        assert!(verify(&token, KEY, Audience::Anchor, 1).is_ok());
    }

    #[test]
    fn anchor_token_without_anchor_id_is_refused() {
        let mut claims = Claims::anchor("u", "s", "a", 0, 900);
        claims.aid = None;
        let token = issue(&claims, KEY).unwrap();
        assert_eq!(
            verify(&token, KEY, Audience::Anchor, 1),
            Err(TokenError::MissingClaim)
        );
    }

    #[test]
    fn garbage_and_alg_none_are_malformed() {
        assert_eq!(
            verify("not.a.jwt", KEY, Audience::Web, 1),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            verify("", KEY, Audience::Web, 1),
            Err(TokenError::Malformed)
        );
        // {"alg":"none"} with valid-looking claims and no signature.
        let unsigned = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJhdWQiOiJvcmJpdC13ZWIiLCJzdWIiOiJ1Iiwic2lkIjoicyIsImlhdCI6MCwiZXhwIjo5OTk5OTk5OTk5fQ.";
        assert!(verify(unsigned, KEY, Audience::Web, 1).is_err());
    }

    #[test]
    fn expiry_is_exclusive() {
        let token = issue(&Claims::web("u", "s", 100, 10), KEY).unwrap();
        assert!(verify(&token, KEY, Audience::Web, 109).is_ok());
        assert_eq!(
            verify(&token, KEY, Audience::Web, 110),
            Err(TokenError::Expired)
        );
    }

    /// The key is right but something else is not: another HMAC algorithm (HS256 is the only
    /// one accepted, so no algorithm confusion), a payload changed after signing, claims that
    /// name nobody, and oversized garbage.
    #[test]
    fn other_algorithms_tampered_payloads_and_empty_claims_are_refused() {
        for alg in [Algorithm::HS384, Algorithm::HS512] {
            let token = encode(
                &Header::new(alg),
                &Claims::web("u", "s", 0, 900),
                &EncodingKey::from_secret(KEY),
            )
            .unwrap();
            assert_eq!(
                verify(&token, KEY, Audience::Web, 1),
                Err(TokenError::Malformed),
                "{alg:?}"
            );
        }
        let token = issue(&Claims::web("alice", "s", 0, 900), KEY).unwrap();
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged_claims = issue(&Claims::web("mallory", "s", 0, 900), KEY).unwrap();
        let forged_payload = forged_claims.split('.').nth(1).unwrap().to_string();
        parts[1] = &forged_payload;
        assert_eq!(
            verify(&parts.join("."), KEY, Audience::Web, 1),
            Err(TokenError::BadSignature),
            "alice's signature over mallory's claims"
        );
        for (sub, sid) in [("", "s"), ("u", "")] {
            let token = issue(&Claims::web(sub, sid, 0, 900), KEY).unwrap();
            assert_eq!(
                verify(&token, KEY, Audience::Web, 1),
                Err(TokenError::MissingClaim),
                "sub {sub:?}, sid {sid:?}"
            );
        }
        let huge = format!("{}.{}.{}", "a".repeat(1 << 20), "b".repeat(1 << 20), "c");
        assert_eq!(
            verify(&huge, KEY, Audience::Web, 1),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            verify("a.b.c.d", KEY, Audience::Web, 1),
            Err(TokenError::Malformed)
        );
    }
}

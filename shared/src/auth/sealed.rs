//! Secrets encrypted at rest (TOTP secrets today): AES-256-GCM under a key from configuration.
//!
//! **Format.** `v1.` followed by base64url (no padding) of `nonce (12 bytes) || ciphertext ||
//! tag (16 bytes)`. The version prefix lets a later format or key scheme coexist with rows
//! already written; [`open`] refuses versions it does not know rather than guessing.
//!
//! **Nonce.** 96 random bits, drawn by the caller for every [`seal`] (this crate has no
//! randomness). Random nonces under one key stay safe for about 2³² messages; Orbit seals one
//! secret per TOTP enrolment, many orders of magnitude fewer. A nonce must never be reused with
//! the same key: always draw a fresh one, never derive it from the data.
//!
//! **Key.** [`SealKey::derive`] runs HKDF-SHA256 (RFC 5869) over the configured secret string
//! with a fixed salt and the info label `orbit/sealed/v1 aes-256-gcm`. HKDF rather than a bare
//! SHA-256 so the same configured secret could feed other purposes under other labels without
//! the derived keys being related. It is not a password hash: the configured value must already
//! be high-entropy (e.g. `openssl rand -base64 32`); fewer than [`MIN_SECRET_BYTES`] bytes is
//! refused as a misconfiguration instead of silently producing a weak key. Changing the
//! configured secret makes existing sealed values unreadable (users re-enrol TOTP).
//!
//! **AAD.** The associated data is authenticated but not stored: [`aad`] binds a ciphertext to
//! its purpose and its user id, so a sealed secret copied into another user's row (or into
//! another column) fails to open instead of letting that user sign in with a secret they know.
//!
//! ```
//! use orbit_shared::auth::sealed::{aad, open, seal, SealKey, PURPOSE_TOTP};
//! let key = SealKey::derive("a-long-random-configured-secret-0123456789").unwrap();
//! let sealed = seal(&key, [9; 12], b"secret", &aad(PURPOSE_TOTP, "user-1")).unwrap();
//! assert!(sealed.starts_with("v1."));
//! assert_eq!(open(&key, &sealed, &aad(PURPOSE_TOTP, "user-1")).unwrap(), b"secret");
//! assert!(open(&key, &sealed, &aad(PURPOSE_TOTP, "user-2")).is_err());
//! ```

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hkdf::Hkdf;
use orbit_protocol::ErrorCode;
use sha2::Sha256;

/// Key size (AES-256).
pub const KEY_BYTES: usize = 32;
/// Nonce size (the GCM standard 96 bits).
pub const NONCE_BYTES: usize = 12;
/// Authentication tag size.
pub const TAG_BYTES: usize = 16;
/// Shortest configured secret accepted by [`SealKey::derive`], in bytes.
pub const MIN_SECRET_BYTES: usize = 32;
/// Prefix of the current format.
pub const VERSION_PREFIX: &str = "v1.";
/// Purpose label of a sealed TOTP secret, for [`aad`].
pub const PURPOSE_TOTP: &str = "totp-secret";

const HKDF_SALT: &[u8] = b"orbit/sealed";
const HKDF_INFO: &[u8] = b"orbit/sealed/v1 aes-256-gcm";

/// Why sealing or opening failed. All are server-side faults (500): sealed values are written
/// and read by the Worker, never supplied by a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the sealing secret is missing or shorter than {MIN_SECRET_BYTES} bytes")]
    WeakKey,
    #[error("the sealed value is malformed")]
    Malformed,
    #[error("the sealed value has an unknown format version")]
    UnknownVersion,
    /// Wrong key, wrong AAD (another user or purpose), or altered bytes: GCM cannot tell which.
    #[error("the sealed value does not open with this key and context")]
    Undecryptable,
    #[error("the value is too large to seal")]
    TooLarge,
}

impl SealError {
    /// The wire code (all HTTP 500).
    pub fn code(&self) -> ErrorCode {
        match self {
            SealError::WeakKey => ErrorCode::ServerMisconfigured,
            SealError::Malformed => ErrorCode::SealedMalformed,
            SealError::UnknownVersion => ErrorCode::SealedUnknownVersion,
            SealError::Undecryptable => ErrorCode::SealedUndecryptable,
            SealError::TooLarge => ErrorCode::SealedTooLarge,
        }
    }
}

/// A 256-bit sealing key. `Debug` does not print it.
#[derive(Clone)]
pub struct SealKey([u8; KEY_BYTES]);

impl SealKey {
    /// Derives the key from the configured secret (see the module docs).
    pub fn derive(configured_secret: &str) -> Result<Self, SealError> {
        if configured_secret.len() < MIN_SECRET_BYTES {
            return Err(SealError::WeakKey);
        }
        let mut key = [0u8; KEY_BYTES];
        Hkdf::<Sha256>::new(Some(HKDF_SALT), configured_secret.as_bytes())
            .expand(HKDF_INFO, &mut key)
            .map_err(|_| SealError::WeakKey)?;
        Ok(SealKey(key))
    }

    /// A key given as raw bytes (tests, or a key already derived elsewhere).
    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> Self {
        SealKey(bytes)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.0.into())
    }
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey(<redacted>)")
    }
}

/// The associated data binding a sealed value to a purpose and a user:
/// `len(purpose) as u32 BE || purpose || user_id`. The length prefix keeps the encoding
/// unambiguous whatever characters either part holds.
pub fn aad(purpose: &str, user_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + purpose.len() + user_id.len());
    out.extend_from_slice(&(purpose.len() as u32).to_be_bytes());
    out.extend_from_slice(purpose.as_bytes());
    out.extend_from_slice(user_id.as_bytes());
    out
}

/// Encrypts `plaintext` under `key` with the caller's fresh random `nonce`, authenticating
/// `aad` too. Returns the `v1.` string to store.
pub fn seal(
    key: &SealKey,
    nonce: [u8; NONCE_BYTES],
    plaintext: &[u8],
    aad: &[u8],
) -> Result<String, SealError> {
    let ciphertext = key
        .cipher()
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| SealError::TooLarge)?;
    let mut raw = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
    raw.extend_from_slice(&nonce);
    raw.extend_from_slice(&ciphertext);
    Ok(format!("{VERSION_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw)))
}

/// Decrypts a value made by [`seal`] with the same key and AAD.
pub fn open(key: &SealKey, sealed: &str, aad: &[u8]) -> Result<Vec<u8>, SealError> {
    let body = match sealed.split_once('.') {
        Some(("v1", body)) => body,
        Some((version, _)) if is_version_tag(version) => return Err(SealError::UnknownVersion),
        _ => return Err(SealError::Malformed),
    };
    let raw = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| SealError::Malformed)?;
    if raw.len() < NONCE_BYTES + TAG_BYTES {
        return Err(SealError::Malformed);
    }
    let (nonce, ciphertext) = raw.split_at(NONCE_BYTES);
    let nonce = <[u8; NONCE_BYTES]>::try_from(nonce).map_err(|_| SealError::Malformed)?;
    key.cipher()
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| SealError::Undecryptable)
}

/// `v` followed by one or more digits.
fn is_version_tag(s: &str) -> bool {
    s.strip_prefix('v')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &str = "test-configured-secret-0123456789abcdef";

    fn key() -> SealKey {
        SealKey::derive(SECRET).unwrap()
    }

    fn totp_aad(user: &str) -> Vec<u8> {
        aad(PURPOSE_TOTP, user)
    }

    #[test]
    fn round_trip_and_format() {
        let sealed = seal(&key(), [1; 12], b"0123456789abcdefghij", &totp_aad("u1")).unwrap();
        // 12 + 20 + 16 = 48 bytes → 64 base64 characters.
        assert_eq!(sealed.len(), 3 + 64);
        assert_eq!(
            open(&key(), &sealed, &totp_aad("u1")).unwrap(),
            b"0123456789abcdefghij"
        );
        // Empty plaintext works too.
        let empty = seal(&key(), [2; 12], b"", &totp_aad("u1")).unwrap();
        assert_eq!(open(&key(), &empty, &totp_aad("u1")).unwrap(), b"");
    }

    #[test]
    fn key_derivation_is_deterministic_and_checked() {
        let a = seal(&key(), [1; 12], b"x", b"").unwrap();
        let b = seal(&SealKey::derive(SECRET).unwrap(), [1; 12], b"x", b"").unwrap();
        assert_eq!(a, b);
        let other = SealKey::derive("another-configured-secret-0123456789abcdef").unwrap();
        assert_eq!(open(&other, &a, b""), Err(SealError::Undecryptable));
        assert!(matches!(SealKey::derive(""), Err(SealError::WeakKey)));
        assert!(matches!(
            SealKey::derive(&"x".repeat(MIN_SECRET_BYTES - 1)),
            Err(SealError::WeakKey)
        ));
        assert!(SealKey::derive(&"x".repeat(MIN_SECRET_BYTES)).is_ok());
        assert_eq!(format!("{:?}", key()), "SealKey(<redacted>)");
    }

    #[test]
    fn cannot_be_moved_to_another_user_or_purpose() {
        let sealed = seal(&key(), [3; 12], b"secret", &totp_aad("alice")).unwrap();
        assert_eq!(
            open(&key(), &sealed, &totp_aad("bob")),
            Err(SealError::Undecryptable)
        );
        assert_eq!(
            open(&key(), &sealed, &aad("other-purpose", "alice")),
            Err(SealError::Undecryptable)
        );
        // The length prefix keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(aad("ab", "c"), aad("a", "bc"));
    }

    #[test]
    fn tampering_is_detected() {
        let sealed = seal(&key(), [4; 12], b"secret", &totp_aad("u")).unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(&sealed[3..]).unwrap();
        for i in 0..raw.len() {
            raw[i] ^= 0x01;
            let tampered = format!("v1.{}", URL_SAFE_NO_PAD.encode(&raw));
            assert_eq!(
                open(&key(), &tampered, &totp_aad("u")),
                Err(SealError::Undecryptable),
                "byte {i}"
            );
            raw[i] ^= 0x01;
        }
        // Truncated (tag cut off).
        let short = format!("v1.{}", URL_SAFE_NO_PAD.encode(&raw[..raw.len() - 1]));
        assert_eq!(
            open(&key(), &short, &totp_aad("u")),
            Err(SealError::Undecryptable)
        );
    }

    #[test]
    fn malformed_and_unknown_versions() {
        let k = key();
        for bad in ["", "v1", "v1.", "v1.!!!!", "nodot", "x1.AAAA", "v1.AAAA"] {
            assert_eq!(open(&k, bad, b""), Err(SealError::Malformed), "{bad:?}");
        }
        assert_eq!(
            open(&k, "v2.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", b""),
            Err(SealError::UnknownVersion)
        );
        for e in [
            SealError::WeakKey,
            SealError::Malformed,
            SealError::UnknownVersion,
            SealError::Undecryptable,
            SealError::TooLarge,
        ] {
            assert_eq!(e.code().http_status(), Some(500), "{e:?}");
        }
        assert_eq!(SealError::WeakKey.code().as_str(), "server_misconfigured");
    }

    proptest! {
        #[test]
        fn seal_open_round_trip(
            key_bytes in any::<[u8; 32]>(),
            nonce in any::<[u8; 12]>(),
            plaintext in proptest::collection::vec(any::<u8>(), 0..256),
            user in ".{0,40}",
        ) {
            let key = SealKey::from_bytes(key_bytes);
            let sealed = seal(&key, nonce, &plaintext, &totp_aad(&user)).unwrap();
            prop_assert!(sealed.starts_with(VERSION_PREFIX));
            prop_assert_eq!(open(&key, &sealed, &totp_aad(&user)).unwrap(), plaintext);
            let other = format!("{user}x");
            prop_assert_eq!(open(&key, &sealed, &totp_aad(&other)), Err(SealError::Undecryptable));
        }
    }
}

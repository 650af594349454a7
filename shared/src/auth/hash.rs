//! Storage hashes of high-entropy bearer secrets (refresh tokens, device codes) and the
//! constant-time comparison used wherever two secrets or hashes are compared.
//!
//! Why a plain SHA-256 and not a password hash: these secrets carry 256 random bits, so a
//! stolen database cannot be brute-forced back to a usable token whatever the hash's speed;
//! what the hash buys is that a database leak (a backup, a log of a query) does not hand out
//! live credentials. The hash is hex so it is a readable, indexable D1 `TEXT` column, and the
//! Worker looks rows up by it. Never use this for low-entropy secrets (user codes, TOTP codes).
//!
//! ```
//! use orbit_shared::auth::hash::{constant_time_eq, storage_hash};
//! let h = storage_hash("ort_example");
//! assert_eq!(h.len(), 64);
//! assert!(constant_time_eq(h.as_bytes(), storage_hash("ort_example").as_bytes()));
//! assert!(!constant_time_eq(h.as_bytes(), storage_hash("ort_other").as_bytes()));
//! ```

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Length of [`storage_hash`]'s output, in characters.
pub const STORAGE_HASH_LEN: usize = 64;

/// SHA-256 of the secret's UTF-8 bytes, lowercase hex (64 characters).
pub fn storage_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two byte strings in time that depends only on their lengths, so a mismatch does not
/// tell an attacker how many leading bytes were right. Different lengths compare unequal.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_sha256_vector() {
        // FIPS 180-2 "abc".
        assert_eq!(
            storage_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(storage_hash("").len(), STORAGE_HASH_LEN);
    }

    #[test]
    fn comparison() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}

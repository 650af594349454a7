//! Refresh tokens (SPEC §2): 256 bits, stored only as a hash, single use, rotated on every
//! refresh; presenting one that was already used revokes the whole session — except a retry
//! within a short grace window after the rotation, which gets the same successor again.
//!
//! **Format.** `ort_` (web) or `ora_` (anchor) followed by 32 bytes in base64url without
//! padding: 47 characters. The prefix tells the two kinds apart at a glance, so a web token sent
//! to the anchor endpoint is refused before any lookup, and makes a leaked token easy to
//! recognise (secret scanners, logs). The storage hash is [`storage_hash`] of the whole string.
//!
//! **Where the bytes come from.** A session's first token is 32 bytes of a CSPRNG ([`issue`]).
//! Every later one is the previous token's [`successor`]: a keyed hash (HKDF-SHA256, i.e. HMAC)
//! of the spent token under a [`RotationKey`] derived from a server secret (HKDF-SHA256, its own
//! label), so only Orbit can compute it and, given the spent token, Orbit can compute it
//! *again*. That is what lets a retried refresh get the same successor back although only hashes
//! are stored: nothing secret is kept for the retry, it is re-derived. Without the key, a successor is as unpredictable as
//! a random token (HMAC is a PRF); a thief holding the key could also mint access tokens, so
//! the derivation adds nothing to what the key already guards.
//!
//! **Decision.** The Worker looks the row up by the presented token's hash, with its successor's
//! row (the one `replaced_by` names), and hands them to [`decide`], which says what to do:
//!
//! | row                                                       | decision                  | answer |
//! |-----------------------------------------------------------|---------------------------|--------|
//! | token malformed or of another kind                        | `Refuse(Malformed)`       | 401    |
//! | no row                                                    | `Refuse(Unknown)`         | 401    |
//! | session already revoked                                   | `Refuse(SessionRevoked)`  | 401    |
//! | already used, within the grace window, successor unused   | `Reissue(successor)`      | 200    |
//! | already used, otherwise                                   | `RevokeSession` (reuse)   | 401    |
//! | `now >= expires_at`                                       | `Refuse(Expired)`         | 401    |
//! | otherwise                                                 | `Rotate(successor)`       | 200    |
//!
//! Reuse is checked before expiry: a used token showing up again means a copy exists somewhere,
//! whether or not it has expired since.
//!
//! **The grace window** ([`REUSE_GRACE_SECONDS`], 30 s). Orbit may commit a rotation whose answer
//! never reaches the client (a dropped connection, a reconnecting anchor, a tab closed
//! mid-request); the client then retries with the token it still holds, which is spent. Under
//! strict reuse detection that retry revoked the whole session. Now, within the window after the
//! spend, presenting the spent token again answers the *same* successor (re-derived; it must be
//! the one the rotation recorded) and a fresh access token, with no write — as long as that
//! successor has not been used itself. Once it has, the spent token is a copy in other hands and
//! reuse detection applies inside the window too; outside the window it always applies. A copy
//! replayed within the window gets the very token the owner holds, so the session never forks:
//! there is still one chain, and whichever holder falls behind by more than the window is caught
//! as reuse. A window of 0 restores strict detection. The window is counted in whole seconds:
//! a retry `w` or fewer seconds (by the seconds of the two instants) after the spend is inside.
//!
//! On `Rotate` the Worker must mark the row used **atomically** (`UPDATE … SET used_at = ?
//! WHERE hash = ? AND used_at IS NULL`). Two concurrent refreshes with one token derive the same
//! successor: the one whose update took effect stores it, and the other reads the row again and
//! decides anew — within the window, `Reissue` of that same successor.
//!
//! ```
//! use orbit_shared::auth::refresh::{
//!     decide, issue, successor, Grace, RefreshDecision, RefreshKind, RotationKey, StoredRefresh,
//!     StoredSuccessor,
//! };
//! let key = RotationKey::derive(b"the server secret");
//! let grace = Grace { key: &key, window_s: 30 };
//! let first = issue(RefreshKind::Web, [5; 32], 1_000);
//! assert!(first.token.starts_with("ort_"));
//! let row = StoredRefresh { hash: first.hash.clone(), expires_at: first.expires_at,
//!                           used_at: None, successor: None, session_revoked: false };
//! let RefreshDecision::Rotate(next) = decide(&first.token, RefreshKind::Web, Some(&row), 2_000, grace)
//! else { panic!() };
//! assert_eq!(next, successor(RefreshKind::Web, &first.token, &key, 2_000));
//! // The answer was lost; the client retries 5 s later with the spent token.
//! let spent = StoredRefresh {
//!     used_at: Some(2_000),
//!     successor: Some(StoredSuccessor { hash: next.hash.clone(), expires_at: next.expires_at, used: false }),
//!     ..row
//! };
//! assert_eq!(decide(&first.token, RefreshKind::Web, Some(&spent), 2_005, grace),
//!            RefreshDecision::Reissue(next.clone()));
//! // Too late: reuse, the session is revoked.
//! assert_eq!(decide(&first.token, RefreshKind::Web, Some(&spent), 2_031, grace),
//!            RefreshDecision::RevokeSession);
//! ```

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hkdf::Hkdf;
use orbit_protocol::ErrorCode;
use sha2::Sha256;

use super::hash::{constant_time_eq, storage_hash};

/// Random bytes in a refresh token (256 bits).
pub const TOKEN_BYTES: usize = 32;
/// Length of a refresh token string: 4-character prefix + 43 base64url characters.
pub const TOKEN_LEN: usize = 4 + 43;
/// Lifetime of a web refresh token, in seconds (30 days).
pub const WEB_REFRESH_SECONDS: u64 = 30 * 24 * 60 * 60;
/// Lifetime of an anchor refresh token, in seconds (90 days).
pub const ANCHOR_REFRESH_SECONDS: u64 = 90 * 24 * 60 * 60;
/// How long after a refresh token was spent presenting it again answers the same successor
/// instead of revoking the session, in seconds (see the module docs): long enough for a client
/// to notice a lost answer and retry, short enough that a copy replayed later is still reuse.
pub const REUSE_GRACE_SECONDS: u64 = 30;

const HKDF_SALT: &[u8] = b"orbit/refresh";
const HKDF_INFO: &[u8] = b"orbit/refresh/v1 rotation key";
const SUCCESSOR_INFO: &[u8] = b"orbit/refresh/v1 successor";

/// Whose refresh token it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshKind {
    Web,
    Anchor,
}

impl RefreshKind {
    /// The token prefix: `ort_` (Orbit refresh, web) or `ora_` (Orbit refresh, anchor).
    pub fn prefix(self) -> &'static str {
        match self {
            RefreshKind::Web => "ort_",
            RefreshKind::Anchor => "ora_",
        }
    }

    /// Lifetime in seconds.
    pub fn lifetime_s(self) -> u64 {
        match self {
            RefreshKind::Web => WEB_REFRESH_SECONDS,
            RefreshKind::Anchor => ANCHOR_REFRESH_SECONDS,
        }
    }
}

/// A freshly issued refresh token: `token` goes to the client once, `hash` and `expires_at`
/// go to D1.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedRefresh {
    pub token: String,
    pub hash: String,
    /// Seconds since the epoch.
    pub expires_at: u64,
}

impl std::fmt::Debug for IssuedRefresh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedRefresh")
            .field("token", &"<redacted>")
            .field("hash", &self.hash)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Makes a refresh token of `kind` from 32 bytes of a CSPRNG, issued at `now_s`: a session's
/// first token.
pub fn issue(kind: RefreshKind, random: [u8; TOKEN_BYTES], now_s: u64) -> IssuedRefresh {
    let token = format!("{}{}", kind.prefix(), URL_SAFE_NO_PAD.encode(random));
    IssuedRefresh {
        hash: storage_hash(&token),
        token,
        expires_at: now_s.saturating_add(kind.lifetime_s()),
    }
}

/// The server key successors are derived under: HKDF-SHA256 of a server secret (the Worker
/// uses `ORBIT_JWT_SECRET`) with this module's own salt and label, so it is unrelated to the
/// secret's other uses (the access tokens' HS256 key, the sealing key).
#[derive(Clone)]
pub struct RotationKey([u8; 32]);

impl RotationKey {
    /// Derives the key from `server_secret`.
    pub fn derive(server_secret: &[u8]) -> Self {
        let mut key = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's 255 × 32 output limit: expand cannot fail.
        let _ = Hkdf::<Sha256>::new(Some(HKDF_SALT), server_secret).expand(HKDF_INFO, &mut key);
        RotationKey(key)
    }
}

impl std::fmt::Debug for RotationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RotationKey(<redacted>)")
    }
}

/// The token that replaces `spent` (a well-formed token of `kind`) when it is rotated at
/// `now_s`: 32 bytes of HKDF-SHA256 with `key` as the salt and `spent` as the input (its extract
/// step is HMAC-SHA256(`key`, `spent`)), so the same spent token always has the same successor.
/// Its expiry slides to `now_s` + the kind's lifetime.
pub fn successor(kind: RefreshKind, spent: &str, key: &RotationKey, now_s: u64) -> IssuedRefresh {
    let mut bytes = [0u8; TOKEN_BYTES];
    // 32 bytes is far below HKDF-SHA256's output limit: expand cannot fail.
    let _ = Hkdf::<Sha256>::new(Some(&key.0), spent.as_bytes()).expand(SUCCESSOR_INFO, &mut bytes);
    issue(kind, bytes, now_s)
}

/// Whether `token` is shaped like a refresh token of `kind` (prefix, length, alphabet, and the
/// 43 characters decode to exactly 32 bytes). Cheap to run before any D1 lookup.
pub fn is_well_formed(token: &str, kind: RefreshKind) -> bool {
    token.len() == TOKEN_LEN
        && token.strip_prefix(kind.prefix()).is_some_and(|body| {
            URL_SAFE_NO_PAD
                .decode(body)
                .is_ok_and(|bytes| bytes.len() == TOKEN_BYTES)
        })
}

/// The hash to look a presented token up by (same as [`IssuedRefresh::hash`]).
pub fn lookup_hash(token: &str) -> String {
    storage_hash(token)
}

/// What D1 holds about a refresh token, as far as the decision needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRefresh {
    /// The stored hash (the lookup key).
    pub hash: String,
    /// Seconds since the epoch; the token is refused from this instant on.
    pub expires_at: u64,
    /// When the token was exchanged (rotated away), in seconds since the epoch; `None` while it
    /// is live.
    pub used_at: Option<u64>,
    /// The row of the token it was exchanged for (the one `replaced_by` names), if there is one.
    pub successor: Option<StoredSuccessor>,
    /// Whether its session (or anchor) is revoked.
    pub session_revoked: bool,
}

/// What D1 holds about a spent token's successor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSuccessor {
    pub hash: String,
    /// Seconds since the epoch.
    pub expires_at: u64,
    /// Whether the successor was exchanged in turn.
    pub used: bool,
}

/// The grace window of a decision: the key successors are derived under and the window's
/// length in seconds (`0`: strict reuse detection).
#[derive(Debug, Clone, Copy)]
pub struct Grace<'a> {
    pub key: &'a RotationKey,
    pub window_s: u64,
}

/// Why a refresh was refused. All answer 401 with `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    #[error("the refresh token is malformed")]
    Malformed,
    #[error("the refresh token is not known")]
    Unknown,
    #[error("the refresh token has expired")]
    Expired,
    #[error("the refresh token was already used; the session has been revoked")]
    Reused,
    #[error("the session was revoked")]
    SessionRevoked,
}

impl RefreshError {
    /// The wire code (all HTTP 401).
    pub fn code(&self) -> ErrorCode {
        match self {
            RefreshError::Malformed => ErrorCode::RefreshMalformed,
            RefreshError::Unknown => ErrorCode::RefreshUnknown,
            RefreshError::Expired => ErrorCode::RefreshExpired,
            RefreshError::Reused => ErrorCode::RefreshReused,
            RefreshError::SessionRevoked => ErrorCode::SessionRevoked,
        }
    }
}

/// What the Worker does with a presented refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshDecision {
    /// Valid: mark it used (atomically) naming this successor, store the successor, and answer
    /// it with a new access token.
    Rotate(IssuedRefresh),
    /// A retry within the grace window of a rotation whose answer was lost: answer this
    /// successor (already stored, with its stored expiry) again with a new access token; nothing
    /// is written.
    Reissue(IssuedRefresh),
    /// Reuse detected: revoke the session (and close its sockets), log a security event, and
    /// answer 401 [`RefreshError::Reused`].
    RevokeSession,
    /// Refuse with this error; nothing to change.
    Refuse(RefreshError),
}

impl RefreshDecision {
    /// The error to answer with, if any.
    pub fn error(&self) -> Option<RefreshError> {
        match self {
            RefreshDecision::Rotate(_) | RefreshDecision::Reissue(_) => None,
            RefreshDecision::RevokeSession => Some(RefreshError::Reused),
            RefreshDecision::Refuse(e) => Some(*e),
        }
    }
}

/// Decides what to do with `presented` (expected to be of `kind`) given the row found by its
/// hash (`None` if none) at `now_s`. See the module docs for the table.
pub fn decide(
    presented: &str,
    kind: RefreshKind,
    stored: Option<&StoredRefresh>,
    now_s: u64,
    grace: Grace<'_>,
) -> RefreshDecision {
    if !is_well_formed(presented, kind) {
        return RefreshDecision::Refuse(RefreshError::Malformed);
    }
    let Some(row) = stored else {
        return RefreshDecision::Refuse(RefreshError::Unknown);
    };
    // The lookup already matched on the hash; checking again (in constant time) keeps this
    // function correct on its own, whatever row it is handed.
    if !constant_time_eq(storage_hash(presented).as_bytes(), row.hash.as_bytes()) {
        return RefreshDecision::Refuse(RefreshError::Unknown);
    }
    if row.session_revoked {
        return RefreshDecision::Refuse(RefreshError::SessionRevoked);
    }
    if let Some(used_at) = row.used_at {
        return match retry_within_grace(presented, kind, row, used_at, now_s, grace) {
            Some(again) => RefreshDecision::Reissue(again),
            None => RefreshDecision::RevokeSession,
        };
    }
    if now_s >= row.expires_at {
        return RefreshDecision::Refuse(RefreshError::Expired);
    }
    RefreshDecision::Rotate(successor(kind, presented, grace.key, now_s))
}

/// The successor to answer again when a spent token comes back within the grace window, its
/// successor is the one this key derives from it, still unused and unexpired; `None` (reuse)
/// otherwise.
fn retry_within_grace(
    presented: &str,
    kind: RefreshKind,
    row: &StoredRefresh,
    used_at: u64,
    now_s: u64,
    grace: Grace<'_>,
) -> Option<IssuedRefresh> {
    if grace.window_s == 0 || now_s.saturating_sub(used_at) > grace.window_s {
        return None;
    }
    let stored = row.successor.as_ref()?;
    if stored.used || now_s >= stored.expires_at {
        return None;
    }
    let again = successor(kind, presented, grace.key, used_at);
    // A successor this key does not derive (the server secret changed since the rotation) cannot
    // be answered again: nothing else knows it.
    if !constant_time_eq(again.hash.as_bytes(), stored.hash.as_bytes()) {
        return None;
    }
    Some(IssuedRefresh {
        expires_at: stored.expires_at,
        ..again
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> RotationKey {
        RotationKey::derive(b"a test server secret, 32 bytes or more")
    }

    fn grace(key: &RotationKey) -> Grace<'_> {
        Grace {
            key,
            window_s: REUSE_GRACE_SECONDS,
        }
    }

    fn row(issued: &IssuedRefresh) -> StoredRefresh {
        StoredRefresh {
            hash: issued.hash.clone(),
            expires_at: issued.expires_at,
            used_at: None,
            successor: None,
            session_revoked: false,
        }
    }

    /// `issued` as it is after a rotation at `at` that stored `next`.
    fn spent(issued: &IssuedRefresh, at: u64, next: &IssuedRefresh) -> StoredRefresh {
        StoredRefresh {
            used_at: Some(at),
            successor: Some(StoredSuccessor {
                hash: next.hash.clone(),
                expires_at: next.expires_at,
                used: false,
            }),
            ..row(issued)
        }
    }

    /// Rotates `issued` at `at` and returns its successor.
    fn rotate(
        issued: &IssuedRefresh,
        kind: RefreshKind,
        key: &RotationKey,
        at: u64,
    ) -> IssuedRefresh {
        match decide(&issued.token, kind, Some(&row(issued)), at, grace(key)) {
            RefreshDecision::Rotate(next) => next,
            other => panic!("expected a rotation, got {other:?}"),
        }
    }

    #[test]
    fn format_and_hash() {
        let web = issue(RefreshKind::Web, [0; 32], 0);
        assert_eq!(web.token, "ort_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(web.token.len(), TOKEN_LEN);
        assert_eq!(web.hash, storage_hash(&web.token));
        assert_eq!(web.hash, lookup_hash(&web.token));
        assert_eq!(web.expires_at, 30 * 86_400);
        let anchor = issue(RefreshKind::Anchor, [0xff; 32], 10);
        assert!(anchor.token.starts_with("ora_"));
        assert_eq!(anchor.expires_at, 10 + 90 * 86_400);
        assert_ne!(web.hash, issue(RefreshKind::Web, [1; 32], 0).hash);
        assert!(!format!("{web:?}").contains(&web.token));
    }

    #[test]
    fn well_formedness() {
        let t = issue(RefreshKind::Web, [7; 32], 0).token;
        assert!(is_well_formed(&t, RefreshKind::Web));
        assert!(!is_well_formed(&t, RefreshKind::Anchor));
        assert!(!is_well_formed(&t[..TOKEN_LEN - 1], RefreshKind::Web));
        assert!(!is_well_formed(&format!("{t}A"), RefreshKind::Web));
        assert!(!is_well_formed("", RefreshKind::Web));
        let bad_char = format!("{}!", &t[..TOKEN_LEN - 1]);
        assert!(!is_well_formed(&bad_char, RefreshKind::Web));
        // Non-canonical last character (the 2 unused trailing bits set) is refused too, so
        // one token has exactly one spelling.
        let zero = issue(RefreshKind::Web, [0; 32], 0).token;
        assert!(zero.ends_with('A'));
        let noncanonical = format!("{}B", &zero[..TOKEN_LEN - 1]);
        assert!(!is_well_formed(&noncanonical, RefreshKind::Web));
    }

    #[test]
    fn successors_are_deterministic_keyed_and_well_formed() {
        let k = key();
        let first = issue(RefreshKind::Web, [3; 32], 100);
        let a = successor(RefreshKind::Web, &first.token, &k, 200);
        // The same spent token and key: the same successor, whenever it is derived (only the
        // expiry slides with the instant).
        let b = successor(RefreshKind::Web, &first.token, &k, 900);
        assert_eq!((&a.token, &a.hash), (&b.token, &b.hash));
        assert_eq!(a.expires_at, 200 + WEB_REFRESH_SECONDS);
        assert!(is_well_formed(&a.token, RefreshKind::Web));
        assert_ne!(a.token, first.token);
        // Another key, another spent token, or the next link: unrelated tokens.
        let other_key = RotationKey::derive(b"another server secret, 32 bytes or more");
        assert_ne!(
            a.token,
            successor(RefreshKind::Web, &first.token, &other_key, 200).token
        );
        let other = issue(RefreshKind::Web, [4; 32], 100);
        assert_ne!(
            a.token,
            successor(RefreshKind::Web, &other.token, &k, 200).token
        );
        assert_ne!(
            a.token,
            successor(RefreshKind::Web, &a.token, &k, 200).token
        );
        let anchor = successor(
            RefreshKind::Anchor,
            &issue(RefreshKind::Anchor, [3; 32], 0).token,
            &k,
            0,
        );
        assert!(is_well_formed(&anchor.token, RefreshKind::Anchor));
        // The key never shows in logs.
        assert_eq!(format!("{k:?}"), "RotationKey(<redacted>)");
    }

    #[test]
    fn decisions() {
        let k = key();
        let issued = issue(RefreshKind::Web, [3; 32], 100);
        let ok = row(&issued);
        let t = &issued.token;
        let web = RefreshKind::Web;
        assert_eq!(
            decide(t, web, Some(&ok), 100, grace(&k)),
            RefreshDecision::Rotate(successor(web, t, &k, 100))
        );
        assert_eq!(
            decide(t, web, None, 100, grace(&k)),
            RefreshDecision::Refuse(RefreshError::Unknown)
        );
        assert_eq!(
            decide(t, RefreshKind::Anchor, Some(&ok), 100, grace(&k)),
            RefreshDecision::Refuse(RefreshError::Malformed)
        );
        assert_eq!(
            decide("garbage", web, Some(&ok), 100, grace(&k)),
            RefreshDecision::Refuse(RefreshError::Malformed)
        );
        // A row for another token (caller bug) is not taken as a match.
        let other = issue(RefreshKind::Web, [4; 32], 100);
        assert_eq!(
            decide(&other.token, web, Some(&ok), 100, grace(&k)),
            RefreshDecision::Refuse(RefreshError::Unknown)
        );
    }

    #[test]
    fn expiry_is_exclusive() {
        let k = key();
        let issued = issue(RefreshKind::Anchor, [3; 32], 100);
        let r = row(&issued);
        let exp = 100 + ANCHOR_REFRESH_SECONDS;
        let a = RefreshKind::Anchor;
        assert!(matches!(
            decide(&issued.token, a, Some(&r), exp - 1, grace(&k)),
            RefreshDecision::Rotate(_)
        ));
        assert_eq!(
            decide(&issued.token, a, Some(&r), exp, grace(&k)),
            RefreshDecision::Refuse(RefreshError::Expired)
        );
    }

    #[test]
    fn a_lost_answer_retried_within_the_grace_window_gets_the_same_successor() {
        let k = key();
        for kind in [RefreshKind::Web, RefreshKind::Anchor] {
            let issued = issue(kind, [3; 32], 100);
            let next = rotate(&issued, kind, &k, 1_000);
            let after = spent(&issued, 1_000, &next);
            for retry_at in [1_000, 1_001, 1_000 + REUSE_GRACE_SECONDS] {
                let RefreshDecision::Reissue(again) =
                    decide(&issued.token, kind, Some(&after), retry_at, grace(&k))
                else {
                    panic!("a retry {retry_at} s after the spend should get the successor again");
                };
                // The same token, with the expiry the rotation stored (it does not slide again).
                assert_eq!(again, next);
            }
            // The successor itself then rotates normally.
            assert!(matches!(
                decide(&next.token, kind, Some(&row(&next)), 1_010, grace(&k)),
                RefreshDecision::Rotate(_)
            ));
        }
    }

    #[test]
    fn a_spent_token_after_the_grace_window_is_reuse() {
        let k = key();
        let issued = issue(RefreshKind::Web, [3; 32], 100);
        let next = rotate(&issued, RefreshKind::Web, &k, 1_000);
        let after = spent(&issued, 1_000, &next);
        for late in [1_001 + REUSE_GRACE_SECONDS, 5_000, u64::MAX] {
            assert_eq!(
                decide(
                    &issued.token,
                    RefreshKind::Web,
                    Some(&after),
                    late,
                    grace(&k)
                ),
                RefreshDecision::RevokeSession,
                "{late}"
            );
        }
        // Even after the token's own expiry: a used token coming back is a copy.
        let expired = StoredRefresh {
            expires_at: 500,
            ..after.clone()
        };
        assert_eq!(
            decide(
                &issued.token,
                RefreshKind::Web,
                Some(&expired),
                2_000,
                grace(&k)
            ),
            RefreshDecision::RevokeSession
        );
        assert_eq!(
            RefreshDecision::RevokeSession.error(),
            Some(RefreshError::Reused)
        );
    }

    #[test]
    fn a_spent_token_whose_successor_was_used_is_reuse_even_within_the_window() {
        let k = key();
        let issued = issue(RefreshKind::Anchor, [3; 32], 100);
        let next = rotate(&issued, RefreshKind::Anchor, &k, 1_000);
        let mut after = spent(&issued, 1_000, &next);
        if let Some(s) = after.successor.as_mut() {
            s.used = true;
        }
        assert_eq!(
            decide(
                &issued.token,
                RefreshKind::Anchor,
                Some(&after),
                1_001,
                grace(&k)
            ),
            RefreshDecision::RevokeSession
        );
    }

    #[test]
    fn a_successor_that_cannot_be_answered_again_makes_the_retry_reuse() {
        let k = key();
        let web = RefreshKind::Web;
        let issued = issue(web, [3; 32], 100);
        let next = rotate(&issued, web, &k, 1_000);
        let after = spent(&issued, 1_000, &next);
        // The successor row is missing (deleted, or the spend named none).
        let missing = StoredRefresh {
            successor: None,
            ..after.clone()
        };
        assert_eq!(
            decide(&issued.token, web, Some(&missing), 1_001, grace(&k)),
            RefreshDecision::RevokeSession
        );
        // The server secret changed since the rotation: the stored successor is not the one
        // this key derives, and nothing else knows it.
        let rotated_key = RotationKey::derive(b"a new server secret, 32 bytes or more");
        assert_eq!(
            decide(&issued.token, web, Some(&after), 1_001, grace(&rotated_key)),
            RefreshDecision::RevokeSession
        );
        // The successor has expired.
        let mut stale = after.clone();
        if let Some(s) = stale.successor.as_mut() {
            s.expires_at = 1_001;
        }
        assert_eq!(
            decide(&issued.token, web, Some(&stale), 1_001, grace(&k)),
            RefreshDecision::RevokeSession
        );
    }

    #[test]
    fn a_zero_window_is_strict_reuse_detection() {
        let k = key();
        let strict = Grace {
            key: &k,
            window_s: 0,
        };
        let issued = issue(RefreshKind::Web, [3; 32], 100);
        let next = rotate(&issued, RefreshKind::Web, &k, 1_000);
        let after = spent(&issued, 1_000, &next);
        assert_eq!(
            decide(&issued.token, RefreshKind::Web, Some(&after), 1_000, strict),
            RefreshDecision::RevokeSession
        );
    }

    #[test]
    fn a_revoked_session_is_refused_whatever_the_token() {
        let k = key();
        let web = RefreshKind::Web;
        let issued = issue(web, [3; 32], 100);
        let next = rotate(&issued, web, &k, 1_000);
        let live = StoredRefresh {
            session_revoked: true,
            ..row(&issued)
        };
        let spent_in_window = StoredRefresh {
            session_revoked: true,
            ..spent(&issued, 1_000, &next)
        };
        for (r, at) in [
            (&live, 1_000),
            (&spent_in_window, 1_001),
            (&spent_in_window, 9_999),
        ] {
            assert_eq!(
                decide(&issued.token, web, Some(r), at, grace(&k)),
                RefreshDecision::Refuse(RefreshError::SessionRevoked)
            );
        }
    }

    #[test]
    fn errors() {
        assert_eq!(RefreshError::Reused.code().as_str(), "refresh_reused");
        for e in [
            RefreshError::Malformed,
            RefreshError::Unknown,
            RefreshError::Expired,
            RefreshError::Reused,
            RefreshError::SessionRevoked,
        ] {
            assert_eq!(e.code().http_status(), Some(401), "{e:?}");
        }
        let any = issue(RefreshKind::Web, [1; 32], 0);
        assert_eq!(RefreshDecision::Rotate(any.clone()).error(), None);
        assert_eq!(RefreshDecision::Reissue(any).error(), None);
    }
}

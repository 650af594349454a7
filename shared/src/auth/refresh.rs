//! Refresh tokens (SPEC §2): 256 random bits, stored only as a hash, single use, rotated on
//! every refresh; presenting one that was already used revokes the whole session.
//!
//! **Format.** `ort_` (web) or `ora_` (anchor) followed by the 32 random bytes in base64url
//! without padding: 47 characters. The prefix tells the two kinds apart at a glance, so a web
//! token sent to the anchor endpoint is refused before any lookup, and makes a leaked token easy
//! to recognise (secret scanners, logs). The storage hash is [`storage_hash`] of the whole string.
//!
//! **Decision.** The Worker looks the row up by the presented token's hash and hands the row
//! (or `None`) to [`decide`], which says what to do:
//!
//! | row                                 | decision                     | answer |
//! |-------------------------------------|------------------------------|--------|
//! | token malformed or of another kind  | `Refuse(Malformed)`          | 401    |
//! | no row                              | `Refuse(Unknown)`            | 401    |
//! | session already revoked             | `Refuse(SessionRevoked)`     | 401    |
//! | row already used                    | `RevokeSession` (reuse)      | 401    |
//! | `now >= expires_at`                 | `Refuse(Expired)`            | 401    |
//! | otherwise                           | `Rotate`                     | 200    |
//!
//! Reuse is checked before expiry: a used token showing up again means a copy exists somewhere,
//! whether or not it has expired since.
//!
//! On `Rotate` the Worker must mark the row used **atomically** (`UPDATE … SET used_at = ?
//! WHERE hash = ? AND used_at IS NULL`) and treat "0 rows changed" as reuse, so two concurrent
//! refreshes with one token cannot both succeed. It then issues a new token with
//! [`issue`] (a sliding lifetime: `now + lifetime`). Because reuse is strict (no grace period),
//! the web client must not refresh concurrently from two tabs with the same token (one
//! refresher, e.g. under a Web Lock, sharing the result).
//!
//! ```
//! use orbit_shared::auth::refresh::{decide, issue, RefreshDecision, RefreshKind, StoredRefresh};
//! let issued = issue(RefreshKind::Web, [5; 32], 1_000);
//! assert!(issued.token.starts_with("ort_"));
//! let row = StoredRefresh { hash: issued.hash.clone(), expires_at: issued.expires_at,
//!                           used: false, session_revoked: false };
//! assert_eq!(decide(&issued.token, RefreshKind::Web, Some(&row), 2_000), RefreshDecision::Rotate);
//! let used = StoredRefresh { used: true, ..row };
//! assert_eq!(decide(&issued.token, RefreshKind::Web, Some(&used), 2_000),
//!            RefreshDecision::RevokeSession);
//! ```

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use orbit_protocol::ErrorCode;

use super::hash::{constant_time_eq, storage_hash};

/// Random bytes in a refresh token (256 bits).
pub const TOKEN_BYTES: usize = 32;
/// Length of a refresh token string: 4-character prefix + 43 base64url characters.
pub const TOKEN_LEN: usize = 4 + 43;
/// Lifetime of a web refresh token, in seconds (30 days).
pub const WEB_REFRESH_SECONDS: u64 = 30 * 24 * 60 * 60;
/// Lifetime of an anchor refresh token, in seconds (90 days).
pub const ANCHOR_REFRESH_SECONDS: u64 = 90 * 24 * 60 * 60;

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

/// Makes a refresh token of `kind` from 32 bytes of a CSPRNG, issued at `now_s`.
pub fn issue(kind: RefreshKind, random: [u8; TOKEN_BYTES], now_s: u64) -> IssuedRefresh {
    let token = format!("{}{}", kind.prefix(), URL_SAFE_NO_PAD.encode(random));
    IssuedRefresh {
        hash: storage_hash(&token),
        token,
        expires_at: now_s.saturating_add(kind.lifetime_s()),
    }
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
    /// Whether the token was already exchanged (rotated away).
    pub used: bool,
    /// Whether its session (or anchor) is revoked.
    pub session_revoked: bool,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshDecision {
    /// Valid: mark it used (atomically), issue a new access + refresh pair.
    Rotate,
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
            RefreshDecision::Rotate => None,
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
    if row.used {
        return RefreshDecision::RevokeSession;
    }
    if now_s >= row.expires_at {
        return RefreshDecision::Refuse(RefreshError::Expired);
    }
    RefreshDecision::Rotate
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(issued: &IssuedRefresh) -> StoredRefresh {
        StoredRefresh {
            hash: issued.hash.clone(),
            expires_at: issued.expires_at,
            used: false,
            session_revoked: false,
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
    fn decisions() {
        let issued = issue(RefreshKind::Web, [3; 32], 100);
        let ok = row(&issued);
        let t = &issued.token;
        let web = RefreshKind::Web;
        assert_eq!(decide(t, web, Some(&ok), 100), RefreshDecision::Rotate);
        assert_eq!(
            decide(t, web, None, 100),
            RefreshDecision::Refuse(RefreshError::Unknown)
        );
        assert_eq!(
            decide(t, RefreshKind::Anchor, Some(&ok), 100),
            RefreshDecision::Refuse(RefreshError::Malformed)
        );
        assert_eq!(
            decide("garbage", web, Some(&ok), 100),
            RefreshDecision::Refuse(RefreshError::Malformed)
        );
        // A row for another token (caller bug) is not taken as a match.
        let other = issue(RefreshKind::Web, [4; 32], 100);
        assert_eq!(
            decide(&other.token, web, Some(&ok), 100),
            RefreshDecision::Refuse(RefreshError::Unknown)
        );
    }

    #[test]
    fn expiry_is_exclusive() {
        let issued = issue(RefreshKind::Anchor, [3; 32], 100);
        let r = row(&issued);
        let exp = 100 + ANCHOR_REFRESH_SECONDS;
        let a = RefreshKind::Anchor;
        assert_eq!(
            decide(&issued.token, a, Some(&r), exp - 1),
            RefreshDecision::Rotate
        );
        assert_eq!(
            decide(&issued.token, a, Some(&r), exp),
            RefreshDecision::Refuse(RefreshError::Expired)
        );
    }

    #[test]
    fn reuse_revokes_even_after_expiry_and_revocation_wins() {
        let issued = issue(RefreshKind::Web, [3; 32], 100);
        let used = StoredRefresh {
            used: true,
            ..row(&issued)
        };
        let t = &issued.token;
        let web = RefreshKind::Web;
        assert_eq!(
            decide(t, web, Some(&used), 101),
            RefreshDecision::RevokeSession
        );
        assert_eq!(
            decide(t, web, Some(&used), u64::MAX),
            RefreshDecision::RevokeSession
        );
        assert_eq!(
            RefreshDecision::RevokeSession.error(),
            Some(RefreshError::Reused)
        );
        let revoked = StoredRefresh {
            session_revoked: true,
            ..used
        };
        assert_eq!(
            decide(t, web, Some(&revoked), 101),
            RefreshDecision::Refuse(RefreshError::SessionRevoked)
        );
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
        assert_eq!(RefreshDecision::Rotate.error(), None);
    }
}

//! `refresh`: a presented refresh token and the row Orbit found for it, through
//! [`is_well_formed`] and [`decide`].
//!
//! The input's first six bytes choose the kind, the instant and the row's state (used or not, when,
//! its successor, revoked, expired); the rest is the presented token. Checked: a well-formed
//! token is the canonical encoding of 32 bytes with its kind's prefix; a token is only ever
//! rotated or re-issued when it is well-formed, is the one the row was stored for, and the row
//! allows it (SPEC §2's table and the grace window); what it is rotated to is the successor
//! only Orbit's key derives; a re-issue answers the very successor stored, within the window.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use orbit_shared::auth::refresh::{
    decide, is_well_formed, issue, lookup_hash, successor, Grace, RefreshDecision, RefreshError,
    RefreshKind, RotationKey, StoredRefresh, StoredSuccessor, REUSE_GRACE_SECONDS, TOKEN_BYTES,
    TOKEN_LEN,
};

/// The server secret successors are derived under.
pub const SECRET: &[u8] = b"orbit-fuzz-refresh-rotation-secret";

pub fn refresh(data: &[u8]) {
    let Some((state, token)) = State::read(data) else {
        return;
    };
    let Ok(presented) = std::str::from_utf8(token) else {
        return;
    };
    for kind in [RefreshKind::Web, RefreshKind::Anchor] {
        if is_well_formed(presented, kind) {
            canonical(presented, kind);
        }
    }
    let key = RotationKey::derive(SECRET);
    let grace = Grace {
        key: &key,
        window_s: state.window_s,
    };
    let row = state.row(presented, &key);
    let decision = decide(presented, state.kind, row.as_ref(), state.now_s, grace);
    let allowed = is_well_formed(presented, state.kind)
        && row
            .as_ref()
            .is_some_and(|r| r.hash == lookup_hash(presented))
        && !state.revoked;
    match &decision {
        RefreshDecision::Rotate(next) => {
            assert!(allowed && state.used_at.is_none() && state.now_s < state.expires_at);
            assert_eq!(
                next,
                &successor(state.kind, presented, &key, state.now_s),
                "rotated to a token the key does not derive"
            );
            assert!(is_well_formed(&next.token, state.kind));
            assert_ne!(next.token, presented);
        }
        RefreshDecision::Reissue(again) => {
            let Some(used_at) = state.used_at else {
                panic!("a live token was re-issued instead of rotated");
            };
            assert!(allowed && state.window_s > 0);
            assert!(state.now_s.saturating_sub(used_at) <= state.window_s);
            let Some(stored) = row.as_ref().and_then(|r| r.successor.as_ref()) else {
                panic!("re-issued without a successor");
            };
            assert!(!stored.used && state.now_s < stored.expires_at);
            assert_eq!(again.hash, stored.hash);
            assert_eq!(again.expires_at, stored.expires_at);
            assert_eq!(again.hash, lookup_hash(&again.token));
        }
        RefreshDecision::RevokeSession => {
            assert!(allowed && state.used_at.is_some(), "{decision:?}");
        }
        RefreshDecision::Refuse(RefreshError::Malformed) => {
            assert!(!is_well_formed(presented, state.kind));
        }
        RefreshDecision::Refuse(_) => {}
    }
}

/// A well-formed token is its kind's prefix and the canonical base64url of 32 bytes.
fn canonical(presented: &str, kind: RefreshKind) {
    assert_eq!(presented.len(), TOKEN_LEN);
    let Some(body) = presented.strip_prefix(kind.prefix()) else {
        panic!("well-formed without its prefix: {presented:?}");
    };
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(body) else {
        panic!("well-formed but not base64url: {presented:?}");
    };
    let Ok(random) = <[u8; TOKEN_BYTES]>::try_from(bytes) else {
        panic!("well-formed but not 32 bytes: {presented:?}");
    };
    assert_eq!(issue(kind, random, 0).token, presented, "not canonical");
}

/// The decision's inputs other than the token.
struct State {
    kind: RefreshKind,
    now_s: u64,
    /// Whether a row is found, and whether it is the presented token's (the lookup is by hash,
    /// so another token's row only reaches `decide` through a bug: it must still refuse).
    found: u8,
    expires_at: u64,
    used_at: Option<u64>,
    successor: Option<(bool, u64, bool)>,
    revoked: bool,
    window_s: u64,
}

impl State {
    /// Six bytes: now, flags (bit 0 anchor, bits 1–2 which row is found, 3 used, 4 with a
    /// successor, 5 the successor is the derived one, 6 the successor was used, 7 revoked),
    /// expiry, when used, the successor's expiry, and the window (0: strict, else 30 s).
    fn read(data: &[u8]) -> Option<(State, &[u8])> {
        let (&[now_s, flags, expires_at, used_at, successor_expires, window], rest) =
            data.split_first_chunk::<6>()?;
        let bit = |n: u8| flags & (1 << n) != 0;
        let state = State {
            kind: if bit(0) {
                RefreshKind::Anchor
            } else {
                RefreshKind::Web
            },
            now_s: now_s.into(),
            found: (flags >> 1) & 0b11,
            expires_at: expires_at.into(),
            used_at: bit(3).then_some(used_at.into()),
            successor: bit(4).then_some((bit(5), successor_expires.into(), bit(6))),
            revoked: bit(7),
            window_s: if window == 0 { 0 } else { REUSE_GRACE_SECONDS },
        };
        Some((state, rest))
    }

    fn row(&self, presented: &str, key: &RotationKey) -> Option<StoredRefresh> {
        let hash = match self.found {
            0 => return None,
            1 => lookup_hash("ort_another-token"),
            _ => lookup_hash(presented),
        };
        let successor = self.successor.map(|(derived, expires_at, used)| {
            let hash = match (derived, self.used_at) {
                // The successor the rotation at `used_at` recorded.
                (true, Some(at)) => successor(self.kind, presented, key, at).hash,
                // One this key never derived (the secret changed since).
                _ => lookup_hash("ort_not-derived"),
            };
            StoredSuccessor {
                hash,
                expires_at,
                used,
            }
        });
        Some(StoredRefresh {
            hash,
            expires_at: self.expires_at,
            used_at: self.used_at,
            successor,
            session_revoked: self.revoked,
        })
    }
}

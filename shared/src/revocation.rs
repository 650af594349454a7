//! Making a revocation hold (SPEC §2: "Revoking a session or an anchor closes its open sockets
//! within seconds"), in two layers:
//!
//! 1. **Telling the hub.** Whoever revokes a session or an anchor in the accounts database then
//!    asks the user's hub to close the sockets opened with it. That call can fail (the object is
//!    being reset, overloaded, unreachable): it is made up to [`CLOSE_ATTEMPTS`] times, waiting
//!    [`retry_delay_ms`] between attempts. If every attempt fails, the revocation in the
//!    database stands and the revoking request is told that the sockets could not be closed
//!    (503 `sockets_not_closed`) instead of hearing that all is well.
//! 2. **The hub re-checks.** Before it routes a frame, a hub whose last check is
//!    [`RECHECK_INTERVAL_MS`] old ([`Recheck::due`]) reads which of its open sockets' sessions and
//!    anchors ([`OpenCredentials`]) are revoked — one query, whatever their number — and closes
//!    those sockets (4003) first. Every relayed frame passes through some frame the hub
//!    receives, so a revoked socket relays nothing — neither sending nor receiving — more than
//!    the interval after its revocation (plus one read), even if it was never told; an idle one
//!    relays nothing anyway and is closed at the first frame after that. A failed read is
//!    logged and counts as a check, so a database outage costs one read per interval, not one
//!    per frame.
//!
//! ```
//! use orbit_shared::revocation::{retry_delay_ms, Recheck, CLOSE_ATTEMPTS};
//! let mut recheck = Recheck::new(10_000);
//! assert!(recheck.due(1_000)); // a hub that just woke checks at its first frame
//! assert!(!recheck.due(5_000));
//! assert!(recheck.due(11_000));
//! assert_eq!((1..=CLOSE_ATTEMPTS).map(retry_delay_ms).collect::<Vec<_>>(),
//!            vec![Some(100), Some(400), None]);
//! ```

use std::collections::BTreeSet;

/// How many times the hub is asked to close a revoked credential's sockets.
pub const CLOSE_ATTEMPTS: u32 = 3;

/// How long a hub may go between two checks of its sockets' credentials, in ms.
pub const RECHECK_INTERVAL_MS: u64 = 10_000;

/// How long to wait after `failed` attempts to close sockets have failed before trying again,
/// in ms; `None` once [`CLOSE_ATTEMPTS`] have failed.
pub fn retry_delay_ms(failed: u32) -> Option<u64> {
    match failed {
        0 => Some(0),
        f if f < CLOSE_ATTEMPTS => Some(100 * 4u64.pow(f - 1)),
        _ => None,
    }
}

/// When a hub next checks its open sockets' credentials. Held in memory: a hub that was evicted
/// and woke again checks at its first frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recheck {
    interval_ms: u64,
    last_ms: Option<u64>,
}

impl Recheck {
    /// Checks at most once per `interval_ms` (at least 1 ms).
    pub fn new(interval_ms: u64) -> Self {
        Recheck {
            interval_ms: interval_ms.max(1),
            last_ms: None,
        }
    }

    /// Whether a check is due at `now_ms`; if so, it counts as made now (whatever its outcome).
    pub fn due(&mut self, now_ms: u64) -> bool {
        let due = self
            .last_ms
            .is_none_or(|last| now_ms.saturating_sub(last) >= self.interval_ms);
        if due {
            self.last_ms = Some(now_ms);
        }
        due
    }
}

/// The distinct sessions and anchors a hub's open sockets were opened with, to check in one
/// read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenCredentials {
    pub sessions: BTreeSet<String>,
    pub anchors: BTreeSet<String>,
}

impl OpenCredentials {
    /// Adds a socket's session, and its anchor for an anchor's socket.
    pub fn add(&mut self, session_id: &str, anchor_id: Option<&str>) {
        self.sessions.insert(session_id.to_string());
        if let Some(anchor_id) = anchor_id {
            self.anchors.insert(anchor_id.to_string());
        }
    }

    /// Whether there is nothing to check.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty() && self.anchors.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_is_attempted_a_bounded_number_of_times_with_growing_waits() {
        assert_eq!(retry_delay_ms(0), Some(0));
        assert_eq!(retry_delay_ms(1), Some(100));
        assert_eq!(retry_delay_ms(2), Some(400));
        assert_eq!(retry_delay_ms(CLOSE_ATTEMPTS), None);
        assert_eq!(retry_delay_ms(u32::MAX), None);
        // The waits stay far below a request's time budget.
        let total: u64 = (1..CLOSE_ATTEMPTS).filter_map(retry_delay_ms).sum();
        assert!(total < 1_000, "{total}");
    }

    #[test]
    fn a_check_is_due_at_first_then_once_per_interval() {
        let mut r = Recheck::new(1_000);
        assert!(r.due(5_000));
        assert!(!r.due(5_000));
        assert!(!r.due(5_999));
        assert!(r.due(6_000));
        assert!(!r.due(6_500));
        // A clock that steps back does not cause a storm of checks.
        assert!(!r.due(100));
        assert!(r.due(7_000));
        // A zero interval still means one check per distinct millisecond at most.
        let mut every = Recheck::new(0);
        assert!(every.due(1));
        assert!(!every.due(1));
        assert!(every.due(2));
    }

    #[test]
    fn open_credentials_are_deduplicated() {
        let mut open = OpenCredentials::default();
        assert!(open.is_empty());
        open.add("s1", None);
        open.add("s1", None);
        open.add("s2", Some("a1"));
        open.add("s3", Some("a1"));
        assert_eq!(open.sessions.len(), 3);
        assert_eq!(open.anchors.iter().collect::<Vec<_>>(), ["a1"]);
        assert!(!open.is_empty());
    }
}

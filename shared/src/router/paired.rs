//! When the hub reads the user's paired anchors from the accounts database again.
//!
//! The list names the anchors in `orbit.anchors` and `orbit.anchor-connected`, and drops revoked
//! ones. Each read is a D1 query during which the hub handles no other event
//! (`blockConcurrencyWhile`), so reads are kept rare:
//!
//! * the list is **pushed**: approving a pairing, renaming and revoking an anchor tell the hub,
//!   which reads the list at once ([`RefreshCause::Changed`]) and sends `orbit.anchors` to its
//!   clients when what they see changed;
//! * a hub that has no list yet (new, or woken from hibernation) reads it with the first event;
//! * an anchor the list does not name reads it when it connects (a push that was lost);
//! * a client connecting or sending the control frame `{"type":"orbit.list-anchors"}` reads it at
//!   most once per [`REFRESH_INTERVAL_MS`]; otherwise it is answered from the list in memory;
//! * after a failed read, nothing but a push reads again before a backoff has passed
//!   ([`RETRY_AFTER_FAILURE_MS`], doubling to [`RETRY_AFTER_FAILURE_MAX_MS`]).
//!
//! Time is passed in; this is plain bookkeeping.

use orbit_protocol::envelope::{peek, Kind};

use super::{Peer, Router};

/// The type of the control frame a client asks for `orbit.anchors` with.
pub const LIST_ANCHORS_TYPE: &str = "orbit.list-anchors";

/// A client's connect or `orbit.list-anchors` reads the list at most this often.
pub const REFRESH_INTERVAL_MS: u64 = 3_000;
/// After a failed read, the first wait before reading again.
pub const RETRY_AFTER_FAILURE_MS: u64 = 2_000;
/// The longest wait after repeated failures.
pub const RETRY_AFTER_FAILURE_MAX_MS: u64 = 60_000;

/// Whether a client's frame is the control frame `{"type":"orbit.list-anchors"}`: classified
/// the way the router classifies it, so text that merely contains the name (a prompt, a file,
/// a thread id) is not.
pub fn asks_for_anchor_list(text: &str) -> bool {
    // Most frames do not contain the name at all; only those are classified.
    text.contains(LIST_ANCHORS_TYPE)
        && peek(text).is_ok_and(|e| e.kind() == Kind::Control(LIST_ANCHORS_TYPE))
}

/// Why the hub would read the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshCause {
    /// The router has no list (a new hub, or one woken from hibernation).
    Unknown,
    /// The accounts database says the list changed (pairing, rename, revocation).
    Changed,
    /// An anchor connected that the list does not name.
    UnknownAnchor,
    /// A client connected.
    ClientConnected,
    /// A client sent `orbit.list-anchors`.
    ListAnchors,
}

/// What an event gives the hub cause to read the list for, before the router handles it:
/// `frame` is the text `peer` sent, or `None` when `peer` is connecting. A missing list is
/// always cause; on connect a client is, and an anchor the list does not name; of the frames,
/// only a client's `orbit.list-anchors` control frame is.
pub fn refresh_cause(router: &Router, peer: &Peer, frame: Option<&str>) -> Option<RefreshCause> {
    if !router.knows_paired_anchors() {
        return Some(RefreshCause::Unknown);
    }
    match (peer, frame) {
        (Peer::Client, None) => Some(RefreshCause::ClientConnected),
        (Peer::Client, Some(text)) if asks_for_anchor_list(text) => Some(RefreshCause::ListAnchors),
        (Peer::Anchor { anchor_id }, None) if !router.is_paired(anchor_id) => {
            Some(RefreshCause::UnknownAnchor)
        }
        _ => None,
    }
}

/// The hub's bookkeeping of its reads.
#[derive(Debug, Clone, Default)]
pub struct PairedRefresh {
    /// When the last successful read started.
    last_read_ms: Option<u64>,
    /// Failed reads in a row.
    failures: u32,
    /// No read (but a push) before this time, after a failure.
    retry_at_ms: u64,
    /// Reads started, for the development probe.
    reads: u64,
}

impl PairedRefresh {
    /// Whether to read the list now, for `cause`.
    pub fn due(&self, cause: RefreshCause, now_ms: u64) -> bool {
        if cause == RefreshCause::Changed {
            return true;
        }
        if now_ms < self.retry_at_ms {
            return false;
        }
        match cause {
            RefreshCause::Changed | RefreshCause::Unknown | RefreshCause::UnknownAnchor => true,
            RefreshCause::ClientConnected | RefreshCause::ListAnchors => self
                .last_read_ms
                .is_none_or(|last| now_ms.saturating_sub(last) >= REFRESH_INTERVAL_MS),
        }
    }

    /// A read starts.
    pub fn started(&mut self) {
        self.reads += 1;
    }

    /// The read that started at `started_ms` succeeded.
    pub fn succeeded(&mut self, started_ms: u64) {
        self.last_read_ms = Some(started_ms);
        self.failures = 0;
        self.retry_at_ms = 0;
    }

    /// A read failed at `now_ms`: the next waits for the backoff.
    pub fn failed(&mut self, now_ms: u64) {
        let wait = RETRY_AFTER_FAILURE_MS
            .saturating_mul(1 << self.failures.min(16))
            .min(RETRY_AFTER_FAILURE_MAX_MS);
        self.failures = self.failures.saturating_add(1);
        self.retry_at_ms = now_ms.saturating_add(wait);
    }

    /// How many reads were started.
    pub fn reads(&self) -> u64 {
        self.reads
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_parsed_control_frame_asks_for_the_list() {
        assert!(asks_for_anchor_list(r#"{"type":"orbit.list-anchors"}"#));
        assert!(asks_for_anchor_list(
            r#" { "type" : "orbit.list-anchors" } "#
        ));
        for text in [
            r#"{"id":1,"method":"turn/start","params":{"input":[{"type":"text","text":"orbit.list-anchors"}]}}"#,
            r#"{"method":"x","params":{"type":"orbit.list-anchors"}}"#,
            r#"{"type":"orbit.subscribe","threadId":"orbit.list-anchors"}"#,
            r#"{"type":"orbit.list-anchors-please"}"#,
            r#"["orbit.list-anchors"]"#,
            r#"{"type":"orbit.list-anchors""#,
            r#"{"id":2,"result":{"text":"{\"type\":\"orbit.list-anchors\"}"}}"#,
        ] {
            assert!(!asks_for_anchor_list(text), "{text}");
        }
    }

    #[test]
    fn causes_to_read_are_a_missing_list_a_connect_an_unnamed_anchor_and_the_control_frame() {
        use crate::router::{PairedAnchor, RouterConfig};
        let mut router = Router::new("u", RouterConfig::default());
        let client = Peer::Client;
        let known = Peer::Anchor {
            anchor_id: "a1".into(),
        };
        let new = Peer::Anchor {
            anchor_id: "a2".into(),
        };
        let prompt = r#"{"id":1,"method":"turn/start","params":{"text":"orbit.list-anchors"}}"#;
        let list = r#"{"type":"orbit.list-anchors"}"#;
        for (peer, frame) in [
            (&client, Some(prompt)),
            (&known, None),
            (&known, Some(list)),
        ] {
            assert_eq!(
                refresh_cause(&router, peer, frame),
                Some(RefreshCause::Unknown),
                "no list yet: {peer:?} {frame:?}"
            );
        }
        router.set_paired_anchors(vec![PairedAnchor {
            anchor_id: "a1".into(),
            name: "laptop".into(),
        }]);
        let cases = [
            (&client, None, Some(RefreshCause::ClientConnected)),
            (&client, Some(list), Some(RefreshCause::ListAnchors)),
            (&client, Some(prompt), None),
            (&known, None, None),
            (&known, Some(list), None),
            (&new, None, Some(RefreshCause::UnknownAnchor)),
            (&new, Some(prompt), None),
        ];
        for (peer, frame, cause) in cases {
            assert_eq!(
                refresh_cause(&router, peer, frame),
                cause,
                "{peer:?} {frame:?}"
            );
        }
    }

    #[test]
    fn list_anchors_reads_at_most_once_per_interval() {
        let mut p = PairedRefresh::default();
        assert!(p.due(RefreshCause::ListAnchors, 10_000), "never read yet");
        p.started();
        p.succeeded(10_000);
        for t in [10_000, 11_000, 10_000 + REFRESH_INTERVAL_MS - 1] {
            assert!(!p.due(RefreshCause::ListAnchors, t), "at {t}");
            assert!(!p.due(RefreshCause::ClientConnected, t), "at {t}");
        }
        assert!(p.due(RefreshCause::ListAnchors, 10_000 + REFRESH_INTERVAL_MS));
        // Pushes and anchors the list does not name are not held to the interval.
        assert!(p.due(RefreshCause::Changed, 10_001));
        assert!(p.due(RefreshCause::UnknownAnchor, 10_001));
        assert_eq!(p.reads(), 1);
    }

    #[test]
    fn failed_read_is_retried_only_after_a_growing_backoff() {
        let mut p = PairedRefresh::default();
        let mut now = 50_000;
        let mut waits = Vec::new();
        for _ in 0..8 {
            p.started();
            p.failed(now);
            for cause in [
                RefreshCause::Unknown,
                RefreshCause::UnknownAnchor,
                RefreshCause::ListAnchors,
                RefreshCause::ClientConnected,
            ] {
                assert!(!p.due(cause, now), "{cause:?} right after a failure");
                assert!(!p.due(cause, now + RETRY_AFTER_FAILURE_MS - 1), "{cause:?}");
            }
            // A push still reads.
            assert!(p.due(RefreshCause::Changed, now));
            let wait = (1..=RETRY_AFTER_FAILURE_MAX_MS)
                .find(|w| p.due(RefreshCause::Unknown, now + w))
                .unwrap_or(u64::MAX);
            waits.push(wait);
            now += wait;
        }
        assert_eq!(waits[..3], [2_000, 4_000, 8_000], "{waits:?}");
        assert_eq!(waits.last(), Some(&RETRY_AFTER_FAILURE_MAX_MS), "{waits:?}");
        p.started();
        p.succeeded(now);
        assert!(!p.due(RefreshCause::ListAnchors, now + 1));
        assert!(p.due(RefreshCause::UnknownAnchor, now + 1), "backoff over");
    }
}

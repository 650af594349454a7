//! Frames sent to Orbit and not yet acknowledged, kept to be sent again after a reconnection.
//!
//! A frame written into the socket can still be lost: workerd may die with it in a buffer, or
//! before the write that records it is durable. So the bridge numbers every frame it sends to
//! Orbit after `anchor.hello` (pongs and hellos aside), from `nextFrame` in the hello, and
//! keeps it until `orbit.ack` covers its number. On the next connection the hello names the
//! oldest kept number, and the kept frames go again first, with their numbers; Orbit drops
//! those it had handled after all (docs/protocol.md, "Acknowledged anchor frames").
//!
//! The kept frames are bounded (frames and bytes). Past the bound the oldest is forgotten and
//! counted: Orbit acknowledges within milliseconds, so only an Orbit that stopped answering
//! while the anchor kept sending gets there.

use std::collections::VecDeque;

/// Frames sent and not yet acknowledged, oldest first, with their numbers.
#[derive(Debug)]
pub(super) struct Unacked {
    frames: VecDeque<(u64, String)>,
    bytes: usize,
    /// The number of the next new frame.
    next: u64,
    /// Whether Orbit acknowledges on the current connection. Assumed at each connection until
    /// Orbit's hello says otherwise (an Orbit from before acknowledgements).
    kept: bool,
    max_frames: usize,
    max_bytes: usize,
    /// Frames forgotten unacknowledged because the bound was reached.
    pub(super) forgotten: u64,
}

impl Unacked {
    pub(super) fn new(max_frames: usize, max_bytes: usize) -> Self {
        Unacked {
            frames: VecDeque::new(),
            bytes: 0,
            next: 1,
            kept: true,
            max_frames: max_frames.max(1),
            max_bytes,
            forgotten: 0,
        }
    }

    /// A connection is up. Returns the number for its hello's `nextFrame`, and the frames to
    /// send again after the hello, in order.
    pub(super) fn connected(&mut self) -> (u64, Vec<String>) {
        self.kept = true;
        let first = self.frames.front().map_or(self.next, |(n, _)| *n);
        (first, self.frames.iter().map(|(_, f)| f.clone()).collect())
    }

    /// The number the next new frame will carry.
    pub(super) fn next(&self) -> u64 {
        self.next
    }

    /// Numbers a frame about to be sent, and keeps a copy of it until it is acknowledged.
    pub(super) fn sent(&mut self, frame: &str) {
        let number = self.next;
        self.next += 1;
        if !self.kept {
            return;
        }
        self.bytes += frame.len();
        self.frames.push_back((number, frame.to_string()));
        while self.frames.len() > self.max_frames || self.bytes > self.max_bytes {
            let Some((_, oldest)) = self.frames.pop_front() else {
                break;
            };
            self.bytes -= oldest.len();
            self.forgotten += 1;
        }
    }

    /// Orbit handled every frame numbered up to `up_to`.
    pub(super) fn acknowledged(&mut self, up_to: u64) {
        while let Some((number, _)) = self.frames.front() {
            if *number > up_to {
                break;
            }
            if let Some((_, frame)) = self.frames.pop_front() {
                self.bytes -= frame.len();
            }
        }
    }

    /// Orbit said in its hello that it does not acknowledge: nothing is kept on this
    /// connection (sending it again would duplicate it).
    pub(super) fn orbit_does_not_acknowledge(&mut self) {
        self.kept = false;
        self.frames.clear();
        self.bytes = 0;
    }

    /// Whether frames are kept on the current connection: then a frame the connection could not
    /// write is among them already, and must not be queued a second time.
    pub(super) fn keeps_frames(&self) -> bool {
        self.kept
    }

    pub(super) fn len(&self) -> usize {
        self.frames.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_kept_until_acknowledged_and_sent_again_with_their_numbers() {
        let mut kept = Unacked::new(100, 1 << 20);
        assert_eq!(kept.connected(), (1, vec![]));
        for frame in ["a", "b", "c"] {
            kept.sent(frame);
        }
        kept.acknowledged(1);
        let (first, again) = kept.connected();
        assert_eq!(first, 2);
        assert_eq!(again, vec!["b".to_string(), "c".to_string()]);
        // Sent again, they keep their numbers: the next new frame is 4.
        assert_eq!(kept.next(), 4);
        kept.acknowledged(3);
        assert_eq!(kept.connected(), (4, vec![]));
    }

    #[test]
    fn an_old_or_repeated_acknowledgement_changes_nothing() {
        let mut kept = Unacked::new(100, 1 << 20);
        kept.sent("a");
        kept.sent("b");
        kept.acknowledged(1);
        kept.acknowledged(0);
        kept.acknowledged(1);
        assert_eq!(kept.connected(), (2, vec!["b".to_string()]));
    }

    #[test]
    fn the_bound_forgets_the_oldest_and_counts_it() {
        let mut kept = Unacked::new(2, 1 << 20);
        for frame in ["a", "b", "c"] {
            kept.sent(frame);
        }
        assert_eq!(kept.forgotten, 1);
        assert_eq!(
            kept.connected(),
            (2, vec!["b".to_string(), "c".to_string()])
        );
        let mut by_bytes = Unacked::new(100, 5);
        by_bytes.sent("abc");
        by_bytes.sent("def");
        assert_eq!(by_bytes.len(), 1);
    }

    #[test]
    fn an_orbit_that_does_not_acknowledge_gets_nothing_twice() {
        let mut kept = Unacked::new(100, 1 << 20);
        kept.sent("a");
        kept.orbit_does_not_acknowledge();
        kept.sent("b");
        assert!(!kept.keeps_frames());
        // The next connection assumes acknowledgements again, numbering on.
        assert_eq!(kept.connected(), (3, vec![]));
        assert!(kept.keeps_frames());
    }
}

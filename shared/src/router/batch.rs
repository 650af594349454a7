//! The order in which the adapter carries out the router's actions while it batches writes.
//!
//! Every event is otherwise its own SQLite commit and `fsync`, which caps fan-out
//! (docs/benchmarks.md), so the hub batches thread-log writes ([`StoreOp::AppendLog`],
//! [`StoreOp::TrimLog`]) for a moment. The rule that keeps this safe: **no send or close is
//! carried out before every write of its event, and of every earlier event, is applied.** The
//! runtime's output gate then holds each frame until the write that records it is durable, so
//! nothing is delivered that a crash could forget, and each receiver sees frames in order.
//!
//! [`WriteBatch::admit`] takes one event's actions and says what may be done at once; while a
//! batch is open, everything waits behind it, and [`WriteBatch::take`] releases it: the writes
//! first, then what waited for them.
//!
//! ```
//! use std::sync::Arc;
//! use orbit_shared::router::{Action, StoreOp, WriteBatch};
//!
//! let send = Action::Send { to: "c1".into(), text: Arc::from("{}") };
//! let log = StoreOp::AppendLog { thread_id: "t".into(), seq: 1, text: Arc::from("{}") };
//! let mut batch = WriteBatch::default();
//! // A send listed before a batched write waits for it all the same.
//! let now = batch.admit(vec![send.clone(), Action::Store(log.clone())]);
//! assert!(now.writes.is_empty() && now.actions.is_empty());
//! let flushed = batch.take();
//! assert_eq!((flushed.writes, flushed.actions), (vec![log], vec![send]));
//! ```

use super::{Action, StoreOp};

/// A batch this large is written at once, without waiting.
pub const BATCH_MAX_WRITES: usize = 512;

/// What the adapter does now: apply `writes` in order, then carry out `actions` in order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Step {
    pub writes: Vec<StoreOp>,
    /// Sends and closes only.
    pub actions: Vec<Action>,
}

impl Step {
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.actions.is_empty()
    }
}

/// Writes not yet made, oldest first, and the sends and closes that wait for them.
#[derive(Debug, Default)]
pub struct WriteBatch {
    writes: Vec<StoreOp>,
    held: Vec<Action>,
}

/// The numbers a failed step handed out: each thread's highest `seq` among its
/// [`StoreOp::AppendLog`] writes, in the order the threads first appear. None of those frames
/// was delivered; the adapter reserves these numbers without rows, so the log shows a hole that
/// a replay answers `truncated` (the client reloads the thread) instead of numbering over the
/// loss as if nothing had been there.
///
/// ```
/// use std::sync::Arc;
/// use orbit_shared::router::{lost_seqs, StoreOp};
///
/// let log = |t: &str, seq| StoreOp::AppendLog { thread_id: t.into(), seq, text: Arc::from("{}") };
/// let writes = [log("a", 4), log("b", 9), log("a", 5)];
/// assert_eq!(lost_seqs(&writes), vec![("a".to_string(), 5), ("b".to_string(), 9)]);
/// ```
pub fn lost_seqs(writes: &[StoreOp]) -> Vec<(String, u64)> {
    let mut highest: Vec<(String, u64)> = Vec::new();
    for op in writes {
        if let StoreOp::AppendLog { thread_id, seq, .. } = op {
            match highest.iter_mut().find(|(t, _)| t == thread_id) {
                Some((_, high)) => *high = (*high).max(*seq),
                None => highest.push((thread_id.clone(), *seq)),
            }
        }
    }
    highest
}

/// Whether a write may wait in a batch (the thread log's, which are most of them).
pub fn is_batched(op: &StoreOp) -> bool {
    matches!(op, StoreOp::AppendLog { .. } | StoreOp::TrimLog { .. })
}

impl WriteBatch {
    /// Whether writes are waiting.
    pub fn is_open(&self) -> bool {
        !self.writes.is_empty()
    }

    /// Whether the batch should be written now rather than after its delay.
    pub fn is_full(&self) -> bool {
        self.writes.len() >= BATCH_MAX_WRITES
    }

    /// Takes the actions of one event, and returns what may be done at once.
    ///
    /// The event's writes always come before its sends and closes, wherever they are in the
    /// list. When a batch is open, or the event has a batched write, all of it joins the batch
    /// (its sends and closes wait); otherwise its writes are applied now and then the rest done.
    pub fn admit(&mut self, actions: Vec<Action>) -> Step {
        let mut step = Step::default();
        for action in actions {
            match action {
                Action::Store(op) => step.writes.push(op),
                other => step.actions.push(other),
            }
        }
        if self.is_open() || step.writes.iter().any(is_batched) {
            self.writes.append(&mut step.writes);
            self.held.append(&mut step.actions);
        }
        step
    }

    /// Closes the batch: its writes, then what waited for them.
    pub fn take(&mut self) -> Step {
        Step {
            writes: latest_only(std::mem::take(&mut self.writes), |op| match op {
                StoreOp::SaveAnchor(record) => Some(record.anchor_id.as_str()),
                _ => None,
            }),
            actions: latest_only(std::mem::take(&mut self.held), |action| match action {
                Action::Ack { to, .. } => Some(to.as_str()),
                _ => None,
            }),
        }
    }
}

/// Keeps, of the items that `key` names, only the last one per key, where it stands; every
/// other item stays. A batch then writes an anchor's record once (each record holds all of the
/// earlier ones) and acknowledges once per connection (each acknowledgement covers the earlier
/// ones); keeping the *last* place keeps every write the record or the acknowledgement
/// vouches for ahead of it.
fn latest_only<T>(items: Vec<T>, key: impl Fn(&T) -> Option<&str>) -> Vec<T> {
    let mut seen = std::collections::HashSet::new();
    let keep: Vec<bool> = items
        .iter()
        .rev()
        .map(|item| key(item).is_none_or(|k| seen.insert(k.to_string())))
        .collect();
    items
        .into_iter()
        .zip(keep.into_iter().rev())
        .filter_map(|(item, keep)| keep.then_some(item))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::router::PendingRequest;

    fn send(to: &str) -> Action {
        Action::Send {
            to: to.into(),
            text: Arc::from("{}"),
        }
    }

    fn log(seq: u64) -> StoreOp {
        StoreOp::AppendLog {
            thread_id: "t".into(),
            seq,
            text: Arc::from("{}"),
        }
    }

    fn pending() -> StoreOp {
        StoreOp::SavePending(PendingRequest {
            key: "orbit-srv:0".into(),
            anchor_id: "a".into(),
            original_id: "1".into(),
            thread_id: None,
            seq: None,
            text: "{}".into(),
            resolved: false,
            created_at: 0,
            answered_by: None,
        })
    }

    /// Carries out steps as the hub does, recording what happened in order.
    fn carry_out(step: Step, done: &mut Vec<String>) {
        for _ in step.writes {
            done.push("write".to_string());
        }
        for action in step.actions {
            if let Action::Send { to, .. } = action {
                done.push(format!("send {to}"));
            }
        }
    }

    #[test]
    fn send_before_its_write_in_one_event_is_carried_out_after_the_write() {
        // The hub used to send at once what was listed before an immediate write.
        let mut batch = WriteBatch::default();
        let mut done = Vec::new();
        carry_out(
            batch.admit(vec![send("c1"), Action::Store(pending()), send("c2")]),
            &mut done,
        );
        assert!(!batch.is_open(), "an immediate write opens no batch");
        assert_eq!(done, ["write", "send c1", "send c2"]);
    }

    fn anchor(id: &str, handled: u64) -> StoreOp {
        StoreOp::SaveAnchor(crate::router::AnchorRecord {
            anchor_id: id.into(),
            handled,
            ..Default::default()
        })
    }

    fn ack(to: &str, up_to: u64) -> Action {
        Action::Ack {
            to: to.into(),
            up_to,
        }
    }

    #[test]
    fn a_batch_writes_each_anchor_record_once_and_acknowledges_once_per_connection() {
        let mut batch = WriteBatch::default();
        for seq in 1..=3 {
            let event = vec![
                Action::Store(log(seq)),
                Action::Store(anchor("a", seq)),
                send("c1"),
                ack("s-a", seq),
            ];
            assert!(batch.admit(event).is_empty());
        }
        batch.admit(vec![Action::Store(anchor("b", 9)), ack("s-b", 9)]);
        let flushed = batch.take();
        // The latest record and acknowledgement stand last, behind every write they vouch for.
        assert_eq!(
            flushed.writes,
            vec![log(1), log(2), log(3), anchor("a", 3), anchor("b", 9)]
        );
        assert_eq!(
            flushed.actions,
            vec![
                send("c1"),
                send("c1"),
                send("c1"),
                ack("s-a", 3),
                ack("s-b", 9)
            ]
        );
    }

    #[test]
    fn send_before_a_batched_write_waits_for_the_flush() {
        let mut batch = WriteBatch::default();
        let now = batch.admit(vec![send("c1"), Action::Store(log(1))]);
        assert!(now.is_empty(), "{now:?}");
        assert!(batch.is_open());
        let flushed = batch.take();
        assert_eq!(flushed.writes, vec![log(1)]);
        assert_eq!(flushed.actions, vec![send("c1")]);
        assert!(!batch.is_open() && batch.take().is_empty());
    }

    #[test]
    fn while_a_batch_is_open_immediate_writes_and_plain_sends_join_it_in_order() {
        let mut batch = WriteBatch::default();
        assert!(batch
            .admit(vec![Action::Store(log(1)), send("c1")])
            .is_empty());
        assert!(batch.admit(vec![send("c2")]).is_empty());
        assert!(batch
            .admit(vec![send("c3"), Action::Store(pending())])
            .is_empty());
        let flushed = batch.take();
        assert_eq!(flushed.writes, vec![log(1), pending()]);
        assert_eq!(flushed.actions, vec![send("c1"), send("c2"), send("c3")]);
    }

    #[test]
    fn with_no_batch_open_an_event_without_writes_is_carried_out_at_once() {
        let mut batch = WriteBatch::default();
        let now = batch.admit(vec![send("c1"), send("c2")]);
        assert_eq!(now.actions, vec![send("c1"), send("c2")]);
        assert!(now.writes.is_empty() && !batch.is_open());
    }

    #[test]
    fn a_batch_is_full_at_its_limit() {
        let mut batch = WriteBatch::default();
        let writes = (1..=BATCH_MAX_WRITES as u64)
            .map(|s| Action::Store(log(s)))
            .collect();
        assert!(batch.admit(writes).is_empty());
        assert!(batch.is_full());
        assert_eq!(batch.take().writes.len(), BATCH_MAX_WRITES);
    }
}

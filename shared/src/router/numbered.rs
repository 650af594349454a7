//! Numbered anchor frames: what lets an anchor send again what Orbit may have lost.
//!
//! A frame the anchor has written into its socket is not yet handled: workerd can die with it
//! in a buffer, or before the write that records it is durable, and then neither side would
//! know. So an anchor whose `anchor.hello` carries `nextFrame` numbers every frame it sends
//! after it (pings, pongs and hellos aside) and keeps each until Orbit acknowledges it with
//! `orbit.ack`. After a reconnection it sends the unacknowledged ones again, keeping their
//! numbers; Orbit drops a number it has already handled.
//!
//! Orbit keeps, in the anchor's [`AnchorRecord`], the highest number it has handled for the
//! anchor's current `instance` and the number the next frame on the current connection
//! carries. Both are written with the writes the frame caused, in the same step, and the
//! acknowledgement is a send that waits for that step ([`super::WriteBatch`]): a number is
//! acknowledged only once everything the frame caused is durable, and a number the restarted
//! Orbit finds stored was handled whole.

use orbit_protocol::control::AnchorHello;
use orbit_protocol::envelope::PeekError;
use orbit_protocol::envelope::{Envelope, Kind};

use super::{Action, Router, StoreOp};
use crate::router::records::AnchorRecord;

/// What to do with a frame that arrived on an anchor's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Numbered {
    /// The connection does not number its frames (its hello had no `nextFrame`), or this frame
    /// is one that is never numbered.
    No,
    /// A number not handled before: route the frame, then acknowledge it.
    Fresh,
    /// A number already handled (sent again after a reconnection): drop it, acknowledge again.
    Again,
}

/// Whether the anchor numbers this frame: everything but pings, pongs and hellos, including a
/// frame Orbit cannot read (the anchor counted it all the same).
pub(super) fn is_numbered(peeked: &Result<Envelope<'_>, PeekError>) -> bool {
    match peeked {
        Ok(envelope) => !matches!(
            envelope.kind(),
            Kind::Control("ping" | "pong" | "anchor.hello")
        ),
        Err(_) => true,
    }
}

/// Applies an `anchor.hello`'s `nextFrame` to the anchor's record. `same_run` says whether the
/// hello names the same anchor process as the record did.
pub(super) fn hello_numbers(record: &mut AnchorRecord, hello: &AnchorHello, same_run: bool) {
    let Some(next) = hello.next_frame else {
        record.next_frame = None;
        return;
    };
    let before_next = next.saturating_sub(1);
    record.handled = if same_run {
        // More than one past what was handled would mean the anchor forgot frames it was
        // never told were handled (it keeps a bounded number); they cannot be had again.
        record.handled.max(before_next)
    } else {
        before_next
    };
    record.next_frame = Some(next);
}

impl Router {
    /// Takes the number of a frame that arrived on `conn`, the current connection of
    /// `anchor_id`.
    pub(super) fn number_frame(&mut self, conn: &str, anchor_id: &str) -> Numbered {
        if self.online.get(anchor_id).map(String::as_str) != Some(conn) {
            return Numbered::No;
        }
        let Some(record) = self.anchors.get_mut(anchor_id) else {
            return Numbered::No;
        };
        let Some(number) = record.next_frame else {
            return Numbered::No;
        };
        record.next_frame = Some(number.saturating_add(1));
        if number <= record.handled {
            Numbered::Again
        } else {
            record.handled = number;
            Numbered::Fresh
        }
    }

    /// Records what was handled, and acknowledges it once that record is durable.
    pub(super) fn acknowledge(&self, conn: &str, anchor_id: &str, out: &mut Vec<Action>) {
        if let Some(record) = self.anchors.get(anchor_id) {
            out.push(Action::Store(StoreOp::SaveAnchor(record.clone())));
            out.push(Action::Ack {
                to: conn.to_string(),
                up_to: record.handled,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::router::sim::Sim;

    fn hello(instance: &str, next_frame: Option<u64>) -> Value {
        let mut hello = json!({"type": "anchor.hello", "instance": instance});
        if let Some(next) = next_frame {
            hello["nextFrame"] = json!(next);
        }
        hello
    }

    fn delta(n: u64) -> Value {
        json!({"method": "item/agentMessage/delta", "params": {"threadId": "t1", "delta": n}})
    }

    /// Anchor `anchor-1` on socket `a1` (numbering from 1 as `instance`), thread `t1` started
    /// on it, client `c1` subscribed to `t1`; inboxes empty.
    fn streaming(instance: &str) -> Sim {
        let mut sim = Sim::new();
        sim.connect_anchor("a1", "anchor-1");
        sim.send_json("a1", hello(instance, Some(1)));
        sim.connect_client("c1");
        sim.send_json(
            "c1",
            json!({"id": 1, "method": "thread/start", "params": {}}),
        );
        let forwarded = sim
            .take("a1")
            .pop()
            .expect("thread/start reaches the anchor");
        sim.send_json(
            "a1",
            json!({"id": forwarded["id"], "result": {"thread": {"id": "t1"}}}),
        );
        sim.send_json("c1", json!({"type": "orbit.subscribe", "threadId": "t1"}));
        sim.clear_inboxes();
        sim
    }

    /// The deltas `conn` received, by their `params.delta`.
    fn deltas(sim: &mut Sim, conn: &str) -> Vec<u64> {
        sim.take(conn)
            .iter()
            .filter_map(|f| f["params"]["delta"].as_u64())
            .collect()
    }

    /// The `upTo` of every `orbit.ack` `conn` received.
    fn acks(sim: &mut Sim, conn: &str) -> Vec<u64> {
        sim.take(conn)
            .iter()
            .filter(|f| f["type"] == "orbit.ack")
            .filter_map(|f| f["upTo"].as_u64())
            .collect()
    }

    #[test]
    fn orbit_acknowledges_each_numbered_frame_after_handling_it() {
        let mut sim = streaming("run-1");
        // Frame 1 was the thread/start answer.
        for n in 2..=4 {
            sim.send_json("a1", delta(n));
        }
        assert_eq!(deltas(&mut sim, "c1"), vec![2, 3, 4]);
        assert_eq!(acks(&mut sim, "a1"), vec![2, 3, 4]);
    }

    #[test]
    fn frames_sent_again_after_a_reconnection_reach_clients_once() {
        let mut sim = streaming("run-1");
        for n in 2..=4 {
            sim.send_json("a1", delta(n));
        }
        assert_eq!(deltas(&mut sim, "c1"), vec![2, 3, 4]);
        // The acknowledgements of 3 and 4 were lost with the connection: the anchor sends them
        // again, keeping their numbers, then something new.
        sim.close("a1");
        sim.connect_anchor("a2", "anchor-1");
        sim.clear_inboxes();
        sim.send_json("a2", hello("run-1", Some(3)));
        for n in 3..=5 {
            sim.send_json("a2", delta(n));
        }
        assert_eq!(
            deltas(&mut sim, "c1"),
            vec![5],
            "3 and 4 were handled already"
        );
        assert_eq!(acks(&mut sim, "a2"), vec![4, 4, 5]);
    }

    #[test]
    fn what_orbit_handled_is_remembered_across_a_restart_of_orbit() {
        let mut sim = streaming("run-1");
        for n in 2..=4 {
            sim.send_json("a1", delta(n));
        }
        sim.hibernate();
        sim.close("a1");
        sim.connect_anchor("a2", "anchor-1");
        sim.send_json("a2", hello("run-1", Some(2)));
        sim.clear_inboxes();
        for n in 2..=5 {
            sim.send_json("a2", delta(n));
        }
        assert_eq!(deltas(&mut sim, "c1"), vec![5]);
    }

    #[test]
    fn numbering_goes_on_across_a_hibernation_of_the_same_connection() {
        let mut sim = streaming("run-1");
        sim.send_json("a1", delta(2));
        sim.hibernate();
        sim.clear_inboxes();
        sim.send_json("a1", delta(3));
        assert_eq!(deltas(&mut sim, "c1"), vec![3]);
        sim.send_json("a1", delta(4));
        assert_eq!(acks(&mut sim, "a1"), vec![3, 4]);
    }

    #[test]
    fn a_restarted_anchor_process_numbers_afresh_and_nothing_of_it_is_dropped() {
        let mut sim = streaming("run-1");
        for n in 2..=9 {
            sim.send_json("a1", delta(n));
        }
        sim.close("a1");
        sim.connect_anchor("a2", "anchor-1");
        sim.send_json("a2", hello("run-2", Some(1)));
        sim.clear_inboxes();
        sim.send_json("a2", delta(100));
        assert_eq!(deltas(&mut sim, "c1"), vec![100]);
    }

    #[test]
    fn an_anchor_that_does_not_number_its_frames_is_never_deduplicated_or_acknowledged() {
        let mut sim = streaming("run-1");
        sim.close("a1");
        sim.connect_anchor("a2", "anchor-1");
        sim.send_json("a2", hello("run-1", None));
        sim.clear_inboxes();
        sim.send_json("a2", delta(1));
        sim.send_json("a2", delta(1));
        assert_eq!(deltas(&mut sim, "c1"), vec![1, 1]);
        assert!(acks(&mut sim, "a2").is_empty());
    }

    #[test]
    fn an_unreadable_frame_takes_its_number_and_pings_take_none() {
        let mut sim = streaming("run-1");
        sim.send("a1", "{not json");
        sim.send("a1", orbit_protocol::control::PING_FRAME);
        sim.send_json("a1", delta(3));
        let a1 = sim.take("a1");
        let acked: Vec<u64> = a1.iter().filter_map(|f| f["upTo"].as_u64()).collect();
        assert_eq!(acked, vec![2, 3], "{a1:?}");
        assert_eq!(deltas(&mut sim, "c1"), vec![3]);
    }

    #[test]
    fn a_hello_on_a_new_connection_of_the_same_run_never_lowers_what_was_handled() {
        let mut sim = streaming("run-1");
        for n in 2..=4 {
            sim.send_json("a1", delta(n));
        }
        sim.close("a1");
        // A new connection counts nothing until its hello.
        sim.connect_anchor("a2", "anchor-1");
        sim.clear_inboxes();
        sim.send_json("a2", delta(77));
        assert_eq!(deltas(&mut sim, "c1"), vec![77]);
        assert!(acks(&mut sim, "a2").is_empty());
        sim.send_json("a2", hello("run-1", Some(2)));
        sim.send_json("a2", delta(2));
        assert!(deltas(&mut sim, "c1").is_empty(), "2 was handled before");
    }
}

//! `router`: the relay fed a random session. The input is decoded (with `arbitrary`) into a
//! router configuration and a sequence of events — clients and anchors connecting, closing and
//! being replaced, subscriptions with any `sinceSeq`, requests, answers, server requests,
//! forged and malformed frames, hibernation — played through the reference model
//! (`orbit_shared::router::model`), which checks every frame each socket receives: `seq`
//! strictly increasing per thread, no frame for a subscription the client does not hold, every
//! response to its asker only, a replay that is exactly the log, no `seq` logged twice, no send
//! before its write (the model's doc lists them all).

use arbitrary::{Result, Unstructured};
use orbit_shared::router::model::{
    config, Harness, Op, Since, Target, ANCHORS, CLIENTS, GARBAGE, THREADS,
};

/// Events per session at most, as in the property tests (up to 60): long enough for replays
/// after trims and hibernations; at 256, a run under libFuzzer managed only 22 sessions a second.
const MAX_OPS: usize = 64;

pub fn router(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(kind) = u.int_in_range(0u8..=2) else {
        return;
    };
    let mut h = Harness::new(config(kind));
    // As in the property tests: most sessions start with somebody there.
    h.run(&Op::ConnectAnchor(0));
    h.run(&Op::ConnectClient(0));
    h.run(&Op::ConnectClient(1));
    let mut ops = 0;
    while !u.is_empty() && ops < MAX_OPS {
        let Ok(op) = op(&mut u) else {
            return;
        };
        h.run(&op);
        ops += 1;
    }
}

fn slot(u: &mut Unstructured<'_>, n: usize) -> Result<usize> {
    u.int_in_range(0..=n - 1)
}

fn maybe_thread(u: &mut Unstructured<'_>) -> Result<Option<usize>> {
    Ok(if u.ratio(1u8, 4)? {
        None
    } else {
        Some(slot(u, THREADS)?)
    })
}

fn target(u: &mut Unstructured<'_>) -> Result<Target> {
    Ok(match u.int_in_range(0u8..=3)? {
        0 => Target::None,
        1 => Target::Anchor(slot(u, ANCHORS)?),
        2 => Target::Thread(slot(u, THREADS)?),
        _ => Target::Both(slot(u, ANCHORS)?, slot(u, THREADS)?),
    })
}

fn since(u: &mut Unstructured<'_>) -> Result<Since> {
    Ok(match u.int_in_range(0u8..=8)? {
        0 => Since::None,
        1..=3 => Since::LastSeen,
        4 => Since::Zero,
        5 => Since::Ahead,
        6 => Since::Fixed(u.int_in_range(0..=11)?),
        _ => Since::Back(u.int_in_range(1..=7)?),
    })
}

/// One event. The weights follow the property tests': answers and notifications dominate, as
/// in a real session.
fn op(u: &mut Unstructured<'_>) -> Result<Op> {
    Ok(match u.int_in_range(0u8..=44)? {
        0..=2 => Op::ConnectClient(slot(u, CLIENTS)?),
        3 => Op::CloseClient(slot(u, CLIENTS)?),
        4..=6 => Op::ConnectAnchor(slot(u, ANCHORS)?),
        7 => Op::CloseAnchor(slot(u, ANCHORS)?),
        8 => Op::StaleClose,
        9..=13 => Op::Subscribe(slot(u, CLIENTS)?, slot(u, THREADS)?, since(u)?),
        14 => Op::Unsubscribe(slot(u, CLIENTS)?, slot(u, THREADS)?),
        15..=18 => Op::Request {
            client: slot(u, CLIENTS)?,
            id: u.int_in_range(0..=2)?,
            target: target(u)?,
            thread_start: u.arbitrary()?,
        },
        19 => Op::ClientNotify(slot(u, CLIENTS)?, target(u)?),
        20..=25 => Op::Respond {
            anchor: slot(u, ANCHORS)?,
            pick: u.arbitrary()?,
            thread: if u.ratio(3u8, 10)? {
                Some(slot(u, THREADS)?)
            } else {
                None
            },
            null: u.ratio(1u8, 10)?,
        },
        26..=32 => Op::Notify {
            anchor: slot(u, ANCHORS)?,
            thread: maybe_thread(u)?,
            with_seq: u.arbitrary()?,
        },
        33..=35 => Op::ServerRequest {
            anchor: slot(u, ANCHORS)?,
            thread: maybe_thread(u)?,
            id: u.int_in_range(0..=2)?,
        },
        36..=39 => Op::Answer {
            client: slot(u, CLIENTS)?,
            pick: u.arbitrary()?,
            twice: u.arbitrary()?,
            with_seq: u.arbitrary()?,
        },
        40 => Op::AnswerGuess(slot(u, CLIENTS)?, u.int_in_range(0..=7)?),
        41 => Op::Resolved {
            anchor: slot(u, ANCHORS)?,
            pick: u.arbitrary()?,
            thread: maybe_thread(u)?,
        },
        42 => {
            if u.arbitrary()? {
                Op::StolenResponse {
                    anchor: slot(u, ANCHORS)?,
                    pick: u.arbitrary()?,
                }
            } else {
                Op::ForgedResponse(slot(u, ANCHORS)?)
            }
        }
        43 => Op::Garbage {
            from_anchor: u.arbitrary()?,
            slot: slot(u, CLIENTS)?,
            kind: slot(u, GARBAGE.len())?,
        },
        _ => Op::Hibernate,
    })
}

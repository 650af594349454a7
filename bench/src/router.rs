//! The relay's own cost per frame, without workerd: the `shared` router handling frames
//! natively, in this process. Round trips through workerd are dominated by the runtime (sockets,
//! the JS↔wasm boundary, SQLite), so what the router does per frame — read it, route it,
//! rewrite it — only shows when measured alone.
//!
//! Three kinds of frame, each handled `rounds` times after a warm-up: a 1 KB client request
//! naming its thread and anchor (rewritten id, `anchorId` removed), the anchor's 1 KB response
//! to it (id restored), and a 300-byte thread notification numbered and fanned out to one
//! subscriber.

use std::time::Instant;

use anyhow::{bail, Result};
use serde::Serialize;

use orbit_shared::router::{Action, LogReadError, Peer, ReplayLog, Router, RouterConfig};

/// An empty replay log: nothing here subscribes with `sinceSeq`.
struct NoLog;

impl ReplayLog for NoLog {
    fn frames_after(
        &self,
        _thread_id: &str,
        _after_seq: u64,
    ) -> Result<Vec<(u64, String)>, LogReadError> {
        Ok(Vec::new())
    }

    fn oldest_seq(&self, _thread_id: &str) -> Result<Option<u64>, LogReadError> {
        Ok(None)
    }

    fn bytes_after(&self, _thread_id: &str, _after_seq: u64) -> Result<u64, LogReadError> {
        Ok(0)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RouterCost {
    pub kind: &'static str,
    pub frame_bytes: usize,
    pub frames: u64,
    /// Mean nanoseconds the router spent per frame, actions included.
    pub ns_per_frame: f64,
}

/// 1 KB of request, like the relay round trip's.
fn request(id: u64) -> String {
    let head = format!(
        r#"{{"id":{id},"method":"turn/start","params":{{"threadId":"t1","anchorId":"anchor-1","input":[{{"type":"text","text":""#
    );
    let tail = r#""}]}}"#;
    let pad = "x".repeat(1024usize.saturating_sub(head.len() + tail.len()));
    format!("{head}{pad}{tail}")
}

fn response(id: u64) -> String {
    let head = format!(r#"{{"id":"orbit:c1:{id}","result":{{"items":[""#);
    let tail = r#""]}}"#;
    let pad = "y".repeat(1024usize.saturating_sub(head.len() + tail.len()));
    format!("{head}{pad}{tail}")
}

fn notification(n: u64) -> String {
    let head = format!(
        r#"{{"method":"item/agentMessage/delta","params":{{"threadId":"t1","itemId":"i{n}","delta":""#
    );
    let tail = r#""}}"#;
    let pad = "z".repeat(300usize.saturating_sub(head.len() + tail.len()));
    format!("{head}{pad}{tail}")
}

fn sends(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, Action::Send { .. }))
        .count()
}

/// Measures the three kinds; `rounds` frames of each.
pub fn measure(rounds: u64) -> Result<Vec<RouterCost>> {
    let mut router = Router::new("bench-user", RouterConfig::default());
    let now = 1_700_000_000_000;
    router.connect(
        "a1".into(),
        Peer::Anchor {
            anchor_id: "anchor-1".into(),
        },
        now,
    );
    router.connect("c1".into(), Peer::Client, now);
    let subscribed = router.receive(
        "c1",
        r#"{"type":"orbit.subscribe","threadId":"t1"}"#,
        now,
        &NoLog,
    );
    if sends(&subscribed) != 1 {
        bail!("router: the subscription was not answered: {subscribed:?}");
    }

    let requests: Vec<String> = (0..rounds).map(request).collect();
    let responses: Vec<String> = (0..rounds).map(response).collect();
    let notes: Vec<String> = (0..rounds).map(notification).collect();
    let mut costs = Vec::new();
    for (kind, from, frames, bytes) in [
        ("client request", "c1", &requests, 1024),
        ("anchor response", "a1", &responses, 1024),
        ("thread notification", "a1", &notes, 300),
    ] {
        // Warm-up: caches, allocator, the thread's state.
        for text in frames.iter().take(1000) {
            router.receive(from, text, now, &NoLog);
        }
        let start = Instant::now();
        let mut delivered = 0;
        for text in frames {
            delivered += sends(&router.receive(from, text, now, &NoLog));
        }
        let elapsed = start.elapsed();
        if delivered != frames.len() {
            bail!(
                "router: {kind}: {delivered} of {} frames were delivered",
                frames.len()
            );
        }
        costs.push(RouterCost {
            kind,
            frame_bytes: bytes,
            frames: rounds,
            ns_per_frame: elapsed.as_nanos() as f64 / rounds as f64,
        });
    }
    Ok(costs)
}

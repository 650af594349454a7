//! Many idle subscribed sockets of one user: open them, subscribe each, check that they are
//! alive (a sample pings, everyone gets one thread frame), close them.

use std::time::{Duration, Instant};

use anyhow::Result;
use futures_util::{stream, StreamExt};
use serde::Serialize;

use crate::stats::Latency;
use orbit_protocol::Control;
use orbit_tests::Ws;

use crate::target::{self, Target, FRAME_TIMEOUT};

#[derive(Debug, Clone, Serialize)]
pub struct IdleResult {
    pub requested: usize,
    pub opened: usize,
    pub open_errors: usize,
    pub first_errors: Vec<String>,
    /// Connect + `orbit.hello` + `orbit.anchors` + subscribe, for all of them.
    pub open_secs: f64,
    pub concurrency: usize,
    pub held_secs: f64,
    /// `{"type":"ping"}` on a sample of the sockets (answered by workerd's auto-response).
    pub pings: usize,
    pub pongs: usize,
    pub ping: Latency,
    /// One thread notification from the anchor: how many of the open sockets got it, and
    /// how long until the last one did.
    pub broadcast_received: usize,
    pub broadcast_secs: f64,
    pub close_secs: f64,
    /// Sockets closed by Orbit or broken while they should have been idle.
    pub dropped: usize,
}

/// Opens `count` client sockets, each subscribed to one thread.
pub async fn run(
    target: &Target,
    count: usize,
    concurrency: usize,
    hold: Duration,
    ping_sample: usize,
    open_timeout: Duration,
    on_open: impl FnOnce(),
) -> Result<IdleResult> {
    let mut user = target.user_with_anchor("bench-idle").await?;
    let thread_id = orbit_tests::unique("bench-idle");
    let web = user.web.clone();
    let started = Instant::now();
    let results: Vec<Result<Ws>> = stream::iter(0..count)
        .map(|_| {
            let web = web.clone();
            let thread_id = thread_id.clone();
            async move {
                let mut ws = target.client(&web).await?;
                target::subscribe(&mut ws, &thread_id).await?;
                anyhow::Ok(ws)
            }
        })
        .buffer_unordered(concurrency.max(1))
        .take_until(tokio::time::sleep(open_timeout))
        .collect()
        .await;
    let open_secs = started.elapsed().as_secs_f64();
    let mut sockets = Vec::with_capacity(count);
    let mut first_errors = Vec::new();
    let mut open_errors = 0;
    for r in results {
        match r {
            Ok(ws) => sockets.push(ws),
            Err(e) => {
                open_errors += 1;
                if first_errors.len() < 5 {
                    first_errors.push(format!("{e:#}"));
                }
            }
        }
    }
    let unfinished = count - sockets.len() - open_errors;
    if unfinished > 0 {
        open_errors += unfinished;
        first_errors.push(format!("{unfinished} not open within {open_timeout:?}"));
    }
    let opened = sockets.len();
    on_open();

    tokio::time::sleep(hold).await;

    // Pings on an evenly spread sample.
    let step = (opened / ping_sample.max(1)).max(1);
    let mut ping_times = Vec::new();
    let mut pings = 0;
    let mut dropped = 0;
    for ws in sockets.iter_mut().step_by(step).take(ping_sample) {
        pings += 1;
        let t = Instant::now();
        let ok = async {
            ws.send_control(&Control::Ping).await?;
            ws.collect_until_within("pong", FRAME_TIMEOUT, |f| f["type"] == "pong")
                .await
        }
        .await;
        match ok {
            Ok(_) => ping_times.push(t.elapsed()),
            Err(e) => {
                dropped += 1;
                if first_errors.len() < 10 {
                    first_errors.push(format!("ping: {e:#}"));
                }
            }
        }
    }

    // One thread frame to everyone.
    let note = orbit_tests::thread_note(&thread_id, 1).to_string();
    let t = Instant::now();
    user.anchor.send_text(note).await?;
    let got: Vec<bool> = stream::iter(sockets.iter_mut())
        .map(|ws| async {
            ws.collect_until_within("the broadcast", Duration::from_secs(20), |f| {
                f["method"] == "item/agentMessage/delta"
            })
            .await
            .is_ok()
        })
        .buffer_unordered(256)
        .collect()
        .await;
    let broadcast_secs = t.elapsed().as_secs_f64();
    let broadcast_received = got.iter().filter(|g| **g).count();

    let t = Instant::now();
    stream::iter(sockets)
        .map(Ws::close)
        .buffer_unordered(64)
        .collect::<Vec<Result<()>>>()
        .await;
    let close_secs = t.elapsed().as_secs_f64();
    let _ = user.anchor.close().await;

    Ok(IdleResult {
        requested: count,
        opened,
        open_errors,
        first_errors,
        open_secs,
        concurrency,
        held_secs: hold.as_secs_f64(),
        pings,
        pongs: ping_times.len(),
        ping: Latency::of(&ping_times),
        broadcast_received,
        broadcast_secs,
        close_secs,
        dropped,
    })
}

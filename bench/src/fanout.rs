//! Fan-out: the bench's anchor emits 300-byte notifications as fast as the relay takes them
//! to N subscribed clients; every client must get every frame once, in order.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_util::future::join_all;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Message;

use crate::procfs;
use orbit_tests::Ws;

use crate::target::{self, Target, WsStream};

/// The size of every notification the anchor sends.
pub const FRAME_BYTES: usize = 300;

/// Which notifications the anchor sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// `item/agentMessage/delta` with `params.threadId`: numbered (`seq`), written to the
    /// replay log, delivered to the thread's subscribers.
    Thread,
    /// The same without a thread: not numbered, not persisted, delivered to every client of
    /// the user (an experiment separating the log's cost).
    Threadless,
}

/// A notification of exactly [`FRAME_BYTES`] bytes carrying its index `n`.
fn frame(kind: Kind, thread_id: &str, n: u64) -> String {
    let build = |pad: &str| match kind {
        Kind::Thread => format!(
            r#"{{"method":"item/agentMessage/delta","params":{{"threadId":"{thread_id}","n":{n},"delta":"{pad}"}}}}"#
        ),
        Kind::Threadless => {
            format!(
                r#"{{"method":"item/agentMessage/delta","params":{{"n":{n},"delta":"{pad}"}}}}"#
            )
        }
    };
    let pad = "x".repeat(FRAME_BYTES.saturating_sub(build("").len()));
    build(&pad)
}

#[derive(Deserialize)]
struct Delivery {
    seq: Option<u64>,
    params: Option<DeliveryParams>,
}

#[derive(Deserialize)]
struct DeliveryParams {
    n: Option<u64>,
}

/// What one client saw.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ClientTally {
    /// Bench frames received (counting duplicates).
    pub received: u64,
    /// Distinct bench frames received.
    pub distinct: u64,
    /// Frames whose `seq`/`n` was not above the last one seen (duplicates or reordering).
    pub order_violations: u64,
    /// Frames skipped over: a `seq` (or `n`) more than one above the last one.
    pub gaps: u64,
    /// Thread frames without a `seq`, or whose `seq` and `n` disagree.
    pub bad_seq: u64,
    /// Other frames (control frames, errors).
    pub other: u64,
    /// From the first send to this client's last bench frame.
    #[serde(skip)]
    pub last_at: Option<Instant>,
    pub error: Option<String>,
}

async fn receive(
    mut ws: WsStream,
    kind: Kind,
    base_seq: u64,
    frames: u64,
    deadline: Instant,
) -> (ClientTally, WsStream) {
    let mut t = ClientTally::default();
    // Next expected n; and seq = base_seq + 1 + n for thread frames.
    let mut next_n = 0u64;
    while t.distinct < frames {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = match tokio::time::timeout(left, ws.next()).await {
            Err(_) => break,
            Ok(None) => {
                t.error = Some("socket closed".into());
                break;
            }
            Ok(Some(Err(e))) => {
                t.error = Some(format!("receive failed: {e}"));
                break;
            }
            Ok(Some(Ok(m))) => m,
        };
        let text = match msg {
            Message::Text(text) => text,
            Message::Close(c) => {
                t.error = Some(format!("closed by Orbit: {c:?}"));
                break;
            }
            _ => continue,
        };
        let Ok(d) = serde_json::from_str::<Delivery>(&text) else {
            t.other += 1;
            continue;
        };
        let Some(n) = d.params.and_then(|p| p.n) else {
            t.other += 1;
            continue;
        };
        t.received += 1;
        t.last_at = Some(Instant::now());
        if kind == Kind::Thread && d.seq != Some(base_seq + 1 + n) {
            t.bad_seq += 1;
        }
        if n < next_n {
            t.order_violations += 1;
            continue;
        }
        t.gaps += n - next_n;
        next_n = n + 1;
        t.distinct += 1;
    }
    (t, ws)
}

#[derive(Debug, Clone, Serialize)]
pub struct FanoutResult {
    pub kind: Kind,
    pub clients: usize,
    pub frames: u64,
    pub frame_bytes: usize,
    /// Every client got every frame, once, in order, before the deadline.
    pub complete: bool,
    /// First send to the last frame written to the anchor socket.
    pub send_secs: f64,
    /// Frames per second the relay accepted from the anchor.
    pub ingress_fps: f64,
    /// First send to the last receipt on any client.
    pub elapsed_secs: f64,
    /// Each client's frames / (its last receipt − first send): the slowest, median, fastest.
    pub per_client_fps_min: f64,
    pub per_client_fps_median: f64,
    pub per_client_fps_max: f64,
    /// All clients' frames / elapsed.
    pub aggregate_dps: f64,
    pub expected_deliveries: u64,
    pub delivered: u64,
    pub lost: u64,
    pub order_violations: u64,
    pub gaps: u64,
    pub bad_seq: u64,
    pub other_frames: u64,
    pub client_errors: Vec<String>,
    /// CPU seconds the workerd processes and this process spent from first send to the end.
    pub workerd_cpu_secs: f64,
    pub bench_cpu_secs: f64,
    /// The same per workerd process (`pid: seconds`).
    pub workerd_cpu_by_pid: Vec<(u32, f64)>,
}

/// One fan-out run with a fresh user, anchor and thread.
pub async fn run(
    target: &Target,
    kind: Kind,
    clients: usize,
    frames: u64,
    timeout: Duration,
) -> Result<FanoutResult> {
    let user = target
        .user_with_anchor(&format!("bench-fan-{clients}"))
        .await?;
    let thread_id = orbit_tests::unique("bench-fan");
    let mut sockets = Vec::with_capacity(clients);
    let mut base = Vec::with_capacity(clients);
    for i in 0..clients {
        let mut ws = target
            .client(&user.web)
            .await
            .with_context(|| format!("fan-out client {i}"))?;
        let seq = if kind == Kind::Thread {
            target::subscribe(&mut ws, &thread_id).await?
        } else {
            // Thread-less frames go to every client of the user; a barrier makes sure the
            // client is fully set up.
            ws.barrier().await?;
            0
        };
        sockets.push(ws);
        base.push(seq);
    }
    let pids = target.workerd_pids();
    let frames_text: Vec<String> = (0..frames).map(|n| frame(kind, &thread_id, n)).collect();
    let (mut anchor_tx, mut anchor_rx) = user.anchor.into_stream().split();
    // Whatever Orbit says to the anchor (it should say nothing).
    let anchor_drain = tokio::spawn(async move {
        let mut said = Vec::new();
        while let Some(Ok(m)) = anchor_rx.next().await {
            if let Message::Text(t) = m {
                if said.len() < 5 {
                    said.push(orbit_tests::clip(&t));
                }
            }
        }
        said
    });

    let cpu_by_pid0: Vec<f64> = pids
        .iter()
        .map(|p| procfs::cpu_secs(*p).unwrap_or(0.0))
        .collect();
    let cpu_workerd0 = procfs::cpu_sum_secs(&pids);
    let cpu_self0 = procfs::self_cpu_secs();
    let start = Instant::now();
    let deadline = start + timeout;
    let receivers: Vec<_> = sockets
        .into_iter()
        .zip(base)
        .map(|(ws, b)| tokio::spawn(receive(ws.into_stream(), kind, b, frames, deadline)))
        .collect();
    let sender = async {
        for (i, text) in frames_text.into_iter().enumerate() {
            anchor_tx.feed(Message::text(text)).await?;
            if i % 64 == 63 {
                anchor_tx.flush().await?;
            }
        }
        anchor_tx.flush().await?;
        anyhow::Ok(())
    };
    let send_result = tokio::time::timeout(timeout, sender).await;
    let send_secs = start.elapsed().as_secs_f64();
    let mut tallies = Vec::with_capacity(clients);
    let mut returned = Vec::with_capacity(clients);
    for r in join_all(receivers).await {
        let (t, ws) = r.context("a receiver task failed")?;
        tallies.push(t);
        returned.push(ws);
    }
    let cpu_workerd = procfs::cpu_sum_secs(&pids) - cpu_workerd0;
    let workerd_cpu_by_pid: Vec<(u32, f64)> = pids
        .iter()
        .zip(cpu_by_pid0)
        .map(|(p, c0)| (*p, procfs::cpu_secs(*p).unwrap_or(0.0) - c0))
        .collect();
    let cpu_self = procfs::self_cpu_secs() - cpu_self0;

    let mut client_errors: Vec<String> = tallies.iter().filter_map(|t| t.error.clone()).collect();
    match send_result {
        Err(_) => client_errors.push(format!(
            "the anchor could not send everything in {timeout:?}"
        )),
        Ok(Err(e)) => client_errors.push(format!("anchor send failed: {e:#}")),
        Ok(Ok(())) => {}
    }
    let last = tallies.iter().filter_map(|t| t.last_at).max();
    let elapsed = last.map_or(0.0, |l| (l - start).as_secs_f64());
    let mut rates: Vec<f64> = tallies
        .iter()
        .map(|t| match t.last_at {
            Some(l) => t.distinct as f64 / (l - start).as_secs_f64().max(1e-9),
            None => 0.0,
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    let delivered: u64 = tallies.iter().map(|t| t.distinct).sum();
    let expected = frames * clients as u64;
    let sum = |f: fn(&ClientTally) -> u64| tallies.iter().map(f).sum::<u64>();
    let lost = expected - delivered.min(expected);
    let order_violations = sum(|t| t.order_violations);
    let gaps = sum(|t| t.gaps);
    let bad_seq = sum(|t| t.bad_seq);

    let closing: Vec<_> = returned
        .into_iter()
        .map(|ws| Ws::from_stream(ws, "fan-out client").close())
        .collect();
    join_all(closing).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), anchor_tx.close()).await;
    match tokio::time::timeout(Duration::from_secs(5), anchor_drain).await {
        Ok(Ok(said)) if !said.is_empty() => {
            client_errors.push(format!("Orbit said to the anchor: {}", said.join(" | ")))
        }
        _ => {}
    }

    Ok(FanoutResult {
        kind,
        clients,
        frames,
        frame_bytes: FRAME_BYTES,
        complete: lost == 0 && order_violations == 0 && gaps == 0 && bad_seq == 0,
        send_secs,
        ingress_fps: frames as f64 / send_secs.max(1e-9),
        elapsed_secs: elapsed,
        per_client_fps_min: rates.first().copied().unwrap_or(0.0),
        per_client_fps_median: rates.get(rates.len() / 2).copied().unwrap_or(0.0),
        per_client_fps_max: rates.last().copied().unwrap_or(0.0),
        aggregate_dps: delivered as f64 / elapsed.max(1e-9),
        expected_deliveries: expected,
        delivered,
        lost,
        order_violations,
        gaps,
        bad_seq,
        other_frames: sum(|t| t.other),
        client_errors,
        workerd_cpu_secs: cpu_workerd,
        bench_cpu_secs: cpu_self,
        workerd_cpu_by_pid,
    })
}

//! Round trips: the loopback WebSocket echo floor, and the relay client → Orbit → anchor →
//! Orbit → client. When both are measured they alternate in blocks of 100 round trips, so
//! that both see the same machine load and the ratio stays fair on a shared machine. The
//! anchor scenario (`anchor.rs`) alternates two relays the same way: one through the bench's
//! own anchor, one through the real `anchor` process.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::stats::Latency;
use orbit_tests::Ws;

use crate::target::{self, Target, WsStream, FRAME_TIMEOUT};

/// The size of the frames both round trips carry.
pub const FRAME_BYTES: usize = 1024;

/// A JSON-RPC request of exactly [`FRAME_BYTES`] bytes (for ids below 10^9).
pub fn request_frame(id: u64, method: &str) -> String {
    let empty = format!(r#"{{"id":{id},"method":"{method}","params":{{"pad":""}}}}"#);
    let pad = "x".repeat(FRAME_BYTES.saturating_sub(empty.len()));
    format!(r#"{{"id":{id},"method":"{method}","params":{{"pad":"{pad}"}}}}"#)
}

#[derive(Debug, Clone, Serialize)]
pub struct RttResult {
    pub frame_bytes: usize,
    pub warmup: usize,
    /// Whether the samples alternated (in blocks) with the other round trip's.
    pub interleaved: bool,
    /// Every round trip made, warm-ups included.
    pub round_trips: usize,
    #[serde(flatten)]
    pub latency: Latency,
}

/// A plain tokio-tungstenite echo server on 127.0.0.1 (in this process) and its client.
pub struct Floor {
    ws: Ws,
    server: JoinHandle<Result<()>>,
    next_id: u64,
}

impl Floor {
    /// With `own_thread` the echo server runs on its own thread with its own runtime, as a
    /// separate server process would, and every round trip wakes it and then the client.
    /// Without, it is a task of the client's runtime (single-threaded: see `main.rs`), so no
    /// thread has to wake in between: the lowest and steadiest figure loopback allows.
    pub async fn start(own_thread: bool) -> Result<Floor> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let serve = async move {
            let listener = TcpListener::from_std(listener)?;
            let (tcp, _) = listener.accept().await?;
            tcp.set_nodelay(true)?;
            let mut ws = tokio_tungstenite::accept_async(tcp).await?;
            while let Some(msg) = ws.next().await {
                match msg? {
                    m @ Message::Text(_) => ws.send(m).await?,
                    Message::Close(_) => break,
                    _ => {}
                }
            }
            anyhow::Ok(())
        };
        let server = if own_thread {
            let (done_tx, done_rx) = tokio::sync::oneshot::channel();
            std::thread::Builder::new()
                .name("floor-echo".into())
                .spawn(move || {
                    let result = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(anyhow::Error::from)
                        .and_then(|rt| rt.block_on(serve));
                    let _ = done_tx.send(result);
                })?;
            tokio::spawn(async move {
                done_rx
                    .await
                    .map_err(|_| anyhow!("the echo thread ended"))?
            })
        } else {
            tokio::spawn(serve)
        };
        let ws = target::connect(&format!("ws://{addr}/"), None).await?;
        Ok(Floor {
            ws,
            server,
            next_id: 0,
        })
    }

    /// One 1 KB round trip.
    pub async fn once(&mut self) -> Result<Duration> {
        self.next_id += 1;
        let frame = request_frame(self.next_id, "bench/echo");
        let start = Instant::now();
        self.ws.send_text(frame).await?;
        let back = self.ws.recv_text_within(FRAME_TIMEOUT).await?;
        let took = start.elapsed();
        if back.len() != FRAME_BYTES {
            bail!("the echo server returned {} bytes", back.len());
        }
        Ok(took)
    }

    pub async fn stop(self) {
        let _ = self.ws.close().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.server).await;
    }
}

#[derive(Deserialize)]
struct Forwarded<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    method: Option<&'a str>,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Answer {
    id: Option<serde_json::Value>,
    result: Option<serde_json::Value>,
    error: Option<serde_json::Value>,
}

/// A web client whose requests go through Orbit to the bench's own anchor, which echoes the
/// params back as the result (so the answer is 1 KB too), or to an anchor running elsewhere.
pub struct Relay {
    client: Ws,
    /// The bench's own anchor, when it is the one answering.
    anchor: Option<JoinHandle<Result<u64>>>,
    next_id: u64,
    method: String,
}

/// The bench's anchor: answers every forwarded request with its params as the result, at
/// once. Returns how many it answered.
pub async fn answer_requests(
    mut tx: SplitSink<WsStream, Message>,
    mut rx: SplitStream<WsStream>,
) -> Result<u64> {
    let mut answered = 0u64;
    while let Some(msg) = rx.next().await {
        let text = match msg? {
            Message::Text(t) => t,
            Message::Close(_) => break,
            _ => continue,
        };
        let Ok(req) = serde_json::from_str::<Forwarded>(&text) else {
            continue;
        };
        let (Some(id), Some(_), Some(params)) = (req.id, req.method, req.params) else {
            continue;
        };
        let answer = format!(r#"{{"id":{},"result":{}}}"#, id.get(), params.get());
        tx.send(Message::text(answer)).await?;
        answered += 1;
    }
    Ok(answered)
}

impl Relay {
    pub async fn start(target: &Target, method: &str) -> Result<Relay> {
        let user = target.user_with_anchor("bench-rtt").await?;
        let client = target.client(&user.web).await?;
        let (tx, rx) = user.anchor.into_stream().split();
        let anchor = tokio::spawn(answer_requests(tx, rx));
        Ok(Relay {
            client,
            anchor: Some(anchor),
            next_id: 0,
            method: method.to_string(),
        })
    }

    /// Requests from `client`, a client socket of a user whose anchor is not the bench's (the
    /// real `anchor` process); any answer with the request's id and a `result` counts.
    pub fn with_client(client: Ws, method: &str) -> Relay {
        Relay {
            client,
            anchor: None,
            next_id: 0,
            method: method.to_string(),
        }
    }

    /// One 1 KB request and its answer.
    pub async fn once(&mut self) -> Result<Duration> {
        self.next_id += 1;
        let id = self.next_id;
        let frame = request_frame(id, &self.method);
        let start = Instant::now();
        self.client.send_text(frame).await?;
        let text = self
            .client
            .recv_text_within(FRAME_TIMEOUT)
            .await
            .with_context(|| format!("the answer to request {id}"))?;
        let took = start.elapsed();
        let answer: Answer = serde_json::from_str(&text)?;
        if answer.id.as_ref().and_then(|v| v.as_u64()) != Some(id) || answer.result.is_none() {
            return Err(anyhow!(
                "request {id} got {} (error: {:?})",
                orbit_tests::clip(&text),
                answer.error
            ));
        }
        Ok(took)
    }

    pub async fn stop(self) {
        let _ = self.client.close().await;
        if let Some(anchor) = self.anchor {
            anchor.abort();
        }
    }
}

/// A round trip being measured.
pub enum Side {
    Floor(Floor),
    Relay(Relay),
}

impl Side {
    async fn once(&mut self) -> Result<Duration> {
        match self {
            Side::Floor(f) => f.once().await,
            Side::Relay(r) => r.once().await,
        }
    }

    async fn stop(self) {
        match self {
            Side::Floor(f) => f.stop().await,
            Side::Relay(r) => r.stop().await,
        }
    }
}

/// The figures of one [`measure`] run.
#[derive(Default)]
pub struct RttSet {
    /// Echo server sharing the client's (single-threaded) runtime.
    pub floor: Option<Result<RttResult>>,
    /// Echo server on a thread of its own.
    pub floor_own_thread: Option<Result<RttResult>>,
    pub relay: Option<Result<RttResult>>,
}

/// The floors and (given a target) the relay, alternating (see [`alternate`]).
pub async fn measure(
    floor: bool,
    relay: Option<(&Target, &str)>,
    warmup: usize,
    samples: usize,
) -> RttSet {
    let mut sides = Vec::new();
    if floor {
        sides.push(Floor::start(false).await.map(Side::Floor));
        sides.push(Floor::start(true).await.map(Side::Floor));
    }
    if let Some((target, method)) = relay {
        sides.push(Relay::start(target, method).await.map(Side::Relay));
    }
    let mut results = alternate(sides, warmup, samples).await.into_iter();
    let mut set = RttSet::default();
    if floor {
        set.floor = results.next();
        set.floor_own_thread = results.next();
    }
    if relay.is_some() {
        set.relay = results.next();
    }
    set
}

/// Measures `sides` (those that started) in turn, in blocks of `BLOCK` recorded round trips,
/// each block after `BLOCK_WARMUP` unrecorded ones (the first after `warmup`): within a block
/// each side runs back to back (right after the relay's, a floor round trip would find the
/// threads asleep), and alternating spreads any change in the machine's load over all of
/// them. One result per side, in order; the sides are stopped.
pub async fn alternate(
    sides: Vec<Result<Side>>,
    warmup: usize,
    samples: usize,
) -> Vec<Result<RttResult>> {
    const BLOCK: usize = 100;
    const BLOCK_WARMUP: usize = 10;
    struct Run {
        side: Option<Side>,
        times: Vec<Duration>,
        err: Option<anyhow::Error>,
        round_trips: usize,
    }
    let mut runs: Vec<Run> = sides
        .into_iter()
        .map(|side| {
            let (side, err) = match side {
                Ok(s) => (Some(s), None),
                Err(e) => (None, Some(e)),
            };
            Run {
                side,
                times: Vec::new(),
                err,
                round_trips: 0,
            }
        })
        .collect();
    let interleaved = runs.len() > 1;
    let mut warm = warmup.max(BLOCK_WARMUP);
    loop {
        let mut busy = false;
        for run in runs.iter_mut() {
            let Some(s) = run.side.as_mut() else { continue };
            if run.times.len() >= samples {
                continue;
            }
            busy = true;
            let want = BLOCK.min(samples - run.times.len());
            for i in 0..warm + want {
                run.round_trips += 1;
                match s.once().await {
                    Ok(d) if i >= warm => run.times.push(d),
                    Ok(_) => {}
                    Err(e) => {
                        run.err = Some(e);
                        break;
                    }
                }
            }
            if run.err.is_some() {
                if let Some(s) = run.side.take() {
                    s.stop().await;
                }
            }
        }
        if !busy {
            break;
        }
        warm = BLOCK_WARMUP;
    }
    let mut results = Vec::new();
    for run in runs {
        if let Some(s) = run.side {
            s.stop().await;
        }
        results.push(match run.err {
            Some(e) => Err(e),
            None => Ok(RttResult {
                frame_bytes: FRAME_BYTES,
                warmup,
                interleaved,
                round_trips: run.round_trips,
                latency: Latency::of(&run.times),
            }),
        });
    }
    results
}

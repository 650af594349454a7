//! Round trips: the loopback WebSocket echo floor, and the relay client → Orbit → anchor →
//! Orbit → client. When both are measured they alternate in blocks of 100 round trips, so
//! that both see the same machine load and the ratio stays fair on a shared machine.

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
    #[serde(flatten)]
    pub latency: Latency,
}

/// A plain tokio-tungstenite echo server on 127.0.0.1 (in this process) and its client.
pub struct Floor {
    ws: WsStream,
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
        target::send_text(&mut self.ws, frame).await?;
        let back = target::recv_text(&mut self.ws, FRAME_TIMEOUT).await?;
        let took = start.elapsed();
        if back.len() != FRAME_BYTES {
            bail!("the echo server returned {} bytes", back.len());
        }
        Ok(took)
    }

    pub async fn stop(self) {
        target::close(self.ws).await;
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
/// params back as the result (so the answer is 1 KB too).
pub struct Relay {
    client: WsStream,
    anchor: JoinHandle<Result<u64>>,
    next_id: u64,
    method: String,
}

async fn answer_requests(
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
        let (tx, rx) = user.anchor.split();
        let anchor = tokio::spawn(answer_requests(tx, rx));
        Ok(Relay {
            client,
            anchor,
            next_id: 0,
            method: method.to_string(),
        })
    }

    /// One 1 KB request and its answer.
    pub async fn once(&mut self) -> Result<Duration> {
        self.next_id += 1;
        let id = self.next_id;
        let frame = request_frame(id, &self.method);
        let start = Instant::now();
        target::send_text(&mut self.client, frame).await?;
        let text = target::recv_text(&mut self.client, FRAME_TIMEOUT)
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
        target::close(self.client).await;
        self.anchor.abort();
    }
}

/// A round trip being measured.
enum Side {
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

/// The floors and (given a target) the relay. They alternate in blocks of `BLOCK` recorded
/// round trips, each block after `BLOCK_WARMUP` unrecorded ones: within a block each side
/// runs back to back (right after the relay's, a floor round trip would find the threads
/// asleep), and alternating spreads any change in the machine's load over all of them.
pub async fn measure(
    floor: bool,
    relay: Option<(&Target, &str)>,
    warmup: usize,
    samples: usize,
) -> RttSet {
    const BLOCK: usize = 100;
    const BLOCK_WARMUP: usize = 10;
    // (side, its samples, its error)
    let mut sides: Vec<(Option<Side>, Vec<Duration>, Option<anyhow::Error>)> = Vec::new();
    let mut start = |side: Result<Side>| match side {
        Ok(s) => sides.push((Some(s), Vec::new(), None)),
        Err(e) => sides.push((None, Vec::new(), Some(e))),
    };
    if floor {
        start(Floor::start(false).await.map(Side::Floor));
        start(Floor::start(true).await.map(Side::Floor));
    }
    if let Some((target, method)) = relay {
        start(Relay::start(target, method).await.map(Side::Relay));
    }
    let interleaved = sides.len() > 1;
    let mut warm = warmup.max(BLOCK_WARMUP);
    loop {
        let mut busy = false;
        for (side, times, err) in sides.iter_mut() {
            let Some(s) = side.as_mut() else { continue };
            if times.len() >= samples {
                continue;
            }
            busy = true;
            let want = BLOCK.min(samples - times.len());
            for i in 0..warm + want {
                match s.once().await {
                    Ok(d) if i >= warm => times.push(d),
                    Ok(_) => {}
                    Err(e) => {
                        *err = Some(e);
                        break;
                    }
                }
            }
            if err.is_some() {
                if let Some(s) = side.take() {
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
    for (side, times, err) in sides {
        if let Some(s) = side {
            s.stop().await;
        }
        results.push(match err {
            Some(e) => Err(e),
            None => Ok(RttResult {
                frame_bytes: FRAME_BYTES,
                warmup,
                interleaved,
                latency: Latency::of(&times),
            }),
        });
    }
    let mut results = results.into_iter();
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

//! The anchor's one WebSocket to Orbit (`/ws/anchor`), kept up by a task of its own.
//!
//! The task connects with the access token as a Bearer header, reports each connection to the
//! event loop with a sender for outbound frames bounded in frames and bytes ([`Outbound`]),
//! forwards every inbound text frame, sends an application `ping` every [`PING_EVERY`] (Orbit
//! answers it without waking the user's Durable Object) and gives up on a socket silent for
//! [`SILENT_LIMIT`]. It refreshes the access token on schedule, connected or not. After a
//! disconnection it waits with exponential backoff and jitter (capped at 30 s) and connects
//! again.
//!
//! Some endings are final, and the task reports them as [`OrbitEvent::Fatal`] instead of
//! reconnecting: the anchor was revoked (close code 4003, or 401 `anchor_revoked`), another
//! process with the same credentials took the connection over (4001), or Orbit refused the
//! refresh token.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

use orbit_protocol::auth::ApiErrorBody;
use orbit_protocol::control::PING_FRAME;

use crate::backoff::{Backoff, BackoffConfig};
use crate::connection::{final_close, final_refusal};
use crate::tokens::{RefreshError, TokenKeeper};

/// How often the anchor pings Orbit.
pub const PING_EVERY: Duration = Duration::from_secs(15);
/// A connection with nothing received for this long is considered dead.
pub const SILENT_LIMIT: Duration = Duration::from_secs(45);
/// Frames waiting to be written to the socket, at most, and their bytes; the event loop waits
/// while either is reached ([`Outbound`]).
const OUTBOUND_QUEUE: usize = 256;
pub const OUTBOUND_BYTES: usize = 8 * 1024 * 1024;

/// The sending end of a connection's queue of frames for Orbit, bounded in frames and in bytes:
/// a frame holds its length of the byte budget (at most all of it) until it is written.
#[derive(Debug, Clone)]
pub struct Outbound {
    frames: mpsc::Sender<(String, OwnedSemaphorePermit)>,
    bytes: Arc<Semaphore>,
    total: u32,
}

/// The receiving end; the budget is closed when it is dropped, so no sender waits on it.
#[derive(Debug)]
struct OutboundQueue {
    frames: mpsc::Receiver<(String, OwnedSemaphorePermit)>,
    bytes: Arc<Semaphore>,
}

impl Drop for OutboundQueue {
    fn drop(&mut self) {
        self.bytes.close();
    }
}

impl OutboundQueue {
    /// Stops taking frames and returns those still queued, in order.
    fn close(&mut self) -> Vec<String> {
        self.frames.close();
        let mut unsent = Vec::new();
        while let Ok((frame, _)) = self.frames.try_recv() {
            unsent.push(frame);
        }
        self.bytes.close();
        unsent
    }
}

fn outbound(frames: usize, bytes: usize) -> (Outbound, OutboundQueue) {
    let total = u32::try_from(bytes.clamp(1, Semaphore::MAX_PERMITS)).unwrap_or(u32::MAX);
    let budget = Arc::new(Semaphore::new(total as usize));
    let (tx, rx) = mpsc::channel(frames);
    let sender = Outbound {
        frames: tx,
        bytes: budget.clone(),
        total,
    };
    let queue = OutboundQueue {
        frames: rx,
        bytes: budget,
    };
    (sender, queue)
}

impl Outbound {
    /// Queues one frame, waiting while the queue is full in frames or bytes (backpressure).
    /// Gives the frame back if the connection is gone.
    pub async fn send(&self, frame: String) -> Result<(), String> {
        let cost = u32::try_from(frame.len())
            .unwrap_or(u32::MAX)
            .clamp(1, self.total);
        let Ok(permit) = self.bytes.clone().acquire_many_owned(cost).await else {
            return Err(frame);
        };
        self.frames
            .send((frame, permit))
            .await
            .map_err(|refused| refused.0 .0)
    }
}

/// What the connection task tells the anchor's event loop.
#[derive(Debug)]
pub enum OrbitEvent {
    /// A new connection; frames for Orbit go into `outbound`.
    Connected { outbound: Outbound },
    /// One text frame from Orbit.
    Frame(String),
    /// The connection ended; `unsent` are frames that were queued but never written, in order.
    Disconnected { reason: String, unsent: Vec<String> },
    /// The access token was refreshed.
    Refreshed,
    /// The anchor cannot go on (revoked, replaced, refresh refused): it should stop and say why.
    Fatal(String),
}

/// Sends one message, giving up after [`SILENT_LIMIT`]: a half-open connection with a full
/// send buffer must not hold the anchor until TCP gives up (many minutes).
async fn send_within<S>(sink: &mut S, message: Message) -> Result<(), String>
where
    S: futures_util::Sink<Message, Error = tungstenite::Error> + Unpin,
{
    match tokio::time::timeout(SILENT_LIMIT, sink.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "Orbit took in nothing for {} s",
            SILENT_LIMIT.as_secs()
        )),
    }
}

/// How one connection attempt or connection ended.
enum Ending {
    /// Try again after the backoff delay.
    Retry(String),
    /// Try again at once (the token was just refreshed after a 401 `token_expired`).
    RetryNow(String),
    Fatal(String),
    Shutdown,
}

/// Keeps the connection up until `shutdown` turns true or something fatal happens.
pub struct OrbitLink {
    pub url: String,
    pub keeper: TokenKeeper,
    pub events: mpsc::Sender<OrbitEvent>,
    pub backoff: BackoffConfig,
    pub now_ms: fn() -> i64,
}

impl OrbitLink {
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Backoff::new(self.backoff);
        let started = Instant::now();
        let mono_ms = move || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        // An immediate retry is for a token that had just expired; twice in a row means Orbit
        // refuses fresh tokens too, and hammering it would only burn refresh tokens.
        let mut retried_now = false;
        loop {
            if let Err(fatal) = self.refresh_if_due().await {
                let _ = self.events.send(OrbitEvent::Fatal(fatal)).await;
                return;
            }
            let ending = self
                .connect_once(&mut shutdown, &mut backoff, mono_ms)
                .await;
            let reason = match ending {
                Ending::Shutdown => return,
                Ending::Fatal(reason) => {
                    let _ = self.events.send(OrbitEvent::Fatal(reason)).await;
                    return;
                }
                Ending::RetryNow(reason) if !retried_now => {
                    retried_now = true;
                    tracing::info!(%reason, "reconnecting to Orbit now");
                    continue;
                }
                Ending::RetryNow(reason) | Ending::Retry(reason) => reason,
            };
            retried_now = false;
            backoff.disconnected(mono_ms());
            let delay = backoff.next_delay(rand::random::<f64>());
            tracing::warn!(%reason, retry_in_ms = delay.as_millis() as u64, "not connected to Orbit");
            let wake = Instant::now() + delay;
            // Keep the token fresh even while Orbit is unreachable.
            loop {
                let refresh_at = self.refresh_instant();
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = tokio::time::sleep_until(wake) => break,
                    _ = tokio::time::sleep_until(refresh_at), if refresh_at < wake => {
                        if let Err(fatal) = self.refresh_if_due().await {
                            let _ = self.events.send(OrbitEvent::Fatal(fatal)).await;
                            return;
                        }
                    }
                }
            }
        }
    }

    /// The keeper's due time as a tokio instant.
    fn refresh_instant(&self) -> Instant {
        let wait_ms = self.keeper.due_ms().saturating_sub((self.now_ms)()).max(0);
        Instant::now() + Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0))
    }

    /// Refreshes when due. `Err` carries a fatal reason; transient failures are logged (the
    /// keeper schedules the retry).
    async fn refresh_if_due(&mut self) -> Result<(), String> {
        if !self.keeper.is_due((self.now_ms)()) {
            return Ok(());
        }
        match self.keeper.refresh(self.now_ms).await {
            Ok(()) => {
                tracing::info!(
                    refreshes = self.keeper.refreshes(),
                    "access token refreshed"
                );
                // Only for `anchor status`: never wait for room (see `inbound` in `connect_once`).
                let _ = self.events.try_send(OrbitEvent::Refreshed);
                Ok(())
            }
            Err(e) if e.is_fatal() => Err(e.to_string()),
            Err(RefreshError::Transient {
                source,
                retry_after_ms,
            }) => {
                tracing::warn!(error = %source, retry_after_ms, "token refresh failed; will retry");
                Ok(())
            }
            Err(e) => {
                let _ = self.events.try_send(OrbitEvent::Refreshed);
                tracing::error!(error = %e, "the refreshed token is in use but not saved");
                Ok(())
            }
        }
    }

    async fn connect_once(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
        backoff: &mut Backoff,
        mono_ms: impl Fn() -> u64,
    ) -> Ending {
        let mut request = match self.url.as_str().into_client_request() {
            Ok(r) => r,
            Err(e) => return Ending::Fatal(format!("bad Orbit URL {}: {e}", self.url)),
        };
        let bearer = format!("Bearer {}", self.keeper.access_token());
        match bearer.parse() {
            Ok(value) => {
                request.headers_mut().insert("authorization", value);
            }
            Err(_) => return Ending::Fatal("the stored access token is not valid text".into()),
        }
        let connecting = tokio::select! {
            _ = shutdown.changed() => return Ending::Shutdown,
            r = tokio::time::timeout(Duration::from_secs(15), tokio_tungstenite::connect_async(request)) => r,
        };
        let socket = match connecting {
            Err(_) => return Ending::Retry("connecting timed out after 15 s".into()),
            Ok(Err(tungstenite::Error::Http(response))) => {
                let status = response.status().as_u16();
                let body = response
                    .body()
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default()
                    .into_owned();
                return self.refused(status, &body).await;
            }
            Ok(Err(e)) => return Ending::Retry(format!("cannot connect to {}: {e}", self.url)),
            Ok(Ok((socket, _))) => socket,
        };
        tracing::info!(url = %self.url, anchor_id = %self.keeper.anchor_id(), "connected to Orbit");
        backoff.connected(mono_ms());
        let (mut sink, mut stream) = socket.split();
        let (outbound, mut queued) = outbound(OUTBOUND_QUEUE, OUTBOUND_BYTES);
        if self
            .events
            .send(OrbitEvent::Connected { outbound })
            .await
            .is_err()
        {
            return Ending::Shutdown;
        }

        let mut last_heard = Instant::now();
        let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
        // An inbound frame the event loop has no room for yet. While it waits, the socket is not
        // read (backpressure toward Orbit), but outbound frames keep flowing: the event loop may
        // itself be waiting for room in `queued`, and waiting on each other would deadlock.
        let mut inbound: Option<String> = None;
        let events = self.events.clone();
        let ending = loop {
            let refresh_at = self.refresh_instant();
            tokio::select! {
                _ = shutdown.changed() => {
                    let close = CloseFrame { code: CloseCode::Normal, reason: "anchor stopping".into() };
                    let _ = tokio::time::timeout(Duration::from_secs(2), sink.send(Message::Close(Some(close)))).await;
                    break Ending::Shutdown;
                }
                frame = queued.frames.recv() => {
                    // The frame's share of the byte budget comes back once it is written.
                    let Some((frame, _bytes)) = frame else { break Ending::Shutdown };
                    if let Err(e) = send_within(&mut sink, Message::Text(frame.clone().into())).await {
                        break self.disconnected(format!("sending to Orbit failed: {e}"), Some(frame), inbound.take(), &mut queued).await;
                    }
                }
                permit = events.reserve(), if inbound.is_some() => {
                    let (Ok(permit), Some(text)) = (permit, inbound.take()) else { break Ending::Shutdown };
                    permit.send(OrbitEvent::Frame(text));
                    // Not reading while the event loop was busy is not Orbit's silence.
                    last_heard = Instant::now();
                }
                message = stream.next(), if inbound.is_none() => {
                    last_heard = Instant::now();
                    match message {
                        Some(Ok(Message::Text(text))) => inbound = Some(text.to_string()),
                        Some(Ok(Message::Close(frame))) => break self.closed(frame, &mut queued).await,
                        Some(Ok(_)) => {}
                        Some(Err(e)) => break self.disconnected(format!("connection lost: {e}"), None, None, &mut queued).await,
                        None => break self.disconnected("connection closed".into(), None, None, &mut queued).await,
                    }
                }
                _ = ping.tick() => {
                    if inbound.is_none() && last_heard.elapsed() > SILENT_LIMIT {
                        break self.disconnected(format!("nothing heard from Orbit for {} s", SILENT_LIMIT.as_secs()), None, None, &mut queued).await;
                    }
                    if let Err(e) = send_within(&mut sink, Message::Text(PING_FRAME.into())).await {
                        break self.disconnected(format!("ping failed: {e}"), None, inbound.take(), &mut queued).await;
                    }
                }
                _ = tokio::time::sleep_until(refresh_at) => {
                    if let Err(fatal) = self.refresh_if_due().await {
                        let close = CloseFrame { code: CloseCode::Normal, reason: "anchor stopping".into() };
                        let _ = send_within(&mut sink, Message::Close(Some(close))).await;
                        break Ending::Fatal(fatal);
                    }
                }
            }
        };
        ending
    }

    /// A refused upgrade: 401 `token_expired` is cured by a refresh; a revocation is final;
    /// anything else is retried later.
    async fn refused(&mut self, status: u16, body: &str) -> Ending {
        let code = serde_json::from_str::<ApiErrorBody>(body)
            .ok()
            .map(|refusal| refusal.error.code);
        if let (401, Some(why)) = (status, code.and_then(final_refusal)) {
            return Ending::Fatal(why);
        }
        let code = code.map_or("", |code| code.as_str());
        match (status, code) {
            (401, _) => {
                // Expired or no longer valid (e.g. Orbit's signing key changed): a fresh token
                // from the refresh token is the cure, and if that is refused it is final.
                match self.keeper.refresh(self.now_ms).await {
                    Ok(()) => {
                        let _ = self.events.try_send(OrbitEvent::Refreshed);
                        Ending::RetryNow(format!(
                            "the access token was refused ({code}); refreshed it"
                        ))
                    }
                    Err(e) if e.is_fatal() => Ending::Fatal(e.to_string()),
                    Err(e @ RefreshError::Save(_)) => {
                        tracing::error!(error = %e, "the refreshed token is in use but not saved");
                        Ending::RetryNow(format!(
                            "the access token was refused ({code}); refreshed it"
                        ))
                    }
                    Err(e) => Ending::Retry(format!(
                        "the access token was refused ({code}) and refreshing failed: {e}"
                    )),
                }
            }
            _ => Ending::Retry(format!(
                "Orbit answered the upgrade with HTTP {status} {code}"
            )),
        }
    }

    async fn closed(&self, frame: Option<CloseFrame>, queued: &mut OutboundQueue) -> Ending {
        let (code, reason) = frame
            .map(|f| (u16::from(f.code), f.reason.to_string()))
            .unwrap_or((1005, String::new()));
        match final_close(code, &reason) {
            Some(why) => Ending::Fatal(why),
            None => {
                self.disconnected(
                    format!("Orbit closed the connection ({code} {reason})"),
                    None,
                    None,
                    queued,
                )
                .await
            }
        }
    }

    /// Reports a lost connection with the frames that never left, so none is lost. `inbound` is
    /// a frame already read from Orbit and not yet handed over: it is delivered first.
    async fn disconnected(
        &self,
        reason: String,
        failed: Option<String>,
        inbound: Option<String>,
        queued: &mut OutboundQueue,
    ) -> Ending {
        let queued = queued.close();
        if let Some(text) = inbound {
            let _ = self.events.send(OrbitEvent::Frame(text)).await;
        }
        let unsent: Vec<String> = failed.into_iter().chain(queued).collect();
        // Safe to wait: the queue is closed, so an event loop blocked on it is released.
        let _ = self
            .events
            .send(OrbitEvent::Disconnected {
                reason: reason.clone(),
                unsent,
            })
            .await;
        Ending::Retry(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Credentials;
    use crate::login::DeviceApi;
    use tokio::net::TcpListener;

    /// A link to `url` with a token that needs no refresh for an hour.
    fn link(
        url: String,
        events: mpsc::Sender<OrbitEvent>,
        dir: &std::path::Path,
    ) -> anyhow::Result<OrbitLink> {
        fn now() -> i64 {
            1_000_000
        }
        let creds = Credentials {
            orbit_url: "http://127.0.0.1:9".into(),
            anchor_id: "a1".into(),
            access_token: "at".into(),
            access_expires_at: now() + 3_600_000,
            refresh_token: "rt".into(),
        };
        Ok(OrbitLink {
            url,
            keeper: TokenKeeper::new(
                DeviceApi::new("http://127.0.0.1:9")?,
                dir.to_path_buf(),
                creds,
                now(),
            ),
            events,
            backoff: BackoffConfig::default(),
            now_ms: now,
        })
    }

    /// Orbit flooding the anchor while the event loop floods Orbit: with both channels full,
    /// neither side may wait for the other.
    #[tokio::test]
    async fn inbound_backpressure_never_blocks_outbound_frames() -> anyhow::Result<()> {
        const FRAMES: usize = 600;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("ws://{}/ws/anchor", listener.local_addr()?);
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await?;
            let ws = tokio_tungstenite::accept_async(tcp).await?;
            let (mut sink, mut stream) = ws.split();
            let flood = tokio::spawn(async move {
                for n in 0..FRAMES {
                    sink.send(Message::Text(format!("{{\"n\":{n}}}").into()))
                        .await?;
                }
                Ok::<_, anyhow::Error>(sink)
            });
            let mut got = Vec::new();
            while got.len() < FRAMES {
                match stream.next().await {
                    Some(Ok(Message::Text(t))) if !t.contains("ping") => got.push(t.to_string()),
                    Some(Ok(_)) => {}
                    other => anyhow::bail!("server stream ended: {other:?}"),
                }
            }
            let _sink = flood.await??;
            Ok::<_, anyhow::Error>(got)
        });

        let dir = tempfile::tempdir()?;
        let (events_tx, mut events) = mpsc::channel(4);
        let (_shutdown_tx, shutdown) = watch::channel(false);
        tokio::spawn(link(url, events_tx, dir.path())?.run(shutdown));
        let outbound = match events.recv().await {
            Some(OrbitEvent::Connected { outbound }) => outbound,
            other => anyhow::bail!("expected Connected, got {other:?}"),
        };
        // Send everything without reading a single inbound event.
        let sending = async {
            for n in 0..FRAMES {
                outbound
                    .send(format!("{{\"out\":{n}}}"))
                    .await
                    .map_err(|_| anyhow::anyhow!("the connection is gone"))?;
            }
            Ok::<_, anyhow::Error>(())
        };
        tokio::time::timeout(Duration::from_secs(10), sending)
            .await
            .map_err(|_| {
                anyhow::anyhow!("outbound frames were blocked by unread inbound ones")
            })??;
        let got = tokio::time::timeout(Duration::from_secs(10), server).await???;
        assert_eq!(got.len(), FRAMES);
        assert_eq!(got[0], "{\"out\":0}");
        assert_eq!(got[FRAMES - 1], format!("{{\"out\":{}}}", FRAMES - 1));

        // And every inbound frame is then delivered, in order.
        for n in 0..FRAMES {
            match tokio::time::timeout(Duration::from_secs(10), events.recv()).await? {
                Some(OrbitEvent::Frame(text)) => assert_eq!(text, format!("{{\"n\":{n}}}")),
                other => anyhow::bail!("frame {n}: got {other:?}"),
            }
        }
        Ok(())
    }

    #[tokio::test]
    async fn frames_toward_orbit_are_bounded_in_bytes_not_frames() {
        let (sender, mut queue) = outbound(256, 64 * 1024);
        let frame = "x".repeat(40 * 1024);
        sender.send(frame.clone()).await.unwrap();
        // Two frames of 40 KiB are over 64 KiB: the second waits, though 254 frames are free.
        let second = tokio::time::timeout(Duration::from_millis(200), sender.send(frame.clone()));
        assert!(second.await.is_err(), "the byte budget holds the sender");
        // Written (taken off the queue and dropped), the first frees its bytes.
        drop(queue.frames.recv().await);
        tokio::time::timeout(Duration::from_secs(5), sender.send(frame.clone()))
            .await
            .expect("room again")
            .unwrap();
        // A frame larger than the whole budget still goes, alone.
        drop(queue.frames.recv().await);
        let huge = "y".repeat(100 * 1024);
        sender.send(huge.clone()).await.unwrap();
        // Closed, the queue gives back what is unsent, and a waiting sender gets its frame back.
        let waiting = {
            let sender = sender.clone();
            tokio::spawn(async move { sender.send("z".into()).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(queue.close(), vec![huge]);
        let refused = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(refused, Err("z".to_string()));
    }

    #[tokio::test]
    async fn close_code_4003_is_final_and_says_revoked() -> anyhow::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("ws://{}/ws/anchor", listener.local_addr()?);
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await?;
            let mut ws = tokio_tungstenite::accept_async(tcp).await?;
            ws.close(Some(CloseFrame {
                code: CloseCode::from(orbit_protocol::close::CLOSE_REVOKED),
                reason: "anchor revoked".into(),
            }))
            .await?;
            // Keep the socket until the anchor has read the close.
            while ws.next().await.is_some() {}
            Ok::<_, anyhow::Error>(())
        });
        let dir = tempfile::tempdir()?;
        let (events_tx, mut events) = mpsc::channel(16);
        let (_shutdown_tx, shutdown) = watch::channel(false);
        let task = tokio::spawn(link(url, events_tx, dir.path())?.run(shutdown));
        let mut fatal = None;
        while let Some(event) = tokio::time::timeout(Duration::from_secs(10), events.recv()).await?
        {
            if let OrbitEvent::Fatal(reason) = event {
                fatal = Some(reason);
                break;
            }
        }
        let fatal = fatal.ok_or_else(|| anyhow::anyhow!("no Fatal event"))?;
        assert!(
            fatal.contains("revoked") && fatal.contains("anchor login"),
            "{fatal}"
        );
        tokio::time::timeout(Duration::from_secs(5), task).await??;
        Ok(())
    }
}

//! [`Ws`]: a WebSocket client whose every wait is bounded. A frame that does not come fails
//! the test (or the benchmark) with a message saying what was awaited.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream as TokioTcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use orbit_protocol::Control;

use crate::{random_hex, DEFAULT_TIMEOUT};

/// The raw stream under a [`Ws`], for code that splits it into a sink and a stream.
pub type WsStream = WebSocketStream<MaybeTlsStream<TokioTcpStream>>;

/// Headers of an upgrade request.
#[derive(Debug, Clone, Default)]
pub struct UpgradeHeaders<'a> {
    /// `Authorization: Bearer …`
    pub bearer: Option<&'a str>,
    /// `Sec-WebSocket-Protocol: …`
    pub protocols: Option<&'a str>,
    /// `Origin: …`
    pub origin: Option<&'a str>,
}

impl Ws {
    /// Opens a WebSocket to `url` (Nagle off), labelled `label` in failure messages.
    pub async fn connect(url: &str, label: &str, headers: &UpgradeHeaders<'_>) -> Result<Ws> {
        let mut request = url
            .into_client_request()
            .with_context(|| format!("bad URL {url}"))?;
        let h = request.headers_mut();
        if let Some(token) = headers.bearer {
            h.insert(
                "Authorization",
                HeaderValue::from_str(&format!("Bearer {token}"))?,
            );
        }
        if let Some(protocols) = headers.protocols {
            h.insert("Sec-WebSocket-Protocol", HeaderValue::from_str(protocols)?);
        }
        if let Some(origin) = headers.origin {
            h.insert("Origin", HeaderValue::from_str(origin)?);
        }
        // Room for frames over Orbit's 1 MiB limit, so the limit under test is Orbit's.
        let config = WebSocketConfig::default()
            .max_message_size(Some(64 << 20))
            .max_frame_size(Some(64 << 20));
        let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
        let (stream, response) = tokio::time::timeout(DEFAULT_TIMEOUT, connect)
            .await
            .map_err(|_| anyhow!("upgrade to {label} took over {DEFAULT_TIMEOUT:?}"))?
            .map_err(|e| match e {
                tokio_tungstenite::tungstenite::Error::Http(response) => {
                    let body = response
                        .body()
                        .as_ref()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .unwrap_or_default();
                    anyhow!(
                        "upgrade to {label} refused: HTTP {}: {body}",
                        response.status()
                    )
                }
                other => anyhow!("upgrade to {label} failed: {other}"),
            })?;
        let protocol = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(Ws {
            stream,
            label: label.to_string(),
            timeout: DEFAULT_TIMEOUT,
            protocol,
            barriers: 0,
        })
    }

    /// Wraps a raw stream again (after [`Ws::into_stream`]).
    pub fn from_stream(stream: WsStream, label: &str) -> Ws {
        Ws {
            stream,
            label: label.to_string(),
            timeout: DEFAULT_TIMEOUT,
            protocol: None,
            barriers: 0,
        }
    }

    /// The raw stream, for code that must read and write at once (split it).
    pub fn into_stream(self) -> WsStream {
        self.stream
    }

    /// The raw stream, for pipelined writes (`feed` many frames, then `flush`).
    pub fn stream_mut(&mut self) -> &mut WsStream {
        &mut self.stream
    }

    /// Sends a control frame.
    pub async fn send_control(&mut self, frame: &Control) -> Result<()> {
        self.send_text(frame.to_text()).await
    }

    /// The next frame, which must be a control frame Orbit sends.
    pub async fn recv_control(&mut self) -> Result<Control> {
        let frame = self.recv_json().await?;
        serde_json::from_value(frame.clone()).with_context(|| {
            format!(
                "{}: expected a control frame, got {}",
                self.label,
                clip(&frame.to_string())
            )
        })
    }

    /// The next text frame as it arrived, within `within`.
    pub async fn recv_text_within(&mut self, within: Duration) -> Result<String> {
        let deadline = Instant::now() + within;
        match self.next_incoming(deadline).await? {
            None => bail!("{}: no frame arrived within {within:?}", self.label),
            Some(Incoming::Text(text)) => Ok(text),
            Some(Incoming::Binary(bytes)) => {
                bail!(
                    "{}: a binary frame of {} bytes arrived",
                    self.label,
                    bytes.len()
                )
            }
            Some(Incoming::Closed(close)) => bail!(
                "{}: the socket was closed ({close:?}) while a frame was awaited",
                self.label
            ),
        }
    }
}

/// A WebSocket client whose waits are all bounded.
#[derive(Debug)]
pub struct Ws {
    stream: WebSocketStream<MaybeTlsStream<TokioTcpStream>>,
    /// Names the socket in failure messages.
    pub label: String,
    /// How long one expected frame may take.
    pub timeout: Duration,
    /// The subprotocol the server selected.
    pub protocol: Option<String>,
    barriers: u64,
}

/// What arrived instead of a text frame.
enum Incoming {
    Text(String),
    Binary(Vec<u8>),
    Closed(Option<(u16, String)>),
}

impl Ws {
    /// Renames the socket in failure messages.
    pub fn named(mut self, label: &str) -> Self {
        self.label = label.to_string();
        self
    }

    /// How long each wait on this socket may take (the default suits the relay alone; a turn
    /// through codex takes longer).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    pub async fn send_text(&mut self, text: impl Into<String>) -> Result<()> {
        let text: String = text.into();
        tokio::time::timeout(self.timeout, self.stream.send(Message::text(text)))
            .await
            .map_err(|_| anyhow!("{}: send took over {:?}", self.label, self.timeout))?
            .with_context(|| format!("{}: send failed", self.label))
    }

    pub async fn send_json(&mut self, value: &Value) -> Result<()> {
        self.send_text(value.to_string()).await
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) -> Result<()> {
        tokio::time::timeout(self.timeout, self.stream.send(Message::binary(bytes)))
            .await
            .map_err(|_| anyhow!("{}: send took over {:?}", self.label, self.timeout))?
            .with_context(|| format!("{}: send failed", self.label))
    }

    /// Closes the socket from this side (normal closure) and waits briefly for the answer.
    pub async fn close(mut self) -> Result<()> {
        let _ = tokio::time::timeout(self.timeout, self.stream.close(None)).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(_)) = self.stream.next().await {}
        })
        .await;
        Ok(())
    }

    /// The next data frame or close, skipping WebSocket pings and pongs; `None` on timeout.
    async fn next_incoming(&mut self, deadline: Instant) -> Result<Option<Incoming>> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let next = match tokio::time::timeout(left, self.stream.next()).await {
                Err(_) => return Ok(None),
                Ok(next) => next,
            };
            return Ok(Some(match next {
                None => Incoming::Closed(None),
                Some(Err(e)) => match e {
                    tokio_tungstenite::tungstenite::Error::ConnectionClosed
                    | tokio_tungstenite::tungstenite::Error::AlreadyClosed => {
                        Incoming::Closed(None)
                    }
                    tokio_tungstenite::tungstenite::Error::Protocol(p) => {
                        Incoming::Closed(Some((1006, format!("protocol error: {p}"))))
                    }
                    tokio_tungstenite::tungstenite::Error::Io(io) => {
                        Incoming::Closed(Some((1006, format!("I/O error: {io}"))))
                    }
                    other => bail!("{}: receive failed: {other}", self.label),
                },
                Some(Ok(Message::Text(text))) => Incoming::Text(text.to_string()),
                Some(Ok(Message::Binary(bytes))) => Incoming::Binary(bytes.to_vec()),
                Some(Ok(Message::Close(frame))) => {
                    Incoming::Closed(frame.map(|f| (u16::from(f.code), f.reason.to_string())))
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            }));
        }
    }

    /// The next text frame as JSON, within `within`.
    pub async fn recv_json_within(&mut self, within: Duration) -> Result<Value> {
        let deadline = Instant::now() + within;
        match self.next_incoming(deadline).await? {
            None => bail!("{}: no frame arrived within {within:?}", self.label),
            Some(Incoming::Text(text)) => serde_json::from_str(&text)
                .with_context(|| format!("{}: a frame is not JSON: {}", self.label, clip(&text))),
            Some(Incoming::Binary(bytes)) => {
                bail!(
                    "{}: a binary frame of {} bytes arrived",
                    self.label,
                    bytes.len()
                )
            }
            Some(Incoming::Closed(close)) => {
                bail!(
                    "{}: the socket was closed ({close:?}) while a frame was awaited",
                    self.label
                )
            }
        }
    }

    /// The next text frame as JSON, within the socket's timeout.
    pub async fn recv_json(&mut self) -> Result<Value> {
        self.recv_json_within(self.timeout).await
    }

    /// The next frame, which must have `"type": kind`.
    pub async fn recv_type(&mut self, kind: &str) -> Result<Value> {
        let frame = self.recv_json().await?;
        if frame["type"] != kind {
            bail!(
                "{}: expected a {kind} frame, got {}",
                self.label,
                clip(&frame.to_string())
            );
        }
        Ok(frame)
    }

    /// Receives frames until one matches; returns it and the frames before it. Fails if none
    /// matches within the socket's timeout.
    pub async fn collect_until(
        &mut self,
        what: &str,
        predicate: impl FnMut(&Value) -> bool,
    ) -> Result<(Value, Vec<Value>)> {
        self.collect_until_within(what, self.timeout, predicate)
            .await
    }

    /// [`Ws::collect_until`], waiting at most `within` in all.
    pub async fn collect_until_within(
        &mut self,
        what: &str,
        within: Duration,
        mut predicate: impl FnMut(&Value) -> bool,
    ) -> Result<(Value, Vec<Value>)> {
        let deadline = Instant::now() + within;
        let mut before = Vec::new();
        loop {
            let frame = match self.next_incoming(deadline).await? {
                None => bail!(
                    "{}: {what} did not arrive within {within:?}; {} other frames did: {}",
                    self.label,
                    before.len(),
                    summarize(&before)
                ),
                Some(Incoming::Text(text)) => serde_json::from_str::<Value>(&text)
                    .with_context(|| format!("{}: a frame is not JSON: {}", self.label, clip(&text)))?,
                Some(Incoming::Binary(bytes)) => {
                    bail!("{}: a binary frame of {} bytes arrived", self.label, bytes.len())
                }
                Some(Incoming::Closed(close)) => bail!(
                    "{}: the socket was closed ({close:?}) while {what} was awaited; frames before: {}",
                    self.label,
                    summarize(&before)
                ),
            };
            if predicate(&frame) {
                return Ok((frame, before));
            }
            before.push(frame);
        }
    }

    /// Receives frames until one matches the predicate, and returns it.
    pub async fn recv_until(
        &mut self,
        what: &str,
        predicate: impl FnMut(&Value) -> bool,
    ) -> Result<Value> {
        Ok(self.collect_until(what, predicate).await?.0)
    }

    /// Asserts that nothing arrives for `duration`.
    pub async fn expect_silence(&mut self, duration: Duration) -> Result<()> {
        let deadline = Instant::now() + duration;
        match self.next_incoming(deadline).await? {
            None => Ok(()),
            Some(Incoming::Text(text)) => {
                bail!("{}: expected silence, got {}", self.label, clip(&text))
            }
            Some(Incoming::Binary(b)) => {
                bail!(
                    "{}: expected silence, got a binary frame of {} bytes",
                    self.label,
                    b.len()
                )
            }
            Some(Incoming::Closed(close)) => {
                bail!(
                    "{}: expected silence, but the socket closed ({close:?})",
                    self.label
                )
            }
        }
    }

    /// Waits for the server to close the socket; returns the close code and reason. Text
    /// frames that arrive first are returned too.
    pub async fn recv_close(&mut self) -> Result<(Option<(u16, String)>, Vec<Value>)> {
        let deadline = Instant::now() + self.timeout;
        let mut before = Vec::new();
        loop {
            match self.next_incoming(deadline).await? {
                None => bail!(
                    "{}: not closed within {:?}; frames meanwhile: {}",
                    self.label,
                    self.timeout,
                    summarize(&before)
                ),
                Some(Incoming::Text(text)) => {
                    before.push(serde_json::from_str(&text).unwrap_or(Value::String(text)))
                }
                Some(Incoming::Binary(_)) => {}
                Some(Incoming::Closed(close)) => return Ok((close, before)),
            }
        }
    }

    /// A round trip through the user's Durable Object: every frame the object sent this
    /// socket before it handled the barrier arrives before the barrier's answer, so the frames
    /// returned are everything that was in flight. The barrier is a control frame of an
    /// unknown type, answered with `orbit.error` (`unknown_type`) naming it.
    pub async fn barrier(&mut self) -> Result<Vec<Value>> {
        self.barriers += 1;
        let kind = format!("orbit.test-barrier-{}-{}", self.barriers, random_hex(4));
        self.send_json(&json!({ "type": kind })).await?;
        let (_, before) = self
            .collect_until(&format!("the answer to barrier {kind}"), |f| {
                f["type"] == "orbit.error"
                    && f["code"] == "unknown_type"
                    && f["message"].as_str().is_some_and(|m| m.contains(&kind))
            })
            .await?;
        Ok(before)
    }

    /// A barrier that must find no frame in flight.
    pub async fn expect_nothing_pending(&mut self) -> Result<()> {
        let before = self.barrier().await?;
        if !before.is_empty() {
            bail!(
                "{}: expected no frames, got {}",
                self.label,
                summarize(&before)
            );
        }
        Ok(())
    }
}

/// A frame's text, cut short for failure messages.
pub fn clip(text: &str) -> String {
    if text.len() <= 300 {
        return text.to_string();
    }
    let mut end = 300;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

/// Frames, cut short for failure messages.
pub fn summarize(frames: &[Value]) -> String {
    let shown: Vec<String> = frames
        .iter()
        .take(10)
        .map(|f| clip(&f.to_string()))
        .collect();
    let more = frames.len().saturating_sub(10);
    if more > 0 {
        format!("[{}, … {more} more]", shown.join(", "))
    } else {
        format!("[{}]", shown.join(", "))
    }
}

impl Ws {
    /// `orbit.subscribe`; returns the `orbit.subscribed` answer and the frames replayed before
    /// it.
    pub async fn subscribe(
        &mut self,
        thread_id: &str,
        since_seq: Option<u64>,
    ) -> Result<(Value, Vec<Value>)> {
        self.send_control(&Control::Subscribe {
            thread_id: thread_id.to_string(),
            since_seq,
        })
        .await?;
        self.collect_until(&format!("orbit.subscribed for {thread_id}"), |f| {
            f["type"] == "orbit.subscribed" && f["threadId"] == thread_id
        })
        .await
    }

    /// Receives the next frame, which must be an `orbit.error` with `code`.
    pub async fn recv_orbit_error(&mut self, code: &str) -> Result<Value> {
        let frame = self.recv_json().await?;
        if frame["type"] != "orbit.error" || frame["code"] != code {
            bail!(
                "{}: expected orbit.error {code}, got {}",
                self.label,
                clip(&frame.to_string())
            );
        }
        Ok(frame)
    }
}

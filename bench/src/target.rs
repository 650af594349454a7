//! The Orbit under test: one started by the integration-test harness, or one already running
//! (`make dev`) reached by URL; and the raw WebSocket plumbing the measurements use.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use orbit_tests::{NewSession, Orbit, Session};

use crate::baseline::{self, Baseline};
use crate::procfs;

pub type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long any single expected frame may take.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// What serves the relay under test.
pub enum Backend {
    /// Orbit started by the harness (fresh state, dev API on); stopped on drop.
    Harness(Orbit),
    /// The JavaScript baseline (`bench/baseline`), started by the bench.
    Baseline(Baseline, String),
    /// An Orbit already running; its dev API must be on (`make dev` turns it on).
    External,
}

pub struct Target {
    pub backend: Backend,
    /// Where WebSockets and the dev API go (wrangler's public port, or with `direct` the
    /// Worker's own workerd).
    base: String,
    /// Given by the user (`--workerd-pid`); otherwise found.
    pids: Vec<u32>,
    pub direct: bool,
}

impl Target {
    pub fn harness(orbit: Orbit) -> Target {
        let base = orbit.base_url();
        Target {
            backend: Backend::Harness(orbit),
            base,
            pids: Vec::new(),
            direct: false,
        }
    }

    pub fn baseline(baseline: Baseline, persist: &str) -> Target {
        let base = baseline.base_url();
        Target {
            backend: Backend::Baseline(baseline, persist.to_string()),
            base,
            pids: Vec::new(),
            direct: false,
        }
    }

    pub fn external(url: &str, pids: Vec<u32>) -> Target {
        Target {
            backend: Backend::External,
            base: url.trim_end_matches('/').to_string(),
            pids,
            direct: false,
        }
    }

    /// Talks to the workerd that runs the Worker directly, bypassing wrangler's dev proxy.
    pub fn go_direct(&mut self) -> Result<()> {
        let public = port_of(&self.base).ok_or_else(|| anyhow!("no port in {}", self.base))?;
        let port = baseline::direct_port(&self.workerd_pids(), public)
            .ok_or_else(|| anyhow!("found no workerd answering /health behind port {public}"))?;
        self.base = format!("http://127.0.0.1:{port}");
        self.direct = true;
        Ok(())
    }

    /// `http://host:port`
    pub fn base_url(&self) -> String {
        self.base.clone()
    }

    /// `ws://host:port`
    pub fn ws_url(&self) -> String {
        let base = self.base_url();
        if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            base
        }
    }

    pub fn describe(&self) -> String {
        let what = match &self.backend {
            Backend::Harness(orbit) => format!(
                "Orbit started by the test harness (wrangler dev, fresh state in {})",
                orbit.state_dir().display()
            ),
            Backend::Baseline(_, persist) => format!(
                "the JavaScript baseline bench/baseline/mini-orbit.js (PERSIST={persist}) under wrangler dev"
            ),
            Backend::External => "an already-running Orbit".to_string(),
        };
        let via = if self.direct {
            "directly (bypassing wrangler's dev proxy)"
        } else {
            "through wrangler's dev port"
        };
        format!("{what} at {} {via}", self.base)
    }

    /// The workerd processes serving this Orbit.
    pub fn workerd_pids(&self) -> Vec<u32> {
        if !self.pids.is_empty() {
            return self.pids.clone();
        }
        match &self.backend {
            Backend::Harness(orbit) => {
                procfs::workerd_under_marker(&orbit.state_dir().display().to_string())
            }
            Backend::Baseline(b, _) => procfs::workerd_under_marker(&b.marker()),
            Backend::External => port_of(&self.base)
                .map(procfs::workerd_for_port)
                .unwrap_or_default(),
        }
    }

    /// `POST /__dev/session`.
    pub async fn session(&self, request: NewSession) -> Result<Session> {
        match &self.backend {
            Backend::Harness(orbit) if !self.direct => orbit.create_session(request).await,
            _ => external_session(&self.base, request).await,
        }
    }

    /// A new user with a web session.
    pub async fn new_user(&self) -> Result<Session> {
        self.session(NewSession::default()).await
    }

    /// Pairs a new anchor with `user_id`; returns its anchor session.
    pub async fn pair_anchor(&self, user_id: &str, name: &str) -> Result<Session> {
        self.session(NewSession {
            user_id: Some(user_id.into()),
            anchor_name: Some(name.into()),
            anchor_id: None,
        })
        .await
    }
}

fn port_of(base: &str) -> Option<u16> {
    let rest = base.split("://").nth(1)?;
    let host_port = rest.split('/').next()?;
    match host_port.rsplit_once(':') {
        Some((_, port)) => port.parse().ok(),
        None if base.starts_with("https") => Some(443),
        None => Some(80),
    }
}

/// The dev API of an Orbit the harness did not start (the harness's own client needs an
/// [`Orbit`] it launched itself).
async fn external_session(base: &str, request: NewSession) -> Result<Session> {
    let mut body = serde_json::Map::new();
    if let Some(user) = request.user_id {
        body.insert("userId".into(), user.into());
    }
    if let Some(name) = request.anchor_name {
        body.insert("anchorName".into(), name.into());
    }
    if let Some(anchor) = request.anchor_id {
        body.insert("anchorId".into(), anchor.into());
    }
    let url = format!("{}/__dev/session", base.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&url)
        .timeout(FRAME_TIMEOUT)
        .json(&Value::Object(body))
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        bail!("POST {url}: HTTP {status}: {text} (is the dev API on? `make dev` sets ORBIT_DEV_API=1)");
    }
    let v: Value = serde_json::from_str(&text).with_context(|| format!("not JSON: {text}"))?;
    Session::from_dev_answer(&v)
}

/// Opens a WebSocket (Nagle off) to `url`, with an optional bearer token.
pub async fn connect(url: &str, bearer: Option<&str>) -> Result<WsStream> {
    let mut request = url.into_client_request().context("bad URL")?;
    if let Some(token) = bearer {
        request.headers_mut().insert(
            "Authorization",
            HeaderValue::from_str(&format!("Bearer {token}"))?,
        );
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
    let (stream, _) = tokio::time::timeout(FRAME_TIMEOUT, connect)
        .await
        .map_err(|_| anyhow!("WebSocket upgrade took over {FRAME_TIMEOUT:?}"))?
        .map_err(|e| match e {
            tokio_tungstenite::tungstenite::Error::Http(response) => {
                let body = response
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                anyhow!("upgrade refused: HTTP {}: {body}", response.status())
            }
            other => anyhow!("upgrade failed: {other}"),
        })?;
    Ok(stream)
}

/// The next text frame within `within`, skipping WebSocket pings and pongs.
pub async fn recv_text(ws: &mut WsStream, within: Duration) -> Result<String> {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next()).await {
            Err(_) => bail!("no frame within {within:?}"),
            Ok(None) => bail!("socket closed"),
            Ok(Some(Err(e))) => bail!("receive failed: {e}"),
            Ok(Some(Ok(Message::Text(t)))) => return Ok(t.to_string()),
            Ok(Some(Ok(Message::Close(c)))) => bail!("socket closed: {c:?}"),
            Ok(Some(Ok(_))) => continue,
        }
    }
}

/// The next text frame as JSON.
pub async fn recv_json(ws: &mut WsStream, within: Duration) -> Result<Value> {
    let text = recv_text(ws, within).await?;
    serde_json::from_str(&text).with_context(|| format!("not JSON: {}", orbit_tests::clip(&text)))
}

/// Receives frames until one matches `pred`; returns it and how many others came first.
pub async fn recv_until(
    ws: &mut WsStream,
    what: &str,
    within: Duration,
    mut pred: impl FnMut(&Value) -> bool,
) -> Result<(Value, usize)> {
    let deadline = Instant::now() + within;
    let mut skipped = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = recv_json(ws, left)
            .await
            .with_context(|| format!("waiting for {what}"))?;
        if pred(&frame) {
            return Ok((frame, skipped));
        }
        skipped += 1;
    }
}

pub async fn send_text(ws: &mut WsStream, text: String) -> Result<()> {
    tokio::time::timeout(FRAME_TIMEOUT, ws.send(Message::text(text)))
        .await
        .map_err(|_| anyhow!("send took over {FRAME_TIMEOUT:?}"))?
        .context("send failed")
}

/// Closes from this side and waits briefly for the peer's close.
pub async fn close(mut ws: WsStream) {
    let _ = tokio::time::timeout(Duration::from_secs(5), ws.close(None)).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

/// A round trip through the user's Durable Object: a control frame of an unknown type is
/// answered `orbit.error {unknown_type}` after everything sent before it was handled.
pub async fn barrier(ws: &mut WsStream) -> Result<usize> {
    let kind = format!("orbit.bench-barrier-{}", orbit_tests::random_hex(4));
    send_text(ws, serde_json::json!({ "type": kind }).to_string()).await?;
    let (_, skipped) = recv_until(ws, "a barrier's answer", FRAME_TIMEOUT, |f| {
        f["type"] == "orbit.error" && f["message"].as_str().is_some_and(|m| m.contains(&kind))
    })
    .await?;
    Ok(skipped)
}

/// A user with one connected anchor (after its `anchor.hello`), ready for clients.
pub struct User {
    pub web: Session,
    pub anchor: WsStream,
}

impl Target {
    /// A fresh user and its connected anchor.
    pub async fn user_with_anchor(&self, name: &str) -> Result<User> {
        let web = self.new_user().await?;
        let anchor_session = self.pair_anchor(&web.user_id, name).await?;
        let anchor_id = anchor_session.anchor()?.to_string();
        let mut anchor = connect(
            &format!("{}/ws/anchor", self.ws_url()),
            Some(&anchor_session.access_token),
        )
        .await
        .context("anchor socket")?;
        recv_until(
            &mut anchor,
            "the anchor's orbit.hello",
            FRAME_TIMEOUT,
            |f| f["type"] == "orbit.hello",
        )
        .await?;
        send_text(
            &mut anchor,
            orbit_tests::anchor_hello(&anchor_id, name).to_string(),
        )
        .await?;
        barrier(&mut anchor).await?;
        Ok(User { web, anchor })
    }

    /// A client socket of `web` after its `orbit.hello` and `orbit.anchors`.
    pub async fn client(&self, web: &Session) -> Result<WsStream> {
        let mut ws = connect(
            &format!("{}/ws/client", self.ws_url()),
            Some(&web.access_token),
        )
        .await
        .context("client socket")?;
        recv_until(&mut ws, "orbit.anchors", FRAME_TIMEOUT, |f| {
            f["type"] == "orbit.anchors"
        })
        .await?;
        Ok(ws)
    }
}

/// `orbit.subscribe {threadId}` and wait for `orbit.subscribed`; returns its `seq`.
pub async fn subscribe(ws: &mut WsStream, thread_id: &str) -> Result<u64> {
    send_text(
        ws,
        serde_json::json!({ "type": "orbit.subscribe", "threadId": thread_id }).to_string(),
    )
    .await?;
    let (frame, _) = recv_until(ws, "orbit.subscribed", FRAME_TIMEOUT, |f| {
        f["type"] == "orbit.subscribed" && f["threadId"] == thread_id
    })
    .await?;
    Ok(frame["seq"].as_u64().unwrap_or(0))
}

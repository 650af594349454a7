//! The Orbit under test: one started by the integration-test harness, or one already running
//! (`make dev`) reached by URL. Sockets are the harness's [`Ws`]; the measurements take its raw
//! stream where they must read and write at once.

use std::time::Duration;

use anyhow::{anyhow, Context, Result};

pub use orbit_tests::WsStream;
use orbit_tests::{NewSession, Orbit, Session, UpgradeHeaders, Ws};

use crate::baseline::{self, Baseline};
use crate::procfs;

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
                "Orbit started by the test harness (workerd through Miniflare, fresh state in {})",
                orbit.state_dir().display()
            ),
            Backend::Baseline(_, persist) => format!(
                "the JavaScript baseline bench/baseline/mini-orbit.js (PERSIST={persist}) under wrangler dev"
            ),
            Backend::External => "an already-running Orbit".to_string(),
        };
        let via = match (&self.backend, self.direct) {
            (_, true) => "directly (bypassing wrangler's dev proxy)",
            // The harness runs no dev proxy (tests/workerd/serve.mjs says why).
            (Backend::Harness(_), false) => "on workerd's own port",
            _ => "through wrangler's dev port",
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
        orbit_tests::dev::session(&self.base, &request).await
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

/// Opens a WebSocket (Nagle off) to `url`, with an optional bearer token.
pub async fn connect(url: &str, bearer: Option<&str>) -> Result<Ws> {
    let headers = UpgradeHeaders {
        bearer,
        ..UpgradeHeaders::default()
    };
    let mut ws = Ws::connect(url, url, &headers).await?;
    ws.set_timeout(FRAME_TIMEOUT);
    Ok(ws)
}

/// A user with one connected anchor (after its `anchor.hello`), ready for clients.
pub struct User {
    pub web: Session,
    pub anchor: Ws,
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
        anchor
            .recv_until("the anchor's orbit.hello", |f| f["type"] == "orbit.hello")
            .await?;
        anchor
            .send_control(&orbit_tests::anchor_hello(&anchor_id, name))
            .await?;
        anchor.barrier().await?;
        Ok(User { web, anchor })
    }

    /// A client socket of `web` after its `orbit.hello` and `orbit.anchors`.
    pub async fn client(&self, web: &Session) -> Result<Ws> {
        let mut ws = connect(
            &format!("{}/ws/client", self.ws_url()),
            Some(&web.access_token),
        )
        .await
        .context("client socket")?;
        ws.recv_until("orbit.anchors", |f| f["type"] == "orbit.anchors")
            .await?;
        Ok(ws)
    }
}

/// `orbit.subscribe {threadId}` and wait for `orbit.subscribed`; returns its `seq`.
pub async fn subscribe(ws: &mut Ws, thread_id: &str) -> Result<u64> {
    let (subscribed, _) = ws.subscribe(thread_id, None).await?;
    Ok(subscribed["seq"].as_u64().unwrap_or(0))
}

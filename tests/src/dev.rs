//! The development API (`ORBIT_DEV_API=1`): users, sessions and anchors made without signing
//! in, typed by `orbit_protocol::dev`. Works against any Orbit with the dev API on (the
//! harness's own, or `make dev`'s for the benchmark).

use std::ops::Deref;

use anyhow::{anyhow, bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;

use orbit_protocol::dev::{DevHubFaultRequest, DevRevokeRequest, DevSession, DevSessionRequest};

use crate::DEFAULT_TIMEOUT;

/// Who a dev API session is for.
pub type NewSession = DevSessionRequest;

/// A session made by the dev API; its fields are [`DevSession`]'s.
#[derive(Debug, Clone)]
pub struct Session(pub DevSession);

impl Deref for Session {
    type Target = DevSession;

    fn deref(&self) -> &DevSession {
        &self.0
    }
}

impl Session {
    /// The anchor id of an anchor session.
    pub fn anchor(&self) -> Result<&str> {
        self.anchor_id
            .as_deref()
            .ok_or_else(|| anyhow!("session {} is not an anchor session", self.session_id))
    }
}

/// `POST /__dev/session` on the Orbit at `base_url`.
pub async fn session(base_url: &str, request: &NewSession) -> Result<Session> {
    post(base_url, "/__dev/session", request).await.map(Session)
}

/// `POST /__dev/revoke` on the Orbit at `base_url`.
pub async fn revoke(
    base_url: &str,
    session_id: Option<&str>,
    anchor_id: Option<&str>,
) -> Result<()> {
    let body = DevRevokeRequest {
        session_id: session_id.map(str::to_string),
        anchor_id: anchor_id.map(str::to_string),
    };
    post::<_, serde_json::Value>(base_url, "/__dev/revoke", &body).await?;
    Ok(())
}

/// `POST /__dev/hub-fault` on the Orbit at `base_url`: `user_id`'s hub refuses its next
/// `refuse_revocations` requests to close a revoked credential's sockets.
pub async fn hub_fault(base_url: &str, user_id: &str, refuse_revocations: u32) -> Result<()> {
    let body = DevHubFaultRequest {
        user_id: user_id.to_string(),
        refuse_revocations,
        ..DevHubFaultRequest::default()
    };
    post::<_, serde_json::Value>(base_url, "/__dev/hub-fault", &body).await?;
    Ok(())
}

/// `POST /__dev/hub-fault` on the Orbit at `base_url` with a storage fault: `fault`'s
/// `fail_writes`, `fail_reads` and `empty_log` (its `user_id` is replaced by `user_id`).
pub async fn storage_fault(base_url: &str, user_id: &str, fault: DevHubFaultRequest) -> Result<()> {
    let body = DevHubFaultRequest {
        user_id: user_id.to_string(),
        ..fault
    };
    post::<_, serde_json::Value>(base_url, "/__dev/hub-fault", &body).await?;
    Ok(())
}

async fn post<B: Serialize, A: DeserializeOwned>(
    base_url: &str,
    path: &str,
    body: &B,
) -> Result<A> {
    let url = format!("{}{path}", base_url.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&url)
        .timeout(DEFAULT_TIMEOUT)
        .json(body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .with_context(|| format!("POST {path}: body"))?;
    if !status.is_success() {
        bail!("POST {url}: HTTP {status}: {text} (is the dev API on? `make dev` sets ORBIT_DEV_API=1)");
    }
    serde_json::from_str(&text).with_context(|| format!("POST {path}: unexpected answer: {text}"))
}

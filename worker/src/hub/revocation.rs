//! The hub's revocation path (docs/auth.md, "Revocation"): asking a user's hub to close the
//! sockets of a revoked session or anchor, retried ([`close_revoked`]); the hub closing them; the
//! hub's own re-check against the accounts database before it routes a frame
//! ([`UserHub::recheck_revocations`]); and the development fault switch that makes the hub
//! refuse to be told, so tests can see the re-check hold. The policy (attempts, waits, interval)
//! is `orbit_shared::revocation`'s.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use worker::{Delay, Env, Request, Response, Result};

use orbit_protocol::ErrorCode;
use orbit_shared::revocation::{retry_delay_ms, OpenCredentials, Recheck};
use orbit_shared::router::{ConnId, Peer, RefreshCause, CLOSE_REVOKED};

use super::{Revoked, UserHub};
use crate::db;
use crate::http::{self, now_ms};

/// Header asking a hub to close the sockets of a revoked session or anchor.
const REVOKE_HEADER: &str = "X-Orbit-Revoke";
/// Header naming the user whose hub is asked, so that a hub woken by the request (one that
/// never had a socket, or was evicted) knows whose it is.
const USER_HEADER: &str = "X-Orbit-User";
/// Header of the development fault switch, sent only by the dev API.
pub const FAULT_HEADER: &str = "X-Orbit-Fault";

/// Why a hub could not be told to close a revoked credential's sockets.
#[derive(Debug, thiserror::Error)]
pub enum CloseError {
    #[error("the hub could not be reached: {0}")]
    Unreachable(#[from] worker::Error),
    #[error("the hub answered {0}")]
    Refused(u16),
    #[error("the hub's answer is unreadable: {0}")]
    Unreadable(#[from] serde_json::Error),
}

/// Closes `user`'s open sockets that were opened with a now revoked credential; returns how
/// many were closed. The hub is asked up to `CLOSE_ATTEMPTS` times; the last failure is
/// returned.
pub async fn close_revoked(
    env: &Env,
    user: &str,
    revoked: Revoked,
) -> std::result::Result<u64, CloseError> {
    let mut failed = 0;
    loop {
        match ask(env, user, &revoked).await {
            Ok(closed) => return Ok(closed),
            Err(e) => {
                failed += 1;
                let Some(wait) = retry_delay_ms(failed) else {
                    return Err(e);
                };
                worker::console_warn!("closing revoked sockets: attempt {failed} failed ({e})");
                Delay::from(Duration::from_millis(wait)).await;
            }
        }
    }
}

/// One attempt of [`close_revoked`].
async fn ask(env: &Env, user: &str, revoked: &Revoked) -> std::result::Result<u64, CloseError> {
    let headers = worker::Headers::new();
    headers.set(REVOKE_HEADER, &serde_json::to_string(revoked)?)?;
    headers.set(USER_HEADER, user)?;
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::Post).with_headers(headers);
    let inner = Request::new_with_init("https://hub.internal/revoke", &init)?;
    let mut answer = env
        .durable_object("USER_HUB")?
        .id_from_name(user)?
        .get_stub()?
        .fetch_with_request(inner)
        .await?;
    if answer.status_code() != 200 {
        return Err(CloseError::Refused(answer.status_code()));
    }
    #[derive(Deserialize)]
    struct Closed {
        closed: u64,
    }
    let text = answer.text().await?;
    Ok(serde_json::from_str::<Closed>(&text)?.closed)
}

/// The development fault switch (`POST /__dev/hub-fault`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    /// How many of the next requests to close sockets to answer with 503, as an unreachable
    /// hub would fail them (`0`: none).
    pub refuse_revocations: u32,
    /// How many of the next storage writes fail (`0`: none).
    #[serde(default)]
    pub fail_writes: u32,
    /// How many of the next reads of logged frames fail (`0`: none).
    #[serde(default)]
    pub fail_reads: u32,
    /// Deletes every row of the replay log at once, as a storage that lost them would.
    #[serde(default)]
    pub empty_log: bool,
}

/// The hub's revocation state: when it next re-checks, and the fault switch.
pub(super) struct Guard {
    recheck: Recheck,
    fault: Fault,
}

impl Guard {
    pub(super) fn new(recheck_interval_ms: u64) -> Self {
        Guard {
            recheck: Recheck::new(recheck_interval_ms),
            fault: Fault::default(),
        }
    }
}

impl Fault {
    /// Whether to refuse this request to close sockets (counting it).
    fn refuse_one(&mut self) -> bool {
        let refuse = self.refuse_revocations > 0;
        self.refuse_revocations = self.refuse_revocations.saturating_sub(1);
        refuse
    }
}

impl UserHub {
    /// Answers the revocation path's requests (closing a revoked credential's sockets, the
    /// development fault switch); `None` for any other request.
    pub(super) async fn revocation_request(&self, req: &Request) -> Result<Option<Response>> {
        if let Some(revoked) = req.headers().get(REVOKE_HEADER)? {
            let Ok(revoked) = serde_json::from_str::<Revoked>(&revoked) else {
                return http::refusal(ErrorCode::BadRequest, "bad revocation").map(Some);
            };
            self.wake(req.headers().get(USER_HEADER)?.as_deref())?;
            if self.revocation.borrow_mut().fault.refuse_one() {
                return http::refusal(
                    ErrorCode::TryAgain,
                    "development fault: this hub refuses revocations",
                )
                .map(Some);
            }
            let closed = self.close_tagged(&revoked)?;
            if matches!(revoked, Revoked::Anchor(_)) && !self.state.get_websockets().is_empty() {
                // The revoked anchor leaves the list the clients are shown.
                self.refresh_paired(RefreshCause::Changed).await;
            }
            return http::json(&serde_json::json!({ "closed": closed })).map(Some);
        }
        if let Some(fault) = req.headers().get(FAULT_HEADER)? {
            let Ok(fault) = serde_json::from_str::<Fault>(&fault) else {
                return http::refusal(ErrorCode::BadRequest, "bad fault").map(Some);
            };
            self.revocation.borrow_mut().fault = fault;
            self.store_faults.writes.set(fault.fail_writes);
            self.store_faults.log_reads.set(fault.fail_reads);
            if fault.empty_log {
                super::storage::empty_log(&self.state.storage().sql())?;
            }
            return http::json(&fault).map(Some);
        }
        Ok(None)
    }

    /// Closes every socket opened with a revoked credential, telling the router first so that
    /// presence and subscriptions are settled as for any disconnect; returns how many.
    fn close_tagged(&self, revoked: &Revoked) -> Result<usize> {
        self.wake(None)?;
        let sockets = self.state.get_websockets_with_tag(&revoked.tag());
        let reason = match revoked {
            Revoked::Session(_) => "session revoked",
            Revoked::Anchor(_) => "anchor revoked",
        };
        for ws in &sockets {
            if let Some(att) = Self::conn_of(ws) {
                if let Some(live) = self.live.borrow_mut().as_mut() {
                    live.sockets.remove(&att.c);
                }
                self.with_router(|router, _| router.disconnect(&att.c, now_ms()));
            }
            let _ = ws.close(Some(CLOSE_REVOKED), Some(reason));
        }
        Ok(sockets.len())
    }

    /// When a re-check is due, closes the open sockets whose session or anchor was revoked in
    /// the accounts database meanwhile (whether or not this hub was told); returns whether
    /// `conn`, whose frame is about to be routed, was one of them (its frame then goes nowhere).
    ///
    /// The read runs under `blockConcurrencyWhile`, like the paired-anchor read, so no frame
    /// overtakes the one being handled. A failed read is logged; the sockets stay until the
    /// next check.
    pub(super) async fn recheck_revocations(&self, conn: &ConnId) -> bool {
        if !self.revocation.borrow_mut().recheck.due(now_ms()) {
            return false;
        }
        let mut open = OpenCredentials::default();
        for ws in self.state.get_websockets() {
            if let Some(att) = Self::conn_of(&ws) {
                let anchor_id = match &att.p {
                    Peer::Anchor { anchor_id } => Some(anchor_id.as_str()),
                    Peer::Client => None,
                };
                open.add(&att.s, anchor_id);
            }
        }
        if open.is_empty() {
            return false;
        }
        let env = self.env.clone();
        let read = self.state.block_concurrency_while(async move {
            // Errors are returned as values: an `Err` here would reset the object.
            Ok(match env.d1("DB") {
                Ok(db) => db::revoked_among(&db, &open).await,
                Err(e) => Err(e),
            })
        });
        let revoked = match read.await {
            Ok(Ok(revoked)) => revoked,
            Ok(Err(e)) | Err(e) => {
                worker::console_error!("re-checking revoked sockets failed: {e}");
                return false;
            }
        };
        for credential in &revoked {
            if let Err(e) = self.close_tagged(credential) {
                worker::console_error!("closing revoked sockets failed: {e}");
            }
        }
        !self.is_open(conn)
    }

    /// Whether `conn` is among the hub's open sockets.
    fn is_open(&self, conn: &ConnId) -> bool {
        self.live
            .borrow()
            .as_ref()
            .is_some_and(|live| live.sockets.contains_key(conn))
    }
}

//! Development-only endpoints under `/__dev/`, on only when `ORBIT_DEV_API=1` (set by
//! `make dev` and the test suites, never in `wrangler.toml`). They create users, sessions and
//! anchors directly, so the relay can be exercised before and apart from the sign-in flows.

use worker::{Env, Headers, Method, Request, RequestInit, Response, Result};

use orbit_protocol::auth::Revocation;
use orbit_protocol::dev::{
    DevHubFaultRequest, DevRevokeRequest, DevSession, DevSessionRequest, DevStaleRequest,
};
use orbit_protocol::ErrorCode;
use orbit_shared::token::{issue, Claims};

use crate::config::Config;
use crate::db;
use crate::http::{self, now_ms, random_id};
use crate::hub::{self, Fault, Revoked, FAULT_HEADER, PROBE_HEADER};

/// `GET /__dev/hub?userId=…`: asks the user's hub whether it was evicted since its last event.
async fn probe_hub(req: &Request, env: &Env) -> Result<Response> {
    let url = req.url()?;
    let Some(user_id) = url
        .query_pairs()
        .find(|(k, _)| k == "userId")
        .map(|(_, v)| v.into_owned())
    else {
        return http::refusal(ErrorCode::BadRequest, "expected ?userId=");
    };
    let headers = Headers::new();
    headers.set(PROBE_HEADER, "1")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let inner = Request::new_with_init("https://hub.internal/probe", &init)?;
    env.durable_object("USER_HUB")?
        .id_from_name(&user_id)?
        .get_stub()?
        .fetch_with_request(inner)
        .await
}

/// `POST /__dev/hub-fault {userId, refuseRevocations?, failWrites?, failReads?, emptyLog?}`:
/// makes the user's hub refuse its next `refuseRevocations` requests to close a revoked
/// credential's sockets, so tests can see the retries, and a revocation hold when the hub
/// cannot be told; fail its next `failWrites` storage writes and `failReads` reads of logged
/// frames, and (`emptyLog`) lose every row of its replay log, so tests can see a storage
/// failure made visible. The switch lives in the hub's memory: a hub
/// that is evicted forgets it.
async fn hub_fault(body: DevHubFaultRequest, env: &Env) -> Result<Response> {
    let fault = Fault {
        refuse_revocations: body.refuse_revocations,
        fail_writes: body.fail_writes,
        fail_reads: body.fail_reads,
        empty_log: body.empty_log,
    };
    let headers = Headers::new();
    headers.set(FAULT_HEADER, &serde_json::to_string(&fault)?)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(headers);
    let inner = Request::new_with_init("https://hub.internal/fault", &init)?;
    env.durable_object("USER_HUB")?
        .id_from_name(&body.user_id)?
        .get_stub()?
        .fetch_with_request(inner)
        .await
}

/// The dev API's `worker::Error` for a hub that could not be told to close sockets.
fn unclosed(e: hub::CloseError) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

/// `POST /__dev/panic`: panics, so tests can prove that the Worker and its Durable Objects carry
/// on after a panic (worker/js/entry.js replaces the wasm instance and rebuilds the objects).
#[allow(
    clippy::panic,
    reason = "the deliberate panic is what this endpoint is for"
)]
fn deliberate_panic() -> ! {
    panic!("deliberate panic requested through /__dev/panic");
}

/// `GET /__dev/rows?address=…&before=…`: how many rows the tables strangers write to hold;
/// with `address`, also the security events of that client address
/// (`securityEventsOfAddress`); with `before` (ms), also the passkey challenges issued at or
/// before then (`passkeyChallengesBefore`).
async fn count_rows(req: &Request, env: &Env) -> Result<Response> {
    let url = req.url()?;
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let before = match param("before").map(|b| b.parse::<u64>()) {
        Some(Ok(ms)) => Some(ms),
        Some(Err(_)) => return http::refusal(ErrorCode::BadRequest, "before: ms since the epoch"),
        None => None,
    };
    let counts = db::row_counts(&env.d1("DB")?, param("address").as_deref(), before).await?;
    http::json(&counts)
}

pub async fn handle(mut req: Request, env: &Env, config: &Config) -> Result<Response> {
    if !config.dev_api {
        return http::refusal(ErrorCode::NotFound, "no such endpoint");
    }
    if req.path() == "/__dev/hub" {
        return probe_hub(&req, env).await;
    }
    if req.path() == "/__dev/rows" {
        return count_rows(&req, env).await;
    }
    if req.method() != Method::Post {
        return http::refusal(ErrorCode::MethodNotAllowed, "use POST");
    }
    if req.path() == "/__dev/panic" {
        deliberate_panic();
    }
    let db = env.d1("DB")?;
    let now = now_ms();
    match req.path().as_str() {
        "/__dev/session" => {
            let Ok(body) = req.json::<DevSessionRequest>().await else {
                return http::refusal(
                    ErrorCode::BadRequest,
                    "expected {userId?, anchorName?, anchorId?}",
                );
            };
            let user_id = match body.user_id {
                Some(id) => id,
                None => random_id(16)?,
            };
            db::insert_user(&db, &user_id, now).await?;
            let anchor_id = match (body.anchor_id, body.anchor_name) {
                (Some(id), _) => Some(id),
                (None, Some(name)) => {
                    let id = random_id(16)?;
                    db::insert_anchor(&db, &id, &user_id, &name, now).await?;
                    // As when a pairing is approved.
                    hub::announce_anchors_changed(env, &user_id).await;
                    Some(id)
                }
                (None, None) => None,
            };
            let session_id = random_id(16)?;
            db::insert_session(&db, &session_id, &user_id, anchor_id.as_deref(), now).await?;
            let lifetime = config.access_token_lifetime_s;
            let claims = match &anchor_id {
                Some(aid) => Claims::anchor(&user_id, &session_id, aid, now / 1000, lifetime),
                None => Claims::web(&user_id, &session_id, now / 1000, lifetime),
            };
            let token = issue(&claims, &config.jwt_secret)
                .map_err(|e| worker::Error::RustError(e.to_string()))?;
            http::json(&DevSession {
                user_id,
                session_id,
                anchor_id,
                access_token: token,
            })
        }
        "/__dev/revoke" => {
            let Ok(body) = req.json::<DevRevokeRequest>().await else {
                return http::refusal(ErrorCode::BadRequest, "expected {sessionId?, anchorId?}");
            };
            let mut closed = 0;
            if let Some(sid) = &body.session_id {
                if let Some(user) = db::revoke_session(&db, sid, now).await? {
                    closed += hub::close_revoked(env, &user, Revoked::Session(sid.clone()))
                        .await
                        .map_err(unclosed)?;
                }
            }
            if let Some(aid) = &body.anchor_id {
                if let Some(user) = db::revoke_anchor(&db, aid, now).await? {
                    closed += hub::close_revoked(env, &user, Revoked::Anchor(aid.clone()))
                        .await
                        .map_err(unclosed)?;
                }
            }
            http::json(&Revocation::new(Some(closed)))
        }
        "/__dev/stale" => {
            let Ok(body) = req.json::<DevStaleRequest>().await else {
                return http::refusal(ErrorCode::BadRequest, "expected {sessionId}");
            };
            db::forget_verification(&db, &body.session_id).await?;
            http::json(&serde_json::json!({ "stale": true }))
        }
        "/__dev/hub-fault" => {
            let Ok(body) = req.json::<DevHubFaultRequest>().await else {
                return http::refusal(
                    ErrorCode::BadRequest,
                    "expected {userId, refuseRevocations}",
                );
            };
            hub_fault(body, env).await
        }
        _ => http::refusal(ErrorCode::NotFound, "no such endpoint"),
    }
}

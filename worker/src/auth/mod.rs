//! `/auth/*`: accounts, sign-in, sessions and anchor pairing (SPEC §2; docs/auth.md).
//!
//! Every decision about credentials is made by `orbit_shared::auth` (TOTP, sealing, refresh
//! rotation, device codes, rate limits), `orbit_shared::webauthn` and `orbit_shared::token`;
//! every body on the wire is an `orbit_protocol::auth` type. This module stores the state in D1,
//! reads the clock and draws random bytes, in three layers whose arrows only point down:
//!
//! * [`routes`] — the HTTP handlers, one module per group of endpoints;
//! * [`service`] — what several handlers share: the caller, rate limits, security events,
//!   sessions and refresh, the sign-up rule, housekeeping;
//! * [`store`] — the D1 queries, with typed errors and no HTTP in them;
//!
//! beside [`ctx`] (the request's context) and [`error`] (refusals and faults), which the upper
//! two layers use and which know only [`store`].

pub mod ctx;
pub mod edge;
pub mod error;
pub mod routes;
pub mod service;
pub mod store;

use worker::js_sys::Reflect;
use worker::wasm_bindgen::JsValue;
use worker::{Context, Env, Request, Response, Result};

use orbit_protocol::ErrorCode;
use orbit_shared::auth::client_address::AddressSource;
use orbit_shared::auth::names::clip;

use crate::config::Config;
use crate::http::now_ms;
use ctx::Ctx;
use error::ApiError;
use store::Store;

/// Handles a request under `/auth/`.
pub async fn handle(
    req: Request,
    env: &Env,
    context: &Context,
    config: &Config,
) -> Result<Response> {
    if config.jwt_secret.is_empty() {
        return ApiError::new(
            ErrorCode::ServerMisconfigured,
            "ORBIT_JWT_SECRET is not set",
        )
        .response();
    }
    let headers = req.headers();
    let address = client_address(&req, &config.client_address)?;
    let url = req.url()?;
    let origin = edge::request_origin(&req, &address, config.trust_request_cf);
    let now_ms = now_ms();
    let ctx = Ctx {
        env,
        context,
        config,
        store: Store::new(env.d1("DB")?, now_ms),
        now_ms,
        address,
        request_origin: origin,
        user_agent: headers.get("User-Agent")?.map(|ua| clip(&ua, 160)),
        authorization: headers.get("Authorization")?,
        origin: url.origin().ascii_serialization(),
    };
    let answer = match routes::route(req, &ctx).await {
        Ok(response) => Ok(response),
        Err(failure) => failure.response(),
    };
    service::housekeeping::maybe_sweep(&ctx);
    answer
}

/// The rate-limit id of the request's client, from the configured source only.
fn client_address(req: &Request, source: &AddressSource) -> Result<String> {
    let header = match source.header() {
        Some(name) => req.headers().get(name)?,
        None => None,
    };
    let peer = match source {
        AddressSource::Peer => peer_address(req),
        _ => None,
    };
    Ok(source.client_id(header.as_deref(), peer.as_deref()))
}

/// workerd's `request.cf.clientIp` (`ip:port` of the TCP peer), present when workerd itself
/// received the connection and nothing in front of it supplied a `cf` object. `wrangler dev`
/// replaces `cf` with its own, so there it is absent (and the shared bucket is used).
fn peer_address(req: &Request) -> Option<String> {
    let cf = Reflect::get(req.inner(), &JsValue::from_str("cf")).ok()?;
    if !cf.is_object() {
        return None;
    }
    Reflect::get(&cf, &JsValue::from_str("clientIp"))
        .ok()?
        .as_string()
}

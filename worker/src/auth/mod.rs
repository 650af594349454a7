//! `/auth/*`: accounts, sign-in, sessions and anchor pairing (SPEC §2; docs/auth.md).
//!
//! Every decision is made by `orbit_shared::auth` (TOTP, sealing, refresh rotation, device
//! codes, rate limits) and `orbit_shared::token`; these modules store its state in D1, read the
//! clock and draw random bytes. One module per concern:
//!
//! * [`accounts`] — account names, who may create an account (bootstrap, open registration,
//!   invites), `POST /auth/invites`, and the sign-in methods an account has.
//! * [`session`] — bearer authentication of HTTP calls, creating sessions with their first
//!   refresh token, refresh rotation with reuse detection, logout, the session list.
//! * [`totp`] — TOTP enrolment (new accounts and signed-in users), sign-in, disabling.
//! * [`passkey`] — passkey registration (new accounts and signed-in users), discoverable
//!   sign-in, and the signed-in user's passkey list and removal.
//! * [`device`] — the device-code flow that pairs anchors, and anchor refresh.
//! * [`anchors`] — the signed-in user's anchors: list, rename, revoke.
//! * [`rate_limit`] — the shared policy enforced with state in D1.
//! * [`events`] — security events, logged and kept in D1, never with a secret in them.
//! * [`housekeeping`] — occasional deletion of expired rows.
//!
//! Passkeys are one more module beside [`totp`]: [`passkey`] completes a sign-in with
//! [`session::NewSession`], creates accounts with [`accounts::NewAccount`], limits with
//! [`rate_limit::enforce`] (`Action::PasskeySignIn`), counts itself in [`accounts::WaysIn`] and
//! records [`events`].

pub mod accounts;
pub mod anchors;
pub mod device;
pub mod error;
pub mod events;
pub mod housekeeping;
pub mod passkey;
pub mod rate_limit;
pub mod session;
pub mod totp;

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use wasm_bindgen::JsValue;

use worker::{Context, D1Database, Env, Headers, Method, Request, Response, Result};

use orbit_shared::auth::rate_limit::address_id;

use crate::config::Config;
use crate::http::now_ms;
use error::{ApiError, AuthResult};

/// Largest request body accepted, in bytes. Every auth request is a few short fields.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// What every handler needs: bindings, configuration, the clock reading and the caller.
pub struct Ctx<'a> {
    pub env: &'a Env,
    /// The request's execution context, for work that may finish after the answer.
    context: &'a Context,
    pub config: &'a Config,
    pub db: D1Database,
    /// Read once per request, so one request sees one instant.
    pub now_ms: u64,
    /// The client address as a rate-limit id ([`address_id`] of `CF-Connecting-IP`).
    pub address: String,
    /// The request's `User-Agent`, cut, to label sessions.
    pub user_agent: Option<String>,
    /// `Authorization` header value, if any.
    authorization: Option<String>,
    /// `scheme://host` of the request, for URLs in answers when `ORBIT_PUBLIC_URL` is unset.
    origin: String,
}

impl Ctx<'_> {
    /// The instant of this request in seconds since the epoch.
    pub fn now_s(&self) -> u64 {
        self.now_ms / 1000
    }

    /// Runs `work` after the answer is sent (it is given its own handle on the environment). For
    /// bookkeeping whose failure must not fail the request: security events, housekeeping.
    pub fn background<F, Fut>(&self, work: F)
    where
        F: FnOnce(Env) -> Fut,
        Fut: Future<Output = ()> + 'static,
    {
        self.context.wait_until(work(self.env.clone()));
    }

    /// The deployment's public base URL, without a trailing slash.
    pub fn public_url(&self) -> String {
        self.config
            .public_url
            .clone()
            .unwrap_or_else(|| self.origin.clone())
    }
}

/// Handles a request under `/auth/`.
pub async fn handle(
    req: Request,
    env: &Env,
    context: &Context,
    config: &Config,
) -> Result<Response> {
    if config.jwt_secret.is_empty() {
        return ApiError::new(500, "server_misconfigured", "ORBIT_JWT_SECRET is not set")
            .response();
    }
    let headers = req.headers();
    let address = headers
        .get("CF-Connecting-IP")?
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    let url = req.url()?;
    let ctx = Ctx {
        env,
        context,
        config,
        db: env.d1("DB")?,
        now_ms: now_ms(),
        address: address_id(&address),
        user_agent: headers.get("User-Agent")?.map(|ua| clip(&ua, 160)),
        authorization: headers.get("Authorization")?,
        origin: url.origin().ascii_serialization(),
    };
    let answer = match route(req, &ctx).await {
        Ok(response) => Ok(response),
        Err(failure) => failure.response(),
    };
    housekeeping::maybe_sweep(&ctx);
    answer
}

async fn route(mut req: Request, ctx: &Ctx<'_>) -> AuthResult<Response> {
    let path = req.path();
    let segments: Vec<&str> = path
        .trim_start_matches("/auth/")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let method = req.method();
    match (method.clone(), segments.as_slice()) {
        (Method::Get, ["session"]) => session::whoami(ctx).await,
        (Method::Post, ["refresh"]) => session::refresh_web(ctx, body(&mut req).await?).await,
        (Method::Post, ["logout"]) => session::logout(ctx).await,
        (Method::Get, ["sessions"]) => session::list(ctx).await,
        (Method::Delete, ["sessions", id]) => session::revoke(ctx, id).await,

        (Method::Post, ["totp", "enroll", "start"]) => {
            totp::enroll_start(ctx, body(&mut req).await?).await
        }
        (Method::Post, ["totp", "enroll", "verify"]) => {
            totp::enroll_verify(ctx, body(&mut req).await?).await
        }
        (Method::Post, ["totp", "login"]) => totp::login(ctx, body(&mut req).await?).await,
        (Method::Post, ["totp", "disable"]) => totp::disable(ctx, body(&mut req).await?).await,

        (Method::Post, ["passkey", "register", "options"]) => {
            passkey::register_options(ctx, body(&mut req).await?).await
        }
        (Method::Post, ["passkey", "register", "verify"]) => {
            passkey::register_verify(ctx, body(&mut req).await?).await
        }
        (Method::Post, ["passkey", "login", "options"]) => passkey::login_options(ctx).await,
        (Method::Post, ["passkey", "login", "verify"]) => {
            passkey::login_verify(ctx, body(&mut req).await?).await
        }
        (Method::Get, ["passkeys"]) => passkey::list(ctx).await,
        (Method::Delete, ["passkeys", id]) => passkey::remove(ctx, id).await,

        (Method::Post, ["invites"]) => accounts::create_invite(ctx).await,
        (Method::Get, ["security-events"]) => events::list(ctx).await,

        (Method::Post, ["device", "code"]) => device::code(ctx, body(&mut req).await?).await,
        (Method::Post, ["device", "lookup"]) => device::lookup(ctx, body(&mut req).await?).await,
        (Method::Post, ["device", "authorise" | "authorize"]) => {
            device::authorise(ctx, body(&mut req).await?).await
        }
        (Method::Post, ["device", "token"]) => device::token(ctx, body(&mut req).await?).await,
        (Method::Post, ["device", "refresh"]) => device::refresh(ctx, body(&mut req).await?).await,

        (Method::Get, ["anchors"]) => anchors::list(ctx).await,
        (Method::Patch, ["anchors", id]) => anchors::rename(ctx, id, body(&mut req).await?).await,
        (Method::Delete, ["anchors", id]) => anchors::revoke(ctx, id).await,

        (_, segments) if known_path(segments) => Err(ApiError::new(
            405,
            "method_not_allowed",
            &format!("{method:?} is not allowed here"),
        )
        .into()),
        _ => Err(ApiError::not_found("not_found", "no such endpoint").into()),
    }
}

fn known_path(segments: &[&str]) -> bool {
    matches!(
        segments,
        ["session"
            | "refresh"
            | "logout"
            | "sessions"
            | "invites"
            | "anchors"
            | "security-events"
            | "passkeys"]
            | ["sessions" | "anchors" | "passkeys", _]
            | ["passkey", "register" | "login", "options" | "verify"]
            | ["totp", "enroll", "start" | "verify"]
            | ["totp", "login" | "disable"]
            | [
                "device",
                "code" | "lookup" | "authorise" | "authorize" | "token" | "refresh"
            ]
    )
}

/// Reads a JSON body (an empty body reads as `{}`), refusing large or malformed ones with 400.
pub async fn body<T: DeserializeOwned>(req: &mut Request) -> AuthResult<T> {
    let text = req.text().await?;
    if text.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(413, "body_too_large", "the request body is too large").into());
    }
    let text = if text.trim().is_empty() { "{}" } else { &text };
    serde_json::from_str(text).map_err(|e| {
        // serde's message names the field and the problem; it goes back to the caller only.
        ApiError::bad_request(&format!("bad request body: {e}")).into()
    })
}

/// A JSON success answer that no cache may keep (it often holds tokens).
pub fn json<T: Serialize>(status: u16, value: &T) -> AuthResult<Response> {
    let headers = Headers::new();
    headers.set("Content-Type", "application/json")?;
    headers.set("Cache-Control", "no-store")?;
    Ok(Response::ok(serde_json::to_string(value)?)?
        .with_status(status)
        .with_headers(headers))
}

/// A D1 text argument.
pub fn text(s: &str) -> JsValue {
    JsValue::from_str(s)
}

/// A D1 integer argument (ms and s timestamps stay far below 2^53).
pub fn int(n: u64) -> JsValue {
    JsValue::from_f64(n as f64)
}

/// A nullable D1 text argument.
pub fn opt_text(s: Option<&str>) -> JsValue {
    s.map_or(JsValue::NULL, JsValue::from_str)
}

pub use orbit_shared::auth::names::clip;

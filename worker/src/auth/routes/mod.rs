//! The HTTP handlers of `/auth/*` (SPEC §2; the endpoint tables are in docs/auth.md): each reads
//! its body as an `orbit_protocol::auth` request type, decides with `orbit_shared` and
//! [`super::service`], stores with [`super::store`], and answers an `orbit_protocol::auth` body
//! or a refusal. One module per group of endpoints:
//!
//! * [`session`] — `refresh`, `logout`, `session`, `sessions`.
//! * [`accounts`] — `invites`, `security-events`.
//! * [`totp`] — `totp/enroll/start|verify`, `totp/login`, `totp/disable`, `step-up/totp`.
//! * [`passkey`] — `passkey/register|login/options|verify`, `passkeys`,
//!   `step-up/passkey/options|verify`.
//! * [`device`] — the device-code flow that pairs anchors, and anchor refresh.
//! * [`anchors`] — the signed-in user's anchors: list, rename, revoke.
//!
//! Handlers do not call one another; what two of them share lives in [`super::service`].

pub mod accounts;
pub mod anchors;
pub mod device;
pub mod passkey;
pub mod session;
pub mod totp;

use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Headers, Method, Request, Response};

use orbit_protocol::ErrorCode;

use super::ctx::Ctx;
use super::error::{ApiError, AuthResult};

/// Largest request body accepted, in bytes. Every auth request is a few short fields (a passkey
/// answer, the largest, is a few KB).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Answers a request under `/auth/`.
pub async fn route(mut req: Request, ctx: &Ctx<'_>) -> AuthResult<Response> {
    let path = req.path();
    let segments: Vec<&str> = path
        .trim_start_matches("/auth/")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let method = req.method();
    match (method.clone(), segments.as_slice()) {
        (Method::Get, ["session"]) => session::whoami(ctx).await,
        (Method::Post, ["refresh"]) => session::refresh(ctx, body(&mut req).await?).await,
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
            passkey::register::options(ctx, body(&mut req).await?).await
        }
        (Method::Post, ["passkey", "register", "verify"]) => {
            passkey::register::verify(ctx, body(&mut req).await?).await
        }
        (Method::Post, ["passkey", "login", "options"]) => passkey::login::options(ctx).await,
        (Method::Post, ["passkey", "login", "verify"]) => {
            passkey::login::verify(ctx, body(&mut req).await?).await
        }
        (Method::Get, ["passkeys"]) => passkey::manage::list(ctx).await,
        (Method::Delete, ["passkeys", id]) => passkey::manage::remove(ctx, id).await,

        (Method::Post, ["step-up", "totp"]) => totp::step_up(ctx, body(&mut req).await?).await,
        (Method::Post, ["step-up", "passkey", "options"]) => passkey::step_up::options(ctx).await,
        (Method::Post, ["step-up", "passkey", "verify"]) => {
            passkey::step_up::verify(ctx, body(&mut req).await?).await
        }

        (Method::Post, ["invites"]) => accounts::create_invite(ctx).await,
        (Method::Get, ["security-events"]) => accounts::security_events(ctx).await,

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
            ErrorCode::MethodNotAllowed,
            format!("{method:?} is not allowed here"),
        )
        .into()),
        _ => Err(ApiError::new(ErrorCode::NotFound, "no such endpoint").into()),
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
            | ["step-up", "totp"]
            | ["step-up", "passkey", "options" | "verify"]
            | [
                "device",
                "code" | "lookup" | "authorise" | "authorize" | "token" | "refresh"
            ]
    )
}

/// Reads a JSON body (an empty body reads as `{}`), refusing large or malformed ones. A body
/// whose `Content-Length` is over the limit is refused unread, and reading stops as soon as
/// what arrived is over it, so an unauthenticated caller cannot make the Worker hold more.
async fn body<T: DeserializeOwned>(req: &mut Request) -> AuthResult<T> {
    if declared_too_large(req.headers().get("Content-Length")?.as_deref()) {
        // None of it will be read. Cancelling says so to the runtime, which could otherwise
        // hold the answer until the whole body arrived (`wrangler dev` drains unread bodies).
        if let Some(unread) = req.inner().body() {
            let _ = JsFuture::from(unread.cancel()).await;
        }
        return Err(too_large().into());
    }
    let mut bytes = Vec::new();
    if req.inner().body().is_some() {
        let mut chunks = req.stream()?;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk?;
            if bytes.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(too_large().into());
            }
            bytes.extend_from_slice(&chunk);
        }
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| ApiError::bad_request("bad request body: not UTF-8"))?;
    parse_body(&text)
}

/// The length a `Content-Length` announces; a missing or unreadable one announces nothing (the
/// runtime frames the body then, and every read of it is bounded anyway).
pub fn declared_length(content_length: Option<&str>) -> Option<u64> {
    content_length.and_then(|v| v.trim().parse::<u64>().ok())
}

/// Whether a `Content-Length` announces more than [`MAX_BODY_BYTES`].
fn declared_too_large(content_length: Option<&str>) -> bool {
    declared_length(content_length).is_some_and(|n| n > MAX_BODY_BYTES as u64)
}

fn too_large() -> ApiError {
    ApiError::new(ErrorCode::BodyTooLarge, "the request body is too large")
}

/// [`body`]'s decision: 413 `body_too_large`, 400 `bad_request` with serde's reason (it names
/// the field and the problem, and goes back to the caller only).
fn parse_body<T: DeserializeOwned>(text: &str) -> AuthResult<T> {
    if text.len() > MAX_BODY_BYTES {
        return Err(too_large().into());
    }
    let text = if text.trim().is_empty() { "{}" } else { text };
    serde_json::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("bad request body: {e}")).into())
}

/// A JSON success answer that no cache may keep (it often holds tokens).
fn answer<T: Serialize>(status: u16, value: &T) -> AuthResult<Response> {
    let headers = Headers::new();
    headers.set("Content-Type", "application/json")?;
    headers.set("Cache-Control", "no-store")?;
    Ok(Response::ok(serde_json::to_string(value)?)?
        .with_status(status)
        .with_headers(headers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::error::Failure;
    use orbit_protocol::auth::{PasskeyLoginVerifyRequest, TotpLoginRequest};

    fn refusal<T: std::fmt::Debug>(r: AuthResult<T>) -> Option<ErrorCode> {
        match r {
            Err(Failure::Refused(e)) => Some(e.code),
            _ => None,
        }
    }

    #[test]
    fn bodies_are_read_as_their_wire_types() {
        let empty: TotpLoginRequest = parse_body("  ").unwrap();
        assert_eq!(empty, TotpLoginRequest::default());
        assert_eq!(
            refusal(parse_body::<PasskeyLoginVerifyRequest>("{}")),
            Some(ErrorCode::BadRequest)
        );
        assert_eq!(
            refusal(parse_body::<TotpLoginRequest>("[1]")),
            Some(ErrorCode::BadRequest)
        );
        let big = format!("{{\"name\":\"{}\"}}", "a".repeat(MAX_BODY_BYTES));
        assert_eq!(
            refusal(parse_body::<TotpLoginRequest>(&big)),
            Some(ErrorCode::BodyTooLarge)
        );
    }

    #[test]
    fn a_content_length_over_the_limit_is_refused_before_reading() {
        let limit = MAX_BODY_BYTES.to_string();
        let over = (MAX_BODY_BYTES + 1).to_string();
        assert!(declared_too_large(Some(&over)));
        assert!(declared_too_large(Some("18446744073709551615")));
        assert!(!declared_too_large(Some(&limit)));
        assert!(!declared_too_large(Some("0")));
        // Not a length: the runtime frames the body, and the read itself is bounded.
        assert!(!declared_too_large(None));
        assert!(!declared_too_large(Some("lots")));
    }

    #[test]
    fn every_routed_path_is_known() {
        for path in [
            &["session"][..],
            &["sessions", "x"],
            &["passkey", "login", "verify"],
            &["device", "authorize"],
            &["totp", "disable"],
            &["step-up", "totp"],
            &["step-up", "passkey", "verify"],
        ] {
            assert!(known_path(path), "{path:?}");
        }
        assert!(!known_path(&["nope"]));
        assert!(!known_path(&["passkey", "login"]));
    }
}

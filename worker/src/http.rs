//! JSON answers with Orbit's error shape (`{"error": {"code", "message"}}`,
//! [`ApiErrorBody`]), the clock and random ids.

use futures_util::StreamExt;
use orbit_protocol::auth::ApiErrorBody;
use orbit_protocol::ErrorCode;
use serde::Serialize;
use worker::{Request, Response, Result};

use crate::auth::routes::{declared_length, MAX_BODY_BYTES};

/// The status to answer `code` with. Codes without a fixed status are only ever sent with an
/// explicit one (the passkey ceremonies) or over a socket, so reaching this with one is a bug
/// of ours: hence 500.
pub fn status_of(code: ErrorCode) -> u16 {
    code.http_status().unwrap_or(500)
}

/// A JSON refusal with the code's own status.
pub fn refusal(code: ErrorCode, message: &str) -> Result<Response> {
    refusal_with_status(status_of(code), code, message)
}

/// A JSON refusal with an explicit status.
pub fn refusal_with_status(status: u16, code: ErrorCode, message: &str) -> Result<Response> {
    Ok(Response::from_json(&ApiErrorBody::new(code, message))?.with_status(status))
}

/// A JSON answer with status 200.
pub fn json<T: Serialize>(value: &T) -> Result<Response> {
    Response::from_json(value)
}

/// Milliseconds since the Unix epoch, from the JavaScript clock (there is no other in workerd).
pub fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

/// A random id of `bytes` random bytes, hex encoded.
pub fn random_id(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| worker::Error::RustError(e.to_string()))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// `N` bytes from the platform CSPRNG (`crypto.getRandomValues` inside workerd).
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| worker::Error::RustError(e.to_string()))?;
    Ok(buf)
}

/// Reads and drops whatever a handler left unread of a small request body.
///
/// workerd can reuse a connection only once its request has been read to the end: when a
/// handler answers without touching the body (a refusal that comes before the body matters,
/// such as a missing token), workerd resets the connection, and the client's next request on
/// it fails without reaching the Worker. Cloudflare's edge and `wrangler dev`'s proxy hide
/// this; self-hosted workerd does not. Only a body whose `Content-Length` is within
/// [`MAX_BODY_BYTES`] is drained: a larger or unannounced one stays unread, and its
/// connection closes rather than the Worker reading what it will not use.
pub async fn drain_unread_body(raw: worker::web_sys::Request) {
    if raw.body_used() || raw.body().is_none() {
        return;
    }
    let declared = declared_length(
        raw.headers()
            .get("Content-Length")
            .ok()
            .flatten()
            .as_deref(),
    );
    if declared.is_none_or(|n| n > MAX_BODY_BYTES as u64) {
        return;
    }
    let Ok(mut chunks) = Request::from(raw).stream() else {
        return;
    };
    let mut read = 0usize;
    while let Some(Ok(chunk)) = chunks.next().await {
        read += chunk.len();
        // The runtime holds a body to its declared length; this only guards that promise.
        if read > MAX_BODY_BYTES {
            return;
        }
    }
}

//! JSON answers with Orbit's error shape: `{"error": {"code", "message"}}`.

use serde::Serialize;
use worker::{Response, Result};

/// A JSON error answer with `status`.
pub fn error(status: u16, code: &str, message: &str) -> Result<Response> {
    let body = serde_json::json!({"error": {"code": code, "message": message}});
    Ok(Response::from_json(&body)?.with_status(status))
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

//! How the anchor holds its connection to Orbit, as plain decisions: where the socket is, when
//! the access token is refreshed, and which endings are final.

use orbit_protocol::close::{CLOSE_REPLACED, CLOSE_REVOKED};
use orbit_protocol::ErrorCode;

/// `http(s)://host[/prefix]` → `ws(s)://host[/prefix]/ws/anchor`.
///
/// ```
/// use orbit_anchor::connection::anchor_socket_url;
/// assert_eq!(anchor_socket_url("https://orbit.example/").unwrap(), "wss://orbit.example/ws/anchor");
/// assert_eq!(anchor_socket_url("http://127.0.0.1:8787").unwrap(), "ws://127.0.0.1:8787/ws/anchor");
/// assert!(anchor_socket_url("ftp://x").is_err());
/// ```
pub fn anchor_socket_url(orbit: &str) -> Result<String, String> {
    let base = orbit.trim_end_matches('/');
    let rest = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if base.starts_with("wss://") || base.starts_with("ws://") {
        base.to_string()
    } else {
        return Err(format!(
            "the Orbit URL {orbit:?} must start with https:// (or http:// for a local Orbit)"
        ));
    };
    Ok(format!("{rest}/ws/anchor"))
}

/// When to refresh an access token expiring at `expires_at_ms`, seen at `now_ms`: a quarter of
/// its remaining life early, at least 1 s and at most a minute.
///
/// ```
/// use orbit_anchor::connection::refresh_due_ms;
/// // 15 minutes left: refresh one minute before expiry.
/// assert_eq!(refresh_due_ms(0, 900_000), 840_000);
/// // 8 seconds left: refresh with a quarter of it (2 s) to spare.
/// assert_eq!(refresh_due_ms(0, 8_000), 6_000);
/// // Already expired: now.
/// assert!(refresh_due_ms(10_000, 5_000) <= 10_000);
/// ```
pub fn refresh_due_ms(now_ms: i64, expires_at_ms: i64) -> i64 {
    let left = expires_at_ms.saturating_sub(now_ms);
    let early = (left / 4).clamp(1_000, 60_000);
    expires_at_ms.saturating_sub(early)
}

/// Why a close from Orbit ends the anchor instead of a reconnection, or `None` when it should
/// reconnect. Reconnecting after these would not help: a revoked anchor is refused again, and
/// two processes with one anchor's credentials would take the connection from each other
/// forever.
///
/// ```
/// use orbit_anchor::connection::final_close;
/// assert!(final_close(4003, "anchor revoked").unwrap().contains("anchor login"));
/// assert!(final_close(4001, "").unwrap().contains("same credentials"));
/// assert_eq!(final_close(1001, "going away"), None);
/// ```
pub fn final_close(code: u16, reason: &str) -> Option<String> {
    match code {
        CLOSE_REVOKED => Some(format!(
            "Orbit closed the connection: {} (this anchor was revoked; run `anchor login` to pair it again)",
            if reason.is_empty() { "revoked" } else { reason }
        )),
        CLOSE_REPLACED => Some(
            "Orbit closed the connection: another anchor process using the same credentials \
             connected (only one may be connected at a time)"
                .to_string(),
        ),
        _ => None,
    }
}

/// Why a refused upgrade (HTTP 401 with this error code) ends the anchor, or `None` when a
/// token refresh may cure it.
///
/// ```
/// use orbit_anchor::connection::final_refusal;
/// use orbit_protocol::ErrorCode;
/// assert!(final_refusal(ErrorCode::AnchorRevoked).is_some());
/// assert_eq!(final_refusal(ErrorCode::TokenExpired), None);
/// ```
pub fn final_refusal(code: ErrorCode) -> Option<String> {
    matches!(code, ErrorCode::AnchorRevoked | ErrorCode::SessionRevoked).then(|| {
        format!(
            "Orbit refused the connection: this anchor was revoked ({code}); run `anchor login` to pair it again"
        )
    })
}

//! The decisions taken before a WebSocket upgrade reaches a user's Durable Object: where the
//! access token is, whether the `Origin` is allowed, and which HTTP answer each refusal gets.
//!
//! Browsers cannot set an `Authorization` header on a WebSocket, so a web client may offer
//! its token as a subprotocol: `Sec-WebSocket-Protocol: orbit.v1, orbit.bearer.<token>`.
//! Orbit then answers with the `orbit.v1` subprotocol, never echoing the token.
//!
//! ```
//! use orbit_shared::gate::{find_token, TokenSource};
//! let found = find_token(None, None, Some("orbit.v1, orbit.bearer.abc.def.ghi"));
//! assert_eq!(found, Some(("abc.def.ghi".to_string(), TokenSource::Subprotocol)));
//! ```

use orbit_protocol::ErrorCode;

use crate::token::TokenError;

/// The subprotocol Orbit selects when a browser offers its token as a subprotocol.
pub const SUBPROTOCOL: &str = "orbit.v1";
/// Prefix of the subprotocol value that carries a token.
pub const BEARER_SUBPROTOCOL_PREFIX: &str = "orbit.bearer.";

/// Where an access token was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    Query,
    AuthorizationHeader,
    Subprotocol,
}

/// Finds the access token of an upgrade request. The `Authorization` header wins, then the
/// subprotocol, then the `token` query parameter.
pub fn find_token(
    query: Option<&str>,
    authorization: Option<&str>,
    protocols: Option<&str>,
) -> Option<(String, TokenSource)> {
    if let Some(value) = authorization {
        let mut parts = value.trim().splitn(2, ' ');
        if let (Some(scheme), Some(token)) = (parts.next(), parts.next()) {
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() {
                return Some((token.trim().to_string(), TokenSource::AuthorizationHeader));
            }
        }
    }
    if let Some(protocols) = protocols {
        for protocol in protocols.split(',').map(str::trim) {
            if let Some(token) = protocol.strip_prefix(BEARER_SUBPROTOCOL_PREFIX) {
                if !token.is_empty() {
                    return Some((token.to_string(), TokenSource::Subprotocol));
                }
            }
        }
    }
    let query = query?;
    for pair in query.split('&') {
        if let Some(token) = pair.strip_prefix("token=") {
            if !token.is_empty() {
                return Some((percent_decode(token), TokenSource::Query));
            }
        }
    }
    None
}

/// Whether the upgrade offered the `orbit.v1` subprotocol, which the answer must then select.
pub fn offers_subprotocol(protocols: Option<&str>) -> bool {
    protocols.is_some_and(|p| p.split(',').map(str::trim).any(|p| p == SUBPROTOCOL))
}

/// Minimal percent-decoding for a query value (JWTs only use URL-safe characters, but a client
/// may still encode them).
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1..i + 3)) {
            (b'%', Some(hex)) => match std::str::from_utf8(hex)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 3;
                }
                None => {
                    out.push(b'%');
                    i += 1;
                }
            },
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses the configured comma-separated list of allowed origins.
pub fn parse_origins(config: &str) -> Vec<String> {
    config
        .split(',')
        .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
        .filter(|o| !o.is_empty())
        .collect()
}

/// Whether an upgrade with this `Origin` may proceed. Requests without an `Origin` come from
/// non-browser programs (the anchor, tests), which a browser cannot pretend to be; a browser
/// always sends one, and it must be on the list.
pub fn origin_allowed(origin: Option<&str>, allowed: &[String]) -> bool {
    match origin {
        None => true,
        Some(origin) => {
            let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
            allowed.contains(&origin)
        }
    }
}

/// Why an upgrade was refused, with its HTTP status and JSON error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateError {
    #[error("this endpoint only accepts WebSocket upgrades")]
    NotAnUpgrade,
    #[error("no access token was presented")]
    MissingToken,
    #[error("{0}")]
    Token(#[from] TokenError),
    #[error("the session was revoked or does not exist")]
    SessionRevoked,
    #[error("the anchor was revoked or does not exist")]
    AnchorRevoked,
    #[error("this origin may not open Orbit sockets")]
    OriginNotAllowed,
}

impl GateError {
    /// The wire code. Its HTTP status ([`ErrorCode::http_status`]) is 426 for a request that is
    /// not an upgrade, 403 for a foreign origin, 500 for a missing signing key and 401 for every
    /// credential problem.
    pub fn code(&self) -> ErrorCode {
        match self {
            GateError::NotAnUpgrade => ErrorCode::UpgradeRequired,
            GateError::MissingToken => ErrorCode::TokenMissing,
            GateError::Token(e) => e.code(),
            GateError::SessionRevoked => ErrorCode::SessionRevoked,
            GateError::AnchorRevoked => ErrorCode::AnchorRevoked,
            GateError::OriginNotAllowed => ErrorCode::OriginNotAllowed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_beats_subprotocol_beats_query() {
        assert_eq!(
            find_token(Some("token=q"), Some("Bearer h"), Some("orbit.bearer.p")),
            Some(("h".into(), TokenSource::AuthorizationHeader))
        );
        assert_eq!(
            find_token(Some("token=q"), None, Some("orbit.v1, orbit.bearer.p")),
            Some(("p".into(), TokenSource::Subprotocol))
        );
        assert_eq!(
            find_token(Some("a=1&token=q%2Ex"), Some("Basic zzz"), None),
            Some(("q.x".into(), TokenSource::Query))
        );
        assert_eq!(
            find_token(Some("token="), Some("Bearer "), Some("orbit.v1")),
            None
        );
    }

    #[test]
    fn foreign_origin_is_refused_and_listed_one_allowed() {
        let allowed = parse_origins("https://orbit.example, http://localhost:8787/");
        assert!(origin_allowed(Some("https://orbit.example"), &allowed));
        assert!(origin_allowed(Some("HTTP://LOCALHOST:8787"), &allowed));
        assert!(!origin_allowed(Some("https://evil.example"), &allowed));
        assert!(!origin_allowed(Some("null"), &allowed));
        assert!(origin_allowed(None, &allowed));
    }

    #[test]
    fn refusals_map_to_the_specified_statuses() {
        let status = |e: GateError| e.code().http_status();
        assert_eq!(status(GateError::NotAnUpgrade), Some(426));
        assert_eq!(status(GateError::OriginNotAllowed), Some(403));
        assert_eq!(status(GateError::MissingToken), Some(401));
        assert_eq!(status(GateError::Token(TokenError::Expired)), Some(401));
        assert_eq!(status(GateError::Token(TokenError::EmptyKey)), Some(500));
        assert_eq!(
            GateError::Token(TokenError::Expired).code().as_str(),
            "token_expired"
        );
        assert_eq!(status(GateError::SessionRevoked), Some(401));
        assert_eq!(status(GateError::AnchorRevoked), Some(401));
    }
}

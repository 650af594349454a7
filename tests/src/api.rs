//! A client of Orbit's HTTP API for black-box tests (the auth and passkey suites).
//!
//! * [`Client`] sends JSON requests from an address of its own: each client sets a random
//!   `CF-Connecting-IP` (local workerd keeps it when the client sets it), so per-address rate
//!   limits never couple tests. It may also send an `Origin` header, as browsers do.
//! * [`Answer`] is the status, JSON body and `Retry-After` of an answer, with checks for a
//!   success, an `{"error": {"code", "message"}}` refusal, a rate limit and an RFC 8628 error.
//! * [`Web`] is a signed-in web session as the API hands it out.
//!
//! Every call is bounded: one that takes over 15 s fails the test.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use orbit_protocol::auth::SignedIn;
use orbit_protocol::dev::DevSession;
use serde_json::Value;

use crate::{Orbit, Session, Ws};

/// How long one HTTP call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// The JSON body, or the text as a JSON string when it is not JSON.
    pub body: Value,
    pub retry_after: Option<u64>,
}

impl Answer {
    /// Asserts a success status and returns the body.
    pub fn ok(self, what: &str) -> Result<Value> {
        if !(200..300).contains(&self.status) {
            bail!(
                "{what}: expected success, got HTTP {}: {}",
                self.status,
                self.body
            );
        }
        Ok(self.body)
    }

    /// Asserts an `{"error": {"code", "message"}}` refusal.
    pub fn refused(&self, status: u16, code: &str, what: &str) -> Result<()> {
        if self.status != status || self.body["error"]["code"] != code {
            bail!(
                "{what}: expected HTTP {status} {code}, got HTTP {}: {}",
                self.status,
                self.body
            );
        }
        if self.body["error"]["message"]
            .as_str()
            .is_none_or(str::is_empty)
        {
            bail!("{what}: the refusal has no readable message: {}", self.body);
        }
        Ok(())
    }

    /// Asserts an RFC 8628 error from the device token endpoint: 400 `{"error": code}`.
    pub fn rfc_error(&self, code: &str, what: &str) -> Result<()> {
        if self.status != 400 || self.body["error"] != code {
            bail!(
                "{what}: expected HTTP 400 {{\"error\": \"{code}\"}}, got HTTP {}: {}",
                self.status,
                self.body
            );
        }
        Ok(())
    }

    /// Asserts a 429 `rate_limited` with a `Retry-After` of at least one second; returns it.
    pub fn limited(&self, what: &str) -> Result<u64> {
        self.refused(429, "rate_limited", what)?;
        let retry = self
            .retry_after
            .ok_or_else(|| anyhow!("{what}: 429 without Retry-After"))?;
        if retry < 1 {
            bail!("{what}: Retry-After {retry}");
        }
        Ok(retry)
    }
}

/// A client of the API from one address.
#[derive(Clone)]
pub struct Client {
    base: String,
    address: String,
    /// An `Origin` header to send (browsers send one; Orbit must ignore it for WebAuthn).
    origin: Option<String>,
    /// More headers to send (a proxy's address header, spoofed ones).
    extra: Vec<(String, String)>,
    http: reqwest::Client,
}

/// A random 10.x.y.z.
fn rand_address() -> String {
    let b: [u8; 3] = rand::random();
    format!("10.{}.{}.{}", b[0], b[1], b[2])
}

/// An HTTP client whose pooled connections never outlive workerd's: workerd closes a
/// connection idle for 5 s, and a request written on one at that instant is reset
/// ("Connection reset by peer") before the Worker sees it. Dropping idle connections after
/// 2 s means every request goes out on a connection the server still keeps.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        // Only a TLS backend or a resolver that cannot start fails here; the tests have none.
        .unwrap_or_else(|_| reqwest::Client::new())
}

impl Client {
    /// A client of `orbit` with an address of its own (a random 10.x.y.z) and no `Origin`.
    pub fn new(orbit: &Orbit) -> Client {
        Client {
            base: orbit.base_url(),
            address: rand_address(),
            origin: None,
            extra: Vec::new(),
            http: http_client(),
        }
    }

    /// The address this client sends as `CF-Connecting-IP`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Another client with another address.
    pub fn elsewhere(&self) -> Client {
        Client {
            address: rand_address(),
            ..self.clone()
        }
    }

    /// The same client sending `Origin: origin`.
    pub fn with_origin(&self, origin: &str) -> Client {
        Client {
            origin: Some(origin.to_string()),
            ..self.clone()
        }
    }

    /// The same client sending `name: value` as well (a later value of one name replaces
    /// `CF-Connecting-IP`).
    pub fn with_header(&self, name: &str, value: &str) -> Client {
        let mut extra = self.extra.clone();
        extra.push((name.to_string(), value.to_string()));
        Client {
            extra,
            ..self.clone()
        }
    }

    /// Sends `method path` with an optional JSON body and bearer token.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        bearer: Option<&str>,
    ) -> Result<Answer> {
        let url = format!("{}{path}", self.base);
        let mut headers = reqwest::header::HeaderMap::new();
        let mut set = |name: &str, value: &str| -> Result<()> {
            headers.insert(
                reqwest::header::HeaderName::from_bytes(name.as_bytes())?,
                reqwest::header::HeaderValue::from_str(value)?,
            );
            Ok(())
        };
        set("CF-Connecting-IP", &self.address)?;
        set("User-Agent", "orbit-tests")?;
        for (name, value) in &self.extra {
            set(name, value)?;
        }
        let mut request = self.http.request(method.clone(), &url).headers(headers);
        if let Some(origin) = &self.origin {
            request = request.header("Origin", origin);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = tokio::time::timeout(CALL_TIMEOUT, request.send())
            .await
            .map_err(|_| anyhow!("{method} {path} took over {} s", CALL_TIMEOUT.as_secs()))?
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let text = response.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer {
            status,
            body,
            retry_after,
        })
    }

    pub async fn post(&self, path: &str, body: Value, bearer: Option<&str>) -> Result<Answer> {
        self.call(reqwest::Method::POST, path, Some(body), bearer)
            .await
    }

    pub async fn get(&self, path: &str, bearer: &str) -> Result<Answer> {
        self.call(reqwest::Method::GET, path, None, Some(bearer))
            .await
    }

    pub async fn delete(&self, path: &str, bearer: &str) -> Result<Answer> {
        self.call(reqwest::Method::DELETE, path, None, Some(bearer))
            .await
    }

    pub async fn patch(&self, path: &str, body: Value, bearer: &str) -> Result<Answer> {
        self.call(reqwest::Method::PATCH, path, Some(body), Some(bearer))
            .await
    }
}

/// A signed-in web session, as the API hands it out.
#[derive(Debug, Clone)]
pub struct Web {
    pub user_id: String,
    pub session_id: String,
    pub access: String,
    pub refresh: String,
}

impl Web {
    /// The session of a sign-up or sign-in answer ([`SignedIn`]).
    pub fn from_answer(v: &Value) -> Result<Web> {
        let signed_in: SignedIn = serde_json::from_value(v.clone())
            .with_context(|| format!("not a sign-in answer: {v}"))?;
        Ok(Web {
            user_id: signed_in.user_id,
            session_id: signed_in.credentials.session_id,
            access: signed_in.credentials.access_token,
            refresh: signed_in.credentials.refresh_token,
        })
    }

    /// The harness's session type, to open sockets with.
    pub fn socket_session(&self) -> Session {
        Session(DevSession {
            user_id: self.user_id.clone(),
            session_id: self.session_id.clone(),
            anchor_id: None,
            access_token: self.access.clone(),
        })
    }
}

/// Expects the server to close `ws` with 4003 (revoked).
pub async fn expect_revoked_close(ws: &mut Ws, what: &str) -> Result<()> {
    let (close, _) = ws.recv_close().await?;
    match close {
        Some((4003, _)) => Ok(()),
        other => bail!("{what}: expected close 4003, got {other:?}"),
    }
}

/// RFC 4648 base32 (padding ignored, any case) → bytes, for TOTP secrets.
pub fn base32_decode(s: &str) -> Result<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits: u64 = 0;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET
            .iter()
            .position(|a| *a == c.to_ascii_uppercase())
            .ok_or_else(|| anyhow!("not base32: {s}"))?;
        bits = (bits << 5) | v as u64;
        nbits += 5;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
        }
    }
    Ok(out)
}

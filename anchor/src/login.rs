//! `anchor login`: the device-code flow (RFC 8628) against Orbit's `/auth/device/*` endpoints.
//!
//! [`poll_for_token`] is the polling loop with an injected sleep so its timing rules
//! (`interval`, `slow_down` adds 5 s, stop on `access_denied`/`expired_token`) are testable
//! without waiting.

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::credentials::Credentials;

/// How much `slow_down` adds to the polling interval (RFC 8628 §3.5).
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceCode {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    /// Seconds.
    pub expires_in: u64,
    /// Seconds.
    pub interval: u64,
}

#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenGrant {
    pub anchor_id: String,
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds.
    pub expires_in: u64,
    /// Seconds.
    pub refresh_expires_in: u64,
}

impl std::fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenGrant")
            .field("anchor_id", &self.anchor_id)
            .field("expires_in", &self.expires_in)
            .field("refresh_expires_in", &self.refresh_expires_in)
            .finish_non_exhaustive()
    }
}

impl TokenGrant {
    /// Credentials to save, given the current time in ms since the epoch.
    pub fn into_credentials(self, orbit_url: &str, now_ms: i64) -> Credentials {
        let lifetime_ms = i64::try_from(self.expires_in.saturating_mul(1000)).unwrap_or(i64::MAX);
        Credentials {
            orbit_url: orbit_url.to_string(),
            anchor_id: self.anchor_id,
            access_token: self.access_token,
            access_expires_at: now_ms.saturating_add(lifetime_ms),
            refresh_token: self.refresh_token,
        }
    }
}

/// One answer of `POST /auth/device/token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollOutcome {
    Granted(TokenGrant),
    Pending,
    SlowDown,
    /// A terminal refusal: `access_denied`, `expired_token`, `invalid_grant`, `invalid_request`, …
    Refused(String),
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the pairing request was denied in Orbit")]
    AccessDenied,
    #[error("the code expired before it was approved; run `anchor login` again")]
    Expired,
    #[error("Orbit refused the device code ({0}); run `anchor login` again")]
    Refused(String),
    #[error("cannot set up an HTTP client: {0}")]
    Client(String),
    #[error("cannot reach Orbit at {url}: {message}")]
    Http { url: String, message: String },
    #[error("Orbit refused the anchor's token ({code}): {message}")]
    TokenRefused { code: String, message: String },
    #[error("Orbit is rate-limiting token refreshes; retry in {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
    #[error("unexpected answer from {url}: HTTP {status}: {body}")]
    Unexpected {
        url: String,
        status: u16,
        body: String,
    },
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CodeRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<&'a str>,
    platform: &'a str,
}

/// A thin client for the device endpoints.
#[derive(Debug, Clone)]
pub struct DeviceApi {
    http: reqwest::Client,
    base: String,
}

impl DeviceApi {
    pub fn new(base: &str) -> Result<Self, LoginError> {
        // Polls come every 5 s, which is also a common keep-alive timeout: a pooled connection
        // reused just as the server closes it loses the request. Idle connections are dropped
        // well before that, so each poll starts on a live connection. No call may hang the
        // anchor: each has a deadline.
        let http = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(2))
            .timeout(HTTP_TIMEOUT)
            .build()
            .map_err(|e| LoginError::Client(e.to_string()))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<(u16, String), LoginError> {
        self.post_full(path, body, None)
            .await
            .map(|(status, _, text)| (status, text))
    }

    /// Like `post`, with an optional Bearer token, also returning the `Retry-After` header
    /// (seconds) when present.
    async fn post_full(
        &self,
        path: &str,
        body: &serde_json::Value,
        bearer: Option<&str>,
    ) -> Result<(u16, Option<u64>, String), LoginError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.post(&url).json(body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let resp = request.send().await.map_err(|e| LoginError::Http {
            url: url.clone(),
            message: e.to_string(),
        })?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let text = resp.text().await.map_err(|e| LoginError::Http {
            url,
            message: e.to_string(),
        })?;
        Ok((status, retry_after, text))
    }

    /// `POST /auth/device/code`.
    pub async fn request_code(
        &self,
        name: Option<&str>,
        hostname: Option<&str>,
    ) -> Result<DeviceCode, LoginError> {
        let req = CodeRequest {
            name,
            hostname,
            platform: std::env::consts::OS,
        };
        let body = serde_json::to_value(&req).unwrap_or(serde_json::Value::Null);
        let path = "/auth/device/code";
        let (status, text) = self.post(path, &body).await?;
        let unexpected = || LoginError::Unexpected {
            url: format!("{}{path}", self.base),
            status,
            body: truncate(&text),
        };
        if status != 200 {
            return Err(unexpected());
        }
        serde_json::from_str(&text).map_err(|_| unexpected())
    }

    /// An answer of a token endpoint that makes no sense. A 200 body is never echoed: it
    /// carries tokens.
    fn unexpected_token_answer(&self, path: &str, status: u16, text: &str) -> LoginError {
        LoginError::Unexpected {
            url: format!("{}{path}", self.base),
            status,
            body: if status == 200 {
                "<token answer not understood>".into()
            } else {
                truncate(text)
            },
        }
    }

    /// One `POST /auth/device/token` poll.
    pub async fn poll(&self, device_code: &str) -> Result<PollOutcome, LoginError> {
        let path = "/auth/device/token";
        let (status, text) = self
            .post(path, &serde_json::json!({ "deviceCode": device_code }))
            .await?;
        let unexpected = || self.unexpected_token_answer(path, status, &text);
        match status {
            200 => serde_json::from_str(&text)
                .map(PollOutcome::Granted)
                .map_err(|_| unexpected()),
            400 => {
                let v: serde_json::Value = serde_json::from_str(&text).map_err(|_| unexpected())?;
                match v.get("error").and_then(|e| e.as_str()) {
                    Some("authorization_pending") => Ok(PollOutcome::Pending),
                    Some("slow_down") => Ok(PollOutcome::SlowDown),
                    Some(code) => Ok(PollOutcome::Refused(code.to_string())),
                    None => Err(unexpected()),
                }
            }
            _ => Err(unexpected()),
        }
    }
}

impl DeviceApi {
    /// `POST /auth/logout` with the anchor's access token: Orbit unpairs this anchor.
    pub async fn logout(&self, access_token: &str) -> Result<(), LoginError> {
        let path = "/auth/logout";
        let (status, _, text) = self
            .post_full(path, &serde_json::json!({}), Some(access_token))
            .await?;
        match status {
            200 => Ok(()),
            401 => Err(refusal(&text)),
            _ => Err(LoginError::Unexpected {
                url: format!("{}{path}", self.base),
                status,
                body: truncate(&text),
            }),
        }
    }

    /// `POST /auth/device/refresh`: trades the (single-use) refresh token for a new pair.
    /// A 401 is [`LoginError::TokenRefused`]: the anchor was revoked, or the token expired or
    /// was already used; nothing but `anchor login` can fix that.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenGrant, LoginError> {
        let path = "/auth/device/refresh";
        let (status, retry_after, text) = self
            .post_full(
                path,
                &serde_json::json!({ "refreshToken": refresh_token }),
                None,
            )
            .await?;
        let unexpected = || self.unexpected_token_answer(path, status, &text);
        match status {
            200 => serde_json::from_str(&text).map_err(|_| unexpected()),
            401 | 403 => Err(refusal(&text)),
            429 => Err(LoginError::RateLimited {
                retry_after_s: retry_after.unwrap_or(30),
            }),
            _ => Err(unexpected()),
        }
    }
}

/// Orbit's `{"error":{"code","message"}}` refusal of a token.
fn refusal(text: &str) -> LoginError {
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    let field = |name: &str| {
        v.pointer(&format!("/error/{name}"))
            .and_then(|c| c.as_str())
            .unwrap_or("unknown")
            .to_string()
    };
    LoginError::TokenRefused {
        code: field("code"),
        message: field("message"),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(300).collect()
}

/// Polls until the grant arrives or the flow ends. `sleep` is called before every poll with the
/// current interval (at least 1 s, so a bad `interval: 0` cannot hammer the server).
/// Gives up locally, as `expired_token` would, once the sleeps add up past `expiresIn`.
pub async fn poll_for_token<S, F>(
    api: &DeviceApi,
    code: &DeviceCode,
    mut sleep: S,
) -> Result<TokenGrant, LoginError>
where
    S: FnMut(Duration) -> F,
    F: Future<Output = ()>,
{
    let mut interval = Duration::from_secs(code.interval.max(1));
    let lifetime = Duration::from_secs(code.expires_in);
    let mut waited = Duration::ZERO;
    let mut failures = 0;
    loop {
        if waited > lifetime {
            return Err(LoginError::Expired);
        }
        sleep(interval).await;
        waited += interval;
        let outcome = match api.poll(&code.device_code).await {
            Ok(outcome) => {
                failures = 0;
                outcome
            }
            // A dropped connection or a 5xx is not an answer: poll again at the next interval,
            // unless it keeps happening.
            Err(e) if is_transient(&e) && failures < MAX_TRANSIENT_POLL_FAILURES => {
                failures += 1;
                tracing::warn!(error = %e, "polling for approval failed; trying again");
                continue;
            }
            Err(e) => return Err(e),
        };
        match outcome {
            PollOutcome::Granted(grant) => return Ok(grant),
            PollOutcome::Pending => {}
            PollOutcome::SlowDown => {
                interval += SLOW_DOWN_STEP;
                tracing::debug!(
                    interval_s = interval.as_secs(),
                    "slow_down: polling less often"
                );
            }
            PollOutcome::Refused(code) => {
                return Err(match code.as_str() {
                    "access_denied" => LoginError::AccessDenied,
                    "expired_token" => LoginError::Expired,
                    _ => LoginError::Refused(code),
                })
            }
        }
    }
}

/// Longest any call to Orbit's HTTP endpoints may take.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Consecutive failed polls (network errors, 5xx) tolerated before giving up.
pub const MAX_TRANSIENT_POLL_FAILURES: u32 = 3;

/// Whether a failed call may succeed if simply repeated.
fn is_transient(e: &LoginError) -> bool {
    match e {
        LoginError::Http { .. } | LoginError::RateLimited { .. } => true,
        LoginError::Unexpected { status, .. } => *status >= 500,
        _ => false,
    }
}

/// The machine's hostname, if it can be read cheaply.
pub fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Tries to open `url` in a browser; failure is ignored (the URL is printed anyway).
pub fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let _ = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

#[cfg(test)]
pub(crate) mod mock {
    //! A tiny scripted HTTP/1.1 server on 127.0.0.1: one request per connection, answers in order.

    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    #[derive(Debug, Clone)]
    pub struct Seen {
        pub path: String,
        pub body: String,
    }

    pub async fn serve(
        answers: Vec<(u16, String)>,
    ) -> std::io::Result<(String, Arc<Mutex<Vec<Seen>>>)> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            for (status, body) in answers {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head_end, content_len) = loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (i + 4, len);
                    }
                };
                while buf.len() < head_end + content_len {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let path = head
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string();
                let req_body = String::from_utf8_lossy(&buf[head_end..]).to_string();
                if let Ok(mut l) = log.lock() {
                    l.push(Seen {
                        path,
                        body: req_body,
                    });
                }
                let resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            }
        });
        Ok((url, seen))
    }
}

#[cfg(test)]
mod tests {
    use super::mock::serve;
    use super::*;
    use std::sync::{Arc, Mutex};

    fn code(interval: u64, expires_in: u64) -> DeviceCode {
        DeviceCode {
            device_code: "dc".into(),
            user_code: "ABCD-EFGH".into(),
            verification_uri: "http://o/device".into(),
            verification_uri_complete: "http://o/device?code=ABCD-EFGH".into(),
            expires_in,
            interval,
        }
    }

    fn err(code: &str) -> (u16, String) {
        (400, format!("{{\"error\":\"{code}\"}}"))
    }

    fn granted() -> (u16, String) {
        (
            200,
            r#"{"anchorId":"anc_1","accessToken":"at","refreshToken":"ora_rt","expiresIn":900,"refreshExpiresIn":2592000}"#.into(),
        )
    }

    type Sleeps = Arc<Mutex<Vec<Duration>>>;

    fn recorder() -> (Sleeps, impl FnMut(Duration) -> std::future::Ready<()>) {
        let sleeps: Sleeps = Arc::default();
        let s = sleeps.clone();
        (sleeps, move |d| {
            if let Ok(mut v) = s.lock() {
                v.push(d);
            }
            std::future::ready(())
        })
    }

    #[tokio::test]
    async fn requests_a_code() -> anyhow::Result<()> {
        let (url, seen) = serve(vec![(
            200,
            r#"{"deviceCode":"dc","userCode":"ABCD-EFGH","verificationUri":"http://o/device","verificationUriComplete":"http://o/device?code=ABCD-EFGH","expiresIn":600,"interval":5}"#.into(),
        )])
        .await?;
        let api = DeviceApi::new(&format!("{url}/"))?;
        let got = api.request_code(Some("box"), Some("host")).await?;
        assert_eq!(got, code(5, 600));
        let seen = seen
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .clone();
        assert_eq!(seen[0].path, "/auth/device/code");
        let body: serde_json::Value = serde_json::from_str(&seen[0].body)?;
        assert_eq!(body["name"], "box");
        assert_eq!(body["hostname"], "host");
        Ok(())
    }

    #[tokio::test]
    async fn polls_at_interval_and_honours_slow_down() -> anyhow::Result<()> {
        let (url, seen) = serve(vec![
            err("authorization_pending"),
            err("slow_down"),
            err("authorization_pending"),
            err("slow_down"),
            granted(),
        ])
        .await?;
        let api = DeviceApi::new(&url)?;
        let (sleeps, sleep) = recorder();
        let grant = poll_for_token(&api, &code(2, 600), sleep).await?;
        assert_eq!(grant.anchor_id, "anc_1");
        assert_eq!(grant.refresh_token, "ora_rt");
        let secs: Vec<u64> = sleeps
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .iter()
            .map(|d| d.as_secs())
            .collect();
        assert_eq!(secs, vec![2, 2, 7, 7, 12]);
        let seen = seen
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .clone();
        assert_eq!(seen.len(), 5);
        assert!(seen.iter().all(|s| s.path == "/auth/device/token"));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&seen[0].body)?["deviceCode"],
            "dc"
        );
        Ok(())
    }

    #[tokio::test]
    async fn stops_on_access_denied_and_expiry() -> anyhow::Result<()> {
        for (answer, want) in [
            ("access_denied", "denied"),
            ("expired_token", "expired"),
            ("invalid_grant", "invalid_grant"),
        ] {
            let (url, _) = serve(vec![err("authorization_pending"), err(answer)]).await?;
            let (_, sleep) = recorder();
            let e = poll_for_token(&DeviceApi::new(&url)?, &code(1, 600), sleep)
                .await
                .expect_err("must stop");
            assert!(e.to_string().contains(want), "{answer}: {e}");
        }
        Ok(())
    }

    #[tokio::test]
    async fn gives_up_locally_after_expires_in() -> anyhow::Result<()> {
        let (url, seen) = serve(vec![err("authorization_pending"); 10]).await?;
        let (_, sleep) = recorder();
        let e = poll_for_token(&DeviceApi::new(&url)?, &code(1, 2), sleep)
            .await
            .expect_err("must expire");
        assert!(matches!(e, LoginError::Expired), "{e}");
        assert_eq!(
            seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.len(),
            3
        );
        Ok(())
    }

    #[tokio::test]
    async fn unexpected_answers_are_errors_without_tokens() -> anyhow::Result<()> {
        let (url, _) = serve(vec![
            (500, "boom".into()),
            (200, r#"{"accessToken":"leak"}"#.into()),
        ])
        .await?;
        let api = DeviceApi::new(&url)?;
        let e = api.poll("dc").await.expect_err("500");
        assert!(
            e.to_string().contains("500") && e.to_string().contains("boom"),
            "{e}"
        );
        let e = api.poll("dc").await.expect_err("bad 200");
        assert!(!e.to_string().contains("leak"), "{e}");
        Ok(())
    }

    #[tokio::test]
    async fn polling_rides_out_a_few_server_errors_but_not_endless_ones() -> anyhow::Result<()> {
        let (url, _) = serve(vec![
            (503, "worker restarted mid-request".into()),
            err("authorization_pending"),
            (502, "bad gateway".into()),
            granted(),
        ])
        .await?;
        let (_, sleep) = recorder();
        let grant = poll_for_token(&DeviceApi::new(&url)?, &code(1, 600), sleep).await?;
        assert_eq!(grant.anchor_id, "anc_1");

        let (url, seen) = serve(vec![(503, "down".into()); 10]).await?;
        let (_, sleep) = recorder();
        let e = poll_for_token(&DeviceApi::new(&url)?, &code(1, 600), sleep)
            .await
            .expect_err("gives up");
        assert!(e.to_string().contains("503"), "{e}");
        assert_eq!(
            seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.len(),
            usize::try_from(MAX_TRANSIENT_POLL_FAILURES)? + 1
        );
        Ok(())
    }

    #[tokio::test]
    async fn refresh_returns_the_new_pair_or_a_precise_refusal() -> anyhow::Result<()> {
        let (url, seen) = serve(vec![
            granted(),
            (
                401,
                r#"{"error":{"code":"refresh_reused","message":"the refresh token was already used"}}"#
                    .into(),
            ),
        ])
        .await?;
        let api = DeviceApi::new(&url)?;
        let grant = api.refresh("ora_old").await?;
        assert_eq!(grant.refresh_token, "ora_rt");
        let e = api.refresh("ora_old").await.expect_err("refused");
        assert!(
            matches!(&e, LoginError::TokenRefused { code, .. } if code == "refresh_reused"),
            "{e}"
        );
        let seen = seen
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .clone();
        assert_eq!(seen[0].path, "/auth/device/refresh");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&seen[0].body)?["refreshToken"],
            "ora_old"
        );
        Ok(())
    }

    #[test]
    fn grant_becomes_credentials() {
        let g = TokenGrant {
            anchor_id: "a".into(),
            access_token: "at".into(),
            refresh_token: "rt".into(),
            expires_in: 900,
            refresh_expires_in: 1,
        };
        assert!(!format!("{g:?}").contains("at\""));
        let c = g.into_credentials("http://o", 1_000);
        assert_eq!(c.access_expires_at, 901_000);
        assert_eq!(c.orbit_url, "http://o");
    }
}

//! `anchor login`: the device-code flow (RFC 8628) against Orbit's `/auth/device/*` endpoints.
//!
//! [`poll_for_token`] is the polling loop with an injected sleep so its timing rules
//! (`interval`, `slow_down` adds 5 s, stop on `access_denied`/`expired_token`) are testable
//! without waiting.

use std::future::Future;
use std::time::Duration;

use orbit_protocol::auth::{
    AnchorCredentials, ApiErrorBody, DeviceAuthorization, DeviceCodeRequest, DeviceTokenError,
    DeviceTokenRequest, RefreshRequest,
};
use orbit_protocol::ErrorCode;
use serde::Serialize;

/// How much `slow_down` adds to the polling interval (RFC 8628 §3.5).
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// One answer of `POST /auth/device/token`.
#[derive(Clone, PartialEq, Eq)]
pub enum PollOutcome {
    Granted(AnchorCredentials),
    Pending,
    SlowDown,
    /// A terminal refusal: `access_denied`, `expired_token`, `invalid_grant`, `invalid_request`, …
    Refused(ErrorCode),
}

/// Never shows the tokens of a grant (they would end up in logs).
impl std::fmt::Debug for PollOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PollOutcome::Granted(grant) => f
                .debug_struct("Granted")
                .field("anchor_id", &grant.anchor_id)
                .field("expires_in", &grant.expires_in)
                .field("refresh_expires_in", &grant.refresh_expires_in)
                .finish_non_exhaustive(),
            PollOutcome::Pending => f.write_str("Pending"),
            PollOutcome::SlowDown => f.write_str("SlowDown"),
            PollOutcome::Refused(code) => f.debug_tuple("Refused").field(code).finish(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the pairing request was denied in Orbit")]
    AccessDenied,
    #[error("the code expired before it was approved; run `anchor login` again")]
    Expired,
    #[error("Orbit refused the device code ({0}); run `anchor login` again")]
    Refused(ErrorCode),
    #[error("cannot set up an HTTP client: {0}")]
    Client(String),
    #[error("cannot reach Orbit at {url}: {message}")]
    Http { url: String, message: String },
    /// `code` is `None` when the refusal could not be read.
    #[error(
        "Orbit refused the anchor's token ({}): {message}",
        code.map_or("unknown", ErrorCode::as_str)
    )]
    TokenRefused {
        code: Option<ErrorCode>,
        message: String,
    },
    #[error("Orbit is rate-limiting token refreshes; retry in {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
    #[error("unexpected answer from {url}: HTTP {status}: {body}")]
    Unexpected {
        url: String,
        status: u16,
        body: String,
    },
}

/// The line `anchor login` prints once paired: whose machine this now is. Someone who approved
/// a code they were sent (RFC 8628 §5.4) gave *their* account away, so the owner of the terminal
/// must see whose it became and can undo it. The name is Orbit's, and printed without control
/// characters so it cannot rewrite the terminal.
pub fn approved_by(account: Option<&str>) -> String {
    let shown: Option<String> = account
        .map(|a| a.chars().filter(|c| !c.is_control()).take(64).collect())
        .filter(|a: &String| !a.trim().is_empty());
    match shown {
        Some(a) => format!(
            "Approved for the Orbit account \"{a}\". If that is not your account, run `anchor logout` now."
        ),
        None => "Orbit did not say which account approved it: check the anchors in Orbit's settings."
            .to_string(),
    }
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

    async fn post(&self, path: &str, body: &impl Serialize) -> Result<(u16, String), LoginError> {
        self.post_full(path, body, None)
            .await
            .map(|(status, _, text)| (status, text))
    }

    /// Like `post`, with an optional Bearer token, also returning the `Retry-After` header
    /// (seconds) when present.
    async fn post_full(
        &self,
        path: &str,
        body: &impl Serialize,
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
    ) -> Result<DeviceAuthorization, LoginError> {
        let body = DeviceCodeRequest {
            name: name.map(str::to_string),
            hostname: hostname.map(str::to_string),
            platform: Some(std::env::consts::OS.to_string()),
        };
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
        let body = DeviceTokenRequest {
            device_code: Some(device_code.to_string()),
        };
        let (status, text) = self.post(path, &body).await?;
        let unexpected = || self.unexpected_token_answer(path, status, &text);
        match status {
            200 => serde_json::from_str(&text)
                .map(PollOutcome::Granted)
                .map_err(|_| unexpected()),
            400 => match serde_json::from_str::<DeviceTokenError>(&text) {
                Ok(DeviceTokenError {
                    error: ErrorCode::AuthorizationPending,
                }) => Ok(PollOutcome::Pending),
                Ok(DeviceTokenError {
                    error: ErrorCode::SlowDown,
                }) => Ok(PollOutcome::SlowDown),
                Ok(DeviceTokenError { error }) => Ok(PollOutcome::Refused(error)),
                // A code this anchor does not know is no answer it could act on.
                Err(_) => Err(unexpected()),
            },
            _ => Err(unexpected()),
        }
    }
}

impl DeviceApi {
    /// `POST /auth/logout` with the anchor's access token: Orbit unpairs this anchor.
    pub async fn logout(&self, access_token: &str) -> Result<(), LoginError> {
        let path = "/auth/logout";
        let (status, _, text) = self
            .post_full(path, &serde_json::Map::new(), Some(access_token))
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
    pub async fn refresh(&self, refresh_token: &str) -> Result<AnchorCredentials, LoginError> {
        let path = "/auth/device/refresh";
        let body = RefreshRequest {
            refresh_token: refresh_token.to_string(),
        };
        let (status, retry_after, text) = self.post_full(path, &body, None).await?;
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
    match serde_json::from_str::<ApiErrorBody>(text) {
        Ok(ApiErrorBody { error }) => LoginError::TokenRefused {
            code: Some(error.code),
            message: error.message,
        },
        Err(_) => LoginError::TokenRefused {
            code: None,
            message: truncate(text),
        },
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
    code: &DeviceAuthorization,
    mut sleep: S,
) -> Result<AnchorCredentials, LoginError>
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
                return Err(match code {
                    ErrorCode::AccessDenied => LoginError::AccessDenied,
                    ErrorCode::ExpiredToken => LoginError::Expired,
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
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};
    use wiremock::matchers::{bearer_token, method, path};
    use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

    /// Answers in the order given, whatever is asked; then `503 script exhausted`.
    struct Script(Mutex<VecDeque<ResponseTemplate>>);

    impl Respond for Script {
        fn respond(&self, _: &Request) -> ResponseTemplate {
            self.0
                .lock()
                .ok()
                .and_then(|mut answers| answers.pop_front())
                .unwrap_or_else(|| ResponseTemplate::new(503).set_body_string("script exhausted"))
        }
    }

    fn answer(status: u16, body: &str) -> ResponseTemplate {
        ResponseTemplate::new(status)
            .insert_header("content-type", "application/json")
            .set_body_string(body)
    }

    /// A server answering every POST with `answers`, in order.
    async fn serve(answers: Vec<ResponseTemplate>) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(Script(Mutex::new(answers.into())))
            .mount(&server)
            .await;
        server
    }

    /// The requests the server saw, as (path, JSON body).
    async fn seen(server: &MockServer) -> anyhow::Result<Vec<(String, serde_json::Value)>> {
        let requests = server
            .received_requests()
            .await
            .ok_or_else(|| anyhow::anyhow!("request recording is off"))?;
        requests
            .iter()
            .map(|r| Ok((r.url.path().to_string(), serde_json::from_slice(&r.body)?)))
            .collect()
    }

    fn code(interval: u64, expires_in: u64) -> DeviceAuthorization {
        DeviceAuthorization {
            device_code: "dc".into(),
            user_code: "ABCD-EFGH".into(),
            verification_uri: "http://o/device".into(),
            verification_uri_complete: "http://o/device?code=ABCD-EFGH".into(),
            expires_in,
            interval,
        }
    }

    fn err(code: &str) -> ResponseTemplate {
        answer(400, &format!("{{\"error\":\"{code}\"}}"))
    }

    fn granted() -> ResponseTemplate {
        answer(
            200,
            r#"{"anchorId":"anc_1","accessToken":"at","refreshToken":"ora_rt","expiresIn":900,"refreshExpiresIn":2592000}"#,
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
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/auth/device/code"))
            .respond_with(answer(
                200,
                r#"{"deviceCode":"dc","userCode":"ABCD-EFGH","verificationUri":"http://o/device","verificationUriComplete":"http://o/device?code=ABCD-EFGH","expiresIn":600,"interval":5}"#,
            ))
            .expect(1)
            .mount(&server)
            .await;
        let api = DeviceApi::new(&format!("{}/", server.uri()))?;
        let got = api.request_code(Some("box"), Some("host")).await?;
        assert_eq!(got, code(5, 600));
        let seen = seen(&server).await?;
        assert_eq!(seen[0].1["name"], "box");
        assert_eq!(seen[0].1["hostname"], "host");
        assert_eq!(seen[0].1["platform"], std::env::consts::OS);
        Ok(())
    }

    #[tokio::test]
    async fn polls_at_interval_and_honours_slow_down() -> anyhow::Result<()> {
        let server = serve(vec![
            err("authorization_pending"),
            err("slow_down"),
            err("authorization_pending"),
            err("slow_down"),
            granted(),
        ])
        .await;
        let api = DeviceApi::new(&server.uri())?;
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
        let seen = seen(&server).await?;
        assert_eq!(seen.len(), 5);
        assert!(seen.iter().all(|(path, _)| path == "/auth/device/token"));
        assert_eq!(seen[0].1, serde_json::json!({"deviceCode": "dc"}));
        Ok(())
    }

    #[tokio::test]
    async fn stops_on_access_denied_and_expiry() -> anyhow::Result<()> {
        for (refusal, want) in [
            ("access_denied", "denied"),
            ("expired_token", "expired"),
            ("invalid_grant", "invalid_grant"),
        ] {
            let server = serve(vec![err("authorization_pending"), err(refusal)]).await;
            let (_, sleep) = recorder();
            let e = poll_for_token(&DeviceApi::new(&server.uri())?, &code(1, 600), sleep)
                .await
                .expect_err("must stop");
            assert!(e.to_string().contains(want), "{refusal}: {e}");
            assert_eq!(seen(&server).await?.len(), 2, "{refusal}");
        }
        Ok(())
    }

    #[tokio::test]
    async fn gives_up_locally_after_expires_in() -> anyhow::Result<()> {
        let server = serve(vec![err("authorization_pending"); 10]).await;
        let (_, sleep) = recorder();
        let e = poll_for_token(&DeviceApi::new(&server.uri())?, &code(1, 2), sleep)
            .await
            .expect_err("must expire");
        assert!(matches!(e, LoginError::Expired), "{e}");
        assert_eq!(seen(&server).await?.len(), 3);
        Ok(())
    }

    #[tokio::test]
    async fn unexpected_answers_are_errors_without_tokens() -> anyhow::Result<()> {
        let server = serve(vec![
            answer(500, "boom"),
            answer(200, r#"{"accessToken":"leak"}"#),
            err("no_such_code"),
        ])
        .await;
        let api = DeviceApi::new(&server.uri())?;
        let e = api.poll("dc").await.expect_err("500");
        assert!(
            e.to_string().contains("500") && e.to_string().contains("boom"),
            "{e}"
        );
        let e = api.poll("dc").await.expect_err("bad 200");
        assert!(!e.to_string().contains("leak"), "{e}");
        // A refusal this anchor cannot read is shown as it came, and not retried.
        let e = api.poll("dc").await.expect_err("unknown code");
        assert!(e.to_string().contains("no_such_code"), "{e}");
        assert!(!is_transient(&e), "{e}");
        Ok(())
    }

    #[tokio::test]
    async fn polling_rides_out_a_few_server_errors_but_not_endless_ones() -> anyhow::Result<()> {
        let server = serve(vec![
            answer(503, "worker restarted mid-request"),
            err("authorization_pending"),
            answer(502, "bad gateway"),
            granted(),
        ])
        .await;
        let (_, sleep) = recorder();
        let grant = poll_for_token(&DeviceApi::new(&server.uri())?, &code(1, 600), sleep).await?;
        assert_eq!(grant.anchor_id, "anc_1");

        let server = serve(vec![answer(503, "down"); 10]).await;
        let (_, sleep) = recorder();
        let e = poll_for_token(&DeviceApi::new(&server.uri())?, &code(1, 600), sleep)
            .await
            .expect_err("gives up");
        assert!(e.to_string().contains("503"), "{e}");
        assert_eq!(
            seen(&server).await?.len(),
            usize::try_from(MAX_TRANSIENT_POLL_FAILURES)? + 1
        );
        Ok(())
    }

    #[tokio::test]
    async fn refresh_returns_the_new_pair_or_a_precise_refusal() -> anyhow::Result<()> {
        let server = serve(vec![
            granted(),
            answer(
                401,
                r#"{"error":{"code":"refresh_reused","message":"the refresh token was already used"}}"#,
            ),
            ResponseTemplate::new(429).insert_header("retry-after", "7"),
        ])
        .await;
        let api = DeviceApi::new(&server.uri())?;
        let grant = api.refresh("ora_old").await?;
        assert_eq!(grant.refresh_token, "ora_rt");
        let e = api.refresh("ora_old").await.expect_err("refused");
        assert!(
            matches!(
                &e,
                LoginError::TokenRefused {
                    code: Some(ErrorCode::RefreshReused),
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("refresh_reused"), "{e}");
        let e = api.refresh("ora_old").await.expect_err("rate-limited");
        assert!(
            matches!(e, LoginError::RateLimited { retry_after_s: 7 }),
            "{e}"
        );
        let seen = seen(&server).await?;
        assert_eq!(seen[0].0, "/auth/device/refresh");
        assert_eq!(seen[0].1, serde_json::json!({"refreshToken": "ora_old"}));
        Ok(())
    }

    #[tokio::test]
    async fn logout_presents_the_access_token_and_reads_the_refusal() -> anyhow::Result<()> {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/auth/logout"))
            .and(bearer_token("at"))
            .respond_with(answer(200, "{}"))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/auth/logout"))
            .respond_with(answer(
                401,
                r#"{"error":{"code":"anchor_revoked","message":"the anchor was revoked"}}"#,
            ))
            .mount(&server)
            .await;
        let api = DeviceApi::new(&server.uri())?;
        api.logout("at").await?;
        let e = api.logout("at").await.expect_err("revoked");
        assert!(
            matches!(&e, LoginError::TokenRefused { code: Some(ErrorCode::AnchorRevoked), message } if message == "the anchor was revoked"),
            "{e}"
        );
        Ok(())
    }

    #[test]
    fn a_grant_becomes_credentials_and_is_never_shown() {
        let grant = AnchorCredentials {
            anchor_id: "a".into(),
            access_token: "secret-at".into(),
            refresh_token: "secret-rt".into(),
            expires_in: 900,
            refresh_expires_in: 1,
            account: Some("alice".into()),
        };
        let shown = format!("{:?}", PollOutcome::Granted(grant.clone()));
        assert!(!shown.contains("secret"), "{shown}");
        let c = crate::credentials::Credentials::from_grant(grant, "http://o", 1_000);
        assert_eq!(c.access_expires_at, 901_000);
        assert_eq!(c.orbit_url, "http://o");
        assert_eq!(c.refresh_token, "secret-rt");
    }

    #[test]
    fn the_paired_line_names_the_account_and_cannot_rewrite_the_terminal() {
        let line = approved_by(Some("alice"));
        assert!(
            line.contains("\"alice\"") && line.contains("anchor logout"),
            "{line}"
        );
        let line = approved_by(Some("mallory\u{1b}[2K\rbob"));
        assert!(!line.contains('\u{1b}') && !line.contains('\r'), "{line:?}");
        assert!(approved_by(None).contains("did not say"));
        assert!(approved_by(Some(" ")).contains("did not say"));
    }
}

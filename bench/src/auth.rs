//! Local latency of the sign-in endpoints (SPEC §6: p50 ≤ 5 ms locally).
//!
//! A private Orbit is started with open registration and rate limits lifted (the limits would
//! otherwise be what is measured). Each round makes a fresh TOTP account and times every step
//! of the flows a user and an anchor go through, next to `GET /health` as the floor of an HTTP
//! round trip through `wrangler dev`.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use orbit_protocol::auth::{Credentials, DeviceAuthorization, SignedIn, TotpEnrollment};
use orbit_shared::auth::totp;
use orbit_shared::webauthn::base64url;
use orbit_shared::webauthn::test_authenticator::{Ceremony, KeyKind, TestAuthenticator};
use orbit_tests::api::{base32_decode, Answer, Client};
use orbit_tests::{unique, Orbit};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::stats::Latency;

/// The RP ID and origin the private Orbit is configured with.
const RP_ID: &str = "allowed.test";
const ORIGIN: &str = "http://allowed.test";

/// Rate limits far above what the benchmark sends, for every action.
const NO_LIMITS: &str = r#"{
  "passkey_sign_in": {"per_address": {"max": 1000000, "per_s": 1}, "per_account": {"max": 1000000, "per_s": 1}},
  "totp_sign_in": {"per_address": {"max": 1000000, "per_s": 1}, "per_account": {"max": 1000000, "per_s": 1}},
  "refresh": {"per_address": {"max": 1000000, "per_s": 1}, "per_account": {"max": 1000000, "per_s": 1}},
  "device_code_creation": {"per_address": {"max": 1000000, "per_s": 1}},
  "user_code_entry": {"per_address": {"max": 1000000, "per_s": 1}, "per_account": {"max": 1000000, "per_s": 1}}
}"#;

/// One endpoint's latency.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointLatency {
    pub endpoint: &'static str,
    pub latency: Latency,
}

/// Times one call of the shared test client.
async fn timed(
    call: impl std::future::Future<Output = Result<Answer>>,
    what: &str,
) -> Result<(Value, Duration)> {
    let start = Instant::now();
    let answer = call.await?;
    let took = start.elapsed();
    Ok((answer.ok(what)?, took))
}

/// An answer read as the protocol's type for it.
fn typed<T: DeserializeOwned>(value: Value, what: &str) -> Result<T> {
    serde_json::from_value(value).with_context(|| format!("{what}: unexpected answer"))
}

fn b64_field(value: &Value, pointer: &str) -> Result<Vec<u8>> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .and_then(base64url::decode)
        .with_context(|| format!("no base64url {pointer} in {value}"))
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Times every sign-in endpoint `rounds` times against a private Orbit.
pub async fn measure(rounds: usize) -> Result<Vec<EndpointLatency>> {
    let orbit = Orbit::start_with(&[
        ("ORBIT_OPEN_REGISTRATION", "true"),
        ("ORBIT_RP_ID", RP_ID),
        ("ORBIT_RATE_LIMITS", NO_LIMITS),
    ])?;
    let api = Client::new(&orbit);
    const NAMES: [&str; 11] = [
        "GET /health (floor)",
        "POST /auth/totp/enroll/start",
        "POST /auth/totp/enroll/verify",
        "POST /auth/totp/login",
        "GET /auth/session",
        "POST /auth/refresh",
        "POST /auth/passkey/login/options",
        "POST /auth/passkey/login/verify",
        "POST /auth/device/code",
        "POST /auth/device/token (pending)",
        "POST /auth/logout",
    ];
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); NAMES.len()];

    // One passkey account, signed in with again in every round.
    let mut passkey = TestAuthenticator::new(KeyKind::Es256, 7);
    let sign_up = json!({"name": unique("bench-pk")});
    let (options, _) = timed(
        api.post("/auth/passkey/register/options", sign_up, None),
        "options",
    )
    .await?;
    passkey.user_handle = b64_field(&options, "/publicKey/user/id")?;
    let challenge = b64_field(&options, "/publicKey/challenge")?;
    let credential = passkey.register(&Ceremony::new(RP_ID, ORIGIN, &challenge));
    let verify = json!({"challengeId": options["challengeId"], "credential": credential});
    timed(
        api.post("/auth/passkey/register/verify", verify, None),
        "passkey sign-up",
    )
    .await?;

    for round in 0..rounds {
        let health = api.call(reqwest::Method::GET, "/health", None, None);
        let (_, t) = timed(health, "health").await?;
        samples[0].push(t);

        let name = unique("bench");
        let start = json!({"name": name});
        let (enrolment, t) =
            timed(api.post("/auth/totp/enroll/start", start, None), "enrol").await?;
        samples[1].push(t);
        let enrolment: TotpEnrollment = typed(enrolment, "enrol")?;
        let secret = totp_secret(&enrolment.secret)?;
        let code = totp::generate(&secret, now_s());
        let confirm = json!({"enrollmentId": enrolment.enrollment_id, "code": code});
        let (_, t) = timed(
            api.post("/auth/totp/enroll/verify", confirm, None),
            "confirm",
        )
        .await?;
        samples[2].push(t);
        // The enrolment spent this step's code; the next step's is inside the ±1 window.
        let code = totp::generate(&secret, now_s() + 30);
        let login = json!({"name": name, "code": code});
        let (session, t) = timed(api.post("/auth/totp/login", login, None), "TOTP sign-in").await?;
        samples[3].push(t);
        let session: SignedIn = typed(session, "TOTP sign-in")?;
        let access = session.credentials.access_token.clone();
        let (_, t) = timed(api.get("/auth/session", &access), "session").await?;
        samples[4].push(t);
        let refresh = json!({"refreshToken": session.credentials.refresh_token});
        let (refreshed, t) = timed(api.post("/auth/refresh", refresh, None), "refresh").await?;
        samples[5].push(t);

        let options = api.post("/auth/passkey/login/options", json!({}), None);
        let (options, t) = timed(options, "passkey options").await?;
        samples[6].push(t);
        let challenge = b64_field(&options, "/publicKey/challenge")?;
        let mut ceremony = Ceremony::new(RP_ID, ORIGIN, &challenge);
        ceremony.counter = u32::try_from(round + 1).unwrap_or(u32::MAX);
        let assertion =
            json!({"challengeId": options["challengeId"], "credential": passkey.assert(&ceremony)});
        let verify = api.post("/auth/passkey/login/verify", assertion, None);
        let (_, t) = timed(verify, "passkey sign-in").await?;
        samples[7].push(t);

        let code = api.post("/auth/device/code", json!({"name": "bench"}), None);
        let (grant, t) = timed(code, "device code").await?;
        samples[8].push(t);
        let grant: DeviceAuthorization = typed(grant, "device code")?;
        let poll = json!({"deviceCode": grant.device_code});
        let start = Instant::now();
        let pending = api.post("/auth/device/token", poll, None).await?;
        samples[9].push(start.elapsed());
        pending.rfc_error("authorization_pending", "device token poll")?;

        let refreshed: Credentials = typed(refreshed, "refresh")?;
        let logout = api.post("/auth/logout", json!({}), Some(&refreshed.access_token));
        let (_, t) = timed(logout, "logout").await?;
        samples[10].push(t);
    }
    Ok(NAMES
        .iter()
        .zip(samples.iter())
        .map(|(endpoint, s)| EndpointLatency {
            endpoint,
            latency: Latency::of(s),
        })
        .collect())
}

fn totp_secret(base32: &str) -> Result<totp::TotpSecret> {
    let bytes = base32_decode(base32).context("the enrolment's secret is not base32")?;
    totp::TotpSecret::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("{e}"))
}

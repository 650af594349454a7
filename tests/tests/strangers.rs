//! What a stranger can do to Orbit without an account (issue 13, items 7 and 8;
//! docs/security.md), end to end over HTTP against the real Worker under workerd:
//!
//! * pick its own rate-limit bucket by sending address headers. On self-hosted workerd the
//!   Worker trusts only the configured source (`ORBIT_CLIENT_ADDRESS`): workerd's peer address
//!   (`peer`) or a trusted proxy's header (`header:<Name>`), never `CF-Connecting-IP` or an
//!   `X-Forwarded-For` entry the client wrote, and a missing address is one shared bucket;
//! * grow D1 without bound: challenge rows, refused requests' security events, device-token
//!   polls and step-up refusals are all limited per address or account, and challenges are
//!   deleted once past their retention.
//!
//! Miniflare (the harness) replaces workerd's `request.cf`, so under it `peer` has no address
//! to read and every request lands in the shared bucket: exactly the fail-closed case the peer
//! test checks.
//! Each limit here refills slowly (one slot per minutes), so no test depends on how fast the
//! machine sends its requests.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use orbit_tests::api::{Answer, Client};
use orbit_tests::orbit_shared::auth::device_code::device_code;
use orbit_tests::{dev, now_ms, unique, NewSession, Orbit, SharedOrbit};
use serde_json::{json, Value};

static PEER: SharedOrbit = OnceLock::new();
static PROXY: SharedOrbit = OnceLock::new();

/// Attempts per address before the limits below refuse (each refills one slot per 200 s).
const BURST: u64 = 3;

/// Passkey challenges one address may have issued before it is refused (one more per 30 s).
const CHALLENGE_BURST: u64 = 20;

/// Life of a challenge on the proxy Orbit (seconds); it is deleted once as long again passed.
const CHALLENGE_LIFE_S: u64 = 2;

const LIMITS: &str = r#"{
    "totp_sign_in": {"per_address": {"max": 3, "per_s": 600}, "per_account": null},
    "challenge_issue": {"per_address": {"max": 20, "per_s": 600}, "per_account": null},
    "device_token_poll": {"per_address": {"max": 3, "per_s": 600}, "per_account": null},
    "step_up_refusal": {"per_address": null, "per_account": {"max": 3, "per_s": 600}},
    "refusal_event": {"per_address": {"max": 3, "per_s": 600}, "per_account": null}
}"#;

/// Self-hosted workerd with nothing in front: the peer address is the only truth.
fn peer() -> Result<&'static Orbit> {
    Orbit::shared_in(
        &PEER,
        &[
            ("ORBIT_CLIENT_ADDRESS", "peer"),
            ("ORBIT_RATE_LIMITS", LIMITS),
        ],
    )
}

/// Self-hosted workerd behind a reverse proxy that appends the client's address to
/// `X-Forwarded-For`.
fn proxy() -> Result<&'static Orbit> {
    Orbit::shared_in(
        &PROXY,
        &[
            ("ORBIT_CLIENT_ADDRESS", "header:X-Forwarded-For"),
            ("ORBIT_RATE_LIMITS", LIMITS),
            (
                "ORBIT_PASSKEY_CHALLENGE_LIFETIME",
                &CHALLENGE_LIFE_S.to_string(),
            ),
            ("ORBIT_RP_ID", "localhost"),
            ("ORBIT_ALLOWED_ORIGINS", "http://localhost"),
        ],
    )
}

/// A client whose every request claims another address in every header a client can write.
/// `proxy_entry` is what the trusted proxy appends to `X-Forwarded-For` (none: no proxy).
fn spoofing(api: &Client, i: u64, proxy_entry: Option<&str>) -> Client {
    let claimed = format!("203.0.113.{}", i % 250 + 1);
    let forwarded = match proxy_entry {
        Some(entry) => format!("{claimed}, 198.51.100.{}, {entry}", i % 250 + 1),
        None => claimed.clone(),
    };
    api.with_header("CF-Connecting-IP", &claimed)
        .with_header("X-Real-IP", &claimed)
        .with_header("X-Forwarded-For", &forwarded)
        .with_header("True-Client-IP", &claimed)
}

/// One TOTP sign-in attempt at a fresh, unknown account (so only the address limit applies).
async fn sign_in_attempt(api: &Client) -> Result<Answer> {
    api.post(
        "/auth/totp/login",
        json!({ "name": unique("nobody"), "code": "000000" }),
        None,
    )
    .await
}

/// Makes `BURST` attempts that must be let through to the code check (401), then one that must
/// be refused by the rate limit (429 with Retry-After), each through `client(i)`.
async fn burst_then_limited(client: impl Fn(u64) -> Client, what: &str) -> Result<()> {
    for i in 0..BURST {
        let answer = sign_in_attempt(&client(i)).await?;
        answer.refused(401, "invalid_code", &format!("{what}: attempt {}", i + 1))?;
    }
    sign_in_attempt(&client(BURST)).await?.limited(&format!(
        "{what}: attempt {} from a new claimed address",
        BURST + 1
    ))?;
    Ok(())
}

async fn rows(orbit: &Orbit, query: &str) -> Result<Value> {
    let url = format!("{}/__dev/rows{query}", orbit.base_url());
    let answer = tokio::time::timeout(Duration::from_secs(15), reqwest::get(&url))
        .await
        .map_err(|_| anyhow!("GET /__dev/rows took over 15 s"))??;
    Ok(answer.error_for_status()?.json().await?)
}

fn count(rows: &Value, name: &str) -> Result<u64> {
    rows[name]
        .as_u64()
        .ok_or_else(|| anyhow!("no count {name} in {rows}"))
}

/// Polls `check` every 300 ms until it holds or `deadline` passes (then fails with `what`).
async fn eventually<F, Fut>(deadline: Duration, what: &str, mut check: F) -> Result<Value>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<Value>>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if start.elapsed() > deadline {
            bail!("{what}: not within {} s", deadline.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The client address (item 7)

/// Self-hosted workerd, no proxy: a client that claims a different address in
/// `CF-Connecting-IP`, `X-Forwarded-For`, `X-Real-IP` and `True-Client-IP` on every sign-in
/// attempt is still counted as one client (workerd's peer; here the shared bucket, as
/// Miniflare hides the peer).
#[tokio::test]
async fn spoofed_address_headers_cannot_pick_a_fresh_rate_limit_bucket_on_self_hosted_workerd(
) -> Result<()> {
    let orbit = peer()?;
    let api = Client::new(orbit);
    burst_then_limited(|i| spoofing(&api, i, None), "rotating spoofed headers").await
}

/// Behind a trusted proxy: only the entry the proxy appended to `X-Forwarded-For` (the
/// right-most) counts. Entries the client wrote and `CF-Connecting-IP` change nothing; another
/// real address has its own bucket; a request without the header shares the "unknown" bucket
/// rather than getting a fresh one.
#[tokio::test]
async fn behind_a_trusted_proxy_only_the_proxys_forwarded_entry_picks_the_bucket() -> Result<()> {
    let orbit = proxy()?;
    let api = Client::new(orbit);
    burst_then_limited(
        |i| spoofing(&api, i, Some("192.0.2.7")),
        "one real address behind the proxy",
    )
    .await?;
    // Another real address (IPv6, another /64) is not held back by the first one's limit.
    sign_in_attempt(&spoofing(&api, 0, Some("2001:db8:77:1::5")))
        .await?
        .refused(401, "invalid_code", "another real address")?;
    // The same /64 is the same client.
    for i in 1..BURST {
        let entry = format!("2001:db8:77:1::{}", i + 5);
        sign_in_attempt(&spoofing(&api, i, Some(&entry)))
            .await?
            .refused(401, "invalid_code", "the same /64")?;
    }
    sign_in_attempt(&spoofing(&api, BURST, Some("2001:db8:77:1:ffff::1")))
        .await?
        .limited("a new address in the same /64")?;
    // No proxy entry at all (a request that bypassed the proxy, or a malformed one).
    burst_then_limited(
        |i| {
            let claimed = format!("203.0.113.{}", i + 1);
            api.with_header("CF-Connecting-IP", &claimed)
                .with_header("X-Forwarded-For", if i % 2 == 0 { "" } else { "not-an-ip" })
        },
        "requests without a usable proxy entry",
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Rows written by strangers (item 8)

/// A flood of passkey sign-in options from one address (each would store a challenge row)
/// stores at most the burst, is answered 429 with `Retry-After` past it, stores only a few of
/// the refusals' security events, and the rows it left are deleted once past their retention
/// (a challenge's life again).
#[tokio::test]
async fn a_flood_of_challenge_requests_from_one_address_leaves_bounded_rows_that_expire(
) -> Result<()> {
    const FLOOD: u64 = 300;
    let orbit = proxy()?;
    let api = Client::new(orbit);
    let address = "192.0.2.50";
    let start = Instant::now();
    let mut issued = 0;
    for i in 0..FLOOD {
        let answer = spoofing(&api, i, Some(address))
            .post("/auth/passkey/login/options", json!({}), None)
            .await?;
        if answer.status == 200 {
            issued += 1;
        } else {
            answer.limited(&format!("challenge request {}", i + 1))?;
        }
    }
    let flood_end = now_ms();
    // A slot comes back every 30 s (600 s / 20).
    let bound = CHALLENGE_BURST + start.elapsed().as_secs() / 30 + 1;
    assert!(
        (CHALLENGE_BURST..=bound).contains(&issued),
        "{issued} of {FLOOD} challenges issued; the limit allows {CHALLENGE_BURST} to {bound}"
    );
    let after = rows(orbit, &format!("?before={flood_end}")).await?;
    let stored = count(&after, "passkeyChallengesBefore")?;
    assert!(
        stored <= issued,
        "{stored} challenge rows stored for {issued} issued: {after}"
    );
    // The refusals are logged, but only a few are stored (refusal_event: 3 per 10 minutes).
    let events = eventually(
        Duration::from_secs(10),
        "a refusal's event stored",
        || async move {
            let now = rows(orbit, &format!("?address={address}")).await?;
            Ok((count(&now, "securityEventsOfAddress")? >= 1).then_some(now))
        },
    )
    .await?;
    // Past their life and retention, a later issue (from elsewhere) deletes the flood's rows.
    let elsewhere = spoofing(&api, 0, Some("192.0.2.51"));
    eventually(
        Duration::from_secs(20),
        "the flood's challenge rows deleted",
        || {
            let elsewhere = elsewhere.clone();
            async move {
                elsewhere
                    .post("/auth/passkey/login/options", json!({}), None)
                    .await?
                    .ok("a challenge from another address")?;
                let now = rows(orbit, &format!("?before={flood_end}")).await?;
                Ok((count(&now, "passkeyChallengesBefore")? == 0).then_some(now))
            }
        },
    )
    .await?;
    let stored_events = count(
        &rows(orbit, &format!("?address={address}")).await?,
        "securityEventsOfAddress",
    )?;
    assert!(
        stored_events <= BURST + 1,
        "{stored_events} security events stored for {} refusals (first seen: {events})",
        FLOOD - issued
    );
    Ok(())
}

/// Sign-up starts by TOTP (each stores a sealed enrolment row; open to strangers while the
/// first account is not made yet, or with open registration) count against the same
/// challenge-issue limit: a flood from one address stores at most the burst.
#[tokio::test]
async fn a_flood_of_sign_up_starts_from_one_address_leaves_bounded_enrolment_rows() -> Result<()> {
    const FLOOD: u64 = 40;
    let orbit = proxy()?;
    let api = Client::new(orbit);
    let start = Instant::now();
    let mut started = 0;
    for i in 0..FLOOD {
        let answer = spoofing(&api, i, Some("192.0.2.80"))
            .post(
                "/auth/totp/enroll/start",
                json!({ "name": unique("flood") }),
                None,
            )
            .await?;
        if answer.status == 201 {
            started += 1;
        } else {
            answer.limited(&format!("sign-up start {}", i + 1))?;
        }
    }
    let bound = CHALLENGE_BURST + start.elapsed().as_secs() / 30 + 1;
    assert!(
        (CHALLENGE_BURST..=bound).contains(&started),
        "{started} of {FLOOD} sign-ups started; the limit allows {CHALLENGE_BURST} to {bound}"
    );
    let stored = count(&rows(orbit, "").await?, "totp_enrollments")?;
    assert!(
        stored <= started,
        "{stored} enrolment rows for {started} started"
    );
    Ok(())
}

/// A poller hammering `POST /auth/device/token` (with device codes it made up, each a D1
/// lookup) hears RFC 8628's `slow_down`, with `Retry-After`, once past the per-address limit.
#[tokio::test]
async fn hammering_the_device_token_endpoint_is_told_to_slow_down() -> Result<()> {
    let orbit = proxy()?;
    let api = Client::new(orbit);
    let poll = |i: u64| {
        let code = device_code(rand::random());
        let client = spoofing(&api, i, Some("192.0.2.60"));
        async move {
            client
                .post("/auth/device/token", json!({ "deviceCode": code }), None)
                .await
        }
    };
    for i in 0..BURST {
        poll(i)
            .await?
            .rfc_error("invalid_grant", "an unknown device code")?;
    }
    let answer = poll(BURST).await?;
    answer.rfc_error("slow_down", "a poll past the limit")?;
    let retry = answer
        .retry_after
        .ok_or_else(|| anyhow!("slow_down without Retry-After"))?;
    assert!(retry >= 1, "Retry-After {retry}");
    Ok(())
}

/// A stolen (or stale) access token retrying a sensitive change gets `step_up_required` a few
/// times, then 429: each refusal stores a security event, and those stay bounded per account.
#[tokio::test]
async fn retried_step_up_refusals_are_rate_limited_per_account() -> Result<()> {
    let orbit = proxy()?;
    // A session whose proof is forgotten: every sensitive change needs a step-up.
    let session = dev::session(&orbit.base_url(), &NewSession::default()).await?;
    let token = session.access_token.clone();
    reqwest::Client::new()
        .post(format!("{}/__dev/stale", orbit.base_url()))
        .json(&json!({ "sessionId": session.session_id }))
        .timeout(Duration::from_secs(15))
        .send()
        .await?
        .error_for_status()?;
    // From a different address each time: the limit is the account's.
    for i in 0..BURST {
        let api = spoofing(&Client::new(orbit), i, Some(&format!("192.0.2.{}", 70 + i)));
        api.post("/auth/invites", json!({}), Some(&token))
            .await?
            .refused(403, "step_up_required", "an invite from a stale session")?;
    }
    let api = spoofing(&Client::new(orbit), BURST, Some("192.0.2.99"));
    api.post("/auth/invites", json!({}), Some(&token))
        .await?
        .limited("one refusal too many")?;
    let events = eventually(
        Duration::from_secs(10),
        "the refusals' events stored",
        || {
            let (api, token) = (api.clone(), token.clone());
            async move {
                let events = api
                    .get("/auth/security-events", &token)
                    .await?
                    .ok("security events")?;
                let refusals = events["events"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|e| e["kind"] == "step_up_required")
                    .count();
                Ok((refusals as u64 >= BURST).then_some(json!(refusals)))
            }
        },
    )
    .await?;
    assert_eq!(
        events,
        json!(BURST),
        "one event per refusal, none past the limit"
    );
    Ok(())
}

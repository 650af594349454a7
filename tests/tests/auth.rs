//! Authentication end to end (SPEC §2): TOTP accounts, sessions and refresh rotation, invites,
//! the device-code flow, anchors, rate limits — over HTTP against the real Worker under workerd.
//! Each test is named after the threat it defends against.
//!
//! Three Orbits serve this binary:
//! * `open()` — registration open, default rate limits; most tests. Each test presents its own
//!   client address (`CF-Connecting-IP`, which local workerd keeps when the client sets it), so
//!   per-address limits never couple tests. Its refresh grace window is 3 s instead of 30
//!   (`ORBIT_REFRESH_REUSE_GRACE`), so tests can step past it, and its hubs re-check their
//!   sockets' credentials every second instead of every 10 (`ORBIT_REVOCATION_RECHECK`);
//! * `tight()` — tiny rate-limit windows and 2-second device codes, to see limits trip and
//!   recover and codes expire without long sleeps;
//! * a private fresh one with registration closed, for bootstrap and invites.

use orbit_tests::orbit_protocol::auth::{AnchorCredentials, Credentials};
use orbit_tests::orbit_protocol::dev::DevSession;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{anyhow, bail, ensure, Result};
use orbit_tests::api::{base32_decode, expect_revoked_close, Answer, Client, Web};
use orbit_tests::orbit_shared::auth::totp::{generate, TotpSecret};
use orbit_tests::{
    anchor_hello, now_secs, random_hex, thread_note, unique, Orbit, Session, SharedOrbit, Upgrade,
};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Instances

static OPEN: SharedOrbit = OnceLock::new();
static TIGHT: SharedOrbit = OnceLock::new();

fn open() -> Result<&'static Orbit> {
    Orbit::shared_in(
        &OPEN,
        &[
            ("ORBIT_OPEN_REGISTRATION", "true"),
            ("ORBIT_REFRESH_REUSE_GRACE", &GRACE_S.to_string()),
            ("ORBIT_REVOCATION_RECHECK", "1"),
        ],
    )
}

/// `open()`'s refresh grace window, in seconds (the default is 30).
const GRACE_S: u64 = 3;

/// Waits until a refresh made before the call is out of `open()`'s grace window (which counts
/// whole seconds: a retry up to `GRACE_S` seconds of the clock after the spend is inside).
async fn past_the_grace_window() {
    tokio::time::sleep(Duration::from_millis(GRACE_S * 1000 + 1_500)).await;
}

/// Waits until `open()`'s hubs are due to re-check their sockets' credentials (every second).
async fn past_a_revocation_recheck() {
    tokio::time::sleep(Duration::from_millis(1_500)).await;
}

/// Limits small enough to trip in a test and windows short enough to recover in a second or
/// two: 3 TOTP sign-ins per account per 3 s (one per second steady), 4 per address per 4 s, etc.
const TIGHT_LIMITS: &str = r#"{
    "totp_sign_in": {"per_address": {"max": 4, "per_s": 4}, "per_account": {"max": 3, "per_s": 3}},
    "refresh": {"per_address": {"max": 3, "per_s": 3}, "per_account": {"max": 100, "per_s": 60}},
    "device_code_creation": {"per_address": {"max": 2, "per_s": 2}, "per_account": null},
    "user_code_entry": {"per_address": {"max": 100, "per_s": 60}, "per_account": {"max": 3, "per_s": 3}}
}"#;

fn tight() -> Result<&'static Orbit> {
    Orbit::shared_in(
        &TIGHT,
        &[
            ("ORBIT_OPEN_REGISTRATION", "true"),
            ("ORBIT_RATE_LIMITS", TIGHT_LIMITS),
            ("ORBIT_DEVICE_CODE_LIFETIME", "2"),
        ],
    )
}

// ---------------------------------------------------------------------------------------------
// Accounts and sessions

/// A new account with TOTP: its name, secret, and the session sign-up opened.
struct Account {
    name: String,
    secret: TotpSecret,
    web: Web,
    /// The code that confirmed enrolment (spent from then on).
    enrolment_code: String,
}

impl Account {
    /// A code `steps` steps after now (a code is accepted at most once, so each sign-in within
    /// one 30 s step needs the next step's code; ±1 step is accepted).
    fn code(&self, steps: u64) -> String {
        generate(&self.secret, now_secs() + 30 * steps)
    }
}

/// Starts a sign-up; returns the answer.
async fn start_sign_up(api: &Client, name: &str, invite: Option<&str>) -> Result<Answer> {
    let mut body = json!({ "name": name });
    if let Some(invite) = invite {
        body["invite"] = invite.into();
    }
    api.post("/auth/totp/enroll/start", body, None).await
}

fn secret_of(start: &Value) -> Result<TotpSecret> {
    let secret = start["secret"]
        .as_str()
        .ok_or_else(|| anyhow!("no secret in {start}"))?;
    let uri = start["uri"].as_str().unwrap_or_default();
    if !uri.starts_with("otpauth://totp/Orbit:") || !uri.contains(&format!("secret={secret}")) {
        bail!("enrolment URI {uri} does not carry the secret");
    }
    TotpSecret::from_bytes(&base32_decode(secret)?).map_err(|e| anyhow!("bad secret: {e}"))
}

/// Confirms a started sign-up with the current code.
async fn finish_sign_up(api: &Client, name: &str, start: &Value) -> Result<Account> {
    let secret = secret_of(start)?;
    let enrolment_code = generate(&secret, now_secs());
    let body = api
        .post(
            "/auth/totp/enroll/verify",
            json!({"enrollmentId": start["enrollmentId"], "code": enrolment_code}),
            None,
        )
        .await?
        .ok("sign-up confirmation")?;
    if body["name"] != name {
        bail!("signed up as {}, expected {name}", body["name"]);
    }
    Ok(Account {
        name: name.to_string(),
        secret,
        web: Web::from_answer(&body)?,
        enrolment_code,
    })
}

/// A new account through the whole TOTP sign-up.
async fn sign_up(api: &Client) -> Result<Account> {
    let name = unique("user");
    let start = start_sign_up(api, &name, None).await?.ok("sign-up start")?;
    finish_sign_up(api, &name, &start).await
}

async fn login(api: &Client, account: &Account, code: &str) -> Result<Answer> {
    api.post(
        "/auth/totp/login",
        json!({"name": account.name, "code": code}),
        None,
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Device flow

struct Pairing {
    device_code: String,
    user_code: String,
}

async fn device_code(api: &Client, name: &str) -> Result<Pairing> {
    let v = api
        .post(
            "/auth/device/code",
            json!({"name": name, "hostname": format!("{name}.host"), "platform": "linux"}),
            None,
        )
        .await?
        .ok("device code")?;
    Ok(Pairing {
        device_code: v["deviceCode"].as_str().unwrap_or_default().to_string(),
        user_code: v["userCode"].as_str().unwrap_or_default().to_string(),
    })
}

/// An anchor's credentials.
#[derive(Debug, Clone)]
struct AnchorCreds {
    anchor_id: String,
    access: String,
    refresh: String,
}

impl AnchorCreds {
    fn from_answer(v: &Value) -> Result<AnchorCreds> {
        let creds: AnchorCredentials = serde_json::from_value(v.clone())?;
        Ok(AnchorCreds {
            anchor_id: creds.anchor_id,
            access: creds.access_token,
            refresh: creds.refresh_token,
        })
    }

    fn socket_session(&self, user_id: &str) -> Session {
        Session(DevSession {
            user_id: user_id.to_string(),
            session_id: String::new(),
            anchor_id: Some(self.anchor_id.clone()),
            access_token: self.access.clone(),
        })
    }
}

/// Pairs a new anchor with `owner` through the whole device flow.
async fn pair(api: &Client, owner: &Web, name: &str) -> Result<AnchorCreds> {
    let pairing = device_code(api, name).await?;
    api.post(
        "/auth/device/authorise",
        json!({"userCode": pairing.user_code, "approve": true}),
        Some(&owner.access),
    )
    .await?
    .ok("approval")?;
    let v = api
        .post(
            "/auth/device/token",
            json!({"deviceCode": pairing.device_code}),
            None,
        )
        .await?
        .ok("token after approval")?;
    AnchorCreds::from_answer(&v)
}

// =============================================================================================
// Sessions and refresh

/// A copied refresh token (stolen from storage or a log) used after the legitimate client
/// rotated it (past the grace window): the whole session is revoked and its open socket closed,
/// so neither copy works.
/// The full journey: sign-up → sign-in → refresh → reuse → logout.
#[tokio::test]
async fn stolen_refresh_token_replayed_after_rotation_revokes_the_session_and_closes_its_socket(
) -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let account = sign_up(&api).await?;

    // Sign-up opened a session that works.
    let me = api
        .get("/auth/session", &account.web.access)
        .await?
        .ok("whoami")?;
    assert_eq!(me["userId"], account.web.user_id.as_str());
    assert_eq!(me["name"], account.name.as_str());
    assert_eq!(me["methods"]["totp"], true);

    // Sign in again (a second device).
    let second = Web::from_answer(&login(&api, &account, &account.code(1)).await?.ok("login")?)?;
    assert_ne!(second.session_id, account.web.session_id);
    assert_eq!(second.user_id, account.web.user_id);

    // Refresh rotates: a new pair, same session.
    let rotated = api
        .post(
            "/auth/refresh",
            json!({"refreshToken": second.refresh}),
            None,
        )
        .await?
        .ok("refresh")?;
    let rotated: Credentials = serde_json::from_value(rotated)?;
    assert_eq!(rotated.session_id, second.session_id);
    assert_eq!(rotated.expires_in, 900);
    let rotated_refresh = rotated.refresh_token;
    let rotated_access = rotated.access_token;
    assert_ne!(rotated_refresh, second.refresh);

    // The second device has a socket open with its fresh access token.
    let socket_session = Session(DevSession {
        access_token: rotated_access.clone(),
        ..second.socket_session().0
    });
    let (mut ws, _, _) = orbit.client(&socket_session).await?;

    // Later (past the grace window that covers a lost answer), the thief replays the old
    // refresh token: refused, and the session is gone.
    past_the_grace_window().await;
    let attacker = api.elsewhere();
    attacker
        .post(
            "/auth/refresh",
            json!({"refreshToken": second.refresh}),
            None,
        )
        .await?
        .refused(401, "refresh_reused", "replayed refresh token")?;
    expect_revoked_close(
        &mut ws,
        "socket of the session whose refresh token was reused",
    )
    .await?;
    api.post(
        "/auth/refresh",
        json!({"refreshToken": rotated_refresh}),
        None,
    )
    .await?
    .refused(401, "session_revoked", "the legitimate copy after reuse")?;
    api.get("/auth/session", &rotated_access).await?.refused(
        401,
        "session_revoked",
        "access token of the revoked session",
    )?;
    let (status, body) = orbit
        .upgrade_status(&Upgrade::client().query_token(&rotated_access))
        .await?;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (401, json!("session_revoked"))
    );

    // The security log saw it, with no secret in it.
    let events = api
        .get("/auth/security-events", &account.web.access)
        .await?
        .ok("events")?;
    let text = events.to_string();
    for kind in ["account_created", "sign_in", "refresh_reuse"] {
        assert!(text.contains(kind), "no {kind} event in {text}");
    }
    for secret in [
        &second.refresh,
        &rotated_refresh,
        &account.web.refresh,
        &rotated_access,
    ] {
        assert!(
            !text.contains(secret.as_str()),
            "a token leaked into the security log"
        );
    }

    // The first session is untouched; logging it out revokes it and closes its socket.
    let (mut first_ws, _, _) = orbit.client(&account.web.socket_session()).await?;
    let out = api
        .post("/auth/logout", json!({}), Some(&account.web.access))
        .await?
        .ok("logout")?;
    assert_eq!(out["revoked"], true);
    expect_revoked_close(&mut first_ws, "socket of the logged-out session").await?;
    api.get("/auth/session", &account.web.access)
        .await?
        .refused(401, "session_revoked", "after logout")?;
    api.post(
        "/auth/refresh",
        json!({"refreshToken": account.web.refresh}),
        None,
    )
    .await?
    .refused(401, "session_revoked", "refresh after logout")?;
    Ok(())
}

/// Two tabs (or a thief and the owner) refreshing with one token at the same moment cannot fork
/// the session into two live chains: one request spends the token, and the other, losing the
/// spend, gets the very same successor (the grace window's answer); once that successor is used,
/// the first token coming back is reuse.
#[tokio::test]
async fn concurrent_refreshes_with_one_token_cannot_fork_the_session() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let account = sign_up(&api).await?;
    let body = json!({"refreshToken": account.web.refresh});
    let (a, b) = tokio::join!(
        api.post("/auth/refresh", body.clone(), None),
        api.post("/auth/refresh", body.clone(), None)
    );
    let (a, b) = (a?.ok("one refresh")?, b?.ok("the other refresh")?);
    assert_eq!(
        a["refreshToken"], b["refreshToken"],
        "both requests get the one successor"
    );
    let next = a["refreshToken"].as_str().unwrap_or_default().to_string();
    // One chain: the successor rotates once, and then the first token is a copy.
    api.post("/auth/refresh", json!({"refreshToken": next}), None)
        .await?
        .ok("the successor's refresh")?;
    api.post("/auth/refresh", body, None).await?.refused(
        401,
        "refresh_reused",
        "the raced token after its successor was used",
    )?;
    api.get("/auth/session", &account.web.access)
        .await?
        .refused(401, "session_revoked", "after the reuse")?;
    Ok(())
}

/// A refresh whose answer is lost (the connection dropped after Orbit committed the rotation)
/// is retried with the same, now spent, token within the grace window: the client gets the very
/// refresh token it missed (and a working access token), the session stays alive with its
/// socket open, the chain goes on, and nothing is logged as reuse.
#[tokio::test]
async fn lost_refresh_answer_retried_within_the_grace_window_gets_the_same_token_and_keeps_the_session(
) -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let account = sign_up(&api).await?;
    let (mut ws, _, _) = orbit.client(&account.web.socket_session()).await?;
    let body = json!({"refreshToken": account.web.refresh});
    let lost: Credentials = serde_json::from_value(
        api.post("/auth/refresh", body.clone(), None)
            .await?
            .ok("the refresh whose answer is lost")?,
    )?;
    let retried: Credentials = serde_json::from_value(
        api.post("/auth/refresh", body.clone(), None)
            .await?
            .ok("the retry with the spent token")?,
    )?;
    assert_eq!(retried.session_id, account.web.session_id);
    assert_eq!(
        retried.refresh_token, lost.refresh_token,
        "the retry gets the refresh token whose answer was lost"
    );
    assert!(retried.refresh_expires_in > 0);
    let me = api
        .get("/auth/session", &retried.access_token)
        .await?
        .ok("the retried access token")?;
    assert_eq!(me["sessionId"], account.web.session_id.as_str());
    // A third try is still inside the window and still answers the same token.
    let again = api
        .post("/auth/refresh", body, None)
        .await?
        .ok("another retry")?;
    assert_eq!(again["refreshToken"], lost.refresh_token.as_str());
    // The socket is still open, and the chain goes on from the recovered token.
    ws.barrier().await?;
    let next: Credentials = serde_json::from_value(
        api.post(
            "/auth/refresh",
            json!({"refreshToken": retried.refresh_token}),
            None,
        )
        .await?
        .ok("refreshing with the recovered token")?,
    )?;
    assert_ne!(next.refresh_token, retried.refresh_token);
    api.get("/auth/session", &next.access_token)
        .await?
        .ok("the session after the retries")?;
    let events = api
        .get("/auth/security-events", &next.access_token)
        .await?
        .ok("events")?
        .to_string();
    assert!(
        !events.contains("refresh_reuse"),
        "a retry is not reuse: {events}"
    );
    Ok(())
}

/// The same retry after the grace window is reuse as SPEC §2 defines it: a spent token showing
/// up that late is a copy, and the whole session is revoked.
#[tokio::test]
async fn lost_refresh_answer_retried_after_the_grace_window_is_reuse_and_revokes_the_session(
) -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let account = sign_up(&api).await?;
    let body = json!({"refreshToken": account.web.refresh});
    let lost: Credentials = serde_json::from_value(
        api.post("/auth/refresh", body.clone(), None)
            .await?
            .ok("the refresh whose answer is lost")?,
    )?;
    past_the_grace_window().await;
    api.post("/auth/refresh", body, None).await?.refused(
        401,
        "refresh_reused",
        "the spent token after the window",
    )?;
    api.post(
        "/auth/refresh",
        json!({"refreshToken": lost.refresh_token}),
        None,
    )
    .await?
    .refused(401, "session_revoked", "the successor after the reuse")?;
    api.get("/auth/session", &lost.access_token)
        .await?
        .refused(401, "session_revoked", "the session after the reuse")?;
    Ok(())
}

/// Inside the grace window, a spent token whose successor has itself been used is not a lost
/// answer but a copy (the holder of the successor went on): reuse, the session is revoked and its
/// socket closed.
#[tokio::test]
async fn spent_refresh_token_replayed_after_its_successor_was_used_revokes_even_within_the_grace_window(
) -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let account = sign_up(&api).await?;
    let body = json!({"refreshToken": account.web.refresh});
    let first: Credentials = serde_json::from_value(
        api.post("/auth/refresh", body.clone(), None)
            .await?
            .ok("the first refresh")?,
    )?;
    let second: Credentials = serde_json::from_value(
        api.post(
            "/auth/refresh",
            json!({"refreshToken": first.refresh_token}),
            None,
        )
        .await?
        .ok("the successor's refresh")?,
    )?;
    let (mut ws, _, _) = orbit
        .client(&Session(DevSession {
            access_token: second.access_token.clone(),
            ..account.web.socket_session().0
        }))
        .await?;
    api.elsewhere()
        .post("/auth/refresh", body, None)
        .await?
        .refused(
            401,
            "refresh_reused",
            "the first token after its successor was used",
        )?;
    expect_revoked_close(&mut ws, "the socket of the session whose token was copied").await?;
    api.post(
        "/auth/refresh",
        json!({"refreshToken": second.refresh_token}),
        None,
    )
    .await?
    .refused(401, "session_revoked", "the newest token after the reuse")?;
    Ok(())
}

/// Garbage, forged or cross-kind refresh tokens learn nothing and change nothing.
#[tokio::test]
async fn forged_or_misdirected_refresh_tokens_are_refused() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let account = sign_up(&api).await?;
    api.post("/auth/refresh", json!({"refreshToken": "nonsense"}), None)
        .await?
        .refused(401, "refresh_malformed", "garbage")?;
    api.post("/auth/refresh", json!({}), None).await?.refused(
        401,
        "refresh_malformed",
        "missing",
    )?;
    let forged = format!("ort_{}", "A".repeat(43));
    api.post("/auth/refresh", json!({"refreshToken": forged}), None)
        .await?
        .refused(401, "refresh_unknown", "well-formed but never issued")?;
    // A web refresh token at the anchor endpoint.
    api.post(
        "/auth/device/refresh",
        json!({"refreshToken": account.web.refresh}),
        None,
    )
    .await?
    .refused(401, "refresh_malformed", "web token at the anchor endpoint")?;
    // None of this hurt the real session.
    api.post(
        "/auth/refresh",
        json!({"refreshToken": account.web.refresh}),
        None,
    )
    .await?
    .ok("the real refresh still works")?;
    Ok(())
}

/// Authenticated calls need a live web session: no token, a forged one, an anchor token, or a
/// revoked session are refused with the gate's codes.
#[tokio::test]
async fn authenticated_calls_without_a_live_web_session_are_refused() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let answer = api
        .call(reqwest::Method::GET, "/auth/session", None, None)
        .await?;
    answer.refused(401, "token_missing", "no token")?;
    api.get("/auth/sessions", "not.a.jwt").await?.refused(
        401,
        "token_malformed",
        "garbage token",
    )?;
    let account = sign_up(&api).await?;
    let anchor = pair(&api, &account.web, &unique("box")).await?;
    api.get("/auth/anchors", &anchor.access).await?.refused(
        401,
        "token_wrong_audience",
        "anchor token on a web endpoint",
    )?;
    // Another user's session id in a token signed with the wrong key.
    let forged = orbit_tests::orbit_shared::token::issue(
        &orbit_tests::orbit_shared::token::Claims::web(
            &account.web.user_id,
            &account.web.session_id,
            now_secs(),
            900,
        ),
        b"not-the-key-not-the-key-not-the-key",
    )
    .map_err(|e| anyhow!("{e}"))?;
    api.get("/auth/session", &forged)
        .await?
        .refused(401, "token_bad_signature", "forged token")?;
    Ok(())
}

/// A user can see and revoke their own sessions (closing their sockets), but cannot touch
/// another user's sessions or anchors: those are "not found".
#[tokio::test]
async fn users_cannot_list_or_revoke_each_others_sessions_or_anchors() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let alice = sign_up(&api).await?;
    let mallory = sign_up(&api.elsewhere()).await?;
    let alice_phone = Web::from_answer(&login(&api, &alice, &alice.code(1)).await?.ok("login")?)?;
    let alice_anchor = pair(&api, &alice.web, &unique("alice-box")).await?;

    let list = api
        .get("/auth/sessions", &alice.web.access)
        .await?
        .ok("sessions")?;
    let sessions = list["sessions"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        sessions.len(),
        2,
        "alice's two web sessions, not her anchor's: {list}"
    );
    assert!(sessions
        .iter()
        .any(|s| s["sessionId"] == alice.web.session_id.as_str() && s["current"] == true));
    assert!(sessions
        .iter()
        .any(|s| s["sessionId"] == alice_phone.session_id.as_str() && s["current"] == false));

    // Mallory sees nothing of Alice's and can revoke none of it.
    let theirs = api
        .get("/auth/sessions", &mallory.web.access)
        .await?
        .ok("mallory sessions")?;
    assert!(!theirs.to_string().contains(&alice.web.session_id));
    api.delete(
        &format!("/auth/sessions/{}", alice_phone.session_id),
        &mallory.web.access,
    )
    .await?
    .refused(404, "session_not_found", "revoking another user's session")?;
    let mallory_anchors = api
        .get("/auth/anchors", &mallory.web.access)
        .await?
        .ok("anchors")?;
    assert_eq!(mallory_anchors["anchors"], json!([]));
    api.delete(
        &format!("/auth/anchors/{}", alice_anchor.anchor_id),
        &mallory.web.access,
    )
    .await?
    .refused(404, "anchor_not_found", "revoking another user's anchor")?;
    api.patch(
        &format!("/auth/anchors/{}", alice_anchor.anchor_id),
        json!({"name": "pwned"}),
        &mallory.web.access,
    )
    .await?
    .refused(404, "anchor_not_found", "renaming another user's anchor")?;
    // An anchor session id is not a web session to revoke.
    api.get("/auth/session", &alice_phone.access)
        .await?
        .ok("the phone still works")?;

    // Alice revokes her phone from her laptop: the phone's socket closes.
    let (mut phone_ws, _, _) = orbit.client(&alice_phone.socket_session()).await?;
    api.delete(
        &format!("/auth/sessions/{}", alice_phone.session_id),
        &alice.web.access,
    )
    .await?
    .ok("revoking her own session")?;
    expect_revoked_close(&mut phone_ws, "the revoked phone's socket").await?;
    api.get("/auth/session", &alice_phone.access)
        .await?
        .refused(401, "session_revoked", "the revoked phone")?;
    api.delete(
        &format!("/auth/sessions/{}", alice_phone.session_id),
        &alice.web.access,
    )
    .await?
    .refused(404, "session_not_found", "revoking twice")?;
    Ok(())
}

// =============================================================================================
// TOTP

/// A code seen over a shoulder or phished is worth nothing once used: each code is accepted at
/// most once, even by two requests racing with it, and the code that confirmed enrolment cannot
/// sign in afterwards.
#[tokio::test]
async fn replayed_totp_code_is_refused_even_when_raced() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let account = sign_up(&api).await?;
    // The enrolment code cannot sign in (that very code, not this step's: a step may have
    // begun since).
    login(&api, &account, &account.enrolment_code)
        .await?
        .refused(401, "code_replayed", "the enrolment code")?;
    // Next step's code, twice at once: one session, one replay.
    let code = account.code(1);
    let other = api.elsewhere();
    let (a, b) = tokio::join!(login(&api, &account, &code), login(&other, &account, &code));
    let (a, b) = (a?, b?);
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401], "one wins: {a:?} {b:?}");
    let loser = if a.status == 401 { &a } else { &b };
    loser.refused(401, "code_replayed", "the racing replay")?;
    login(&api, &account, &code)
        .await?
        .refused(401, "code_replayed", "the same code later")?;
    Ok(())
}

/// Account enumeration and guessing: an unknown name, a wrong code and a malformed code get the
/// same answers whether the account exists or not.
#[tokio::test]
async fn wrong_code_and_unknown_account_are_indistinguishable() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let account = sign_up(&api).await?;
    let wrong = if account.code(1) == "000000" {
        "111111"
    } else {
        "000000"
    };
    login(&api, &account, wrong)
        .await?
        .refused(401, "invalid_code", "wrong code")?;
    api.post(
        "/auth/totp/login",
        json!({"name": unique("nobody"), "code": wrong}),
        None,
    )
    .await?
    .refused(401, "invalid_code", "unknown account")?;
    api.post(
        "/auth/totp/login",
        json!({"name": account.name, "code": "12ab56"}),
        None,
    )
    .await?
    .refused(400, "malformed_code", "malformed code, real account")?;
    api.post(
        "/auth/totp/login",
        json!({"name": unique("nobody"), "code": "12ab56"}),
        None,
    )
    .await?
    .refused(400, "malformed_code", "malformed code, unknown account")?;
    // Names compare case-insensitively.
    api.post(
        "/auth/totp/login",
        json!({"name": account.name.to_uppercase(), "code": account.code(1)}),
        None,
    )
    .await?
    .ok("sign-in with the name in capitals")?;
    Ok(())
}

/// Locking yourself out: the last way to sign in cannot be removed; and TOTP cannot be replaced
/// by someone holding only a stolen access token (a current code is required).
#[tokio::test]
async fn last_sign_in_method_cannot_be_removed_and_totp_cannot_be_swapped_without_a_code(
) -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let account = sign_up(&api).await?;
    api.post(
        "/auth/totp/disable",
        json!({"code": account.code(1)}),
        Some(&account.web.access),
    )
    .await?
    .refused(409, "last_sign_in_method", "disabling the only method")?;
    api.post(
        "/auth/totp/enroll/start",
        json!({}),
        Some(&account.web.access),
    )
    .await?
    .refused(409, "totp_already_enabled", "replacing TOTP without a code")?;
    // With a current code, the authenticator can be replaced.
    let start = api
        .post(
            "/auth/totp/enroll/start",
            json!({"code": account.code(1)}),
            Some(&account.web.access),
        )
        .await?
        .ok("re-enrolment start")?;
    assert_eq!(start["newAccount"], false);
    let new_secret = secret_of(&start)?;
    // Someone else's session cannot confirm it.
    let other = sign_up(&api.elsewhere()).await?;
    api.post(
        "/auth/totp/enroll/verify",
        json!({"enrollmentId": start["enrollmentId"], "code": generate(&new_secret, now_secs())}),
        Some(&other.web.access),
    )
    .await?
    .refused(
        404,
        "enrollment_not_found",
        "confirming another user's enrolment",
    )?;
    api.post(
        "/auth/totp/enroll/verify",
        json!({"code": generate(&new_secret, now_secs())}),
        Some(&account.web.access),
    )
    .await?
    .ok("re-enrolment confirmation")?;
    // The old authenticator no longer works; the new one does (next step: this one was spent).
    login(&api, &account, &account.code(2)).await?.refused(
        401,
        "invalid_code",
        "old authenticator",
    )?;
    api.post(
        "/auth/totp/login",
        json!({"name": account.name, "code": generate(&new_secret, now_secs() + 30)}),
        None,
    )
    .await?
    .ok("new authenticator")?;
    Ok(())
}

/// Names are unique: a second sign-up cannot take (or race for) an existing account's name.
#[tokio::test]
async fn an_account_name_cannot_be_taken_twice() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let name = unique("taken");
    let first = start_sign_up(&api, &name, None).await?.ok("first start")?;
    let second = start_sign_up(&api.elsewhere(), &name, None)
        .await?
        .ok("second start")?;
    finish_sign_up(&api, &name, &first).await?;
    let secret = secret_of(&second)?;
    api.post(
        "/auth/totp/enroll/verify",
        json!({"enrollmentId": second["enrollmentId"], "code": generate(&secret, now_secs())}),
        None,
    )
    .await?
    .refused(
        409,
        "name_taken",
        "confirming a sign-up whose name was taken meanwhile",
    )?;
    start_sign_up(&api, &name.to_uppercase(), None)
        .await?
        .refused(409, "name_taken", "the same name in capitals")?;
    start_sign_up(&api, "x", None)
        .await?
        .refused(400, "invalid_name", "too short")?;
    Ok(())
}

/// A database leak (backup, stolen disk) must not hand out working credentials: TOTP secrets are
/// sealed, and refresh tokens, device codes and invites are stored only as hashes. The test
/// scans every file of the local D1 and Durable Object state for the secrets in clear.
#[tokio::test]
async fn secrets_are_not_stored_in_clear() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let account = sign_up(&api).await?;
    let invite = api
        .post("/auth/invites", json!({}), Some(&account.web.access))
        .await?
        .ok("invite")?;
    let invite = invite["invite"].as_str().unwrap_or_default().to_string();
    let pairing = device_code(&api, &unique("leak")).await?;
    let secret_b32 = {
        let start = api
            .post(
                "/auth/totp/enroll/start",
                json!({"code": account.code(1)}),
                Some(&account.web.access),
            )
            .await?
            .ok("enrolment")?;
        start["secret"].as_str().unwrap_or_default().to_string()
    };
    let needles: Vec<(&str, Vec<u8>)> = vec![
        (
            "the refresh token",
            account.web.refresh.clone().into_bytes(),
        ),
        ("the invite", invite.into_bytes()),
        ("the device code", pairing.device_code.clone().into_bytes()),
        ("the TOTP secret (base32)", secret_b32.clone().into_bytes()),
        ("the TOTP secret (raw)", base32_decode(&secret_b32)?),
        (
            "the first TOTP secret (raw)",
            account.secret.as_bytes().to_vec(),
        ),
    ];
    let mut files = Vec::new();
    let mut stack = vec![orbit.state_dir().join("state")];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        for entry in entries {
            let Ok(entry) = entry else { continue };
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(
        files
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "sqlite")),
        "no D1 database found under {}",
        orbit.state_dir().display()
    );
    for file in &files {
        // SQLite's journal files come and go while other tests write; one that vanished
        // between listing and reading holds nothing anymore.
        let bytes = match std::fs::read(file) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        for (what, needle) in &needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                "{what} is stored in clear in {}",
                file.display()
            );
        }
    }
    Ok(())
}

// =============================================================================================
// Invites and bootstrap

/// Strangers cannot create accounts on a private deployment: the first account is anyone's
/// (bootstrap, and only one racing bootstrap wins), later ones need an invite, and an invite
/// works once.
#[tokio::test]
async fn strangers_cannot_sign_up_without_an_invite_and_invites_work_once() -> Result<()> {
    let orbit = Orbit::start()?;
    let api = Client::new(&orbit);

    // Two strangers race for the bootstrap account: both may start, one finishes.
    let (a_name, b_name) = (unique("first"), unique("rival"));
    let a = start_sign_up(&api, &a_name, None)
        .await?
        .ok("bootstrap start")?;
    let b = start_sign_up(&api.elsewhere(), &b_name, None)
        .await?
        .ok("rival start")?;
    let owner = finish_sign_up(&api, &a_name, &a).await?;
    let b_secret = secret_of(&b)?;
    api.post(
        "/auth/totp/enroll/verify",
        json!({"enrollmentId": b["enrollmentId"], "code": generate(&b_secret, now_secs())}),
        None,
    )
    .await?
    .refused(403, "registration_closed", "the bootstrap race's loser")?;

    // From now on, no invite, no account.
    start_sign_up(&api, &unique("stranger"), None)
        .await?
        .refused(403, "registration_closed", "sign-up without an invite")?;
    start_sign_up(
        &api,
        &unique("stranger"),
        Some("inv_0123456789abcdef0123456789abcdef"),
    )
    .await?
    .refused(403, "invite_invalid", "sign-up with a made-up invite")?;
    api.post("/auth/invites", json!({}), None).await?.refused(
        401,
        "token_missing",
        "inviting without signing in",
    )?;

    // The owner invites a friend. Two people start with the same invite; it works once.
    let invite = api
        .post("/auth/invites", json!({}), Some(&owner.web.access))
        .await?
        .ok("invite")?;
    let invite = invite["invite"].as_str().unwrap_or_default().to_string();
    let (friend, other) = (unique("friend"), unique("other"));
    let f = start_sign_up(&api, &friend, Some(&invite))
        .await?
        .ok("friend start")?;
    let o = start_sign_up(&api.elsewhere(), &other, Some(&invite))
        .await?
        .ok("other start")?;
    let friend = finish_sign_up(&api, &friend, &f).await?;
    api.get("/auth/session", &friend.web.access)
        .await?
        .ok("the friend is in")?;
    let o_secret = secret_of(&o)?;
    api.post(
        "/auth/totp/enroll/verify",
        json!({"enrollmentId": o["enrollmentId"], "code": generate(&o_secret, now_secs())}),
        None,
    )
    .await?
    .refused(403, "invite_invalid", "the same invite a second time")?;
    start_sign_up(&api, &unique("late"), Some(&invite))
        .await?
        .refused(403, "invite_invalid", "a spent invite")?;
    // The invited account can invite in turn.
    api.post("/auth/invites", json!({}), Some(&friend.web.access))
        .await?
        .ok("an invited user's invite")?;
    Ok(())
}

// =============================================================================================
// Device flow

/// A machine gets credentials only when the signed-in user approves its code; an impatient
/// poller is slowed down; the credentials open `/ws/anchor`, refresh with rotation, and
/// revoking the anchor from the web closes its socket at once.
#[tokio::test]
async fn a_machine_is_paired_only_by_the_users_approval_and_revoking_it_closes_its_socket(
) -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let account = sign_up(&api).await?;
    let machine = api.elsewhere();
    let name = unique("laptop");

    let code = machine
        .post(
            "/auth/device/code",
            json!({"name": name, "hostname": "laptop.local", "platform": "linux"}),
            None,
        )
        .await?
        .ok("device code")?;
    let user_code = code["userCode"].as_str().unwrap_or_default().to_string();
    let device_code = code["deviceCode"].as_str().unwrap_or_default().to_string();
    assert_eq!(user_code.len(), 9, "XXXX-XXXX: {code}");
    assert_eq!(&user_code[4..5], "-");
    assert_eq!(code["expiresIn"], 600);
    assert_eq!(code["interval"], 5);
    assert_eq!(
        code["verificationUri"],
        format!("{}/device", orbit.base_url())
    );
    let complete = code["verificationUriComplete"].as_str().unwrap_or_default();
    assert!(
        complete.starts_with(&format!("{}/device?link=", orbit.base_url()))
            && !complete.contains(&user_code),
        "the link names the grant, not its code: {code}"
    );

    // Before approval: pending, and polling faster than the interval is slowed down.
    let poll = |dc: String| {
        let machine = machine.clone();
        async move {
            machine
                .post("/auth/device/token", json!({"deviceCode": dc}), None)
                .await
        }
    };
    poll(device_code.clone())
        .await?
        .rfc_error("authorization_pending", "first poll")?;
    poll(device_code.clone())
        .await?
        .rfc_error("slow_down", "immediate second poll")?;

    // The user looks the code up (typed in lower case, without the dash) and approves it under
    // a name of their choosing.
    let typed = user_code.replace('-', "").to_lowercase();
    let seen = api
        .post(
            "/auth/device/lookup",
            json!({"userCode": typed}),
            Some(&account.web.access),
        )
        .await?
        .ok("lookup")?;
    assert_eq!(seen["name"], name.as_str());
    assert_eq!(seen["hostname"], "laptop.local");
    assert_eq!(seen["platform"], "linux");
    // When it asked, by Orbit's clock: within this test's lifetime.
    let asked_ms = seen["requestedAt"].as_u64().unwrap_or_default();
    let now_ms = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis(),
    )?;
    assert!(
        asked_ms <= now_ms && now_ms - asked_ms < 120_000,
        "requestedAt {asked_ms} vs now {now_ms}: {seen}"
    );
    let approved = api
        .post(
            "/auth/device/authorise",
            json!({"userCode": typed, "approve": true, "name": "My laptop"}),
            Some(&account.web.access),
        )
        .await?
        .ok("approval")?;
    assert_eq!(approved["status"], "approved");
    let anchor_id = approved["anchorId"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    // The machine collects its credentials exactly once.
    let creds = AnchorCreds::from_answer(&poll(device_code.clone()).await?.ok("collect")?)?;
    assert_eq!(creds.anchor_id, anchor_id);
    assert!(creds.refresh.starts_with("ora_"));
    poll(device_code.clone())
        .await?
        .rfc_error("invalid_grant", "collecting twice")?;
    api.post(
        "/auth/device/authorise",
        json!({"userCode": user_code, "approve": true}),
        Some(&account.web.access),
    )
    .await?
    .refused(409, "user_code_used", "approving a spent code again")?;

    // The anchor is listed, and can be renamed.
    let anchors = api
        .get("/auth/anchors", &account.web.access)
        .await?
        .ok("anchors")?;
    assert_eq!(anchors["anchors"][0]["anchorId"], anchor_id.as_str());
    assert_eq!(anchors["anchors"][0]["name"], "My laptop");
    // What the machine said about itself outlives the grant that carried it.
    assert_eq!(anchors["anchors"][0]["hostname"], "laptop.local");
    assert_eq!(anchors["anchors"][0]["platform"], "linux");
    api.patch(
        &format!("/auth/anchors/{anchor_id}"),
        json!({"name": "Work laptop"}),
        &account.web.access,
    )
    .await?
    .ok("rename")?;

    // Anchor refresh rotates.
    let refreshed = machine
        .post(
            "/auth/device/refresh",
            json!({"refreshToken": creds.refresh}),
            None,
        )
        .await?
        .ok("anchor refresh")?;
    assert_eq!(refreshed["anchorId"], anchor_id.as_str());
    let creds = AnchorCreds::from_answer(&refreshed)?;

    // The anchor connects with its token; the user's client sees it, by its new name.
    let mut anchor_ws = orbit
        .anchor(&creds.socket_session(&account.web.user_id))
        .await?;
    anchor_ws
        .send_control(&anchor_hello(&anchor_id, "laptop"))
        .await?;
    anchor_ws.expect_nothing_pending().await?;
    let (mut client, _, listed) = orbit.client(&account.web.socket_session()).await?;
    assert_eq!(
        listed["anchors"][0]["anchorId"],
        anchor_id.as_str(),
        "{listed}"
    );
    assert_eq!(listed["anchors"][0]["online"], true, "{listed}");
    assert_eq!(listed["anchors"][0]["name"], "Work laptop", "{listed}");

    // Revoked from the web: the socket closes, the client is told, nothing works any more.
    let revoked = api
        .delete(&format!("/auth/anchors/{anchor_id}"), &account.web.access)
        .await?
        .ok("revoke")?;
    assert_eq!(revoked["closedSockets"], 1);
    expect_revoked_close(&mut anchor_ws, "the revoked anchor's socket").await?;
    client
        .recv_until("orbit.anchor-disconnected", |f| {
            f["type"] == "orbit.anchor-disconnected" && f["anchorId"] == anchor_id.as_str()
        })
        .await?;
    let (status, body) = orbit
        .upgrade_status(&Upgrade::anchor().bearer(&creds.access))
        .await?;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (401, json!("anchor_revoked")),
        "{body}"
    );
    machine
        .post(
            "/auth/device/refresh",
            json!({"refreshToken": creds.refresh}),
            None,
        )
        .await?
        .refused(401, "session_revoked", "refreshing a revoked anchor")?;
    let anchors = api
        .get("/auth/anchors", &account.web.access)
        .await?
        .ok("anchors after")?;
    assert_eq!(anchors["anchors"], json!([]));
    Ok(())
}

/// A newly paired anchor used to reach already connected clients under its hostname (or its
/// id), until someone asked for the list again: the hub only learned the user's anchors when
/// asked. Approving, renaming and revoking now tell the hub, which pushes `orbit.anchors`.
#[tokio::test]
async fn stale_anchor_list_a_connected_client_is_pushed_the_approved_name_the_rename_and_the_revocation(
) -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let account = sign_up(&api).await?;
    let machine = api.elsewhere();
    let (mut client, _, first) = orbit.client(&account.web.socket_session()).await?;
    assert_eq!(first["anchors"], json!([]), "{first}");

    let requested = unique("host");
    let pairing = device_code(&machine, &requested).await?;
    let approved = api
        .post(
            "/auth/device/authorise",
            json!({"userCode": pairing.user_code, "approve": true, "name": "Studio Mac"}),
            Some(&account.web.access),
        )
        .await?
        .ok("approval")?;
    let anchor_id = approved["anchorId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // Without asking: the new anchor, offline, by the name it was approved with.
    let pushed = client.recv_type("orbit.anchors").await?;
    assert_eq!(
        pushed["anchors"][0]["anchorId"],
        anchor_id.as_str(),
        "{pushed}"
    );
    assert_eq!(pushed["anchors"][0]["name"], "Studio Mac", "{pushed}");
    assert_eq!(pushed["anchors"][0]["online"], false, "{pushed}");

    let creds = AnchorCreds::from_answer(
        &machine
            .post(
                "/auth/device/token",
                json!({"deviceCode": pairing.device_code}),
                None,
            )
            .await?
            .ok("collect")?,
    )?;
    let mut anchor_ws = orbit
        .anchor(&creds.socket_session(&account.web.user_id))
        .await?;
    let connected = client.recv_type("orbit.anchor-connected").await?;
    assert_eq!(connected["anchor"]["name"], "Studio Mac", "{connected}");
    // The anchor introduces itself as the real one does: by its hostname, with no name.
    anchor_ws
        .send_json(&json!({"type": "anchor.hello", "anchorId": anchor_id, "hostname": format!("{requested}.host")}))
        .await?;
    let hello = client.recv_type("orbit.anchor-connected").await?;
    assert_eq!(hello["anchor"]["name"], "Studio Mac", "{hello}");
    assert_eq!(
        hello["anchor"]["hostname"],
        format!("{requested}.host"),
        "{hello}"
    );

    api.patch(
        &format!("/auth/anchors/{anchor_id}"),
        json!({"name": "Render box"}),
        &account.web.access,
    )
    .await?
    .ok("rename")?;
    let renamed = client.recv_type("orbit.anchors").await?;
    assert_eq!(renamed["anchors"][0]["name"], "Render box", "{renamed}");
    assert_eq!(renamed["anchors"][0]["online"], true, "{renamed}");

    api.delete(&format!("/auth/anchors/{anchor_id}"), &account.web.access)
        .await?
        .ok("revoke")?;
    expect_revoked_close(&mut anchor_ws, "the revoked anchor's socket").await?;
    let gone = client.recv_type("orbit.anchor-disconnected").await?;
    assert_eq!(gone["anchorId"], anchor_id.as_str(), "{gone}");
    let after = client.recv_type("orbit.anchors").await?;
    assert_eq!(
        after["anchors"],
        json!([]),
        "the revoked anchor is no longer listed: {after}"
    );
    client.expect_nothing_pending().await?;
    Ok(())
}

/// A user who does not recognise a pairing request refuses it; the machine is told
/// `access_denied` and gets nothing.
#[tokio::test]
async fn a_refused_pairing_gets_access_denied_and_no_credentials() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let account = sign_up(&api).await?;
    let pairing = device_code(&api.elsewhere(), &unique("intruder")).await?;
    let answer = api
        .post(
            "/auth/device/authorise",
            json!({"userCode": pairing.user_code, "approve": false}),
            Some(&account.web.access),
        )
        .await?
        .ok("deny")?;
    assert_eq!(answer["status"], "denied");
    for _ in 0..2 {
        api.post(
            "/auth/device/token",
            json!({"deviceCode": pairing.device_code}),
            None,
        )
        .await?
        .rfc_error("access_denied", "polling a denied grant")?;
    }
    api.post(
        "/auth/device/authorise",
        json!({"userCode": pairing.user_code, "approve": true}),
        Some(&account.web.access),
    )
    .await?
    .refused(409, "user_code_used", "approving after denying")?;
    let anchors = api
        .get("/auth/anchors", &account.web.access)
        .await?
        .ok("anchors")?;
    assert_eq!(anchors["anchors"], json!([]));
    // Unknown and malformed device codes and user codes.
    api.post(
        "/auth/device/token",
        json!({"deviceCode": "A".repeat(43)}),
        None,
    )
    .await?
    .rfc_error("invalid_grant", "an unknown device code")?;
    api.post("/auth/device/token", json!({}), None)
        .await?
        .rfc_error("invalid_request", "no device code")?;
    api.post(
        "/auth/device/authorise",
        json!({"userCode": "BCDF-GHJ0", "approve": true}),
        Some(&account.web.access),
    )
    .await?
    .refused(400, "user_code_malformed", "a code with a digit")?;
    // Approving needs a signed-in user.
    api.post(
        "/auth/device/authorise",
        json!({"userCode": pairing.user_code, "approve": true}),
        None,
    )
    .await?
    .refused(401, "token_missing", "approving without signing in")?;
    Ok(())
}

/// Stolen anchor credentials: when a spent anchor refresh token comes back (past the grace
/// window), the anchor is revoked and its socket closed, since two parties evidently hold its
/// credentials.
#[tokio::test]
async fn stolen_anchor_refresh_token_replayed_revokes_the_anchor() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let account = sign_up(&api).await?;
    let creds = pair(&api, &account.web, &unique("box")).await?;
    let fresh = AnchorCreds::from_answer(
        &api.post(
            "/auth/device/refresh",
            json!({"refreshToken": creds.refresh}),
            None,
        )
        .await?
        .ok("refresh")?,
    )?;
    let mut ws = orbit
        .anchor(&fresh.socket_session(&account.web.user_id))
        .await?;
    past_the_grace_window().await;
    api.elsewhere()
        .post(
            "/auth/device/refresh",
            json!({"refreshToken": creds.refresh}),
            None,
        )
        .await?
        .refused(401, "refresh_reused", "the replayed anchor refresh token")?;
    expect_revoked_close(&mut ws, "the anchor whose refresh token was replayed").await?;
    api.post(
        "/auth/device/refresh",
        json!({"refreshToken": fresh.refresh}),
        None,
    )
    .await?
    .refused(401, "session_revoked", "the anchor's own token after reuse")?;
    let anchors = api
        .get("/auth/anchors", &account.web.access)
        .await?
        .ok("anchors")?;
    assert_eq!(anchors["anchors"], json!([]), "the anchor is revoked");
    Ok(())
}

/// An anchor that reconnects after a refresh whose answer was lost retries with its spent token
/// within the grace window: it gets the same refresh token, stays paired and connects with the
/// new access token. Once that token was used, the spent one coming back revokes the anchor,
/// even inside the window.
#[tokio::test]
async fn lost_anchor_refresh_answer_retried_within_the_grace_window_keeps_the_anchor() -> Result<()>
{
    let orbit = open()?;
    let api = Client::new(orbit);
    let account = sign_up(&api).await?;
    let creds = pair(&api, &account.web, &unique("box")).await?;
    let body = json!({"refreshToken": creds.refresh});
    let lost = AnchorCreds::from_answer(
        &api.post("/auth/device/refresh", body.clone(), None)
            .await?
            .ok("the refresh whose answer is lost")?,
    )?;
    let retried = AnchorCreds::from_answer(
        &api.post("/auth/device/refresh", body.clone(), None)
            .await?
            .ok("the anchor's retry with its spent token")?,
    )?;
    assert_eq!(retried.anchor_id, creds.anchor_id);
    assert_eq!(
        retried.refresh, lost.refresh,
        "the retry gets the refresh token whose answer was lost"
    );
    let mut ws = orbit
        .anchor(&retried.socket_session(&account.web.user_id))
        .await?;
    ws.send_control(&anchor_hello(&creds.anchor_id, "box"))
        .await?;
    let anchors = api
        .get("/auth/anchors", &account.web.access)
        .await?
        .ok("anchors")?;
    assert_eq!(anchors["anchors"][0]["anchorId"], creds.anchor_id.as_str());

    // The recovered token rotates; the spent one is then a copy, window or not.
    api.post(
        "/auth/device/refresh",
        json!({"refreshToken": retried.refresh}),
        None,
    )
    .await?
    .ok("refreshing with the recovered token")?;
    api.elsewhere()
        .post("/auth/device/refresh", body, None)
        .await?
        .refused(
            401,
            "refresh_reused",
            "the spent token after its successor was used",
        )?;
    expect_revoked_close(&mut ws, "the anchor whose spent token came back").await?;
    let anchors = api
        .get("/auth/anchors", &account.web.access)
        .await?
        .ok("anchors")?;
    assert_eq!(anchors["anchors"], json!([]), "the anchor is revoked");
    Ok(())
}

/// The anchor's retry after the grace window is reuse: the anchor is revoked.
#[tokio::test]
async fn lost_anchor_refresh_answer_retried_after_the_grace_window_revokes_the_anchor() -> Result<()>
{
    let orbit = open()?;
    let api = Client::new(orbit);
    let account = sign_up(&api).await?;
    let creds = pair(&api, &account.web, &unique("box")).await?;
    let body = json!({"refreshToken": creds.refresh});
    let lost = AnchorCreds::from_answer(
        &api.post("/auth/device/refresh", body.clone(), None)
            .await?
            .ok("the refresh whose answer is lost")?,
    )?;
    past_the_grace_window().await;
    api.post("/auth/device/refresh", body, None)
        .await?
        .refused(
            401,
            "refresh_reused",
            "the anchor's spent token after the window",
        )?;
    api.post(
        "/auth/device/refresh",
        json!({"refreshToken": lost.refresh}),
        None,
    )
    .await?
    .refused(401, "session_revoked", "the successor after the reuse")?;
    Ok(())
}

/// A user code read off a screen later (or guessed slowly) is useless once its 10 minutes are
/// over: the machine gets `expired_token` and the code cannot be approved. (This Orbit's codes
/// live 2 seconds, `ORBIT_DEVICE_CODE_LIFETIME=2`; the default is 600.)
#[tokio::test]
async fn an_expired_device_code_can_neither_be_approved_nor_collected() -> Result<()> {
    let orbit = tight()?;
    let api = Client::new(orbit);
    let account = sign_up(&api).await?;
    let code = api
        .post("/auth/device/code", json!({"name": "slow"}), None)
        .await?
        .ok("device code")?;
    assert_eq!(code["expiresIn"], 2);
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    api.post(
        "/auth/device/token",
        json!({"deviceCode": code["deviceCode"]}),
        None,
    )
    .await?
    .rfc_error("expired_token", "polling an expired code")?;
    api.post(
        "/auth/device/authorise",
        json!({"userCode": code["userCode"], "approve": true}),
        Some(&account.web.access),
    )
    .await?
    .refused(410, "user_code_expired", "approving an expired code")?;
    Ok(())
}

// =============================================================================================
// Rate limits (on the tight Orbit)

/// TOTP guessing against one account from many addresses hits the per-account limit; the
/// owner gets back in once the window has passed.
#[tokio::test]
async fn totp_guessing_one_account_from_many_addresses_is_rate_limited() -> Result<()> {
    let orbit = tight()?;
    let api = Client::new(orbit);
    let account = sign_up(&api).await?; // one attempt on the account (enrolment)
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let wrong = if account.code(1) == "000000" {
        "111111"
    } else {
        "000000"
    };
    let mut last = None;
    for _ in 0..4 {
        let answer = login(&api.elsewhere(), &account, wrong).await?;
        if answer.status == 429 {
            last = Some(answer);
            break;
        }
        answer.refused(401, "invalid_code", "a guess")?;
    }
    let answer = last.ok_or_else(|| anyhow!("4 guesses from 4 addresses were not limited"))?;
    let retry = answer.limited("guessing one account")?;
    // Even the right code is refused while limited.
    login(&api.elsewhere(), &account, &account.code(1))
        .await?
        .limited("the right code during the lockout")?;
    tokio::time::sleep(Duration::from_secs(retry) + Duration::from_millis(200)).await;
    login(&api, &account, &account.code(1))
        .await?
        .ok("the owner after the window")?;
    Ok(())
}

/// One address spraying guesses across many accounts hits the per-address limit.
#[tokio::test]
async fn totp_guessing_from_one_address_across_accounts_is_rate_limited() -> Result<()> {
    let orbit = tight()?;
    let attacker = Client::new(orbit);
    let mut tripped = None;
    for i in 0..6 {
        let answer = attacker
            .post(
                "/auth/totp/login",
                json!({"name": unique(&format!("victim{i}")), "code": "123456"}),
                None,
            )
            .await?;
        if answer.status == 429 {
            tripped = Some(answer);
            break;
        }
        answer.refused(401, "invalid_code", "a sprayed guess")?;
    }
    let answer = tripped.ok_or_else(|| anyhow!("6 guesses from one address were not limited"))?;
    let retry = answer.limited("spraying accounts")?;
    // Another address is unaffected.
    attacker
        .elsewhere()
        .post(
            "/auth/totp/login",
            json!({"name": unique("victim"), "code": "123456"}),
            None,
        )
        .await?
        .refused(401, "invalid_code", "another address")?;
    tokio::time::sleep(Duration::from_secs(retry) + Duration::from_millis(200)).await;
    attacker
        .post(
            "/auth/totp/login",
            json!({"name": unique("victim"), "code": "123456"}),
            None,
        )
        .await?
        .refused(401, "invalid_code", "the same address after the window")?;
    Ok(())
}

/// Brute-forcing user codes: a signed-in attacker trying codes hits the per-account
/// user-code-entry limit long before finding a live code (20⁸ of them).
#[tokio::test]
async fn user_code_guessing_is_rate_limited() -> Result<()> {
    let orbit = tight()?;
    let api = Client::new(orbit);
    let attacker = sign_up(&api).await?;
    let mut tripped = None;
    for i in 0..5 {
        let guess = format!("BCDF-{}", ["GHJK", "GHJL", "GHJM", "GHJN", "GHJP"][i]);
        let answer = api
            .post(
                "/auth/device/authorise",
                json!({"userCode": guess, "approve": true}),
                Some(&attacker.web.access),
            )
            .await?;
        if answer.status == 429 {
            tripped = Some(answer);
            break;
        }
        answer.refused(404, "user_code_unknown", "a guessed code")?;
    }
    tripped
        .ok_or_else(|| anyhow!("5 user-code guesses were not limited"))?
        .limited("guessing user codes")?;
    Ok(())
}

/// Guessing user codes through either door (`lookup` counts like `authorise`) stops at the
/// per-account limit, and while limited even a live code is refused: a lucky guess then finds
/// nothing, and the live pairing stays its owner's.
#[tokio::test]
async fn user_code_guessing_through_lookup_stops_at_the_limit_and_a_live_code_is_refused_meanwhile(
) -> Result<()> {
    let orbit = tight()?;
    let api = Client::new(orbit);
    let machine = api.elsewhere();
    let live = machine
        .post("/auth/device/code", json!({"name": "victim-box"}), None)
        .await?
        .ok("a live device code")?;
    let live_user_code = live["userCode"].clone();
    let live_device_code = live["deviceCode"].clone();
    let attacker = sign_up(&api).await?;

    // Spellings the form accepts (any case, with or without the dash); enough of them that a
    // slow machine, refilling the budget as it goes, still reaches the limit.
    let letter = |k: usize| char::from(b"BCDFGHJKLMNPQRSTVWXZ"[k % 20]);
    let guesses = (0..20).map(|i| match i % 3 {
        0 => format!("BCDF-GH{}{}", letter(i), letter(i + 7)),
        1 => format!("bcdf-gh{}{}", letter(i), letter(i + 7)).to_lowercase(),
        _ => format!("BCDFGH{}{}", letter(i), letter(i + 7)),
    });
    let mut tripped = None;
    for guess in guesses {
        let answer = api
            .post(
                "/auth/device/lookup",
                json!({"userCode": guess}),
                Some(&attacker.web.access),
            )
            .await?;
        if answer.status == 429 {
            tripped = Some(answer);
            break;
        }
        answer.refused(404, "user_code_unknown", "a guessed code")?;
    }
    tripped
        .ok_or_else(|| anyhow!("20 user-code lookups were not limited"))?
        .limited("guessing user codes through lookup")?;
    // The live code, now: refused like any guess, through both doors.
    for door in ["/auth/device/lookup", "/auth/device/authorise"] {
        api.post(
            door,
            json!({"userCode": live_user_code, "approve": true}),
            Some(&attacker.web.access),
        )
        .await?
        .limited("the live code while limited")?;
    }
    // The pairing is untouched: its machine is still waiting for its owner.
    machine
        .post(
            "/auth/device/token",
            json!({"deviceCode": live_device_code}),
            None,
        )
        .await?
        .rfc_error("authorization_pending", "the live pairing")?;
    Ok(())
}

/// What the edge says about a request under Miniflare (the harness, and `wrangler dev`): its
/// fixed stand-in for Cloudflare's `request.cf` (the harness turns off fetching the real one), with an empty AS
/// organisation. On Cloudflare these are the requester's own country, city and network.
const EDGE_COUNTRY: &str = "US";
const EDGE_CITY: &str = "Austin";
const EDGE_ASN: u64 = 395_747;

/// RFC 8628 §5.4: a stranger asks for a code naming itself "Alice's MacBook", puts made-up
/// places in its body and in the headers a proxy would set, and sends Alice the link. The
/// approval page shows where the request really came from: what Cloudflare's edge recorded
/// (`request.cf`) and the address it connected from, and when. Nothing the requester sends
/// changes it.
#[tokio::test]
async fn a_pairing_request_shows_where_it_came_from_which_its_body_and_headers_cannot_set(
) -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let account = sign_up(&api).await?;
    let stranger = api.elsewhere();
    let response = reqwest::Client::new()
        .post(format!("{}/auth/device/code", orbit.base_url()))
        .header("CF-Connecting-IP", stranger.address())
        .header("CF-IPCountry", "GB")
        .header("CF-IPCity", "London")
        .header("X-Forwarded-For", "198.51.100.9")
        .header("X-Real-IP", "198.51.100.9")
        .header("True-Client-IP", "198.51.100.9")
        .json(&json!({
            "name": "Alice's MacBook",
            "hostname": "alices-macbook.local",
            "platform": "macos",
            "country": "GB",
            "city": "London",
            "asn": 64_500,
            "asOrganization": "Alice's Home ISP",
            "origin": {"country": "GB", "city": "London", "network": "Alice's Home ISP", "asn": 64_500, "address": "198.51.100.9"},
            "cf": {"country": "GB", "asn": 64_500},
        }))
        .send()
        .await?;
    assert_eq!(response.status(), 200, "{}", response.text().await?);
    let asked: Value = response.json().await?;
    let before_ms = now_secs().saturating_sub(1) * 1000;
    let user_code = asked["userCode"].as_str().unwrap_or_default();
    let seen = api
        .post(
            "/auth/device/lookup",
            json!({"userCode": user_code}),
            Some(&account.web.access),
        )
        .await?
        .ok("lookup")?;
    // What it says about itself is shown as what it says...
    assert_eq!(seen["name"], "Alice's MacBook");
    // ...and where it came from is what the edge and the connection said.
    assert_eq!(
        seen["origin"],
        json!({
            "country": EDGE_COUNTRY,
            "city": EDGE_CITY,
            "network": null,
            "asn": EDGE_ASN,
            "address": stranger.address(),
        }),
        "{seen}"
    );
    // When it asked, by Orbit's clock.
    let asked_ms = seen["requestedAt"].as_u64().unwrap_or_default();
    assert!(
        asked_ms + 60_000 >= before_ms && asked_ms <= now_secs() * 1000 + 1000,
        "requestedAt {asked_ms} vs {before_ms}: {seen}"
    );
    Ok(())
}

static UNTRUSTED_CF: SharedOrbit = OnceLock::new();

/// Where `request.cf` is not Cloudflare's (Miniflare here, or a self-hosted workerd), a client
/// can write it: Miniflare takes a request's `MF-CF-Blob` header as its `cf`. With
/// `ORBIT_TRUST_REQUEST_CF=false` Orbit records the country and network as unknown instead of
/// showing what the requester wrote; the default (Cloudflare) Orbit shows the written one,
/// which is what the setting is for.
#[tokio::test]
async fn where_request_cf_is_not_cloudflares_a_requester_cannot_write_the_origin_shown(
) -> Result<()> {
    let forged = r#"{"country":"GB","city":"London","asn":64500,"asOrganization":"Alice's Home ISP","clientAcceptEncoding":""}"#;
    let untrusting = Orbit::shared_in(
        &UNTRUSTED_CF,
        &[
            ("ORBIT_OPEN_REGISTRATION", "true"),
            ("ORBIT_TRUST_REQUEST_CF", "false"),
        ],
    )?;
    for (orbit, trusted) in [(open()?, true), (untrusting, false)] {
        let api = Client::new(orbit);
        let account = sign_up(&api).await?;
        let response = reqwest::Client::new()
            .post(format!("{}/auth/device/code", orbit.base_url()))
            .header("CF-Connecting-IP", api.address())
            .header("MF-CF-Blob", forged)
            .json(&json!({"name": "Alice's MacBook"}))
            .send()
            .await?;
        assert_eq!(response.status(), 200);
        let asked: Value = response.json().await?;
        let seen = api
            .post(
                "/auth/device/lookup",
                json!({"userCode": asked["userCode"]}),
                Some(&account.web.access),
            )
            .await?
            .ok("lookup")?;
        let shown = if trusted {
            json!({"country": "GB", "city": "London", "network": "Alice's Home ISP", "asn": 64_500, "address": api.address()})
        } else {
            json!({"country": null, "city": null, "network": null, "asn": null, "address": api.address()})
        };
        assert_eq!(seen["origin"], shown, "trusting request.cf: {trusted}");
    }
    Ok(())
}

/// RFC 8628 §5.4: the link `anchor login` prints names the request by a token, not by its code,
/// so a person who only clicked a link someone sent them holds no code. Orbit approves such a
/// request only with the code's first four letters typed from the terminal that shows it: none
/// or wrong ones are refused and the request stays open for its owner. The machine's token
/// answer then says which account approved it.
#[tokio::test]
async fn a_code_opened_from_a_link_cannot_be_approved_without_typing_its_first_characters(
) -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let account = sign_up(&api).await?;
    let machine = api.elsewhere();
    let asked = machine
        .post("/auth/device/code", json!({"name": "box"}), None)
        .await?
        .ok("device code")?;
    let user_code = asked["userCode"].as_str().unwrap_or_default().to_string();
    let device_code = asked["deviceCode"].as_str().unwrap_or_default().to_string();
    let complete = asked["verificationUriComplete"]
        .as_str()
        .unwrap_or_default();
    let link = complete
        .split_once("?link=")
        .map(|(_, token)| token.to_string())
        .ok_or_else(|| anyhow!("no ?link= in {complete}"))?;
    assert!(!complete.contains(&user_code), "{complete}");

    // Opened from the link: the page learns what asked and from where, and only the code's end.
    let seen = api
        .post(
            "/auth/device/lookup",
            json!({"link": link}),
            Some(&account.web.access),
        )
        .await?
        .ok("lookup by link")?;
    assert_eq!(seen["userCode"], Value::Null, "{seen}");
    assert_eq!(seen["codeEnd"], &user_code[5..], "{seen}");
    assert_eq!(seen["name"], "box");
    assert_eq!(seen["origin"]["address"], machine.address());

    // Each try counts against the user-code-entry limit (5 per account per 10 minutes), so
    // this account has room for two wrong ones besides the lookup and the approval.
    let start = &user_code[..4];
    for (confirm, what) in [
        (Value::Null, "no confirmation"),
        (
            json!(&user_code[5..]),
            "the code's end (shown by the page), not its start",
        ),
    ] {
        let mut body = json!({"link": link, "approve": true});
        if !confirm.is_null() {
            body["confirm"] = confirm;
        }
        api.post("/auth/device/authorise", body, Some(&account.web.access))
            .await?
            .refused(400, "user_code_confirm_mismatch", what)?;
    }
    // Still open: the machine is waiting, nothing was approved.
    machine
        .post(
            "/auth/device/token",
            json!({"deviceCode": device_code}),
            None,
        )
        .await?
        .rfc_error("authorization_pending", "after refused confirmations")?;

    // The first four letters, typed in any case: approved.
    let approved = api
        .post(
            "/auth/device/authorise",
            json!({"link": link, "approve": true, "confirm": format!(" {} ", start.to_lowercase())}),
            Some(&account.web.access),
        )
        .await?
        .ok("approval with the first letters")?;
    assert_eq!(approved["status"], "approved");
    // An approved grant is handed over on the next poll, however soon.
    let creds = machine
        .post(
            "/auth/device/token",
            json!({"deviceCode": device_code}),
            None,
        )
        .await?
        .ok("token after approval")?;
    assert_eq!(
        creds["account"],
        account.name.as_str(),
        "the account that approved it"
    );

    // Another account: a link Orbit never made names nothing, and denying from a link needs
    // nothing typed (it only protects).
    let someone = sign_up(&api.elsewhere()).await?;
    api.post(
        "/auth/device/lookup",
        json!({"link": "AAAAAAAAAAAAAAAAAAAAAA"}),
        Some(&someone.web.access),
    )
    .await?
    .refused(404, "user_code_unknown", "an unknown link")?;
    let other = machine
        .post("/auth/device/code", json!({"name": "other"}), None)
        .await?
        .ok("second device code")?;
    let other_link = other["verificationUriComplete"]
        .as_str()
        .and_then(|u| u.split_once("?link="))
        .map(|(_, t)| t.to_string())
        .unwrap_or_default();
    let denied = api
        .post(
            "/auth/device/authorise",
            json!({"link": other_link, "approve": false}),
            Some(&someone.web.access),
        )
        .await?
        .ok("denial by link")?;
    assert_eq!(denied["status"], "denied");
    Ok(())
}

/// Flooding device-code creation (filling the code space, or spamming users with prompts) is
/// limited per address, and recovers.
#[tokio::test]
async fn device_code_flooding_is_rate_limited_and_recovers() -> Result<()> {
    let orbit = tight()?;
    let api = Client::new(orbit);
    let mut tripped = None;
    for _ in 0..4 {
        let answer = api.post("/auth/device/code", json!({}), None).await?;
        if answer.status == 429 {
            tripped = Some(answer);
            break;
        }
        answer.ok("a device code")?;
    }
    let retry = tripped
        .ok_or_else(|| anyhow!("4 device codes at once were not limited"))?
        .limited("device-code flood")?;
    tokio::time::sleep(Duration::from_secs(retry) + Duration::from_millis(200)).await;
    api.post("/auth/device/code", json!({}), None)
        .await?
        .ok("a device code after the window")?;
    Ok(())
}

/// Hammering the refresh endpoint (guessing refresh tokens) is limited per address.
#[tokio::test]
async fn refresh_hammering_is_rate_limited() -> Result<()> {
    let orbit = tight()?;
    let api = Client::new(orbit);
    let mut tripped = None;
    for _ in 0..5 {
        // 42 random base64url characters and a last one whose unused low bits are zero.
        let forged = format!("ort_{}A", random_hex(21).get(..42).unwrap_or_default());
        let answer = api
            .post("/auth/refresh", json!({"refreshToken": forged}), None)
            .await?;
        if answer.status == 429 {
            tripped = Some(answer);
            break;
        }
        answer.refused(401, "refresh_unknown", "a guessed refresh token")?;
    }
    tripped
        .ok_or_else(|| anyhow!("5 refresh guesses were not limited"))?
        .limited("refresh hammering")?;
    Ok(())
}

// =============================================================================================
// Revocation holds when the hub cannot be told

/// A revocation whose hub fails a couple of times is retried: the socket is closed and the
/// answer says so, as if nothing had failed.
#[tokio::test]
async fn revocation_retries_a_hub_that_fails_transiently_and_closes_the_socket() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let account = sign_up(&api).await?;
    let second = Web::from_answer(&login(&api, &account, &account.code(1)).await?.ok("login")?)?;
    let (mut ws, _, _) = orbit.client(&second.socket_session()).await?;
    orbit.hub_fault(&account.web.user_id, 2).await?;
    let revoked = api
        .delete(
            &format!("/auth/sessions/{}", second.session_id),
            &account.web.access,
        )
        .await?
        .ok("a revocation whose hub failed twice")?;
    assert_eq!(revoked["closedSockets"], 1, "{revoked}");
    expect_revoked_close(&mut ws, "the revoked session's socket").await?;
    Ok(())
}

/// When the user's hub cannot be told to close a revoked session's socket (every attempt
/// fails), the session is revoked all the same, the revoking request hears that its sockets
/// could not be closed, and the hub's own re-check cuts the socket off: it receives nothing
/// more and is closed, while the user's other sockets keep relaying.
#[tokio::test]
async fn revoked_session_stops_relaying_even_when_its_hub_cannot_be_told() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let account = sign_up(&api).await?;
    let user = account.web.user_id.clone();
    let second = Web::from_answer(&login(&api, &account, &account.code(1)).await?.ok("login")?)?;
    let name = unique("box");
    let anchor_session = orbit.pair_anchor(&user, &name).await?;
    let mut anchor = orbit.online_anchor(&anchor_session, &name).await?;
    let thread = unique("thread");
    let (mut kept, _, _) = orbit.client(&account.web.socket_session()).await?;
    let (mut revoked_ws, _, _) = orbit.client(&second.socket_session()).await?;
    kept.subscribe(&thread, None).await?;
    revoked_ws.subscribe(&thread, None).await?;
    anchor.send_json(&thread_note(&thread, 1)).await?;
    for ws in [&mut kept, &mut revoked_ws] {
        let (note, _) = ws
            .collect_until("note 1", |f| f["method"] == "item/agentMessage/delta")
            .await?;
        assert_eq!(note["params"]["n"], 1, "{note}");
    }

    orbit.hub_fault(&user, 100).await?;
    api.delete(
        &format!("/auth/sessions/{}", second.session_id),
        &account.web.access,
    )
    .await?
    .refused(
        503,
        "sockets_not_closed",
        "a revocation whose hub cannot be told",
    )?;
    api.get("/auth/session", &second.access).await?.refused(
        401,
        "session_revoked",
        "the revoked session over HTTP",
    )?;

    // Past the hub's re-check interval, the next frame through the hub cuts the revoked socket
    // off before anything is relayed to it.
    past_a_revocation_recheck().await;
    anchor.send_json(&thread_note(&thread, 2)).await?;
    let (close, before) = revoked_ws.recv_close().await?;
    assert_eq!(close.map(|c| c.0), Some(4003), "closed as revoked");
    assert!(
        before.iter().all(|f| f["params"]["n"] != 2),
        "the revoked socket got a frame sent after its revocation: {before:?}"
    );
    let (note, _) = kept
        .collect_until("the live session's note 2", |f| {
            f["method"] == "item/agentMessage/delta"
        })
        .await?;
    assert_eq!(
        note["params"]["n"], 2,
        "the live session still gets it: {note}"
    );
    orbit.hub_fault(&user, 0).await?;
    Ok(())
}

/// The same for an unpaired anchor: its revocation stands, the request hears that its socket
/// could not be closed, and the frames it sends afterwards reach nobody.
#[tokio::test]
async fn revoked_anchor_stops_relaying_even_when_its_hub_cannot_be_told() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let account = sign_up(&api).await?;
    let user = account.web.user_id.clone();
    let name = unique("box");
    let anchor_session = orbit.pair_anchor(&user, &name).await?;
    let anchor_id = anchor_session.anchor()?.to_string();
    let mut anchor = orbit.online_anchor(&anchor_session, &name).await?;
    let thread = unique("thread");
    let (mut client, _, _) = orbit.client(&account.web.socket_session()).await?;
    client.subscribe(&thread, None).await?;

    orbit.hub_fault(&user, 100).await?;
    api.delete(&format!("/auth/anchors/{anchor_id}"), &account.web.access)
        .await?
        .refused(
            503,
            "sockets_not_closed",
            "unpairing whose hub cannot be told",
        )?;
    let anchors = api
        .get("/auth/anchors", &account.web.access)
        .await?
        .ok("anchors")?;
    assert_eq!(anchors["anchors"], json!([]), "the anchor is revoked");

    past_a_revocation_recheck().await;
    anchor.send_json(&thread_note(&thread, 1)).await?;
    expect_revoked_close(&mut anchor, "the unpaired anchor's socket").await?;
    let frames = client.barrier().await?;
    assert!(
        frames
            .iter()
            .all(|f| f["method"] != "item/agentMessage/delta"),
        "a frame of the revoked anchor was relayed: {frames:?}"
    );
    orbit.hub_fault(&user, 0).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Request bodies: the 16 KiB limit is enforced before and while reading, not after

/// Sends `head` and then `body` over a raw connection and returns the status line and the body
/// of the answer, or an error if none came within `within`. The connection stays open, so a
/// Worker that waits for the rest of an announced body never answers.
async fn raw_exchange(orbit: &Orbit, head: &str, body: &[u8], within: Duration) -> Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", orbit.port())).await?;
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.flush().await?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    let read = async {
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&answer);
            if text.contains("body_too_large") || text.contains("\"error\"") {
                break;
            }
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(within, read)
        .await
        .map_err(|_| anyhow!("no answer within {within:?}; got so far: {answer:?}"))??;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test]
async fn a_huge_announced_body_is_refused_at_once_without_waiting_for_it() -> Result<()> {
    let orbit = open()?;
    // 1 GiB announced, 2 bytes sent: a Worker that reads before checking would wait forever.
    let head =
        "POST /auth/totp/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         CF-Connecting-IP: 198.51.100.7\r\nContent-Length: 1073741824\r\n\r\n";
    let answer = raw_exchange(orbit, head, b"{\"", Duration::from_secs(20)).await?;
    assert!(answer.starts_with("HTTP/1.1 413"), "answer: {answer}");
    assert!(answer.contains("body_too_large"), "answer: {answer}");
    Ok(())
}

/// A body sent in chunks announces no length: the Worker reads it only as far as the limit,
/// then refuses it. The body never ends, so a Worker that read it whole before checking would
/// never answer.
#[tokio::test]
async fn an_endless_chunked_body_is_refused_once_past_the_limit() -> Result<()> {
    let orbit = open()?;
    let head =
        "POST /auth/totp/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         CF-Connecting-IP: 198.51.100.8\r\nTransfer-Encoding: chunked\r\n\r\n";
    let piece = format!("{{\"name\":\"{}", "a".repeat(4096));
    let mut body = Vec::new();
    for _ in 0..16 {
        body.extend_from_slice(format!("{:x}\r\n{piece}\r\n", piece.len()).as_bytes());
    }
    let answer = raw_exchange(orbit, head, &body, Duration::from_secs(20)).await?;
    assert!(answer.starts_with("HTTP/1.1 413"), "answer: {answer}");
    assert!(answer.contains("body_too_large"), "answer: {answer}");
    Ok(())
}

/// A refusal that comes before the body matters (no token) leaves the body unread. workerd
/// resets such a connection, so a client that reuses it (every HTTP client pools) would lose
/// its next request without the Worker ever seeing it. The Worker reads a small announced body
/// to its end, and the same connection then answers the next request.
#[tokio::test]
async fn a_body_refused_unread_does_not_cost_the_client_its_next_request_on_the_connection(
) -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let orbit = open()?;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", orbit.port())).await?;
    let body = r#"{"note":"never read by a handler"}"#;
    let refused = format!(
        "POST /auth/invites HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         CF-Connecting-IP: 198.51.100.9\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let next = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let mut answers = String::new();
    let exchange = async {
        stream.write_all(refused.as_bytes()).await?;
        let mut chunk = [0u8; 4096];
        while !answers.contains("token_missing") {
            let n = stream.read(&mut chunk).await?;
            ensure!(n > 0, "the connection closed after the refusal: {answers}");
            answers.push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
        stream.write_all(next.as_bytes()).await?;
        while !answers.contains(r#""status":"ok""#) {
            let n = stream.read(&mut chunk).await?;
            ensure!(
                n > 0,
                "the connection closed before the next answer: {answers}"
            );
            answers.push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(20), exchange)
        .await
        .map_err(|_| anyhow!("no answers within 20 s"))??;
    assert!(answers.starts_with("HTTP/1.1 401"), "answers: {answers}");
    assert!(answers.contains("HTTP/1.1 200"), "answers: {answers}");
    Ok(())
}

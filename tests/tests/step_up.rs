//! Step-up for sensitive changes (docs/auth.md, Step-up), end to end over HTTP against the real
//! Worker under workerd. A stolen access token (15 minutes) must not buy anything that outlives
//! it: adding a way in, removing one, an invite, a device approval. Those need a session that
//! proved a way in (a passkey assertion or a TOTP code) within the window. Each test is named
//! after the threat it defends against.
//!
//! The test Orbit shortens the window to [`WINDOW_S`] seconds (`ORBIT_STEP_UP_WINDOW`; the
//! default is 5 minutes), so a session goes stale within a test. Passkeys are Orbit's software
//! authenticator (`orbit_shared::webauthn::test_authenticator`), as in `auth_passkey.rs`.

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use orbit_shared::webauthn::test_authenticator::{KeyKind, TestAuthenticator};
use orbit_tests::api::{base32_decode, Answer, Client, Web};
use orbit_tests::orbit_shared::auth::totp::{generate, TotpSecret};
use orbit_tests::{now_secs, unique, Orbit, SharedOrbit};
use serde_json::{json, Value};

#[path = "support/passkey.rs"]
mod passkey;
use passkey::{authenticator, b64_field, ceremony, RP_ID};

/// The test Orbit's step-up window, in seconds.
const WINDOW_S: u64 = 3;

static OPEN: SharedOrbit = OnceLock::new();

fn open() -> Result<&'static Orbit> {
    Orbit::shared_in(
        &OPEN,
        &[
            ("ORBIT_OPEN_REGISTRATION", "true"),
            ("ORBIT_RP_ID", RP_ID),
            ("ORBIT_STEP_UP_WINDOW", &WINDOW_S.to_string()),
        ],
    )
}

/// Waits until a proof made before the call is out of the window (the decision is in ms: a
/// proof at `t` is stale from `t + WINDOW_S` on).
async fn past_the_window() {
    tokio::time::sleep(Duration::from_millis(WINDOW_S * 1000 + 700)).await;
}

// ---------------------------------------------------------------------------------------------
// Accounts

/// A TOTP account: its secret, and the session sign-up opened (fresh: it just proved the
/// code).
struct TotpAccount {
    secret: TotpSecret,
    web: Web,
    /// The code sign-up proved (spent from then on).
    sign_up_code: String,
}

impl TotpAccount {
    /// The code `steps` 30-second steps from now (each code works once; ±1 step is accepted).
    fn code(&self, steps: u64) -> String {
        generate(&self.secret, now_secs() + 30 * steps)
    }
}

fn secret_of(start: &Value) -> Result<TotpSecret> {
    TotpSecret::from_bytes(&base32_decode(
        start["secret"].as_str().unwrap_or_default(),
    )?)
    .map_err(|e| anyhow!("bad secret: {e}"))
}

async fn totp_sign_up(api: &Client) -> Result<TotpAccount> {
    let name = unique("su");
    let start = api
        .post("/auth/totp/enroll/start", json!({ "name": name }), None)
        .await?
        .ok("sign-up start")?;
    let secret = secret_of(&start)?;
    let sign_up_code = generate(&secret, now_secs());
    let body = api
        .post(
            "/auth/totp/enroll/verify",
            json!({"enrollmentId": start["enrollmentId"], "code": sign_up_code}),
            None,
        )
        .await?
        .ok("sign-up confirmation")?;
    Ok(TotpAccount {
        secret,
        web: Web::from_answer(&body)?,
        sign_up_code,
    })
}

/// A new account whose only way in is a passkey.
async fn passkey_sign_up(api: &Client, auth: &mut TestAuthenticator) -> Result<Web> {
    let options = api
        .post(
            "/auth/passkey/register/options",
            json!({ "name": unique("pk") }),
            None,
        )
        .await?
        .ok("registration options")?;
    auth.user_handle = b64_field(&options, "/publicKey/user/id")?;
    let credential = auth.register(&ceremony(&options)?);
    let body = api
        .post(
            "/auth/passkey/register/verify",
            json!({ "challengeId": options["challengeId"], "credential": credential }),
            None,
        )
        .await?
        .ok("passkey sign-up")?;
    Web::from_answer(&body)
}

/// A discoverable sign-in with `auth`: another session of its account.
async fn passkey_sign_in(api: &Client, auth: &TestAuthenticator) -> Result<Web> {
    let options = api
        .post("/auth/passkey/login/options", json!({}), None)
        .await?
        .ok("sign-in options")?;
    let body = api
        .post(
            "/auth/passkey/login/verify",
            json!({ "challengeId": options["challengeId"], "credential": auth.assert(&ceremony(&options)?) }),
            None,
        )
        .await?
        .ok("passkey sign-in")?;
    Web::from_answer(&body)
}

/// Asserts a 403 `step_up_required` naming exactly `methods`.
fn needs_step_up(answer: &Answer, methods: &[&str], what: &str) -> Result<()> {
    answer.refused(403, "step_up_required", what)?;
    if answer.body["error"]["methods"] != json!(methods) {
        bail!(
            "{what}: expected methods {methods:?}, got {}",
            answer.body["error"]["methods"]
        );
    }
    Ok(())
}

async fn step_up_totp(api: &Client, web: &Web, code: &str) -> Result<Answer> {
    api.post(
        "/auth/step-up/totp",
        json!({ "code": code }),
        Some(&web.access),
    )
    .await
}

async fn step_up_passkey_options(api: &Client, web: &Web) -> Result<Value> {
    api.post(
        "/auth/step-up/passkey/options",
        json!({}),
        Some(&web.access),
    )
    .await?
    .ok("step-up options")
}

async fn step_up_passkey_verify(
    api: &Client,
    web: &Web,
    options: &Value,
    credential: Value,
) -> Result<Answer> {
    api.post(
        "/auth/step-up/passkey/verify",
        json!({ "challengeId": options["challengeId"], "credential": credential }),
        Some(&web.access),
    )
    .await
}

async fn invite(api: &Client, web: &Web) -> Result<Answer> {
    api.post("/auth/invites", json!({}), Some(&web.access))
        .await
}

async fn add_passkey_options(api: &Client, web: &Web) -> Result<Answer> {
    api.post(
        "/auth/passkey/register/options",
        json!({}),
        Some(&web.access),
    )
    .await
}

async fn ways_in(api: &Client, web: &Web) -> Result<Value> {
    Ok(api.get("/auth/session", &web.access).await?.ok("session")?["methods"].clone())
}

// =============================================================================================
// Each sensitive change refuses a stale session

/// A thief with the access token of a session that signed in more than the window ago cannot
/// plant their own passkey (which would outlive the session's revocation): neither the options
/// nor — with options fetched while the session was fresh — the verification go through.
#[tokio::test]
async fn stolen_access_token_cannot_add_a_passkey_without_a_fresh_sign_in() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let owner = totp_sign_up(&api).await?;
    // Options while fresh, kept for after the window.
    let early = add_passkey_options(&api, &owner.web)
        .await?
        .ok("options while fresh")?;
    past_the_window().await;

    let stale = add_passkey_options(&api, &owner.web).await?;
    needs_step_up(&stale, &["totp"], "options with a stale session")?;
    let mut thief = authenticator(KeyKind::Es256, 7);
    thief.user_handle = b64_field(&early, "/publicKey/user/id")?;
    let credential = thief.register(&ceremony(&early)?);
    let verify = api
        .post(
            "/auth/passkey/register/verify",
            json!({ "challengeId": early["challengeId"], "credential": credential }),
            Some(&owner.web.access),
        )
        .await?;
    needs_step_up(&verify, &["totp"], "verification with a stale session")?;
    assert_eq!(
        ways_in(&api, &owner.web).await?,
        json!({"totp": true, "passkeys": 0}),
        "no passkey was added"
    );

    // The owner confirms with a current code, and may add one.
    step_up_totp(&api, &owner.web, &owner.code(1))
        .await?
        .ok("TOTP step-up")?;
    add_passkey_options(&api, &owner.web)
        .await?
        .ok("options after the step-up")?;
    Ok(())
}

/// A stale session cannot remove a passkey (locking the owner out of it) nor turn TOTP on for a
/// passkey-only account (planting the thief's authenticator); the refusal offers the passkey.
#[tokio::test]
async fn stolen_access_token_cannot_remove_a_passkey_or_turn_on_totp_without_a_fresh_sign_in(
) -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let mut auth = authenticator(KeyKind::Es256, 1);
    let web = passkey_sign_up(&api, &mut auth).await?;
    let list = api.get("/auth/passkeys", &web.access).await?.ok("list")?;
    let passkey_id = list["passkeys"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    past_the_window().await;

    let enrol = api
        .post("/auth/totp/enroll/start", json!({}), Some(&web.access))
        .await?;
    needs_step_up(&enrol, &["passkey"], "turning TOTP on while stale")?;
    let remove = api
        .delete(&format!("/auth/passkeys/{passkey_id}"), &web.access)
        .await?;
    needs_step_up(&remove, &["passkey"], "removing a passkey while stale")?;
    assert_eq!(
        ways_in(&api, &web).await?,
        json!({"totp": false, "passkeys": 1}),
        "nothing changed"
    );
    Ok(())
}

/// Disabling TOTP needs a current code, which is itself the fresh proof: a stale session
/// without one gets nowhere, and one with it may go ahead.
#[tokio::test]
async fn stolen_access_token_cannot_disable_totp_without_a_current_code() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let mut auth = authenticator(KeyKind::Es256, 2);
    let web = passkey_sign_up(&api, &mut auth).await?;
    let start = api
        .post("/auth/totp/enroll/start", json!({}), Some(&web.access))
        .await?
        .ok("TOTP start while fresh")?;
    let secret = secret_of(&start)?;
    api.post(
        "/auth/totp/enroll/verify",
        json!({"enrollmentId": start["enrollmentId"], "code": generate(&secret, now_secs())}),
        Some(&web.access),
    )
    .await?
    .ok("TOTP confirmation")?;
    past_the_window().await;

    api.post("/auth/totp/disable", json!({}), Some(&web.access))
        .await?
        .refused(400, "malformed_code", "disabling without a code")?;
    api.post(
        "/auth/totp/disable",
        json!({"code": "000000"}),
        Some(&web.access),
    )
    .await?
    .refused(401, "invalid_code", "disabling with a guessed code")?;
    assert_eq!(ways_in(&api, &web).await?["totp"], true, "TOTP is still on");
    api.post(
        "/auth/totp/disable",
        json!({"code": generate(&secret, now_secs() + 30)}),
        Some(&web.access),
    )
    .await?
    .ok("disabling with a current code")?;
    assert_eq!(ways_in(&api, &web).await?["totp"], false);
    Ok(())
}

/// An invite lets someone in for 7 days; a stale session cannot mint one, and the attempt is a
/// security event the owner can see.
#[tokio::test]
async fn stolen_access_token_cannot_mint_invites_without_a_fresh_sign_in() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let owner = totp_sign_up(&api).await?;
    invite(&api, &owner.web).await?.ok("invite while fresh")?;
    past_the_window().await;
    needs_step_up(
        &invite(&api, &owner.web).await?,
        &["totp"],
        "invite while stale",
    )?;
    let events = api
        .get("/auth/security-events", &owner.web.access)
        .await?
        .ok("events")?;
    let refused = events["events"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| e["kind"] == "step_up_required" && e["detail"] == "create_invite");
    assert!(refused, "the refused attempt is recorded: {events}");
    Ok(())
}

/// Approving a device code mints a 90-day anchor credential: a stale session cannot, and the
/// machine stays unpaired; a denial (protective) still works stale.
#[tokio::test]
async fn stolen_access_token_cannot_approve_a_device_code_without_a_fresh_sign_in() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let owner = totp_sign_up(&api).await?;
    let code = |name: &str| {
        let api = api.clone();
        let name = name.to_string();
        async move {
            api.post("/auth/device/code", json!({ "name": name }), None)
                .await?
                .ok("device code")
        }
    };
    let wanted = code("thief-box").await?;
    let unwanted = code("other-box").await?;
    past_the_window().await;

    let approve = api
        .post(
            "/auth/device/authorise",
            json!({"userCode": wanted["userCode"], "approve": true}),
            Some(&owner.web.access),
        )
        .await?;
    needs_step_up(&approve, &["totp"], "approving while stale")?;
    api.post(
        "/auth/device/token",
        json!({"deviceCode": wanted["deviceCode"]}),
        None,
    )
    .await?
    .rfc_error("authorization_pending", "the machine got nothing")?;
    let anchors = api
        .get("/auth/anchors", &owner.web.access)
        .await?
        .ok("anchors")?;
    assert_eq!(anchors["anchors"], json!([]), "no anchor was created");

    api.post(
        "/auth/device/authorise",
        json!({"userCode": unwanted["userCode"], "approve": false}),
        Some(&owner.web.access),
    )
    .await?
    .ok("a denial needs no step-up")?;

    step_up_totp(&api, &owner.web, &owner.code(1))
        .await?
        .ok("TOTP step-up")?;
    api.post(
        "/auth/device/authorise",
        json!({"userCode": wanted["userCode"], "approve": true}),
        Some(&owner.web.access),
    )
    .await?
    .ok("approving after the step-up")?;
    Ok(())
}

/// Removing access stays open to a stale session: revoking another session and signing out
/// protect the owner, so they ask for no proof.
#[tokio::test]
async fn a_stale_session_can_still_revoke_sessions_and_sign_out() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let mut auth = authenticator(KeyKind::Es256, 3);
    let first = passkey_sign_up(&api, &mut auth).await?;
    let second = passkey_sign_in(&api, &auth).await?;
    past_the_window().await;
    api.delete(
        &format!("/auth/sessions/{}", second.session_id),
        &first.access,
    )
    .await?
    .ok("revoking another session while stale")?;
    api.post("/auth/logout", json!({}), Some(&first.access))
        .await?
        .ok("signing out while stale")?;
    Ok(())
}

// =============================================================================================
// The step-up itself

/// A TOTP step-up makes the session fresh for the window, and only for the window.
#[tokio::test]
async fn a_fresh_totp_step_up_allows_the_change_for_the_window_only() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let owner = totp_sign_up(&api).await?;
    past_the_window().await;
    needs_step_up(&invite(&api, &owner.web).await?, &["totp"], "stale")?;
    let stepped = step_up_totp(&api, &owner.web, &owner.code(1))
        .await?
        .ok("TOTP step-up")?;
    assert_eq!(stepped["freshFor"], WINDOW_S);
    invite(&api, &owner.web)
        .await?
        .ok("invite within the window")?;
    past_the_window().await;
    needs_step_up(
        &invite(&api, &owner.web).await?,
        &["totp"],
        "invite after the window",
    )?;
    Ok(())
}

/// A TOTP code spent once — at sign-in or at a step-up — cannot step up again, even raced.
/// (Wrong codes are `invalid_code` under the TOTP sign-in limits, as
/// `stolen_access_token_cannot_disable_totp_without_a_current_code` shows on the same check.)
#[tokio::test]
async fn step_up_totp_code_cannot_be_replayed() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let owner = totp_sign_up(&api).await?;
    past_the_window().await;
    // The sign-up's own code is spent. (That very code: the current one differs when a 30 s
    // step began while the test waited.)
    step_up_totp(&api, &owner.web, &owner.sign_up_code)
        .await?
        .refused(401, "code_replayed", "the sign-up's code")?;
    // Two step-ups racing with one new code: one wins.
    let code = owner.code(1);
    let (a, b) = tokio::join!(
        step_up_totp(&api, &owner.web, &code),
        step_up_totp(&api, &owner.web, &code)
    );
    let (a, b) = (a?, b?);
    let won = [&a, &b].iter().filter(|x| x.status == 200).count();
    assert_eq!(
        won, 1,
        "exactly one of two racing step-ups wins: {a:?} {b:?}"
    );
    let lost = if a.status == 200 { &b } else { &a };
    lost.refused(401, "code_replayed", "the racing loser")?;
    step_up_totp(&api, &owner.web, &code).await?.refused(
        401,
        "code_replayed",
        "the same code once more",
    )?;
    Ok(())
}

/// Refreshing tokens keeps a session alive, never fresh: a thief holding the refresh token
/// cannot renew the proof.
#[tokio::test]
async fn refresh_does_not_renew_the_step_up() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let owner = totp_sign_up(&api).await?;
    past_the_window().await;
    let refreshed = api
        .post(
            "/auth/refresh",
            json!({ "refreshToken": owner.web.refresh }),
            None,
        )
        .await?
        .ok("refresh")?;
    let access = refreshed["accessToken"].as_str().unwrap_or_default();
    let answer = api.post("/auth/invites", json!({}), Some(access)).await?;
    needs_step_up(&answer, &["totp"], "invite with a refreshed token")?;
    Ok(())
}

/// A passkey step-up: the options allow the account's passkeys only, over a challenge bound to
/// the session that asked; the assertion makes that session fresh and no other; a replay, another
/// session's use of the challenge, and another account's passkey are refused.
#[tokio::test]
async fn a_passkey_step_up_freshens_only_the_session_that_asked() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let mut auth = authenticator(KeyKind::Es256, 4);
    let web = passkey_sign_up(&api, &mut auth).await?;
    let other_session = passkey_sign_in(&api, &auth).await?;
    let mut stranger_auth = authenticator(KeyKind::Es256, 5);
    passkey_sign_up(&api, &mut stranger_auth).await?;
    past_the_window().await;

    let options = step_up_passkey_options(&api, &web).await?;
    assert_eq!(
        b64_field(&options, "/publicKey/allowCredentials/0/id")?,
        auth.credential_id,
        "the options name the account's passkey"
    );
    assert_eq!(
        options["publicKey"]["allowCredentials"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let assertion = auth.assert(&ceremony(&options)?);

    // Another session of the same user cannot spend this session's challenge.
    step_up_passkey_verify(&api, &other_session, &options, assertion.clone())
        .await?
        .refused(401, "challenge_unknown", "another session's challenge")?;
    // Another account's passkey proves nothing about this session.
    let options_for_stranger = step_up_passkey_options(&api, &web).await?;
    let strangers = stranger_auth.assert(&ceremony(&options_for_stranger)?);
    step_up_passkey_verify(&api, &web, &options_for_stranger, strangers)
        .await?
        .refused(401, "unknown_credential", "another account's passkey")?;

    step_up_passkey_verify(&api, &web, &options, assertion.clone())
        .await?
        .ok("passkey step-up")?;
    step_up_passkey_verify(&api, &web, &options, assertion)
        .await?
        .refused(401, "challenge_used", "a replayed assertion")?;

    invite(&api, &web)
        .await?
        .ok("invite after the passkey step-up")?;
    needs_step_up(
        &invite(&api, &other_session).await?,
        &["passkey"],
        "the other session is still stale",
    )?;
    Ok(())
}

/// An account without a passkey is told so when it asks for passkey step-up options, and a
/// step-up needs a signed-in session at all.
#[tokio::test]
async fn step_up_needs_a_signed_in_session_and_a_way_the_account_has() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let owner = totp_sign_up(&api).await?;
    api.post(
        "/auth/step-up/passkey/options",
        json!({}),
        Some(&owner.web.access),
    )
    .await?
    .refused(
        404,
        "passkey_not_found",
        "passkey step-up without a passkey",
    )?;
    api.post("/auth/step-up/totp", json!({"code": owner.code(1)}), None)
        .await?
        .refused(401, "token_missing", "step-up without a session")?;
    let mut auth = authenticator(KeyKind::Es256, 6);
    let web = passkey_sign_up(&api, &mut auth).await?;
    step_up_totp(&api, &web, "123456").await?.refused(
        409,
        "totp_not_enabled",
        "TOTP step-up without TOTP",
    )?;
    Ok(())
}

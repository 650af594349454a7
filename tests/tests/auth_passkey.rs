//! Passkeys end to end (SPEC §2, §7): sign-up, discoverable sign-in, adding and removing
//! passkeys, and the WebAuthn defects — over HTTP against the real Worker under workerd. The
//! browser's side is Orbit's software authenticator (`orbit_shared::webauthn::test_authenticator`,
//! built with the `test-authenticator` feature), which makes `PublicKeyCredential.toJSON()`
//! answers with real signatures and lets a test get any field wrong. Each test is named after the
//! threat it defends against.
//!
//! The test Orbits allow the origin `http://allowed.test` (the harness's `ALLOWED_ORIGIN`) and
//! use the RP ID `allowed.test` (`ORBIT_RP_ID`):
//! * `open()` — registration open, default rate limits; most tests, each from its own client
//!   address (`CF-Connecting-IP`). Its refresh tokens have no grace window
//!   (`ORBIT_REFRESH_REUSE_GRACE=0`: strict reuse detection), so a spent token replayed at once
//!   is reuse, and the strict setting is exercised;
//! * `tight()` — 2-second challenges and tiny passkey rate limits;
//! * a private fresh one with registration closed, for bootstrap and invites.

use orbit_tests::orbit_protocol::auth::Credentials;
use orbit_tests::orbit_protocol::dev::DevSession;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use orbit_shared::webauthn::base64url;
use orbit_shared::webauthn::test_authenticator::{Ceremony, KeyKind, TestAuthenticator, BE, BS};
use orbit_tests::api::{base32_decode, expect_revoked_close, Answer, Client, Web};
use orbit_tests::orbit_shared::auth::totp::{generate, TotpSecret};
use orbit_tests::{now_secs, random_hex, unique, Orbit, Session, SharedOrbit, Upgrade};
use serde_json::{json, Value};

#[path = "support/passkey.rs"]
mod passkey;
use passkey::{authenticator, b64_field, ceremony, RP_ID};

// ---------------------------------------------------------------------------------------------
// Instances

static OPEN: SharedOrbit = OnceLock::new();
static TIGHT: SharedOrbit = OnceLock::new();

fn open() -> Result<&'static Orbit> {
    Orbit::shared_in(
        &OPEN,
        &[
            ("ORBIT_OPEN_REGISTRATION", "true"),
            ("ORBIT_RP_ID", RP_ID),
            ("ORBIT_REFRESH_REUSE_GRACE", "0"),
        ],
    )
}

/// 4 passkey attempts per address per 4 s, 3 per account per 3 s.
const TIGHT_LIMITS: &str = r#"{
    "passkey_sign_in": {"per_address": {"max": 4, "per_s": 4}, "per_account": {"max": 3, "per_s": 3}}
}"#;

fn tight() -> Result<&'static Orbit> {
    Orbit::shared_in(
        &TIGHT,
        &[
            ("ORBIT_OPEN_REGISTRATION", "true"),
            ("ORBIT_RP_ID", RP_ID),
            ("ORBIT_RATE_LIMITS", TIGHT_LIMITS),
            ("ORBIT_PASSKEY_CHALLENGE_LIFETIME", "2"),
        ],
    )
}

// ---------------------------------------------------------------------------------------------
// Passkeys

async fn register_options(api: &Client, body: Value, bearer: Option<&str>) -> Result<Answer> {
    api.post("/auth/passkey/register/options", body, bearer)
        .await
}

/// Options for a new account named `name`; the authenticator takes the user handle from them,
/// as a browser does.
async fn sign_up_options(api: &Client, auth: &mut TestAuthenticator, name: &str) -> Result<Value> {
    let options = register_options(api, json!({ "name": name }), None)
        .await?
        .ok("registration options")?;
    auth.user_handle = b64_field(&options, "/publicKey/user/id")?;
    Ok(options)
}

async fn register_verify(
    api: &Client,
    options: &Value,
    credential: Value,
    bearer: Option<&str>,
) -> Result<Answer> {
    api.post(
        "/auth/passkey/register/verify",
        json!({ "challengeId": options["challengeId"], "credential": credential }),
        bearer,
    )
    .await
}

/// A new account made with a passkey (sign-up by passkey alone).
async fn passkey_sign_up(api: &Client, auth: &mut TestAuthenticator) -> Result<(String, Web)> {
    let name = unique("pk");
    let options = sign_up_options(api, auth, &name).await?;
    let credential = auth.register(&ceremony(&options)?);
    let body = register_verify(api, &options, credential, None)
        .await?
        .ok("passkey sign-up")?;
    if body["name"] != name.as_str() {
        bail!("signed up as {}, expected {name}", body["name"]);
    }
    Ok((name, Web::from_answer(&body)?))
}

/// Adds a passkey to a signed-in account; returns the new passkey's view.
async fn add_passkey(
    api: &Client,
    web: &Web,
    auth: &mut TestAuthenticator,
    tweak: impl FnOnce(&mut Ceremony),
) -> Result<Value> {
    let options = register_options(api, json!({}), Some(&web.access))
        .await?
        .ok("options to add a passkey")?;
    assert_eq!(options["newAccount"], false);
    auth.user_handle = b64_field(&options, "/publicKey/user/id")?;
    let mut c = ceremony(&options)?;
    tweak(&mut c);
    let body = api
        .post(
            "/auth/passkey/register/verify",
            json!({
                "challengeId": options["challengeId"],
                "credential": auth.register(&c),
                "label": "laptop",
            }),
            Some(&web.access),
        )
        .await?
        .ok("adding a passkey")?;
    Ok(body["passkey"].clone())
}

async fn login_options(api: &Client) -> Result<Value> {
    api.post("/auth/passkey/login/options", json!({}), None)
        .await?
        .ok("sign-in options")
}

async fn login_verify(api: &Client, challenge_id: &Value, credential: Value) -> Result<Answer> {
    api.post(
        "/auth/passkey/login/verify",
        json!({ "challengeId": challenge_id, "credential": credential }),
        None,
    )
    .await
}

/// A discoverable sign-in whose ceremony `tweak` may spoil.
async fn sign_in_with(
    api: &Client,
    auth: &TestAuthenticator,
    tweak: impl FnOnce(&mut Ceremony),
) -> Result<Answer> {
    let options = login_options(api).await?;
    let mut c = ceremony(&options)?;
    tweak(&mut c);
    login_verify(api, &options["challengeId"], auth.assert(&c)).await
}

/// A sign-in with signature counter `counter`.
async fn sign_in(api: &Client, auth: &TestAuthenticator, counter: u32) -> Result<Answer> {
    sign_in_with(api, auth, |c| c.counter = counter).await
}

/// Turns TOTP on for a signed-in account; returns its secret.
async fn enable_totp(api: &Client, web: &Web) -> Result<TotpSecret> {
    let start = api
        .post("/auth/totp/enroll/start", json!({}), Some(&web.access))
        .await?
        .ok("TOTP enrolment start")?;
    let secret = TotpSecret::from_bytes(&base32_decode(
        start["secret"].as_str().unwrap_or_default(),
    )?)
    .map_err(|e| anyhow!("bad secret: {e}"))?;
    api.post(
        "/auth/totp/enroll/verify",
        json!({"enrollmentId": start["enrollmentId"], "code": generate(&secret, now_secs())}),
        Some(&web.access),
    )
    .await?
    .ok("TOTP enrolment confirmation")?;
    Ok(secret)
}

async fn security_events(api: &Client, web: &Web) -> Result<Value> {
    api.get("/auth/security-events", &web.access)
        .await?
        .ok("security events")
}

// =============================================================================================
// The journey

/// A passkey account's whole life: sign-up by passkey alone (no password, no TOTP), a
/// discoverable sign-in (no name), refresh rotation, and a stolen refresh token replayed after
/// rotation — which revokes the session and closes its socket — then logout.
#[tokio::test]
async fn passkey_sign_up_and_sign_in_give_sessions_whose_stolen_refresh_token_is_caught_on_reuse(
) -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let mut auth = authenticator(KeyKind::Es256, 1);

    // The sign-up options are standard creation options for a discoverable credential.
    let name = unique("pk");
    let options = sign_up_options(&api, &mut auth, &name).await?;
    let pk = &options["publicKey"];
    assert_eq!(pk["rp"]["id"], RP_ID);
    assert_eq!(pk["user"]["name"], name.as_str());
    assert_eq!(pk["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(pk["attestation"], "none");
    assert_eq!(b64_field(&options, "/publicKey/challenge")?.len(), 32);
    assert_eq!(options["newAccount"], true);
    assert_eq!(options["expiresIn"], 300);
    let body = register_verify(&api, &options, auth.register(&ceremony(&options)?), None)
        .await?
        .ok("passkey sign-up")?;
    let first = Web::from_answer(&body)?;
    assert_eq!(body["name"], name.as_str());
    assert_eq!(body["expiresIn"], 900);

    let me = api
        .get("/auth/session", &first.access)
        .await?
        .ok("whoami")?;
    assert_eq!(me["userId"], first.user_id.as_str());
    assert_eq!(me["methods"]["passkeys"], 1);
    assert_eq!(me["methods"]["totp"], false);

    // Discoverable sign-in options name nobody.
    let login = login_options(&api).await?;
    assert_eq!(login["publicKey"]["rpId"], RP_ID);
    assert_eq!(login["publicKey"]["allowCredentials"], json!([]));
    assert_eq!(b64_field(&login, "/publicKey/challenge")?.len(), 32);
    let mut c = ceremony(&login)?;
    c.counter = 1;
    let body = login_verify(&api, &login["challengeId"], auth.assert(&c))
        .await?
        .ok("passkey sign-in")?;
    let second = Web::from_answer(&body)?;
    assert_eq!(second.user_id, first.user_id);
    assert_eq!(body["name"], name.as_str());
    assert_ne!(second.session_id, first.session_id);

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
    let rotated_refresh = rotated.refresh_token;
    let rotated_access = rotated.access_token;
    assert_ne!(rotated_refresh, second.refresh);
    let (mut ws, _, _) = orbit
        .client(&Session(DevSession {
            access_token: rotated_access.clone(),
            ..second.socket_session().0
        }))
        .await?;

    // A thief replays the spent refresh token (no grace window here): the session dies, its
    // socket closes.
    api.elsewhere()
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
    let (status, body) = orbit
        .upgrade_status(&Upgrade::client().query_token(&rotated_access))
        .await?;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (401, json!("session_revoked"))
    );

    // The passkey still signs in (a new session); the sign-up session logs out.
    sign_in(&api, &auth, 2)
        .await?
        .ok("sign-in after the reuse")?;
    let (mut first_ws, _, _) = orbit.client(&first.socket_session()).await?;
    api.post("/auth/logout", json!({}), Some(&first.access))
        .await?
        .ok("logout")?;
    expect_revoked_close(&mut first_ws, "socket of the logged-out session").await?;
    api.get("/auth/session", &first.access).await?.refused(
        401,
        "session_revoked",
        "after logout",
    )?;

    // The security log saw it all, with no secret in it.
    let third = Web::from_answer(&sign_in(&api, &auth, 3).await?.ok("another sign-in")?)?;
    let events = security_events(&api, &third).await?;
    let text = events.to_string();
    for kind in [
        "account_created",
        "passkey_added",
        "sign_in",
        "refresh_reuse",
        "logout",
    ] {
        assert!(text.contains(kind), "no {kind} event in {text}");
    }
    assert!(
        events["events"].as_array().is_some_and(|e| e
            .iter()
            .any(|e| e["kind"] == "sign_in" && e["detail"] == "passkey")),
        "no passkey sign-in event in {text}"
    );
    for secret in [
        &first.refresh,
        &second.refresh,
        &rotated_refresh,
        &rotated_access,
    ] {
        assert!(
            !text.contains(secret.as_str()),
            "a token leaked into the security log"
        );
    }
    assert!(
        !orbit.output().contains(&first.refresh) && !orbit.output().contains(&second.refresh),
        "a refresh token leaked into the Worker's log"
    );
    Ok(())
}

// =============================================================================================
// WebAuthn defects (SPEC §7)

/// A phishing site at another origin relays the ceremony: the browser writes the phishing
/// origin into `clientDataJSON`, so the answer is refused, for sign-in and for registration —
/// whatever `Origin` header the request carries (Orbit takes origins from configuration only).
#[tokio::test]
async fn ceremonies_relayed_through_a_phishing_origin_are_refused() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let mut auth = authenticator(KeyKind::Es256, 2);
    passkey_sign_up(&api, &mut auth).await?;

    for origin in [
        "http://evil.test",
        "https://allowed.test",
        "http://allowed.test:8080",
        "http://allowed.test.evil.test",
    ] {
        let phished = api.with_origin(origin);
        sign_in_with(&phished, &auth, |c| {
            c.origin = origin.to_string();
            c.counter = 1;
        })
        .await?
        .refused(401, "origin_not_allowed", &format!("sign-in from {origin}"))?;
    }
    // Embedded in a foreign page (cross-origin iframe).
    sign_in_with(&api, &auth, |c| {
        c.cross_origin = Some(true);
        c.counter = 1;
    })
    .await?
    .refused(
        401,
        "origin_not_allowed",
        "sign-in from a cross-origin iframe",
    )?;

    // Registration through the phishing origin creates nothing: the name stays free.
    let mut victim = authenticator(KeyKind::EdDsa, 3);
    let name = unique("phished");
    let options = sign_up_options(&api, &mut victim, &name).await?;
    let mut c = ceremony(&options)?;
    c.origin = "http://evil.test".into();
    register_verify(
        &api.with_origin("http://evil.test"),
        &options,
        victim.register(&c),
        None,
    )
    .await?
    .refused(400, "origin_not_allowed", "sign-up from a phishing origin")?;
    let options = sign_up_options(&api, &mut victim, &name).await?;
    register_verify(&api, &options, victim.register(&ceremony(&options)?), None)
        .await?
        .ok("the same sign-up from the right origin")?;

    // The genuine origin still signs in.
    sign_in(&api, &auth, 1)
        .await?
        .ok("sign-in from the allowed origin")?;
    Ok(())
}

/// An assertion or registration made for another relying party (a look-alike domain the user
/// also has a passkey for) carries that RP ID's hash and is refused.
#[tokio::test]
async fn ceremonies_made_for_another_rp_id_are_refused() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let mut auth = authenticator(KeyKind::EdDsa, 4);
    passkey_sign_up(&api, &mut auth).await?;
    for rp_id in ["evil.test", "test", "sub.allowed.test", "ALLOWED.TEST"] {
        sign_in_with(&api, &auth, |c| {
            c.rp_id = rp_id.to_string();
            c.counter = 1;
        })
        .await?
        .refused(
            401,
            "rp_id_mismatch",
            &format!("an assertion for RP ID {rp_id}"),
        )?;
    }
    let mut other = authenticator(KeyKind::Es256, 5);
    let options = sign_up_options(&api, &mut other, &unique("rp")).await?;
    let mut c = ceremony(&options)?;
    c.rp_id = "evil.test".into();
    register_verify(&api, &options, other.register(&c), None)
        .await?
        .refused(400, "rp_id_mismatch", "a registration for another RP ID")?;
    sign_in(&api, &auth, 1).await?.ok("the right RP ID")?;
    Ok(())
}

/// Replay: a captured sign-in answer sent again, an answer signed over a challenge Orbit never
/// issued (or another ceremony's), and a challenge used twice — including two requests racing
/// with one answer — are refused. Every challenge serves one attempt.
#[tokio::test]
async fn replayed_assertions_and_wrong_or_reused_challenges_are_refused() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let mut auth = authenticator(KeyKind::Rs256, 6);
    passkey_sign_up(&api, &mut auth).await?;

    // A captured answer replayed verbatim.
    let options = login_options(&api).await?;
    let mut c = ceremony(&options)?;
    c.counter = 1;
    let captured = auth.assert(&c);
    login_verify(&api, &options["challengeId"], captured.clone())
        .await?
        .ok("the genuine sign-in")?;
    login_verify(&api.elsewhere(), &options["challengeId"], captured.clone())
        .await?
        .refused(401, "challenge_used", "the captured answer replayed")?;

    // The captured answer against a fresh challenge: it was signed over the old one.
    let fresh = login_options(&api).await?;
    login_verify(&api, &fresh["challengeId"], captured)
        .await?
        .refused(
            401,
            "challenge_mismatch",
            "an old answer under a new challenge",
        )?;
    // That attempt spent the fresh challenge too, even though it failed.
    let mut c = ceremony(&fresh)?;
    c.counter = 2;
    login_verify(&api, &fresh["challengeId"], auth.assert(&c))
        .await?
        .refused(401, "challenge_used", "a challenge after a failed attempt")?;

    // A challenge Orbit never issued, under a real challenge id.
    let options = login_options(&api).await?;
    let mut c = ceremony(&options)?;
    c.challenge = rand::random::<[u8; 32]>().to_vec();
    c.counter = 3;
    login_verify(&api, &options["challengeId"], auth.assert(&c))
        .await?
        .refused(
            401,
            "challenge_mismatch",
            "an answer over a made-up challenge",
        )?;
    // A made-up challenge id.
    let mut c = ceremony(&login_options(&api).await?)?;
    c.counter = 4;
    login_verify(&api, &json!(random_hex(16)), auth.assert(&c))
        .await?
        .refused(401, "challenge_unknown", "a made-up challenge id")?;

    // Two requests racing with one answer: exactly one signs in.
    let options = login_options(&api).await?;
    let mut c = ceremony(&options)?;
    c.counter = 5;
    let answer = auth.assert(&c);
    let elsewhere = api.elsewhere();
    let (a, b) = tokio::join!(
        login_verify(&api, &options["challengeId"], answer.clone()),
        login_verify(&elsewhere, &options["challengeId"], answer)
    );
    let statuses = [a?.status, b?.status];
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "exactly one of two racing uses of a challenge wins: {statuses:?}"
    );
    Ok(())
}

/// A cloned authenticator (its key copied) betrays itself by its signature counter: an
/// assertion whose counter does not exceed the last one seen is refused, even with a valid
/// signature, and the failure is logged; the genuine authenticator carries on.
#[tokio::test]
async fn a_cloned_authenticator_whose_counter_goes_backwards_is_refused() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let mut auth = authenticator(KeyKind::Es256, 7);
    let (_, web) = passkey_sign_up(&api, &mut auth).await?;
    sign_in(&api, &auth, 5).await?.ok("counter 5")?;
    sign_in(&api, &auth, 5).await?.refused(
        401,
        "counter_regressed",
        "the same counter again (a clone)",
    )?;
    sign_in(&api, &auth, 3).await?.refused(
        401,
        "counter_regressed",
        "a counter going backwards",
    )?;
    sign_in(&api, &auth, 0)
        .await?
        .refused(401, "counter_regressed", "a counter reset to 0")?;
    sign_in(&api, &auth, 6)
        .await?
        .ok("the genuine authenticator, counter 6")?;
    // Two clones racing with one counter value: at most one gets in.
    let elsewhere = api.elsewhere();
    let (a, b) = tokio::join!(sign_in(&api, &auth, 9), sign_in(&elsewhere, &auth, 9));
    let statuses = [a?.status, b?.status];
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "two assertions with one counter value: {statuses:?}"
    );
    let events = security_events(&api, &web).await?;
    assert!(
        events["events"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| {
                e["kind"] == "sign_in_failure" && e["detail"] == "passkey: counter_regressed"
            })),
        "no counter_regressed failure event in {events}"
    );
    Ok(())
}

/// A credential Orbit does not know signs in nobody; nor does a known credential id presented
/// with another key (an impostor), or with another user's handle.
#[tokio::test]
async fn unknown_or_impostor_credentials_cannot_sign_in() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let stranger = authenticator(KeyKind::Es256, 8);
    sign_in(&api, &stranger, 1).await?.refused(
        401,
        "unknown_credential",
        "a credential never registered",
    )?;

    let mut auth = authenticator(KeyKind::Es256, 9);
    let (_, victim) = passkey_sign_up(&api, &mut auth).await?;
    // Another key claiming the victim's credential id and user handle.
    let mut impostor = TestAuthenticator::new(KeyKind::Es256, 10);
    impostor.credential_id = auth.credential_id.clone();
    impostor.user_handle = auth.user_handle.clone();
    sign_in(&api, &impostor, 1).await?.refused(
        401,
        "bad_signature",
        "an impostor key under a known credential id",
    )?;
    // The victim's credential answering with another account's user handle.
    let mut other = authenticator(KeyKind::Es256, 11);
    let (_, other_web) = passkey_sign_up(&api, &mut other).await?;
    let mut confused = TestAuthenticator::new(KeyKind::Es256, 9);
    confused.credential_id = auth.credential_id.clone();
    confused.user_handle = other_web.user_id.as_bytes().to_vec();
    sign_in(&api, &confused, 1).await?.refused(
        401,
        "unknown_credential",
        "a credential with another user's handle",
    )?;
    // A malformed credential id.
    let options = login_options(&api).await?;
    let mut c = ceremony(&options)?;
    c.counter = 1;
    let mut answer = auth.assert(&c);
    answer["id"] = json!("not the raw id");
    login_verify(&api, &options["challengeId"], answer)
        .await?
        .refused(401, "unknown_credential", "id and rawId disagree")?;
    // None of it hurt the victim.
    let body = sign_in(&api, &auth, 1).await?.ok("the real passkey")?;
    assert_eq!(body["userId"], victim.user_id.as_str());
    Ok(())
}

/// Challenges are bound to their ceremony and their user: a registration challenge cannot
/// complete a sign-in, a sign-in challenge cannot complete a registration, and one user's
/// registration challenge cannot add a passkey to another account or start one.
#[tokio::test]
async fn challenges_cannot_cross_ceremonies_or_users() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let mut auth = authenticator(KeyKind::Es256, 12);
    let (_, web) = passkey_sign_up(&api, &mut auth).await?;

    // A registration challenge (adding a passkey) used to sign in.
    let reg = register_options(&api, json!({}), Some(&web.access))
        .await?
        .ok("registration options")?;
    let mut c = ceremony(&reg)?;
    c.counter = 1;
    login_verify(&api, &reg["challengeId"], auth.assert(&c))
        .await?
        .refused(
            401,
            "challenge_unknown",
            "a registration challenge at sign-in",
        )?;
    // A sign-up challenge used to sign in.
    let mut newcomer = authenticator(KeyKind::EdDsa, 13);
    let signup = sign_up_options(&api, &mut newcomer, &unique("pk")).await?;
    let mut c = ceremony(&signup)?;
    c.counter = 1;
    login_verify(&api, &signup["challengeId"], auth.assert(&c))
        .await?
        .refused(401, "challenge_unknown", "a sign-up challenge at sign-in")?;

    // A sign-in challenge used to register.
    let login = login_options(&api).await?;
    let mut second = authenticator(KeyKind::EdDsa, 14);
    second.user_handle = web.user_id.as_bytes().to_vec();
    register_verify(
        &api,
        &login,
        second.register(&ceremony(&login)?),
        Some(&web.access),
    )
    .await?
    .refused(
        400,
        "challenge_unknown",
        "a sign-in challenge at registration",
    )?;
    register_verify(&api, &login, second.register(&ceremony(&login)?), None)
        .await?
        .refused(400, "challenge_unknown", "a sign-in challenge at sign-up")?;

    // Another user's registration challenge, or a signed-in user's challenge used to sign up.
    let (_, other) = passkey_sign_up(&api, &mut authenticator(KeyKind::Es256, 15)).await?;
    let reg = register_options(&api, json!({}), Some(&web.access))
        .await?
        .ok("registration options")?;
    register_verify(
        &api,
        &reg,
        second.register(&ceremony(&reg)?),
        Some(&other.access),
    )
    .await?
    .refused(
        400,
        "challenge_unknown",
        "another user's registration challenge",
    )?;
    register_verify(&api, &reg, second.register(&ceremony(&reg)?), None)
        .await?
        .refused(
            400,
            "challenge_unknown",
            "a signed-in user's challenge used to sign up",
        )?;
    // A sign-up challenge cannot add a passkey to an existing account.
    register_verify(
        &api,
        &signup,
        second.register(&ceremony(&signup)?),
        Some(&web.access),
    )
    .await?
    .refused(
        400,
        "challenge_unknown",
        "a sign-up challenge used by a signed-in user",
    )?;
    // The owner's challenge still works for the owner: the refusals did not spend it.
    register_verify(
        &api,
        &reg,
        second.register(&ceremony(&reg)?),
        Some(&web.access),
    )
    .await?
    .ok("the owner's own challenge")?;
    // And a registration answer (webauthn.create) cannot sign in even under a login challenge.
    let login = login_options(&api).await?;
    let mut c = ceremony(&login)?;
    c.client_data_type = Some("webauthn.create".into());
    c.counter = 1;
    login_verify(&api, &login["challengeId"], auth.assert(&c))
        .await?
        .refused(401, "wrong_type", "clientData of the other ceremony")?;
    Ok(())
}

/// A challenge left lying around (an abandoned tab, a captured options answer) expires: after
/// its life (shortened to 2 s on this Orbit; 5 minutes by default) it completes neither a
/// sign-in nor a registration.
#[tokio::test]
async fn an_expired_challenge_is_refused() -> Result<()> {
    let orbit = tight()?;
    let api = Client::new(orbit);
    let mut auth = authenticator(KeyKind::Es256, 16);
    let (_, web) = passkey_sign_up(&api, &mut auth).await?;
    let login = login_options(&api).await?;
    assert_eq!(login["expiresIn"], 2);
    assert_eq!(login["publicKey"]["timeout"], 2000);
    let reg = register_options(&api, json!({}), Some(&web.access))
        .await?
        .ok("registration options")?;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let mut c = ceremony(&login)?;
    c.counter = 1;
    login_verify(&api, &login["challengeId"], auth.assert(&c))
        .await?
        .refused(401, "challenge_expired", "an expired sign-in challenge")?;
    let mut second = authenticator(KeyKind::Es256, 17);
    second.user_handle = web.user_id.as_bytes().to_vec();
    register_verify(
        &api,
        &reg,
        second.register(&ceremony(&reg)?),
        Some(&web.access),
    )
    .await?
    .refused(
        400,
        "challenge_expired",
        "an expired registration challenge",
    )?;
    sign_in(&api, &auth, 2).await?.ok("a fresh challenge")?;
    Ok(())
}

// =============================================================================================
// Managing passkeys

/// A signed-in user adds a second passkey (a synced one, without a counter) and either signs
/// in; a credential already registered — to this account or another — cannot be registered
/// again, so nobody can attach someone else's passkey to their account or take it over.
#[tokio::test]
async fn a_second_passkey_can_be_added_but_a_registered_credential_cannot_be_taken_over(
) -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let mut first = authenticator(KeyKind::Es256, 18);
    let (name, web) = passkey_sign_up(&api, &mut first).await?;

    // The options exclude the passkey the account has.
    let options = register_options(&api, json!({}), Some(&web.access))
        .await?
        .ok("options to add a passkey")?;
    assert_eq!(options["name"], name.as_str());
    assert_eq!(
        options["publicKey"]["excludeCredentials"][0]["id"],
        base64url::encode(&first.credential_id)
    );
    assert_eq!(
        b64_field(&options, "/publicKey/user/id")?,
        web.user_id.as_bytes(),
        "the user handle is the account's, for every passkey of it"
    );

    // A synced passkey: backup eligible and backed up, counter always 0.
    let mut synced = authenticator(KeyKind::EdDsa, 19);
    let view = add_passkey(&api, &web, &mut synced, |c| c.flags |= BE | BS).await?;
    assert_eq!(view["label"], "laptop");
    assert_eq!(view["backupEligible"], true);
    let list = api.get("/auth/passkeys", &web.access).await?.ok("list")?;
    let passkeys = list["passkeys"].as_array().cloned().unwrap_or_default();
    assert_eq!(passkeys.len(), 2, "{list}");
    assert_eq!(passkeys[1]["id"], view["id"]);
    let me = api.get("/auth/session", &web.access).await?.ok("whoami")?;
    assert_eq!(me["methods"]["passkeys"], 2);

    for round in 0..2 {
        let body = sign_in_with(&api, &synced, |c| c.flags |= BE | BS)
            .await?
            .ok(&format!("the synced passkey, round {round}"))?;
        assert_eq!(body["userId"], web.user_id.as_str());
        assert_eq!(body["passkeyId"], view["id"]);
    }
    let body = sign_in(&api, &first, 1).await?.ok("the first passkey")?;
    assert_eq!(body["userId"], web.user_id.as_str());

    // Registering an already registered credential: to the same account, to another, or as a
    // new account.
    let mut again = TestAuthenticator::new(KeyKind::Es256, 18);
    again.credential_id = first.credential_id.clone();
    let options = register_options(&api, json!({}), Some(&web.access))
        .await?
        .ok("options")?;
    again.user_handle = web.user_id.as_bytes().to_vec();
    register_verify(
        &api,
        &options,
        again.register(&ceremony(&options)?),
        Some(&web.access),
    )
    .await?
    .refused(409, "credential_exists", "the same credential twice")?;
    let (_, other) = passkey_sign_up(&api, &mut authenticator(KeyKind::Es256, 20)).await?;
    let options = register_options(&api, json!({}), Some(&other.access))
        .await?
        .ok("options")?;
    register_verify(
        &api,
        &options,
        again.register(&ceremony(&options)?),
        Some(&other.access),
    )
    .await?
    .refused(409, "credential_exists", "someone else's credential")?;
    let taken_name = unique("thief");
    let options = sign_up_options(&api, &mut again, &taken_name).await?;
    register_verify(&api, &options, again.register(&ceremony(&options)?), None)
        .await?
        .refused(
            409,
            "credential_exists",
            "a new account with someone else's credential",
        )?;
    // That sign-up created nothing: its name is free.
    let mut fresh = authenticator(KeyKind::Es256, 21);
    let options = sign_up_options(&api, &mut fresh, &taken_name).await?;
    register_verify(&api, &options, fresh.register(&ceremony(&options)?), None)
        .await?
        .ok("the name after the refused sign-up")?;
    // The credential still signs in to its own account only.
    let body = sign_in(&api, &first, 2)
        .await?
        .ok("the first passkey again")?;
    assert_eq!(body["userId"], web.user_id.as_str());
    Ok(())
}

/// Locking yourself (or, with a stolen session, the owner) out: the last way to sign in cannot
/// be removed; with TOTP as another way in, a passkey can go, and with a passkey as another way
/// in, TOTP can be turned off. Nobody can list or remove another user's passkeys.
#[tokio::test]
async fn the_last_way_in_cannot_be_removed_and_others_passkeys_are_out_of_reach() -> Result<()> {
    let orbit = open()?;
    let api = Client::new(orbit);
    let mut auth = authenticator(KeyKind::Es256, 22);
    let (name, web) = passkey_sign_up(&api, &mut auth).await?;
    let list = api.get("/auth/passkeys", &web.access).await?.ok("list")?;
    let only = list["passkeys"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    api.delete(&format!("/auth/passkeys/{only}"), &web.access)
        .await?
        .refused(409, "last_sign_in_method", "removing the only passkey")?;

    // Another user sees none of it.
    let (_, other) = passkey_sign_up(&api, &mut authenticator(KeyKind::Es256, 23)).await?;
    let theirs = api
        .get("/auth/passkeys", &other.access)
        .await?
        .ok("other list")?;
    assert_eq!(theirs["passkeys"].as_array().map(Vec::len), Some(1));
    assert_ne!(theirs["passkeys"][0]["id"], only.as_str());
    api.delete(&format!("/auth/passkeys/{only}"), &other.access)
        .await?
        .refused(404, "passkey_not_found", "removing another user's passkey")?;
    api.delete("/auth/passkeys/nonexistent", &web.access)
        .await?
        .refused(404, "passkey_not_found", "an unknown passkey")?;
    api.call(reqwest::Method::GET, "/auth/passkeys", None, None)
        .await?
        .refused(401, "token_missing", "listing without signing in")?;

    // With TOTP on, the passkey can go; then it signs in nobody.
    let secret = enable_totp(&api, &web).await?;
    let me = api.get("/auth/session", &web.access).await?.ok("whoami")?;
    assert_eq!(me["methods"], json!({"totp": true, "passkeys": 1}));
    api.delete(&format!("/auth/passkeys/{only}"), &web.access)
        .await?
        .ok("removing a passkey with TOTP as another way in")?;
    sign_in(&api, &auth, 1)
        .await?
        .refused(401, "unknown_credential", "a removed passkey")?;
    api.post(
        "/auth/totp/disable",
        json!({"code": generate(&secret, now_secs() + 30)}),
        Some(&web.access),
    )
    .await?
    .refused(
        409,
        "last_sign_in_method",
        "turning off TOTP, the only way in left",
    )?;

    // With a passkey back, TOTP can be turned off.
    let mut replacement = authenticator(KeyKind::EdDsa, 24);
    add_passkey(&api, &web, &mut replacement, |_| {}).await?;
    api.post(
        "/auth/totp/disable",
        json!({"code": generate(&secret, now_secs() + 30)}),
        Some(&web.access),
    )
    .await?
    .ok("turning off TOTP with a passkey as another way in")?;
    let body = sign_in(&api, &replacement, 1)
        .await?
        .ok("the new passkey")?;
    assert_eq!(body["name"], name.as_str());
    let events = security_events(&api, &web).await?.to_string();
    for kind in ["passkey_removed", "totp_disabled"] {
        assert!(events.contains(kind), "no {kind} event in {events}");
    }
    Ok(())
}

/// Strangers cannot create passkey accounts on a private deployment: the first account is
/// anyone's (one of two racing bootstraps wins), later ones need an invite, which works once —
/// the same rule as TOTP sign-up.
#[tokio::test]
async fn strangers_cannot_create_passkey_accounts_without_an_invite() -> Result<()> {
    let orbit = Orbit::start_with(&[("ORBIT_RP_ID", RP_ID)])?;
    let api = Client::new(&orbit);

    let mut a = authenticator(KeyKind::Es256, 25);
    let mut b = authenticator(KeyKind::Es256, 26);
    let a_options = sign_up_options(&api, &mut a, &unique("first")).await?;
    let b_options = sign_up_options(&api.elsewhere(), &mut b, &unique("rival")).await?;
    let owner = Web::from_answer(
        &register_verify(&api, &a_options, a.register(&ceremony(&a_options)?), None)
            .await?
            .ok("bootstrap")?,
    )?;
    register_verify(&api, &b_options, b.register(&ceremony(&b_options)?), None)
        .await?
        .refused(403, "registration_closed", "the bootstrap race's loser")?;

    register_options(&api, json!({"name": unique("stranger")}), None)
        .await?
        .refused(
            403,
            "registration_closed",
            "a passkey sign-up without an invite",
        )?;
    register_options(
        &api,
        json!({"name": unique("stranger"), "invite": "inv_0123456789abcdef0123456789abcdef"}),
        None,
    )
    .await?
    .refused(403, "invite_invalid", "a made-up invite")?;

    let invite = api
        .post("/auth/invites", json!({}), Some(&owner.access))
        .await?
        .ok("invite")?;
    let invite = invite["invite"].as_str().unwrap_or_default().to_string();
    let mut friend = authenticator(KeyKind::EdDsa, 27);
    let options = register_options(
        &api,
        json!({"name": unique("friend"), "invite": invite}),
        None,
    )
    .await?
    .ok("an invited sign-up")?;
    friend.user_handle = b64_field(&options, "/publicKey/user/id")?;
    let friend_web = Web::from_answer(
        &register_verify(&api, &options, friend.register(&ceremony(&options)?), None)
            .await?
            .ok("the invited sign-up")?,
    )?;
    api.get("/auth/session", &friend_web.access)
        .await?
        .ok("the friend is in")?;
    register_options(
        &api,
        json!({"name": unique("late"), "invite": invite}),
        None,
    )
    .await?
    .refused(403, "invite_invalid", "a spent invite")?;
    // Signed-in users still add passkeys while registration is closed.
    add_passkey(&api, &owner, &mut authenticator(KeyKind::Es256, 28), |_| {}).await?;
    Ok(())
}

/// Hammering passkey sign-in — from one address, or at one account's credential from many —
/// is rate limited (429 with Retry-After), and recovers.
#[tokio::test]
async fn passkey_sign_in_hammering_is_rate_limited() -> Result<()> {
    let orbit = tight()?;
    let api = Client::new(orbit);
    let mut auth = authenticator(KeyKind::Es256, 29);
    passkey_sign_up(&api, &mut auth).await?;

    // One address, unknown credentials.
    let attacker = api.elsewhere();
    let stranger = authenticator(KeyKind::Es256, 30);
    let mut tripped = None;
    for _ in 0..6 {
        let answer = sign_in(&attacker, &stranger, 1).await?;
        if answer.status == 429 {
            tripped = Some(answer);
            break;
        }
        answer.refused(401, "unknown_credential", "an unknown credential")?;
    }
    let retry = tripped
        .ok_or_else(|| anyhow!("6 attempts from one address were not limited"))?
        .limited("one address")?;
    // Another address is unaffected.
    sign_in(&attacker.elsewhere(), &stranger, 1)
        .await?
        .refused(401, "unknown_credential", "another address")?;

    // One account's credential from many addresses (bad signatures): the per-account limit.
    let mut impostor = TestAuthenticator::new(KeyKind::Es256, 31);
    impostor.credential_id = auth.credential_id.clone();
    impostor.user_handle = auth.user_handle.clone();
    let mut tripped = None;
    for _ in 0..5 {
        let answer = sign_in(&api.elsewhere(), &impostor, 1).await?;
        if answer.status == 429 {
            tripped = Some(answer);
            break;
        }
        answer.refused(401, "bad_signature", "an impostor")?;
    }
    let account_retry = tripped
        .ok_or_else(|| anyhow!("5 attempts at one account were not limited"))?
        .limited("one account")?;
    tokio::time::sleep(Duration::from_secs(retry.max(account_retry)) + Duration::from_millis(300))
        .await;
    sign_in(&attacker, &auth, 1)
        .await?
        .ok("the owner after the window, from the limited address")?;
    Ok(())
}

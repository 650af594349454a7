//! The upgrade gate (SPEC §1 endpoints, §2 tokens) end to end: every refused WebSocket upgrade
//! gets its HTTP status and a JSON body naming the defect, and what is let in is exactly what
//! the token says.
//!
//! Bad tokens are minted here with the real session ids from the dev API, so each test
//! exercises one defect only.

use std::time::Duration;

use anyhow::Result;
use orbit_tests::orbit_shared::token::{issue, Claims};
use orbit_tests::{now_secs, Orbit, Upgrade, ALLOWED_ORIGIN};
use serde_json::{json, Value};

fn orbit() -> Result<&'static Orbit> {
    Orbit::shared()
}

fn mint(claims: &Claims, key: &str) -> Result<String> {
    issue(claims, key.as_bytes()).map_err(|e| anyhow::anyhow!("minting a test token: {e}"))
}

/// Asserts a refusal: status and `{"error": {"code", "message"}}`.
async fn assert_refused(orbit: &Orbit, upgrade: &Upgrade, status: u16, code: &str) -> Result<()> {
    let (got, body) = orbit.upgrade_status(upgrade).await?;
    assert_eq!(got, status, "{} {upgrade:?}: body {body}", upgrade.path);
    assert_eq!(
        body["error"]["code"], code,
        "{} {upgrade:?}: body {body}",
        upgrade.path
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "a readable message: {body}"
    );
    Ok(())
}

#[tokio::test]
async fn upgrade_without_a_token_is_refused_401_token_missing() -> Result<()> {
    let orbit = orbit()?;
    assert_refused(orbit, &Upgrade::client(), 401, "token_missing").await?;
    assert_refused(orbit, &Upgrade::anchor(), 401, "token_missing").await?;
    // Empty values and a subprotocol without a token count as no token.
    assert_refused(
        orbit,
        &Upgrade::client().query_token(""),
        401,
        "token_missing",
    )
    .await?;
    assert_refused(
        orbit,
        &Upgrade::client().protocols("orbit.v1"),
        401,
        "token_missing",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn malformed_token_is_refused_401_token_malformed() -> Result<()> {
    let orbit = orbit()?;
    for token in ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30"] {
        assert_refused(
            orbit,
            &Upgrade::client().query_token(token),
            401,
            "token_malformed",
        )
        .await?;
        assert_refused(
            orbit,
            &Upgrade::anchor().bearer(token),
            401,
            "token_malformed",
        )
        .await?;
    }
    // alg "none" with plausible claims and no signature.
    let web = orbit.new_user().await?;
    let header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
    let claims = Claims::web(&web.user_id, &web.session_id, now_secs(), 600);
    let payload = base64_url(&serde_json::to_vec(&claims)?);
    let unsigned = format!("{header}.{payload}.");
    let (status, body) = orbit
        .upgrade_status(&Upgrade::client().query_token(&unsigned))
        .await?;
    assert_eq!(status, 401, "an unsigned token is refused: {body}");
    Ok(())
}

#[tokio::test]
async fn expired_token_is_refused_401_token_expired() -> Result<()> {
    let orbit = orbit()?;
    let web = orbit.new_user().await?;
    let anchor = orbit.pair_anchor(&web.user_id, "old").await?;
    let then = now_secs() - 3600;
    let web_token = mint(
        &Claims::web(&web.user_id, &web.session_id, then, 900),
        orbit.secret(),
    )?;
    let anchor_token = mint(
        &Claims::anchor(
            &web.user_id,
            &anchor.session_id,
            anchor.anchor()?,
            then,
            900,
        ),
        orbit.secret(),
    )?;
    assert_refused(
        orbit,
        &Upgrade::client().query_token(&web_token),
        401,
        "token_expired",
    )
    .await?;
    assert_refused(
        orbit,
        &Upgrade::anchor().bearer(&anchor_token),
        401,
        "token_expired",
    )
    .await?;
    // The same claims, unexpired, are let in: only expiry was wrong.
    let fresh = mint(
        &Claims::web(&web.user_id, &web.session_id, now_secs(), 900),
        orbit.secret(),
    )?;
    let mut ws = orbit
        .connect_with(&Upgrade::client().query_token(&fresh))
        .await?;
    ws.recv_type("orbit.hello").await?;
    Ok(())
}

#[tokio::test]
async fn token_for_the_other_door_is_refused_401_token_wrong_audience() -> Result<()> {
    let orbit = orbit()?;
    let web = orbit.new_user().await?;
    let anchor = orbit.pair_anchor(&web.user_id, "door").await?;
    assert_refused(
        orbit,
        &Upgrade::anchor().bearer(&web.access_token),
        401,
        "token_wrong_audience",
    )
    .await?;
    assert_refused(
        orbit,
        &Upgrade::client().query_token(&anchor.access_token),
        401,
        "token_wrong_audience",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn token_signed_with_another_key_is_refused_401_token_bad_signature() -> Result<()> {
    let orbit = orbit()?;
    let web = orbit.new_user().await?;
    let anchor = orbit.pair_anchor(&web.user_id, "forged").await?;
    let key = format!("{}-not", orbit.secret());
    let web_token = mint(
        &Claims::web(&web.user_id, &web.session_id, now_secs(), 900),
        &key,
    )?;
    let anchor_token = mint(
        &Claims::anchor(
            &web.user_id,
            &anchor.session_id,
            anchor.anchor()?,
            now_secs(),
            900,
        ),
        &key,
    )?;
    assert_refused(
        orbit,
        &Upgrade::client().query_token(&web_token),
        401,
        "token_bad_signature",
    )
    .await?;
    assert_refused(
        orbit,
        &Upgrade::anchor().bearer(&anchor_token),
        401,
        "token_bad_signature",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn revoked_session_is_refused_401_session_revoked() -> Result<()> {
    let orbit = orbit()?;
    let web = orbit.new_user().await?;
    let anchor = orbit.pair_anchor(&web.user_id, "rev").await?;
    orbit.revoke(Some(&web.session_id), None).await?;
    orbit.revoke(Some(&anchor.session_id), None).await?;
    assert_refused(
        orbit,
        &Upgrade::client().query_token(&web.access_token),
        401,
        "session_revoked",
    )
    .await?;
    assert_refused(
        orbit,
        &Upgrade::anchor().bearer(&anchor.access_token),
        401,
        "session_revoked",
    )
    .await?;
    // Another session of the same user is unaffected.
    let other = orbit.web_session(&web.user_id).await?;
    orbit.client(&other).await?;
    Ok(())
}

#[tokio::test]
async fn revoked_anchor_is_refused_401_anchor_revoked() -> Result<()> {
    let orbit = orbit()?;
    let web = orbit.new_user().await?;
    let anchor = orbit.pair_anchor(&web.user_id, "stolen").await?;
    orbit.revoke(None, Some(anchor.anchor()?)).await?;
    assert_refused(
        orbit,
        &Upgrade::anchor().bearer(&anchor.access_token),
        401,
        "anchor_revoked",
    )
    .await?;
    // A revoked anchor drops out of the list clients see.
    let (_c, _, anchors) = orbit.client(&web).await?;
    assert_eq!(anchors["anchors"], json!([]), "{anchors}");
    Ok(())
}

#[tokio::test]
async fn token_naming_another_users_session_or_anchor_is_refused() -> Result<()> {
    let orbit = orbit()?;
    let alice = orbit.new_user().await?;
    let bob = orbit.new_user().await?;
    let bob_anchor = orbit.pair_anchor(&bob.user_id, "bobs").await?;
    let alice_anchor = orbit.pair_anchor(&alice.user_id, "alices").await?;
    // Correctly signed (as if the key had leaked into a token factory), but the session
    // belongs to someone else.
    let token = mint(
        &Claims::web(&alice.user_id, &bob.session_id, now_secs(), 900),
        orbit.secret(),
    )?;
    assert_refused(
        orbit,
        &Upgrade::client().query_token(&token),
        401,
        "session_revoked",
    )
    .await?;
    // An anchor session presented with another anchor's id.
    let token = mint(
        &Claims::anchor(
            &alice.user_id,
            &alice_anchor.session_id,
            bob_anchor.anchor()?,
            now_secs(),
            900,
        ),
        orbit.secret(),
    )?;
    let (status, body) = orbit
        .upgrade_status(&Upgrade::anchor().bearer(&token))
        .await?;
    assert_eq!(status, 401, "{body}");
    // A web session used as an anchor session.
    let token = mint(
        &Claims::anchor(
            &alice.user_id,
            &alice.session_id,
            alice_anchor.anchor()?,
            now_secs(),
            900,
        ),
        orbit.secret(),
    )?;
    let (status, body) = orbit
        .upgrade_status(&Upgrade::anchor().bearer(&token))
        .await?;
    assert_eq!(status, 401, "{body}");
    Ok(())
}

#[tokio::test]
async fn disallowed_origin_is_refused_403_and_allowed_origin_is_let_in() -> Result<()> {
    let orbit = orbit()?;
    let web = orbit.new_user().await?;
    for origin in ["http://evil.test", "null", "http://allowed.test.evil.test"] {
        assert_refused(
            orbit,
            &Upgrade::client()
                .query_token(&web.access_token)
                .origin(origin),
            403,
            "origin_not_allowed",
        )
        .await?;
    }
    // Without a token as well, it is refused one way or the other.
    let (status, _) = orbit
        .upgrade_status(&Upgrade::client().origin("http://evil.test"))
        .await?;
    assert!(status == 403 || status == 401, "{status}");

    let mut ok = orbit
        .connect_with(
            &Upgrade::client()
                .query_token(&web.access_token)
                .origin(ALLOWED_ORIGIN),
        )
        .await?;
    ok.recv_type("orbit.hello").await?;
    Ok(())
}

#[tokio::test]
async fn plain_get_on_a_socket_path_gets_426() -> Result<()> {
    let orbit = orbit()?;
    let web = orbit.new_user().await?;
    for upgrade in [
        Upgrade::client().plain(),
        Upgrade::anchor().plain(),
        Upgrade::client().plain().query_token(&web.access_token),
    ] {
        let (status, body) = orbit.upgrade_status(&upgrade).await?;
        assert_eq!(status, 426, "{upgrade:?}: {body}");
    }
    Ok(())
}

#[tokio::test]
async fn token_is_accepted_from_query_header_and_subprotocol() -> Result<()> {
    let orbit = orbit()?;
    let web = orbit.new_user().await?;
    let anchor = orbit.pair_anchor(&web.user_id, "ways").await?;
    let token = &web.access_token;

    let mut by_header = orbit.connect_with(&Upgrade::client().bearer(token)).await?;
    assert_eq!(
        by_header.recv_type("orbit.hello").await?["userId"],
        web.user_id.as_str()
    );

    let protocols = format!("orbit.v1, orbit.bearer.{token}");
    let mut by_protocol = orbit
        .connect_with(
            &Upgrade::client()
                .protocols(&protocols)
                .origin(ALLOWED_ORIGIN),
        )
        .await?;
    assert_eq!(
        by_protocol.protocol.as_deref(),
        Some("orbit.v1"),
        "the answer selects orbit.v1 and never echoes the token"
    );
    assert_eq!(
        by_protocol.recv_type("orbit.hello").await?["role"],
        "client"
    );

    let mut anchor_by_query = orbit
        .connect_with(&Upgrade::anchor().query_token(&anchor.access_token))
        .await?;
    assert_eq!(
        anchor_by_query.recv_type("orbit.hello").await?["role"],
        "anchor"
    );
    Ok(())
}

#[tokio::test]
async fn revoked_session_cannot_reconnect() -> Result<()> {
    let orbit = orbit()?;
    let mut rig = orbit.rig("revoker").await?;
    orbit.revoke(Some(&rig.web.session_id), None).await?;
    orbit
        .revoke(Some(&rig.anchor_session.session_id), None)
        .await?;
    // Whatever happens to the open sockets, the tokens no longer open new ones.
    let _ = rig
        .client
        .send_json(&json!({"type": "orbit.list-anchors"}))
        .await;
    rig.client.close().await?;
    rig.anchor.close().await?;
    assert_refused(
        orbit,
        &Upgrade::client().query_token(&rig.web.access_token),
        401,
        "session_revoked",
    )
    .await?;
    assert_refused(
        orbit,
        &Upgrade::anchor().bearer(&rig.anchor_session.access_token),
        401,
        "session_revoked",
    )
    .await?;
    Ok(())
}

/// SPEC §2: "Revoking a session or an anchor closes its open sockets within seconds."
#[tokio::test]
async fn revoking_closes_the_sessions_open_sockets_within_seconds() -> Result<()> {
    let orbit = orbit()?;
    let mut rig = orbit.rig("cut-off").await?;
    let other = orbit.web_session(&rig.web.user_id).await?;
    let (mut survivor, _, _) = orbit.client(&other).await?;
    orbit.revoke(Some(&rig.web.session_id), None).await?;
    orbit.revoke(None, Some(&rig.anchor_id)).await?;
    rig.client.timeout = Duration::from_secs(5);
    rig.anchor.timeout = Duration::from_secs(5);
    let (close, _) = rig.client.recv_close().await?;
    assert_eq!(close, Some((4003, "session revoked".to_string())));
    let (close, _) = rig.anchor.recv_close().await?;
    assert_eq!(close, Some((4003, "anchor revoked".to_string())));
    // The other session of the same user stays connected, and sees the anchor go.
    let gone = survivor
        .recv_until("anchor-disconnected", |v| {
            v["type"] == "orbit.anchor-disconnected"
        })
        .await?;
    assert_eq!(gone["anchorId"], json!(rig.anchor_id));
    // ... and the list it is shown no longer names it.
    let listed = survivor.recv_type("orbit.anchors").await?;
    assert_eq!(listed["anchors"], json!([]), "{listed}");
    survivor.send_json(&json!({"type": "ping"})).await?;
    let pong: Value = survivor.recv_json().await?;
    assert_eq!(pong["type"], "pong");
    Ok(())
}

/// A revocation may be the first thing to reach a user's hub (no socket ever opened, or the
/// object was evicted): the hub it wakes must still know whose it is, or the next client is told
/// `userId: ""`.
#[tokio::test]
async fn revocation_waking_an_idle_hub_leaves_it_knowing_its_user() -> Result<()> {
    let orbit = orbit()?;
    let user = orbit.new_user().await?;
    let other = orbit.web_session(&user.user_id).await?;
    orbit.revoke(Some(&other.session_id), None).await?;
    let (_client, hello, _) = orbit.client(&user).await?;
    assert_eq!(hello["userId"], json!(user.user_id), "{hello}");
    Ok(())
}

/// Unpadded base64url, for hand-made tokens.
fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// SPEC §1: "URLs with tokens are never logged" — neither for accepted nor refused upgrades.
#[tokio::test]
async fn tokens_in_socket_urls_never_reach_the_log() -> Result<()> {
    let orbit = orbit()?;
    let web = orbit.new_user().await?;
    let count = |orbit: &Orbit| orbit.output().matches("/ws/client").count();
    let before = count(orbit);
    let (mut ws, _, _) = orbit.client(&web).await?;
    ws.expect_nothing_pending().await?;
    let bogus = format!("not-a-jwt-{}", orbit_tests::random_hex(8));
    let (status, _) = orbit
        .upgrade_status(&Upgrade::client().query_token(&bogus))
        .await?;
    assert_eq!(status, 401);
    // Wait (bounded) until workerd has logged both requests.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while count(orbit) < before + 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(count(orbit) >= before + 2, "workerd logged the upgrades");
    let log = orbit.output();
    assert!(
        !log.contains(&web.access_token),
        "an access token was logged"
    );
    assert!(!log.contains(&bogus), "a presented token was logged");
    Ok(())
}

//! The anchor's life cycle against the real Orbit and the real codex (SPEC §3, §7): stopping
//! cleanly, being revoked or replaced, Orbit restarting under it, its access token expiring
//! while connected, logging out, and the clear refusals when codex or credentials are missing.
//!
//! Runs inside a private network namespace (`make test` uses `unshare -n`), like every suite
//! that starts codex.

use std::time::Duration;

use anyhow::{ensure, Result};
use orbit_tests::anchor::{pair, process_alive, AnchorProc, AnchorRig};
use orbit_tests::codex::require_private_netns;
use orbit_tests::{Orbit, TempDir};
use serde_json::{json, Value};

const READY: Duration = Duration::from_secs(30);

fn ready(status: &Value) -> bool {
    status["orbit"]["connected"] == true && status["codex"]["state"] == "ready"
}

#[tokio::test]
async fn sigterm_stops_the_anchor_cleanly_closing_its_socket_and_reaping_codex() -> Result<()> {
    stops_cleanly_on("TERM").await
}

#[tokio::test]
async fn sigint_stops_the_anchor_cleanly_closing_its_socket_and_reaping_codex() -> Result<()> {
    stops_cleanly_on("INT").await
}

async fn stops_cleanly_on(signal: &str) -> Result<()> {
    require_private_netns()?;
    let orbit = Orbit::shared()?;
    let mut rig = AnchorRig::start(orbit, signal).await?;
    let status = rig.anchor.wait_status("ready", READY, ready).await?;
    let codex_pid = status["codex"]["pid"].as_u64().unwrap_or_default() as u32;
    ensure!(process_alive(codex_pid), "codex runs: {status}");
    let (mut client, _, _) = orbit.client(&rig.web).await?;

    rig.anchor.signal(signal).await?;
    let code = rig.anchor.wait_exit(Duration::from_secs(10)).await?;
    assert_eq!(code, Some(0), "a clean exit:\n{}", rig.anchor.log());
    assert!(!process_alive(codex_pid), "codex was reaped, not orphaned");
    assert!(
        !rig.paired.state_dir().join("anchor.sock").exists(),
        "the control socket file is removed"
    );
    let gone = client
        .recv_until("the anchor going offline", |f| {
            f["type"] == "orbit.anchor-disconnected"
        })
        .await?;
    assert_eq!(gone["anchorId"], rig.paired.anchor_id.as_str());
    Ok(())
}

#[tokio::test]
async fn anchor_stop_asks_the_running_anchor_to_exit() -> Result<()> {
    require_private_netns()?;
    let orbit = Orbit::shared()?;
    let mut rig = AnchorRig::start(orbit, "stop").await?;
    rig.anchor.wait_status("ready", READY, ready).await?;
    let out = rig.anchor.cli(&["stop"]).await?;
    assert!(out.contains("stopping"), "{out}");
    assert_eq!(
        rig.anchor.wait_exit(Duration::from_secs(10)).await?,
        Some(0)
    );
    let after = rig.anchor.cli(&["status"]).await;
    assert!(
        after
            .as_ref()
            .is_err_and(|e| e.to_string().contains("no anchor is running")),
        "status says it is not running: {after:?}"
    );
    Ok(())
}

#[tokio::test]
async fn status_reports_orbit_codex_version_and_uptime_in_both_formats() -> Result<()> {
    require_private_netns()?;
    let orbit = Orbit::shared()?;
    let rig = AnchorRig::start(orbit, "status").await?;
    let status = rig.anchor.wait_status("ready", READY, ready).await?;
    assert_eq!(status["orbit"]["anchorId"], rig.paired.anchor_id.as_str());
    assert_eq!(status["orbit"]["url"], orbit.base_url().as_str());
    assert_eq!(status["codex"]["version"], "0.169.0");
    assert!(status["codex"]["pid"].as_u64().is_some(), "{status}");
    assert!(status["uptimeS"].is_u64(), "{status}");
    assert_eq!(status["frames"]["busy"], 0, "{status}");
    let human = rig.anchor.cli(&["status"]).await?;
    assert!(
        human.contains("orbit: connected") && human.contains("version 0.169.0"),
        "{human}"
    );
    assert!(
        !human.contains("frames refused"),
        "nothing refused, nothing said: {human}"
    );
    Ok(())
}

#[tokio::test]
async fn anchor_revoked_from_the_web_stops_and_says_why() -> Result<()> {
    require_private_netns()?;
    let orbit = Orbit::shared()?;
    let mut rig = AnchorRig::start(orbit, "revoked").await?;
    let status = rig.anchor.wait_status("ready", READY, ready).await?;
    let codex_pid = status["codex"]["pid"].as_u64().unwrap_or_default() as u32;

    let revoked = reqwest::Client::new()
        .delete(format!(
            "{}/auth/anchors/{}",
            orbit.base_url(),
            rig.paired.anchor_id
        ))
        .bearer_auth(&rig.web.access_token)
        .send()
        .await?;
    ensure!(
        revoked.status().is_success(),
        "revoke: {}",
        revoked.status()
    );

    let code = rig.anchor.wait_exit(Duration::from_secs(15)).await?;
    assert_ne!(code, Some(0), "a revoked anchor exits with an error");
    let log = rig.anchor.log();
    assert!(
        log.contains("revoked") && log.contains("anchor login"),
        "it says why and what to do:\n{log}"
    );
    assert!(!process_alive(codex_pid), "codex was reaped");
    Ok(())
}

#[tokio::test]
async fn a_second_process_with_the_same_credentials_replaces_the_first_which_stops() -> Result<()> {
    require_private_netns()?;
    let orbit = Orbit::shared()?;
    let mut rig = AnchorRig::start(orbit, "replaced").await?;
    rig.anchor.wait_status("ready", READY, ready).await?;
    // A copy of the credentials in another state directory: same anchor, second process.
    let twin_dir = TempDir::new("anchor-twin")?;
    std::fs::copy(
        rig.paired.state_dir().join("credentials.json"),
        twin_dir.path().join("credentials.json"),
    )?;
    let twin = AnchorProc::start(twin_dir.path(), &rig.options)?;
    twin.wait_status("ready", READY, ready).await?;

    let code = rig.anchor.wait_exit(Duration::from_secs(15)).await?;
    assert_ne!(code, Some(0));
    let log = rig.anchor.log();
    assert!(
        log.contains("another anchor process using the same credentials"),
        "the replaced anchor says why:\n{log}"
    );
    let status = twin.status().await?;
    assert_eq!(
        status["orbit"]["connected"], true,
        "the newcomer stays: {status}"
    );
    Ok(())
}

#[tokio::test]
async fn orbit_restarted_under_a_connected_anchor_is_rejoined_with_a_new_hello() -> Result<()> {
    require_private_netns()?;
    let dir = TempDir::new("orbit-anchor-restart")?;
    let mut orbit = Orbit::start_in(dir.path(), &orbit_tests::random_hex(32))?;
    let rig = AnchorRig::start(&orbit, "restart").await?;
    rig.anchor.wait_status("ready", READY, ready).await?;

    orbit.restart_same_port()?;
    let status = rig
        .anchor
        .wait_status("a second connection", READY, |s| {
            s["orbit"]["connected"] == true && s["orbit"]["connections"] == 2
        })
        .await?;
    assert_eq!(
        status["codex"]["restarts"], 0,
        "codex was not touched: {status}"
    );

    // The new Orbit knows the anchor again from its hello, metadata included, and routes to it.
    let (mut client, _, anchors) = orbit.client(&rig.web).await?;
    let listed = &anchors["anchors"][0];
    assert_eq!(listed["online"], true, "{anchors}");
    assert_eq!(listed["codexVersion"], "0.169.0", "{anchors}");
    client
        .send_json(&json!({"id": "after-restart", "method": "anchor.info"}))
        .await?;
    let answer = client
        .recv_until("anchor.info", |f| f["id"] == "after-restart")
        .await?;
    assert!(answer["result"].is_object(), "{answer}");
    Ok(())
}

#[tokio::test]
async fn an_expiring_access_token_is_refreshed_while_connected_and_nothing_is_lost() -> Result<()> {
    require_private_netns()?;
    let dir = TempDir::new("orbit-anchor-expiry")?;
    let mut orbit = Orbit::start_in_with(
        dir.path(),
        &orbit_tests::random_hex(32),
        &[("ORBIT_ACCESS_TOKEN_LIFETIME", "6")],
    )?;
    let rig = AnchorRig::start(&orbit, "expiry").await?;
    rig.anchor.wait_status("ready", READY, ready).await?;
    let first = rig.paired.credentials()?;
    let (mut client, _, _) = orbit
        .client(&orbit.web_session(&rig.web.user_id).await?)
        .await?;

    // Requests keep flowing across the refresh: every one is answered, in order.
    let mut answered = 0;
    for n in 0..40 {
        let id = format!("during-{n}");
        client
            .send_json(&json!({"id": id, "method": "anchor.info"}))
            .await?;
        let answer = client.recv_until("anchor.info", |f| f["id"] == id).await?;
        ensure!(answer["result"].is_object(), "{answer}");
        answered += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(answered, 40);
    let status = rig.anchor.status().await?;
    assert!(
        status["orbit"]["tokenRefreshes"].as_u64() >= Some(1),
        "the token was refreshed before it expired: {status}"
    );
    assert_eq!(
        status["orbit"]["connections"], 1,
        "without reconnecting: {status}"
    );
    let now = rig.paired.credentials()?;
    assert_ne!(
        now["accessToken"], first["accessToken"],
        "a new token was saved"
    );
    assert_ne!(
        now["refreshToken"], first["refreshToken"],
        "the refresh token rotated"
    );

    // The first token has long expired; a reconnection must use the refreshed one.
    orbit.restart_same_port()?;
    rig.anchor
        .wait_status("a second connection", READY, |s| {
            s["orbit"]["connected"] == true && s["orbit"]["connections"] == 2
        })
        .await?;
    Ok(())
}

#[tokio::test]
async fn logout_unpairs_the_anchor_in_orbit_and_deletes_its_credentials() -> Result<()> {
    require_private_netns()?;
    let orbit = Orbit::shared()?;
    let web = orbit.new_user().await?;
    let paired = pair(orbit, &web.access_token, "to-forget").await?;
    let out = orbit_tests::anchor::cli(paired.state_dir(), &["logout"]).await?;
    assert!(out.contains("unpaired"), "{out}");
    assert!(!paired.state_dir().join("credentials.json").exists());
    let anchors: Value = reqwest::Client::new()
        .get(format!("{}/auth/anchors", orbit.base_url()))
        .bearer_auth(&web.access_token)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(anchors["anchors"], json!([]), "Orbit no longer lists it");
    Ok(())
}

/// RFC 8628 §5.4: whoever approves a code gives the machine their account. The owner of the
/// terminal sees, once paired, which account approved it (this dev-API user has no name, so
/// its id), and never a token.
#[tokio::test]
async fn anchor_login_prints_the_account_it_was_approved_for_and_no_secret() -> Result<()> {
    require_private_netns()?;
    let orbit = Orbit::shared()?;
    let web = orbit.new_user().await?;
    let paired = pair(orbit, &web.access_token, "whose").await?;
    let out = &paired.login_output;
    assert!(
        out.contains(&format!(
            "Approved for the Orbit account \"{}\".",
            web.user_id
        )),
        "{out}"
    );
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(
        paired.state_dir().join("credentials.json"),
    )?)?;
    for secret in ["accessToken", "refreshToken"] {
        let token = saved[secret]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no {secret} saved: {saved}"))?;
        assert!(!out.contains(token), "{secret} printed:\n{out}");
    }
    Ok(())
}

#[tokio::test]
async fn run_without_codex_says_how_to_install_it() -> Result<()> {
    require_private_netns()?;
    let orbit = Orbit::shared()?;
    let web = orbit.new_user().await?;
    let paired = pair(orbit, &web.access_token, "no-codex").await?;
    let err = orbit_tests::anchor::cli(
        paired.state_dir(),
        &["run", "--codex", "/nonexistent/codex"],
    )
    .await
    .expect_err("run must fail");
    let text = format!("{err:#}");
    assert!(
        text.contains("cannot find codex") && text.contains("npm install -g @openai/codex"),
        "{text}"
    );
    Ok(())
}

#[tokio::test]
async fn run_without_credentials_says_to_log_in() -> Result<()> {
    let dir = TempDir::new("anchor-empty")?;
    let err = orbit_tests::anchor::cli(dir.path(), &["run"])
        .await
        .expect_err("run must fail");
    let text = format!("{err:#}");
    assert!(text.contains("anchor login --orbit URL"), "{text}");
    Ok(())
}

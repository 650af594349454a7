//! Smoke (being written).
use std::time::Duration;

use anyhow::Result;
use orbit_tests::anchor::{pair, AnchorOptions, AnchorProc};
use orbit_tests::{repo_root, Orbit, TempDir};
use serde_json::json;

#[tokio::test]
async fn smoke() -> Result<()> {
    let orbit = Orbit::shared()?;
    let web = orbit.new_user().await?;
    let paired = pair(orbit, &web.access_token, "laptop").await?;
    let home = TempDir::new("codex-home")?;
    let ws_dir = home.path().join("workspace");
    std::fs::create_dir_all(&ws_dir)?;
    std::fs::write(
        home.path().join("config.toml"),
        format!(
            r#"
model = "mock-model"
model_provider = "mock"
check_for_update_on_startup = false
[analytics]
enabled = false
[feedback]
enabled = false
[model_providers.mock]
name = "Mock"
base_url = "http://127.0.0.1:9/v1"
env_key = "MOCK_API_KEY"
wire_api = "responses"
[projects."{}"]
trust_level = "trusted"
[features]
plugins = false
remote_plugin = false
apps = false
"#,
            ws_dir.display()
        ),
    )?;
    let codex = repo_root()
        .join("node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex");
    let anchor = AnchorProc::start(
        paired.state_dir(),
        &AnchorOptions {
            codex,
            roots: vec![ws_dir.clone()],
            env: vec![
                ("CODEX_HOME".into(), home.path().display().to_string()),
                ("MOCK_API_KEY".into(), "x".into()),
            ],
            orbit_url: None,
        },
    )?;
    let st = anchor
        .wait_status("ready", Duration::from_secs(20), |s| {
            s["orbit"]["connected"] == true && s["codex"]["state"] == "ready"
        })
        .await?;
    eprintln!("status {st}");
    let (mut client, _, anchors) = orbit.client(&web).await?;
    eprintln!("anchors {anchors}");
    client.send_json(&json!({"id": 1, "method": "thread/start", "params": {"cwd": ws_dir, "approvalPolicy": "on-request", "sandbox": "workspace-write"}})).await?;
    let r = client
        .recv_until("thread/start result", |f| f["id"] == 1)
        .await?;
    eprintln!("result {r}");
    client
        .send_json(&json!({"id": 2, "method": "anchor.listDirs", "params": {}}))
        .await?;
    let r = client.recv_until("listDirs", |f| f["id"] == 2).await?;
    eprintln!("listDirs {r}");
    eprintln!("LOG:\n{}", anchor.log());
    Ok(())
}

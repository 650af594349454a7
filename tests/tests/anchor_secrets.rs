//! The file helpers of the real `anchor` binary, reached through Orbit (workerd) by a web
//! client, against what a stolen web token or an injected script would go after: the anchor's
//! own refresh token, codex's sign-in, SSH and cloud keys (issue 13, items 3 and 5).
//!
//! The anchor runs with its defaults: no `--root`, so the root is `$HOME`, here a throw-away
//! home directory holding fake secrets, the anchor's state directory and codex's home. Runs
//! inside a private network namespace, like the other suites that start codex.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, ensure, Context, Result};
use orbit_tests::anchor::{pair, AnchorOptions, AnchorProc, AnchorRig};
use orbit_tests::codex::{codex_binary, require_private_netns, CodexHome};
use orbit_tests::mock_model::MockModel;
use orbit_tests::{Orbit, Ws};
use serde_json::{json, Value};

const READY: Duration = Duration::from_secs(30);
/// Every helper answer below is a file system lookup: seconds are plenty.
const ANSWER: Duration = Duration::from_secs(10);

/// Sends a request and returns its answer (skipping other frames).
async fn call(client: &mut Ws, id: &str, method: &str, params: Value) -> Result<Value> {
    client
        .send_json(&json!({"id": id, "method": method, "params": params}))
        .await?;
    let (answer, _) = client
        .collect_until_within(&format!("the answer to {id}"), ANSWER, |f| f["id"] == id)
        .await?;
    Ok(answer)
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// A user, and an anchor paired to it running with `HOME` = a fake home directory that is
/// also its (default) root. Its state directory is `~/work/anchor-state` (not the default
/// place: the anchor must deny the directory it is configured with), and `CODEX_HOME` is
/// `~/tools/codex`; `~/.codex` exists as well.
struct HomeRig {
    home: PathBuf,
    state_dir: PathBuf,
    refresh_token: String,
    anchor: AnchorProc,
    client: Ws,
    _codex: CodexHome,
    _mock: MockModel,
    _paired: orbit_tests::anchor::Paired,
}

impl HomeRig {
    async fn start(name: &str, anchor_config: &str) -> Result<HomeRig> {
        require_private_netns()?;
        let orbit = Orbit::shared()?;
        let web = orbit.new_user().await?;
        let paired = pair(orbit, &web.access_token, name).await?;
        let mock = MockModel::start().await?;
        let codex = CodexHome::new(&mock.base_url())?;
        let home = codex.home_dir().to_path_buf();

        let state_dir = home.join("work/anchor-state");
        std::fs::create_dir_all(&state_dir)?;
        let credentials = paired.credentials()?;
        let refresh_token = credentials["refreshToken"]
            .as_str()
            .ok_or_else(|| anyhow!("credentials without refreshToken: {credentials}"))?
            .to_string();
        std::fs::copy(
            paired.state_dir().join("credentials.json"),
            state_dir.join("credentials.json"),
        )?;
        write(&state_dir.join("config.toml"), anchor_config)?;

        let codex_home = home.join("tools/codex");
        std::fs::create_dir_all(&codex_home)?;
        std::fs::copy(
            codex.path().join("config.toml"),
            codex_home.join("config.toml"),
        )?;
        let env: Vec<(String, String)> = codex
            .env()
            .into_iter()
            .map(|(k, v)| match k.as_str() {
                "CODEX_HOME" => (k, codex_home.display().to_string()),
                _ => (k, v),
            })
            .collect();
        let options = AnchorOptions {
            codex: codex_binary()?,
            roots: Vec::new(),
            env,
            orbit_url: None,
        };
        let anchor = AnchorProc::start(&state_dir, &options)?;
        anchor
            .wait_status("connected with codex ready", READY, |s| {
                s["orbit"]["connected"] == true && s["codex"]["state"] == "ready"
            })
            .await?;
        let (client, _, _) = orbit.client(&web).await?;
        Ok(HomeRig {
            home,
            state_dir,
            refresh_token,
            anchor,
            client,
            _codex: codex,
            _mock: mock,
            _paired: paired,
        })
    }
}

fn entry_names(answer: &Value) -> Vec<String> {
    answer["result"]["entries"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|d| d["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_web_client_cannot_read_the_anchor_refresh_token_codex_sign_in_or_keys_under_a_home_root(
) -> Result<()> {
    let mut rig = HomeRig::start("secrets", "deny = [\"notes/private*\"]\n").await?;
    let home = rig.home.clone();
    for (file, text) in [
        (".ssh/id_ed25519", "SECRET-SSH-KEY"),
        (".aws/credentials", "SECRET-AWS"),
        (".codex/auth.json", "SECRET-CODEX-AUTH"),
        ("tools/codex/auth.json", "SECRET-CODEX-HOME-AUTH"),
        ("notes/private.txt", "SECRET-NOTE"),
        ("notes/public.txt", "a public note"),
        ("proj/readme.txt", "a project file"),
    ] {
        write(&home.join(file), text)?;
    }
    let link = |target: &str, name: &str| {
        std::os::unix::fs::symlink(home.join(target), home.join(name))
            .with_context(|| format!("linking {name}"))
    };
    link(".ssh/id_ed25519", "proj/key")?;
    link("work/anchor-state/credentials.json", "proj/creds")?;
    link(".aws", "proj/aws")?;
    link("tools/codex", "proj/codex")?;

    let s = |p: &str| home.join(p).display().to_string();
    let denied = [
        ("state dir", s("work/anchor-state/credentials.json")),
        (
            "state dir, ..",
            s("proj/../work/anchor-state/credentials.json"),
        ),
        ("state dir, symlink", s("proj/creds")),
        (
            "state dir, relative",
            "work/anchor-state/credentials.json".into(),
        ),
        ("ssh", s(".ssh/id_ed25519")),
        ("ssh, ..", s("proj/../.ssh/id_ed25519")),
        ("ssh, symlink", s("proj/key")),
        ("ssh, missing file", s(".ssh/id_rsa")),
        ("aws", s(".aws/credentials")),
        ("aws, symlinked dir", s("proj/aws/credentials")),
        ("~/.codex", s(".codex/auth.json")),
        ("CODEX_HOME", s("tools/codex/auth.json")),
        ("CODEX_HOME config", s("tools/codex/config.toml")),
        ("CODEX_HOME, symlink", s("proj/codex/auth.json")),
        ("configured entry", s("notes/private.txt")),
    ];
    for (i, (what, path)) in denied.iter().enumerate() {
        let id = format!("denied-{i}");
        let answer = call(
            &mut rig.client,
            &id,
            "anchor.file.read",
            json!({"path": path}),
        )
        .await?;
        ensure!(
            answer["error"]["data"]["code"] == "path_denied" && answer["error"]["code"] == -32001,
            "{what} ({path}): {answer}"
        );
        let text = answer.to_string();
        ensure!(
            !text.contains("SECRET") && !text.contains(&rig.refresh_token),
            "{what}: the refusal carries the secret: {text}"
        );
    }
    let rule = call(
        &mut rig.client,
        "rule",
        "anchor.file.read",
        json!({"path": s("notes/private.txt")}),
    )
    .await?;
    ensure!(
        rule["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("notes/private*")),
        "the refusal names the configured rule: {rule}"
    );

    for (id, path, expected) in [
        ("public", "notes/public.txt", "a public note"),
        ("project", "proj/readme.txt", "a project file"),
    ] {
        let answer = call(
            &mut rig.client,
            id,
            "anchor.file.read",
            json!({"path": s(path)}),
        )
        .await?;
        ensure!(answer["result"]["content"] == expected, "{id}: {answer}");
    }

    // Listings do not show the denied places, wherever they are.
    let listing = call(&mut rig.client, "ls-home", "anchor.listDirs", json!({})).await?;
    let names = entry_names(&listing);
    ensure!(
        names.contains(&"proj".to_string()) && names.contains(&"notes".to_string()),
        "{listing}"
    );
    for hidden in [".ssh", ".aws", ".codex"] {
        ensure!(
            !names.contains(&hidden.to_string()),
            "{hidden} listed: {listing}"
        );
    }
    for (dir, hidden) in [
        ("work", "anchor-state"),
        ("tools", "codex"),
        ("proj", "aws"),
        ("proj", "codex"),
    ] {
        let listing = call(
            &mut rig.client,
            &format!("ls-{dir}-{hidden}"),
            "anchor.listDirs",
            json!({"path": s(dir)}),
        )
        .await?;
        ensure!(listing["result"].is_object(), "{listing}");
        ensure!(
            !entry_names(&listing).contains(&hidden.to_string()),
            "{dir}/{hidden} listed: {listing}"
        );
    }
    for (id, dir) in [("ls-ssh", ".ssh"), ("ls-state", "work/anchor-state")] {
        let listing = call(
            &mut rig.client,
            id,
            "anchor.listDirs",
            json!({"path": s(dir)}),
        )
        .await?;
        ensure!(
            listing["error"]["data"]["code"] == "path_denied",
            "{id}: {listing}"
        );
    }

    let audit = std::fs::read_to_string(rig.state_dir.join("audit.jsonl"))?;
    ensure!(audit.contains("error:path_denied"), "refusals are audited");
    ensure!(!audit.contains("SECRET"), "no secret reaches the audit log");
    drop(rig.anchor);
    Ok(())
}

/// FIFOs in the root, more than the anchor's helper threads, each read by its own call (and
/// one through `anchor.image.read`): every call answers `not_a_regular_file` at once, and a
/// normal read afterwards is still answered. Before, each read blocked a helper thread in
/// `open` until a writer came, and two of them left no thread to answer anything.
#[tokio::test]
async fn fifos_in_the_root_are_refused_at_once_and_never_wedge_the_helper_threads() -> Result<()> {
    require_private_netns()?;
    let orbit = Orbit::shared()?;
    let rig = AnchorRig::start(orbit, "fifo").await?;
    rig.anchor
        .wait_status("connected with codex ready", READY, |s| {
            s["orbit"]["connected"] == true && s["codex"]["state"] == "ready"
        })
        .await?;
    let (mut client, _, _) = orbit.client(&rig.web).await?;
    let workspace = rig.home.workspace();
    write(&workspace.join("plain.txt"), "still answered")?;
    let mut ids = Vec::new();
    for i in 0..5 {
        let fifo = workspace.join(format!("pipe-{i}"));
        let status = std::process::Command::new("mkfifo").arg(&fifo).status()?;
        ensure!(status.success(), "mkfifo failed");
        let method = if i == 4 {
            "anchor.image.read"
        } else {
            "anchor.file.read"
        };
        let id = format!("fifo-{i}");
        client
            .send_json(&json!({"id": id, "method": method, "params": {"path": fifo}}))
            .await?;
        ids.push(id);
    }
    client
        .send_json(&json!({"id": "plain", "method": "anchor.file.read",
            "params": {"path": workspace.join("plain.txt")}}))
        .await?;
    ids.push("plain".into());

    let mut answers = std::collections::HashMap::new();
    let deadline = tokio::time::Instant::now() + ANSWER;
    while answers.len() < ids.len() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = client
            .recv_json_within(left)
            .await
            .with_context(|| format!("answers so far: {answers:?}"))?;
        if let Some(id) = frame["id"]
            .as_str()
            .filter(|id| ids.iter().any(|i| i == id))
        {
            answers.insert(id.to_string(), frame.clone());
        }
    }
    for id in ids.iter().filter(|id| id.starts_with("fifo-")) {
        ensure!(
            answers[id]["error"]["data"]["code"] == "not_a_regular_file",
            "{id}: {}",
            answers[id]
        );
    }
    ensure!(
        answers["plain"]["result"]["content"] == "still answered",
        "{}",
        answers["plain"]
    );
    Ok(())
}

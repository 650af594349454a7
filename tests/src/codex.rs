//! Running the real `codex app-server` (npm `@openai/codex`, pinned in package.json) offline
//! against [`crate::mock_model::MockModel`].
//!
//! * [`codex_binary`]: the native binary from `node_modules` (`ORBIT_TEST_CODEX` overrides).
//! * [`CodexHome`]: a throw-away `CODEX_HOME` whose config points codex at the mock, with a
//!   trusted `workspace/` to run threads in.
//! * [`require_private_netns`]: every suite that starts codex calls it first, so codex can
//!   never reach the network: run them as
//!   `unshare -n sh -c 'ip link set lo up && cargo test …'`.
//! * [`CodexProc`]: a small JSON-lines client of codex over stdio, for the suite that drives
//!   codex directly (`tests/tests/codex_mock.rs`).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::{clip, repo_root, TempDir};

/// The variable codex reads the (dummy) API key of the mock provider from.
pub const MOCK_KEY_ENV: &str = "ORBIT_TEST_MOCK_API_KEY";
/// The dummy API key; codex sends it as `Authorization: Bearer …`.
pub const MOCK_KEY: &str = "orbit-test-dummy-key";
/// The model name in the config: not in codex's catalogue, so codex uses the plain tool
/// format the mock speaks (and emits one `warning` per turn about missing metadata).
pub const MOCK_MODEL: &str = "mock-model";

/// The native codex binary: `ORBIT_TEST_CODEX` if set, else the one npm installed.
pub fn codex_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("ORBIT_TEST_CODEX") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("ORBIT_TEST_CODEX={} is not a file", path.display());
        }
        return Ok(path);
    }
    let path = repo_root()
        .join("node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex");
    if !path.is_file() {
        bail!(
            "no codex binary at {}: run `npm ci` in the repository root \
             (or set ORBIT_TEST_CODEX to a codex binary)",
            path.display()
        );
    }
    Ok(path)
}

/// Fails unless this process is in a network namespace whose only interface is a working
/// `lo`: the suites that start the real codex must not be able to reach anything else.
pub fn require_private_netns() -> Result<()> {
    const HOW: &str = "run the codex suites in a private network namespace: \
        unshare -n sh -c 'ip link set lo up && cargo test …'";
    // /proc/net/dev lists the interfaces of the reader's own network namespace.
    let dev = std::fs::read_to_string("/proc/net/dev").context("reading /proc/net/dev")?;
    let names: Vec<&str> = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split_once(':'))
        .map(|(name, _)| name.trim())
        .collect();
    if names != ["lo"] {
        bail!("this process sees network interfaces {names:?}, not only lo: {HOW}");
    }
    let usable = TcpListener::bind("127.0.0.1:0").and_then(|listener| {
        let addr = listener.local_addr()?;
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map(drop)
    });
    if let Err(e) = usable {
        bail!("loopback does not work in this network namespace ({e}): is lo up? {HOW}");
    }
    Ok(())
}

/// A `CODEX_HOME` for one codex, removed on drop: `config.toml` routes codex to the mock
/// model at `base_url`, with everything that would reach outside turned off, and
/// `workspace/` is a trusted project directory to start threads in.
#[derive(Debug)]
pub struct CodexHome {
    // Kept for its drop, which removes the directory.
    _dir: TempDir,
    root: PathBuf,
    home: PathBuf,
    workspace: PathBuf,
}

impl CodexHome {
    pub fn new(mock_base_url: &str) -> Result<CodexHome> {
        let dir = TempDir::new("orbit-codex")?;
        // Canonical, so the trusted path is the one codex resolves the thread's cwd to.
        let base = dir.path().canonicalize()?;
        // Side by side, not nested: the anchor never serves a path in codex's home, so a
        // workspace inside it could not be an anchor root.
        let root = base.join("codex");
        let home = base.join("home");
        let workspace = base.join("workspace");
        for d in [&root, &home, &workspace] {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        // A JSON string literal is a valid TOML basic string: quotes any path or URL.
        let q = |s: &str| Value::from(s).to_string();
        let config = format!(
            r#"# Written by the Orbit test harness: codex against a local mock model, offline.
model = {model}
model_provider = "mock"
approval_policy = "on-request"
sandbox_mode = "workspace-write"
check_for_update_on_startup = false

[analytics]
enabled = false

[feedback]
enabled = false

[model_providers.mock]
name = "Orbit test mock"
base_url = {base_url}
env_key = {key_env}
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
stream_idle_timeout_ms = 15000

[projects.{workspace}]
trust_level = "trusted"

# Without the first three codex contacts outside hosts at start-up. The mock takes only
# uncompressed bodies (codex compresses with zstd only for ChatGPT sign-ins anyway).
[features]
plugins = false
remote_plugin = false
apps = false
enable_request_compression = false
"#,
            model = q(MOCK_MODEL),
            base_url = q(mock_base_url),
            key_env = q(MOCK_KEY_ENV),
            workspace = q(&workspace.display().to_string()),
        );
        let path = root.join("config.toml");
        std::fs::write(&path, config).with_context(|| format!("writing {}", path.display()))?;
        Ok(CodexHome {
            _dir: dir,
            root,
            home,
            workspace,
        })
    }

    /// The `CODEX_HOME` directory (holding `config.toml`).
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// A trusted directory for threads' `cwd`.
    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// The private `HOME` of [`CodexHome::env`].
    pub fn home_dir(&self) -> &Path {
        &self.home
    }

    /// The variables to start codex with: `CODEX_HOME`, the dummy API key, and a private
    /// `HOME` (so the shells codex runs read no one's dotfiles).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("CODEX_HOME".into(), self.path().display().to_string()),
            (MOCK_KEY_ENV.into(), MOCK_KEY.into()),
            ("HOME".into(), self.home.display().to_string()),
        ]
    }

    /// Where [`CodexProc`] writes codex's stderr.
    pub fn stderr_log(&self) -> PathBuf {
        self.path().join("codex.stderr.log")
    }
}

/// How long a [`CodexProc::request`] may wait for its answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// A `codex app-server` child speaking JSON lines on stdio. Killed (with its process
/// group) and reaped on drop.
#[derive(Debug)]
pub struct CodexProc {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<Value>,
    /// Received but not yet handed out (skipped by [`CodexProc::request`]).
    pending: VecDeque<Value>,
    next_id: u64,
    stderr_log: PathBuf,
}

impl CodexProc {
    /// Starts `codex app-server` in `home`'s workspace with `home`'s environment (and none
    /// of the caller's `CODEX_*` / `OPENAI_*` variables).
    pub fn spawn(home: &CodexHome) -> Result<CodexProc> {
        use std::os::unix::process::CommandExt;
        let binary = codex_binary()?;
        let stderr_log = home.stderr_log();
        let stderr = std::fs::File::create(&stderr_log)
            .with_context(|| format!("creating {}", stderr_log.display()))?;
        let mut cmd = Command::new(&binary);
        cmd.arg("app-server")
            .current_dir(home.workspace())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            // Its own group, so drop can kill the commands codex started too.
            .process_group(0);
        for (name, _) in std::env::vars_os() {
            let n = name.to_string_lossy();
            if n.starts_with("CODEX_") || n.starts_with("OPENAI_") {
                cmd.env_remove(&name);
            }
        }
        cmd.envs(home.env());
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {} app-server", binary.display()))?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("codex has no stdout pipe"))?;
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // Codex ignores non-JSON lines; keep any it prints as strings.
                let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        Ok(CodexProc {
            child,
            stdin,
            lines,
            pending: VecDeque::new(),
            next_id: 1,
            stderr_log,
        })
    }

    /// Writes one message (a line of JSON) to codex.
    pub fn send(&mut self, msg: &Value) -> Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| anyhow!("codex's stdin is closed"))?;
        let line = format!("{msg}\n");
        stdin
            .write_all(line.as_bytes())
            .and_then(|()| stdin.flush())
            .with_context(|| format!("writing to codex: {}", self.stderr_tail()))
    }

    /// The next message from codex.
    pub async fn recv(&mut self, timeout: Duration) -> Result<Value> {
        let (msg, _) = self.recv_until("any message", |_| true, timeout).await?;
        Ok(msg)
    }

    /// Receives until a message matches `pred`; returns it and the messages before it.
    /// `what` names the awaited message in the error when `timeout` passes first.
    pub async fn recv_until(
        &mut self,
        what: &str,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Result<(Value, Vec<Value>)> {
        let deadline = Instant::now() + timeout;
        let mut before = Vec::new();
        loop {
            let msg = match self.pending.pop_front() {
                Some(msg) => msg,
                None => match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                    Ok(Some(msg)) => msg,
                    Ok(None) => bail!(
                        "codex exited while waiting for {what}; stderr: {}",
                        self.stderr_tail()
                    ),
                    Err(_) => bail!(
                        "no {what} from codex within {timeout:?}; got meanwhile: [{}]",
                        before
                            .iter()
                            .map(|m: &Value| method_or_id(m))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
            };
            if pred(&msg) {
                return Ok((msg, before));
            }
            before.push(msg);
        }
    }

    /// Sends a request with a fresh id and returns its `result`; an error answer is an error.
    /// Messages that arrive first stay queued for the next `recv*`.
    pub async fn request(&mut self, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({ "id": id, "method": method, "params": params }))?;
        let what = format!("the answer to {method} (id {id})");
        let is_answer = |m: &Value| m["id"] == id && m.get("method").is_none();
        let (answer, before) = self.recv_until(&what, is_answer, REQUEST_TIMEOUT).await?;
        // Put the skipped messages back in front, in order.
        for msg in before.into_iter().rev() {
            self.pending.push_front(msg);
        }
        if let Some(err) = answer.get("error") {
            bail!("codex answered {method} with an error: {err}");
        }
        Ok(answer["result"].clone())
    }

    /// Answers the server request `id` (e.g. an approval) with `result`.
    pub fn respond(&mut self, id: &Value, result: Value) -> Result<()> {
        self.send(&json!({ "id": id, "result": result }))
    }

    /// `initialize`, then the `initialized` notification; returns the initialize result.
    pub async fn initialize(&mut self) -> Result<Value> {
        let params = json!({
            "clientInfo": { "name": "orbit-tests", "title": "Orbit tests", "version": "0.0.0" },
            "capabilities": {},
        });
        let result = self.request("initialize", params).await?;
        self.send(&json!({ "method": "initialized" }))?;
        Ok(result)
    }

    /// `thread/start` in `home`'s workspace with `on-request` approvals and the
    /// workspace-write sandbox; returns the thread id.
    pub async fn start_thread(&mut self, home: &CodexHome) -> Result<String> {
        let params = json!({
            "cwd": home.workspace().display().to_string(),
            "approvalPolicy": "on-request",
            "sandbox": "workspace-write",
        });
        let result = self.request("thread/start", params).await?;
        result["thread"]["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("thread/start answer without thread.id: {result}"))
    }

    /// `turn/start` with one text input; returns the turn id.
    pub async fn start_turn(&mut self, thread_id: &str, text: &str) -> Result<String> {
        let params = json!({
            "threadId": thread_id,
            "input": [{ "type": "text", "text": text }],
        });
        let result = self.request("turn/start", params).await?;
        result["turn"]["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("turn/start answer without turn.id: {result}"))
    }

    /// The last lines codex wrote to stderr, for failure messages.
    pub fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr_log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }
}

impl Drop for CodexProc {
    fn drop(&mut self) {
        drop(self.stdin.take());
        // The whole group (codex and the commands it runs), then codex itself for sure.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A message's method, or its id for answers: for summaries in failure messages.
fn method_or_id(msg: &Value) -> String {
    match (msg["method"].as_str(), msg.get("id")) {
        (Some(method), _) => method.to_string(),
        (None, Some(id)) => format!("answer {id}"),
        (None, None) => clip(&msg.to_string()),
    }
}

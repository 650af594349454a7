//! The real `anchor` binary under test: pairing it through the device flow, running it against
//! an Orbit, asking it for its status, and stopping it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::codex::{codex_binary, CodexHome};
use crate::mock_model::MockModel;
use crate::{repo_root, Orbit, Session, TempDir};

/// The `anchor` binary cargo built for this workspace (`ORBIT_TEST_ANCHOR` overrides).
pub fn anchor_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("ORBIT_TEST_ANCHOR") {
        return Ok(PathBuf::from(path));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let path = target.join("debug").join("anchor");
    if !path.is_file() {
        bail!(
            "{} is missing; build it with `cargo build -p orbit-anchor` (`make test` does)",
            path.display()
        );
    }
    Ok(path)
}

/// A state directory with credentials for a freshly paired anchor.
pub struct Paired {
    pub dir: TempDir,
    pub anchor_id: String,
    /// What `anchor login` printed.
    pub login_output: String,
}

impl Paired {
    pub fn state_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The saved credentials file, parsed.
    pub fn credentials(&self) -> Result<Value> {
        let path = self.dir.path().join("credentials.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(serde_json::from_str(&text)?)
    }
}

/// Runs `anchor login` against `orbit` and approves the code as the user of `web_token`, the
/// way a person would in the browser. Returns once the anchor has saved its credentials.
pub async fn pair(orbit: &Orbit, web_token: &str, name: &str) -> Result<Paired> {
    let dir = TempDir::new("anchor-state")?;
    let mut login = Command::new(anchor_binary()?)
        .args(["login", "--no-browser", "--name", name, "--orbit"])
        .arg(orbit.base_url())
        .arg("--state-dir")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting `anchor login`")?;
    let stdout = login.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let stderr = login.stderr.take().ok_or_else(|| anyhow!("no stderr"))?;
    let errors = tokio::spawn(async move {
        let mut text = String::new();
        let _ =
            tokio::io::AsyncReadExt::read_to_string(&mut BufReader::new(stderr), &mut text).await;
        text
    });
    let mut lines = BufReader::new(stdout).lines();
    let mut printed = String::new();
    let user_code = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await? {
            printed.push_str(&line);
            printed.push('\n');
            if let Some(code) = find_user_code(&line) {
                return Ok::<_, anyhow::Error>(code);
            }
        }
        bail!("`anchor login` ended without printing a code:\n{printed}")
    })
    .await
    .context("waiting for `anchor login` to print the code")??;

    let http = crate::api::http_client();
    let approved = http
        .post(format!("{}/auth/device/authorise", orbit.base_url()))
        .bearer_auth(web_token)
        .json(&json!({"userCode": user_code, "approve": true}))
        .send()
        .await?;
    let status = approved.status();
    let body: Value = approved.json().await.unwrap_or_default();
    if !status.is_success() {
        bail!("approving {user_code} failed: {status} {body}");
    }
    let anchor_id = body["anchorId"]
        .as_str()
        .ok_or_else(|| anyhow!("approval answer lacks anchorId: {body}"))?
        .to_string();

    let rest = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            printed.push_str(&line);
            printed.push('\n');
        }
        let status = login.wait().await?;
        Ok::<_, anyhow::Error>(status)
    })
    .await
    .context("waiting for `anchor login` to finish")??;
    if !rest.success() {
        let errors = errors.await.unwrap_or_default();
        bail!("`anchor login` failed ({rest}):\n{printed}{errors}");
    }
    Ok(Paired {
        dir,
        anchor_id,
        login_output: printed,
    })
}

/// The `XXXX-XXXX` user code in a line of `anchor login`'s output.
fn find_user_code(line: &str) -> Option<String> {
    line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .find(|w| {
            w.len() == 9
                && w.as_bytes()[4] == b'-'
                && w.chars()
                    .filter(|c| *c != '-')
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
        .map(str::to_string)
}

/// How to start an anchor.
#[derive(Debug, Clone)]
pub struct AnchorOptions {
    pub codex: PathBuf,
    pub roots: Vec<PathBuf>,
    /// Extra environment (e.g. `CODEX_HOME` and the mock model's key).
    pub env: Vec<(String, String)>,
    /// Overrides the Orbit URL saved at login.
    pub orbit_url: Option<String>,
}

/// A running `anchor run`; killed on drop.
pub struct AnchorProc {
    child: Child,
    state_dir: PathBuf,
    log: Arc<Mutex<String>>,
}

impl AnchorProc {
    pub fn start(state_dir: &Path, options: &AnchorOptions) -> Result<AnchorProc> {
        let mut command = Command::new(anchor_binary()?);
        command
            .arg("run")
            .arg("--state-dir")
            .arg(state_dir)
            .arg("--codex")
            .arg(&options.codex)
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for root in &options.roots {
            command.arg("--root").arg(root);
        }
        if let Some(url) = &options.orbit_url {
            command.arg("--orbit").arg(url);
        }
        let mut child = command.spawn().context("starting `anchor run`")?;
        let log = Arc::new(Mutex::new(String::new()));
        for pipe in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let log = log.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(pipe).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(mut log) = log.lock() {
                        log.push_str(&line);
                        log.push('\n');
                    }
                }
            });
        }
        Ok(AnchorProc {
            child,
            state_dir: state_dir.to_path_buf(),
            log,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Everything the anchor logged so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// `anchor status` as JSON (through the real CLI and control socket).
    pub async fn status(&self) -> Result<Value> {
        let out = Command::new(anchor_binary()?)
            .args(["status", "--log-format", "json", "--state-dir"])
            .arg(&self.state_dir)
            .output()
            .await?;
        if !out.status.success() {
            bail!(
                "`anchor status` failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(serde_json::from_slice(&out.stdout)?)
    }

    /// Polls `anchor status` until `check` holds (or fails after `within`).
    pub async fn wait_status(
        &self,
        what: &str,
        within: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + within;
        let mut last = Value::Null;
        loop {
            if let Ok(status) = self.status().await {
                if check(&status) {
                    return Ok(status);
                }
                last = status;
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "anchor status never showed {what} within {within:?}; last: {last}\nlog:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs another CLI command against this anchor's state directory (`status`, `stop`…).
    pub async fn cli(&self, args: &[&str]) -> Result<String> {
        cli(&self.state_dir, args).await
    }

    /// Sends a signal (by name, e.g. `TERM`) with the system's `kill`.
    pub async fn signal(&self, name: &str) -> Result<()> {
        let pid = self.pid().ok_or_else(|| anyhow!("the anchor has exited"))?;
        signal_pid(pid, name).await
    }

    /// Waits for the process to exit; returns its exit code.
    pub async fn wait_exit(&mut self, within: Duration) -> Result<Option<i32>> {
        let status = tokio::time::timeout(within, self.child.wait())
            .await
            .map_err(|_| {
                anyhow!(
                    "the anchor did not exit within {within:?}\nlog:\n{}",
                    self.log()
                )
            })??;
        // Let the log readers drain the pipes.
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(status.code())
    }
}

/// Runs `anchor <args> --state-dir <dir>` to completion: its stdout, or an error with its
/// stderr when it fails.
pub async fn cli(state_dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(anchor_binary()?)
        .args(args)
        .arg("--state-dir")
        .arg(state_dir)
        .stdin(Stdio::null())
        .output()
        .await
        .context("running the anchor CLI")?;
    if !out.status.success() {
        bail!(
            "`anchor {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A user with a paired, running anchor bridging the real codex, whose model is a fresh mock.
pub struct AnchorRig {
    pub web: Session,
    pub paired: Paired,
    pub mock: MockModel,
    pub home: CodexHome,
    pub options: AnchorOptions,
    pub anchor: AnchorProc,
}

impl AnchorRig {
    /// A new user of `orbit`, an anchor named `name` paired through the device flow, and
    /// `anchor run` started (not yet necessarily connected: see [`AnchorProc::wait_status`]).
    pub async fn start(orbit: &Orbit, name: &str) -> Result<AnchorRig> {
        let web = orbit.new_user().await?;
        let paired = pair(orbit, &web.access_token, name).await?;
        let mock = MockModel::start().await?;
        let home = CodexHome::new(&mock.base_url())?;
        let options = AnchorOptions {
            codex: codex_binary()?,
            roots: vec![home.workspace().to_path_buf()],
            env: home.env(),
            orbit_url: None,
        };
        let anchor = AnchorProc::start(paired.state_dir(), &options)?;
        Ok(AnchorRig {
            web,
            paired,
            mock,
            home,
            options,
            anchor,
        })
    }
}

/// Sends signal `name` to `pid` with the system's `kill`.
pub async fn signal_pid(pid: u32, name: &str) -> Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .await?;
    if !status.success() {
        bail!("kill -{name} {pid} failed");
    }
    Ok(())
}

/// Whether a process with this pid exists (and is not a zombie).
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::find_user_code;

    #[test]
    fn user_codes_are_found_in_login_output() {
        assert_eq!(
            find_user_code("and check that it shows the code WXYZ-2345 (or go to").as_deref(),
            Some("WXYZ-2345")
        );
        assert_eq!(find_user_code("http://127.0.0.1:1234/x"), None);
    }
}

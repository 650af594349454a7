//! Harness for Orbit's end-to-end tests: the built Worker under local workerd, and WebSocket
//! clients that talk to it.
//!
//! * [`Orbit`] starts `worker/build/index.js` under workerd on a free port, through
//!   Miniflare's API (`tests/workerd/serve.mjs`, configured from `wrangler.toml` as `wrangler
//!   dev` would be), with fresh D1 and Durable Object state in a temporary directory, a random
//!   JWT secret and the development API on, and waits until `/health` answers. Dropping it
//!   kills the whole process group (node and its workerd child). A small shell watchdog kills
//!   that group too if the test process itself dies, so no workerd is left behind.
//!   Not `wrangler dev`: its dev proxy loses a request now and then (see `serve.mjs`).
//! * [`Orbit::shared`] is one instance per test binary, for tests that need no private one:
//!   each test creates its own users, so they cannot see each other.
//! * [`Ws`] ([`ws`](crate::Ws)) is a WebSocket client whose every wait is bounded: a frame
//!   that does not come fails the test with a message saying what was awaited. The benchmark
//!   uses it too.
//! * [`NewSession`] / [`Session`]: the development API's sessions, typed by `orbit-protocol`.
//! * [`api`] is a client of Orbit's HTTP API for the black-box auth suites.
//!
//! Build the Worker first (`make build-worker`); the harness refuses to start without it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use orbit_protocol::control::{AnchorHello, Control};
use serde_json::{json, Value};

pub use orbit_protocol;
pub use orbit_shared;

pub mod dev;
mod ws;

pub use dev::{NewSession, Session};
pub use ws::{clip, summarize, UpgradeHeaders, Ws, WsStream};

/// A client of Orbit's HTTP API for black-box tests: each client sends its own
/// `CF-Connecting-IP`, so per-address rate limits don't couple tests.
pub mod anchor;
pub mod api;

/// Running the real `codex app-server` against the mock model, offline.
pub mod codex;
/// A mock of the OpenAI Responses API for codex.
pub mod mock_model;
/// Raising the open-file limit for tests that hold many sockets.
pub mod nofile;
/// Finding Orbit's workerd processes and reading their memory and CPU time from `/proc`
/// (the load suite and the benchmark).
pub mod procfs;
/// A client that records every frame and reconnects by itself, for the fault suite.
pub mod recorder;
/// Whether a series of memory samples per round has levelled off or keeps growing.
pub mod rss;

/// The Origin the test Orbit allows (`ORBIT_ALLOWED_ORIGINS`).
pub const ALLOWED_ORIGIN: &str = "http://allowed.test";

/// In the value of an extra Worker variable ([`Orbit::start_with`]), stands for the port that
/// start of Orbit listens on: `("ORBIT_ALLOWED_ORIGINS", "http://localhost:{port}")` lets a
/// browser on that origin in, though the port is chosen only at start.
pub const PORT_PLACEHOLDER: &str = "{port}";

/// How long a single expected frame may take before the test fails. Generous, because the
/// machine running the tests may be busy compiling.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long workerd may take to answer `/health`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(90);

/// How long wrangler may take to apply the D1 migrations.
const MIGRATIONS_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `"$@"` in the background and waits. If the test process (`$1`) goes away, kills the
/// whole process group (this shell's; the harness makes it a group leader), removes `$2` if it
/// is not empty, and exits. If the command exits by itself, stops whatever it left in the
/// group and exits with its status.
const WATCHDOG: &str = r#"
parent=$1; cleanup=$2; shift 2
"$@" </dev/null &
child=$!
while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.5; done
trap '' TERM
if kill -0 "$parent" 2>/dev/null; then
    wait "$child"; status=$?
    kill -TERM 0 2>/dev/null
    exit "$status"
fi
kill -TERM 0 2>/dev/null
sleep 2
if [ -n "$cleanup" ]; then rm -rf -- "$cleanup"; fi
kill -KILL 0
"#;

/// The repository root (the workspace that holds `wrangler.toml`).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Seconds since the Unix epoch (for minting tokens).
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A random lowercase hex string of `bytes` random bytes.
pub fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// A fresh, unique name (for thread ids and the like), readable in failure messages.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", random_hex(6))
}

/// A directory removed on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> Result<Self> {
        let path =
            std::env::temp_dir().join(format!("{prefix}-{}-{}", std::process::id(), random_hex(6)));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Sends `signal` to every process of the group `pgid`; true when the group had a member.
fn signal_group(pgid: u32, signal: &str) -> bool {
    Command::new("kill")
        .args([signal, "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A command running in its own process group under the watchdog.
#[derive(Debug)]
struct Group {
    child: Child,
    pgid: u32,
    log: PathBuf,
}

impl Group {
    /// Starts `program args` with output to `log`. `cleanup`, if given, is removed by the
    /// watchdog when the test process dies.
    fn spawn(
        program: &Path,
        args: &[String],
        cwd: &Path,
        log: &Path,
        cleanup: Option<&Path>,
    ) -> Result<Self> {
        use std::os::unix::process::CommandExt;
        let out =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let cleanup = cleanup.map(|p| p.display().to_string()).unwrap_or_default();
        let child = Command::new("bash")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("orbit-test-watchdog")
            .arg(std::process::id().to_string())
            .arg(cleanup)
            .arg(program)
            .args(args)
            .current_dir(cwd)
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("WRANGLER_LOG_PATH", log.with_extension("debug"))
            .env("NO_COLOR", "1")
            .env("FORCE_COLOR", "0")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let pgid = child.id();
        Ok(Group {
            child,
            pgid,
            log: log.to_path_buf(),
        })
    }

    /// The exit status, if the command has exited.
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_else(|e| format!("(no output: {e})"))
    }

    /// Waits for the command to exit by itself.
    fn wait(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("still running after {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the whole group: SIGTERM, up to 5 s of grace, then SIGKILL.
    fn stop(&mut self) {
        signal_group(self.pgid, "-TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            // Reap the watchdog shell, or its zombie would keep the group alive.
            let _ = self.child.try_wait();
            if !signal_group(self.pgid, "-0") {
                break;
            }
            if Instant::now() > deadline {
                signal_group(self.pgid, "-KILL");
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.wait();
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where the state directory came from.
#[derive(Debug)]
enum State {
    /// Made by this harness, removed with it.
    Owned(TempDir),
    /// Supplied by the test (restarts share one), left in place.
    Borrowed(PathBuf),
}

impl State {
    fn path(&self) -> &Path {
        match self {
            State::Owned(dir) => dir.path(),
            State::Borrowed(path) => path,
        }
    }
}

/// How an upgrade request presents itself; see [`Orbit::upgrade_status`] and
/// [`Orbit::connect_with`].
#[derive(Debug, Clone, Default)]
pub struct Upgrade {
    /// `/ws/client` or `/ws/anchor`.
    pub path: String,
    /// `?token=…`
    pub query_token: Option<String>,
    /// `Authorization: Bearer …`
    pub bearer: Option<String>,
    /// `Sec-WebSocket-Protocol: …`
    pub protocols: Option<String>,
    /// `Origin: …`
    pub origin: Option<String>,
    /// Send a plain GET without the WebSocket upgrade headers.
    pub plain: bool,
}

impl Upgrade {
    pub fn client() -> Self {
        Upgrade {
            path: "/ws/client".into(),
            ..Upgrade::default()
        }
    }

    pub fn anchor() -> Self {
        Upgrade {
            path: "/ws/anchor".into(),
            ..Upgrade::default()
        }
    }

    pub fn query_token(mut self, token: &str) -> Self {
        self.query_token = Some(token.into());
        self
    }

    pub fn bearer(mut self, token: &str) -> Self {
        self.bearer = Some(token.into());
        self
    }

    pub fn protocols(mut self, protocols: &str) -> Self {
        self.protocols = Some(protocols.into());
        self
    }

    pub fn origin(mut self, origin: &str) -> Self {
        self.origin = Some(origin.into());
        self
    }

    pub fn plain(mut self) -> Self {
        self.plain = true;
        self
    }

    fn path_and_query(&self) -> String {
        match &self.query_token {
            Some(token) => format!("{}?token={token}", self.path),
            None => self.path.clone(),
        }
    }
}

/// A running Orbit: the built Worker under workerd (`tests/workerd/serve.mjs`).
#[derive(Debug)]
pub struct Orbit {
    port: u16,
    secret: String,
    /// Extra `--var NAME:value` settings (see [`Orbit::start_with`]).
    vars: Vec<(String, String)>,
    // Declared before `state` so the processes stop before their directory goes.
    group: Option<Group>,
    state: State,
    starts: u32,
}

/// A cell for an Orbit shared by the tests of one test binary: see [`Orbit::shared_in`].
pub type SharedOrbit = OnceLock<std::result::Result<Orbit, String>>;

static SHARED: SharedOrbit = OnceLock::new();

impl Orbit {
    /// The Orbit shared by every test of this test binary, started on first use.
    ///
    /// It is never dropped (statics are not): the watchdog stops it when the test process
    /// exits.
    pub fn shared() -> Result<&'static Orbit> {
        Orbit::shared_in(&SHARED, &[])
    }

    /// The Orbit in `cell`, started with the extra variables `vars` on first use: one per
    /// configuration a test binary needs, shared by its tests like [`Orbit::shared`]. A start
    /// that failed fails every test that asks for it.
    pub fn shared_in(cell: &'static SharedOrbit, vars: &[(&str, &str)]) -> Result<&'static Orbit> {
        cell.get_or_init(|| Orbit::start_with(vars).map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| anyhow!("the shared Orbit did not start: {e}"))
    }

    /// A private Orbit with fresh state, stopped and deleted on drop.
    pub fn start() -> Result<Orbit> {
        Orbit::start_with(&[])
    }

    /// A private Orbit with fresh state and extra Worker variables (`ORBIT_OPEN_REGISTRATION`,
    /// `ORBIT_RATE_LIMITS`, …), stopped and deleted on drop. They override the harness's own
    /// (`ORBIT_ALLOWED_ORIGINS`), and [`PORT_PLACEHOLDER`] in a value becomes the port.
    pub fn start_with(vars: &[(&str, &str)]) -> Result<Orbit> {
        let dir = TempDir::new("orbit-test")?;
        let vars = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Orbit::launch(State::Owned(dir), random_hex(32), vars)
    }

    /// A private Orbit persisting into `dir` (which the caller keeps), with this JWT secret.
    /// Starting again on the same directory with the same secret continues where the last
    /// one stopped.
    pub fn start_in(dir: &Path, secret: &str) -> Result<Orbit> {
        Orbit::launch(
            State::Borrowed(dir.to_path_buf()),
            secret.to_string(),
            Vec::new(),
        )
    }

    /// Like [`Orbit::start_in`], with extra Worker variables.
    pub fn start_in_with(dir: &Path, secret: &str, vars: &[(&str, &str)]) -> Result<Orbit> {
        let vars = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Orbit::launch(State::Borrowed(dir.to_path_buf()), secret.to_string(), vars)
    }

    fn launch(state: State, secret: String, vars: Vec<(String, String)>) -> Result<Orbit> {
        let build = repo_root().join("worker/build");
        if !build.join("index.js").is_file() || !build.join("index_bg.wasm").is_file() {
            bail!(
                "{} holds no built Worker: build it first (make build-worker)",
                build.display()
            );
        }
        // wrangler.toml's [assets] names the built web client; the Worker serves it.
        let web = repo_root().join("web/dist");
        if !web.join("index.html").is_file() {
            bail!(
                "{} holds no built web client: build it first (make build-web)",
                web.display()
            );
        }
        // Run private copies, so a rebuild of worker/build or web/dist while tests run cannot
        // change this Orbit between its restarts, which reuse the copies.
        let copy = state.path().join("build");
        if !copy.join("index.js").is_file() {
            copy_dir(&build, &copy)?;
        }
        let web_copy = state.path().join("web");
        if !web_copy.join("index.html").is_file() {
            copy_dir(&web, &web_copy)?;
        }
        let mut orbit = Orbit {
            port: 0,
            secret,
            vars,
            group: None,
            state,
            starts: 0,
        };
        orbit.migrate()?;
        orbit.boot()?;
        Ok(orbit)
    }

    fn wrangler() -> Result<PathBuf> {
        let bin = repo_root().join("node_modules/.bin/wrangler");
        if !bin.exists() {
            bail!(
                "{} is missing: run `npm ci` in the repository root",
                bin.display()
            );
        }
        Ok(bin)
    }

    fn persist_dir(&self) -> PathBuf {
        self.state.path().join("state")
    }

    fn cleanup_path(&self) -> Option<&Path> {
        match &self.state {
            State::Owned(dir) => Some(dir.path()),
            State::Borrowed(_) => None,
        }
    }

    /// Applies the D1 migrations to the local database in the state directory.
    fn migrate(&mut self) -> Result<()> {
        let args: Vec<String> = ["d1", "migrations", "apply", "DB", "--local", "--persist-to"]
            .iter()
            .map(|s| s.to_string())
            .chain([self.persist_dir().display().to_string()])
            .collect();
        let log = self.state.path().join("migrations.log");
        let cleanup = self.cleanup_path().map(Path::to_path_buf);
        let mut group = Group::spawn(
            &Orbit::wrangler()?,
            &args,
            &repo_root(),
            &log,
            cleanup.as_deref(),
        )?;
        let status = group.wait(MIGRATIONS_TIMEOUT);
        let ok = matches!(&status, Ok(s) if s.success());
        if !ok {
            let output = group.output();
            group.stop();
            bail!("`wrangler d1 migrations apply` failed ({status:?}):\n{output}");
        }
        Ok(())
    }

    /// Starts workerd and waits for `/health`. Retries with another port if the chosen one
    /// was taken in the meantime.
    fn boot(&mut self) -> Result<()> {
        let mut last_error = None;
        for _attempt in 0..3 {
            match self.boot_once(None) {
                Ok(()) => return Ok(()),
                Err(BootError::PortTaken(e)) => last_error = Some(e),
                Err(BootError::Fatal(e)) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow!("workerd did not start")))
    }

    fn boot_once(&mut self, fixed_port: Option<u16>) -> std::result::Result<(), BootError> {
        let port = match fixed_port {
            Some(port) => port,
            None => free_port().map_err(BootError::Fatal)?,
        };
        self.starts += 1;
        let mut args: Vec<String> = vec![
            repo_root()
                .join("tests/workerd/serve.mjs")
                .display()
                .to_string(),
            "--config".into(),
            repo_root().join("wrangler.toml").display().to_string(),
            "--script".into(),
            self.state
                .path()
                .join("build/index.js")
                .display()
                .to_string(),
            // The rest of wrangler.toml's [assets] holds; only the directory is the copy.
            "--assets".into(),
            self.state.path().join("web").display().to_string(),
            "--ip".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "--persist-to".into(),
            self.persist_dir().display().to_string(),
            "--var".into(),
            format!("ORBIT_JWT_SECRET:{}", self.secret),
            "--var".into(),
            "ORBIT_DEV_API:1".into(),
            "--var".into(),
            format!("ORBIT_ALLOWED_ORIGINS:{ALLOWED_ORIGIN}"),
            "--var".into(),
            format!("ORBIT_SEAL_KEY:{}", self.seal_key()),
        ];
        // The last of two --var of one name wins: these override the ones above.
        for (name, value) in &self.vars {
            let value = value.replace(PORT_PLACEHOLDER, &port.to_string());
            args.push("--var".into());
            args.push(format!("{name}:{value}"));
        }
        let log = self
            .state
            .path()
            .join(format!("workerd-{}.log", self.starts));
        let mut group = Group::spawn(
            Path::new("node"),
            &args,
            &repo_root(),
            &log,
            self.cleanup_path(),
        )
        .map_err(BootError::Fatal)?;
        let started = Instant::now();
        loop {
            if let Some(status) = group.exited() {
                let output = group.output();
                let error =
                    anyhow!("workerd (serve.mjs) exited ({status}) before it was ready:\n{output}");
                return Err(
                    if output.contains("EADDRINUSE") || output.contains("Address already in use") {
                        BootError::PortTaken(error)
                    } else {
                        BootError::Fatal(error)
                    },
                );
            }
            if health_ok(port) {
                break;
            }
            if started.elapsed() > STARTUP_TIMEOUT {
                let output = group.output();
                group.stop();
                return Err(BootError::Fatal(anyhow!(
                    "workerd did not answer GET /health within {STARTUP_TIMEOUT:?}:\n{output}"
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.port = port;
        self.group = Some(group);
        Ok(())
    }

    /// Stops workerd and starts it again on the same state (a new port).
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.boot()
    }

    /// Stops workerd and starts it again on the same state and the same port, as a restarted
    /// server looks to the anchors connected to it.
    pub fn restart_same_port(&mut self) -> Result<()> {
        self.stop();
        self.boot_on(self.port)
    }

    /// Kills workerd and its node parent with SIGKILL (no grace, as a crash or an OOM kill
    /// would), then starts it again on the same state and the same port.
    pub fn kill_and_restart_same_port(&mut self) -> Result<()> {
        if let Some(mut group) = self.group.take() {
            signal_group(group.pgid, "-KILL");
            group.stop();
        }
        self.boot_on(self.port)
    }

    /// Starts workerd on `port`, retrying while the old listener lingers.
    fn boot_on(&mut self, port: u16) -> Result<()> {
        let mut last_error = None;
        for _attempt in 0..20 {
            match self.boot_once(Some(port)) {
                Ok(()) => return Ok(()),
                // The old listener may linger for a moment after its process group is gone.
                Err(BootError::PortTaken(e)) => {
                    last_error = Some(e);
                    std::thread::sleep(Duration::from_millis(250));
                }
                Err(BootError::Fatal(e)) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow!("workerd did not start on port {port}")))
    }

    /// Stops workerd (its whole process group), keeping the state directory.
    pub fn stop(&mut self) {
        if let Some(mut group) = self.group.take() {
            group.stop();
        }
    }

    /// Everything workerd printed (the Worker's logs, one line per request) since it was last
    /// started.
    pub fn output(&self) -> String {
        self.group.as_ref().map(Group::output).unwrap_or_default()
    }

    /// The file workerd's output goes to since it was last started (`None` while stopped).
    pub fn log_path(&self) -> Option<&Path> {
        self.group.as_ref().map(|g| g.log.as_path())
    }

    /// The port Orbit listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `ws://127.0.0.1:<port>`
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// The JWT secret the Worker signs and checks tokens with.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The key TOTP secrets are sealed under (`ORBIT_SEAL_KEY`): derived from the JWT secret, so
    /// a restart on the same state can still open them.
    pub fn seal_key(&self) -> String {
        format!("seal-{}", self.secret)
    }

    /// The state directory (D1 and Durable Object storage live in its `state/`).
    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    /// `POST /__dev/session`.
    pub async fn create_session(&self, request: NewSession) -> Result<Session> {
        dev::session(&self.base_url(), &request).await
    }

    /// A new user with a web session.
    pub async fn new_user(&self) -> Result<Session> {
        self.create_session(NewSession::default()).await
    }

    /// Another web session of `user_id`.
    pub async fn web_session(&self, user_id: &str) -> Result<Session> {
        self.create_session(NewSession {
            user_id: Some(user_id.into()),
            ..NewSession::default()
        })
        .await
    }

    /// Pairs a new anchor named `name` with `user_id`; returns its anchor session.
    pub async fn pair_anchor(&self, user_id: &str, name: &str) -> Result<Session> {
        self.create_session(NewSession {
            user_id: Some(user_id.into()),
            anchor_name: Some(name.into()),
            anchor_id: None,
        })
        .await
    }

    /// Another session for an anchor already paired with `user_id`.
    pub async fn anchor_session(&self, user_id: &str, anchor_id: &str) -> Result<Session> {
        self.create_session(NewSession {
            user_id: Some(user_id.into()),
            anchor_name: None,
            anchor_id: Some(anchor_id.into()),
        })
        .await
    }

    /// `GET /__dev/hub?userId=…`: the development probe of `user_id`'s hub (whether its state
    /// survived since the last event, `wakes`, `sockets`, `pairedReads`, `wasmMemoryBytes`).
    pub async fn probe_hub(&self, user_id: &str) -> Result<Value> {
        let url = format!("{}/__dev/hub?userId={user_id}", self.base_url());
        let answer = reqwest::Client::new()
            .get(&url)
            .timeout(DEFAULT_TIMEOUT)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?
            .error_for_status()?;
        Ok(answer.json().await?)
    }

    /// How many times `user_id`'s hub has read the paired-anchor list from D1 since its state
    /// was built; fails if the state was rebuilt since the last event (the count restarted).
    pub async fn paired_reads(&self, user_id: &str) -> Result<u64> {
        let probe = self.probe_hub(user_id).await?;
        if probe["wasLive"] != true {
            bail!("the hub's state was rebuilt, so its read count restarted: {probe}");
        }
        probe["pairedReads"]
            .as_u64()
            .ok_or_else(|| anyhow!("no pairedReads in the probe: {probe}"))
    }

    /// `POST /__dev/revoke`.
    pub async fn revoke(&self, session_id: Option<&str>, anchor_id: Option<&str>) -> Result<()> {
        dev::revoke(&self.base_url(), session_id, anchor_id).await
    }

    /// `POST /__dev/hub-fault`: `user_id`'s hub refuses its next `refuse_revocations` requests
    /// to close a revoked credential's sockets.
    pub async fn hub_fault(&self, user_id: &str, refuse_revocations: u32) -> Result<()> {
        dev::hub_fault(&self.base_url(), user_id, refuse_revocations).await
    }

    /// A storage fault in `user_id`'s hub (`POST /__dev/hub-fault`): `fault`'s `fail_writes`,
    /// `fail_reads` and `empty_log`.
    pub async fn storage_fault(
        &self,
        user_id: &str,
        fault: orbit_protocol::dev::DevHubFaultRequest,
    ) -> Result<()> {
        dev::storage_fault(&self.base_url(), user_id, fault).await
    }

    /// Opens a WebSocket as described, without reading anything from it.
    pub async fn connect_with(&self, upgrade: &Upgrade) -> Result<Ws> {
        let url = format!("{}{}", self.ws_url(), upgrade.path_and_query());
        let headers = UpgradeHeaders {
            bearer: upgrade.bearer.as_deref(),
            protocols: upgrade.protocols.as_deref(),
            origin: upgrade.origin.as_deref(),
        };
        Ws::connect(&url, upgrade.path.trim_start_matches("/ws/"), &headers).await
    }

    /// Sends an upgrade request (or a plain GET) and returns the HTTP status and the JSON
    /// body, for requests that are expected to be refused.
    pub async fn upgrade_status(&self, upgrade: &Upgrade) -> Result<(u16, Value)> {
        let url = format!("{}{}", self.base_url(), upgrade.path_and_query());
        let mut request = reqwest::Client::new().get(&url);
        if !upgrade.plain {
            request = request
                .header("Connection", "Upgrade")
                .header("Upgrade", "websocket")
                .header("Sec-WebSocket-Version", "13")
                .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
        }
        if let Some(token) = &upgrade.bearer {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        if let Some(protocols) = &upgrade.protocols {
            request = request.header("Sec-WebSocket-Protocol", protocols);
        }
        if let Some(origin) = &upgrade.origin {
            request = request.header("Origin", origin);
        }
        let response = tokio::time::timeout(DEFAULT_TIMEOUT, request.send())
            .await
            .map_err(|_| anyhow!("GET {} took over {DEFAULT_TIMEOUT:?}", upgrade.path))?
            .with_context(|| format!("GET {}", upgrade.path))?;
        let status = response.status().as_u16();
        if status == 101 {
            return Ok((status, Value::Null));
        }
        let text = tokio::time::timeout(DEFAULT_TIMEOUT, response.text())
            .await
            .map_err(|_| anyhow!("body of GET {} took over {DEFAULT_TIMEOUT:?}", upgrade.path))??;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, body))
    }

    /// A client socket for a web session (token in the query), after its `orbit.hello` and
    /// first `orbit.anchors`, which are returned.
    pub async fn client(&self, session: &Session) -> Result<(Ws, Value, Value)> {
        let mut ws = self
            .connect_with(&Upgrade::client().query_token(&session.access_token))
            .await?;
        ws.label = format!("client of {}", short(&session.user_id));
        let hello = ws.recv_type("orbit.hello").await?;
        let anchors = ws.recv_type("orbit.anchors").await?;
        Ok((ws, hello, anchors))
    }

    /// An anchor socket for an anchor session (Bearer token), after its `orbit.hello`.
    pub async fn anchor(&self, session: &Session) -> Result<Ws> {
        let mut ws = self
            .connect_with(&Upgrade::anchor().bearer(&session.access_token))
            .await?;
        ws.label = format!(
            "anchor {} of {}",
            short(session.anchor_id.as_deref().unwrap_or("?")),
            short(&session.user_id)
        );
        ws.recv_type("orbit.hello").await?;
        Ok(ws)
    }
}

impl Drop for Orbit {
    fn drop(&mut self) {
        self.stop();
    }
}

enum BootError {
    PortTaken(anyhow::Error),
    Fatal(anyhow::Error),
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// Copies a directory tree.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Two distinct free TCP ports on 127.0.0.1.
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Whether `GET /health` answers `{"status":"ok",…}` (blocking, so it works without a
/// runtime and from the shared instance's initialiser).
fn health_ok(port: u16) -> bool {
    let healthy = |response: &[u8]| {
        let text = String::from_utf8_lossy(response).replace(' ', "");
        text.starts_with("HTTP/1.1200") && text.contains(r#""status":"ok""#)
    };
    let attempt = || -> std::io::Result<bool> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.set_write_timeout(Some(Duration::from_secs(2)))?;
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
        // The server may keep the connection open: stop as soon as the answer is seen.
        let mut response = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                return Ok(healthy(&response));
            }
            response.extend_from_slice(&buf[..n]);
            if healthy(&response) {
                return Ok(true);
            }
        }
    };
    attempt().unwrap_or(false)
}

/// A user with one web client and one paired anchor, both connected; the anchor has sent its
/// `anchor.hello` and the client's queue is empty.
#[derive(Debug)]
pub struct Rig {
    pub web: Session,
    pub anchor_session: Session,
    pub anchor_id: String,
    pub client: Ws,
    pub anchor: Ws,
}

impl Orbit {
    /// The anchor of `session` connected and announced (`anchor.hello` under `name`), with
    /// nothing more from Orbit waiting on its socket.
    pub async fn online_anchor(&self, session: &Session, name: &str) -> Result<Ws> {
        let mut anchor = self.anchor(session).await?;
        anchor
            .send_control(&anchor_hello(session.anchor()?, name))
            .await?;
        anchor.expect_nothing_pending().await?;
        Ok(anchor)
    }

    /// A fresh user with a client and a connected anchor named `name`.
    pub async fn rig(&self, name: &str) -> Result<Rig> {
        let web = self.new_user().await?;
        let anchor_session = self.pair_anchor(&web.user_id, name).await?;
        let anchor_id = anchor_session.anchor()?.to_string();
        let anchor = self.online_anchor(&anchor_session, name).await?;
        let (client, _, _) = self.client(&web).await?;
        Ok(Rig {
            web,
            anchor_session,
            anchor_id,
            client,
            anchor,
        })
    }
}

/// The `anchor.hello` an anchor sends after connecting.
pub fn anchor_hello(anchor_id: &str, name: &str) -> Control {
    Control::AnchorHello(AnchorHello {
        anchor_id: Some(anchor_id.to_string()),
        name: Some(name.to_string()),
        hostname: Some(format!("{name}.host")),
        platform: Some("linux".to_string()),
        version: Some("0.1.0".to_string()),
        capabilities: vec!["codex".to_string()],
        codex_version: Some("0.0.0-test".to_string()),
        instance: None,
        next_frame: None,
    })
}

/// A thread notification as an anchor sends it (codex's `item/agentMessage/delta` shape).
pub fn thread_note(thread_id: &str, n: u64) -> Value {
    json!({
        "method": "item/agentMessage/delta",
        "params": { "threadId": thread_id, "n": n, "delta": format!("chunk {n}") },
    })
}

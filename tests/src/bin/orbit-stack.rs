//! `orbit-stack`: the whole local stack the browser tests (`web/e2e`) drive, started once for
//! a test run.
//!
//! * Orbit: the built Worker and web client under workerd ([`Orbit::start_with`]), with
//!   fresh state, the development API on, open registration, and passkeys for a browser at
//!   `http://localhost:PORT` (RP ID `localhost`, that origin allowed; Chromium treats
//!   `localhost` as a secure context, so WebAuthn works over plain HTTP). Per-address rate
//!   limits are off, as every test comes from the same address; per-account ones stay.
//! * the mock model ([`MockModel`]) and a `CODEX_HOME` pointing codex at it ([`CodexHome`]),
//!   with its trusted workspace;
//! * a scratch directory for the tests' own state (anchor state directories, fresh codex
//!   homes).
//!
//! When everything is up it prints **one line of JSON** on stdout (see [`Ready`]), then stays
//! up until its stdin closes or it gets SIGTERM, SIGINT or SIGHUP, and tears everything down:
//! workerd's whole process group, the mock, and every directory it made. If it dies without
//! that, the harness's watchdog still stops workerd. Diagnostics go to stderr.
//!
//! It refuses to run outside a private network namespace with only loopback, like the suites
//! that start codex: run it as `scripts/private-net.sh target/debug/orbit-stack`. Needs the
//! built Worker and web client (`make build-worker build-web`), `npm ci`, and the anchor
//! (`cargo build -p orbit-anchor`), which it looks for where `anchor_binary` does (`target/`
//! or `$CARGO_TARGET_DIR`, `debug/anchor`; `ORBIT_TEST_ANCHOR` overrides).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use orbit_tests::anchor::anchor_binary;
use orbit_tests::codex::{codex_binary, require_private_netns, CodexHome};
use orbit_tests::mock_model::MockModel;
use orbit_tests::orbit_shared::auth::rate_limit::Policy;
use orbit_tests::{Orbit, TempDir, PORT_PLACEHOLDER};
use serde::Serialize;
use tokio::signal::unix::{signal, SignalKind};

/// The line printed once the stack is up: everything the browser tests need.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Ready {
    /// Orbit's base URL for the browser, `http://localhost:PORT` (the allowed origin).
    orbit: String,
    /// The same Orbit as `http://127.0.0.1:PORT`, for clients that are not browsers.
    orbit_ip: String,
    /// workerd's output (the Worker's logs): show it when a test fails.
    orbit_log: PathBuf,
    /// Orbit's state directory (D1 and Durable Objects under `state/`).
    orbit_state_dir: PathBuf,
    /// The mock model's base URL (`http://127.0.0.1:PORT/v1`).
    mock_model: String,
    anchor_bin: PathBuf,
    codex_bin: PathBuf,
    /// The `CODEX_HOME` (its `config.toml` points codex at the mock).
    codex_home: PathBuf,
    /// The environment to run the anchor with so that the codex it starts uses the mock:
    /// `CODEX_HOME`, the mock's dummy API key, a private `HOME`.
    codex_home_env: BTreeMap<String, String>,
    /// A directory codex trusts, to give the anchor as `--root` and start threads in.
    workspace: PathBuf,
    /// A scratch directory for the tests (anchor state directories, …), removed at the end.
    state_dir: PathBuf,
    /// This process: stop it with SIGTERM or by closing its stdin.
    pid: u32,
    /// How long the start took, in milliseconds.
    startup_ms: u128,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("orbit-stack: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    require_private_netns()?;
    let started = Instant::now();
    let anchor_bin = anchor_binary()?;
    if !anchor_bin.is_file() {
        anyhow::bail!("no anchor binary at {}", anchor_bin.display());
    }
    let codex_bin = codex_binary()?;

    let mock = MockModel::start().await?;
    let home = CodexHome::new(&mock.base_url())?;
    let scratch = TempDir::new("orbit-e2e")?;
    let scratch_path = scratch.path().canonicalize()?;

    let vars = worker_vars()?;
    let orbit = tokio::task::spawn_blocking(move || {
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Orbit::start_with(&vars)
    })
    .await
    .context("starting Orbit")??;

    let ready = Ready {
        orbit: format!("http://localhost:{}", orbit.port()),
        orbit_ip: orbit.base_url(),
        orbit_log: orbit.log_path().map(Path::to_path_buf).unwrap_or_default(),
        orbit_state_dir: orbit.state_dir().to_path_buf(),
        mock_model: mock.base_url(),
        anchor_bin,
        codex_bin,
        codex_home: home.path().to_path_buf(),
        codex_home_env: home.env().into_iter().collect(),
        workspace: home.workspace().to_path_buf(),
        state_dir: scratch_path,
        pid: std::process::id(),
        startup_ms: started.elapsed().as_millis(),
    };
    let line = serde_json::to_string(&ready)?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    eprintln!(
        "orbit-stack: up in {:.1} s at {} (log {}); close stdin or send SIGTERM to stop",
        started.elapsed().as_secs_f64(),
        ready.orbit,
        ready.orbit_log.display()
    );

    let why = wait_for_the_end().await?;
    eprintln!("orbit-stack: {why}; stopping");
    // Orbit first (workerd's process group, then its state directory), then the rest.
    tokio::task::spawn_blocking(move || drop(orbit)).await?;
    drop(home);
    drop(mock);
    drop(scratch);
    Ok(())
}

/// The Worker's variables for browser tests on `http://localhost:PORT`.
fn worker_vars() -> Result<Vec<(&'static str, String)>> {
    let origin = format!("http://localhost:{PORT_PLACEHOLDER}");
    // Every request of a test run comes from one address: limits per address would make
    // tests depend on each other. Limits per account still apply.
    let mut limits = Policy::default();
    for action in [
        &mut limits.passkey_sign_in,
        &mut limits.totp_sign_in,
        &mut limits.refresh,
        &mut limits.device_code_creation,
        &mut limits.user_code_entry,
        &mut limits.challenge_issue,
        &mut limits.device_token_poll,
    ] {
        action.per_address = None;
    }
    Ok(vec![
        ("ORBIT_OPEN_REGISTRATION", "true".into()),
        ("ORBIT_RP_ID", "localhost".into()),
        ("ORBIT_ALLOWED_ORIGINS", origin.clone()),
        ("ORBIT_PUBLIC_URL", origin),
        ("ORBIT_RATE_LIMITS", serde_json::to_string(&limits)?),
    ])
}

/// Waits until stdin reaches its end or a stop signal comes; says which.
async fn wait_for_the_end() -> Result<String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    // A plain thread: a blocking read that must not hold up the runtime's shutdown.
    std::thread::spawn(move || {
        let mut sink = [0u8; 1024];
        let mut stdin = std::io::stdin().lock();
        loop {
            match stdin.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let _ = tx.send(());
    });
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    Ok(tokio::select! {
        _ = rx => "stdin closed",
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
        _ = hup.recv() => "SIGHUP",
    }
    .to_string())
}

//! `anchor`: the Orbit anchor binary. See `anchor --help`.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::Parser;
use tokio::sync::Notify;

use orbit_anchor::cli::{Cli, Command, LoginArgs};
use orbit_anchor::config::{self, Config, Defaults, LogFormat};
use orbit_anchor::control::{self, CodexStatus, ControlError, OrbitStatus, StatusReport};
use orbit_anchor::credentials;
use orbit_anchor::login::{self, DeviceApi};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the context chain on one line, without a backtrace.
            eprintln!("anchor: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<()> {
    let cli = Cli::parse();
    let env = config::env_layer(|k| std::env::var(k).ok())?;
    let cfg = config::resolve(
        &cli.global.layer(),
        cli.global.config.as_deref(),
        &env,
        &Defaults::system(),
    )?;
    init_tracing(cfg.log_format);

    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        match cli.command.unwrap_or(Command::Run) {
            Command::Run => run(&cfg).await,
            Command::Login(args) => login_cmd(&cfg, &args).await,
            Command::Logout => logout(&cfg),
            Command::Status => status(&cfg).await,
            Command::Stop => stop(&cfg).await,
        }
    })
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

async fn login_cmd(cfg: &Config, args: &LoginArgs) -> Result<()> {
    let Some(orbit) = cfg.orbit.as_deref() else {
        bail!("which Orbit? pass --orbit URL (or set ORBIT_URL, or `orbit` in the config file)");
    };
    let api = DeviceApi::new(orbit);
    let hostname = login::hostname();
    let code = api
        .request_code(args.name.as_deref(), hostname.as_deref())
        .await
        .context("asking Orbit for a pairing code")?;

    println!(
        "To pair this machine with Orbit, open:\n\n    {}\n",
        code.verification_uri_complete
    );
    println!(
        "and check that it shows the code {} (or go to {} and enter it).",
        code.user_code, code.verification_uri
    );
    println!(
        "The code expires in {} minutes. Waiting for approval…",
        code.expires_in.div_ceil(60)
    );
    if !args.no_browser {
        login::open_browser(&code.verification_uri_complete);
    }

    let grant = login::poll_for_token(&api, &code, tokio::time::sleep)
        .await
        .context("pairing failed")?;
    let anchor_id = grant.anchor_id.clone();
    let creds = grant.into_credentials(api.base(), now_ms());
    credentials::save(&cfg.state_dir, &creds).context("saving the credentials")?;
    println!(
        "Paired as anchor {anchor_id}. Credentials saved to {}.",
        credentials::path(&cfg.state_dir).display()
    );
    Ok(())
}

fn logout(cfg: &Config) -> Result<()> {
    // Orbit has no endpoint an anchor can call to revoke itself (DELETE /auth/anchors/{id} needs
    // a user's web session), so logging out here means forgetting the credentials.
    let path = credentials::path(&cfg.state_dir);
    if credentials::delete(&cfg.state_dir).context("deleting the credentials")? {
        println!("Deleted the local credentials ({}).", path.display());
        println!(
            "The anchor is still paired in Orbit until you revoke it there (Settings → Anchors); \
             its refresh token expires on its own if unused."
        );
    } else {
        println!("Not logged in (no credentials at {}).", path.display());
    }
    Ok(())
}

async fn run(cfg: &Config) -> Result<()> {
    let creds = credentials::load(&cfg.state_dir).context("loading the credentials")?;
    let orbit_url = cfg
        .orbit
        .clone()
        .or_else(|| creds.as_ref().map(|c| c.orbit_url.clone()));
    match &creds {
        Some(c) => {
            tracing::info!(anchor_id = %c.anchor_id, orbit = ?orbit_url, "credentials loaded")
        }
        None => tracing::warn!("not logged in; run `anchor login --orbit URL` first"),
    }
    tracing::info!(
        codex = %cfg.codex.display(),
        roots = ?cfg.roots,
        state_dir = %cfg.state_dir.display(),
        "configuration"
    );

    let server = control::ControlServer::bind(&cfg.state_dir)
        .await
        .context("starting the control socket")?;
    tracing::info!(socket = %server.path().display(), "control socket listening");
    tracing::warn!("the Orbit/codex bridge is not implemented yet; only the control socket runs");

    let started = Instant::now();
    let last_error = if creds.is_some() {
        "bridge not implemented yet"
    } else {
        "not logged in; bridge not implemented yet"
    };
    let provider = move || StatusReport {
        orbit: OrbitStatus {
            connected: false,
            url: orbit_url.clone(),
            last_error: Some(last_error.to_string()),
        },
        codex: CodexStatus {
            running: false,
            pid: None,
            restarts: 0,
        },
        version: VERSION.to_string(),
        uptime_s: started.elapsed().as_secs(),
    };
    let stop = Arc::new(Notify::new());
    let serving = tokio::spawn(server.serve(Arc::new(provider), stop.clone()));

    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => {
            r.context("waiting for SIGINT")?;
            tracing::info!("SIGINT: shutting down");
        }
        _ = sigterm.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = stop.notified() => tracing::info!("stop requested over the control socket: shutting down"),
    }
    serving.abort();
    // Awaiting the aborted task drops the server, which removes the socket file.
    let _ = serving.await;
    Ok(())
}

fn not_running(e: ControlError) -> anyhow::Error {
    match e {
        ControlError::NotRunning { .. } => anyhow::anyhow!("{e}; start it with `anchor run`"),
        other => anyhow::Error::new(other).context("asking the anchor"),
    }
}

async fn status(cfg: &Config) -> Result<()> {
    let v = control::request(&cfg.state_dir, &serde_json::json!({ "cmd": "status" }))
        .await
        .map_err(not_running)?;
    if let Some(e) = v.get("error") {
        bail!("the anchor answered with an error: {e}");
    }
    match cfg.log_format {
        LogFormat::Json => println!("{v}"),
        LogFormat::Human => {
            let report: StatusReport =
                serde_json::from_value(v).context("the anchor's status answer is malformed")?;
            print!("{}", control::render_status(&report));
        }
    }
    Ok(())
}

async fn stop(cfg: &Config) -> Result<()> {
    let v = control::request(&cfg.state_dir, &serde_json::json!({ "cmd": "stop" }))
        .await
        .map_err(not_running)?;
    if v.get("stopping").and_then(|s| s.as_bool()) == Some(true) {
        println!("The anchor is stopping.");
        Ok(())
    } else {
        bail!("unexpected answer from the anchor: {v}")
    }
}

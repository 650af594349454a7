//! `anchor`: the Orbit anchor binary. See `anchor --help`.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::Parser;

use orbit_anchor::audit::AuditLog;
use orbit_anchor::cli::{Cli, Command, LoginArgs};
use orbit_anchor::codex;
use orbit_anchor::config::{self, Config, Defaults, LogFormat};
use orbit_anchor::connection::anchor_socket_url;
use orbit_anchor::control::{self, ControlError, ControlRequest, StatusReport};
use orbit_anchor::credentials::{self, Credentials};
use orbit_anchor::helpers::{self, HelperContext};
use orbit_anchor::login::{self, DeviceApi};
use orbit_anchor::run::{self, RunConfig, StopReason};
use orbit_anchor::sandbox::anchor_sandbox;
use orbit_anchor::tokens::{RefreshError, TokenKeeper};
use orbit_protocol::control::AnchorHello;
use orbit_protocol::ErrorCode;

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

    // One thread carries every frame: handing frames between worker threads cost more than
    // the bridge's own work (docs/benchmarks.md, "Anchor"). Helpers, which may block on the
    // disk or wait on git, get a small runtime of their own so they never hold up the bridge.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        match cli.command.unwrap_or(Command::Run) {
            Command::Run => {
                let helpers = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("anchor-helpers")
                    .enable_all()
                    .build()
                    .context("starting the helpers' runtime")?;
                let result = run(&cfg, helpers.handle().clone()).await;
                // Helpers still running are abandoned, not waited for.
                helpers.shutdown_background();
                result
            }
            Command::Login(args) => login_cmd(&cfg, &args).await,
            Command::Logout => logout(&cfg).await,
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
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
    let api = DeviceApi::new(orbit)?;
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
        "Your code is {}: the page asks for its first 4 letters (or go to {} and enter it all).",
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
    let account = grant.account.clone();
    let creds = Credentials::from_grant(grant, api.base(), now_ms());
    credentials::save(&cfg.state_dir, &creds).context("saving the credentials")?;
    println!(
        "Paired as anchor {anchor_id}. Credentials saved to {}.",
        credentials::path(&cfg.state_dir).display()
    );
    println!("{}", login::approved_by(account.as_deref()));
    Ok(())
}

/// Unpairs the anchor in Orbit (revoking it and its sessions), then deletes the credentials.
/// If Orbit cannot be reached the credentials are kept, so the user can try again.
async fn logout(cfg: &Config) -> Result<()> {
    let path = credentials::path(&cfg.state_dir);
    let Some(creds) = credentials::load(&cfg.state_dir).context("loading the credentials")? else {
        println!("Not logged in (no credentials at {}).", path.display());
        return Ok(());
    };
    let api = DeviceApi::new(&creds.orbit_url)?;
    let anchor_id = creds.anchor_id.clone();
    let mut keeper = TokenKeeper::new(api.clone(), cfg.state_dir.clone(), creds, now_ms());
    let refreshed = if keeper.is_due(now_ms()) {
        keeper.refresh(now_ms).await
    } else {
        Ok(())
    };
    let revoked = match refreshed {
        Err(e @ RefreshError::Refused(_)) => {
            println!("Orbit no longer accepts this anchor's credentials ({e}).");
            Ok(())
        }
        Err(e @ RefreshError::Transient { .. }) => Err(anyhow::Error::new(e)),
        // Refreshed but not saved: the new token is in memory, which is all logout needs.
        Err(RefreshError::Save(_)) | Ok(()) => match api.logout(keeper.access_token()).await {
            Ok(()) => {
                println!("Anchor {anchor_id} unpaired: Orbit revoked it.");
                Ok(())
            }
            Err(login::LoginError::TokenRefused {
                code: Some(code @ (ErrorCode::AnchorRevoked | ErrorCode::SessionRevoked)),
                ..
            }) => {
                println!("Orbit had already revoked this anchor ({code}).");
                Ok(())
            }
            Err(e) => Err(anyhow::Error::new(e)),
        },
    };
    revoked.context(
        "could not reach Orbit to unpair this anchor; the credentials are kept, try again",
    )?;
    credentials::delete(&cfg.state_dir).context("deleting the credentials")?;
    println!("Deleted the local credentials ({}).", path.display());
    Ok(())
}

async fn run(cfg: &Config, helpers_runtime: tokio::runtime::Handle) -> Result<()> {
    let Some(creds) = credentials::load(&cfg.state_dir).context("loading the credentials")? else {
        bail!(
            "not logged in (no credentials in {}); run `anchor login --orbit URL` first",
            cfg.state_dir.display()
        );
    };
    let orbit_url = cfg.orbit.clone().unwrap_or_else(|| creds.orbit_url.clone());
    let socket_url = anchor_socket_url(&orbit_url).map_err(anyhow::Error::msg)?;
    let Some(codex) = codex::resolve_program(&cfg.codex, std::env::var("PATH").ok().as_deref())
    else {
        bail!(
            "cannot find codex ({}). Install it with `npm install -g @openai/codex`, \
             or point the anchor at it with --codex PATH (or ORBIT_CODEX)",
            cfg.codex.display()
        );
    };
    let codex_home = HelperContext::default_codex_home()
        .context("cannot tell where codex keeps its config: set CODEX_HOME or HOME")?;
    let sandbox = anchor_sandbox(
        cfg.roots.clone(),
        &cfg.state_dir,
        &codex_home,
        &cfg.home,
        &cfg.deny,
    )
    .context("checking the allowed roots and the deny-list")?;
    let audit_path = cfg.state_dir.join("audit.jsonl");
    let audit = AuditLog::open(&audit_path)
        .with_context(|| format!("opening the audit log {}", audit_path.display()))?;
    tracing::info!(
        anchor_id = %creds.anchor_id,
        orbit = %orbit_url,
        codex = %codex.display(),
        roots = ?cfg.roots,
        state_dir = %cfg.state_dir.display(),
        "starting"
    );

    let control = control::ControlServer::bind(&cfg.state_dir)
        .await
        .context("starting the control socket")?;
    tracing::info!(socket = %control.path().display(), "control socket listening");

    let api = DeviceApi::new(&orbit_url)?;
    let hello = AnchorHello {
        anchor_id: Some(creds.anchor_id.clone()),
        name: None,
        hostname: login::hostname(),
        platform: Some(format!(
            "{}-{}",
            std::env::consts::OS,
            std::env::consts::ARCH
        )),
        version: Some(VERSION.to_string()),
        capabilities: helpers::HELPER_METHODS
            .iter()
            .map(|m| (*m).to_string())
            .collect(),
        codex_version: None,
        instance: Some(format!("{:016x}", rand::random::<u64>())),
        // The bridge numbers each connection's frames (docs/protocol.md).
        next_frame: None,
    };
    let keeper = TokenKeeper::new(api, cfg.state_dir.clone(), creds, now_ms());
    let reason = run::run(RunConfig {
        codex,
        orbit_url,
        socket_url,
        keeper,
        helper_ctx: HelperContext {
            sandbox,
            codex_home,
            anchor_version: VERSION.to_string(),
            codex_version: None,
            started_at: Instant::now(),
            audit: Some(Arc::new(audit)),
        },
        control,
        hello,
        helpers_runtime,
        version: VERSION.to_string(),
        now_ms,
    })
    .await?;
    match reason {
        StopReason::Fatal(why) => bail!("{why}"),
        StopReason::Signal(_) | StopReason::StopRequested => Ok(()),
    }
}

fn not_running(e: ControlError) -> anyhow::Error {
    match e {
        ControlError::NotRunning { .. } => anyhow::anyhow!("{e}; start it with `anchor run`"),
        other => anyhow::Error::new(other).context("asking the anchor"),
    }
}

async fn status(cfg: &Config) -> Result<()> {
    let v = control::request(&cfg.state_dir, ControlRequest::Status)
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
    let v = control::request(&cfg.state_dir, ControlRequest::Stop)
        .await
        .map_err(not_running)?;
    if v.get("stopping").and_then(|s| s.as_bool()) == Some(true) {
        println!("The anchor is stopping.");
        Ok(())
    } else {
        bail!("unexpected answer from the anchor: {v}")
    }
}

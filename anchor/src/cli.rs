//! The `anchor` command line (clap derive).
//!
//! Environment variables are *not* read by clap: [`crate::config`] reads them itself so that the
//! precedence (flags, then environment, then the config file, then defaults) is one pure,
//! tested function. The help text names each variable.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{Layer, LogFormat};

/// The Orbit anchor: pairs this machine with an Orbit server and bridges `codex app-server` to it.
#[derive(Debug, Parser)]
#[command(
    name = "anchor",
    version,
    about,
    after_help = "Settings come from flags, then environment variables, then the config file \
                  (TOML: keys `orbit`, `codex`, `roots`, `log_format`, `deny`, `default_deny`), then \
                  defaults. The helpers never expose the state directory, codex's home or \
                  the places of the deny-list (docs/anchor.md)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options accepted by every subcommand.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// Config file (TOML). [default: <state dir>/config.toml]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Base URL of the Orbit server, e.g. https://orbit.example.com [env: ORBIT_URL]
    #[arg(long, global = true, value_name = "URL")]
    pub orbit: Option<String>,

    /// The codex executable to run as `codex app-server` [env: ORBIT_CODEX] [default: codex]
    #[arg(long, global = true, value_name = "PATH")]
    pub codex: Option<PathBuf>,

    /// A directory the anchor may work in; repeat for several
    /// [env: ORBIT_ROOTS, ':'-separated] [default: your home directory]
    #[arg(long = "root", global = true, value_name = "PATH")]
    pub roots: Vec<PathBuf>,

    /// Log format [env: ORBIT_LOG_FORMAT] [default: human]
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// Directory for credentials, the config file and the control socket
    /// [env: ORBIT_ANCHOR_DIR] [default: <your config dir>/orbit-anchor]
    #[arg(long, global = true, value_name = "PATH")]
    pub state_dir: Option<PathBuf>,
}

impl GlobalArgs {
    /// The flag layer for [`crate::config::merge`].
    pub fn layer(&self) -> Layer {
        Layer {
            orbit: self.orbit.clone(),
            codex: self.codex.clone(),
            roots: if self.roots.is_empty() {
                None
            } else {
                Some(self.roots.clone())
            },
            log_format: self.log_format,
            state_dir: self.state_dir.clone(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the anchor (the default when no subcommand is given).
    Run,
    /// Pair this machine with Orbit using the device-code flow and save the credentials.
    Login(LoginArgs),
    /// Unpair this machine: Orbit revokes the anchor, then the saved credentials are deleted.
    Logout,
    /// Ask the running anchor for its state over the local control socket.
    Status,
    /// Ask the running anchor to exit.
    Stop,
}

#[derive(Debug, Clone, Default, Args)]
pub struct LoginArgs {
    /// The name to ask for this anchor (the approver may change it) [default: the hostname]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Don't try to open a browser; just print the URL.
    #[arg(long)]
    pub no_browser: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_global_options_after_subcommand() -> Result<(), clap::Error> {
        let cli = Cli::try_parse_from([
            "anchor",
            "login",
            "--orbit",
            "http://127.0.0.1:1",
            "--name",
            "box",
            "--no-browser",
            "--root",
            "/a",
            "--root",
            "/b",
        ])?;
        assert_eq!(cli.global.orbit.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(
            cli.global.roots,
            vec![PathBuf::from("/a"), PathBuf::from("/b")]
        );
        match cli.command {
            Some(Command::Login(args)) => {
                assert_eq!(args.name.as_deref(), Some("box"));
                assert!(args.no_browser);
            }
            other => {
                return Err(clap::Error::raw(
                    clap::error::ErrorKind::InvalidSubcommand,
                    format!("unexpected {other:?}"),
                ))
            }
        }
        Ok(())
    }

    #[test]
    fn no_subcommand_means_run() -> Result<(), clap::Error> {
        let cli = Cli::try_parse_from(["anchor", "--log-format", "json"])?;
        assert!(cli.command.is_none());
        assert_eq!(cli.global.log_format, Some(LogFormat::Json));
        Ok(())
    }

    #[test]
    fn help_documents_every_option() {
        let help = Cli::command().render_long_help().to_string();
        for needle in [
            "--config",
            "--orbit",
            "ORBIT_URL",
            "--codex",
            "ORBIT_CODEX",
            "--root",
            "ORBIT_ROOTS",
            "--log-format",
            "ORBIT_LOG_FORMAT",
            "--state-dir",
            "ORBIT_ANCHOR_DIR",
            "login",
            "logout",
            "status",
            "stop",
        ] {
            assert!(help.contains(needle), "help lacks {needle}:\n{help}");
        }
    }
}

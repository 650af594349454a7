//! Anchor configuration: flags, then environment, then a TOML config file, then defaults.
//!
//! Everything here is pure except [`load_file`] (which reads one file) and [`Defaults::system`]:
//! [`merge`] takes the layers and answers the effective [`Config`].

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Environment variables the anchor reads.
pub const ENV_ORBIT_URL: &str = "ORBIT_URL";
pub const ENV_CODEX: &str = "ORBIT_CODEX";
pub const ENV_ROOTS: &str = "ORBIT_ROOTS";
pub const ENV_LOG_FORMAT: &str = "ORBIT_LOG_FORMAT";
pub const ENV_STATE_DIR: &str = "ORBIT_ANCHOR_DIR";

/// The config file's name inside the state directory.
pub const CONFIG_FILE: &str = "config.toml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "human" => Ok(Self::Human),
            "json" => Ok(Self::Json),
            other => Err(format!(
                "unknown log format {other:?} (expected human or json)"
            )),
        }
    }
}

/// One source of settings (flags or environment); `None` means "not set here".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layer {
    pub orbit: Option<String>,
    pub codex: Option<PathBuf>,
    pub roots: Option<Vec<PathBuf>>,
    pub log_format: Option<LogFormat>,
    pub state_dir: Option<PathBuf>,
}

/// The config file's contents. Unknown keys are refused (a typo should not be silently ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub orbit: Option<String>,
    pub codex: Option<PathBuf>,
    pub roots: Option<Vec<PathBuf>>,
    pub log_format: Option<LogFormat>,
    /// Places the helpers refuse, added to the built-in list ([`crate::deny::DEFAULT_DENY`]).
    pub deny: Option<Vec<String>>,
    /// `false` drops the built-in list, leaving `deny` alone (the state directory and codex's
    /// home stay denied whatever is set).
    pub default_deny: Option<bool>,
}

/// Fallbacks when nothing else sets a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    pub state_dir: PathBuf,
    pub home: PathBuf,
}

impl Defaults {
    /// The user's config dir (`…/orbit-anchor`) and home directory.
    pub fn system() -> Self {
        let home = dirs::home_dir().unwrap_or_else(|| PathBuf::from("."));
        let state_dir = dirs::config_dir()
            .unwrap_or_else(|| home.join(".config"))
            .join("orbit-anchor");
        Self { state_dir, home }
    }
}

/// The effective configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub state_dir: PathBuf,
    /// `None` when no layer names an Orbit server (login then needs `--orbit`; run falls back to
    /// the URL saved with the credentials).
    pub orbit: Option<String>,
    pub codex: PathBuf,
    pub roots: Vec<PathBuf>,
    pub log_format: LogFormat,
    /// The home directory: relative deny entries are taken under it.
    pub home: PathBuf,
    /// The deny-list entries in force (besides the always-denied state dir and codex home).
    pub deny: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {var}: {message}")]
    Env { var: &'static str, message: String },
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

/// The environment layer, from a lookup function (pass `|k| std::env::var(k).ok()`).
/// Empty values count as unset.
pub fn env_layer(get: impl Fn(&str) -> Option<String>) -> Result<Layer, ConfigError> {
    let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
    let log_format = match get(ENV_LOG_FORMAT) {
        None => None,
        Some(v) => Some(v.parse::<LogFormat>().map_err(|message| ConfigError::Env {
            var: ENV_LOG_FORMAT,
            message,
        })?),
    };
    Ok(Layer {
        orbit: get(ENV_ORBIT_URL),
        codex: get(ENV_CODEX).map(PathBuf::from),
        roots: get(ENV_ROOTS).map(|v| {
            v.split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect()
        }),
        log_format,
        state_dir: get(ENV_STATE_DIR).map(PathBuf::from),
    })
}

/// The state directory (flags, then environment, then default); the config file lives in it.
pub fn state_dir(flags: &Layer, env: &Layer, defaults: &Defaults) -> PathBuf {
    flags
        .state_dir
        .clone()
        .or_else(|| env.state_dir.clone())
        .unwrap_or_else(|| defaults.state_dir.clone())
}

/// Parses config file text; errors name the file and (via toml's message) the field.
pub fn parse_file(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    let file: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Invalid {
        path: path.to_path_buf(),
        message: e.to_string().trim().to_string(),
    })?;
    if let Some(roots) = &file.roots {
        if roots.is_empty() {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                message: "field `roots`: must list at least one directory".into(),
            });
        }
    }
    for entry in file.deny.iter().flatten() {
        // Checked against a stand-in home: only the entry's shape matters here.
        if let Err(e) = crate::deny::Pattern::parse(entry, Path::new("/home")) {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                message: format!("field `deny`: {e}"),
            });
        }
    }
    if let Some(orbit) = &file.orbit {
        if orbit.trim().is_empty() {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                message: "field `orbit`: must not be empty".into(),
            });
        }
    }
    Ok(file)
}

/// Reads the config file. An explicit `--config` must exist; the default one may be absent.
pub fn load_file(path: &Path, explicit: bool) -> Result<FileConfig, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_file(path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            Ok(FileConfig::default())
        }
        Err(source) => Err(ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The precedence rule: flags, then environment, then the file, then defaults.
pub fn merge(flags: &Layer, env: &Layer, file: &FileConfig, defaults: &Defaults) -> Config {
    Config {
        state_dir: state_dir(flags, env, defaults),
        orbit: flags
            .orbit
            .clone()
            .or_else(|| env.orbit.clone())
            .or_else(|| file.orbit.clone())
            .map(|u| u.trim_end_matches('/').to_string()),
        codex: flags
            .codex
            .clone()
            .or_else(|| env.codex.clone())
            .or_else(|| file.codex.clone())
            .unwrap_or_else(|| PathBuf::from("codex")),
        roots: flags
            .roots
            .clone()
            .or_else(|| env.roots.clone())
            .or_else(|| file.roots.clone())
            .unwrap_or_else(|| vec![defaults.home.clone()]),
        log_format: flags
            .log_format
            .or(env.log_format)
            .or(file.log_format)
            .unwrap_or_default(),
        home: defaults.home.clone(),
        deny: deny_entries(file),
    }
}

/// The built-in deny-list (unless the file turns it off), then the file's own entries.
fn deny_entries(file: &FileConfig) -> Vec<String> {
    let defaults = if file.default_deny.unwrap_or(true) {
        crate::deny::DEFAULT_DENY
    } else {
        &[]
    };
    defaults
        .iter()
        .map(|e| (*e).to_owned())
        .chain(file.deny.iter().flatten().cloned())
        .collect()
}

/// Everything together: the state dir, the config file (`--config` or `<state dir>/config.toml`),
/// and the merge.
pub fn resolve(
    flags: &Layer,
    config_flag: Option<&Path>,
    env: &Layer,
    defaults: &Defaults,
) -> Result<Config, ConfigError> {
    let dir = state_dir(flags, env, defaults);
    let file = match config_flag {
        Some(path) => load_file(path, true)?,
        None => load_file(&dir.join(CONFIG_FILE), false)?,
    };
    Ok(merge(flags, env, &file, defaults))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn defaults() -> Defaults {
        Defaults {
            state_dir: PathBuf::from("/default/state"),
            home: PathBuf::from("/home/u"),
        }
    }

    fn layer(orbit: &str, codex: &str, root: &str, fmt: LogFormat) -> Layer {
        Layer {
            orbit: Some(orbit.into()),
            codex: Some(codex.into()),
            roots: Some(vec![root.into()]),
            log_format: Some(fmt),
            state_dir: Some(format!("/{orbit}-dir").into()),
        }
    }

    fn file(orbit: &str) -> FileConfig {
        FileConfig {
            orbit: Some(orbit.into()),
            codex: Some("file-codex".into()),
            roots: Some(vec!["/file".into()]),
            log_format: Some(LogFormat::Json),
            deny: None,
            default_deny: None,
        }
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let c = merge(
            &Layer::default(),
            &Layer::default(),
            &FileConfig::default(),
            &defaults(),
        );
        assert_eq!(c.state_dir, PathBuf::from("/default/state"));
        assert_eq!(c.orbit, None);
        assert_eq!(c.codex, PathBuf::from("codex"));
        assert_eq!(c.roots, vec![PathBuf::from("/home/u")]);
        assert_eq!(c.log_format, LogFormat::Human);
        assert_eq!(c.home, PathBuf::from("/home/u"));
        let defaults: Vec<&str> = c.deny.iter().map(String::as_str).collect();
        assert_eq!(defaults, crate::deny::DEFAULT_DENY);
    }

    #[test]
    fn the_file_adds_deny_entries_or_replaces_the_built_in_list() -> Result<(), ConfigError> {
        let path = Path::new("/x/config.toml");
        let none = Layer::default();
        let added = parse_file(path, "deny = [\"~/secrets\", \"work/.env*\"]\n")?;
        let c = merge(&none, &none, &added, &defaults());
        assert_eq!(c.deny.len(), crate::deny::DEFAULT_DENY.len() + 2);
        assert!(c.deny.contains(&".ssh".to_owned()));
        assert_eq!(c.deny.last().map(String::as_str), Some("work/.env*"));

        let replaced = parse_file(path, "default_deny = false\ndeny = [\"/srv/keys\"]\n")?;
        let c = merge(&none, &none, &replaced, &defaults());
        assert_eq!(c.deny, vec!["/srv/keys".to_owned()]);

        let off = parse_file(path, "default_deny = false\n")?;
        assert!(merge(&none, &none, &off, &defaults()).deny.is_empty());
        Ok(())
    }

    #[test]
    fn flags_beat_env_beat_file() {
        let flags = layer("flag", "flag-codex", "/flag", LogFormat::Human);
        let env = layer("env", "env-codex", "/env", LogFormat::Json);
        let c = merge(&flags, &env, &file("file"), &defaults());
        assert_eq!(c.orbit.as_deref(), Some("flag"));
        assert_eq!(c.codex, PathBuf::from("flag-codex"));
        assert_eq!(c.roots, vec![PathBuf::from("/flag")]);
        assert_eq!(c.log_format, LogFormat::Human);
        assert_eq!(c.state_dir, PathBuf::from("/flag-dir"));

        let c = merge(&Layer::default(), &env, &file("file"), &defaults());
        assert_eq!(c.orbit.as_deref(), Some("env"));
        assert_eq!(c.codex, PathBuf::from("env-codex"));
        assert_eq!(c.roots, vec![PathBuf::from("/env")]);
        assert_eq!(c.state_dir, PathBuf::from("/env-dir"));

        let c = merge(
            &Layer::default(),
            &Layer::default(),
            &file("file"),
            &defaults(),
        );
        assert_eq!(c.orbit.as_deref(), Some("file"));
        assert_eq!(c.codex, PathBuf::from("file-codex"));
        assert_eq!(c.roots, vec![PathBuf::from("/file")]);
        assert_eq!(c.log_format, LogFormat::Json);
    }

    #[test]
    fn layers_merge_field_by_field() {
        let flags = Layer {
            codex: Some("flag-codex".into()),
            ..Layer::default()
        };
        let env = Layer {
            log_format: Some(LogFormat::Json),
            ..Layer::default()
        };
        let c = merge(&flags, &env, &file("http://f/"), &defaults());
        assert_eq!(c.codex, PathBuf::from("flag-codex"));
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(
            c.orbit.as_deref(),
            Some("http://f"),
            "trailing slash trimmed"
        );
        assert_eq!(c.roots, vec![PathBuf::from("/file")]);
    }

    #[test]
    fn env_layer_reads_and_splits() -> Result<(), ConfigError> {
        let vars: HashMap<&str, &str> = [
            ("ORBIT_URL", "http://o"),
            ("ORBIT_CODEX", "/bin/codex"),
            ("ORBIT_ROOTS", "/a::/b"),
            ("ORBIT_LOG_FORMAT", "JSON"),
            ("ORBIT_ANCHOR_DIR", ""),
        ]
        .into_iter()
        .collect();
        let l = env_layer(|k| vars.get(k).map(|v| v.to_string()))?;
        assert_eq!(l.orbit.as_deref(), Some("http://o"));
        assert_eq!(l.codex, Some(PathBuf::from("/bin/codex")));
        assert_eq!(
            l.roots,
            Some(vec![PathBuf::from("/a"), PathBuf::from("/b")])
        );
        assert_eq!(l.log_format, Some(LogFormat::Json));
        assert_eq!(l.state_dir, None, "empty counts as unset");
        Ok(())
    }

    #[test]
    fn env_layer_rejects_bad_log_format() {
        let err = env_layer(|k| (k == "ORBIT_LOG_FORMAT").then(|| "xml".to_string()))
            .expect_err("xml is not a log format");
        let msg = err.to_string();
        assert!(
            msg.contains("ORBIT_LOG_FORMAT") && msg.contains("xml"),
            "{msg}"
        );
    }

    #[test]
    fn parses_a_valid_file() -> Result<(), ConfigError> {
        let f = parse_file(
            Path::new("/x/config.toml"),
            "orbit = \"https://o\"\ncodex = \"/c\"\nroots = [\"/r\"]\nlog_format = \"json\"\n",
        )?;
        assert_eq!(f, {
            let mut g = file("https://o");
            g.codex = Some("/c".into());
            g.roots = Some(vec!["/r".into()]);
            g
        });
        Ok(())
    }

    #[test]
    fn invalid_files_name_the_file_and_the_field() {
        let path = Path::new("/etc/anchor/config.toml");
        for (text, field) in [
            ("log_format = \"xml\"", "log_format"),
            ("orbit = 5", "orbit"),
            ("roots = \"/not-a-list\"", "roots"),
            ("roots = []", "roots"),
            ("orbti = \"typo\"", "orbti"),
            ("orbit = ", "orbit"),
            ("deny = [\"../etc\"]", "deny"),
            ("deny = [\"\"]", "deny"),
            ("deny = \".ssh\"", "deny"),
            ("default_deny = \"no\"", "default_deny"),
        ] {
            let err = parse_file(path, text).expect_err(text);
            let msg = err.to_string();
            assert!(msg.contains("/etc/anchor/config.toml"), "{text}: {msg}");
            assert!(msg.contains(field), "{text}: {msg}");
        }
    }

    #[test]
    fn missing_default_file_is_fine_but_missing_explicit_file_is_not() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("config.toml");
        assert_eq!(load_file(&path, false).ok(), Some(FileConfig::default()));
        let err = load_file(&path, true).expect_err("explicit file must exist");
        assert!(err.to_string().contains("config.toml"), "{err}");
        Ok(())
    }

    #[test]
    fn resolve_reads_the_file_from_the_state_dir() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "orbit = \"http://from-file\"\n",
        )?;
        let flags = Layer {
            state_dir: Some(dir.path().to_path_buf()),
            ..Layer::default()
        };
        let c = resolve(&flags, None, &Layer::default(), &defaults())?;
        assert_eq!(c.orbit.as_deref(), Some("http://from-file"));
        assert_eq!(c.state_dir, dir.path());
        Ok(())
    }
}

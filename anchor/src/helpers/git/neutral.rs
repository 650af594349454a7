//! The environment every `anchor.git.*` git runs in, so that the repository it reads cannot make
//! it run a program.
//!
//! A repository's own `.git/config` (and any file it includes) is always read: git has no switch
//! to ignore it. What the config names is neutralised instead, in three layers:
//!
//! * nothing is inherited: the environment is cleared (so no `GIT_DIR`, `GIT_EXEC_PATH`,
//!   `GIT_CONFIG_PARAMETERS`, `GIT_EXTERNAL_DIFF`, `GIT_SSH_COMMAND`… from the user's shell),
//!   and the system and global config files are not read;
//! * command-scope overrides (`GIT_CONFIG_COUNT`, which beats every config file) switch off
//!   each program-running key git reads under a fixed name;
//! * keys whose names the repository chooses (`filter.<driver>.*`, `protocol.<name>.allow`) are
//!   listed first with `git config` (which runs nothing) and each is overridden by name.
//!
//! Everything here is pure: the caller runs git and hands over what it printed.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

/// The oldest git this works with: `GIT_CONFIG_COUNT` came in 2.31 and `GIT_CONFIG_GLOBAL` in
/// 2.32. An older git silently ignores both, so it would read the user's config and none of
/// the overrides: such a git is refused rather than run.
pub const MIN_GIT_VERSION: (u32, u32) = (2, 32);

/// The only variables of the anchor's environment git gets: `PATH` to find itself, `HOME` and
/// `XDG_CONFIG_HOME` for the user's default ignore file (`~/.config/git/ignore`), which is a
/// list of patterns and runs nothing. (`~/.gitconfig` is not read: see `GIT_CONFIG_GLOBAL`.)
pub const PASSED_ENV: &[&str] = &["PATH", "HOME", "XDG_CONFIG_HOME"];

/// Asks the user's own global config (never the repository's) for their ignore file, the one
/// setting of it the helpers keep: without it `status` would list what the user ignores
/// everywhere (editor and OS clutter). Reading config runs nothing.
pub const USER_EXCLUDES_QUERY: &[&str] = &[
    "config",
    "--global",
    "--type=path",
    "--get",
    "core.excludesFile",
];

/// What git may take from the anchor's environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inherited {
    /// The anchor's values of [`PASSED_ENV`].
    passed: Vec<(OsString, OsString)>,
    /// The anchor's `GIT_CONFIG_GLOBAL`, seen only by [`USER_EXCLUDES_QUERY`].
    global_config: Option<OsString>,
}

impl Inherited {
    pub fn from_process() -> Self {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// `lookup` answers for one variable name.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Self {
        Self {
            passed: PASSED_ENV
                .iter()
                .filter_map(|name| lookup(name).map(|v| (OsString::from(name), v)))
                .collect(),
            global_config: lookup("GIT_CONFIG_GLOBAL"),
        }
    }
}

/// Set for every git run.
const FIXED_ENV: &[(&str, &str)] = &[
    ("GIT_CONFIG_NOSYSTEM", "1"),
    ("GIT_CONFIG_GLOBAL", "/dev/null"),
    ("GIT_ATTR_NOSYSTEM", "1"),
    // A partial clone would fetch a missing object through a transport the repository
    // picks (`ext::` runs any command); the protocol overrides below refuse it too.
    ("GIT_NO_LAZY_FETCH", "1"),
    ("GIT_PROTOCOL_FROM_USER", "0"),
    ("GIT_TERMINAL_PROMPT", "0"),
    // `git status` must not write the index (nor run the hook that follows a write).
    ("GIT_OPTIONAL_LOCKS", "0"),
    ("GIT_PAGER", "cat"),
    ("PAGER", "cat"),
    ("LC_ALL", "C"),
];

/// Keys git reads under a fixed name that could run a program (or change the output format the
/// helpers parse), with the value that switches them off.
const FIXED_OVERRIDES: &[(&str, &str)] = &[
    // The fsmonitor hook runs on every status and diff.
    ("core.fsmonitor", "false"),
    // `post-index-change` runs when `git diff` refreshes the index; no hook is ever wanted.
    ("core.hooksPath", "/dev/null"),
    ("core.pager", "cat"),
    ("pager.status", "false"),
    ("pager.diff", "false"),
    ("pager.log", "false"),
    ("pager.branch", "false"),
    // The user's attributes file could pick filter drivers; attributes the repository ships
    // are handled by overriding the drivers themselves.
    ("core.attributesFile", "/dev/null"),
    // `git log` would run the signature checker for every signed commit.
    ("log.showSignature", "false"),
    // Unreachable once signatures are never shown; a path that is no program, in case.
    ("gpg.program", "/dev/null"),
    ("gpg.openpgp.program", "/dev/null"),
    ("gpg.x509.program", "/dev/null"),
    ("gpg.ssh.program", "/dev/null"),
    // Documented to empty the helper list.
    ("credential.helper", ""),
    // No transport at all (lazy fetches of partial clones are the only way these commands
    // reach one); explicitly for the built-in names, which a repository may allow by name.
    ("protocol.allow", "never"),
    ("protocol.ext.allow", "never"),
    ("protocol.file.allow", "never"),
    ("protocol.git.allow", "never"),
    ("protocol.ssh.allow", "never"),
    ("protocol.http.allow", "never"),
    ("protocol.https.allow", "never"),
    // A bare repository found inside a work tree (committed as plain files) is not entered.
    ("safe.bareRepository", "explicit"),
    // Submodules are never looked into: that runs git there, under their own config.
    ("submodule.recurse", "false"),
    ("status.submoduleSummary", "false"),
    ("diff.submodule", "short"),
    ("diff.ignoreSubmodules", "dirty"),
    // Output the helpers parse.
    ("core.quotePath", "false"),
    ("color.ui", "false"),
];

/// The `git config --get-regexp` pattern that lists the keys whose names the repository picks.
pub const CHOSEN_NAMES_QUERY: &str = r"^(filter|protocol)\.";

/// The most filter drivers and protocols one repository may configure: each becomes a few
/// environment variables, and the environment is finite.
pub const MAX_CHOSEN_NAMES: usize = 256;

/// Filter driver keys and the value that disables each: an empty command is no filter, and a
/// driver marked required would otherwise fail every read of a file it is assigned to.
const FILTER_OVERRIDES: &[(&str, &str)] = &[
    ("clean", ""),
    ("smudge", ""),
    ("process", ""),
    ("required", "false"),
];

/// The repository configures more filter drivers and protocols than [`MAX_CHOSEN_NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the repository configures {count} filter drivers and protocols; at most {MAX_CHOSEN_NAMES} are supported")]
pub struct TooManyNames {
    pub count: usize,
}

/// The whole environment of one git run (it starts from an empty one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitEnv {
    vars: Vec<(OsString, OsString)>,
}

impl GitEnv {
    /// For git runs before the repository is known (finding its top level, listing its config).
    pub fn base(inherited: &Inherited) -> Self {
        Self::with_overrides(inherited, Vec::new())
    }

    /// For [`USER_EXCLUDES_QUERY`] alone: the user's global config as their own git sees it.
    pub fn user_config(inherited: &Inherited) -> Self {
        let mut vars = inherited.passed.clone();
        vars.extend(
            [
                ("GIT_CONFIG_NOSYSTEM", "1"),
                ("GIT_TERMINAL_PROMPT", "0"),
                ("LC_ALL", "C"),
            ]
            .map(|(k, v)| (OsString::from(k), OsString::from(v))),
        );
        if let Some(global) = &inherited.global_config {
            vars.push(("GIT_CONFIG_GLOBAL".into(), global.clone()));
        }
        Self { vars }
    }

    /// For git runs in one repository, given the NUL-separated key names that
    /// `git config -z --name-only --get-regexp` printed for [`CHOSEN_NAMES_QUERY`] and what
    /// [`USER_EXCLUDES_QUERY`] printed (a path, if the user set one).
    pub fn for_repository(
        inherited: &Inherited,
        chosen: &[u8],
        user_excludes: &[u8],
    ) -> Result<Self, TooManyNames> {
        let mut filters: Vec<&[u8]> = Vec::new();
        let mut protocols: Vec<&[u8]> = Vec::new();
        for key in chosen.split(|b| *b == 0).filter(|k| !k.is_empty()) {
            let Some((section, subsection, _)) = split_key(key) else {
                continue;
            };
            let list = match section {
                b"filter" => &mut filters,
                b"protocol" => &mut protocols,
                _ => continue,
            };
            if !list.contains(&subsection) {
                list.push(subsection);
            }
        }
        let count = filters.len() + protocols.len();
        if count > MAX_CHOSEN_NAMES {
            return Err(TooManyNames { count });
        }
        let mut extra = Vec::new();
        for driver in filters {
            for (var, value) in FILTER_OVERRIDES {
                extra.push((key_bytes("filter", driver, var), value.as_bytes().to_vec()));
            }
        }
        for protocol in protocols {
            extra.push((key_bytes("protocol", protocol, "allow"), b"never".to_vec()));
        }
        let user_excludes = user_excludes.strip_suffix(b"\n").unwrap_or(user_excludes);
        if !user_excludes.is_empty() {
            extra.push((b"core.excludesFile".to_vec(), user_excludes.to_vec()));
        }
        Ok(Self::with_overrides(inherited, extra))
    }

    fn with_overrides(inherited: &Inherited, extra: Vec<(Vec<u8>, Vec<u8>)>) -> Self {
        let overrides: Vec<(Vec<u8>, Vec<u8>)> = FIXED_OVERRIDES
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .chain(extra)
            .collect();
        let mut vars = inherited.passed.clone();
        vars.extend(
            FIXED_ENV
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v))),
        );
        vars.push((
            "GIT_CONFIG_COUNT".into(),
            overrides.len().to_string().into(),
        ));
        for (i, (key, value)) in overrides.into_iter().enumerate() {
            vars.push((
                format!("GIT_CONFIG_KEY_{i}").into(),
                OsString::from_vec(key),
            ));
            vars.push((
                format!("GIT_CONFIG_VALUE_{i}").into(),
                OsString::from_vec(value),
            ));
        }
        Self { vars }
    }

    pub fn vars(&self) -> &[(OsString, OsString)] {
        &self.vars
    }
}

/// `section.subsection.variable` → its parts. Section and variable names cannot contain a dot,
/// so the subsection (which can, and `=`, and any byte but newline and NUL) is everything
/// between the first dot and the last.
fn split_key(key: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let first = key.iter().position(|b| *b == b'.')?;
    let last = key.iter().rposition(|b| *b == b'.')?;
    (first < last).then(|| (&key[..first], &key[first + 1..last], &key[last + 1..]))
}

fn key_bytes(section: &str, subsection: &[u8], variable: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(section.len() + subsection.len() + variable.len() + 2);
    key.extend_from_slice(section.as_bytes());
    key.push(b'.');
    key.extend_from_slice(subsection);
    key.push(b'.');
    key.extend_from_slice(variable.as_bytes());
    key
}

/// `git version 2.39.5 (Apple Git-154)`, `git version 2.45.1.windows.1` → `(2, 39)`, `(2, 45)`.
pub fn parse_git_version(out: &str) -> Option<(u32, u32)> {
    let version = out.trim().strip_prefix("git version ")?;
    let mut parts = version.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overrides(env: &GitEnv) -> Vec<(Vec<u8>, String)> {
        let vars = env.vars();
        let count: usize = vars
            .iter()
            .find(|(k, _)| k == "GIT_CONFIG_COUNT")
            .map(|(_, v)| v.to_str().unwrap().parse().unwrap())
            .unwrap();
        let get = |name: String| {
            vars.iter()
                .find(|(k, _)| *k == *name)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("{name} missing"))
        };
        (0..count)
            .map(|i| {
                let key = get(format!("GIT_CONFIG_KEY_{i}")).into_vec();
                let value = get(format!("GIT_CONFIG_VALUE_{i}")).into_string().unwrap();
                (key, value)
            })
            .collect()
    }

    fn value_of<'a>(pairs: &'a [(Vec<u8>, String)], key: &[u8]) -> Option<&'a str> {
        // Git reads the command scope in order: the last one wins.
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn base_env_reads_no_user_config_and_disables_every_fixed_program_key() {
        let env = GitEnv::base(&Inherited::default());
        let has = |k: &str, v: &str| env.vars().iter().any(|(a, b)| a == k && b == v);
        assert!(has("GIT_CONFIG_NOSYSTEM", "1"));
        assert!(has("GIT_CONFIG_GLOBAL", "/dev/null"));
        assert!(has("GIT_NO_LAZY_FETCH", "1"));
        let pairs = overrides(&env);
        for (key, value) in [
            ("core.fsmonitor", "false"),
            ("core.hooksPath", "/dev/null"),
            ("log.showSignature", "false"),
            ("gpg.program", "/dev/null"),
            ("gpg.ssh.program", "/dev/null"),
            ("gpg.x509.program", "/dev/null"),
            ("protocol.allow", "never"),
            ("protocol.ext.allow", "never"),
            ("core.attributesFile", "/dev/null"),
        ] {
            assert_eq!(value_of(&pairs, key.as_bytes()), Some(value), "{key}");
        }
        assert!(!pairs.iter().any(|(k, _)| k.starts_with(b"filter.")));
    }

    #[test]
    fn every_filter_driver_the_repository_names_is_emptied_and_made_optional() {
        // What git prints: section and variable lowercased, the subsection as written, even
        // with dots, `=`, spaces or bytes that are not UTF-8.
        let listed = b"filter.evil.clean\0filter.evil.required\0filter.e=q.process\0\
            filter.a.b c.smudge\0filter.caf\xe9.clean\0protocol.ext.allow\0protocol.evil.allow\0\
            filter.nosub\0";
        let env = GitEnv::for_repository(&Inherited::default(), listed, b"").unwrap();
        let pairs = overrides(&env);
        for driver in [&b"evil"[..], b"e=q", b"a.b c", b"caf\xe9"] {
            for (var, want) in [
                ("clean", ""),
                ("smudge", ""),
                ("process", ""),
                ("required", "false"),
            ] {
                let key = key_bytes("filter", driver, var);
                assert_eq!(
                    value_of(&pairs, &key),
                    Some(want),
                    "{}",
                    String::from_utf8_lossy(&key)
                );
            }
        }
        assert_eq!(value_of(&pairs, b"protocol.evil.allow"), Some("never"));
        assert_eq!(value_of(&pairs, b"protocol.ext.allow"), Some("never"));
        // `filter.nosub` has no driver name; each driver is overridden once.
        assert!(!pairs.iter().any(|(k, _)| k.as_slice() == b"filter..nosub"));
        let evil_clean = pairs
            .iter()
            .filter(|(k, _)| k.as_slice() == b"filter.evil.clean")
            .count();
        assert_eq!(evil_clean, 1);
        // The numbering is dense: git stops at the first missing index.
        let count = env
            .vars()
            .iter()
            .filter(|(k, _)| k.to_string_lossy().starts_with("GIT_CONFIG_KEY_"))
            .count();
        assert_eq!(count, pairs.len());
    }

    #[test]
    fn only_path_home_and_the_users_ignore_file_come_from_the_anchors_environment() {
        let inherited =
            Inherited::from_lookup(|name| Some(OsString::from(format!("value of {name}"))));
        let env = GitEnv::for_repository(&inherited, b"", b"/home/u/.gitignore_global\n").unwrap();
        let names: Vec<String> = env
            .vars()
            .iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .filter(|k| !k.starts_with("GIT_CONFIG_KEY_") && !k.starts_with("GIT_CONFIG_VALUE_"))
            .collect();
        for name in PASSED_ENV {
            assert!(names.iter().any(|n| n == name), "{name} passed");
        }
        // Every other variable is one of the fixed ones: nothing else was inherited.
        for name in &names {
            let fixed = FIXED_ENV.iter().any(|(k, _)| k == name) || name == "GIT_CONFIG_COUNT";
            assert!(fixed || PASSED_ENV.contains(&name.as_str()), "{name}");
        }
        let global = env
            .vars()
            .iter()
            .find(|(k, _)| k == "GIT_CONFIG_GLOBAL")
            .unwrap();
        assert_eq!(global.1, "/dev/null");
        let pairs = overrides(&env);
        assert_eq!(
            value_of(&pairs, b"core.excludesFile"),
            Some("/home/u/.gitignore_global")
        );
        // The query for that file sees the user's global config, and nothing of the overrides.
        let user = GitEnv::user_config(&inherited);
        let get = |name: &str| {
            user.vars()
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            get("GIT_CONFIG_GLOBAL"),
            Some("value of GIT_CONFIG_GLOBAL".into())
        );
        assert_eq!(get("GIT_CONFIG_NOSYSTEM"), Some("1".into()));
        assert_eq!(get("GIT_CONFIG_COUNT"), None);
        // No ignore file set: no override.
        let env = GitEnv::for_repository(&inherited, b"", b"").unwrap();
        assert_eq!(value_of(&overrides(&env), b"core.excludesFile"), None);
    }

    #[test]
    fn nothing_listed_gives_the_base_env() {
        let inherited = Inherited::default();
        assert_eq!(
            GitEnv::for_repository(&inherited, b"", b"").unwrap(),
            GitEnv::base(&inherited)
        );
    }

    #[test]
    fn too_many_chosen_names_is_refused() {
        let listed: Vec<u8> = (0..=MAX_CHOSEN_NAMES)
            .flat_map(|i| format!("filter.d{i}.clean\0").into_bytes())
            .collect();
        assert_eq!(
            GitEnv::for_repository(&Inherited::default(), &listed, b""),
            Err(TooManyNames {
                count: MAX_CHOSEN_NAMES + 1
            })
        );
        let listed: Vec<u8> = (0..MAX_CHOSEN_NAMES)
            .flat_map(|i| format!("filter.d{i}.clean\0").into_bytes())
            .collect();
        assert!(GitEnv::for_repository(&Inherited::default(), &listed, b"").is_ok());
    }

    #[test]
    fn git_versions_are_read_from_every_known_shape() {
        assert_eq!(parse_git_version("git version 2.47.3\n"), Some((2, 47)));
        assert_eq!(
            parse_git_version("git version 2.39.5 (Apple Git-154)"),
            Some((2, 39))
        );
        assert_eq!(
            parse_git_version("git version 2.45.1.windows.1"),
            Some((2, 45))
        );
        assert_eq!(parse_git_version("git version 3.0.0-rc1"), Some((3, 0)));
        assert_eq!(parse_git_version("hub version 2.14.2"), None);
        assert_eq!(parse_git_version("git version x"), None);
        assert!(parse_git_version("git version 2.31.8").unwrap() < MIN_GIT_VERSION);
        assert!(parse_git_version("git version 2.32.0").unwrap() >= MIN_GIT_VERSION);
    }
}

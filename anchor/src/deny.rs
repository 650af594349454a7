//! Places the `anchor.*` helpers never expose, even inside an allowed root: the anchor's own
//! state directory (its refresh token), codex's home (its `auth.json`), and a list of
//! well-known secret stores under the home directory.
//!
//! Pure: no file system access. Patterns are matched against paths that the caller has already
//! made canonical; [`crate::sandbox`] resolves the patterns themselves (symlinks included) and
//! does the I/O. A pattern covers the place it names and everything under it.
//!
//! Names are compared byte for byte: the anchor runs on Linux, whose file systems are case
//! sensitive, so `~/.SSH` is a different directory from `~/.ssh` and is not covered. A
//! case-insensitive file system (macOS, a mounted FAT volume) would need folding here.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// The built-in list, relative to the home directory. `*` in a name matches any run of
/// characters within that one name.
pub const DEFAULT_DENY: &[&str] = &[
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".config/gcloud",
    ".kube",
    ".docker/config.json",
    ".netrc",
    ".git-credentials",
    ".config/git/credentials",
    ".npmrc",
    ".pypirc",
    ".cargo/credentials*",
    ".config/gh",
    ".config/hub",
    ".password-store",
    ".vault-token",
    ".terraform.d/credentials.tfrc.json",
    ".pki",
    ".local/share/keyrings",
    ".mozilla",
    ".config/google-chrome",
    ".config/chromium",
    ".config/BraveSoftware",
    ".config/microsoft-edge",
];

/// Why a path is denied: which rule matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyReason {
    /// The anchor's state directory (credentials, audit log, control socket).
    StateDir,
    /// Codex's home (`CODEX_HOME`, or `~/.codex`): its sign-in, sessions and config.
    CodexHome,
    /// An entry of the deny-list, as written (built in or from the config file).
    Listed(String),
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DenyReason::StateDir => f.write_str("the anchor's state directory"),
            DenyReason::CodexHome => f.write_str("codex's home directory"),
            DenyReason::Listed(entry) => write!(f, "deny-list entry `{entry}`"),
        }
    }
}

/// A deny-list entry that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DenyEntryError {
    #[error("deny entry is empty")]
    Empty,
    #[error("deny entry `{0}` uses `..`: name the place itself")]
    ParentDir(String),
    #[error("deny entry `{0}` names the whole file system")]
    Root(String),
}

/// One name of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// A name compared exactly.
    Name(OsString),
    /// A name with `*` wildcards (kept as bytes: names need not be UTF-8).
    Glob(Vec<u8>),
}

impl Part {
    fn of(name: &OsStr) -> Part {
        if name.as_bytes().contains(&b'*') {
            Part::Glob(name.as_bytes().to_vec())
        } else {
            Part::Name(name.to_os_string())
        }
    }

    /// True if `name` is matched by this part.
    pub fn matches(&self, name: &OsStr) -> bool {
        match self {
            Part::Name(n) => n == name,
            Part::Glob(g) => glob_matches(g, name.as_bytes()),
        }
    }
}

/// An absolute path pattern: the place it names and everything under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    parts: Vec<Part>,
}

impl Pattern {
    /// A pattern naming exactly `path` (absolute; `*` in it is taken literally).
    pub fn exact(path: &Path) -> Pattern {
        Pattern {
            parts: normal_names(path)
                .map(|n| Part::Name(n.to_os_string()))
                .collect(),
        }
    }

    /// Parses an entry: `~/x` and `x` are under `home`, `/x` is absolute. `.` is dropped, `..`
    /// is refused (an entry names a place, it does not walk), and so is a bare `/` or `~`-less
    /// empty entry.
    pub fn parse(entry: &str, home: &Path) -> Result<Pattern, DenyEntryError> {
        let trimmed = entry.trim();
        if trimmed.is_empty() {
            return Err(DenyEntryError::Empty);
        }
        let relative = trimmed
            .strip_prefix("~/")
            .or_else(|| (trimmed == "~").then_some(""));
        let full = match relative {
            Some(rest) => home.join(rest),
            None if trimmed.starts_with('/') => PathBuf::from(trimmed),
            None => home.join(trimmed),
        };
        if Path::new(trimmed)
            .components()
            .any(|c| c == Component::ParentDir)
        {
            return Err(DenyEntryError::ParentDir(entry.to_owned()));
        }
        let parts: Vec<Part> = normal_names(&full).map(Part::of).collect();
        if parts.is_empty() {
            return Err(DenyEntryError::Root(entry.to_owned()));
        }
        Ok(Pattern { parts })
    }

    /// The names, first to last.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// True if `path` (absolute, canonical) is the place this pattern names or lies under it.
    pub fn covers(&self, path: &Path) -> bool {
        let mut names = normal_names(path);
        self.parts
            .iter()
            .all(|part| names.next().is_some_and(|name| part.matches(name)))
    }

    /// The pattern rebuilt on another base: the first `skip` names replaced by `base`.
    pub fn rebased(&self, base: &Path, skip: usize) -> Pattern {
        let mut parts: Vec<Part> = normal_names(base)
            .map(|n| Part::Name(n.to_os_string()))
            .collect();
        parts.extend(self.parts.iter().skip(skip).cloned());
        Pattern { parts }
    }
}

fn normal_names(path: &Path) -> impl Iterator<Item = &OsStr> {
    path.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n),
        _ => None,
    })
}

/// `*` matches any run of bytes (none included); everything else matches itself.
fn glob_matches(glob: &[u8], name: &[u8]) -> bool {
    // Greedy with backtracking to the last `*`: linear in practice, no recursion.
    let (mut g, mut n) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match glob.get(g) {
            Some(b'*') => {
                star = Some((g, n));
                g += 1;
            }
            Some(c) if name.get(n) == Some(c) => {
                g += 1;
                n += 1;
            }
            _ => match star {
                Some((sg, sn)) => {
                    g = sg + 1;
                    n = sn + 1;
                    star = Some((sg, sn + 1));
                }
                None => return false,
            },
        }
    }
    glob.get(g..)
        .is_some_and(|rest| rest.iter().all(|c| *c == b'*'))
}

/// A pattern and the rule it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub pattern: Pattern,
    pub reason: DenyReason,
}

/// The rules a path is checked against. Several patterns may stand for one rule (the place as
/// written and where its symlinks lead).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DenyList {
    rules: Vec<Rule>,
}

impl DenyList {
    pub fn new(rules: Vec<Rule>) -> DenyList {
        DenyList { rules }
    }

    /// The always-denied places, then the listed entries (each relative to `home` unless
    /// absolute). Fails on the first unusable entry.
    pub fn build(
        always: &[(PathBuf, DenyReason)],
        entries: &[String],
        home: &Path,
    ) -> Result<DenyList, DenyEntryError> {
        let mut rules: Vec<Rule> = always
            .iter()
            .map(|(path, reason)| Rule {
                pattern: Pattern::exact(path),
                reason: reason.clone(),
            })
            .collect();
        for entry in entries {
            rules.push(Rule {
                pattern: Pattern::parse(entry, home)?,
                reason: DenyReason::Listed(entry.trim().to_owned()),
            });
        }
        Ok(DenyList { rules })
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The first rule covering `path` (absolute, canonical), if any.
    pub fn denied_by(&self, path: &Path) -> Option<&DenyReason> {
        self.rules
            .iter()
            .find(|r| r.pattern.covers(path))
            .map(|r| &r.reason)
    }

    /// Rules whose place lies strictly inside `dir` (or could: a wildcard under it). Used to
    /// tell whether a listing of `dir`'s whole tree (a repository's diff) needs filtering.
    pub fn any_inside(&self, dir: &Path) -> bool {
        let depth = normal_names(dir).count();
        self.rules.iter().any(|r| {
            r.pattern.parts.len() > depth
                && normal_names(dir)
                    .zip(r.pattern.parts.iter())
                    .all(|(name, part)| part.matches(name))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home() -> PathBuf {
        PathBuf::from("/home/u")
    }

    fn list(entries: &[&str]) -> DenyList {
        let entries: Vec<String> = entries.iter().map(|e| (*e).to_owned()).collect();
        DenyList::build(
            &[
                (
                    PathBuf::from("/home/u/.config/orbit-anchor"),
                    DenyReason::StateDir,
                ),
                (PathBuf::from("/home/u/.codex"), DenyReason::CodexHome),
            ],
            &entries,
            &home(),
        )
        .unwrap()
    }

    #[test]
    fn a_rule_covers_its_place_and_everything_under_it_but_not_siblings_sharing_a_prefix() {
        let l = list(&[".ssh"]);
        assert_eq!(
            l.denied_by(Path::new("/home/u/.ssh")),
            Some(&DenyReason::Listed(".ssh".into()))
        );
        assert!(l.denied_by(Path::new("/home/u/.ssh/id_ed25519")).is_some());
        assert!(l.denied_by(Path::new("/home/u/.ssh-notes")).is_none());
        assert!(l.denied_by(Path::new("/home/u")).is_none());
        assert!(l.denied_by(Path::new("/home/u/proj/.ssh")).is_none());
    }

    #[test]
    fn the_state_dir_and_codex_home_are_denied_with_their_own_reasons() {
        let l = list(&[]);
        assert_eq!(
            l.denied_by(Path::new("/home/u/.config/orbit-anchor/credentials.json")),
            Some(&DenyReason::StateDir)
        );
        assert_eq!(
            l.denied_by(Path::new("/home/u/.codex/auth.json")),
            Some(&DenyReason::CodexHome)
        );
        assert!(l.denied_by(Path::new("/home/u/.config/other")).is_none());
    }

    #[test]
    fn every_default_entry_parses_and_denies_a_file_inside_or_itself() {
        let defaults: Vec<&str> = DEFAULT_DENY.to_vec();
        let l = list(&defaults);
        for entry in DEFAULT_DENY {
            let concrete = entry.replace('*', "");
            let p = home().join(&concrete);
            assert!(l.denied_by(&p).is_some(), "{entry}");
            assert!(l.denied_by(&p.join("inner")).is_some(), "{entry}");
        }
        assert!(l
            .denied_by(Path::new("/home/u/.cargo/credentials.toml"))
            .is_some());
        assert!(l.denied_by(Path::new("/home/u/.cargo/registry")).is_none());
        assert!(l
            .denied_by(Path::new("/home/u/.docker/other.json"))
            .is_none());
    }

    #[test]
    fn entries_may_be_home_relative_tilde_or_absolute_with_wildcards() {
        let l = list(&["~/work/.env*", "/srv/keys", "notes/private", "*.pem"]);
        assert!(l.denied_by(Path::new("/home/u/work/.env")).is_some());
        assert!(l.denied_by(Path::new("/home/u/work/.env.local")).is_some());
        assert!(l.denied_by(Path::new("/home/u/work/env")).is_none());
        assert!(l.denied_by(Path::new("/srv/keys/a")).is_some());
        assert!(l.denied_by(Path::new("/home/u/notes/private/x")).is_some());
        assert!(l.denied_by(Path::new("/home/u/notes/public")).is_none());
        assert!(l.denied_by(Path::new("/home/u/server.pem")).is_some());
        assert!(l.denied_by(Path::new("/home/u/sub/server.pem")).is_none());
    }

    #[test]
    fn unusable_entries_are_refused_with_a_reason() {
        let h = home();
        assert_eq!(Pattern::parse("  ", &h), Err(DenyEntryError::Empty));
        assert!(matches!(
            Pattern::parse("../etc", &h),
            Err(DenyEntryError::ParentDir(_))
        ));
        assert!(matches!(
            Pattern::parse("/a/../b", &h),
            Err(DenyEntryError::ParentDir(_))
        ));
        assert!(matches!(
            Pattern::parse("/", &h),
            Err(DenyEntryError::Root(_))
        ));
        // `~` alone is the whole home directory: allowed, if drastic.
        assert!(Pattern::parse("~", &h)
            .unwrap()
            .covers(Path::new("/home/u/x")));
    }

    #[test]
    fn glob_matching() {
        for (g, n, yes) in [
            ("credentials*", "credentials", true),
            ("credentials*", "credentials.toml", true),
            ("credentials*", "credential", false),
            ("*.pem", "a.pem", true),
            ("*.pem", "a.pem.bak", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "abcabc", true),
            ("a*b*c", "acb", false),
            ("*", "", true),
            ("**", "x", true),
        ] {
            assert_eq!(glob_matches(g.as_bytes(), n.as_bytes()), yes, "{g} {n}");
        }
    }

    #[test]
    fn names_are_compared_case_sensitively_as_linux_does() {
        let l = list(&[".ssh"]);
        assert!(l.denied_by(Path::new("/home/u/.SSH/id")).is_none());
    }

    #[test]
    fn any_inside_tells_whether_a_tree_holds_a_denied_place() {
        let l = list(&[".ssh", "*.pem"]);
        assert!(l.any_inside(Path::new("/home/u")));
        assert!(l.any_inside(Path::new("/home")));
        assert!(!l.any_inside(Path::new("/home/u/proj")));
        assert!(!l.any_inside(Path::new("/srv")));
        // Its own place is not "inside" (covered instead).
        assert!(!list(&[]).any_inside(Path::new("/home/u/.codex")));
    }

    #[test]
    fn rebasing_keeps_the_tail() {
        let p = Pattern::parse(".cargo/credentials*", &home()).unwrap();
        let r = p.rebased(Path::new("/data/u"), 2);
        assert!(r.covers(Path::new("/data/u/.cargo/credentials.toml")));
        assert!(!r.covers(Path::new("/home/u/.cargo/credentials.toml")));
    }
}

//! Path sandbox for the `anchor.*` helper methods.
//!
//! Every path a client names is resolved (symlinks included) and must lie under one of the anchor's
//! allowed roots. The check is component-wise ([`Path::starts_with`]), never a string prefix, so a
//! root of `/home/al` does not admit `/home/alice`.
//!
//! Inside the roots, the places of a [`DenyList`] (the anchor's state directory, codex's home,
//! well-known secret stores) are refused too, with `path_denied`. The deny patterns are
//! resolved afresh for each call, symlinks included, so a secret store that is itself a
//! symlink, or a home directory reached through one, is still recognised wherever it leads.

use std::io;
use std::path::{Component, Path, PathBuf};

use orbit_protocol::ErrorCode;

use crate::deny::{DenyEntryError, DenyList, DenyReason, Part, Pattern, Rule};

/// Most existing places one wildcard name may expand to when the deny-list is resolved.
const GLOB_EXPANSION_MAX: usize = 64;

/// Why a path was refused.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The path (after resolving symlinks) lies outside every allowed root.
    #[error("path not allowed: {0}")]
    PathNotAllowed(String),
    /// The path (after resolving symlinks) is inside a root but in a place the anchor never
    /// exposes.
    #[error("path denied: {path} is in {reason}, which the anchor never exposes")]
    PathDenied {
        /// The path as the client named it.
        path: String,
        /// The rule that matched.
        reason: DenyReason,
    },
    /// A configured root lies in a denied place: nothing under it could ever be served.
    #[error("root {root} lies in {reason}, which the anchor never exposes")]
    RootDenied {
        /// The root, canonical.
        root: String,
        /// The rule that matched.
        reason: DenyReason,
    },
    /// The path (or, for a new file, its parent directory) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// No usable root was configured.
    #[error("invalid sandbox root {path}: {source}")]
    InvalidRoot {
        /// The root as given.
        path: String,
        /// Why it could not be canonicalized.
        source: io::Error,
    },
    /// A deny-list entry that cannot be used.
    #[error(transparent)]
    DenyEntry(#[from] DenyEntryError),
    /// The sandbox was built with no roots at all.
    #[error("no sandbox roots configured")]
    NoRoots,
    /// Any other filesystem error while resolving.
    #[error("i/o error resolving {path}: {source}")]
    Io {
        /// The path being resolved.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
}

impl SandboxError {
    /// The machine-readable code (`data.code` in JSON-RPC errors).
    pub fn code(&self) -> ErrorCode {
        match self {
            SandboxError::PathNotAllowed(_) => ErrorCode::PathNotAllowed,
            SandboxError::PathDenied { .. } => ErrorCode::PathDenied,
            SandboxError::NotFound(_) => ErrorCode::NotFound,
            SandboxError::InvalidRoot { .. }
            | SandboxError::RootDenied { .. }
            | SandboxError::DenyEntry(_)
            | SandboxError::NoRoots
            | SandboxError::Io { .. } => ErrorCode::IoError,
        }
    }
}

/// A set of canonical directory roots that helper paths must stay under.
#[derive(Debug, Clone)]
pub struct Sandbox {
    roots: Vec<PathBuf>,
    deny: DenyList,
}

impl Sandbox {
    /// Builds a sandbox; each root is canonicalized (symlinks resolved). Fails if there are no roots
    /// or one cannot be canonicalized.
    pub fn new(roots: Vec<PathBuf>) -> Result<Self, SandboxError> {
        if roots.is_empty() {
            return Err(SandboxError::NoRoots);
        }
        let mut canon = Vec::with_capacity(roots.len());
        for root in roots {
            let c = std::fs::canonicalize(&root).map_err(|source| SandboxError::InvalidRoot {
                path: root.to_string_lossy().into_owned(),
                source,
            })?;
            if !canon.contains(&c) {
                canon.push(c);
            }
        }
        Ok(Self {
            roots: canon,
            deny: DenyList::default(),
        })
    }

    /// The same roots with `deny` refused inside them. Fails if a root itself lies in a denied
    /// place (`anchor run --root ~/.ssh` is a mistake to report, not a sandbox that refuses
    /// everything).
    pub fn denying(self, deny: DenyList) -> Result<Self, SandboxError> {
        let sandbox = Self { deny, ..self };
        let resolved = sandbox.deny_rules();
        for root in &sandbox.roots {
            if let Some(reason) = resolved.denied_by(root) {
                return Err(SandboxError::RootDenied {
                    root: root.to_string_lossy().into_owned(),
                    reason: reason.clone(),
                });
            }
        }
        Ok(sandbox)
    }

    /// The deny-list resolved now: each pattern as written, with its longest existing prefix
    /// made canonical, and every existing place it matches made canonical. Check canonical
    /// paths against it. One call's worth: a symlink made later is seen by the next call.
    pub fn deny_rules(&self) -> DenyList {
        let mut rules: Vec<Rule> = Vec::new();
        for rule in self.deny.rules() {
            for pattern in resolve_pattern(&rule.pattern) {
                let r = Rule {
                    pattern,
                    reason: rule.reason.clone(),
                };
                if !rules.contains(&r) {
                    rules.push(r);
                }
            }
        }
        DenyList::new(rules)
    }

    /// The canonical roots, first one is the default for relative paths.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// The first (default) root.
    pub fn default_root(&self) -> &Path {
        // `new` guarantees at least one root.
        self.roots.first().map_or(Path::new("/"), PathBuf::as_path)
    }

    /// True if `canonical` lies under (or is) one of the roots, compared component-wise.
    pub fn is_allowed(&self, canonical: &Path) -> bool {
        self.roots.iter().any(|r| canonical.starts_with(r))
    }

    /// Resolves a client-supplied path. See [`Sandbox::resolve_path`].
    pub fn resolve(&self, requested: &str) -> Result<PathBuf, SandboxError> {
        self.resolve_path(Path::new(requested))
    }

    /// Resolves a path: relative paths are taken against the first root (an empty path is the first
    /// root), symlinks are resolved, and the result must lie under a root. A path that does not exist
    /// yet (e.g. a write target) is resolved through its parent directory, which must exist.
    pub fn resolve_path(&self, requested: &Path) -> Result<PathBuf, SandboxError> {
        let shown = || requested.to_string_lossy().into_owned();
        let joined = if requested.is_absolute() {
            requested.to_path_buf()
        } else {
            self.default_root().join(requested)
        };
        let deny = self.deny_rules();
        let refuse_denied = |path: &Path| match deny.denied_by(path) {
            Some(reason) => Err(SandboxError::PathDenied {
                path: shown(),
                reason: reason.clone(),
            }),
            None => Ok(()),
        };
        match std::fs::canonicalize(&joined) {
            Ok(canon) => {
                if self.is_allowed(&canon) {
                    refuse_denied(&canon)?;
                    Ok(canon)
                } else {
                    Err(SandboxError::PathNotAllowed(shown()))
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Whether a file exists in a denied place is itself not to be told.
                let lexical = lexical_normalize(&joined);
                if self.is_allowed(&lexical) {
                    refuse_denied(&lexical)?;
                }
                let through = canonical_through_existing(&joined);
                if self.is_allowed(&through) {
                    refuse_denied(&through)?;
                }
                let target = self.resolve_missing(&joined, &shown)?;
                refuse_denied(&target)?;
                Ok(target)
            }
            Err(source) => {
                // Do not reveal anything about paths that are not even lexically inside a root.
                let lexical = lexical_normalize(&joined);
                if self.is_allowed(&lexical) {
                    refuse_denied(&lexical)?;
                    Err(SandboxError::Io {
                        path: shown(),
                        source,
                    })
                } else {
                    Err(SandboxError::PathNotAllowed(shown()))
                }
            }
        }
    }

    fn resolve_missing(
        &self,
        joined: &Path,
        shown: &dyn Fn() -> String,
    ) -> Result<PathBuf, SandboxError> {
        let lexically_inside = self.is_allowed(&lexical_normalize(joined));
        let refuse_or_missing = || {
            if lexically_inside {
                SandboxError::NotFound(shown())
            } else {
                SandboxError::PathNotAllowed(shown())
            }
        };
        let (Some(parent), Some(name)) = (joined.parent(), joined.file_name()) else {
            return Err(refuse_or_missing());
        };
        let parent = match std::fs::canonicalize(parent) {
            Ok(p) => p,
            Err(_) => return Err(refuse_or_missing()),
        };
        if !self.is_allowed(&parent) {
            return Err(SandboxError::PathNotAllowed(shown()));
        }
        let target = parent.join(name);
        // A dangling symlink canonicalizes as "not found"; following it on write could escape.
        if std::fs::symlink_metadata(&target).is_ok() {
            return Err(SandboxError::PathNotAllowed(shown()));
        }
        Ok(target)
    }
}

/// The anchor's sandbox: `roots`, inside which the state directory and codex's home (where
/// configured, and `~/.codex` as well) are always refused, and so are the deny-list `entries`
/// (relative ones under `home`).
pub fn anchor_sandbox(
    roots: Vec<PathBuf>,
    state_dir: &Path,
    codex_home: &Path,
    home: &Path,
    entries: &[String],
) -> Result<Sandbox, SandboxError> {
    // A pattern compares names, so each place must be absolute and free of `..` first.
    let absolute = |p: &Path| {
        std::fs::canonicalize(p).unwrap_or_else(|_| {
            lexical_normalize(&std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()))
        })
    };
    let home = absolute(home);
    let always = [
        (absolute(state_dir), DenyReason::StateDir),
        (absolute(codex_home), DenyReason::CodexHome),
        (home.join(".codex"), DenyReason::CodexHome),
    ];
    let deny = DenyList::build(&always, entries, &home)?;
    Sandbox::new(roots)?.denying(deny)
}

/// `path` with its deepest existing ancestor made canonical and the missing rest appended (so
/// a missing file under a symlink to a denied directory is seen to lie in it).
fn canonical_through_existing(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut current = path;
    loop {
        if let Ok(c) = std::fs::canonicalize(current) {
            let mut out = c;
            out.extend(rest.iter().rev());
            return lexical_normalize(&out);
        }
        match (current.parent(), current.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                current = parent;
            }
            _ => return lexical_normalize(path),
        }
    }
}

/// The places `pattern` stands for on this machine now: itself, itself with its longest
/// existing run of plain names made canonical (a home reached through a symlink), and each
/// existing place it matches, canonical (a secret store that is a symlink).
fn resolve_pattern(pattern: &Pattern) -> Vec<Pattern> {
    let mut out = vec![pattern.clone()];
    let mut prefix = PathBuf::from("/");
    let mut canonical_prefix: Option<(PathBuf, usize)> = None;
    for (i, part) in pattern.parts().iter().enumerate() {
        let Part::Name(name) = part else { break };
        prefix.push(name);
        match std::fs::canonicalize(&prefix) {
            Ok(c) => canonical_prefix = Some((c, i + 1)),
            Err(_) => break,
        }
    }
    if let Some((base, skip)) = canonical_prefix {
        out.push(pattern.rebased(&base, skip));
    }
    for place in existing_places(pattern) {
        if let Ok(c) = std::fs::canonicalize(&place) {
            out.push(Pattern::exact(&c));
        }
    }
    out.dedup();
    out
}

/// The existing paths `pattern` matches, wildcards expanded (bounded).
fn existing_places(pattern: &Pattern) -> Vec<PathBuf> {
    let mut current = vec![PathBuf::from("/")];
    for part in pattern.parts() {
        let mut next = Vec::new();
        for dir in &current {
            match part {
                Part::Name(name) => {
                    let p = dir.join(name);
                    if std::fs::symlink_metadata(&p).is_ok() {
                        next.push(p);
                    }
                }
                Part::Glob(_) => {
                    let Ok(entries) = std::fs::read_dir(dir) else {
                        continue;
                    };
                    next.extend(
                        entries
                            .filter_map(Result::ok)
                            .filter(|e| part.matches(&e.file_name()))
                            .take(GLOB_EXPANSION_MAX)
                            .map(|e| e.path()),
                    );
                }
            }
        }
        if next.is_empty() {
            return next;
        }
        current = next;
    }
    current
}

/// Removes `.` and folds `..` without touching the filesystem (used only to decide which error to
/// report for paths that cannot be canonicalized).
fn lexical_normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn setup() -> (tempfile::TempDir, PathBuf, Sandbox) {
        let tmp = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(tmp.path()).unwrap();
        let root = base.join("al");
        std::fs::create_dir_all(root.join("proj/src")).unwrap();
        std::fs::write(root.join("proj/src/main.rs"), "fn main() {}").unwrap();
        std::fs::create_dir_all(base.join("alice")).unwrap();
        std::fs::write(base.join("alice/secret"), "s").unwrap();
        std::fs::write(base.join("outside.txt"), "o").unwrap();
        let sb = Sandbox::new(vec![root.clone()]).unwrap();
        (tmp, root, sb)
    }

    #[test]
    fn relative_and_absolute_inside() {
        let (_t, root, sb) = setup();
        assert_eq!(sb.resolve("proj").unwrap(), root.join("proj"));
        assert_eq!(sb.resolve("").unwrap(), root);
        let abs = root.join("proj/src/main.rs");
        assert_eq!(sb.resolve(abs.to_str().unwrap()).unwrap(), abs);
        assert_eq!(
            sb.resolve("proj/src/../src/./main.rs").unwrap(),
            root.join("proj/src/main.rs")
        );
    }

    #[test]
    fn dotdot_escape_refused() {
        let (_t, _root, sb) = setup();
        let e = sb.resolve("../outside.txt").unwrap_err();
        assert_eq!(e.code(), ErrorCode::PathNotAllowed);
        let e = sb.resolve("proj/../../alice/secret").unwrap_err();
        assert_eq!(e.code(), ErrorCode::PathNotAllowed);
        // Missing file outside: still path_not_allowed, not not_found.
        let e = sb.resolve("../nope/nothing").unwrap_err();
        assert_eq!(e.code(), ErrorCode::PathNotAllowed);
    }

    #[test]
    fn absolute_outside_refused() {
        let (_t, _root, sb) = setup();
        assert_eq!(
            sb.resolve("/etc/passwd").unwrap_err().code(),
            ErrorCode::PathNotAllowed
        );
        assert_eq!(
            sb.resolve("/").unwrap_err().code(),
            ErrorCode::PathNotAllowed
        );
    }

    #[test]
    fn prefix_trick_sibling_refused() {
        let (_t, root, sb) = setup();
        let sibling = root.parent().unwrap().join("alice/secret");
        let e = sb.resolve(sibling.to_str().unwrap()).unwrap_err();
        assert_eq!(e.code(), ErrorCode::PathNotAllowed);
        let e = sb
            .resolve(root.parent().unwrap().join("alice").to_str().unwrap())
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::PathNotAllowed);
    }

    #[test]
    fn symlink_outside_refused_inside_allowed() {
        let (_t, root, sb) = setup();
        let base = root.parent().unwrap().to_path_buf();
        symlink(base.join("outside.txt"), root.join("escape")).unwrap();
        symlink(base.join("alice"), root.join("escdir")).unwrap();
        assert_eq!(
            sb.resolve("escape").unwrap_err().code(),
            ErrorCode::PathNotAllowed
        );
        assert_eq!(
            sb.resolve("escdir/secret").unwrap_err().code(),
            ErrorCode::PathNotAllowed
        );
        // New file under a symlinked dir pointing outside.
        assert_eq!(
            sb.resolve("escdir/newfile").unwrap_err().code(),
            ErrorCode::PathNotAllowed
        );
        symlink(root.join("proj/src"), root.join("inlink")).unwrap();
        assert_eq!(
            sb.resolve("inlink/main.rs").unwrap(),
            root.join("proj/src/main.rs")
        );
    }

    #[test]
    fn dangling_symlink_refused() {
        let (_t, root, sb) = setup();
        let base = root.parent().unwrap().to_path_buf();
        symlink(base.join("does-not-exist"), root.join("dangling")).unwrap();
        assert_eq!(
            sb.resolve("dangling").unwrap_err().code(),
            ErrorCode::PathNotAllowed
        );
    }

    #[test]
    fn missing_paths() {
        let (_t, root, sb) = setup();
        // New file in an existing dir: resolved via its parent.
        assert_eq!(
            sb.resolve("proj/new.txt").unwrap(),
            root.join("proj/new.txt")
        );
        // Parent missing inside the root: not_found.
        assert_eq!(
            sb.resolve("nope/new.txt").unwrap_err().code(),
            ErrorCode::NotFound
        );
    }

    #[test]
    fn non_utf8_names_tolerated() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let (_t, root, sb) = setup();
        let name = OsStr::from_bytes(b"caf\xe9");
        let dir = root.join(name);
        std::fs::create_dir(&dir).unwrap();
        assert_eq!(sb.resolve_path(Path::new(name)).unwrap(), dir);
        let sb2 = Sandbox::new(vec![dir.clone()]).unwrap();
        assert_eq!(sb2.resolve("").unwrap(), dir);
        assert_eq!(
            sb2.resolve("..").unwrap_err().code(),
            ErrorCode::PathNotAllowed
        );
    }

    /// A home directory as the root (the default), holding the anchor's state directory, a
    /// codex home, and secrets of the built-in list.
    fn home_setup(entries: &[&str]) -> (tempfile::TempDir, PathBuf, Sandbox) {
        let tmp = tempfile::tempdir().unwrap();
        let home = std::fs::canonicalize(tmp.path()).unwrap().join("home");
        for (file, text) in [
            (".config/orbit-anchor/credentials.json", "REFRESH"),
            (".codex/auth.json", "CODEX"),
            (".ssh/id_ed25519", "KEY"),
            (".aws/credentials", "AWS"),
            (".cargo/credentials.toml", "CARGO"),
            ("proj/src/main.rs", "fn main() {}"),
            ("notes/private.txt", "mine"),
        ] {
            let p = home.join(file);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let mut list: Vec<String> = crate::deny::DEFAULT_DENY
            .iter()
            .map(|e| (*e).to_owned())
            .collect();
        list.extend(entries.iter().map(|e| (*e).to_owned()));
        let sb = anchor_sandbox(
            vec![home.clone()],
            &home.join(".config/orbit-anchor"),
            &home.join(".codex"),
            &home,
            &list,
        )
        .unwrap();
        (tmp, home, sb)
    }

    fn denied(sb: &Sandbox, path: &str) -> String {
        match sb.resolve(path) {
            Err(e @ SandboxError::PathDenied { .. }) => {
                assert_eq!(e.code(), ErrorCode::PathDenied);
                e.to_string()
            }
            other => panic!("{path}: expected path_denied, got {other:?}"),
        }
    }

    #[test]
    fn credentials_and_secret_stores_in_the_root_are_denied_directly_and_via_dotdot() {
        let (_t, home, sb) = home_setup(&[]);
        assert!(denied(&sb, ".config/orbit-anchor/credentials.json").contains("state directory"));
        assert!(denied(&sb, ".config/orbit-anchor").contains("state directory"));
        assert!(denied(&sb, ".codex/auth.json").contains("codex's home"));
        assert!(denied(&sb, ".ssh/id_ed25519").contains("`.ssh`"));
        assert!(denied(&sb, ".ssh").contains("`.ssh`"));
        assert!(denied(&sb, ".aws/credentials").contains("`.aws`"));
        assert!(denied(&sb, ".cargo/credentials.toml").contains("credentials*"));
        denied(&sb, "proj/../.ssh/id_ed25519");
        denied(&sb, "proj/src/../../.aws/./credentials");
        denied(&sb, home.join(".ssh/id_ed25519").to_str().unwrap());
        // Whether a file exists in a denied place is not told either.
        denied(&sb, ".ssh/id_rsa");
        denied(&sb, ".ssh/missing-dir/x");
        // The rest of the home directory is served.
        assert_eq!(
            sb.resolve("proj/src/main.rs").unwrap(),
            home.join("proj/src/main.rs")
        );
        assert_eq!(sb.resolve(".cargo").unwrap(), home.join(".cargo"));
        assert_eq!(sb.resolve("").unwrap(), home);
    }

    #[test]
    fn a_symlink_inside_the_root_to_a_secret_is_denied() {
        let (_t, home, sb) = home_setup(&[]);
        symlink(home.join(".ssh/id_ed25519"), home.join("proj/key")).unwrap();
        symlink(home.join(".aws"), home.join("proj/aws")).unwrap();
        symlink("../.config/orbit-anchor", home.join("proj/state")).unwrap();
        denied(&sb, "proj/key");
        denied(&sb, "proj/aws/credentials");
        denied(&sb, "proj/aws/missing-dir/missing-file");
        denied(&sb, "proj/state/credentials.json");
    }

    #[test]
    fn a_secret_store_that_is_itself_a_symlink_is_denied_where_it_leads() {
        let (_t, home, sb) = home_setup(&[]);
        // `~/.gnupg` kept in a dotfiles directory, `~/.cargo/credentials` a link to another file.
        std::fs::create_dir_all(home.join("dotfiles/gnupg")).unwrap();
        std::fs::write(home.join("dotfiles/gnupg/secring"), "GPG").unwrap();
        symlink(home.join("dotfiles/gnupg"), home.join(".gnupg")).unwrap();
        std::fs::write(home.join("dotfiles/cargo-token"), "TOKEN").unwrap();
        symlink(
            home.join("dotfiles/cargo-token"),
            home.join(".cargo/credentials"),
        )
        .unwrap();
        denied(&sb, "dotfiles/gnupg/secring");
        denied(&sb, ".gnupg/secring");
        denied(&sb, "dotfiles/cargo-token");
        assert!(sb.resolve("dotfiles").is_ok());
    }

    #[test]
    fn a_state_dir_reached_through_a_symlink_is_denied_where_it_really_is() {
        let tmp = tempfile::tempdir().unwrap();
        let home = std::fs::canonicalize(tmp.path()).unwrap();
        std::fs::create_dir_all(home.join("real-state")).unwrap();
        std::fs::write(home.join("real-state/credentials.json"), "REFRESH").unwrap();
        symlink(home.join("real-state"), home.join("state-link")).unwrap();
        let sb = anchor_sandbox(
            vec![home.clone()],
            &home.join("state-link"),
            &home.join("elsewhere/codex"),
            &home,
            &[],
        )
        .unwrap();
        assert!(denied(&sb, "real-state/credentials.json").contains("state directory"));
        denied(&sb, "state-link/credentials.json");
    }

    #[test]
    fn configured_entries_are_denied_with_their_name_and_the_built_in_ones_can_be_dropped() {
        let (_t, home, sb) = home_setup(&["notes/private*"]);
        assert!(denied(&sb, "notes/private.txt").contains("`notes/private*`"));
        assert!(sb.resolve("notes").is_ok());
        // Without the built-in list, `.ssh` is served, but not the state dir or codex's home.
        let sb = anchor_sandbox(
            vec![home.clone()],
            &home.join(".config/orbit-anchor"),
            &home.join(".codex"),
            &home,
            &[],
        )
        .unwrap();
        assert!(sb.resolve(".ssh/id_ed25519").is_ok());
        denied(&sb, ".config/orbit-anchor/credentials.json");
        denied(&sb, ".codex/auth.json");
    }

    #[test]
    fn a_root_inside_a_denied_place_is_refused_at_start() {
        let (_t, home, _sb) = home_setup(&[]);
        for root in [".ssh", ".config/orbit-anchor", ".codex"] {
            let e = anchor_sandbox(
                vec![home.join(root)],
                &home.join(".config/orbit-anchor"),
                &home.join(".codex"),
                &home,
                &[".ssh".to_owned()],
            )
            .unwrap_err();
            assert!(matches!(e, SandboxError::RootDenied { .. }), "{root}: {e}");
        }
        let e =
            anchor_sandbox(vec![home.clone()], &home, &home, &home, &["../x".into()]).unwrap_err();
        assert!(matches!(e, SandboxError::DenyEntry(_)), "{e}");
    }

    #[test]
    fn a_relative_state_dir_is_denied_too() {
        let (_t, home, _sb) = home_setup(&[]);
        let cwd = std::env::current_dir().unwrap();
        let relative = pathdiff(&home.join(".config/orbit-anchor"), &cwd);
        let sb =
            anchor_sandbox(vec![home.clone()], &relative, &home.join("x"), &home, &[]).unwrap();
        denied(&sb, ".config/orbit-anchor/credentials.json");
    }

    /// `to` relative to `from` (both absolute), through `..` as needed.
    fn pathdiff(to: &Path, from: &Path) -> PathBuf {
        let ups = from.components().count() - 1;
        let mut p = PathBuf::new();
        for _ in 0..ups {
            p.push("..");
        }
        p.join(to.strip_prefix("/").unwrap())
    }

    #[test]
    fn no_roots_or_bad_root() {
        assert!(matches!(Sandbox::new(vec![]), Err(SandboxError::NoRoots)));
        assert!(Sandbox::new(vec![PathBuf::from("/definitely/not/here/xyz")]).is_err());
    }
}

//! Path sandbox for the `anchor.*` helper methods.
//!
//! Every path a client names is resolved (symlinks included) and must lie under one of the anchor's
//! allowed roots. The check is component-wise ([`Path::starts_with`]), never a string prefix, so a
//! root of `/home/al` does not admit `/home/alice`.

use std::io;
use std::path::{Component, Path, PathBuf};

use orbit_protocol::ErrorCode;

/// Why a path was refused.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The path (after resolving symlinks) lies outside every allowed root.
    #[error("path not allowed: {0}")]
    PathNotAllowed(String),
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
            SandboxError::NotFound(_) => ErrorCode::NotFound,
            SandboxError::InvalidRoot { .. } | SandboxError::NoRoots | SandboxError::Io { .. } => {
                ErrorCode::IoError
            }
        }
    }
}

/// A set of canonical directory roots that helper paths must stay under.
#[derive(Debug, Clone)]
pub struct Sandbox {
    roots: Vec<PathBuf>,
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
        Ok(Self { roots: canon })
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
        match std::fs::canonicalize(&joined) {
            Ok(canon) => {
                if self.is_allowed(&canon) {
                    Ok(canon)
                } else {
                    Err(SandboxError::PathNotAllowed(shown()))
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.resolve_missing(&joined, &shown),
            Err(source) => {
                // Do not reveal anything about paths that are not even lexically inside a root.
                if self.is_allowed(&lexical_normalize(&joined)) {
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

    #[test]
    fn no_roots_or_bad_root() {
        assert!(matches!(Sandbox::new(vec![]), Err(SandboxError::NoRoots)));
        assert!(Sandbox::new(vec![PathBuf::from("/definitely/not/here/xyz")]).is_err());
    }
}

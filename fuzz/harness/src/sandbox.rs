//! `sandbox`: a path a client names in an `anchor.*` call (`path`, or `file` inside a
//! repository), through the anchor's [`Sandbox`].
//!
//! The root is a real directory built once per process: files, a nested directory, and
//! symlinks that stay inside, that leave (relative and absolute), that dangle, and that loop;
//! beside it a directory whose name extends the root's (`root` / `root-sibling`: a string-prefix
//! check would admit it). Checked: a path that resolves is absolute (so it can never be read
//! as an option by `git`), lies inside the root compared component by component, and is
//! either an existing path with no symlink left in it or a new name directly inside an existing
//! directory of the root; a `file` resolved against the repository stays inside the
//! repository; a path that resolves is never in a denied place (the state directory, codex's
//! home, a deny-list entry, all inside the root); and every refusal has a wire code.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use orbit_anchor::sandbox::{anchor_sandbox, Sandbox, SandboxError};
use orbit_protocol::ErrorCode;

/// The denied places inside the root: the anchor's state directory, codex's home, and the one
/// deny-list entry.
const DENIED: [&str; 3] = ["state", "codex", ".ssh"];

/// A directory tree to resolve paths in; removed when dropped.
pub struct Fixture {
    _dir: tempfile::TempDir,
    sandbox: Sandbox,
    /// The sandbox root, canonical.
    root: PathBuf,
    /// A repository-like directory inside the root (what `anchor.git.diff` resolves `file` in).
    repo: PathBuf,
}

impl Fixture {
    pub fn new() -> std::io::Result<Fixture> {
        let dir = tempfile::tempdir()?;
        let base = std::fs::canonicalize(dir.path())?;
        let root = base.join("root");
        let repo = root.join("proj");
        let outside = base.join("outside");
        let sibling = base.join("root-sibling");
        for d in [
            &repo.join("src"),
            &root.join("dir/deeper"),
            &outside,
            &sibling,
        ] {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(repo.join("src/main.rs"), "fn main() {}\n")?;
        std::fs::write(repo.join("-n"), "a file named like an option\n")?;
        std::fs::write(root.join("notes.txt"), "inside\n")?;
        std::fs::write(outside.join("secret.txt"), "outside\n")?;
        std::fs::write(sibling.join("secret.txt"), "beside\n")?;
        let links: [(&str, &Path); 7] = [
            ("link-in", Path::new("proj/src")),
            ("link-out", Path::new("../outside")),
            ("link-sibling", Path::new("../root-sibling")),
            ("link-abs", Path::new("/")),
            ("dangling", Path::new("../outside/missing")),
            ("loop", Path::new("loop")),
            ("dir/up", Path::new("../..")),
        ];
        for (name, target) in links {
            std::os::unix::fs::symlink(target, root.join(name))?;
        }
        std::os::unix::fs::symlink(&outside, repo.join("escape"))?;
        // Denied places inside the root: the anchor's state directory, codex's home and a
        // deny-list entry, with a symlink to each.
        for (dir, file) in DENIED.iter().zip(["credentials.json", "auth.json", "id"]) {
            std::fs::create_dir_all(root.join(dir))?;
            std::fs::write(root.join(dir).join(file), "secret\n")?;
            std::os::unix::fs::symlink(
                Path::new(dir).join(file),
                root.join(format!("to-{}", dir.trim_start_matches('.'))),
            )?;
        }
        let sandbox = anchor_sandbox(
            vec![root.clone()],
            &root.join("state"),
            &root.join("codex"),
            &root,
            &[".ssh".to_owned()],
        )
        .map_err(std::io::Error::other)?;
        Ok(Fixture {
            _dir: dir,
            sandbox,
            root,
            repo,
        })
    }
}

pub fn sandbox(data: &[u8]) {
    static FIXTURE: OnceLock<Option<Fixture>> = OnceLock::new();
    // libFuzzer runs one process for millions of inputs: one tree for all of them (left behind
    // in the temporary directory when the process ends, as nothing drops a static).
    match FIXTURE.get_or_init(|| Fixture::new().ok()) {
        Some(fixture) => sandbox_in(fixture, data),
        None => panic!("cannot build the sandbox fixture"),
    }
}

/// The target, against a given fixture (the corpus replay makes its own and removes it).
pub fn sandbox_in(fixture: &Fixture, data: &[u8]) {
    // Helper parameters are JSON strings: UTF-8, NUL allowed.
    let Ok(requested) = std::str::from_utf8(data) else {
        return;
    };
    match fixture.sandbox.resolve(requested) {
        Ok(path) => inside(fixture, &fixture.root, &path, requested),
        Err(e) => refused(&e),
    }
    // `anchor.git.diff {file}`: resolved against the repository, and kept inside it.
    match fixture.sandbox.resolve_path(&fixture.repo.join(requested)) {
        Ok(path) if path.starts_with(&fixture.repo) => {
            inside(fixture, &fixture.repo, &path, requested)
        }
        Ok(path) => inside(fixture, &fixture.root, &path, requested),
        Err(e) => refused(&e),
    }
}

fn inside(fixture: &Fixture, within: &Path, path: &Path, requested: &str) {
    assert!(path.is_absolute(), "{requested:?} → {path:?}");
    assert!(
        !path.as_os_str().as_encoded_bytes().starts_with(b"-"),
        "{requested:?} → {path:?}"
    );
    assert!(
        path.starts_with(within) && path.starts_with(&fixture.root),
        "{requested:?} escaped to {path:?}"
    );
    // Checked on its own terms, not through the deny-list the sandbox uses.
    assert!(
        !DENIED
            .iter()
            .any(|d| path.starts_with(fixture.root.join(d))),
        "{requested:?} → {path:?} is in a denied place"
    );
    match std::fs::symlink_metadata(path) {
        // An existing path: canonical, so no symlink is left to follow later.
        Ok(_) => assert_eq!(
            std::fs::canonicalize(path).ok().as_deref(),
            Some(path),
            "{requested:?} → {path:?} is not canonical"
        ),
        // A new name (a write target): directly inside an existing directory of the root.
        Err(_) => {
            let parent = path.parent();
            assert!(
                parent.is_some_and(|p| std::fs::canonicalize(p).ok().as_deref() == Some(p)),
                "{requested:?} → {path:?}: its directory is not canonical"
            );
            assert!(path.file_name().is_some(), "{requested:?} → {path:?}");
        }
    }
}

fn refused(e: &SandboxError) {
    assert!(
        matches!(
            e.code(),
            ErrorCode::PathNotAllowed
                | ErrorCode::PathDenied
                | ErrorCode::NotFound
                | ErrorCode::IoError
        ),
        "{e}"
    );
}

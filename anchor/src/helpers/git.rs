//! `anchor.git.*`: read-only git queries, run as `git -C <dir> …` with no shell.
//!
//! Hardened against hostile repositories: git runs in a cleared environment without the system
//! and global config, with every program the repository's config could name switched off
//! ([`neutral`]), with no pager, no prompts and no optional locks. Outputs are capped and a
//! timeout applies.

mod neutral;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::process::Command;
use tokio::sync::OnceCell;

use super::{opt_str, opt_u64, path_string, req_str, HelperContext, HelperError};
use neutral::{GitEnv, Inherited};
use orbit_protocol::ErrorCode;

/// Cap on captured git stdout (status, diff, log, branches).
pub const GIT_OUTPUT_MAX_BYTES: u64 = super::ANSWER_BUDGET_BYTES;
/// Maximum files listed by `anchor.git.status`.
pub const STATUS_MAX_FILES: usize = 5000;
/// Default and maximum `limit` for `anchor.git.log`.
pub const LOG_DEFAULT_LIMIT: u64 = 50;
/// Hard cap for `anchor.git.log`.
pub const LOG_MAX_LIMIT: u64 = 500;
/// Maximum refs listed by `anchor.git.branches`.
pub const BRANCHES_MAX: usize = 1000;
/// Per-command timeout.
pub const GIT_TIMEOUT: Duration = Duration::from_secs(20);

struct GitOutput {
    stdout: Vec<u8>,
    stderr: String,
    success: bool,
    truncated: bool,
}

/// A repository's top level and the environment git runs in there.
struct Repo {
    root: PathBuf,
    env: GitEnv,
}

impl Repo {
    async fn run(&self, args: &[&str], cap: u64) -> Result<GitOutput, HelperError> {
        run_git(&self.root, &self.env, args, cap).await
    }
}

async fn run_git(
    dir: &Path,
    env: &GitEnv,
    args: &[&str],
    cap: u64,
) -> Result<GitOutput, HelperError> {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .args(["--no-pager", "--literal-pathspecs"])
        .args(args)
        .env_clear()
        .envs(env.vars().iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| HelperError::new(ErrorCode::IoError, format!("cannot run git: {e}")))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(HelperError::new(ErrorCode::IoError, "git pipes missing"));
    };
    let work = async {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut so = stdout.take(cap + 1);
        let mut se = stderr.take(64 * 1024);
        let (r1, r2) = tokio::join!(so.read_to_end(&mut out), se.read_to_end(&mut err));
        r1.and(r2)?;
        let truncated = out.len() as u64 > cap;
        if truncated {
            out.truncate(usize::try_from(cap).unwrap_or(usize::MAX));
            // Stop git rather than letting it block on a full pipe.
            let _ = child.start_kill();
        }
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((out, err, status, truncated))
    };
    match tokio::time::timeout(GIT_TIMEOUT, work).await {
        Err(_) => Err(HelperError::new(ErrorCode::IoError, "git timed out")),
        Ok(Err(e)) => Err(HelperError::io("git", &e)),
        Ok(Ok((stdout, stderr, status, truncated))) => Ok(GitOutput {
            stdout,
            stderr: String::from_utf8_lossy(&stderr).trim().to_owned(),
            // A killed-because-truncated git is not a failure.
            success: status.success() || truncated,
            truncated,
        }),
    }
}

/// Refuses a git too old to honour the overrides (it would ignore them silently). Asked once
/// per process; a failure is asked again next time.
async fn ensure_git_supported() -> Result<(), HelperError> {
    static SUPPORTED: OnceCell<()> = OnceCell::const_new();
    SUPPORTED
        .get_or_try_init(|| async {
            let base = GitEnv::base(&Inherited::from_process());
            let out = run_git(Path::new("/"), &base, &["--version"], 4096).await?;
            let text = String::from_utf8_lossy(&out.stdout);
            match neutral::parse_git_version(&text) {
                Some(v) if out.success && v >= neutral::MIN_GIT_VERSION => Ok(()),
                _ => Err(HelperError::new(
                    ErrorCode::IoError,
                    format!(
                        "anchor.git.* needs git {}.{} or newer (it is run with overrides older \
                         versions ignore); found: {}",
                        neutral::MIN_GIT_VERSION.0,
                        neutral::MIN_GIT_VERSION.1,
                        text.trim()
                    ),
                )),
            }
        })
        .await
        .map(|_| ())
}

fn git_failed(what: &str, out: &GitOutput) -> HelperError {
    // `safe.bareRepository=explicit` refuses a bare repository found by discovery.
    if out.stderr.contains("not a git repository")
        || out.stderr.contains("cannot use bare repository")
    {
        HelperError::new(ErrorCode::NotARepository, "not a git repository")
    } else {
        HelperError::new(
            ErrorCode::IoError,
            format!("git {what} failed: {}", out.stderr),
        )
    }
}

/// Resolves `path` through the sandbox, finds its repository's top level (also in the sandbox)
/// and the environment git runs in there.
async fn open_repo(ctx: &HelperContext, params: &Value) -> Result<Repo, HelperError> {
    let dir = ctx.sandbox.resolve(req_str(params, "path")?)?;
    let meta = std::fs::metadata(&dir).map_err(|e| HelperError::io("stat", &e))?;
    if !meta.is_dir() {
        return Err(HelperError::invalid_params("path is not a directory"));
    }
    ensure_git_supported().await?;
    let inherited = Inherited::from_process();
    let base = GitEnv::base(&inherited);
    let out = run_git(&dir, &base, &["rev-parse", "--show-toplevel"], 64 * 1024).await?;
    if !out.success {
        return Err(git_failed("rev-parse", &out));
    }
    let top = String::from_utf8_lossy(&out.stdout)
        .trim_end_matches('\n')
        .to_owned();
    if top.is_empty() {
        // Inside a .git directory or a bare repository: no work tree.
        return Err(HelperError::new(
            ErrorCode::NotARepository,
            "not inside a git work tree",
        ));
    }
    let top = std::fs::canonicalize(&top).map_err(|e| HelperError::io("repository root", &e))?;
    if !ctx.sandbox.is_allowed(&top) {
        return Err(HelperError::new(
            ErrorCode::PathNotAllowed,
            "the repository root lies outside the allowed roots",
        ));
    }
    if let Some(reason) = ctx.sandbox.deny_rules().denied_by(&top) {
        return Err(HelperError::new(
            ErrorCode::PathDenied,
            format!("the repository root is in {reason}, which the anchor never exposes"),
        ));
    }
    // Reading config runs nothing; what it lists is then overridden by name.
    let listed = run_git(
        &top,
        &base,
        &[
            "config",
            "-z",
            "--name-only",
            "--get-regexp",
            neutral::CHOSEN_NAMES_QUERY,
        ],
        GIT_OUTPUT_MAX_BYTES,
    )
    .await?;
    // Exit status 1 is "no such key"; a truncated list could leave a driver out.
    if listed.truncated || (!listed.success && !listed.stderr.is_empty()) {
        return Err(git_failed("config", &listed));
    }
    let user_excludes = user_excludes_file(&inherited).await;
    let env = GitEnv::for_repository(&inherited, &listed.stdout, &user_excludes)
        .map_err(|e| HelperError::new(ErrorCode::TooLarge, e.to_string()))?;
    Ok(Repo { root: top, env })
}

/// Most files one filtered diff names on git's command line (see [`allowed_changed_files`]).
pub const FILTERED_DIFF_MAX_FILES: usize = 1000;

/// The changed files of a repository that holds a denied place (a dotfiles repository at
/// home), without the denied ones, as paths relative to its root; and whether the list was cut.
async fn allowed_changed_files(
    repo: &Repo,
    base: &str,
    deny: &crate::deny::DenyList,
) -> Result<(Vec<String>, bool), HelperError> {
    let out = repo
        .run(
            &["diff", "--name-only", "-z", "--no-renames", base, "--"],
            GIT_OUTPUT_MAX_BYTES,
        )
        .await?;
    if !out.success {
        return Err(git_failed("diff", &out));
    }
    let mut files: Vec<String> = split_records(&out.stdout, 0, out.truncated)
        .into_iter()
        .filter(|f| deny.denied_by(&repo.root.join(f)).is_none())
        .collect();
    let cut = out.truncated || files.len() > FILTERED_DIFF_MAX_FILES;
    files.truncate(FILTERED_DIFF_MAX_FILES);
    Ok((files, cut))
}

/// The user's own `core.excludesFile` (empty when unset), from their global config alone. A
/// global config git cannot read costs the helpers that file, nothing more.
async fn user_excludes_file(inherited: &Inherited) -> Vec<u8> {
    let env = GitEnv::user_config(inherited);
    match run_git(
        Path::new("/"),
        &env,
        neutral::USER_EXCLUDES_QUERY,
        64 * 1024,
    )
    .await
    {
        Ok(out) if out.success && !out.truncated => out.stdout,
        // Exit status 1 with nothing said: not set.
        Ok(out) if !out.success && out.stderr.is_empty() => Vec::new(),
        Ok(out) => {
            tracing::warn!(stderr = %out.stderr, "cannot read the user's core.excludesFile");
            Vec::new()
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the user's core.excludesFile");
            Vec::new()
        }
    }
}

async fn has_head(repo: &Repo) -> Result<bool, HelperError> {
    let out = repo
        .run(&["rev-parse", "--verify", "-q", "HEAD"], 4096)
        .await?;
    Ok(out.success)
}

fn split_records(bytes: &[u8], sep: u8, truncated: bool) -> Vec<String> {
    let mut parts: Vec<&[u8]> = bytes.split(|b| *b == sep).collect();
    // The last piece is empty (terminated) or partial (truncated): drop it either way.
    if truncated || parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    parts
        .into_iter()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect()
}

/// Parses the `## …` branch header of `git status --porcelain=v1 -b`.
fn parse_branch_header(h: &str) -> Value {
    let h = h.trim_start_matches("## ");
    if let Some(b) = h
        .strip_prefix("No commits yet on ")
        .or_else(|| h.strip_prefix("Initial commit on "))
    {
        return json!({"branch": b, "detached": false, "upstream": null, "ahead": 0, "behind": 0, "noCommits": true});
    }
    if h.starts_with("HEAD (no branch)") {
        return json!({"branch": null, "detached": true, "upstream": null, "ahead": 0, "behind": 0, "noCommits": false});
    }
    let (names, track) = match h.split_once(" [") {
        Some((n, t)) => (n, t.trim_end_matches(']')),
        None => (h, ""),
    };
    let (branch, upstream) = match names.split_once("...") {
        Some((b, u)) => (b, Some(u)),
        None => (names, None),
    };
    let mut ahead = 0u64;
    let mut behind = 0u64;
    for part in track.split(", ") {
        if let Some(n) = part.strip_prefix("ahead ") {
            ahead = n.parse().unwrap_or(0);
        } else if let Some(n) = part.strip_prefix("behind ") {
            behind = n.parse().unwrap_or(0);
        }
    }
    json!({"branch": branch, "detached": false, "upstream": upstream, "ahead": ahead, "behind": behind, "noCommits": false})
}

/// Parses `git status --porcelain=v1 -b -z` output.
fn parse_status(out: &[u8], truncated: bool) -> (Value, Vec<Value>, bool) {
    let records = split_records(out, 0, truncated);
    let mut branch = json!({"branch": null, "detached": false, "upstream": null, "ahead": 0, "behind": 0, "noCommits": false});
    let mut files = Vec::new();
    let mut capped = false;
    let mut it = records.into_iter();
    while let Some(rec) = it.next() {
        if rec.starts_with("## ") {
            branch = parse_branch_header(&rec);
            continue;
        }
        if rec.len() < 4 {
            continue;
        }
        let mut chars = rec.chars();
        let x = chars.next().unwrap_or(' ');
        let y = chars.next().unwrap_or(' ');
        let path = rec.get(3..).unwrap_or_default().to_owned();
        let orig = if matches!(x, 'R' | 'C') || matches!(y, 'R' | 'C') {
            it.next()
        } else {
            None
        };
        if files.len() >= STATUS_MAX_FILES {
            capped = true;
            break;
        }
        let kind = match (x, y) {
            ('?', '?') => "untracked",
            ('!', '!') => "ignored",
            (a, b) if a == 'U' || b == 'U' || (a == 'A' && b == 'A') || (a == 'D' && b == 'D') => {
                "conflicted"
            }
            _ => "tracked",
        };
        files.push(json!({
            "path": path,
            "origPath": orig,
            "index": x.to_string(),
            "worktree": y.to_string(),
            "kind": kind,
        }));
    }
    (branch, files, capped)
}

/// `anchor.git.status {path}`.
pub async fn status(ctx: &HelperContext, params: &Value) -> Result<Value, HelperError> {
    let repo = open_repo(ctx, params).await?;
    let root = &repo.root;
    let out = repo
        .run(
            &[
                "status",
                "--porcelain=v1",
                "-b",
                "-z",
                "--untracked-files=normal",
                // Looking into a submodule's work tree runs git there, under its own config.
                "--ignore-submodules=dirty",
            ],
            GIT_OUTPUT_MAX_BYTES,
        )
        .await?;
    if !out.success {
        return Err(git_failed("status", &out));
    }
    let (branch, mut files, capped) = parse_status(&out.stdout, out.truncated);
    let deny = ctx.sandbox.deny_rules();
    if deny.any_inside(root) {
        // Not even the names of what changed in a denied place.
        let denied = |p: &Value| {
            p.as_str()
                .is_some_and(|p| deny.denied_by(&root.join(p)).is_some())
        };
        files.retain(|f| !denied(&f["path"]) && !denied(&f["origPath"]));
    }
    Ok(json!({
        "path": path_string(root),
        "root": path_string(root),
        "branch": branch["branch"],
        "detached": branch["detached"],
        "upstream": branch["upstream"],
        "ahead": branch["ahead"],
        "behind": branch["behind"],
        "noCommits": branch["noCommits"],
        "files": files,
        "clean": files.is_empty() && !out.truncated && !capped,
        "truncated": out.truncated || capped,
    }))
}

/// `anchor.git.diff {path, file?}`: working tree (staged and unstaged) against `HEAD`.
pub async fn diff(ctx: &HelperContext, params: &Value) -> Result<Value, HelperError> {
    let repo = open_repo(ctx, params).await?;
    let root = &repo.root;
    let file = match opt_str(params, "file")? {
        Some(f) if !f.is_empty() => {
            let resolved = ctx.sandbox.resolve_path(&root.join(f))?;
            if !resolved.starts_with(root) {
                return Err(HelperError::invalid_params(
                    "`file` must lie inside the repository",
                ));
            }
            Some(resolved)
        }
        _ => None,
    };
    let base = if has_head(&repo).await? {
        "HEAD".to_owned()
    } else {
        // No commits yet: compare with the empty tree (hashed from empty stdin: no path, so
        // no attributes and no filter).
        let out = repo
            .run(&["hash-object", "-t", "tree", "--stdin"], 4096)
            .await?;
        if !out.success {
            return Err(git_failed("hash-object", &out));
        }
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let file_str = file.as_deref().map(path_string);
    let mut args = vec![
        "diff",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--ignore-submodules=dirty",
        "--submodule=short",
        base.as_str(),
        "--",
    ];
    let deny = ctx.sandbox.deny_rules();
    let mut cut = false;
    let allowed;
    if let Some(f) = &file_str {
        args.push(f);
    } else if deny.any_inside(root) {
        // The whole tree's diff would carry a denied file's changes: name the others instead.
        (allowed, cut) = allowed_changed_files(&repo, &base, &deny).await?;
        if allowed.is_empty() {
            return Ok(json!({
                "path": path_string(root), "root": path_string(root), "file": null,
                "base": base, "diff": "", "truncated": cut,
            }));
        }
        args.extend(allowed.iter().map(String::as_str));
    }
    let out = repo.run(&args, GIT_OUTPUT_MAX_BYTES).await?;
    if !out.success {
        return Err(git_failed("diff", &out));
    }
    Ok(json!({
        "path": path_string(root),
        "root": path_string(root),
        "file": file_str,
        "base": base,
        "diff": String::from_utf8_lossy(&out.stdout),
        "truncated": out.truncated || cut,
    }))
}

/// `anchor.git.log {path, limit?}`.
pub async fn log(ctx: &HelperContext, params: &Value) -> Result<Value, HelperError> {
    let limit = opt_u64(params, "limit")?
        .unwrap_or(LOG_DEFAULT_LIMIT)
        .clamp(1, LOG_MAX_LIMIT);
    let repo = open_repo(ctx, params).await?;
    let root = &repo.root;
    if !has_head(&repo).await? {
        return Ok(json!({
            "path": path_string(root), "root": path_string(root), "commits": [], "truncated": false,
        }));
    }
    let n = format!("-n{}", limit + 1);
    let out = repo
        .run(
            &[
                "log",
                &n,
                "--no-color",
                "--no-show-signature",
                "--format=%H%x1f%h%x1f%an%x1f%ae%x1f%aI%x1f%at%x1f%P%x1f%s%x1e",
            ],
            GIT_OUTPUT_MAX_BYTES,
        )
        .await?;
    if !out.success {
        return Err(git_failed("log", &out));
    }
    let mut commits = Vec::new();
    for rec in split_records(&out.stdout, 0x1e, out.truncated) {
        let rec = rec.trim_start_matches('\n');
        let f: Vec<&str> = rec.split('\x1f').collect();
        let [hash, short, name, email, date, ts, parents, subject] = f.as_slice() else {
            continue;
        };
        commits.push(json!({
            "hash": hash,
            "shortHash": short,
            "author": name,
            "email": email,
            "date": date,
            "timestamp": ts.parse::<i64>().ok(),
            "parents": parents.split(' ').filter(|p| !p.is_empty()).collect::<Vec<_>>(),
            "subject": subject,
        }));
    }
    let more = commits.len() as u64 > limit;
    commits.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(json!({
        "path": path_string(root),
        "root": path_string(root),
        "commits": commits,
        "truncated": more || out.truncated,
    }))
}

/// `anchor.git.branches {path}`: local and remote-tracking branches and the current one.
pub async fn branches(ctx: &HelperContext, params: &Value) -> Result<Value, HelperError> {
    let repo = open_repo(ctx, params).await?;
    let root = &repo.root;
    let cur = repo
        .run(&["symbolic-ref", "--short", "-q", "HEAD"], 4096)
        .await?;
    let current = cur
        .success
        .then(|| String::from_utf8_lossy(&cur.stdout).trim().to_owned())
        .filter(|s| !s.is_empty());
    let format = "--format=%(refname)%1f%(refname:short)%1f%(objectname)%1f%(HEAD)%1f\
                  %(upstream:short)%1f%(committerdate:unix)%1e";
    let out = repo
        .run(
            &["for-each-ref", format, "refs/heads", "refs/remotes"],
            GIT_OUTPUT_MAX_BYTES,
        )
        .await?;
    if !out.success {
        return Err(git_failed("for-each-ref", &out));
    }
    let mut local = Vec::new();
    let mut remote = Vec::new();
    let mut capped = false;
    for rec in split_records(&out.stdout, 0x1e, out.truncated) {
        let rec = rec.trim_start_matches('\n');
        let f: Vec<&str> = rec.split('\x1f').collect();
        let [full, short, oid, head, upstream, ts] = f.as_slice() else {
            continue;
        };
        if full.starts_with("refs/remotes/") && full.ends_with("/HEAD") {
            continue;
        }
        if local.len() + remote.len() >= BRANCHES_MAX {
            capped = true;
            break;
        }
        let entry = json!({
            "name": short,
            "commit": oid,
            "current": *head == "*",
            "upstream": (!upstream.is_empty()).then_some(upstream),
            "timestamp": ts.parse::<i64>().ok(),
        });
        if full.starts_with("refs/heads/") {
            local.push(entry);
        } else {
            remote.push(entry);
        }
    }
    Ok(json!({
        "path": path_string(root),
        "root": path_string(root),
        "current": current,
        "local": local,
        "remote": remote,
        "truncated": out.truncated || capped,
    }))
}

#[cfg(test)]
mod tests {
    use super::super::handle;
    use super::super::test_support::ctx;
    use super::*;
    use orbit_protocol::ErrorCode;

    fn git(dir: &Path, args: &[&str]) {
        let st = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=Test", "-c", "user.email=t@example.com"])
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .status()
            .unwrap();
        assert!(st.success(), "git {args:?} failed");
    }

    fn init_repo(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        git(dir, &["init", "-q", "-b", "main"]);
    }

    #[test]
    fn branch_header_parsing() {
        let v = parse_branch_header("## main...origin/main [ahead 2, behind 3]");
        assert_eq!(v["branch"], "main");
        assert_eq!(v["upstream"], "origin/main");
        assert_eq!(v["ahead"], 2);
        assert_eq!(v["behind"], 3);
        let v = parse_branch_header("## No commits yet on main");
        assert_eq!(v["noCommits"], true);
        assert_eq!(v["branch"], "main");
        let v = parse_branch_header("## HEAD (no branch)");
        assert_eq!(v["detached"], true);
        let v = parse_branch_header("## feature");
        assert_eq!(v["branch"], "feature");
        assert_eq!(v["upstream"], Value::Null);
    }

    #[test]
    fn status_parsing_with_renames() {
        let out = b"## main\0R  new.txt\0old.txt\0 M a b.txt\0?? u.txt\0UU c.txt\0";
        let (b, files, capped) = parse_status(out, false);
        assert_eq!(b["branch"], "main");
        assert!(!capped);
        assert_eq!(files.len(), 4);
        assert_eq!(files[0]["path"], "new.txt");
        assert_eq!(files[0]["origPath"], "old.txt");
        assert_eq!(files[0]["index"], "R");
        assert_eq!(files[1]["path"], "a b.txt");
        assert_eq!(files[1]["worktree"], "M");
        assert_eq!(files[2]["kind"], "untracked");
        assert_eq!(files[3]["kind"], "conflicted");
        // Truncated output: the partial last record is dropped.
        let (_, files, _) = parse_status(b"## main\0 M a.txt\0 M b.t", true);
        assert_eq!(files.len(), 1);
    }

    /// A dotfiles repository at home tracks `.aws/credentials` and has an untracked key in
    /// `.ssh`: status and the whole-tree diff leave them out (name and content), the rest of
    /// the repository's changes still show, and naming the file is refused.
    #[tokio::test]
    async fn a_repository_holding_secret_stores_never_shows_their_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let home = std::fs::canonicalize(tmp.path()).unwrap();
        init_repo(&home);
        std::fs::create_dir_all(home.join(".aws")).unwrap();
        std::fs::write(home.join(".aws/credentials"), "old\n").unwrap();
        std::fs::write(home.join(".bashrc"), "old\n").unwrap();
        git(&home, &["add", "."]);
        git(&home, &["commit", "-q", "-m", "dotfiles"]);
        std::fs::write(home.join(".aws/credentials"), "SECRET-AWS\n").unwrap();
        std::fs::write(home.join(".bashrc"), "new\n").unwrap();
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::write(home.join(".ssh/id_ed25519"), "SECRET-KEY\n").unwrap();
        let c = super::super::test_support::home_ctx(&home);

        let v = handle(&c, "anchor.git.status", &json!({"path": ""}))
            .await
            .unwrap();
        let paths: Vec<&str> = v["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap())
            .collect();
        assert_eq!(paths, vec![".bashrc"], "{v}");

        let v = handle(&c, "anchor.git.diff", &json!({"path": ""}))
            .await
            .unwrap();
        let diff = v["diff"].as_str().unwrap();
        assert!(diff.contains("+new"), "{diff}");
        assert!(!diff.contains("SECRET") && !diff.contains(".aws"), "{diff}");

        let e = handle(
            &c,
            "anchor.git.diff",
            &json!({"path": "", "file": ".aws/credentials"}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::PathDenied);

        // Only denied changes: an empty diff, not an error.
        std::fs::write(home.join(".bashrc"), "old\n").unwrap();
        let v = handle(&c, "anchor.git.diff", &json!({"path": ""}))
            .await
            .unwrap();
        assert_eq!(v["diff"], "", "{v}");
    }

    #[tokio::test]
    async fn not_a_repository() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("plain")).unwrap();
        let c = ctx(tmp.path());
        for m in [
            "anchor.git.status",
            "anchor.git.diff",
            "anchor.git.log",
            "anchor.git.branches",
        ] {
            let e = handle(&c, m, &json!({"path": "plain"})).await.unwrap_err();
            assert_eq!(e.code, ErrorCode::NotARepository, "{m}: {e}");
            assert_eq!(e.code.as_str(), "not_a_repository");
        }
        let e = handle(&c, "anchor.git.status", &json!({"path": "/"}))
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::PathNotAllowed);
    }

    #[tokio::test]
    async fn empty_repo() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("r");
        init_repo(&repo);
        std::fs::write(repo.join("a.txt"), "hello\n").unwrap();
        let c = ctx(tmp.path());
        let v = handle(&c, "anchor.git.status", &json!({"path": "r"}))
            .await
            .unwrap();
        assert_eq!(v["noCommits"], true);
        assert_eq!(v["branch"], "main");
        assert_eq!(v["files"][0]["kind"], "untracked");
        let v = handle(&c, "anchor.git.log", &json!({"path": "r"}))
            .await
            .unwrap();
        assert_eq!(v["commits"].as_array().unwrap().len(), 0);
        git(&repo, &["add", "a.txt"]);
        let v = handle(&c, "anchor.git.diff", &json!({"path": "r"}))
            .await
            .unwrap();
        assert!(v["diff"].as_str().unwrap().contains("+hello"), "{v}");
        let v = handle(&c, "anchor.git.branches", &json!({"path": "r"}))
            .await
            .unwrap();
        assert_eq!(v["current"], "main");
    }

    #[tokio::test]
    async fn repo_with_history() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("r");
        init_repo(&repo);
        std::fs::write(repo.join("a.txt"), "one\n").unwrap();
        std::fs::write(repo.join("b.txt"), "bee\n").unwrap();
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", "first commit"]);
        std::fs::write(repo.join("a.txt"), "one\ntwo\n").unwrap();
        git(&repo, &["commit", "-q", "-am", "second"]);
        git(&repo, &["branch", "feature"]);
        std::fs::create_dir(repo.join("sub")).unwrap();
        std::fs::write(repo.join("a.txt"), "one\ntwo\nthree\n").unwrap();
        std::fs::write(repo.join("b.txt"), "changed\n").unwrap();
        git(&repo, &["mv", "b.txt", "sub/c.txt"]);
        std::fs::write(repo.join("new file.txt"), "n").unwrap();
        let c = ctx(tmp.path());

        // Status works from a subdirectory too; paths are repo-relative.
        let v = handle(&c, "anchor.git.status", &json!({"path": "r/sub"}))
            .await
            .unwrap();
        assert_eq!(v["branch"], "main");
        assert_eq!(v["noCommits"], false);
        assert_eq!(v["truncated"], false);
        let files = v["files"].as_array().unwrap();
        let find = |p: &str| files.iter().find(|f| f["path"] == p).cloned();
        assert_eq!(find("a.txt").unwrap()["worktree"], "M");
        let renamed = find("sub/c.txt").unwrap();
        assert_eq!(renamed["index"], "R");
        assert_eq!(renamed["origPath"], "b.txt");
        assert_eq!(find("new file.txt").unwrap()["kind"], "untracked");

        let v = handle(&c, "anchor.git.diff", &json!({"path": "r"}))
            .await
            .unwrap();
        let d = v["diff"].as_str().unwrap();
        assert!(d.contains("+three"));
        assert!(d.contains("sub/c.txt"));
        let v = handle(
            &c,
            "anchor.git.diff",
            &json!({"path": "r", "file": "a.txt"}),
        )
        .await
        .unwrap();
        let d = v["diff"].as_str().unwrap();
        assert!(d.contains("+three"));
        assert!(!d.contains("c.txt"));
        let e = handle(
            &c,
            "anchor.git.diff",
            &json!({"path": "r", "file": "../../../etc/passwd"}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::PathNotAllowed);

        let v = handle(&c, "anchor.git.log", &json!({"path": "r", "limit": 1}))
            .await
            .unwrap();
        let commits = v["commits"].as_array().unwrap();
        assert_eq!(commits.len(), 1);
        assert_eq!(commits[0]["subject"], "second");
        assert_eq!(v["truncated"], true);
        assert_eq!(commits[0]["hash"].as_str().unwrap().len(), 40);
        let v = handle(&c, "anchor.git.log", &json!({"path": "r"}))
            .await
            .unwrap();
        assert_eq!(v["commits"].as_array().unwrap().len(), 2);
        assert_eq!(v["commits"][1]["subject"], "first commit");
        assert_eq!(v["commits"][1]["parents"].as_array().unwrap().len(), 0);
        assert_eq!(v["truncated"], false);

        let v = handle(&c, "anchor.git.branches", &json!({"path": "r"}))
            .await
            .unwrap();
        assert_eq!(v["current"], "main");
        let names: Vec<&str> = v["local"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, vec!["feature", "main"]);
        assert_eq!(v["local"][1]["current"], true);
        assert_eq!(v["remote"].as_array().unwrap().len(), 0);
    }

    /// Runs the fixture's own git (not the helper's) and returns its stdout.
    fn git_out(dir: &Path, args: &[&str], stdin: &str) -> String {
        use std::io::Write;
        let mut child = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "git {args:?} failed");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// A program a hostile configuration names: it leaves `markers/<name>` behind and passes
    /// its input through, so that as a filter it would even give the right answer.
    fn marker_program(bin: &Path, markers: &Path, name: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let path = bin.join(name);
        let marker = markers.join(name);
        std::fs::write(
            &path,
            format!("#!/bin/sh\ntouch '{}'\ncat\n", marker.display()),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.display().to_string()
    }

    /// An mtime unlike the one the index recorded, with the same content: git must read the
    /// file (through its clean filter) to know it is unchanged.
    fn make_stat_dirty(path: &Path) {
        let old = std::time::UNIX_EPOCH + Duration::from_secs(978_307_200);
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }

    fn markers_left(markers: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(markers)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A repository (the kind unpacked from an archive, or a nested one a clone brought along)
    /// whose own configuration names a program for everything git can be made to run: filters
    /// picked by `.gitattributes` (one driver only defined in an included file, one whose name
    /// has a `=`), signature checkers for signed-looking commits, diff drivers, hooks, pager,
    /// fsmonitor, editor, askpass, ssh, credential helper, and a submodule with a filter of its
    /// own; one filter driver's name is not even UTF-8. Every `anchor.git.*` helper runs against it: no program may run, and every answer
    /// must still be right.
    #[tokio::test]
    async fn hostile_repository_configuration_runs_no_program_in_any_git_helper() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let bin = outside.path().join("bin");
        let markers = outside.path().join("markers");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&markers).unwrap();
        let prog = |name: &str| marker_program(&bin, &markers, name);
        let repo = tmp.path().join("r");
        init_repo(&repo);

        // The last driver's name is not UTF-8: git takes any byte there.
        std::fs::write(
            repo.join(".gitattributes"),
            b"*.txt filter=evil diff=evil\n*.bin filter=e=q\n*.inc filter=fromincl\n\
              *.lat filter=caf\xe9\n",
        )
        .unwrap();
        for (name, content) in [
            ("a.txt", "hello\n"),
            ("b.bin", "bee\n"),
            ("c.inc", "sea\n"),
            ("d.lat", "latin\n"),
            ("s.txt", "same\n"),
            ("s.bin", "same\n"),
            ("s.inc", "same\n"),
            ("s.lat", "same\n"),
        ] {
            std::fs::write(repo.join(name), content).unwrap();
        }
        // A submodule (a nested repository recorded as a gitlink) with a filter of its own.
        let sub = repo.join("sub");
        init_repo(&sub);
        std::fs::write(sub.join("s.txt"), "same\n").unwrap();
        git(&sub, &["add", "s.txt"]);
        git(&sub, &["commit", "-q", "-m", "sub"]);
        std::fs::write(sub.join(".gitattributes"), "*.txt filter=subevil\n").unwrap();
        git(
            &sub,
            &["config", "filter.subevil.clean", &prog("sub-clean")],
        );
        git(&repo, &["-c", "advice.addEmbeddedRepo=false", "add", "."]);
        git(&repo, &["commit", "-q", "-m", "first"]);

        // Commits carrying OpenPGP, SSH and X.509 signature headers (git only asks the
        // checker; whether the signature is valid does not matter).
        let tree = git_out(&repo, &["rev-parse", "HEAD^{tree}"], "");
        let mut head = git_out(&repo, &["rev-parse", "HEAD"], "");
        for (kind, begin, end) in [
            (
                "pgp",
                "-----BEGIN PGP SIGNATURE-----",
                "-----END PGP SIGNATURE-----",
            ),
            (
                "ssh",
                "-----BEGIN SSH SIGNATURE-----",
                "-----END SSH SIGNATURE-----",
            ),
            (
                "x509",
                "-----BEGIN SIGNED MESSAGE-----",
                "-----END SIGNED MESSAGE-----",
            ),
        ] {
            let commit = format!(
                "tree {tree}\nparent {head}\nauthor T <t@example.com> 1700000000 +0000\n\
                 committer T <t@example.com> 1700000000 +0000\ngpgsig {begin}\n AAAA\n {end}\n\n\
                 {kind} signed\n"
            );
            head = git_out(
                &repo,
                &["hash-object", "-t", "commit", "-w", "--stdin"],
                &commit,
            );
        }
        git(&repo, &["update-ref", "refs/heads/main", &head]);

        let allowed_signers = outside.path().join("allowed_signers");
        std::fs::write(&allowed_signers, "").unwrap();
        let included = repo.join(".git").join("more.cfg");
        let hooks = outside.path().join("hooks");
        std::fs::create_dir_all(&hooks).unwrap();
        for hook in ["post-index-change", "reference-transaction", "pre-commit"] {
            let p = prog(&format!("hook-{hook}"));
            std::fs::copy(&p, hooks.join(hook)).unwrap();
            std::fs::copy(&p, repo.join(".git/hooks").join(hook)).unwrap();
        }
        let hooks = hooks.display().to_string();
        let signers = allowed_signers.display().to_string();
        let include = included.display().to_string();
        let mut settings = vec![
            ("filter.evil.clean", prog("clean")),
            ("filter.evil.smudge", prog("smudge")),
            ("filter.evil.required", "true".to_owned()),
            ("filter.e=q.process", prog("process")),
            ("diff.evil.command", prog("diff-command")),
            ("diff.evil.textconv", prog("textconv")),
            ("diff.external", prog("external-diff")),
            ("log.showSignature", "true".to_owned()),
            ("gpg.program", prog("gpg")),
            ("gpg.ssh.program", prog("gpg-ssh")),
            ("gpg.ssh.allowedSignersFile", signers),
            ("core.pager", prog("pager")),
            ("pager.log", prog("pager-log")),
            ("core.fsmonitor", prog("fsmonitor")),
            ("core.editor", prog("editor")),
            ("core.askPass", prog("askpass")),
            ("core.sshCommand", prog("ssh-command")),
            ("credential.helper", prog("credential")),
            ("diff.ignoreSubmodules", "none".to_owned()),
            ("submodule.recurse", "true".to_owned()),
            ("status.submoduleSummary", "true".to_owned()),
            ("include.path", include),
        ];
        for (key, value) in &settings {
            git(&repo, &["config", key, value]);
        }
        // Set apart: the included file names a filter driver and the X.509 checker.
        settings.clear();
        for (key, value) in [
            ("filter.fromincl.clean", prog("included-clean")),
            ("gpg.x509.program", prog("gpg-x509")),
        ] {
            git(
                &repo,
                &["config", "-f", &included.display().to_string(), key, &value],
            );
        }
        git(&repo, &["config", "core.hooksPath", &hooks]);
        let mut config = std::fs::File::options()
            .append(true)
            .open(repo.join(".git/config"))
            .unwrap();
        // The section header names the driver with the byte 0xe9, which is not UTF-8.
        let mut latin = b"[filter \"caf\xe9\"]\n\tclean = ".to_vec();
        latin.extend_from_slice(prog("latin-clean").as_bytes());
        latin.push(b'\n');
        std::io::Write::write_all(&mut config, &latin).unwrap();

        for name in ["a.txt", "b.bin", "c.inc", "d.lat"] {
            let mut f = std::fs::File::options()
                .append(true)
                .open(repo.join(name))
                .unwrap();
            std::io::Write::write_all(&mut f, b"changed\n").unwrap();
        }
        let dirty_all = || {
            for name in ["s.txt", "s.bin", "s.inc", "s.lat", "sub/s.txt"] {
                make_stat_dirty(&repo.join(name));
            }
        };
        let c = ctx(tmp.path());
        let mut ran = Vec::new();
        let mut call = async |method: &str, params: Value| {
            dirty_all();
            let answer = handle(&c, method, &params).await;
            let left = markers_left(&markers);
            if !left.is_empty() {
                ran.push(format!("{method} {params}: {left:?}"));
                for name in left {
                    std::fs::remove_file(markers.join(name)).unwrap();
                }
            }
            answer.unwrap_or_else(|e| panic!("{method} {params}: {e}"))
        };

        let status = call("anchor.git.status", json!({"path": "r"})).await;
        let diff = call("anchor.git.diff", json!({"path": "r"})).await;
        let mut file_diffs = Vec::new();
        for (name, old) in [
            ("a.txt", "hello"),
            ("b.bin", "bee"),
            ("c.inc", "sea"),
            ("d.lat", "latin"),
        ] {
            let v = call("anchor.git.diff", json!({"path": "r", "file": name})).await;
            file_diffs.push((name, old, v));
        }
        let log = call("anchor.git.log", json!({"path": "r"})).await;
        let branches = call("anchor.git.branches", json!({"path": "r"})).await;
        let sub_status = call("anchor.git.status", json!({"path": "r/sub"})).await;
        assert!(
            ran.is_empty(),
            "programs the repository named ran:\n{}",
            ran.join("\n")
        );

        // Status: the three changed files, and neither the stat-dirty unchanged ones nor the
        // submodule (whose work tree git is not asked about: that would run its own git).
        let mut changed: Vec<(String, String)> = status["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let state = format!(
                    "{}{}",
                    f["index"].as_str().unwrap(),
                    f["worktree"].as_str().unwrap()
                );
                (f["path"].as_str().unwrap().to_owned(), state)
            })
            .collect();
        changed.sort();
        let modified = |p: &str| (p.to_owned(), " M".to_owned());
        assert_eq!(
            changed,
            vec![
                modified("a.txt"),
                modified("b.bin"),
                modified("c.inc"),
                modified("d.lat")
            ],
            "{status}"
        );
        assert_eq!(status["branch"], "main");

        let d = diff["diff"].as_str().unwrap();
        for name in ["a.txt", "b.bin", "c.inc", "d.lat"] {
            assert!(d.contains(&format!("+++ b/{name}")), "{name}: {d}");
        }
        assert_eq!(d.matches("+changed").count(), 4, "{d}");
        assert!(!d.contains("s.txt") && !d.contains("sub"), "{d}");
        for (name, old, v) in file_diffs {
            let d = v["diff"].as_str().unwrap();
            assert!(d.contains(&format!(" {old}\n+changed\n")), "{name}: {d}");
        }

        let subjects: Vec<&str> = log["commits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["subject"].as_str().unwrap())
            .collect();
        assert_eq!(
            subjects,
            ["x509 signed", "ssh signed", "pgp signed", "first"],
            "{log}"
        );
        assert_eq!(log["commits"][0]["hash"], head.as_str());

        assert_eq!(branches["current"], "main");
        assert_eq!(branches["local"][0]["commit"], head.as_str());

        let sub_root = path_string(&std::fs::canonicalize(&sub).unwrap());
        assert_eq!(sub_status["root"], sub_root);
        assert_eq!(
            sub_status["files"][0]["path"], ".gitattributes",
            "{sub_status}"
        );
    }

    /// A repository that says it is a partial clone, with an object missing: git would fetch
    /// the object from the promisor remote, and the repository picks the transport, here
    /// `ext::`, which runs any command. The helpers report the missing object and fetch nothing.
    #[tokio::test]
    async fn missing_object_of_a_partial_clone_is_never_fetched_by_a_transport_program() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let markers = outside.path().join("markers");
        std::fs::create_dir_all(&markers).unwrap();
        let transport = marker_program(outside.path(), &markers, "transport");
        // As a transport it must not wait for input, or git would wait for it.
        std::fs::write(
            &transport,
            format!(
                "#!/bin/sh\ntouch '{}'\n",
                markers.join("transport").display()
            ),
        )
        .unwrap();
        let repo = tmp.path().join("p");
        init_repo(&repo);
        std::fs::write(repo.join("f.txt"), "one\n").unwrap();
        git(&repo, &["add", "f.txt"]);
        git(&repo, &["commit", "-q", "-m", "only"]);
        let blob = git_out(&repo, &["rev-parse", "HEAD:f.txt"], "");
        std::fs::remove_file(repo.join(".git/objects").join(&blob[..2]).join(&blob[2..])).unwrap();
        for (key, value) in [
            ("core.repositoryFormatVersion", "1".to_owned()),
            ("extensions.partialClone", "origin".to_owned()),
            ("remote.origin.promisor", "true".to_owned()),
            ("remote.origin.url", format!("ext::{transport}")),
            ("protocol.ext.allow", "always".to_owned()),
            ("protocol.allow", "always".to_owned()),
        ] {
            git(&repo, &["config", key, &value]);
        }
        std::fs::write(repo.join("f.txt"), "two\n").unwrap();
        let c = ctx(tmp.path());

        let e = handle(&c, "anchor.git.diff", &json!({"path": "p"}))
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::IoError, "{e}");
        assert!(e.message.contains(&blob), "names the missing object: {e}");
        assert_eq!(markers_left(&markers), Vec::<String>::new(), "diff");
        let v = handle(&c, "anchor.git.status", &json!({"path": "p"}))
            .await
            .unwrap();
        assert_eq!(v["files"][0]["path"], "f.txt", "{v}");
        assert_eq!(v["files"][0]["worktree"], "M", "{v}");
        let v = handle(&c, "anchor.git.log", &json!({"path": "p"}))
            .await
            .unwrap();
        assert_eq!(v["commits"][0]["subject"], "only", "{v}");
        assert_eq!(markers_left(&markers), Vec::<String>::new());
    }

    /// Of the user's own git config only the ignore file is kept; their pager and filters,
    /// like everything in `~/.gitconfig`, are not read.
    #[tokio::test]
    async fn the_users_own_ignore_file_still_applies_but_nothing_else_of_their_config() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        let markers = home.path().join("markers");
        std::fs::create_dir(&markers).unwrap();
        let filter = marker_program(home.path(), &markers, "user-filter");
        std::fs::write(home.path().join("global-ignore"), "*.swp\n").unwrap();
        std::fs::write(
            home.path().join(".gitconfig"),
            format!(
                "[core]\n\texcludesFile = ~/global-ignore\n\tattributesFile = ~/attrs\n\
                 [filter \"mine\"]\n\tclean = {filter}\n"
            ),
        )
        .unwrap();
        std::fs::write(home.path().join("attrs"), "*.txt filter=mine\n").unwrap();
        let repo = tmp.path().join("r");
        init_repo(&repo);
        std::fs::write(repo.join("kept.txt"), "one\n").unwrap();
        git(&repo, &["add", "kept.txt"]);
        git(&repo, &["commit", "-q", "-m", "one"]);
        make_stat_dirty(&repo.join("kept.txt"));
        std::fs::write(repo.join("new.txt"), "new\n").unwrap();
        std::fs::write(repo.join("junk.swp"), "junk\n").unwrap();

        let home_dir = home.path().as_os_str().to_owned();
        let inherited = Inherited::from_lookup(|name| match name {
            "HOME" => Some(home_dir.clone()),
            "PATH" => std::env::var_os("PATH"),
            _ => None,
        });
        let excludes = user_excludes_file(&inherited).await;
        let want = format!("{}/global-ignore\n", home.path().display());
        assert_eq!(String::from_utf8_lossy(&excludes), want);
        let env = GitEnv::for_repository(&inherited, b"", &excludes).unwrap();
        let out = run_git(
            &repo,
            &env,
            &["status", "--porcelain=v1", "-z", "--untracked-files=normal"],
            64 * 1024,
        )
        .await
        .unwrap();
        assert!(out.success, "{}", out.stderr);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "?? new.txt\0");
        assert_eq!(markers_left(&markers), Vec::<String>::new());
    }

    /// Every client-named value reaches git as a path after `-C` or `--`, made absolute by the
    /// sandbox, so none can be read as an option: `--output=` would make `git diff` write a
    /// file, `-c core.pager=…` or `-c diff.external=…` run a program. Paths are literal
    /// (`--literal-pathspecs`), so neither a glob nor pathspec magic widens a `file`.
    #[tokio::test]
    async fn arguments_starting_with_a_dash_are_paths_never_git_options() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("r");
        init_repo(&repo);
        // Files whose names are git options, tracked and then changed: legitimate paths.
        // Also names that are pathspec magic or globs: `*` must not stand for every file.
        let dashed = [
            "--output=written-by-git",
            "-c",
            "--no-index",
            "*",
            ":(glob)*",
            ":!-c",
        ];
        for name in dashed {
            std::fs::write(repo.join(name), "before\n").unwrap();
        }
        git(&repo, &["add", "--", "."]);
        git(&repo, &["commit", "-q", "-m", "dashed names"]);
        for name in dashed {
            std::fs::write(repo.join(name), "after\n").unwrap();
        }
        std::fs::create_dir(repo.join("--work-tree=..")).unwrap();
        let c = ctx(tmp.path());
        let marker = outside.path().join("pwned");
        let marker_arg = marker.display().to_string();

        // A dashed name that is a file of the repository is diffed as that file.
        for name in dashed {
            let v = handle(&c, "anchor.git.diff", &json!({"path": "r", "file": name}))
                .await
                .unwrap();
            let d = v["diff"].as_str().unwrap();
            assert!(d.contains("-before") && d.contains("+after"), "{name}: {d}");
            assert!(d.contains(&format!("b/{name}")), "{name}: {d}");
            assert_eq!(d.matches("diff --git").count(), 1, "{name}: {d}");
        }
        assert!(
            !repo.join("written-by-git").exists(),
            "--output= was an option"
        );

        // Option-shaped values that are no file: not found, or (a missing name directly in
        // the repository) the empty diff of that path. Either way git ran nothing.
        let top = std::fs::canonicalize(&repo).unwrap();
        for file in [
            format!("--output={marker_arg}"),
            format!("-c core.pager=touch {marker_arg}"),
            format!("-cdiff.external=touch {marker_arg}"),
            "--ext-diff".to_string(),
            "--output=written-too".to_string(),
        ] {
            match handle(&c, "anchor.git.diff", &json!({"path": "r", "file": file})).await {
                Err(e) => assert_eq!(e.code, ErrorCode::NotFound, "{file}: {e}"),
                Ok(v) => {
                    assert_eq!(v["file"], path_string(&top.join(&file)), "{file}: {v}");
                    assert_eq!(v["diff"], "", "{file}: {v}");
                }
            }
        }
        assert!(
            !repo.join("written-too").exists(),
            "--output= was an option"
        );
        for path in [
            "-C".to_string(),
            format!("--git-dir={marker_arg}"),
            format!("-c core.fsmonitor=touch {marker_arg}"),
            "--exec-path".to_string(),
        ] {
            for m in ["anchor.git.status", "anchor.git.log", "anchor.git.branches"] {
                let e = handle(&c, m, &json!({"path": path})).await.unwrap_err();
                assert_eq!(e.code, ErrorCode::NotFound, "{m} {path}: {e}");
            }
        }
        // A directory named like an option is a directory of the work tree.
        let v = handle(
            &c,
            "anchor.git.status",
            &json!({"path": "r/--work-tree=.."}),
        )
        .await
        .unwrap();
        assert_eq!(
            v["root"],
            path_string(&std::fs::canonicalize(&repo).unwrap())
        );
        // `limit` is a number, never text that could be an option.
        let e = handle(&c, "anchor.git.log", &json!({"path": "r", "limit": "-1"}))
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParams);
        assert!(!marker.exists(), "no option reached git");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }
}

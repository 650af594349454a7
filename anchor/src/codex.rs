//! The `codex app-server` child process: spawning it, and carrying its stdio.
//!
//! Each spawn gets a generation number; everything it reports carries it, so lines or an exit
//! from a previous process can never be mistaken for the current one's. Stdout lines arrive in
//! order and always before the exit report.
//!
//! Codex runs in a process group of its own, and a kill goes to the whole group: `codex` on
//! `PATH` is often npm's Node wrapper, which on Node versions without `process.execve` runs the
//! real binary as a child sharing our pipes, so killing the wrapper alone would leave that child
//! running. The exit is noticed when the process ends, not when its stdout closes (a leftover
//! grandchild may keep the pipe open); output still in the pipe is read for up to
//! [`DRAIN_AFTER_EXIT`] first. Both directions go through bounded channels: a
//! slow consumer stalls codex's stdout pipe (backpressure) instead of growing memory. Lines
//! read from stdout are also bounded in bytes ([`LineBudget`]): while the lines read and not
//! yet handled by the event loop hold [`QUEUED_LINE_BYTES`], stdout is not read.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

use crate::lines::{lines, LineError};

/// Longest stdout line kept. Orbit relays at most 1 MiB per frame; longer lines (up to this)
/// are still read whole so the bridge can answer their requester with a clear error.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// Bytes of stdout lines read and not yet handled, at most ([`LineBudget`]).
pub const QUEUED_LINE_BYTES: usize = 16 * 1024 * 1024;

/// A byte budget for codex's stdout lines between the reader and the event loop. The reader
/// takes a line's length from it before handing the line on, and waits (not reading stdout, so
/// codex blocks on its pipe) while the budget is spent; the budget comes back when the event
/// loop drops the line's [`LinePermit`]. A line longer than the whole budget takes all of it.
#[derive(Debug, Clone)]
pub struct LineBudget {
    bytes: Arc<Semaphore>,
    total: u32,
}

/// The share of a [`LineBudget`] one line holds until it is dropped.
pub type LinePermit = OwnedSemaphorePermit;

impl LineBudget {
    pub fn new(total: usize) -> LineBudget {
        let total = u32::try_from(total.clamp(1, Semaphore::MAX_PERMITS)).unwrap_or(u32::MAX);
        LineBudget {
            bytes: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    /// Waits until `len` bytes (at most the whole budget) are free, and takes them.
    async fn take(&self, len: usize) -> Option<LinePermit> {
        let cost = u32::try_from(len).unwrap_or(u32::MAX).clamp(1, self.total);
        self.bytes.clone().acquire_many_owned(cost).await.ok()
    }
}

impl Default for LineBudget {
    fn default() -> Self {
        LineBudget::new(QUEUED_LINE_BYTES)
    }
}

/// How long stdout is still read after codex has exited.
pub const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(1);

/// Longest stderr line kept whole (it is only logged).
const MAX_STDERR_LINE: usize = 64 * 1024;

/// What the process reports to the anchor's event loop.
#[derive(Debug)]
pub enum CodexOutput {
    /// A line, holding its share of the [`LineBudget`] until dropped.
    Line(String, LinePermit),
    /// A line that could not be delivered: over [`MAX_LINE_BYTES`] (skipped without being kept
    /// in memory) or not UTF-8.
    Lost(LineError),
    /// The process ended (`None`: killed by a signal). Sent after its last line.
    Exited(Option<i32>),
}

/// A running codex: its stdin sender, pid and a way to kill it.
#[derive(Debug)]
pub struct CodexProcess {
    pub generation: u64,
    pub pid: Option<u32>,
    stdin: mpsc::Sender<String>,
    kill: Option<oneshot::Sender<()>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error(
        "cannot start `{program} app-server`: {source}. Install codex (`npm install -g @openai/codex`) \
         or point the anchor at it with --codex PATH (or ORBIT_CODEX)"
    )]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("codex started without {0}")]
    MissingPipe(&'static str),
}

impl CodexProcess {
    /// Starts `program app-server` with piped stdio. `events` receives `(generation, output)`.
    /// The child is killed if the anchor drops it without reaping it (`kill_on_drop`).
    pub fn spawn(
        program: &Path,
        generation: u64,
        events: mpsc::Sender<(u64, CodexOutput)>,
        budget: LineBudget,
    ) -> Result<CodexProcess, SpawnError> {
        let mut command = Command::new(program);
        // The anchor's own RUST_LOG is not meant for codex (at `info` codex traces every
        // request to stderr); ORBIT_CODEX_RUST_LOG sets codex's on purpose.
        command
            .arg("app-server")
            .env_remove("RUST_LOG")
            .process_group(0);
        if let Some(filter) = std::env::var_os("ORBIT_CODEX_RUST_LOG") {
            command.env("RUST_LOG", filter);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| SpawnError::Spawn {
                program: program.display().to_string(),
                source,
            })?;
        let pid = child.id();
        let stdin = child.stdin.take().ok_or(SpawnError::MissingPipe("stdin"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or(SpawnError::MissingPipe("stdout"))?;
        let stderr = child
            .stderr
            .take()
            .ok_or(SpawnError::MissingPipe("stderr"))?;

        let (stdin_tx, mut stdin_rx) = mpsc::channel::<String>(256);
        tokio::spawn(async move {
            let mut stdin = stdin;
            while let Some(line) = stdin_rx.recv().await {
                let written = async {
                    stdin.write_all(line.as_bytes()).await?;
                    stdin.write_all(b"\n").await?;
                    stdin.flush().await
                };
                if let Err(e) = written.await {
                    tracing::debug!(error = %e, "codex stdin closed");
                    break;
                }
            }
            // Dropping stdin closes it: codex exits by itself on EOF.
        });

        tokio::spawn(forward_stderr(stderr));

        let (kill_tx, kill_rx) = oneshot::channel();
        tokio::spawn(pump_stdout(
            child, stdout, generation, events, budget, kill_rx,
        ));

        Ok(CodexProcess {
            generation,
            pid,
            stdin: stdin_tx,
            kill: Some(kill_tx),
        })
    }

    /// Queues one line for codex's stdin; waits while the queue is full (backpressure).
    /// An error means codex's stdin is gone (it is exiting; its exit report follows).
    pub async fn send(&self, line: String) -> Result<(), String> {
        self.stdin.send(line).await.map_err(|e| e.0)
    }

    /// Kills the process (SIGKILL). Its exit is still reported through the events channel.
    pub fn kill(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
    }

    /// Closes stdin, which asks codex to exit on its own.
    pub fn close_stdin(&mut self) {
        let (closed, _) = mpsc::channel(1);
        self.stdin = closed;
    }
}

/// Reads stdout until codex has exited (and its output is drained), reaps it, and reports the
/// exit after its last line.
async fn pump_stdout(
    mut child: Child,
    stdout: tokio::process::ChildStdout,
    generation: u64,
    events: mpsc::Sender<(u64, CodexOutput)>,
    budget: LineBudget,
    mut kill: oneshot::Receiver<()>,
) {
    let pid = child.id();
    let mut lines = lines(stdout, MAX_LINE_BYTES);
    let mut killing = false;
    let mut exited: Option<Option<i32>> = None;
    let mut drain_until = tokio::time::Instant::now();
    loop {
        let next = tokio::select! {
            biased;
            _ = &mut kill, if !killing => {
                killing = true;
                kill_group(pid);
                if let Err(e) = child.start_kill() {
                    tracing::debug!(error = %e, "codex already gone");
                }
                continue;
            }
            status = child.wait(), if exited.is_none() => {
                exited = Some(match status {
                    Ok(status) => status.code(),
                    Err(e) => {
                        tracing::warn!(error = %e, "waiting for codex failed");
                        None
                    }
                });
                // Nothing of codex's may outlive it (a wrapper's child, say).
                kill_group(pid);
                drain_until = tokio::time::Instant::now() + DRAIN_AFTER_EXIT;
                continue;
            }
            _ = tokio::time::sleep_until(drain_until), if exited.is_some() => break,
            next = lines.next() => next,
        };
        let output = match next {
            Some(Ok(Ok(line))) => {
                // Backpressure in bytes: stdout is not read while the budget is spent.
                let Some(permit) = budget.take(line.len()).await else {
                    return;
                };
                CodexOutput::Line(line, permit)
            }
            Some(Ok(Err(lost))) => CodexOutput::Lost(lost),
            None => break,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "reading codex stdout failed");
                break;
            }
        };
        if events.send((generation, output)).await.is_err() {
            // The anchor is shutting down; dropping the child kills it.
            return;
        }
    }
    let code = match exited {
        Some(code) => code,
        None => match child.wait().await {
            Ok(status) => status.code(),
            Err(e) => {
                tracing::warn!(error = %e, "waiting for codex failed");
                None
            }
        },
    };
    let _ = events.send((generation, CodexOutput::Exited(code))).await;
}

/// SIGKILL to codex's whole process group (its pid, see `process_group(0)`).
fn kill_group(pid: Option<u32>) {
    let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) else {
        return;
    };
    match nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    ) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(e) => tracing::warn!(error = %e, "could not kill codex's process group"),
    }
}

/// Codex's stderr goes to the anchor's log, one event per line, so nothing blocks on it. Lines
/// are bounded, and a line that cannot be shown is named instead, so odd bytes cannot stop the
/// relay.
async fn forward_stderr(stderr: tokio::process::ChildStderr) {
    let mut lines = lines(stderr, MAX_STDERR_LINE);
    loop {
        match lines.next().await {
            Some(Ok(Ok(line))) => tracing::info!(target: "codex", "{}", strip_ansi(&line)),
            Some(Ok(Err(lost))) => tracing::info!(target: "codex", "<{lost}, not shown>"),
            None => return,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "codex stderr ended");
                return;
            }
        }
    }
}

/// `line` without ANSI escape sequences (codex colours its log even into a pipe).
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                // Parameters and intermediates, then one final byte in '@'..='~'.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// The codex executable: an explicit path as given, a bare name looked up on `PATH`.
pub fn resolve_program(configured: &Path, path_var: Option<&str>) -> Option<PathBuf> {
    if configured.components().count() > 1 || configured.is_absolute() {
        return configured.is_file().then(|| configured.to_path_buf());
    }
    std::env::split_paths(path_var?)
        .map(|dir| dir.join(configured))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_kill_reaches_codexs_children_and_the_exit_is_reported() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("fake-codex");
        // Like npm's wrapper on old Node: a child that shares the pipes outlives the parent.
        std::fs::write(&script, "#!/bin/sh\nsleep 300 &\necho $!\nwait\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let mut process = CodexProcess::spawn(&script, 7, tx, LineBudget::default()).unwrap();
        let grandchild = match rx.recv().await {
            Some((7, CodexOutput::Line(pid, _))) => pid.trim().to_string(),
            other => panic!("expected the child's pid, got {other:?}"),
        };
        process.kill();
        let exit = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("the exit is reported promptly");
        assert!(
            matches!(exit, Some((7, CodexOutput::Exited(_)))),
            "{exit:?}"
        );
        // Its pipes close before it is a zombie, so the exit report may come a moment early.
        let alive = || {
            std::fs::read_to_string(format!("/proc/{grandchild}/stat"))
                .map(|stat| !stat.contains(") Z"))
                .unwrap_or(false)
        };
        for _ in 0..100 {
            if !alive() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!alive(), "the child of codex was killed with it");
    }

    #[tokio::test]
    async fn an_overlong_stdout_line_is_reported_and_the_next_line_arrives() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("fake-codex");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nhead -c {} /dev/zero | tr '\\0' x\necho\necho '{{}}'\n",
                MAX_LINE_BYTES + 1
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let _process = CodexProcess::spawn(&script, 3, tx, LineBudget::default()).unwrap();
        let mut got = Vec::new();
        while let Some((3, output)) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("codex's output is reported promptly")
        {
            match output {
                CodexOutput::Exited(code) => {
                    assert_eq!(code, Some(0));
                    break;
                }
                CodexOutput::Line(line, _) => got.push(format!("line {line}")),
                CodexOutput::Lost(LineError::TooLong { max, head }) => {
                    assert_eq!(max, MAX_LINE_BYTES);
                    assert!(head.bytes().all(|b| b == b'x'));
                    got.push("too long".into());
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(got, vec!["too long".to_string(), "line {}".to_string()]);
    }

    #[tokio::test]
    async fn codex_output_queue_is_bounded_in_bytes_not_lines() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("fake-codex");
        // 64 lines of 10 KiB: far fewer than the channel holds, far more bytes than the budget.
        std::fs::write(
            &script,
            "#!/bin/sh\nfor i in $(seq 64); do head -c 10240 /dev/zero | tr '\\0' x; echo; done\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let budget = 32 * 1024;
        let (tx, mut rx) = mpsc::channel(256);
        let _process = CodexProcess::spawn(&script, 1, tx, LineBudget::new(budget)).unwrap();
        // The event loop is slow: nothing is handled for a while.
        tokio::time::sleep(Duration::from_millis(700)).await;
        let mut held = Vec::new();
        while let Ok((_, CodexOutput::Line(line, permit))) = rx.try_recv() {
            held.push((line, permit));
        }
        let queued: usize = held.iter().map(|(line, _)| line.len()).sum();
        assert!(!held.is_empty());
        assert!(
            queued <= budget,
            "{} lines, {queued} bytes queued over a {budget}-byte budget",
            held.len()
        );
        // Handled, they free the budget: every line arrives, none is dropped.
        let mut lines = held.len();
        drop(held);
        loop {
            match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
                Ok(Some((_, CodexOutput::Line(line, _)))) => {
                    assert_eq!(line.len(), 10240);
                    lines += 1;
                }
                Ok(Some((_, CodexOutput::Exited(_)))) => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(lines, 64);
    }

    #[test]
    fn ansi_sequences_are_stripped_from_codex_log_lines() {
        assert_eq!(
            strip_ansi("\u{1b}[2m2026\u{1b}[0m \u{1b}[31mERROR\u{1b}[0m x"),
            "2026 ERROR x"
        );
        assert_eq!(strip_ansi("plain"), "plain");
    }

    #[test]
    fn bare_names_are_looked_up_on_path_and_paths_are_taken_as_given() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("codex");
        std::fs::write(&exe, b"").unwrap();
        let path_var = std::env::join_paths([dir.path()]).unwrap();
        assert_eq!(
            resolve_program(Path::new("codex"), path_var.to_str()),
            Some(exe.clone())
        );
        assert_eq!(resolve_program(Path::new("codex"), Some("")), None);
        assert_eq!(resolve_program(&exe, None), Some(exe.clone()));
        assert_eq!(resolve_program(&dir.path().join("missing"), None), None);
    }
}

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
//! slow consumer stalls codex's stdout pipe (backpressure) instead of growing memory.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

use crate::lines::{lines, LineError};

/// Longest stdout line kept. Orbit relays at most 1 MiB per frame; longer lines (up to this)
/// are still read whole so the bridge can answer their requester with a clear error.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// How long stdout is still read after codex has exited.
pub const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(1);

/// Longest stderr line kept whole (it is only logged).
const MAX_STDERR_LINE: usize = 64 * 1024;

/// What the process reports to the anchor's event loop.
#[derive(Debug)]
pub enum CodexOutput {
    Line(String),
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
        tokio::spawn(pump_stdout(child, stdout, generation, events, kill_rx));

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
            Some(Ok(Ok(line))) => CodexOutput::Line(line),
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
        let mut process = CodexProcess::spawn(&script, 7, tx).unwrap();
        let grandchild = match rx.recv().await {
            Some((7, CodexOutput::Line(pid))) => pid.trim().to_string(),
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
        let _process = CodexProcess::spawn(&script, 3, tx).unwrap();
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
                other => got.push(format!("{other:?}")),
            }
        }
        assert_eq!(
            got,
            vec![
                format!(
                    "{:?}",
                    CodexOutput::Lost(LineError::TooLong {
                        max: MAX_LINE_BYTES
                    })
                ),
                format!("{:?}", CodexOutput::Line("{}".into())),
            ]
        );
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

//! Append-only JSONL audit log: one line per helper call and per approval decision.
//!
//! It is rotated by size: a line that would take the file past [`MAX_BYTES`] first moves
//! `audit.jsonl` to `audit.jsonl.1` (`.1` to `.2`, and so on), keeping [`KEEP`] old files; the
//! oldest is deleted. So the log takes at most `(KEEP + 1) × MAX_BYTES` on disk.
//!
//! Entries carry the time (passed in by the caller), the method, the resolved path or a summary of
//! the parameters, and the outcome. File contents are never written here.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// What kind of event an audit line records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// An `anchor.*` helper call.
    Helper,
    /// An approval decision relayed to codex.
    Approval,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Milliseconds since the Unix epoch, supplied by the caller.
    pub time_ms: u64,
    /// Helper call or approval decision.
    pub kind: AuditKind,
    /// JSON-RPC method (e.g. `anchor.file.read`, `item/commandExecution/requestApproval`).
    pub method: String,
    /// The resolved path, when the call named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A summary of the parameters (never file contents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<serde_json::Value>,
    /// `ok`, `error:<code>`, or the approval decision.
    pub outcome: String,
}

/// Size at which the audit log is rotated.
pub const MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Rotated files kept (`audit.jsonl.1` … `audit.jsonl.3`).
pub const KEEP: usize = 3;

/// An audit log file opened for appending (mode 0600 when created), rotated by size.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    file: Mutex<Current>,
}

#[derive(Debug)]
struct Current {
    file: File,
    /// Bytes in the file.
    len: u64,
}

fn open_append(path: &Path) -> io::Result<Current> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let len = file.metadata()?.len();
    Ok(Current { file, len })
}

impl AuditLog {
    /// Opens (creating if needed) the log at `path` in append mode; a new file gets mode 0600.
    /// Parent directories are created.
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        Self::open_with_limit(path, MAX_BYTES, KEEP)
    }

    /// [`AuditLog::open`], rotated at `max_bytes` with `keep` old files.
    pub fn open_with_limit(
        path: impl AsRef<Path>,
        max_bytes: u64,
        keep: usize,
    ) -> io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)?;
            }
        }
        let file = open_append(&path)?;
        Ok(Self {
            path,
            max_bytes,
            keep,
            file: Mutex::new(file),
        })
    }

    /// `audit.jsonl.n`.
    fn rotated(&self, n: usize) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    /// Moves each file one number up (the oldest is overwritten) and starts an empty one.
    fn rotate(&self, current: &mut Current) -> io::Result<()> {
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            for n in (1..self.keep).rev() {
                match std::fs::rename(self.rotated(n), self.rotated(n + 1)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            std::fs::rename(&self.path, self.rotated(1))?;
        }
        *current = open_append(&self.path)?;
        Ok(())
    }

    /// Where the log lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry as a single JSON line.
    pub fn record(&self, entry: &AuditEntry) -> io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut current = self
            .file
            .lock()
            .map_err(|_| io::Error::other("audit log lock poisoned"))?;
        let len = line.len() as u64;
        if current.len > 0 && current.len + len > self.max_bytes {
            self.rotate(&mut current)?;
        }
        current.file.write_all(&line)?;
        current.len += len;
        current.file.flush()
    }

    /// Records a helper call.
    pub fn helper_call(
        &self,
        time_ms: u64,
        method: &str,
        path: Option<String>,
        params: Option<serde_json::Value>,
        outcome: &str,
    ) -> io::Result<()> {
        self.record(&AuditEntry {
            time_ms,
            kind: AuditKind::Helper,
            method: method.to_owned(),
            path,
            params,
            outcome: outcome.to_owned(),
        })
    }

    /// Records an approval decision (`decision` such as `accept` / `decline`).
    pub fn approval(
        &self,
        time_ms: u64,
        method: &str,
        summary: Option<serde_json::Value>,
        decision: &str,
    ) -> io::Result<()> {
        self.record(&AuditEntry {
            time_ms,
            kind: AuditKind::Approval,
            method: method.to_owned(),
            path: None,
            params: summary,
            outcome: decision.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn audit_log_rotates_at_its_size_limit() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("audit.jsonl");
        let line_len = {
            let log = AuditLog::open_with_limit(&p, 1_000, 2).unwrap();
            log.helper_call(0, "anchor.info", None, None, "ok").unwrap();
            std::fs::metadata(&p).unwrap().len()
        };
        // Reopened: the size already written counts.
        let log = AuditLog::open_with_limit(&p, 1_000, 2).unwrap();
        for time_ms in 1..100 {
            log.helper_call(time_ms, "anchor.info", None, None, "ok")
                .unwrap();
        }
        assert!(line_len < 100);
        for path in [p.clone(), log.rotated(1), log.rotated(2)] {
            let len = std::fs::metadata(&path).unwrap().len();
            assert!(len <= 1_000, "{} is {len} bytes", path.display());
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert!(!log.rotated(3).exists(), "only two old files are kept");
        // The newest lines are in the current file, the ones before in `.1`, whole.
        let last = std::fs::read_to_string(&p).unwrap();
        let last: Vec<AuditEntry> = last
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(last.last().unwrap().time_ms, 99);
        let before = std::fs::read_to_string(log.rotated(1)).unwrap();
        let before: Vec<AuditEntry> = before
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(
            before.len() * 2 * (line_len as usize) > 1_000,
            "a rotated file is full"
        );
        assert_eq!(before.last().unwrap().time_ms + 1, last[0].time_ms);
    }

    #[test]
    fn lines_are_appended_and_parse() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("logs/audit.jsonl");
        {
            let log = AuditLog::open(&p).unwrap();
            log.helper_call(1, "anchor.file.read", Some("/home/a/x".into()), None, "ok")
                .unwrap();
            log.approval(
                2,
                "item/commandExecution/requestApproval",
                Some(serde_json::json!({"threadId": "t"})),
                "accept",
            )
            .unwrap();
        }
        // Reopen: appends rather than truncates.
        let log = AuditLog::open(&p).unwrap();
        log.helper_call(3, "anchor.git.status", None, None, "error:not_a_repository")
            .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let entries: Vec<AuditEntry> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].time_ms, 1);
        assert_eq!(entries[0].path.as_deref(), Some("/home/a/x"));
        assert_eq!(entries[1].kind, AuditKind::Approval);
        assert_eq!(entries[1].outcome, "accept");
        assert_eq!(entries[2].outcome, "error:not_a_repository");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

//! Append-only JSONL audit log: one line per helper call and per approval decision.
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

/// An audit log file opened for appending (mode 0600 when created).
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl AuditLog {
    /// Opens (creating if needed) the log at `path` in append mode; a new file gets mode 0600.
    /// Parent directories are created.
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)?;
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)?;
        Ok(Self {
            path,
            file: Mutex::new(file),
        })
    }

    /// Where the log lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry as a single JSON line.
    pub fn record(&self, entry: &AuditEntry) -> io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut file = self
            .file
            .lock()
            .map_err(|_| io::Error::other("audit log lock poisoned"))?;
        file.write_all(&line)?;
        file.flush()
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

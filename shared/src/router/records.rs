//! What the router persists, and the snapshot it is rebuilt from after the Durable Object
//! hibernates or restarts. The adapter stores these in the object's SQLite storage.

use serde::{Deserialize, Serialize};

use orbit_protocol::control::AnchorInfo;

/// A connection id: random hex chosen by the adapter when it accepts a socket.
pub type ConnId = String;

/// Who is on the other end of a socket, from its verified access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Peer {
    Client,
    Anchor {
        #[serde(rename = "anchorId")]
        anchor_id: String,
    },
}

/// What Orbit remembers about an anchor between its connections.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchorRecord {
    pub anchor_id: String,
    /// The name the anchor announced in `anchor.hello`.
    pub name: Option<String>,
    pub hostname: Option<String>,
    pub platform: Option<String>,
    pub version: Option<String>,
    pub codex_version: Option<String>,
    pub connected_at: Option<u64>,
    pub last_seen_at: Option<u64>,
    /// The `instance` of the anchor's last hello (absent in records written before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The highest frame number of `instance` that Orbit has handled ([`super::numbered`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub handled: u64,
    /// The number the next frame on the anchor's current connection carries; `None` when that
    /// connection does not number its frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_frame: Option<u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// An anchor paired with the account (from the accounts database), with the name the user
/// gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairedAnchor {
    pub anchor_id: String,
    pub name: String,
}

impl AnchorRecord {
    /// How clients see this anchor. `paired_name` (the user's name for it) wins over the name
    /// the anchor announced.
    pub fn info(&self, paired_name: Option<&str>, online: bool) -> AnchorInfo {
        let name = paired_name
            .map(str::to_string)
            .or_else(|| self.name.clone())
            .or_else(|| self.hostname.clone())
            .unwrap_or_else(|| self.anchor_id.clone());
        AnchorInfo {
            anchor_id: self.anchor_id.clone(),
            name,
            hostname: self.hostname.clone(),
            platform: self.platform.clone(),
            version: self.version.clone(),
            codex_version: self.codex_version.clone(),
            online,
            connected_at: self.connected_at,
            last_seen_at: self.last_seen_at,
        }
    }
}

/// A request from an anchor to clients (an approval, a question), numbered by Orbit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRequest {
    /// The id clients see and answer with (`"orbit-srv:N"`).
    pub key: String,
    pub anchor_id: String,
    /// The anchor's own id for the request, as JSON text.
    pub original_id: String,
    pub thread_id: Option<String>,
    pub seq: Option<u64>,
    /// The frame exactly as clients receive it, for replay.
    pub text: String,
    pub resolved: bool,
    /// When Orbit received it (ms since the epoch), for the age limit. Records written before
    /// the field existed read as 0, so they count as expired.
    #[serde(default)]
    pub created_at: u64,
    /// The client whose answer Orbit forwarded, so that the anchor's error for it (codex
    /// exited first) reaches that client. Kept in memory only: not written by `SettlePending`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<ConnId>,
}

/// A thread Orbit has seen traffic for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadRecord {
    pub thread_id: String,
    /// The anchor the thread lives on, once known.
    pub anchor_id: Option<String>,
    /// The highest `seq` handed out for the thread.
    pub last_seq: u64,
}

/// Everything the router needs to resume after its in-memory state was lost.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Open sockets and who they are (kept in each socket's attachment).
    pub conns: Vec<(ConnId, Peer)>,
    pub subscriptions: Vec<(ConnId, String)>,
    pub threads: Vec<ThreadRecord>,
    pub anchors: Vec<AnchorRecord>,
    pub pending: Vec<PendingRequest>,
}

/// A change the adapter must write to durable storage, in order, before handling the next
/// event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOp {
    /// Append a numbered thread frame to the replay log.
    AppendLog {
        thread_id: String,
        seq: u64,
        text: std::sync::Arc<str>,
    },
    /// Drop the thread's oldest log entries so that at most `max_frames` rows and `max_bytes`
    /// bytes remain ([`super::budget::trim_through`] decides which). The thread's `seq`
    /// high-water mark stays.
    TrimLog {
        thread_id: String,
        max_frames: u64,
        max_bytes: u64,
    },
    BindThread {
        thread_id: String,
        anchor_id: String,
    },
    Subscribe {
        conn: ConnId,
        thread_id: String,
    },
    Unsubscribe {
        conn: ConnId,
        thread_id: String,
    },
    /// The socket is gone: drop its subscriptions.
    ForgetConn {
        conn: ConnId,
    },
    SaveAnchor(AnchorRecord),
    SavePending(PendingRequest),
    /// Mark a pending request answered.
    SettlePending {
        key: String,
    },
    /// Stop remembering a settled request.
    ForgetPending {
        key: String,
    },
}

/// A read of the replay log that failed. The router never answers it as "no frames": the
/// subscriber is told `truncated` and reloads the thread.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("replay log read failed: {0}")]
pub struct LogReadError(pub String);

/// Read access to the replay log. Reads are synchronous: Durable Object SQLite is local.
pub trait ReplayLog {
    /// The thread's frames with `seq > after_seq`, in ascending order.
    fn frames_after(
        &self,
        thread_id: &str,
        after_seq: u64,
    ) -> Result<Vec<(u64, String)>, LogReadError>;
    /// The smallest `seq` still in the thread's log.
    fn oldest_seq(&self, thread_id: &str) -> Result<Option<u64>, LogReadError>;
    /// How many bytes the thread's frames with `seq > after_seq` hold together, without
    /// loading them: a replay is checked against its byte budget before it is read.
    fn bytes_after(&self, thread_id: &str, after_seq: u64) -> Result<u64, LogReadError>;
}

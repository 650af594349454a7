//! The development API (`ORBIT_DEV_API=1` only; `make dev` and the test suites): sessions made
//! without signing in.
//!
//! ```
//! use orbit_protocol::dev::{DevSession, DevSessionRequest};
//! let ask = DevSessionRequest { anchor_name: Some("laptop".into()), ..DevSessionRequest::default() };
//! assert_eq!(serde_json::to_string(&ask).unwrap(), r#"{"anchorName":"laptop"}"#);
//! let answer: DevSession = serde_json::from_str(
//!     r#"{"userId":"u","sessionId":"s","anchorId":"a","accessToken":"eyJ…"}"#,
//! ).unwrap();
//! assert_eq!(answer.anchor_id.as_deref(), Some("a"));
//! ```

use serde::{Deserialize, Serialize};

/// `POST /__dev/session`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevSessionRequest {
    /// An existing user, or none to create one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Pair a new anchor with this name and answer an anchor session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor_name: Option<String>,
    /// Open another session for this existing anchor of the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor_id: Option<String>,
}

/// The answer of `POST /__dev/session`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevSession {
    pub user_id: String,
    pub session_id: String,
    pub anchor_id: Option<String>,
    pub access_token: String,
}

/// `POST /__dev/revoke`: revoke a session or an anchor and close its sockets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevRevokeRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor_id: Option<String>,
}

/// `POST /__dev/stale`: the session's last proof of a way in is forgotten, as if it were older
/// than the step-up window, so a test can see a sensitive change ask for a step-up without
/// waiting minutes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevStaleRequest {
    pub session_id: String,
}

/// `POST /__dev/hub-fault`: the user's hub refuses the next requests to close the sockets of a
/// revoked session or anchor, as an unreachable hub would fail them; and fails its next storage
/// writes and replay-log reads, as a failing storage would.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevHubFaultRequest {
    pub user_id: String,
    /// How many of the next requests to refuse (`0`: none, which ends the fault).
    #[serde(default)]
    pub refuse_revocations: u32,
    /// How many of the next storage writes fail (`0`: none).
    #[serde(default)]
    pub fail_writes: u32,
    /// How many of the next reads of logged frames fail (`0`: none).
    #[serde(default)]
    pub fail_reads: u32,
    /// Delete every row of the replay log now, as a storage that lost them would.
    #[serde(default)]
    pub empty_log: bool,
}

crate::debug_without_secrets!(DevSession { user_id, session_id, anchor_id } secret { access_token });

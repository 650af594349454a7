//! The signed-in user's anchors: list and rename (revoking answers a
//! [`Revocation`](super::Revocation)).
//!
//! ```
//! use orbit_protocol::auth::{AnchorList, AnchorRenameRequest};
//!
//! let list: AnchorList = serde_json::from_str(
//!     r#"{"anchors":[{"anchorId":"a1","name":"laptop","createdAt":1,"lastRefreshAt":null,
//!       "hostname":"mbp.local","platform":"macos-aarch64"}]}"#,
//! ).unwrap();
//! assert_eq!(list.anchors[0].name, "laptop");
//! assert_eq!(list.anchors[0].platform.as_deref(), Some("macos-aarch64"));
//! assert_eq!(
//!     serde_json::to_string(&AnchorRenameRequest { name: Some("desk".into()) }).unwrap(),
//!     r#"{"name":"desk"}"#
//! );
//! ```

use serde::{Deserialize, Serialize};

/// `GET /auth/anchors`: the paired, unrevoked anchors, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct AnchorList {
    pub anchors: Vec<AnchorSummary>,
}

/// One paired anchor, as the accounts database knows it (whether it is online is the hub's
/// knowledge: `orbit.anchors` on the client's socket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct AnchorSummary {
    pub anchor_id: String,
    pub name: String,
    /// Milliseconds since the epoch.
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub created_at: u64,
    /// The latest use of one of its live sessions (a refresh).
    #[cfg_attr(feature = "typescript", ts(type = "number | null"))]
    pub last_refresh_at: Option<u64>,
    /// What the anchor reported about its machine when it asked to be paired (`None` if it
    /// said nothing).
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub platform: Option<String>,
}

/// `PATCH /auth/anchors/{id}`: a new name, 1 to 64 characters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", default)]
pub struct AnchorRenameRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub name: Option<String>,
}

/// The answer of `PATCH /auth/anchors/{id}`: the name as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct AnchorRenamed {
    pub anchor_id: String,
    pub name: String,
}

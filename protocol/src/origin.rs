//! Which anchor a frame came from.
//!
//! A user may pair several anchors, and any of them can send server requests (an approval, a
//! question that asks for a secret) and notifications. Orbit puts a top-level `origin` in every
//! such frame it passes to clients, naming the anchor by the id from its verified token and by
//! the name the user knows it by, so a prompt says which machine asks. The sender's own
//! `origin`, if any, is removed first: only Orbit writes this field.
//!
//! ```
//! use orbit_protocol::origin::Origin;
//! let origin = Origin { anchor_id: "a1".into(), name: "Laptop \"work\"".into() };
//! assert_eq!(origin.to_json(), r#"{"anchorId":"a1","name":"Laptop \"work\""}"#);
//! ```

use serde::{Deserialize, Serialize};

/// The anchor a server request or notification came from, as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Origin {
    /// The anchor's id, from the token it connected with.
    pub anchor_id: String,
    /// The user's name for the anchor (as in `orbit.anchors`).
    pub name: String,
}

impl Origin {
    /// The JSON text of the `origin` member's value.
    pub fn to_json(&self) -> String {
        // Two strings always serialise.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

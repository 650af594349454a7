//! Orbit's control frames: `{"type": "orbit.…" | "anchor.…" | "ping" | "pong", …}`.
//!
//! Inbound frames (from clients and anchors) are parsed strictly: an unknown `type` or a bad
//! shape is an error the router answers with `orbit.error`. Outbound frames are built here so
//! their field names live in one place.
//!
//! ```
//! use orbit_shared::control::{parse_control, ControlFrame};
//! let frame = parse_control(r#"{"type":"orbit.subscribe","threadId":"t1","sinceSeq":4}"#).unwrap();
//! assert_eq!(frame, ControlFrame::Subscribe { thread_id: "t1".into(), since_seq: Some(4) });
//! ```

use serde::{Deserialize, Serialize};

use crate::limits::MAX_ID_BYTES;

/// The exact text of a ping frame; Orbit answers it with [`PONG_FRAME`] without waking the
/// Durable Object (the runtime's WebSocket auto-response matches whole frames).
pub const PING_FRAME: &str = r#"{"type":"ping"}"#;
/// The answer to [`PING_FRAME`].
pub const PONG_FRAME: &str = r#"{"type":"pong"}"#;

/// A control frame received from a client or an anchor.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type")]
pub enum ControlFrame {
    #[serde(rename = "ping")]
    Ping,
    #[serde(rename = "pong")]
    Pong,
    #[serde(rename = "orbit.subscribe", rename_all = "camelCase")]
    Subscribe {
        thread_id: String,
        #[serde(default)]
        since_seq: Option<u64>,
    },
    #[serde(rename = "orbit.unsubscribe", rename_all = "camelCase")]
    Unsubscribe { thread_id: String },
    #[serde(rename = "orbit.list-anchors")]
    ListAnchors,
    #[serde(rename = "anchor.hello")]
    AnchorHello(AnchorHello),
}

/// Metadata an anchor announces about itself after connecting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnchorHello {
    /// Must equal the anchor id in the anchor's token when present.
    #[serde(default)]
    pub anchor_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub platform: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub codex_version: Option<String>,
}

/// Why an inbound control frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("unknown control frame type {0:?}")]
    UnknownType(String),
    #[error("bad {kind} frame: {detail}")]
    BadShape { kind: String, detail: String },
}

impl ControlError {
    /// The `orbit.error` code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            ControlError::UnknownType(_) => "unknown_type",
            ControlError::BadShape { .. } => "bad_frame",
        }
    }
}

const KNOWN_TYPES: &[&str] = &[
    "ping",
    "pong",
    "orbit.subscribe",
    "orbit.unsubscribe",
    "orbit.list-anchors",
    "anchor.hello",
];

/// Parses a control frame whose top-level `type` is a string.
pub fn parse_control(text: &str) -> Result<ControlFrame, ControlError> {
    match serde_json::from_str::<ControlFrame>(text) {
        Ok(frame) => {
            validate(&frame)?;
            Ok(frame)
        }
        Err(err) => {
            #[derive(Deserialize)]
            struct TypeOnly {
                #[serde(rename = "type")]
                kind: String,
            }
            let kind = serde_json::from_str::<TypeOnly>(text)
                .map(|t| t.kind)
                .unwrap_or_default();
            if KNOWN_TYPES.contains(&kind.as_str()) {
                Err(ControlError::BadShape {
                    kind,
                    detail: err.to_string(),
                })
            } else {
                Err(ControlError::UnknownType(kind))
            }
        }
    }
}

fn validate(frame: &ControlFrame) -> Result<(), ControlError> {
    let bad = |kind: &str, detail: &str| ControlError::BadShape {
        kind: kind.to_string(),
        detail: detail.to_string(),
    };
    match frame {
        ControlFrame::Subscribe { thread_id, .. } | ControlFrame::Unsubscribe { thread_id } => {
            if !valid_id(thread_id) {
                return Err(bad(
                    "orbit.subscribe",
                    "threadId must be 1 to 128 bytes of printable text",
                ));
            }
        }
        ControlFrame::AnchorHello(hello) => {
            let fields = [
                &hello.anchor_id,
                &hello.name,
                &hello.hostname,
                &hello.platform,
                &hello.version,
                &hello.codex_version,
            ];
            if fields
                .iter()
                .filter_map(|f| f.as_ref())
                .any(|f| f.len() > 256)
                || hello.capabilities.len() > 64
                || hello.capabilities.iter().any(|c| c.len() > 64)
            {
                return Err(bad("anchor.hello", "a field is longer than allowed"));
            }
        }
        ControlFrame::Ping | ControlFrame::Pong | ControlFrame::ListAnchors => {}
    }
    Ok(())
}

/// Whether `id` is acceptable as a thread or anchor id: non-empty, bounded, no control characters.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_BYTES && !id.chars().any(char::is_control)
}

/// One anchor as listed to clients in `orbit.anchors` and `orbit.anchor-connected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnchorInfo {
    pub anchor_id: String,
    pub name: String,
    pub hostname: Option<String>,
    pub platform: Option<String>,
    pub version: Option<String>,
    pub codex_version: Option<String>,
    pub online: bool,
    /// Milliseconds since the Unix epoch of the current (or last) connection.
    pub connected_at: Option<u64>,
    /// Milliseconds since the Unix epoch when the anchor was last seen connected.
    pub last_seen_at: Option<u64>,
}

/// Which side of Orbit a socket is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SocketRole {
    Client,
    Anchor,
}

/// Control frames Orbit sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type")]
pub enum OutboundControl<'a> {
    #[serde(rename = "orbit.hello", rename_all = "camelCase")]
    Hello {
        role: SocketRole,
        user_id: &'a str,
        connection_id: &'a str,
        server_time: u64,
    },
    #[serde(rename = "orbit.anchors")]
    Anchors { anchors: &'a [AnchorInfo] },
    #[serde(rename = "orbit.anchor-connected")]
    AnchorConnected { anchor: &'a AnchorInfo },
    #[serde(rename = "orbit.anchor-disconnected", rename_all = "camelCase")]
    AnchorDisconnected { anchor_id: &'a str },
    #[serde(rename = "orbit.subscribed", rename_all = "camelCase")]
    Subscribed {
        thread_id: &'a str,
        /// The thread's latest `seq` at the moment live delivery starts.
        seq: u64,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        truncated: bool,
    },
    #[serde(rename = "orbit.error")]
    Error { code: &'a str, message: &'a str },
}

impl OutboundControl<'_> {
    /// The frame as JSON text.
    pub fn to_text(&self) -> String {
        // Serialising these plain structs cannot fail: every field is a string, number, bool or
        // a struct of those.
        serde_json::to_string(self).unwrap_or_else(|_| String::from(r#"{"type":"orbit.error"}"#))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_inbound_type() {
        assert_eq!(parse_control(PING_FRAME), Ok(ControlFrame::Ping));
        assert_eq!(
            parse_control(r#"{"type":"orbit.unsubscribe","threadId":"x"}"#),
            Ok(ControlFrame::Unsubscribe {
                thread_id: "x".into()
            })
        );
        assert_eq!(
            parse_control(r#"{"type":"orbit.list-anchors"}"#),
            Ok(ControlFrame::ListAnchors)
        );
        let hello = parse_control(
            r#"{"type":"anchor.hello","anchorId":"a","name":"n","hostname":"h","platform":"linux","version":"1","capabilities":["x"],"codexVersion":"0.169.0"}"#,
        );
        assert!(
            matches!(hello, Ok(ControlFrame::AnchorHello(h)) if h.name.as_deref() == Some("n"))
        );
    }

    #[test]
    fn unknown_type_and_bad_shape_are_told_apart() {
        assert_eq!(
            parse_control(r#"{"type":"orbit.nope"}"#).map_err(|e| e.code()),
            Err("unknown_type")
        );
        assert_eq!(
            parse_control(r#"{"type":"orbit.subscribe"}"#).map_err(|e| e.code()),
            Err("bad_frame")
        );
        assert_eq!(
            parse_control(r#"{"type":"orbit.subscribe","threadId":"t","sinceSeq":-1}"#)
                .map_err(|e| e.code()),
            Err("bad_frame")
        );
        assert_eq!(
            parse_control(r#"{"type":"orbit.subscribe","threadId":""}"#).map_err(|e| e.code()),
            Err("bad_frame")
        );
        // Unknown extra fields are tolerated, so newer peers can add optional fields.
        assert_eq!(
            parse_control(r#"{"type":"ping","ts":1}"#),
            Ok(ControlFrame::Ping)
        );
    }

    #[test]
    fn outbound_frames_use_wire_names() {
        let text = OutboundControl::Subscribed {
            thread_id: "t",
            seq: 3,
            truncated: false,
        }
        .to_text();
        assert_eq!(
            text,
            r#"{"type":"orbit.subscribed","threadId":"t","seq":3}"#
        );
        let text = OutboundControl::Hello {
            role: SocketRole::Client,
            user_id: "u",
            connection_id: "c",
            server_time: 5,
        }
        .to_text();
        assert_eq!(
            text,
            r#"{"type":"orbit.hello","role":"client","userId":"u","connectionId":"c","serverTime":5}"#
        );
    }
}

//! Orbit's control frames: `{"type": "orbit.…" | "anchor.…" | "ping" | "pong", …}` (SPEC §1).
//!
//! One enum for both directions, so every peer reads and writes the same definition. What a
//! peer may send is narrower than what it may receive: [`Control::parse_inbound`] refuses a
//! frame that only Orbit sends (`orbit.hello` from a client is an unknown type, as before).
//!
//! Each frame's JSON:
//!
//! ```
//! use orbit_protocol::control::{AnchorInfo, Control, SocketRole};
//! use orbit_protocol::ErrorCode;
//!
//! let json = |c: &Control| c.to_text();
//! assert_eq!(json(&Control::Ping), r#"{"type":"ping"}"#);
//! assert_eq!(json(&Control::Pong), r#"{"type":"pong"}"#);
//! assert_eq!(
//!     json(&Control::Hello {
//!         role: SocketRole::Client,
//!         user_id: "u1".into(),
//!         connection_id: "c0ffee".into(),
//!         server_time: 1700000000000,
//!         acks: false,
//!     }),
//!     r#"{"type":"orbit.hello","role":"client","userId":"u1","connectionId":"c0ffee","serverTime":1700000000000}"#
//! );
//! assert_eq!(json(&Control::Ack { up_to: 41 }), r#"{"type":"orbit.ack","upTo":41}"#);
//! assert_eq!(
//!     json(&Control::Subscribe { thread_id: "t1".into(), since_seq: Some(4) }),
//!     r#"{"type":"orbit.subscribe","threadId":"t1","sinceSeq":4}"#
//! );
//! assert_eq!(
//!     json(&Control::Subscribed { thread_id: "t1".into(), seq: 9, truncated: false }),
//!     r#"{"type":"orbit.subscribed","threadId":"t1","seq":9}"#
//! );
//! assert_eq!(
//!     json(&Control::Subscribed { thread_id: "t1".into(), seq: 9, truncated: true }),
//!     r#"{"type":"orbit.subscribed","threadId":"t1","seq":9,"truncated":true}"#
//! );
//! assert_eq!(
//!     json(&Control::Unsubscribe { thread_id: "t1".into() }),
//!     r#"{"type":"orbit.unsubscribe","threadId":"t1"}"#
//! );
//! assert_eq!(json(&Control::ListAnchors), r#"{"type":"orbit.list-anchors"}"#);
//! let laptop = AnchorInfo {
//!     anchor_id: "a1".into(),
//!     name: "laptop".into(),
//!     hostname: Some("laptop.local".into()),
//!     platform: Some("linux".into()),
//!     version: Some("0.1.0".into()),
//!     codex_version: None,
//!     online: true,
//!     connected_at: Some(1700000000000),
//!     last_seen_at: Some(1700000000000),
//! };
//! assert_eq!(
//!     json(&Control::Anchors { anchors: vec![laptop.clone()] }),
//!     r#"{"type":"orbit.anchors","anchors":[{"anchorId":"a1","name":"laptop","hostname":"laptop.local","platform":"linux","version":"0.1.0","codexVersion":null,"online":true,"connectedAt":1700000000000,"lastSeenAt":1700000000000}]}"#
//! );
//! assert!(json(&Control::AnchorConnected { anchor: laptop })
//!     .starts_with(r#"{"type":"orbit.anchor-connected","anchor":{"anchorId":"a1","#));
//! assert_eq!(
//!     json(&Control::AnchorDisconnected { anchor_id: "a1".into() }),
//!     r#"{"type":"orbit.anchor-disconnected","anchorId":"a1"}"#
//! );
//! assert_eq!(
//!     json(&Control::Error { code: ErrorCode::UnknownType, message: "no such frame".into() }),
//!     r#"{"type":"orbit.error","code":"unknown_type","message":"no such frame"}"#
//! );
//! assert_eq!(
//!     json(&Control::Answered {
//!         request_id: "orbit-srv:3".into(),
//!         connection_id: "c0ffee".into(),
//!         device: Some("Firefox on Android".into()),
//!         at: 1700000000000,
//!     }),
//!     r#"{"type":"orbit.answered","requestId":"orbit-srv:3","connectionId":"c0ffee","device":"Firefox on Android","at":1700000000000}"#
//! );
//! let hello = Control::parse_inbound(
//!     r#"{"type":"anchor.hello","anchorId":"a1","name":"laptop","capabilities":["helpers"]}"#,
//! )
//! .unwrap();
//! assert!(matches!(hello, Control::AnchorHello(h) if h.name.as_deref() == Some("laptop")));
//! ```

use serde::{Deserialize, Serialize};

use crate::error_code::ErrorCode;
use crate::limits::MAX_ID_BYTES;

/// The exact text of a ping frame; Orbit answers it with [`PONG_FRAME`] without waking the
/// Durable Object (the runtime's WebSocket auto-response matches whole frames).
pub const PING_FRAME: &str = r#"{"type":"ping"}"#;
/// The answer to [`PING_FRAME`].
pub const PONG_FRAME: &str = r#"{"type":"pong"}"#;

/// A control frame, in either direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(tag = "type")]
pub enum Control {
    /// Liveness, either way.
    #[serde(rename = "ping")]
    Ping,
    #[serde(rename = "pong")]
    Pong,
    /// Orbit → any: the first frame after connecting.
    #[serde(rename = "orbit.hello", rename_all = "camelCase")]
    Hello {
        role: SocketRole,
        user_id: String,
        connection_id: String,
        /// Milliseconds since the Unix epoch.
        server_time: u64,
        /// Set for anchors: Orbit answers the frames the anchor numbers ([`AnchorHello::next_frame`])
        /// with [`Control::Ack`] once it has handled and stored them, so the anchor can keep
        /// what is unacknowledged and send it again after a reconnection.
        #[serde(default, skip_serializing_if = "is_false")]
        #[cfg_attr(feature = "typescript", ts(as = "Option<bool>", optional))]
        acks: bool,
    },
    /// Orbit → anchor: every numbered frame up to `upTo` is handled, and what it caused is
    /// durable; the anchor may forget them.
    #[serde(rename = "orbit.ack", rename_all = "camelCase")]
    Ack { up_to: u64 },
    /// Anchor → Orbit: who the anchor is.
    #[serde(rename = "anchor.hello")]
    AnchorHello(AnchorHello),
    /// Orbit → client: the user's anchors, on connect and on `orbit.list-anchors`.
    #[serde(rename = "orbit.anchors")]
    Anchors { anchors: Vec<AnchorInfo> },
    /// Orbit → clients: an anchor came online or announced itself again.
    #[serde(rename = "orbit.anchor-connected")]
    AnchorConnected { anchor: AnchorInfo },
    /// Orbit → clients: an anchor went offline.
    #[serde(rename = "orbit.anchor-disconnected", rename_all = "camelCase")]
    AnchorDisconnected { anchor_id: String },
    /// Client → Orbit: ask for `orbit.anchors`.
    #[serde(rename = "orbit.list-anchors")]
    ListAnchors,
    /// Client → Orbit: receive a thread's traffic, replaying what followed `sinceSeq` first.
    #[serde(rename = "orbit.subscribe", rename_all = "camelCase")]
    Subscribe {
        thread_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "typescript", ts(optional))]
        since_seq: Option<u64>,
    },
    /// Orbit → client: the subscription is live; `seq` is the thread's latest number, and
    /// `truncated` says the replay could not reach back to `sinceSeq` (reload the thread).
    #[serde(rename = "orbit.subscribed", rename_all = "camelCase")]
    Subscribed {
        thread_id: String,
        seq: u64,
        #[serde(default, skip_serializing_if = "is_false")]
        #[cfg_attr(feature = "typescript", ts(as = "Option<bool>", optional))]
        truncated: bool,
    },
    /// Client → Orbit.
    #[serde(rename = "orbit.unsubscribe", rename_all = "camelCase")]
    Unsubscribe { thread_id: String },
    /// Orbit → any: a frame was refused; the socket stays open.
    #[serde(rename = "orbit.error")]
    Error { code: ErrorCode, message: String },
    /// Orbit → the clients that were shown a server request: a client answered it first (its
    /// answer went to the anchor). Every other copy of the prompt can say who and when.
    #[serde(rename = "orbit.answered", rename_all = "camelCase")]
    Answered {
        /// The request's id as clients saw it (`orbit-srv:N`).
        request_id: String,
        /// The connection that answered; a client compares it with its own `orbit.hello`.
        connection_id: String,
        /// The answering device, as its browser named itself ("Firefox on Android").
        device: Option<String>,
        /// Milliseconds since the Unix epoch.
        at: u64,
    },
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What an anchor announces about itself after connecting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct AnchorHello {
    /// Must equal the anchor id in the anchor's token when present.
    #[serde(default)]
    #[cfg_attr(feature = "typescript", ts(optional = nullable))]
    pub anchor_id: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "typescript", ts(optional = nullable))]
    pub name: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "typescript", ts(optional = nullable))]
    pub hostname: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "typescript", ts(optional = nullable))]
    pub platform: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "typescript", ts(optional = nullable))]
    pub version: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "typescript", ts(as = "Option<Vec<String>>", optional))]
    pub capabilities: Vec<String>,
    #[serde(default)]
    #[cfg_attr(feature = "typescript", ts(optional = nullable))]
    pub codex_version: Option<String>,
    /// Names this run of the anchor process, random at its start and the same on every
    /// connection it makes. A hello with another instance than the last means the process was
    /// restarted: its codex, and every server request that codex had open, are gone.
    #[serde(default)]
    #[cfg_attr(feature = "typescript", ts(optional = nullable))]
    pub instance: Option<String>,
    /// The number of the anchor's next frame on this connection. With it, the anchor numbers
    /// every frame it sends after this hello (pings, pongs and hellos aside) from this value,
    /// one by one, across connections of the same `instance`; a frame sent again after a
    /// reconnection keeps its number, and Orbit drops a number it has already handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub next_frame: Option<u64>,
}

/// One anchor as listed to clients in `orbit.anchors` and `orbit.anchor-connected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
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
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum SocketRole {
    Client,
    Anchor,
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
    pub fn code(&self) -> ErrorCode {
        match self {
            ControlError::UnknownType(_) => ErrorCode::UnknownType,
            ControlError::BadShape { .. } => ErrorCode::BadFrame,
        }
    }
}

/// The types a client or an anchor may send: the wire names of the variants for which
/// [`Control::is_inbound`] holds (a test keeps the two in step).
const INBOUND_TYPES: &[&str] = &[
    "ping",
    "pong",
    "orbit.subscribe",
    "orbit.unsubscribe",
    "orbit.list-anchors",
    "anchor.hello",
];

impl Control {
    /// Whether a client or an anchor may send this frame (the others only Orbit sends).
    pub fn is_inbound(&self) -> bool {
        matches!(
            self,
            Control::Ping
                | Control::Pong
                | Control::Subscribe { .. }
                | Control::Unsubscribe { .. }
                | Control::ListAnchors
                | Control::AnchorHello(_)
        )
    }

    /// The frame as JSON text.
    pub fn to_text(&self) -> String {
        // Only strings, numbers, bools and structs of those: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| String::from(r#"{"type":"orbit.error"}"#))
    }

    /// Parses a frame Orbit sent (what a client or an anchor reads), of any type.
    pub fn parse(text: &str) -> Result<Control, ControlError> {
        #[cfg(any(test, feature = "count-parses"))]
        crate::count::full_parse();
        serde_json::from_str::<Control>(text).map_err(|err| ControlError::BadShape {
            kind: String::from("control"),
            detail: err.to_string(),
        })
    }

    /// Parses a frame a client or an anchor sent, whose `type` is not yet known.
    pub fn parse_inbound(text: &str) -> Result<Control, ControlError> {
        #[derive(Deserialize)]
        struct TypeOnly {
            #[serde(rename = "type")]
            kind: String,
        }
        let kind = serde_json::from_str::<TypeOnly>(text)
            .map(|t| t.kind)
            .unwrap_or_default();
        Self::parse_inbound_typed(text, &kind)
    }

    /// Parses a frame a client or an anchor sent, whose `type` ([`crate::Envelope`] read it)
    /// is `kind`. Frames only Orbit sends are unknown types here.
    pub fn parse_inbound_typed(text: &str, kind: &str) -> Result<Control, ControlError> {
        if !INBOUND_TYPES.contains(&kind) {
            return Err(ControlError::UnknownType(kind.to_string()));
        }
        #[cfg(any(test, feature = "count-parses"))]
        crate::count::full_parse();
        let frame =
            serde_json::from_str::<Control>(text).map_err(|err| ControlError::BadShape {
                kind: kind.to_string(),
                detail: err.to_string(),
            })?;
        validate(&frame)?;
        Ok(frame)
    }
}

fn validate(frame: &Control) -> Result<(), ControlError> {
    let bad = |kind: &str, detail: &str| ControlError::BadShape {
        kind: kind.to_string(),
        detail: detail.to_string(),
    };
    match frame {
        Control::Subscribe { thread_id, .. } | Control::Unsubscribe { thread_id }
            if !valid_id(thread_id) =>
        {
            return Err(bad(
                "orbit.subscribe",
                "threadId must be 1 to 128 bytes of printable text",
            ));
        }
        Control::AnchorHello(hello) => {
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
            // Numbers start at 1: a first frame numbered 0 would count as handled already.
            if hello.next_frame == Some(0) {
                return Err(bad("anchor.hello", "nextFrame starts at 1"));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Whether `id` is acceptable as a thread or anchor id: non-empty, bounded, no control characters.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_BYTES && !id.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_inbound_type() {
        assert_eq!(Control::parse_inbound(PING_FRAME), Ok(Control::Ping));
        assert_eq!(
            Control::parse_inbound(r#"{"type":"orbit.unsubscribe","threadId":"x"}"#),
            Ok(Control::Unsubscribe {
                thread_id: "x".into()
            })
        );
        assert_eq!(
            Control::parse_inbound(r#"{"type":"orbit.list-anchors"}"#),
            Ok(Control::ListAnchors)
        );
        let hello = Control::parse_inbound(
            r#"{"type":"anchor.hello","anchorId":"a","name":"n","hostname":"h","platform":"linux","version":"1","capabilities":["x"],"codexVersion":"0.169.0"}"#,
        );
        assert!(matches!(hello, Ok(Control::AnchorHello(h)) if h.name.as_deref() == Some("n")));
    }

    #[test]
    fn a_hello_numbering_from_zero_is_refused_rather_than_losing_its_first_frame() {
        let hello = |next: &str| {
            Control::parse_inbound(&format!(r#"{{"type":"anchor.hello","nextFrame":{next}}}"#))
                .map_err(|e| e.code())
        };
        assert_eq!(hello("0"), Err(ErrorCode::BadFrame));
        assert_eq!(hello("-1"), Err(ErrorCode::BadFrame));
        assert!(matches!(hello("1"), Ok(Control::AnchorHello(h)) if h.next_frame == Some(1)));
    }

    #[test]
    fn unknown_type_and_bad_shape_are_told_apart() {
        let code = |t: &str| Control::parse_inbound(t).map_err(|e| e.code());
        assert_eq!(
            code(r#"{"type":"orbit.nope"}"#),
            Err(ErrorCode::UnknownType)
        );
        // What only Orbit sends is not something a peer may send.
        assert_eq!(
            code(
                r#"{"type":"orbit.hello","role":"client","userId":"u","connectionId":"c","serverTime":1}"#
            ),
            Err(ErrorCode::UnknownType)
        );
        assert_eq!(
            code(r#"{"type":"orbit.subscribe"}"#),
            Err(ErrorCode::BadFrame)
        );
        assert_eq!(
            code(r#"{"type":"orbit.subscribe","threadId":"t","sinceSeq":-1}"#),
            Err(ErrorCode::BadFrame)
        );
        assert_eq!(
            code(r#"{"type":"orbit.subscribe","threadId":""}"#),
            Err(ErrorCode::BadFrame)
        );
        // Unknown extra fields are tolerated, so newer peers can add optional fields.
        assert_eq!(
            Control::parse_inbound(r#"{"type":"ping","ts":1}"#),
            Ok(Control::Ping)
        );
    }

    #[test]
    fn every_frame_reads_back_what_it_wrote() {
        let info = AnchorInfo {
            anchor_id: "a".into(),
            name: "n".into(),
            hostname: None,
            platform: None,
            version: None,
            codex_version: Some("0.169.0".into()),
            online: false,
            connected_at: None,
            last_seen_at: Some(5),
        };
        let frames = [
            Control::Ping,
            Control::Pong,
            Control::Hello {
                role: SocketRole::Anchor,
                user_id: "u".into(),
                connection_id: "c".into(),
                server_time: 5,
                acks: true,
            },
            Control::Ack { up_to: 7 },
            Control::AnchorHello(AnchorHello {
                anchor_id: Some("a".into()),
                capabilities: vec!["helpers".into()],
                next_frame: Some(12),
                ..AnchorHello::default()
            }),
            Control::Anchors {
                anchors: vec![info.clone()],
            },
            Control::AnchorConnected { anchor: info },
            Control::AnchorDisconnected {
                anchor_id: "a".into(),
            },
            Control::ListAnchors,
            Control::Subscribe {
                thread_id: "t".into(),
                since_seq: None,
            },
            Control::Subscribed {
                thread_id: "t".into(),
                seq: 3,
                truncated: true,
            },
            Control::Unsubscribe {
                thread_id: "t".into(),
            },
            Control::Error {
                code: ErrorCode::BadFrame,
                message: "m".into(),
            },
            Control::Answered {
                request_id: "orbit-srv:1".into(),
                connection_id: "c".into(),
                device: None,
                at: 2,
            },
        ];
        for frame in frames {
            let text = frame.to_text();
            assert_eq!(
                serde_json::from_str::<Control>(&text).unwrap(),
                frame,
                "{text}"
            );
        }
    }
}

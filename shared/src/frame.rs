//! Classifying one inbound WebSocket text frame: too large, malformed, a control frame, or a
//! JSON-RPC message.
//!
//! ```
//! use orbit_shared::frame::{classify, Inbound};
//! assert!(matches!(classify(r#"{"type":"ping"}"#), Ok(Inbound::Control(_))));
//! assert!(matches!(classify(r#"{"id":1,"method":"thread/list"}"#), Ok(Inbound::Rpc(_))));
//! assert_eq!(classify("[1]").unwrap_err().code(), "not_an_object");
//! ```

use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::control::{parse_control, ControlError, ControlFrame};
use crate::limits::MAX_FRAME_BYTES;
use crate::rpc::{peek, RpcError, RpcPeek};

/// An inbound frame Orbit accepts.
#[derive(Debug)]
pub enum Inbound<'a> {
    Control(ControlFrame),
    Rpc(RpcPeek<'a>),
}

/// Why an inbound frame was refused. The socket stays open; the sender gets `orbit.error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {size} bytes is over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("malformed JSON: {0}")]
    Malformed(String),
    #[error("a frame must be a JSON object")]
    NotAnObject,
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("{0}")]
    Rpc(&'static str),
}

impl FrameError {
    /// The `orbit.error` code.
    pub fn code(&self) -> &'static str {
        match self {
            FrameError::TooLarge { .. } => "frame_too_large",
            FrameError::Malformed(_) => "malformed_json",
            FrameError::NotAnObject => "not_an_object",
            FrameError::Control(e) => e.code(),
            FrameError::Rpc(_) => "invalid_message",
        }
    }
}

#[derive(Deserialize)]
struct TypeField {
    #[serde(default, rename = "type")]
    kind: Option<IgnoredAny>,
}

/// Classifies a text frame.
pub fn classify(text: &str) -> Result<Inbound<'_>, FrameError> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge {
            size: text.len(),
            limit: MAX_FRAME_BYTES,
        });
    }
    if !text.trim_start().starts_with('{') {
        return Err(match serde_json::from_str::<IgnoredAny>(text) {
            Ok(_) => FrameError::NotAnObject,
            Err(e) => FrameError::Malformed(e.to_string()),
        });
    }
    let typed: TypeField =
        serde_json::from_str(text).map_err(|e| FrameError::Malformed(e.to_string()))?;
    if typed.kind.is_some() {
        return Ok(Inbound::Control(parse_control(text)?));
    }
    match peek(text) {
        Ok(p) => Ok(Inbound::Rpc(p)),
        Err(RpcError::Malformed(m)) => Err(FrameError::Malformed(m)),
        Err(RpcError::Invalid(why)) => Err(FrameError::Rpc(why)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn each_defect_has_its_code() {
        let code = |t: &str| classify(t).map(|_| ()).map_err(|e| e.code());
        assert_eq!(code("{"), Err("malformed_json"));
        assert_eq!(code("nope"), Err("malformed_json"));
        assert_eq!(code("42"), Err("not_an_object"));
        assert_eq!(code(r#"{"type":"orbit.nope"}"#), Err("unknown_type"));
        assert_eq!(code(r#"{"type":7}"#), Err("unknown_type"));
        assert_eq!(
            code(r#"{"type":"orbit.subscribe","threadId":1}"#),
            Err("bad_frame")
        );
        assert_eq!(code(r#"{"hello":1}"#), Err("invalid_message"));
        let big = format!(
            r#"{{"method":"m","params":"{}"}}"#,
            "x".repeat(MAX_FRAME_BYTES)
        );
        assert_eq!(code(&big), Err("frame_too_large"));
    }

    proptest! {
        #[test]
        fn never_panics_on_any_text(s in ".{0,256}") {
            let _ = classify(&s);
        }

        #[test]
        fn never_panics_on_json_like_text(s in r#"\{("(type|id|method|params|result|error|seq|threadId)"|[:,\[\]{}0-9 "a-z.-])*\}?"#) {
            let _ = classify(&s);
        }
    }
}

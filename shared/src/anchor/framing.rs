//! Length-prefixed JSON frames for the anchor's local status socket (`anchor status`,
//! `anchor stop`).
//!
//! Each frame is a `u32` big-endian byte length followed by that many bytes of UTF-8 JSON. A
//! length prefix (rather than newline-delimited JSON) lets the reader allocate once and reject
//! an oversize frame before reading it. The decoder is incremental: feed it whatever the socket
//! returned, in any chunking, and take complete frames out.
//!
//! ```
//! use orbit_shared::anchor::framing::{encode, FrameDecoder};
//! let bytes = encode(&serde_json::json!({"cmd": "status"})).unwrap();
//! let mut decoder = FrameDecoder::new();
//! decoder.push(&bytes[..3]);
//! assert!(decoder.next_frame().is_none());
//! decoder.push(&bytes[3..]);
//! assert_eq!(decoder.next_frame().unwrap().unwrap()["cmd"], "status");
//! ```

use serde_json::Value;

/// The largest frame body accepted or produced by default: 1 MiB (a status reply is tiny; this
/// only guards against a confused or hostile peer on the socket).
pub const MAX_STATUS_FRAME_BYTES: usize = 1024 * 1024;

const PREFIX: usize = 4;

/// Why a frame could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The declared (or encoded) length is over the limit. The stream cannot be resynchronised
    /// without reading the oversize body, so the decoder stops; close the connection.
    #[error("frame of {size} bytes is over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    /// The body is not valid JSON. The frame is skipped; later frames still decode.
    #[error("malformed JSON in frame: {0}")]
    Malformed(String),
}

impl FrameError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            FrameError::TooLarge { .. } => "frame_too_large",
            FrameError::Malformed(_) => "malformed_json",
        }
    }
}

/// Encodes `value` as one frame (length prefix and JSON body), within [`MAX_STATUS_FRAME_BYTES`].
pub fn encode(value: &Value) -> Result<Vec<u8>, FrameError> {
    encode_with_limit(value, MAX_STATUS_FRAME_BYTES)
}

/// [`encode`] with an explicit size limit.
pub fn encode_with_limit(value: &Value, limit: usize) -> Result<Vec<u8>, FrameError> {
    let body = serde_json::to_vec(value).map_err(|e| FrameError::Malformed(e.to_string()))?;
    let too_large = FrameError::TooLarge {
        size: body.len(),
        limit,
    };
    if body.len() > limit {
        return Err(too_large);
    }
    let len = u32::try_from(body.len()).map_err(|_| too_large)?;
    let mut out = Vec::with_capacity(PREFIX + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// An incremental frame decoder.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed (compacted lazily to avoid quadratic copying).
    start: usize,
    limit: usize,
    failed: bool,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder with the [`MAX_STATUS_FRAME_BYTES`] limit.
    pub fn new() -> Self {
        Self::with_limit(MAX_STATUS_FRAME_BYTES)
    }

    pub fn with_limit(limit: usize) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            limit,
            failed: false,
        }
    }

    /// Appends bytes read from the stream. Ignored after a fatal error.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed {
            return;
        }
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Whether an oversize frame stopped the decoder (the connection should be closed).
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete frame, if any. `Some(Err(TooLarge))` is returned once and then the
    /// decoder yields `None` forever; `Some(Err(Malformed))` skips just that frame.
    pub fn next_frame(&mut self) -> Option<Result<Value, FrameError>> {
        if self.failed {
            return None;
        }
        let pending = &self.buf[self.start..];
        let prefix: [u8; PREFIX] = pending.get(..PREFIX)?.try_into().ok()?;
        let size = usize::try_from(u32::from_be_bytes(prefix)).unwrap_or(usize::MAX);
        if size > self.limit {
            self.failed = true;
            self.buf = Vec::new();
            self.start = 0;
            return Some(Err(FrameError::TooLarge {
                size,
                limit: self.limit,
            }));
        }
        let body = pending.get(PREFIX..PREFIX + size)?;
        let parsed =
            serde_json::from_slice::<Value>(body).map_err(|e| FrameError::Malformed(e.to_string()));
        self.start += PREFIX + size;
        Some(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn several_frames_in_one_push() {
        let mut bytes = encode(&json!({"a": 1})).unwrap();
        bytes.extend(encode(&json!([1, 2])).unwrap());
        let mut d = FrameDecoder::new();
        d.push(&bytes);
        assert_eq!(d.next_frame(), Some(Ok(json!({"a": 1}))));
        assert_eq!(d.next_frame(), Some(Ok(json!([1, 2]))));
        assert_eq!(d.next_frame(), None);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn malformed_body_is_skipped() {
        let mut d = FrameDecoder::new();
        d.push(&[0, 0, 0, 3]);
        d.push(b"{x}");
        d.push(&encode(&json!(7)).unwrap());
        assert_eq!(
            d.next_frame().unwrap().unwrap_err().code(),
            "malformed_json"
        );
        assert_eq!(d.next_frame(), Some(Ok(json!(7))));
    }

    #[test]
    fn oversize_prefix_fails_once_then_stops() {
        let mut d = FrameDecoder::with_limit(10);
        d.push(&[0, 0, 0, 11]);
        let err = d.next_frame().unwrap().unwrap_err();
        assert_eq!(
            err,
            FrameError::TooLarge {
                size: 11,
                limit: 10
            }
        );
        assert_eq!(err.code(), "frame_too_large");
        assert!(d.is_failed());
        d.push(&encode(&json!(1)).unwrap());
        assert_eq!(d.next_frame(), None);
    }

    #[test]
    fn oversize_value_is_not_encoded() {
        let err = encode_with_limit(&json!("0123456789"), 5).unwrap_err();
        assert_eq!(err, FrameError::TooLarge { size: 12, limit: 5 });
        let big = Value::String("x".repeat(MAX_STATUS_FRAME_BYTES));
        assert!(encode(&big).is_err());
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            ".{0,40}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(".{0,8}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn round_trips_over_any_chunking(
            values in proptest::collection::vec(json_value(), 0..8),
            cuts in proptest::collection::vec(1usize..64, 0..40),
        ) {
            let mut stream = Vec::new();
            for v in &values {
                stream.extend(encode(v).unwrap());
            }
            let mut d = FrameDecoder::new();
            let mut out = Vec::new();
            let mut rest = stream.as_slice();
            let mut cuts = cuts.into_iter();
            while !rest.is_empty() {
                let n = cuts.next().unwrap_or(rest.len()).min(rest.len());
                d.push(&rest[..n]);
                rest = &rest[n..];
                while let Some(frame) = d.next_frame() {
                    out.push(frame.unwrap());
                }
            }
            prop_assert_eq!(out, values);
            prop_assert_eq!(d.buffered(), 0);
        }
    }
}

//! Frames of the anchor's local status socket (`anchor status`, `anchor stop`): a `u32`
//! big-endian byte length, then that many bytes of JSON.
//!
//! A length prefix (rather than newline-delimited JSON) lets the reader refuse an oversize frame
//! from its first four bytes, before reading the body. [`StatusCodec`] is tokio-util's
//! [`LengthDelimitedCodec`] with serde on top; use it with `Framed` on the socket.
//!
//! ```
//! use tokio_util::bytes::BytesMut;
//! use orbit_anchor::framing::StatusCodec;
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! let mut codec = StatusCodec::<serde_json::Value, serde_json::Value>::new();
//! let mut wire = BytesMut::new();
//! codec.encode(serde_json::json!({"cmd": "status"}), &mut wire).unwrap();
//! assert_eq!(&wire[..4], &[0, 0, 0, 16]);
//! let mut half = wire.split_to(3);
//! assert!(codec.decode(&mut half).unwrap().is_none());
//! half.unsplit(wire);
//! let frame = codec.decode(&mut half).unwrap().unwrap().unwrap();
//! assert_eq!(frame["cmd"], "status");
//! ```

use std::marker::PhantomData;

use orbit_protocol::ErrorCode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_util::bytes::{Bytes, BytesMut};
use tokio_util::codec::length_delimited::LengthDelimitedCodecError;
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

/// The largest frame body accepted or produced by default: 1 MiB (a status reply is tiny; this
/// only guards against a confused or hostile peer on the socket).
pub const MAX_STATUS_FRAME_BYTES: usize = 1024 * 1024;

const PREFIX: usize = 4;

/// Why a frame could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The declared (or encoded) length is over the limit. The stream cannot be resynchronised
    /// without reading the oversize body, so decoding stops; close the connection.
    #[error("frame of {size} bytes is over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    /// The body is not valid JSON (or not of the expected shape). Only that frame is lost.
    #[error("malformed JSON in frame: {0}")]
    Malformed(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl FrameError {
    /// The machine-readable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            FrameError::TooLarge { .. } => ErrorCode::FrameTooLarge,
            FrameError::Malformed(_) => ErrorCode::MalformedJson,
            FrameError::Io(_) => ErrorCode::IoError,
        }
    }
}

/// Decodes frames of `In` and encodes frames of `Out`.
///
/// A malformed body comes out as an item (`Ok(Some(Err(Malformed)))`), not as an error of the
/// stream: tokio-util ends a framed stream at its decoder's first error, and one bad request
/// must not end the connection.
#[derive(Debug)]
pub struct StatusCodec<In, Out> {
    frames: LengthDelimitedCodec,
    limit: usize,
    types: PhantomData<fn(Out) -> In>,
}

impl<In, Out> Default for StatusCodec<In, Out> {
    fn default() -> Self {
        Self::new()
    }
}

impl<In, Out> StatusCodec<In, Out> {
    /// A codec with the [`MAX_STATUS_FRAME_BYTES`] limit.
    pub fn new() -> Self {
        Self::with_limit(MAX_STATUS_FRAME_BYTES)
    }

    pub fn with_limit(limit: usize) -> Self {
        StatusCodec {
            frames: LengthDelimitedCodec::builder()
                .length_field_length(PREFIX)
                .big_endian()
                .max_frame_length(limit)
                .new_codec(),
            limit,
            types: PhantomData,
        }
    }
}

impl<In: DeserializeOwned, Out> Decoder for StatusCodec<In, Out> {
    type Item = Result<In, FrameError>;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, FrameError> {
        let body = match self.frames.decode(src) {
            Ok(Some(body)) => body,
            Ok(None) => return Ok(None),
            // Refused before the prefix is consumed, so it is still there to say the size,
            // which the codec's own error does not.
            Err(e)
                if e.get_ref()
                    .is_some_and(|e| e.is::<LengthDelimitedCodecError>()) =>
            {
                let size = src
                    .get(..PREFIX)
                    .and_then(|prefix| <[u8; PREFIX]>::try_from(prefix).ok())
                    .and_then(|prefix| usize::try_from(u32::from_be_bytes(prefix)).ok())
                    .unwrap_or(usize::MAX);
                return Err(FrameError::TooLarge {
                    size,
                    limit: self.limit,
                });
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Some(
            serde_json::from_slice(&body).map_err(|e| FrameError::Malformed(e.to_string())),
        ))
    }
}

impl<In, Out: Serialize> Encoder<Out> for StatusCodec<In, Out> {
    type Error = FrameError;

    fn encode(&mut self, item: Out, dst: &mut BytesMut) -> Result<(), FrameError> {
        let body = serde_json::to_vec(&item).map_err(|e| FrameError::Malformed(e.to_string()))?;
        if body.len() > self.limit {
            return Err(FrameError::TooLarge {
                size: body.len(),
                limit: self.limit,
            });
        }
        self.frames.encode(Bytes::from(body), dst)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    type Codec = StatusCodec<Value, Value>;

    fn encode(value: Value) -> BytesMut {
        let mut out = BytesMut::new();
        Codec::new().encode(value, &mut out).unwrap();
        out
    }

    #[test]
    fn several_frames_in_one_read() {
        let mut bytes = encode(json!({"a": 1}));
        bytes.unsplit(encode(json!([1, 2])));
        let mut d = Codec::new();
        assert_eq!(
            d.decode(&mut bytes).unwrap().unwrap().unwrap(),
            json!({"a": 1})
        );
        assert_eq!(
            d.decode(&mut bytes).unwrap().unwrap().unwrap(),
            json!([1, 2])
        );
        assert!(d.decode(&mut bytes).unwrap().is_none());
        assert!(bytes.is_empty());
    }

    #[test]
    fn malformed_body_is_skipped() {
        let mut d = Codec::new();
        let mut bytes = BytesMut::from(&[0u8, 0, 0, 3][..]);
        bytes.extend_from_slice(b"{x}");
        bytes.unsplit(encode(json!(7)));
        let err = d.decode(&mut bytes).unwrap().unwrap().unwrap_err();
        assert_eq!(err.code(), ErrorCode::MalformedJson);
        assert!(err.to_string().starts_with("malformed JSON in frame: "));
        assert_eq!(d.decode(&mut bytes).unwrap().unwrap().unwrap(), json!(7));
    }

    #[test]
    fn a_body_that_looks_like_a_huge_prefix_is_read_as_a_body() {
        let mut d = Codec::new();
        let mut bytes = encode(json!("\u{7f}\u{7f}\u{7f}\u{7f}"));
        let mut head = bytes.split_to(PREFIX + 1);
        assert!(d.decode(&mut head).unwrap().is_none());
        head.unsplit(bytes);
        assert_eq!(
            d.decode(&mut head).unwrap().unwrap().unwrap(),
            json!("\u{7f}\u{7f}\u{7f}\u{7f}")
        );
    }

    #[test]
    fn oversize_prefix_is_refused_before_the_body_arrives() {
        let mut d = StatusCodec::<Value, Value>::with_limit(10);
        let mut bytes = BytesMut::from(&[0u8, 0, 0, 11][..]);
        let err = d.decode(&mut bytes).unwrap_err();
        assert!(
            matches!(
                err,
                FrameError::TooLarge {
                    size: 11,
                    limit: 10
                }
            ),
            "{err}"
        );
        assert_eq!(err.code(), ErrorCode::FrameTooLarge);
        assert_eq!(
            err.to_string(),
            "frame of 11 bytes is over the 10-byte limit"
        );
    }

    #[test]
    fn oversize_value_is_not_encoded() {
        let mut out = BytesMut::new();
        let err = StatusCodec::<Value, Value>::with_limit(5)
            .encode(json!("0123456789"), &mut out)
            .unwrap_err();
        assert!(
            matches!(err, FrameError::TooLarge { size: 12, limit: 5 }),
            "{err}"
        );
        assert!(out.is_empty());
        let big = Value::String("x".repeat(MAX_STATUS_FRAME_BYTES));
        assert!(Codec::new().encode(big, &mut out).is_err());
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
            let mut stream = BytesMut::new();
            for v in &values {
                stream.unsplit(encode(v.clone()));
            }
            let mut d = Codec::new();
            let mut buffer = BytesMut::new();
            let mut out = Vec::new();
            let mut cuts = cuts.into_iter();
            while !stream.is_empty() {
                let n = cuts.next().unwrap_or(stream.len()).min(stream.len());
                buffer.unsplit(stream.split_to(n));
                while let Some(frame) = d.decode(&mut buffer).unwrap() {
                    out.push(frame.unwrap());
                }
            }
            prop_assert_eq!(out, values);
            prop_assert!(buffer.is_empty());
        }
    }
}

//! One pass over a WebSocket text frame: what it is, and where the fields that routing reads
//! and rewrites sit in its text.
//!
//! A frame is either a control frame (it has a top-level `type`) or a JSON-RPC message in
//! codex app-server's dialect (JSON-RPC 2.0 without a required `"jsonrpc"`): request
//! `{id, method, params}`, notification `{method, params}`, response `{id, result}` or
//! `{id, error}`. [`peek`] reads, in a single pass and without copying, the top-level `type`,
//! `id`, `method` and `seq`, whether there is a `result` or an `error`, and inside `params` the
//! `threadId`, `anchorId`, `requestId` and `thread.id`, and `result.thread.id` of a response,
//! and where a top-level `origin` sits.
//! Everything else is skipped (but validated: the frame must be well-formed JSON).
//!
//! Orbit rewrites a message only where it must, by splicing the text at the byte offsets the
//! peek found ([`Edit`]): the request id (return addresses), the sender's `seq` and `origin`
//! (Orbit owns them: `origin` names the anchor a frame came from, see [`crate::origin`]),
//! `params.anchorId` (Orbit's routing hint, not codex's) and `params.requestId` of
//! `serverRequest/resolved`. The rest of the frame goes on as the same bytes.
//!
//! ```
//! use orbit_protocol::envelope::{peek, Kind, RpcKind};
//!
//! let text = r#"{"id":7,"method":"turn/start","params":{"threadId":"t1","anchorId":"a1","input":[]}}"#;
//! let msg = peek(text).unwrap();
//! assert_eq!(msg.kind(), Kind::Rpc(RpcKind::Request));
//! assert_eq!(msg.method(), "turn/start");
//! assert_eq!((msg.thread_id(), msg.anchor_id()), (Some("t1"), Some("a1")));
//!
//! let mut edit = msg.edit();
//! edit.set_id(r#""orbit:c0ffee:7""#).remove_anchor_id();
//! assert_eq!(
//!     edit.finish(),
//!     r#"{"id":"orbit:c0ffee:7","method":"turn/start","params":{"threadId":"t1","input":[]}}"#
//! );
//!
//! // A thread notification is numbered by putting Orbit's `seq` in front.
//! let note = peek(r#"{"method":"item/agentMessage/delta","params":{"threadId":"t1"}}"#).unwrap();
//! let mut edit = note.edit();
//! edit.prepend_seq(42);
//! assert_eq!(edit.finish(), r#"{"seq":42,"method":"item/agentMessage/delta","params":{"threadId":"t1"}}"#);
//!
//! assert!(matches!(peek(r#"{"type":"ping"}"#).unwrap().kind(), Kind::Control("ping")));
//! assert_eq!(peek("[1]").unwrap_err().code(), orbit_protocol::ErrorCode::NotAnObject);
//! ```

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::error_code::ErrorCode;
use crate::limits::{MAX_FRAME_BYTES, MAX_FRAME_DEPTH};

/// The three shapes of JSON-RPC message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcKind {
    /// `{id, method, params}`
    Request,
    /// `{method, params}`
    Notification,
    /// `{id, result}` or `{id, error}`
    Response,
}

/// What a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    /// A control frame, with its `type` (empty when `type` is not a string).
    Control(&'a str),
    Rpc(RpcKind),
}

/// Why a frame was refused. The socket stays open; the sender gets `orbit.error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeekError {
    #[error("frame of {size} bytes is over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("malformed JSON: {0}")]
    Malformed(String),
    #[error("malformed JSON: arrays and objects nested deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("a frame must be a JSON object")]
    NotAnObject,
    #[error("{0}")]
    Invalid(&'static str),
}

impl PeekError {
    /// The `orbit.error` code.
    pub fn code(&self) -> ErrorCode {
        match self {
            PeekError::TooLarge { .. } => ErrorCode::FrameTooLarge,
            PeekError::Malformed(_) | PeekError::TooDeep { .. } => ErrorCode::MalformedJson,
            PeekError::NotAnObject => ErrorCode::NotAnObject,
            PeekError::Invalid(_) => ErrorCode::InvalidMessage,
        }
    }
}

/// A byte range of the frame's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

/// An object member: from the opening quote of its name to the end of its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Member {
    start: usize,
    value: Span,
}

/// A frame, peeked: the fields routing reads, borrowed from the text.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    text: &'a str,
    kind: Kind<'a>,
    id: Option<&'a RawValue>,
    method: Option<Cow<'a, str>>,
    seq: Option<Member>,
    origin: Option<Member>,
    thread_id: Option<Cow<'a, str>>,
    anchor_id: Option<Cow<'a, str>>,
    anchor_id_member: Option<Member>,
    request_id: Option<&'a RawValue>,
    result_thread_id: Option<Cow<'a, str>>,
}

/// Peeks at a frame: checks its size, that it is one well-formed JSON object, and what it is.
pub fn peek(text: &str) -> Result<Envelope<'_>, PeekError> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(PeekError::TooLarge {
            size: text.len(),
            limit: MAX_FRAME_BYTES,
        });
    }
    // serde_json skips the values routing does not read (and keeps raw ones) without its
    // depth limit, so the limit is checked here, for the whole frame: nothing Orbit relays is
    // too deep for the next parser (codex's, the anchor's helpers').
    if nesting(text) > MAX_FRAME_DEPTH {
        return Err(PeekError::TooDeep {
            limit: MAX_FRAME_DEPTH,
        });
    }
    #[cfg(any(test, feature = "count-parses"))]
    crate::count::full_parse();
    if !text.trim_start().starts_with('{') {
        return Err(match serde_json::from_str::<IgnoredAny>(text) {
            Ok(_) => PeekError::NotAnObject,
            Err(e) => PeekError::Malformed(e.to_string()),
        });
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let top = TopSeed { base: text }
        .deserialize(&mut de)
        .and_then(|top| de.end().map(|()| top))
        .map_err(|e| {
            // Our own refusals travel inside serde's error as custom messages.
            match INVALID.iter().find(|why| e.to_string().starts_with(**why)) {
                Some(why) => PeekError::Invalid(why),
                None => PeekError::Malformed(e.to_string()),
            }
        })?;
    top.into_envelope(text)
}

/// How many arrays and objects deep JSON `text` goes (0 for a scalar), counting brackets
/// outside strings. One pass, no recursion.
fn nesting(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for byte in text.bytes() {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

// Refusals raised from inside the visitors (serde can only carry them as messages).
const DUPLICATE: &str = "a member that routing reads appears twice";
const ESCAPED: &str = "a member that routing reads has an escaped name";
const BAD_ID: &str = "id must be a string or a number";
const BAD_METHOD: &str = "method must be a string";
const INVALID: [&str; 4] = [DUPLICATE, ESCAPED, BAD_ID, BAD_METHOD];

/// The top level, as read.
#[derive(Default)]
struct Top<'a> {
    kind: Option<&'a RawValue>,
    id: Option<&'a RawValue>,
    method: Option<Cow<'a, str>>,
    params: Option<Params<'a>>,
    result: Option<Outcome<'a>>,
    error: bool,
    seq: Option<Member>,
    origin: Option<Member>,
}

#[derive(Default)]
struct Params<'a> {
    thread_id: Option<&'a RawValue>,
    anchor_id: Option<(Member, &'a RawValue)>,
    request_id: Option<&'a RawValue>,
    thread: Option<Option<Cow<'a, str>>>,
}

/// A `result`: present, and its `thread.id` when it has one.
#[derive(Default)]
struct Outcome<'a> {
    thread_id: Option<Cow<'a, str>>,
}

impl<'a> Top<'a> {
    fn into_envelope(self, text: &'a str) -> Result<Envelope<'a>, PeekError> {
        let params = self.params.unwrap_or_default();
        let kind = match self.kind {
            Some(raw) => Kind::Control(match string_value(raw) {
                Some(Cow::Borrowed(s)) => s,
                // An escaped or non-string type is no type Orbit knows.
                _ => "",
            }),
            None => {
                if let Some(id) = self.id {
                    if !is_valid_id(id) {
                        return Err(PeekError::Invalid(BAD_ID));
                    }
                }
                let answer = self.result.is_some() || self.error;
                Kind::Rpc(match (&self.id, &self.method, answer) {
                    (Some(_), Some(_), false) => RpcKind::Request,
                    (None, Some(_), false) => RpcKind::Notification,
                    (Some(_), None, true) => RpcKind::Response,
                    (None, None, true) => return Err(PeekError::Invalid("a response needs an id")),
                    (_, Some(_), true) => {
                        return Err(PeekError::Invalid(
                            "a message cannot have both a method and a result or error",
                        ))
                    }
                    (_, None, false) => {
                        return Err(PeekError::Invalid("no method, result or error"))
                    }
                })
            }
        };
        let (anchor_id_member, anchor_id) = match params.anchor_id {
            Some((member, raw)) => (Some(member), string_value(raw)),
            None => (None, None),
        };
        Ok(Envelope {
            text,
            kind,
            id: self.id,
            method: self.method,
            seq: self.seq,
            origin: self.origin,
            thread_id: params
                .thread_id
                .and_then(string_value)
                .or_else(|| params.thread.flatten()),
            anchor_id,
            anchor_id_member,
            request_id: params.request_id,
            result_thread_id: self.result.and_then(|r| r.thread_id),
        })
    }
}

impl<'a> Envelope<'a> {
    /// The frame's text.
    pub fn text(&self) -> &'a str {
        self.text
    }

    pub fn kind(&self) -> Kind<'a> {
        self.kind
    }

    /// The JSON-RPC kind, or `None` for a control frame.
    pub fn rpc_kind(&self) -> Option<RpcKind> {
        match self.kind {
            Kind::Rpc(kind) => Some(kind),
            Kind::Control(_) => None,
        }
    }

    /// The id exactly as written (a JSON string or number).
    pub fn id(&self) -> Option<&'a RawValue> {
        self.id
    }

    /// The method name, or "" for a response or a control frame.
    pub fn method(&self) -> &str {
        self.method.as_deref().unwrap_or("")
    }

    /// `params.threadId`, else `params.thread.id` (as in `thread/started`), when a string.
    pub fn thread_id(&self) -> Option<&str> {
        self.thread_id.as_deref()
    }

    /// `params.anchorId`: a client naming the anchor a request is for, when a string.
    pub fn anchor_id(&self) -> Option<&str> {
        self.anchor_id.as_deref()
    }

    /// `params.requestId` (as in `serverRequest/resolved`), as JSON text.
    pub fn request_id(&self) -> Option<&'a str> {
        self.request_id.map(RawValue::get)
    }

    /// `result.thread.id` of a response (as answered to `thread/start`, `thread/resume`, …).
    pub fn result_thread_id(&self) -> Option<&str> {
        self.result_thread_id.as_deref()
    }

    /// Whether the sender put a top-level `seq` in (Orbit owns that field).
    pub fn has_seq(&self) -> bool {
        self.seq.is_some()
    }

    /// Whether the sender put a top-level `origin` in (Orbit owns that field too).
    pub fn has_origin(&self) -> bool {
        self.origin.is_some()
    }

    /// Starts a rewrite of this frame.
    pub fn edit(&self) -> Edit<'a, '_> {
        Edit {
            envelope: self,
            replace: Vec::new(),
            seq_front: None,
            origin_front: None,
        }
    }
}

/// A rewrite of a frame, applied by splicing its text. Each field is changed at most once.
#[derive(Debug)]
pub struct Edit<'a, 'e> {
    envelope: &'e Envelope<'a>,
    /// Byte ranges and what replaces them (empty to delete).
    replace: Vec<(Span, String)>,
    seq_front: Option<u64>,
    /// The JSON text of Orbit's `origin`, put in front (after `seq`).
    origin_front: Option<String>,
}

impl Edit<'_, '_> {
    /// Replaces the id with `id_json` (JSON text). A message without an id is left alone.
    pub fn set_id(&mut self, id_json: &str) -> &mut Self {
        if let Some(id) = self.envelope.id {
            let span = self.span_of(id);
            self.replace.push((span, id_json.to_string()));
        }
        self
    }

    /// Replaces `params.requestId` with `id_json` (JSON text), if there is one.
    pub fn set_request_id(&mut self, id_json: &str) -> &mut Self {
        if let Some(raw) = self.envelope.request_id {
            let span = self.span_of(raw);
            self.replace.push((span, id_json.to_string()));
        }
        self
    }

    /// Removes `params.anchorId`, if there is one.
    pub fn remove_anchor_id(&mut self) -> &mut Self {
        if let Some(member) = self.envelope.anchor_id_member {
            let span = self.member_span(member);
            self.replace.push((span, String::new()));
        }
        self
    }

    /// Removes the sender's top-level `seq`, if there is one.
    pub fn remove_seq(&mut self) -> &mut Self {
        if let Some(member) = self.envelope.seq {
            let span = self.member_span(member);
            self.replace.push((span, String::new()));
        }
        self
    }

    /// Puts Orbit's `"seq":n` first in the object.
    pub fn prepend_seq(&mut self, n: u64) -> &mut Self {
        self.seq_front = Some(n);
        self
    }

    /// Removes the sender's top-level `origin`, if there is one.
    pub fn remove_origin(&mut self) -> &mut Self {
        if let Some(member) = self.envelope.origin {
            let span = self.member_span(member);
            self.replace.push((span, String::new()));
        }
        self
    }

    /// Puts Orbit's `"origin":…` (`origin_json`, a JSON object's text) at the front of the
    /// object, after `seq` if there is one.
    pub fn prepend_origin(&mut self, origin_json: &str) -> &mut Self {
        self.origin_front = Some(origin_json.to_string());
        self
    }

    /// Whether anything will change.
    pub fn is_empty(&self) -> bool {
        self.replace.is_empty() && self.seq_front.is_none() && self.origin_front.is_none()
    }

    /// The rewritten text.
    pub fn finish(mut self) -> String {
        let text = self.envelope.text;
        let origin_len = self.origin_front.as_ref().map_or(0, |o| o.len() + 10);
        let mut out = String::with_capacity(text.len() + 32 + origin_len);
        let mut at = 0;
        if self.seq_front.is_some() || self.origin_front.is_some() {
            let open = text.find('{').unwrap_or(0) + 1;
            out.push_str(&text[..open]);
            if let Some(n) = self.seq_front {
                out.push_str("\"seq\":");
                out.push_str(&n.to_string());
            }
            if let Some(origin) = self.origin_front.take() {
                if self.seq_front.is_some() {
                    out.push(',');
                }
                out.push_str("\"origin\":");
                out.push_str(&origin);
            }
            // Every JSON-RPC message has a member after them; an empty object gets none.
            // (A member the edit deletes wholly, with its comma, leaves a valid rest.)
            if !text[open..].trim_start().starts_with('}') {
                out.push(',');
            }
            at = open;
        }
        self.replace.sort_by_key(|(span, _)| span.start);
        for (span, with) in &self.replace {
            // Spans come from distinct members, so they never overlap; stay safe if they did.
            if span.start < at {
                continue;
            }
            out.push_str(&text[at..span.start]);
            out.push_str(with);
            at = span.end;
        }
        out.push_str(&text[at..]);
        out
    }

    fn span_of(&self, raw: &RawValue) -> Span {
        span_in(self.envelope.text, raw.get())
    }

    /// A member with one of the commas around it, so the object stays valid without it.
    fn member_span(&self, member: Member) -> Span {
        let bytes = self.envelope.text.as_bytes();
        let mut end = member.value.end;
        while end < bytes.len() && bytes[end].is_ascii_whitespace() {
            end += 1;
        }
        if bytes.get(end) == Some(&b',') {
            return Span {
                start: member.start,
                end: end + 1,
            };
        }
        let mut start = member.start;
        while start > 0 && bytes[start - 1].is_ascii_whitespace() {
            start -= 1;
        }
        if start > 0 && bytes[start - 1] == b',' {
            return Span {
                start: start - 1,
                end: member.value.end,
            };
        }
        Span {
            start: member.start,
            end: member.value.end,
        }
    }
}

/// Where `part` (a slice of `base`) sits in `base`.
fn span_in(base: &str, part: &str) -> Span {
    let start = (part.as_ptr() as usize)
        .saturating_sub(base.as_ptr() as usize)
        .min(base.len());
    Span {
        start,
        end: (start + part.len()).min(base.len()),
    }
}

fn is_valid_id(id: &RawValue) -> bool {
    let text = id.get();
    text.starts_with('"') || text.starts_with('-') || text.starts_with(|c: char| c.is_ascii_digit())
}

/// The string in `raw`, borrowed when it has no escapes; `None` when it is not a string.
fn string_value(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(text).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

// ---------------------------------------------------------------------------------------------
// The single pass: serde visitors that keep raw slices and member positions.

/// A member name: borrowed from the text when it has no escapes.
enum Key<'a> {
    Borrowed(&'a str),
    Owned(String),
}

impl Key<'_> {
    fn name(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Key<'de>, D::Error> {
        d.deserialize_str(KeySeed)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key::Owned(v.to_string()))
    }
}

/// Where a member starts: the opening quote of its (unescaped) name.
fn member_start<E: de::Error>(base: &str, key: &Key<'_>) -> Result<usize, E> {
    match key {
        Key::Borrowed(name) => Ok(span_in(base, name).start.saturating_sub(1)),
        Key::Owned(_) => Err(E::custom(ESCAPED)),
    }
}

fn once<T, E: de::Error>(slot: &mut Option<T>, value: T) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::custom(DUPLICATE));
    }
    *slot = Some(value);
    Ok(())
}

struct TopSeed<'b> {
    base: &'b str,
}

impl<'de> DeserializeSeed<'de> for TopSeed<'_> {
    type Value = Top<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Top<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_> {
    type Value = Top<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top<'de>, A::Error> {
        let mut top = Top::default();
        let mut seen_params = false;
        let mut seen_error = false;
        let mut seen_type = false;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let tracked = matches!(
                key.name(),
                "type" | "id" | "method" | "params" | "result" | "error" | "seq" | "origin"
            );
            if tracked && matches!(key, Key::Owned(_)) {
                return Err(de::Error::custom(ESCAPED));
            }
            match key.name() {
                "type" => {
                    // A null `type` counts as a copy too: a reader that keeps the last copy
                    // must not see a JSON-RPC message where Orbit saw a control frame.
                    if std::mem::replace(&mut seen_type, true) {
                        return Err(de::Error::custom(DUPLICATE));
                    }
                    // `"type": null` is no type: such a frame is read as JSON-RPC.
                    let raw = map.next_value::<&RawValue>()?;
                    if raw.get() != "null" {
                        top.kind = Some(raw);
                    }
                }
                "id" => once(&mut top.id, map.next_value::<&RawValue>()?)?,
                "method" => {
                    let raw = map.next_value::<&RawValue>()?;
                    let method = string_value(raw).ok_or_else(|| de::Error::custom(BAD_METHOD))?;
                    once(&mut top.method, method)?;
                }
                "params" => {
                    if std::mem::replace(&mut seen_params, true) {
                        return Err(de::Error::custom(DUPLICATE));
                    }
                    top.params = Some(map.next_value_seed(ParamsSeed { base: self.base })?);
                }
                "result" => once(&mut top.result, map.next_value_seed(ResultSeed)?)?,
                "error" => {
                    if std::mem::replace(&mut seen_error, true) {
                        return Err(de::Error::custom(DUPLICATE));
                    }
                    map.next_value::<IgnoredAny>()?;
                    top.error = true;
                }
                "seq" => {
                    let start = member_start(self.base, &key)?;
                    let raw = map.next_value::<&RawValue>()?;
                    let value = span_in(self.base, raw.get());
                    once(&mut top.seq, Member { start, value })?;
                }
                "origin" => {
                    let start = member_start(self.base, &key)?;
                    let raw = map.next_value::<&RawValue>()?;
                    let value = span_in(self.base, raw.get());
                    once(&mut top.origin, Member { start, value })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(top)
    }
}

/// `params`: any JSON value; an object is searched for the routing fields.
struct ParamsSeed<'b> {
    base: &'b str,
}

impl<'de> DeserializeSeed<'de> for ParamsSeed<'_> {
    type Value = Params<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Params<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ParamsSeed<'_> {
    type Value = Params<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Params<'de>, A::Error> {
        let mut params = Params::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let tracked = matches!(key.name(), "threadId" | "anchorId" | "requestId" | "thread");
            if tracked && matches!(key, Key::Owned(_)) {
                return Err(de::Error::custom(ESCAPED));
            }
            match key.name() {
                "threadId" => once(&mut params.thread_id, map.next_value::<&RawValue>()?)?,
                "anchorId" => {
                    let start = member_start(self.base, &key)?;
                    let raw = map.next_value::<&RawValue>()?;
                    let value = span_in(self.base, raw.get());
                    once(&mut params.anchor_id, (Member { start, value }, raw))?;
                }
                "requestId" => once(&mut params.request_id, map.next_value::<&RawValue>()?)?,
                "thread" => once(&mut params.thread, map.next_value_seed(ThreadSeed)?)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(params)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Params<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Params::default())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Params<'de>, E> {
        Ok(Params::default())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Params<'de>, E> {
        Ok(Params::default())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Params<'de>, E> {
        Ok(Params::default())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Params<'de>, E> {
        Ok(Params::default())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Params<'de>, E> {
        Ok(Params::default())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Params<'de>, E> {
        Ok(Params::default())
    }
}

/// `result`: any JSON value (`null` included); an object may name its `thread.id`.
struct ResultSeed;

impl<'de> DeserializeSeed<'de> for ResultSeed {
    type Value = Outcome<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Outcome<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ResultSeed {
    type Value = Outcome<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Outcome<'de>, A::Error> {
        let mut outcome = Outcome::default();
        let mut thread = None;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if key.name() == "thread" {
                if matches!(key, Key::Owned(_)) {
                    return Err(de::Error::custom(ESCAPED));
                }
                once(&mut thread, map.next_value_seed(ThreadSeed)?)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        outcome.thread_id = thread.flatten();
        Ok(outcome)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Outcome<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Outcome::default())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Outcome<'de>, E> {
        Ok(Outcome::default())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Outcome<'de>, E> {
        Ok(Outcome::default())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Outcome<'de>, E> {
        Ok(Outcome::default())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Outcome<'de>, E> {
        Ok(Outcome::default())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Outcome<'de>, E> {
        Ok(Outcome::default())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Outcome<'de>, E> {
        Ok(Outcome::default())
    }
}

/// `thread`: an object whose `id` is wanted when it is a string; anything else has none.
struct ThreadSeed;

impl<'de> DeserializeSeed<'de> for ThreadSeed {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ThreadSeed {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // Routing reads `id`: a second copy, or an escaped name, could be read differently by
        // the anchor or codex, as at the top level.
        let mut id = None;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if key.name() == "id" {
                if matches!(key, Key::Owned(_)) {
                    return Err(de::Error::custom(ESCAPED));
                }
                once(&mut id, map.next_value::<&RawValue>()?)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(id.and_then(string_value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests;

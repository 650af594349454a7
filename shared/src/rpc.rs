//! The JSON-RPC dialect of `codex app-server` (JSON-RPC 2.0 without a required `"jsonrpc"`).
//!
//! Orbit relays these messages without understanding them; it only *peeks* at the few fields
//! routing needs (`id`, `method`, `params.threadId`, `params.anchorId`, …) without copying the
//! rest, and rewrites a message only when it must (request ids, `seq`).
//!
//! ```
//! use orbit_shared::rpc::{peek, RpcKind};
//! let msg = peek(r#"{"method":"turn/started","params":{"threadId":"t1"}}"#).unwrap();
//! assert_eq!(msg.kind, RpcKind::Notification);
//! assert_eq!(msg.params_fields().thread_id.as_deref(), Some("t1"));
//! ```

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

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

/// Why a frame is not an acceptable JSON-RPC message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    #[error("malformed JSON: {0}")]
    Malformed(String),
    #[error("not a JSON-RPC message: {0}")]
    Invalid(&'static str),
}

#[derive(Deserialize)]
struct RawMessage<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
    // `"result": null` is a result (and `"seq": null` a sender's seq): a plain `Option` would
    // read an explicit null as absent.
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    seq: Option<&'a RawValue>,
}

/// A field that is present, whatever its value (`null` included).
fn present<'de, D>(deserializer: D) -> Result<Option<&'de RawValue>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    <&RawValue>::deserialize(deserializer).map(Some)
}

/// What routing needs to know about a JSON-RPC message, borrowed from its text.
#[derive(Debug, Clone)]
pub struct RpcPeek<'a> {
    pub kind: RpcKind,
    /// The id exactly as written (a JSON string or number).
    pub id: Option<&'a RawValue>,
    pub method: Option<Cow<'a, str>>,
    pub params: Option<&'a RawValue>,
    pub result: Option<&'a RawValue>,
    /// The sender put a top-level `seq` in; Orbit owns that field and replaces it.
    pub has_seq: bool,
}

/// Peeks at a JSON-RPC message. The text must be a JSON object.
pub fn peek(text: &str) -> Result<RpcPeek<'_>, RpcError> {
    let raw: RawMessage<'_> =
        serde_json::from_str(text).map_err(|e| RpcError::Malformed(e.to_string()))?;
    if let Some(id) = raw.id {
        if !is_valid_id(id) {
            return Err(RpcError::Invalid("id must be a string or a number"));
        }
    }
    let kind = match (
        &raw.id,
        &raw.method,
        raw.result.is_some() || raw.error.is_some(),
    ) {
        (Some(_), Some(_), false) => RpcKind::Request,
        (None, Some(_), false) => RpcKind::Notification,
        (Some(_), None, true) => RpcKind::Response,
        (None, None, true) => return Err(RpcError::Invalid("a response needs an id")),
        (_, Some(_), true) => {
            return Err(RpcError::Invalid(
                "a message cannot have both a method and a result or error",
            ))
        }
        (_, None, false) => return Err(RpcError::Invalid("no method, result or error")),
    };
    Ok(RpcPeek {
        kind,
        id: raw.id,
        method: raw.method,
        params: raw.params,
        result: raw.result,
        has_seq: raw.seq.is_some(),
    })
}

fn is_valid_id(id: &RawValue) -> bool {
    let text = id.get();
    text.starts_with('"') || text.starts_with('-') || text.starts_with(|c: char| c.is_ascii_digit())
}

/// The fields of `params` that routing reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParamsFields {
    /// `params.threadId`, else `params.thread.id` (as in `thread/started`).
    pub thread_id: Option<String>,
    /// `params.anchorId`: a client naming the anchor a request is for.
    pub anchor_id: Option<String>,
    /// `params.requestId` (as in `serverRequest/resolved`), as JSON text.
    pub request_id: Option<String>,
}

#[derive(Deserialize)]
struct RawParams<'a> {
    // Each field is read on its own, so one of an unexpected type does not hide the others.
    #[serde(borrow, default, rename = "threadId")]
    thread_id: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "anchorId")]
    anchor_id: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "requestId")]
    request_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    thread: Option<&'a RawValue>,
}

/// The string in `raw`, if it is a JSON string.
fn raw_string(raw: Option<&RawValue>) -> Option<String> {
    serde_json::from_str::<String>(raw?.get()).ok()
}

#[derive(Deserialize)]
struct RawThread<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
}

impl RpcPeek<'_> {
    /// Reads the routing fields of `params`; a missing or non-object `params` has none.
    pub fn params_fields(&self) -> ParamsFields {
        let Some(params) = self.params else {
            return ParamsFields::default();
        };
        if !params.get().starts_with('{') {
            return ParamsFields::default();
        }
        let Ok(raw) = serde_json::from_str::<RawParams<'_>>(params.get()) else {
            return ParamsFields::default();
        };
        let nested_thread_id = || {
            let thread = raw.thread?.get();
            let thread: RawThread<'_> = serde_json::from_str(thread).ok()?;
            thread.id.map(Cow::into_owned)
        };
        ParamsFields {
            thread_id: raw_string(raw.thread_id).or_else(nested_thread_id),
            anchor_id: raw_string(raw.anchor_id),
            request_id: raw.request_id.map(|r| r.get().to_string()),
        }
    }

    /// `result.thread.id` of a response (as answered to `thread/start`, `thread/resume`, …).
    pub fn result_thread_id(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct RawResult<'a> {
            #[serde(borrow, default)]
            thread: Option<RawThread<'a>>,
        }
        let result = self.result?;
        if !result.get().starts_with('{') {
            return None;
        }
        let raw: RawResult<'_> = serde_json::from_str(result.get()).ok()?;
        raw.thread?.id.map(Cow::into_owned)
    }

    /// The method name, or "" for a response.
    pub fn method_str(&self) -> &str {
        self.method.as_deref().unwrap_or("")
    }
}

/// Parses the message into a map so it can be rewritten, applies `edit`, and serialises it.
pub fn rewrite(text: &str, edit: impl FnOnce(&mut Map<String, Value>)) -> Result<String, RpcError> {
    let mut map: Map<String, Value> =
        serde_json::from_str(text).map_err(|e| RpcError::Malformed(e.to_string()))?;
    edit(&mut map);
    serde_json::to_string(&map).map_err(|e| RpcError::Malformed(e.to_string()))
}

/// Adds Orbit's top-level `"seq"` to a message that has none, without re-serialising it.
///
/// The caller guarantees `text` is a JSON object with at least one member and no `seq`
/// (as checked by [`peek`]); a message that has its own `seq` goes through [`rewrite`].
pub fn splice_seq(text: &str, seq: u64) -> String {
    let body = text.trim_start();
    let rest = body.strip_prefix('{').unwrap_or(body);
    let mut out = String::with_capacity(text.len() + 24);
    out.push_str("{\"seq\":");
    out.push_str(&seq.to_string());
    out.push(',');
    out.push_str(rest);
    out
}

/// A JSON-RPC error response, with Orbit's machine-readable code in `error.data.code`.
pub fn error_response(id: &RawValue, rpc_code: i64, code: &str, message: &str) -> String {
    let body = serde_json::json!({
        "code": rpc_code,
        "message": message,
        "data": { "code": code },
    });
    format!("{{\"id\":{},\"error\":{}}}", id.get(), body)
}

/// JSON-RPC error code Orbit uses for routing failures (server error range).
pub const ROUTING_ERROR: i64 = -32000;
/// JSON-RPC "Invalid request".
pub const INVALID_REQUEST: i64 = -32600;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_the_three_kinds_apart() {
        assert_eq!(
            peek(r#"{"id":1,"method":"m","params":{}}"#).map(|p| p.kind),
            Ok(RpcKind::Request)
        );
        assert_eq!(
            peek(r#"{"method":"m"}"#).map(|p| p.kind),
            Ok(RpcKind::Notification)
        );
        assert_eq!(
            peek(r#"{"id":"x","result":{}}"#).map(|p| p.kind),
            Ok(RpcKind::Response)
        );
        assert_eq!(
            peek(r#"{"id":-3,"error":{}}"#).map(|p| p.kind),
            Ok(RpcKind::Response)
        );
    }

    #[test]
    fn refuses_what_is_not_json_rpc() {
        assert!(matches!(peek(r#"{"foo":1}"#), Err(RpcError::Invalid(_))));
        assert!(matches!(peek(r#"{"result":1}"#), Err(RpcError::Invalid(_))));
        assert!(matches!(
            peek(r#"{"id":true,"method":"m"}"#),
            Err(RpcError::Invalid(_))
        ));
        assert!(matches!(
            peek(r#"{"id":{},"method":"m"}"#),
            Err(RpcError::Invalid(_))
        ));
        assert!(matches!(
            peek(r#"{"id":1,"method":"m","result":1}"#),
            Err(RpcError::Invalid(_))
        ));
        assert!(matches!(
            peek(r#"{"id":1,"method":"#),
            Err(RpcError::Malformed(_))
        ));
    }

    #[test]
    fn reads_thread_ids_from_either_place() {
        let p = peek(r#"{"method":"thread/started","params":{"thread":{"id":"t9"}}}"#).unwrap();
        assert_eq!(p.params_fields().thread_id.as_deref(), Some("t9"));
        let p = peek(r#"{"id":1,"result":{"thread":{"id":"t8","x":[1]}}}"#).unwrap();
        assert_eq!(p.result_thread_id().as_deref(), Some("t8"));
        let p = peek(r#"{"method":"m","params":[1,2]}"#).unwrap();
        assert_eq!(p.params_fields(), ParamsFields::default());
        let p =
            peek(r#"{"method":"m","params":{"anchorId":5,"thread":"x","threadId":"t2"}}"#).unwrap();
        assert_eq!(p.params_fields().thread_id.as_deref(), Some("t2"));
        assert_eq!(p.params_fields().anchor_id, None);
        let p = peek(r#"{"method":"m","params":{"threadId":"t\u0031"}}"#).unwrap();
        assert_eq!(p.params_fields().thread_id.as_deref(), Some("t1"));
    }

    #[test]
    fn splices_seq_into_the_front() {
        let text = r#" {"method":"m","params":{}}"#;
        let out = splice_seq(text, 42);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["seq"], 42);
        assert_eq!(v["method"], "m");
    }

    #[test]
    fn error_responses_carry_orbit_codes() {
        let id = RawValue::from_string("7".into()).unwrap();
        let text = error_response(&id, ROUTING_ERROR, "anchor_offline", "gone");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["id"], 7);
        assert_eq!(v["error"]["data"]["code"], "anchor_offline");
    }
}

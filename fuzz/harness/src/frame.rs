//! `frame`: a WebSocket text frame through the frame classifier ([`peek`]), the rewrites Orbit
//! splices into it ([`Envelope::edit`]), the control-frame parser and the request-id codecs.
//!
//! Checked, beyond "no panic":
//! * a frame `peek` accepts is one JSON object, and what it reports (kind, id, method, thread,
//!   anchor, `seq`) is what a full parse of the same text says;
//! * a rewritten frame is still one well-formed frame, equal to the original with exactly the
//!   requested changes (id and `params.requestId` replaced, `params.anchorId` and the sender's
//!   `seq` removed, Orbit's `seq` first), and peeks to the same kind, method and thread;
//! * a control frame that parses writes back to text that parses to the same frame;
//! * request ids: what Orbit encodes decodes to the same connection and original id, and what a
//!   peer forges decodes only to ids Orbit could have made.

use orbit_protocol::control::Control;
use orbit_protocol::envelope::{peek, Envelope, Kind, RpcKind};
use orbit_protocol::limits::MAX_FRAME_BYTES;
use orbit_protocol::request_id::{
    client_request_id, parse_client_request_id, parse_server_request_key, server_request_key,
    server_request_number,
};
use serde_json::{Map, Value};

/// The id Orbit gives a forwarded request, as the router would write it.
const NEW_ID: &str = r#""orbit:c0ffee:7""#;
/// The key Orbit gives a resolved server request.
const NEW_REQUEST_ID: &str = r#""orbit-srv:3""#;
const NEW_SEQ: u64 = 42;

pub fn frame(data: &[u8]) {
    // WebSocket text frames are UTF-8: the runtime refuses anything else before Orbit sees it.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    request_ids(text);
    control(text);
    match peek(text) {
        Ok(envelope) => accepted(text, &envelope),
        Err(e) => {
            // Every refusal has a wire code; an over-long frame is refused for its size alone.
            let _ = e.code();
            assert!(
                text.len() <= MAX_FRAME_BYTES
                    || matches!(e, orbit_protocol::envelope::PeekError::TooLarge { .. })
            );
        }
    }
}

fn accepted(text: &str, envelope: &Envelope<'_>) {
    assert!(
        text.len() <= MAX_FRAME_BYTES,
        "an over-long frame was accepted"
    );
    assert!(
        serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok(),
        "peek accepted malformed JSON: {text:?}"
    );
    // A `Value` cannot hold what `peek` may skip without reading: numbers beyond f64 (`1e400`)
    // and members nested deeper than serde_json's recursion limit (skipping is iterative, so
    // 10,000 levels are skipped, not recursed into). Such frames have no `Value` to compare with.
    let value = match serde_json::from_str::<Value>(text) {
        Ok(value) => value,
        Err(e)
            if ["number out of range", "recursion limit exceeded"]
                .iter()
                .any(|why| e.to_string().contains(why)) =>
        {
            return
        }
        Err(e) => panic!("peek accepted what serde_json refuses ({e}): {text:?}"),
    };
    let Some(object) = value.as_object() else {
        panic!("peek accepted a frame that is not an object: {text:?}");
    };
    agrees(envelope, object, text);
    rewritten(envelope, object, text);
}

/// What `peek` reports is what the whole object says.
fn agrees(envelope: &Envelope<'_>, object: &Map<String, Value>, text: &str) {
    let kind = object.get("type").filter(|t| !t.is_null());
    let answer = object.contains_key("result") || object.contains_key("error");
    match envelope.kind() {
        Kind::Control(name) => {
            let Some(kind) = kind else {
                panic!("a control frame without a type: {text:?}");
            };
            // An escaped or non-string type is reported as "" (no type Orbit knows).
            assert!(name.is_empty() || kind.as_str() == Some(name), "{text:?}");
        }
        Kind::Rpc(rpc) => {
            assert!(kind.is_none(), "a typed frame read as JSON-RPC: {text:?}");
            let (id, method) = (object.get("id"), object.get("method"));
            let expected = match (id.is_some(), method.is_some(), answer) {
                (true, true, false) => RpcKind::Request,
                (false, true, false) => RpcKind::Notification,
                (true, false, true) => RpcKind::Response,
                _ => panic!("accepted an impossible message: {text:?}"),
            };
            assert_eq!(rpc, expected, "{text:?}");
            if let Some(id) = id {
                assert!(
                    id.is_string() || id.is_number(),
                    "id {id} accepted: {text:?}"
                );
            }
            if let Some(method) = method {
                assert_eq!(Some(envelope.method()), method.as_str(), "{text:?}");
            }
        }
    }
    if let Some(raw) = envelope.id() {
        let id: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
        assert_eq!(Some(&id), object.get("id"), "{text:?}");
    }
    assert_eq!(envelope.has_seq(), object.contains_key("seq"), "{text:?}");
    let params = object.get("params");
    // `params.threadId` is refused when repeated, so a string there is unambiguous.
    if let Some(thread) = params
        .and_then(|p| p.get("threadId"))
        .and_then(Value::as_str)
    {
        assert_eq!(envelope.thread_id(), Some(thread), "{text:?}");
    }
    let anchor = params.and_then(|p| p.get("anchorId"));
    assert_eq!(
        envelope.anchor_id(),
        anchor.and_then(Value::as_str),
        "{text:?}"
    );
    if let Some(raw) = envelope.request_id() {
        let request_id: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
        assert_eq!(
            Some(&request_id),
            params.and_then(|p| p.get("requestId")),
            "{text:?}"
        );
    }
}

/// The rewrites the router makes, applied all at once, change exactly what they name.
fn rewritten(envelope: &Envelope<'_>, object: &Map<String, Value>, text: &str) {
    let mut edit = envelope.edit();
    edit.set_id(NEW_ID)
        .set_request_id(NEW_REQUEST_ID)
        .remove_anchor_id()
        .remove_seq()
        .prepend_seq(NEW_SEQ);
    let out = edit.finish();
    let again = match peek(&out) {
        Ok(again) => again,
        Err(e) => panic!("a rewrite broke the frame ({e}): {text:?} → {out:?}"),
    };
    assert_eq!(again.kind(), envelope.kind(), "{out:?}");
    assert_eq!(again.method(), envelope.method(), "{out:?}");
    assert_eq!(again.thread_id(), envelope.thread_id(), "{out:?}");
    assert_eq!(again.anchor_id(), None, "{out:?}");
    assert!(again.has_seq(), "{out:?}");

    let mut expected = object.clone();
    if expected.contains_key("id") {
        expected.insert("id".into(), Value::String("orbit:c0ffee:7".into()));
    }
    expected.insert("seq".into(), Value::from(NEW_SEQ));
    if let Some(Value::Object(params)) = expected.get_mut("params") {
        params.remove("anchorId");
        if params.contains_key("requestId") {
            params.insert("requestId".into(), Value::String("orbit-srv:3".into()));
        }
    }
    let got: Value = match serde_json::from_str(&out) {
        Ok(got) => got,
        Err(e) => panic!("a rewrite is not JSON ({e}): {text:?} → {out:?}"),
    };
    assert_eq!(got, Value::Object(expected), "{text:?} → {out:?}");
}

/// A control frame that parses round-trips through its text.
fn control(text: &str) {
    if let Ok(frame) = Control::parse_inbound(text) {
        assert!(frame.is_inbound(), "parse_inbound gave {frame:?}");
        assert_eq!(Control::parse(&frame.to_text()).as_ref(), Ok(&frame));
    }
    if let Ok(frame) = Control::parse(text) {
        assert_eq!(Control::parse(&frame.to_text()).as_ref(), Ok(&frame));
    }
}

fn request_ids(text: &str) {
    // A forged id decodes only to what Orbit could have encoded, and for one anchor at most:
    // every anchor id the text could hold is tried.
    let id: Option<String> = serde_json::from_str(text).ok();
    let candidates: Vec<String> = id
        .as_deref()
        .and_then(|id| id.split_once(':'))
        .and_then(|(_, rest)| rest.split_once(':'))
        .map(|(_, rest)| {
            rest.match_indices(':')
                .map(|(at, _)| rest[..at].to_string())
                .collect()
        })
        .unwrap_or_default();
    let mut readers = 0;
    for anchor in &candidates {
        let Some(address) = parse_client_request_id(text, anchor) else {
            continue;
        };
        readers += 1;
        assert!(!address.conn.is_empty());
        assert!(
            serde_json::from_str::<Value>(&address.original)
                .is_ok_and(|v| v.is_string() || v.is_number()),
            "{address:?}"
        );
        let again = client_request_id(
            &address.conn,
            anchor,
            address.binds_thread,
            &address.original,
        );
        assert_eq!(
            parse_client_request_id(&again, anchor),
            Some(address),
            "{text:?}"
        );
    }
    assert!(
        readers <= 1,
        "{text:?} reads as an address of {readers} anchors"
    );
    if let Some(key) = parse_server_request_key(text) {
        assert!(server_request_number(&key).is_some(), "{key:?}");
    }
    // Encoding: a connection id (no `:`) and an original id (a string's JSON text) from the input.
    let conn: String = text
        .chars()
        .filter(|c| *c != ':')
        .take(16)
        .collect::<String>();
    if !conn.is_empty() {
        let original = Value::String(text.to_string()).to_string();
        let anchor = text.chars().rev().take(12).collect::<String>();
        let marked = text.len().is_multiple_of(2);
        let id = client_request_id(&conn, &anchor, marked, &original);
        let address = parse_client_request_id(&id, &anchor);
        assert_eq!(
            address.map(|a| (a.conn, a.original, a.binds_thread)),
            (!anchor.is_empty()).then_some((conn, original, marked))
        );
    }
    let n = text.len() as u64;
    let key = server_request_key(n);
    assert_eq!(server_request_number(&key), Some(n));
    assert_eq!(
        parse_server_request_key(&Value::String(key.clone()).to_string()),
        Some(key)
    );
}

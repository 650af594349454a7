use super::*;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn kind(text: &str) -> Result<Kind<'_>, ErrorCode> {
    peek(text).map(|e| e.kind()).map_err(|e| e.code())
}

#[test]
fn tells_the_kinds_apart() {
    assert_eq!(
        kind(r#"{"id":1,"method":"m","params":{}}"#),
        Ok(Kind::Rpc(RpcKind::Request))
    );
    assert_eq!(
        kind(r#"{"method":"m"}"#),
        Ok(Kind::Rpc(RpcKind::Notification))
    );
    assert_eq!(
        kind(r#"{"id":"x","result":{}}"#),
        Ok(Kind::Rpc(RpcKind::Response))
    );
    assert_eq!(
        kind(r#"{"id":-3,"error":{}}"#),
        Ok(Kind::Rpc(RpcKind::Response))
    );
    // `"result": null` is a result.
    assert_eq!(
        kind(r#"{"id":1,"result":null}"#),
        Ok(Kind::Rpc(RpcKind::Response))
    );
    assert_eq!(kind(r#"{"type":"ping","id":1}"#), Ok(Kind::Control("ping")));
    assert_eq!(kind(r#"{"type":7}"#), Ok(Kind::Control("")));
}

#[test]
fn each_defect_has_its_code() {
    assert_eq!(kind("{"), Err(ErrorCode::MalformedJson));
    assert_eq!(kind("nope"), Err(ErrorCode::MalformedJson));
    assert_eq!(kind("42"), Err(ErrorCode::NotAnObject));
    assert_eq!(kind("[1]"), Err(ErrorCode::NotAnObject));
    assert_eq!(kind(r#"{"hello":1}"#), Err(ErrorCode::InvalidMessage));
    assert_eq!(kind(r#"{"result":1}"#), Err(ErrorCode::InvalidMessage));
    assert_eq!(
        kind(r#"{"id":true,"method":"m"}"#),
        Err(ErrorCode::InvalidMessage)
    );
    assert_eq!(
        kind(r#"{"id":{},"method":"m"}"#),
        Err(ErrorCode::InvalidMessage)
    );
    assert_eq!(
        kind(r#"{"id":1,"method":"m","result":1}"#),
        Err(ErrorCode::InvalidMessage)
    );
    assert_eq!(kind(r#"{"method":5}"#), Err(ErrorCode::InvalidMessage));
    assert_eq!(kind(r#"{"id":1,"method":"#), Err(ErrorCode::MalformedJson));
    assert_eq!(
        kind(r#"{"method":"m"} trailing"#),
        Err(ErrorCode::MalformedJson)
    );
    let big = format!(
        r#"{{"method":"m","params":"{}"}}"#,
        "x".repeat(MAX_FRAME_BYTES)
    );
    assert_eq!(kind(&big), Err(ErrorCode::FrameTooLarge));
}

#[test]
fn a_routing_member_twice_is_refused_so_no_two_readers_can_disagree() {
    // Orbit would route by one copy and codex might read the other.
    for text in [
        r#"{"id":1,"id":2,"method":"m"}"#,
        r#"{"id":1,"method":"m","method":"n"}"#,
        r#"{"method":"m","params":{"threadId":"a","threadId":"b"}}"#,
        r#"{"method":"m","params":{"anchorId":"a","anchorId":"b"}}"#,
        r#"{"method":"m","params":{}, "params":{}}"#,
        r#"{"method":"m","seq":1,"seq":2}"#,
        r#"{"method":"m","params":{"thread":{"id":"a","id":"b"}}}"#,
        r#"{"method":"m","params":{"thread":{"id":1,"id":"b"}}}"#,
        r#"{"method":"m","params":{"thread":{"id":"a"},"thread":{"id":"b"}}}"#,
        r#"{"id":1,"result":{"thread":{"id":"a","id":"b"}}}"#,
        r#"{"id":1,"result":{"thread":{"id":"a"},"thread":{"id":"b"}}}"#,
    ] {
        assert_eq!(kind(text), Err(ErrorCode::InvalidMessage), "{text}");
    }
}

#[test]
fn a_type_twice_is_refused_even_when_one_is_null() {
    // Found by the `frame` fuzz target's invariant: Orbit took the first as a control frame's
    // type while a reader that keeps the last saw `"type": null`, a JSON-RPC message.
    for text in [
        r#"{"type":"ping","type":null}"#,
        r#"{"type":null,"type":"ping"}"#,
        r#"{"type":null,"type":null,"method":"m"}"#,
    ] {
        assert_eq!(kind(text), Err(ErrorCode::InvalidMessage), "{text}");
    }
}

#[test]
fn a_routing_member_with_an_escaped_name_is_refused() {
    assert_eq!(
        kind(r#"{"\u0069d":1,"method":"m"}"#),
        Err(ErrorCode::InvalidMessage)
    );
    assert_eq!(
        kind(r#"{"method":"m","params":{"anchor\u0049d":"a"}}"#),
        Err(ErrorCode::InvalidMessage)
    );
    for text in [
        r#"{"method":"m","params":{"thread":{"\u0069d":"a"}}}"#,
        r#"{"id":1,"result":{"thread":{"\u0069d":"a"}}}"#,
        r#"{"id":1,"result":{"\u0074hread":{"id":"a"}}}"#,
    ] {
        assert_eq!(kind(text), Err(ErrorCode::InvalidMessage), "{text}");
    }
    // Other members may be escaped at will.
    assert_eq!(
        kind(r#"{"method":"m","params":{"\u0078":1}}"#),
        Ok(Kind::Rpc(RpcKind::Notification))
    );
}

#[test]
fn reads_thread_ids_from_either_place() {
    let p = peek(r#"{"method":"thread/started","params":{"thread":{"id":"t9"}}}"#).unwrap();
    assert_eq!(p.thread_id(), Some("t9"));
    let p = peek(r#"{"id":1,"result":{"thread":{"id":"t8","x":[1]}}}"#).unwrap();
    assert_eq!(p.result_thread_id(), Some("t8"));
    let p = peek(r#"{"method":"m","params":[1,2]}"#).unwrap();
    assert_eq!((p.thread_id(), p.anchor_id()), (None, None));
    let p = peek(r#"{"method":"m","params":{"anchorId":5,"thread":"x","threadId":"t2"}}"#).unwrap();
    assert_eq!((p.thread_id(), p.anchor_id()), (Some("t2"), None));
    let p = peek(r#"{"method":"m","params":{"threadId":"t\u0031"}}"#).unwrap();
    assert_eq!(p.thread_id(), Some("t1"));
    let p = peek(r#"{"method":"serverRequest/resolved","params":{"requestId":0}}"#).unwrap();
    assert_eq!(p.request_id(), Some("0"));
}

fn edit(text: &str, f: impl FnOnce(&mut Edit<'_, '_>)) -> String {
    let env = peek(text).unwrap();
    let mut e = env.edit();
    f(&mut e);
    e.finish()
}

#[test]
fn untouched_frames_keep_their_bytes() {
    let text = r#" { "method" : "m" , "params" : { "x" : [1, 2] } } "#;
    assert_eq!(edit(text, |_| {}), text);
}

#[test]
fn members_go_with_the_right_comma() {
    let first = r#"{"method":"m","params":{"anchorId":"a", "threadId":"t"}}"#;
    assert_eq!(
        edit(first, |e| {
            e.remove_anchor_id();
        }),
        r#"{"method":"m","params":{ "threadId":"t"}}"#
    );
    let last = r#"{"method":"m","params":{"threadId":"t" , "anchorId":"a" }}"#;
    assert_eq!(
        edit(last, |e| {
            e.remove_anchor_id();
        }),
        r#"{"method":"m","params":{"threadId":"t"  }}"#
    );
    let only = r#"{"method":"m","params":{ "anchorId":"a" }}"#;
    assert_eq!(
        edit(only, |e| {
            e.remove_anchor_id();
        }),
        r#"{"method":"m","params":{  }}"#
    );
}

#[test]
fn seq_is_replaced_wherever_the_sender_put_it() {
    for text in [
        r#"{"seq":5,"method":"m","params":{"threadId":"t"}}"#,
        r#"{"method":"m","seq":5,"params":{"threadId":"t"}}"#,
        r#"{"method":"m","params":{"threadId":"t"},"seq":null}"#,
    ] {
        let out = edit(text, |e| {
            e.remove_seq().prepend_seq(9);
        });
        assert!(out.starts_with(r#"{"seq":9,"#), "{out}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v,
            json!({"seq": 9, "method": "m", "params": {"threadId": "t"}})
        );
    }
}

#[test]
fn origin_is_replaced_wherever_the_sender_put_it_and_follows_seq() {
    let stamp = r#"{"anchorId":"a1","name":"Laptop"}"#;
    for text in [
        r#"{"origin":{"anchorId":"a2"},"method":"m","params":{"threadId":"t"}}"#,
        r#"{"method":"m","origin":"me","params":{"threadId":"t"},"seq":4}"#,
        r#"{"method":"m","params":{"threadId":"t"},"origin":null}"#,
        r#"{"method":"m","params":{"threadId":"t"}}"#,
    ] {
        assert_eq!(peek(text).unwrap().has_origin(), text.contains("origin"));
        let out = edit(text, |e| {
            e.remove_seq()
                .remove_origin()
                .prepend_seq(9)
                .prepend_origin(stamp);
        });
        assert!(
            out.starts_with(r#"{"seq":9,"origin":{"anchorId":"a1","name":"Laptop"},"#),
            "{out}"
        );
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v,
            json!({"seq": 9, "origin": {"anchorId": "a1", "name": "Laptop"},
                   "method": "m", "params": {"threadId": "t"}})
        );
        let without_seq = edit(text, |e| {
            e.remove_seq().remove_origin().prepend_origin(stamp);
        });
        assert!(
            without_seq.starts_with(r#"{"origin":{"anchorId":"a1","name":"Laptop"},"m"#),
            "{without_seq}"
        );
    }
    assert_eq!(
        peek(r#"{"method":"m","origin":1,"origin":2}"#)
            .unwrap_err()
            .code(),
        ErrorCode::InvalidMessage,
        "two origins are refused like two seqs"
    );
}

#[test]
fn ids_and_request_ids_are_spliced() {
    assert_eq!(
        edit(r#"{"id":"orbit:c:1","result":{"ok":true}}"#, |e| {
            e.set_id("1");
        }),
        r#"{"id":1,"result":{"ok":true}}"#
    );
    assert_eq!(
        edit(
            r#"{"method":"serverRequest/resolved","params":{"threadId":"t","requestId":0}}"#,
            |e| {
                e.set_request_id(r#""orbit-srv:3""#).prepend_seq(2);
            }
        ),
        r#"{"seq":2,"method":"serverRequest/resolved","params":{"threadId":"t","requestId":"orbit-srv:3"}}"#
    );
}

// ---- Against a reference built on serde_json::Value -----------------------------------------

fn reference_thread_id(v: &Value) -> Option<String> {
    let params = v.get("params")?.as_object()?;
    params
        .get("threadId")
        .and_then(Value::as_str)
        .or_else(|| params.get("thread")?.get("id")?.as_str())
        .map(str::to_string)
}

fn reference_kind(v: &Value) -> Option<RpcKind> {
    let id = v.get("id");
    if id.is_some_and(|id| !id.is_string() && !id.is_number()) {
        return None;
    }
    match (
        id.is_some(),
        v.get("method").is_some(),
        v.get("result").is_some(),
    ) {
        (true, true, false) => Some(RpcKind::Request),
        (false, true, false) => Some(RpcKind::Notification),
        (true, false, true) => Some(RpcKind::Response),
        _ => None,
    }
}

fn member() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        "[a-z\"\\\\ é/]{0,6}".prop_map(Value::from),
        prop::collection::vec(any::<u8>().prop_map(Value::from), 0..3).prop_map(Value::Array),
    ]
}

fn message() -> impl Strategy<Value = Value> {
    (
        prop::option::of(prop_oneof![
            any::<i64>().prop_map(Value::from),
            "[a-z:0-9\"]{0,8}".prop_map(Value::from)
        ]),
        prop::option::of("[a-z/]{1,12}"),
        prop::option::of((
            prop::option::of("[a-z0-9\"]{1,6}"),
            prop::option::of("[a-z0-9]{1,6}"),
            prop::option::of(any::<u16>()),
            prop::option::of("[a-z0-9]{1,6}"),
            prop::collection::btree_map("[a-z]{1,5}", member(), 0..3),
        )),
        prop::option::of(member()),
        prop::option::of(any::<u32>()),
        prop::collection::btree_map("[b-d]{1,4}", member(), 0..3),
        any::<bool>(),
    )
        .prop_map(|(id, method, params, result, seq, extra, result_first)| {
            let mut map = Map::new();
            if result_first {
                if let Some(r) = result.clone() {
                    map.insert("result".into(), r);
                }
            }
            for (k, v) in extra {
                map.insert(k, v);
            }
            if let Some(id) = id {
                map.insert("id".into(), id);
            }
            if let Some(m) = method {
                map.insert("method".into(), Value::from(m));
            }
            if let Some((thread_id, anchor_id, request_id, nested, more)) = params {
                let mut p = Map::new();
                for (k, v) in more {
                    p.insert(k, v);
                }
                if let Some(t) = thread_id {
                    p.insert("threadId".into(), Value::from(t));
                }
                if let Some(a) = anchor_id {
                    p.insert("anchorId".into(), Value::from(a));
                }
                if let Some(r) = request_id {
                    p.insert("requestId".into(), Value::from(r));
                }
                if let Some(n) = nested {
                    p.insert("thread".into(), json!({ "id": n }));
                }
                map.insert("params".into(), Value::Object(p));
            }
            if !result_first {
                if let Some(r) = result {
                    map.insert("result".into(), r);
                }
            }
            if let Some(s) = seq {
                map.insert("seq".into(), Value::from(s));
            }
            Value::Object(map)
        })
}

proptest! {
    #[test]
    fn peek_agrees_with_a_full_parse(v in message(), pretty in any::<bool>()) {
        let text = if pretty { serde_json::to_string_pretty(&v).unwrap() } else { v.to_string() };
        let env = peek(&text);
        prop_assert_eq!(env.as_ref().ok().and_then(Envelope::rpc_kind), reference_kind(&v));
        let Ok(env) = env else { return Ok(()) };
        prop_assert_eq!(env.thread_id().map(str::to_string), reference_thread_id(&v));
        prop_assert_eq!(
            env.anchor_id().map(str::to_string),
            v.pointer("/params/anchorId").and_then(Value::as_str).map(str::to_string)
        );
        prop_assert_eq!(env.has_seq(), v.get("seq").is_some());
        prop_assert_eq!(env.method(), v.get("method").and_then(Value::as_str).unwrap_or(""));

        // Every edit keeps the text valid JSON and equals the same edit made on the tree.
        let mut e = env.edit();
        e.set_id("\"new\"").remove_anchor_id().remove_seq().set_request_id("7").prepend_seq(3)
            .remove_origin().prepend_origin(r#"{"anchorId":"a"}"#);
        let out = e.finish();
        let got: Value = serde_json::from_str(&out).map_err(|err| TestCaseError::fail(format!("{err}: {out}")))?;
        let mut want = v.clone();
        let obj = want.as_object_mut().unwrap();
        if obj.contains_key("id") { obj.insert("id".into(), json!("new")); }
        obj.remove("seq");
        obj.insert("seq".into(), json!(3));
        obj.remove("origin");
        obj.insert("origin".into(), json!({"anchorId": "a"}));
        if let Some(Value::Object(p)) = obj.get_mut("params") {
            p.remove("anchorId");
            if p.contains_key("requestId") { p.insert("requestId".into(), json!(7)); }
        }
        prop_assert_eq!(got, want);
        prop_assert!(out.starts_with("{\"seq\":3"), "{}", out);
    }

    #[test]
    fn never_panics_on_any_text(s in ".{0,256}") {
        if let Ok(env) = peek(&s) {
            let mut e = env.edit();
            e.set_id("1").remove_anchor_id().remove_seq().set_request_id("2").prepend_seq(1)
                .remove_origin().prepend_origin("{}");
            let _ = e.finish();
        }
    }

    #[test]
    fn never_panics_on_json_like_text(s in r#"\{("(type|id|method|params|result|error|seq|origin|threadId|anchorId|thread)"|[:,\[\]{}0-9 "a-z.-])*\}?"#) {
        if let Ok(env) = peek(&s) {
            let mut e = env.edit();
            e.set_id("1").remove_anchor_id().remove_seq().set_request_id("2").prepend_seq(1)
                .remove_origin().prepend_origin("{}");
            let out = e.finish();
            if serde_json::from_str::<Value>(&s).is_ok() {
                prop_assert!(serde_json::from_str::<Value>(&out).is_ok(), "{} -> {}", s, out);
            }
        }
    }
}

/// `levels` nested arrays around `inner`.
fn arrays(levels: usize, inner: &str) -> String {
    format!("{}{inner}{}", "[".repeat(levels), "]".repeat(levels))
}

/// Frames whose `slot` (a JSON value placed where `@` is) sits `depth` containers deep.
const SLOTS: &[(&str, usize)] = &[
    (r#"{"id":1,"method":"m","params":{"other":@}}"#, 2),
    (r#"{"id":1,"method":"m","params":{"threadId":@}}"#, 2),
    (r#"{"id":1,"method":"m","params":{"anchorId":@}}"#, 2),
    (r#"{"method":"m","params":{"requestId":@}}"#, 2),
    (r#"{"method":"m","params":{"thread":{"id":@}}}"#, 3),
    (r#"{"id":1,"result":{"thread":{"id":@}}}"#, 3),
    (r#"{"id":1,"result":@}"#, 1),
    (r#"{"id":1,"error":@}"#, 1),
    (r#"{"method":"m","seq":@}"#, 1),
    (r#"{"type":@}"#, 1),
    (r#"{"type":"ping","x":@}"#, 1),
];

#[test]
fn nesting_is_held_to_one_limit_wherever_it_is_in_the_frame() {
    for (frame, depth) in SLOTS {
        // The deepest a frame may go, counting its own object: accepted (or refused for
        // something else than depth, such as a non-string id).
        let at_limit = frame.replace('@', &arrays(MAX_FRAME_DEPTH - depth, "1"));
        assert!(
            !matches!(peek(&at_limit), Err(PeekError::TooDeep { .. })),
            "{frame} at the limit"
        );
        // One level more is refused, as serde_json (codex's parser) would refuse it.
        let over = frame.replace('@', &arrays(MAX_FRAME_DEPTH - depth + 1, "1"));
        assert_eq!(
            peek(&over).unwrap_err(),
            PeekError::TooDeep {
                limit: MAX_FRAME_DEPTH
            },
            "{frame} one level over"
        );
        assert!(
            serde_json::from_str::<Value>(&over).is_err()
                && serde_json::from_str::<Value>(&at_limit).is_ok(),
            "the limit is serde_json's: {frame}"
        );
    }
}

#[test]
fn ten_thousand_levels_deep_anywhere_is_refused_with_a_clear_error_and_no_overflow() {
    let deep_arrays = arrays(10_000, "");
    let deep_objects = format!("{}{{}}{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
    for (frame, _) in SLOTS {
        for deep in [&deep_arrays, &deep_objects] {
            let text = frame.replace('@', deep);
            let err = peek(&text).unwrap_err();
            assert_eq!(err.code(), ErrorCode::MalformedJson, "{frame}");
            assert!(err.to_string().contains("nested deeper than 127"), "{err}");
        }
    }
    for whole in [&deep_arrays, &deep_objects] {
        assert_eq!(
            peek(whole).unwrap_err(),
            PeekError::TooDeep {
                limit: MAX_FRAME_DEPTH
            }
        );
    }
}

#[test]
fn brackets_inside_strings_do_not_count_as_nesting() {
    let text = format!(
        r#"{{"id":1,"method":"m","params":{{"threadId":["{}\"\\",{{}}]}}}}"#,
        "[{".repeat(500)
    );
    assert!(peek(&text).is_ok(), "{text}");
    assert_eq!(nesting(r#"["[[\"{",{"a":[1]}]"#), 3);
    assert_eq!(nesting("17"), 0);
}

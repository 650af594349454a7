//! One scenario per behaviour; frames are read back as JSON only here, to check them.

use super::codex_side::codex_version_from_user_agent;
use super::*;
use orbit_protocol::control::PONG_FRAME;
use orbit_protocol::ErrorCode;
use serde_json::json;

fn bridge_with(config: BridgeConfig) -> Bridge {
    Bridge::new(config)
}

fn to_codex(actions: &[BridgeAction]) -> Vec<Value> {
    actions
        .iter()
        .filter_map(|a| match a {
            BridgeAction::ToCodex(t) => serde_json::from_str(t).ok(),
            _ => None,
        })
        .collect()
}

fn to_orbit(actions: &[BridgeAction]) -> Vec<Value> {
    actions
        .iter()
        .filter_map(|a| match a {
            BridgeAction::ToOrbit(t) => serde_json::from_str(t).ok(),
            _ => None,
        })
        .collect()
}

fn ev(b: &mut Bridge, e: BridgeEvent) -> Vec<BridgeAction> {
    b.handle(e, 1_000, 0.5)
}

/// A connected bridge with a ready codex.
fn ready() -> Bridge {
    ready_with(BridgeConfig::default())
}

/// A connected bridge with a ready codex and this configuration.
fn ready_with(config: BridgeConfig) -> Bridge {
    let mut b = bridge_with(config);
    ev(&mut b, BridgeEvent::OrbitConnected);
    ev(&mut b, BridgeEvent::CodexStarted);
    ev(
        &mut b,
        BridgeEvent::CodexLine(
            r#"{"id":"anchor-init-1","result":{"userAgent":"codex/0.169.0"}}"#.into(),
        ),
    );
    assert_eq!(b.state(), BridgeState::Ready);
    b
}

#[test]
fn handshake_order_and_init_answer_consumed() {
    let mut b = bridge_with(BridgeConfig::default());
    assert_eq!(b.state(), BridgeState::Starting);
    let a = ev(&mut b, BridgeEvent::CodexStarted);
    let sent = to_codex(&a);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["method"], "initialize");
    assert_eq!(sent[0]["id"], "anchor-init-1");
    assert_eq!(sent[0]["params"]["clientInfo"]["name"], "orbit-anchor");
    assert_eq!(b.state(), BridgeState::Initializing);
    let a = ev(
        &mut b,
        BridgeEvent::CodexLine(r#"{"id":"anchor-init-1","result":{"userAgent":"x"}}"#.into()),
    );
    assert_eq!(to_codex(&a), vec![json!({"method": "initialized"})]);
    assert!(to_orbit(&a).is_empty(), "the init answer is not forwarded");
    assert_eq!(b.buffered_to_orbit(), 0);
    assert_eq!(b.state(), BridgeState::Ready);
    assert_eq!(b.init_result.as_deref(), Some(r#"{"userAgent":"x"}"#));
}

#[test]
fn frames_wait_until_ready_then_flow_in_order() {
    let mut b = bridge_with(BridgeConfig::default());
    ev(&mut b, BridgeEvent::OrbitConnected);
    assert!(ev(
        &mut b,
        BridgeEvent::OrbitFrame(r#"{"id":"orbit:c:1","method":"thread/list"}"#.into())
    )
    .is_empty());
    ev(&mut b, BridgeEvent::CodexStarted);
    assert!(ev(
        &mut b,
        BridgeEvent::OrbitFrame(r#"{"id":"orbit:c:2","method":"thread/start"}"#.into())
    )
    .is_empty());
    assert_eq!(b.to_codex.len(), 2);
    let a = ev(
        &mut b,
        BridgeEvent::CodexLine(r#"{"id":"anchor-init-1","result":{}}"#.into()),
    );
    let sent = to_codex(&a);
    assert_eq!(sent[0]["method"], "initialized");
    assert_eq!(sent[1]["id"], "orbit:c:1");
    assert_eq!(sent[2]["id"], "orbit:c:2");
    assert_eq!(b.in_flight(), 2);
    let a = ev(
        &mut b,
        BridgeEvent::CodexLine(r#"{"id":"orbit:c:1","result":{"data":[]}}"#.into()),
    );
    assert_eq!(to_orbit(&a)[0]["id"], "orbit:c:1");
    assert_eq!(b.in_flight(), 1);
}

#[test]
fn client_initialize_is_answered_from_cache() {
    let mut b = ready();
    let a = ev(
        &mut b,
        BridgeEvent::OrbitFrame(r#"{"id":"orbit:c:1","method":"initialize","params":{}}"#.into()),
    );
    assert!(to_codex(&a).is_empty());
    assert_eq!(
        to_orbit(&a),
        vec![json!({"id": "orbit:c:1", "result": {"userAgent": "codex/0.169.0"}})]
    );
    assert!(ev(
        &mut b,
        BridgeEvent::OrbitFrame(r#"{"method":"initialized"}"#.into())
    )
    .is_empty());
}

#[test]
fn in_flight_requests_fail_when_codex_exits_and_clients_are_told() {
    let mut b = ready();
    ev(
        &mut b,
        BridgeEvent::OrbitFrame(r#"{"id":"orbit:c:1","method":"turn/start"}"#.into()),
    );
    ev(
        &mut b,
        BridgeEvent::OrbitFrame(r#"{"id":"orbit:c:2","method":"thread/list"}"#.into()),
    );
    ev(
        &mut b,
        BridgeEvent::CodexLine(
            r#"{"id":0,"method":"item/commandExecution/requestApproval","params":{}}"#.into(),
        ),
    );
    let a = ev(&mut b, BridgeEvent::CodexExited { code: Some(1) });
    let sent = to_orbit(&a);
    assert_eq!(sent.len(), 3);
    for (frame, id) in sent.iter().zip(["orbit:c:1", "orbit:c:2"]) {
        assert_eq!(frame["id"], id);
        assert_eq!(frame["error"]["data"]["code"], "codex_exited");
        assert!(frame["error"]["message"]
            .as_str()
            .unwrap()
            .contains("status 1"));
    }
    assert_eq!(sent[2]["method"], CODEX_EXITED_METHOD);
    assert_eq!(sent[2]["params"]["failedRequests"], 2);
    assert_eq!(sent[2]["params"]["abandonedServerRequests"], json!([0]));
    assert_eq!(
        a.last(),
        Some(&BridgeAction::RestartCodexAfter(Duration::from_millis(250)))
    );
    assert_eq!(b.state(), BridgeState::Restarting);
    assert_eq!(b.in_flight(), 0);
    assert_eq!(b.stats().failed_on_exit, 2);

    // A late approval answer for the dead codex is not delivered to the new one.
    ev(
        &mut b,
        BridgeEvent::OrbitFrame(r#"{"id":0,"result":{"decision":"accept"}}"#.into()),
    );
    let a = ev(&mut b, BridgeEvent::CodexStarted);
    assert_eq!(to_codex(&a)[0]["id"], "anchor-init-2");
    let a = ev(
        &mut b,
        BridgeEvent::CodexLine(r#"{"id":"anchor-init-2","result":{}}"#.into()),
    );
    assert_eq!(to_codex(&a), vec![json!({"method": "initialized"})]);
    let sent = to_orbit(&a);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(
        sent[0],
        json!({"method": CODEX_RESTARTED_METHOD, "params": {"restarts": 1}})
    );
    // Its sender is told, through Orbit, instead of waiting.
    assert_eq!(sent[1]["id"], 0);
    assert_eq!(sent[1]["error"]["data"]["code"], "codex_exited");
    assert_eq!(b.stats().stale_answers_dropped, 1);
}

#[test]
fn server_request_answers_reach_codex_once() {
    let mut b = ready();
    ev(
        &mut b,
        BridgeEvent::CodexLine(
            r#"{"id":0,"method":"item/fileChange/requestApproval","params":{}}"#.into(),
        ),
    );
    let answer = r#"{"id":0,"result":{"decision":"accept"}}"#;
    let a = ev(&mut b, BridgeEvent::OrbitFrame(answer.into()));
    assert_eq!(a.last(), Some(&BridgeAction::ToCodex(answer.into())));
    assert_eq!(to_codex(&a).len(), 1);
    let again = ev(&mut b, BridgeEvent::OrbitFrame(answer.into()));
    assert!(to_codex(&again).is_empty());
    assert_eq!(
        to_orbit(&again)[0]["error"]["data"]["code"],
        "already_resolved"
    );
}

#[test]
fn helpers_are_intercepted_in_any_state() {
    let mut b = bridge_with(BridgeConfig::default());
    let a = ev(
        &mut b,
        BridgeEvent::OrbitFrame(
            r#"{"id":"orbit:c:9","method":"anchor.status","params":{"x":1}}"#.into(),
        ),
    );
    assert_eq!(
        a,
        vec![BridgeAction::HandleHelper {
            id: r#""orbit:c:9""#.into(),
            method: "anchor.status".into(),
            frame: r#"{"id":"orbit:c:9","method":"anchor.status","params":{"x":1}}"#.into(),
        }]
    );
    assert!(b.to_codex.is_empty());
}

#[test]
fn control_frames_never_reach_codex() {
    let mut b = ready();
    assert_eq!(
        ev(&mut b, BridgeEvent::OrbitFrame(r#"{"type":"ping"}"#.into())),
        vec![BridgeAction::ToOrbit(PONG_FRAME.into())]
    );
    assert!(ev(&mut b, BridgeEvent::OrbitFrame(r#"{"type":"pong"}"#.into())).is_empty());
    let a = ev(
        &mut b,
        BridgeEvent::OrbitFrame(
            r#"{"type":"orbit.error","code":"unknown_response_id","message":"m"}"#.into(),
        ),
    );
    assert_eq!(
        a,
        vec![BridgeAction::OrbitControl(Control::Error {
            code: ErrorCode::UnknownResponseId,
            message: "m".into()
        })]
    );
    assert!(ev(&mut b, BridgeEvent::OrbitFrame("not json".into())).is_empty());
    // A control frame of a type this anchor does not know (a newer Orbit's).
    assert!(ev(
        &mut b,
        BridgeEvent::OrbitFrame(r#"{"type":"orbit.future"}"#.into())
    )
    .is_empty());
    assert_eq!(b.stats().unreadable_orbit_frames, 2);
}

#[test]
fn full_queue_answers_anchor_busy() {
    let mut b = bridge_with(BridgeConfig {
        max_queued_to_codex_frames: 2,
        ..BridgeConfig::default()
    });
    ev(&mut b, BridgeEvent::OrbitConnected);
    for n in 1..=2 {
        assert!(ev(
            &mut b,
            BridgeEvent::OrbitFrame(format!(r#"{{"id":{n},"method":"m"}}"#))
        )
        .is_empty());
    }
    let a = ev(
        &mut b,
        BridgeEvent::OrbitFrame(r#"{"id":3,"method":"m"}"#.into()),
    );
    let sent = to_orbit(&a);
    assert_eq!(sent[0]["id"], 3);
    assert_eq!(sent[0]["error"]["data"]["code"], "anchor_busy");
    assert_eq!(b.stats().busy_rejections, 1);

    let mut b = bridge_with(BridgeConfig {
        max_queued_to_codex_bytes: 30,
        ..BridgeConfig::default()
    });
    ev(&mut b, BridgeEvent::OrbitConnected);
    let a = ev(
        &mut b,
        BridgeEvent::OrbitFrame(format!(r#"{{"id":1,"method":"{}"}}"#, "m".repeat(40))),
    );
    assert_eq!(to_orbit(&a)[0]["error"]["data"]["code"], "anchor_busy");
}

#[test]
fn unreadable_codex_lines_are_counted_and_dropped() {
    let mut b = ready();
    assert!(ev(&mut b, BridgeEvent::CodexLine("WARN something".into())).is_empty());
    assert!(ev(&mut b, BridgeEvent::CodexLine("".into())).is_empty());
    assert!(ev(&mut b, BridgeEvent::CodexLine("[1,2]".into())).is_empty());
    // JSON objects that are no JSON-RPC message, which Orbit would refuse.
    assert!(ev(&mut b, BridgeEvent::CodexLine(r#"{"x":1}"#.into())).is_empty());
    assert!(ev(
        &mut b,
        BridgeEvent::CodexLine(r#"{"type":"anchor.hello"}"#.into())
    )
    .is_empty());
    assert!(ev(
        &mut b,
        BridgeEvent::CodexLineLost(crate::lines::LineError::NotUtf8)
    )
    .is_empty());
    assert_eq!(b.stats().unreadable_codex_lines, 5);
    ev(
        &mut b,
        BridgeEvent::CodexLineLost(crate::lines::LineError::TooLong {
            max: 16,
            head: r#"{"method":"x","params":{"#.into(),
        }),
    );
    assert_eq!(b.stats().too_large, 1);
    assert!(b.last_error().is_some_and(|e| e.contains("over 16 bytes")));
}

#[test]
fn refused_handshake_kills_codex() {
    let mut b = bridge_with(BridgeConfig::default());
    ev(&mut b, BridgeEvent::CodexStarted);
    let a = ev(
        &mut b,
        BridgeEvent::CodexLine(
            r#"{"id":"anchor-init-1","error":{"code":-32600,"message":"no"}}"#.into(),
        ),
    );
    assert!(matches!(&a[..], [BridgeAction::KillCodex { .. }]));
    assert!(b.last_error().unwrap().contains("refused"));
}

#[test]
fn orbit_buffer_drops_notifications_before_responses_and_hello_goes_first() {
    let mut b = bridge_with(BridgeConfig {
        max_buffered_to_orbit_frames: 3,
        ..BridgeConfig::default()
    });
    ev(&mut b, BridgeEvent::CodexStarted);
    ev(
        &mut b,
        BridgeEvent::CodexLine(r#"{"id":"anchor-init-1","result":{}}"#.into()),
    );
    ev(
        &mut b,
        BridgeEvent::OrbitFrame(r#"{"id":"r1","method":"m"}"#.into()),
    );
    ev(&mut b, BridgeEvent::CodexLine(r#"{"method":"n1"}"#.into()));
    ev(
        &mut b,
        BridgeEvent::CodexLine(r#"{"id":"r1","result":{}}"#.into()),
    );
    ev(&mut b, BridgeEvent::CodexLine(r#"{"method":"n2"}"#.into()));
    ev(
        &mut b,
        BridgeEvent::CodexLine(r#"{"id":5,"method":"approve"}"#.into()),
    );
    assert_eq!(b.buffered_to_orbit(), 3);
    assert_eq!(b.stats().to_orbit_notifications_dropped, 1);
    ev(
        &mut b,
        BridgeEvent::CodexLine(r#"{"id":6,"method":"approve"}"#.into()),
    );
    ev(
        &mut b,
        BridgeEvent::CodexLine(r#"{"id":7,"method":"approve"}"#.into()),
    );
    assert_eq!(b.stats().to_orbit_notifications_dropped, 2);
    assert_eq!(
        b.stats().to_orbit_responses_dropped,
        1,
        "only when nothing else is left"
    );
    let a = ev(&mut b, BridgeEvent::OrbitConnected);
    let sent = to_orbit(&a);
    assert_eq!(sent[0]["type"], "anchor.hello");
    assert_eq!(
        sent[1..]
            .iter()
            .map(|f| f["id"].clone())
            .collect::<Vec<_>>(),
        vec![json!(5), json!(6), json!(7)]
    );
    assert_eq!(b.buffered_to_orbit(), 0);
    ev(&mut b, BridgeEvent::OrbitDisconnected);
    ev(&mut b, BridgeEvent::CodexLine(r#"{"method":"n3"}"#.into()));
    assert_eq!(b.buffered_to_orbit(), 1);
}

#[test]
fn restart_backoff_grows_while_codex_keeps_dying() {
    let mut b = bridge_with(BridgeConfig::default());
    let mut delays = Vec::new();
    for _ in 0..4 {
        ev(&mut b, BridgeEvent::CodexStarted);
        let a = b.handle(BridgeEvent::CodexExited { code: None }, 2_000, 0.999);
        if let Some(BridgeAction::RestartCodexAfter(d)) = a.last() {
            delays.push(d.as_millis());
        }
    }
    assert_eq!(delays, vec![499, 999, 1998, 3996]);
}

#[test]
fn hello_is_sent_again_with_codex_version_once_known() {
    let mut b = bridge_with(BridgeConfig::default());
    let a = ev(&mut b, BridgeEvent::OrbitConnected);
    let hello = &to_orbit(&a)[0];
    assert_eq!(hello["type"], "anchor.hello");
    assert_eq!(hello["codexVersion"], Value::Null);
    ev(&mut b, BridgeEvent::CodexStarted);
    let a = ev(
        &mut b,
        BridgeEvent::CodexLine(
            r#"{"id":"anchor-init-1","result":{"userAgent":"orbit-anchor/0.169.0 (Debian 12; x86_64) xterm"}}"#
                .into(),
        ),
    );
    let sent = to_orbit(&a);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["type"], "anchor.hello");
    assert_eq!(sent[0]["codexVersion"], "0.169.0");
    assert_eq!(b.codex_version(), Some("0.169.0"));
    // A later reconnection carries it from the start.
    ev(&mut b, BridgeEvent::OrbitDisconnected);
    let a = ev(&mut b, BridgeEvent::OrbitConnected);
    assert_eq!(to_orbit(&a)[0]["codexVersion"], "0.169.0");
}

#[test]
fn codex_version_parsing_accepts_only_a_name_slash_version_word() {
    assert_eq!(
        codex_version_from_user_agent("x/0.169.0 (Linux)").as_deref(),
        Some("0.169.0")
    );
    assert_eq!(codex_version_from_user_agent("noslash (Linux)"), None);
    assert_eq!(codex_version_from_user_agent("x/ (Linux)"), None);
    assert_eq!(codex_version_from_user_agent(""), None);
}

#[test]
fn helper_answers_are_buffered_while_orbit_is_away() {
    let mut b = ready();
    ev(&mut b, BridgeEvent::OrbitDisconnected);
    let answer = orbit_protocol::rpc::result_response(r#""orbit:c:9""#, r#"{"ok":true}"#);
    assert!(ev(&mut b, BridgeEvent::LocalFrame(answer)).is_empty());
    assert_eq!(b.buffered_to_orbit(), 1);
    let a = ev(&mut b, BridgeEvent::OrbitConnected);
    let sent = to_orbit(&a);
    assert_eq!(sent[1]["id"], "orbit:c:9");
    assert_eq!(sent[1]["result"]["ok"], true);
}

#[test]
fn oversized_codex_response_becomes_an_error_for_its_requester() {
    let mut b = ready_with(BridgeConfig {
        max_frame_bytes: 200,
        ..BridgeConfig::default()
    });
    ev(
        &mut b,
        BridgeEvent::OrbitFrame(r#"{"id":"orbit:c:1","method":"thread/read"}"#.into()),
    );
    let big = format!(
        r#"{{"id":"orbit:c:1","result":{{"text":"{}"}}}}"#,
        "x".repeat(300)
    );
    let a = ev(&mut b, BridgeEvent::CodexLine(big));
    let sent = to_orbit(&a);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["id"], "orbit:c:1");
    assert_eq!(sent[0]["error"]["data"]["code"], "frame_too_large");
    assert_eq!(b.in_flight(), 0);
    let note = format!(
        r#"{{"method":"item/agentMessage/delta","params":{{"delta":"{}"}}}}"#,
        "y".repeat(300)
    );
    assert!(to_orbit(&ev(&mut b, BridgeEvent::CodexLine(note))).is_empty());
    assert_eq!(b.stats().too_large, 2);
    assert!(b.last_error().is_some_and(|e| e.contains("over Orbit's")));
}

#[test]
fn an_oversized_helper_answer_becomes_an_error() {
    let mut b = bridge_with(BridgeConfig {
        max_frame_bytes: 100,
        ..BridgeConfig::default()
    });
    ev(&mut b, BridgeEvent::OrbitConnected);
    let answer = orbit_protocol::rpc::result_response(
        r#""h1""#,
        &json!({"data": "z".repeat(200)}).to_string(),
    );
    let sent = to_orbit(&ev(&mut b, BridgeEvent::LocalFrame(answer)));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["id"], "h1");
    assert_eq!(sent[0]["error"]["data"]["code"], "frame_too_large");
}

#[test]
fn approval_answers_are_reported_as_decisions() {
    let mut b = ready();
    ev(
        &mut b,
        BridgeEvent::CodexLine(
            r#"{"id":0,"method":"item/commandExecution/requestApproval","params":{"threadId":"t"}}"#
                .into(),
        ),
    );
    let a = ev(
        &mut b,
        BridgeEvent::OrbitFrame(r#"{"id":0,"result":{"decision":"decline"}}"#.into()),
    );
    assert_eq!(
        a[0],
        BridgeAction::Decision {
            method: "item/commandExecution/requestApproval".into(),
            request_id: "0".into(),
            decision: "decline".into(),
        }
    );
    assert_eq!(
        to_codex(&a),
        vec![json!({"id":0,"result":{"decision":"decline"}})]
    );
    // A second answer to the same request is stale: no decision, nothing to codex, and an
    // error back to Orbit.
    let a = ev(
        &mut b,
        BridgeEvent::OrbitFrame(r#"{"id":0,"result":{"decision":"accept"}}"#.into()),
    );
    assert!(to_codex(&a).is_empty());
    assert!(!a.iter().any(|x| matches!(x, BridgeAction::Decision { .. })));
    let sent = to_orbit(&a);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["id"], 0);
    assert_eq!(sent[0]["error"]["data"]["code"], "already_resolved");
}

#[test]
fn a_forwarded_request_and_a_codex_line_are_each_parsed_once_and_passed_on_unchanged() {
    use orbit_protocol::count;
    let mut b = ready();
    let request = r#"{"id":"orbit:c0ffee:7","method":"turn/start","params":{"threadId":"t1","input":[{"type":"text","text":"hi \"there\" \u00e9"}]}}"#;
    count::reset();
    let a = ev(&mut b, BridgeEvent::OrbitFrame(request.into()));
    assert_eq!(count::full_parses(), 1);
    assert_eq!(a, vec![BridgeAction::ToCodex(request.into())]);

    let note = r#"{"method":"item/agentMessage/delta","params":{"threadId":"t1","delta":"x"}}"#;
    count::reset();
    let a = ev(&mut b, BridgeEvent::CodexLine(note.into()));
    assert_eq!(count::full_parses(), 1);
    assert_eq!(a, vec![BridgeAction::ToOrbit(note.into())]);

    let answer = r#"{"id":"orbit:c0ffee:7","result":{"turn":{}}}"#;
    count::reset();
    let a = ev(&mut b, BridgeEvent::CodexLine(answer.into()));
    assert_eq!(count::full_parses(), 1);
    assert_eq!(a, vec![BridgeAction::ToOrbit(answer.into())]);
    assert_eq!(b.in_flight(), 0);
}

#[test]
fn a_request_queued_for_a_starting_codex_is_not_read_again_when_sent() {
    use orbit_protocol::count;
    let mut b = bridge_with(BridgeConfig::default());
    ev(&mut b, BridgeEvent::OrbitConnected);
    ev(&mut b, BridgeEvent::CodexStarted);
    let request = r#"{"id":"orbit:c:1","method":"thread/list","params":{}}"#;
    count::reset();
    assert!(ev(&mut b, BridgeEvent::OrbitFrame(request.into())).is_empty());
    let a = ev(
        &mut b,
        BridgeEvent::CodexLine(r#"{"id":"anchor-init-1","result":{}}"#.into()),
    );
    // One peek for the request, one for the handshake's answer.
    assert_eq!(count::full_parses(), 2);
    assert_eq!(a.last(), Some(&BridgeAction::ToCodex(request.into())));
}

#[test]
fn ids_with_escapes_match_however_codex_spells_them() {
    let mut b = ready();
    ev(
        &mut b,
        BridgeEvent::OrbitFrame(r#"{"id":"orbit:c:\"\u0041\"","method":"thread/list"}"#.into()),
    );
    assert_eq!(b.in_flight(), 1);
    ev(
        &mut b,
        BridgeEvent::CodexLine(r#"{"id":"orbit:c:\"A\"","result":{}}"#.into()),
    );
    assert_eq!(b.in_flight(), 0);
}

#[test]
fn over_long_response_answers_the_requester_with_frame_too_large_instead_of_leaving_it_waiting() {
    let mut b = ready();
    for id in ["orbit:c:1", "orbit:c:2"] {
        ev(
            &mut b,
            BridgeEvent::OrbitFrame(format!(r#"{{"id":"{id}","method":"thread/read"}}"#)),
        );
    }
    // The line reader kept only the start of a line over its bound.
    let head = format!(
        r#"{{"id":"orbit:c:2","result":{{"text":"{}"#,
        "x".repeat(100)
    );
    let a = ev(
        &mut b,
        BridgeEvent::CodexLineLost(crate::lines::LineError::TooLong { max: 64, head }),
    );
    let sent = to_orbit(&a);
    assert_eq!(sent.len(), 1, "{a:?}");
    assert_eq!(sent[0]["id"], "orbit:c:2");
    assert_eq!(
        sent[0]["error"]["code"],
        orbit_protocol::rpc::RpcCode::of(ErrorCode::FrameTooLarge).number()
    );
    assert_eq!(sent[0]["error"]["data"]["code"], "frame_too_large");
    assert_eq!(b.in_flight(), 1);
    assert_eq!(b.stats().too_large, 1);
    // A server request cut short, or a notification, is only counted: nobody waits on Orbit's
    // side, and an id no request in flight has is not answered.
    for head in [
        r#"{"id":"orbit:c:1","method":"item/commandExecution/requestApproval","params":{"#,
        r#"{"method":"item/agentMessage/delta","params":{"delta":"xx"#,
        r#"{"id":"orbit:c:9","result":{"#,
    ] {
        let lost = crate::lines::LineError::TooLong {
            max: 64,
            head: head.into(),
        };
        assert!(to_orbit(&ev(&mut b, BridgeEvent::CodexLineLost(lost))).is_empty());
    }
    assert_eq!(b.in_flight(), 1);
    assert_eq!(b.stats().too_large, 4);
}

#[test]
fn in_flight_requests_are_bounded_and_the_evicted_one_gets_an_error() {
    let mut b = ready_with(BridgeConfig {
        max_in_flight: 2,
        ..BridgeConfig::default()
    });
    let mut answers = Vec::new();
    for n in 1..=3 {
        let a = ev(
            &mut b,
            BridgeEvent::OrbitFrame(format!(r#"{{"id":"orbit:c:{n}","method":"turn/start"}}"#)),
        );
        assert_eq!(to_codex(&a).len(), 1, "each request still goes to codex");
        answers.extend(to_orbit(&a));
    }
    assert_eq!(b.in_flight(), 2);
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(answers[0]["id"], "orbit:c:1", "the oldest is given up");
    assert_eq!(answers[0]["error"]["data"]["code"], "anchor_busy");
    assert_eq!(b.stats().in_flight_evicted, 1);
    // Codex's late answer to it is not delivered a second time; the others are.
    let late = ev(
        &mut b,
        BridgeEvent::CodexLine(r#"{"id":"orbit:c:1","result":{}}"#.into()),
    );
    assert!(to_orbit(&late).is_empty());
    assert_eq!(b.stats().late_answers_dropped, 1);
    let a = ev(
        &mut b,
        BridgeEvent::CodexLine(r#"{"id":"orbit:c:3","result":{}}"#.into()),
    );
    assert_eq!(to_orbit(&a)[0]["id"], "orbit:c:3");
    assert_eq!(b.in_flight(), 1);

    // Bounded in bytes too: ids are the only thing kept of a request.
    let mut b = ready_with(BridgeConfig {
        max_in_flight_id_bytes: 100,
        ..BridgeConfig::default()
    });
    let long = "i".repeat(60);
    let mut refused = 0;
    for n in 0..3 {
        let a = ev(
            &mut b,
            BridgeEvent::OrbitFrame(format!(r#"{{"id":"{long}{n}","method":"turn/start"}}"#)),
        );
        refused += to_orbit(&a).len();
    }
    assert_eq!(b.in_flight(), 1);
    assert_eq!(refused, 2);
}

/// Issue 12 item 2: the ids in `abandonedServerRequests` are the ones Orbit knows (codex's ids,
/// exactly as the requests reached Orbit: the anchor does not rewrite them), only the
/// unanswered ones; and an answer that comes after the exit gets an error back, not silence.
#[test]
fn abandoned_server_requests_name_the_ids_orbit_was_given_and_late_answers_get_an_error() {
    let mut b = ready();
    let mut given = Vec::new();
    for line in [
        r#"{"id":0,"method":"item/commandExecution/requestApproval","params":{"threadId":"t1"}}"#,
        r#"{"id":"call-\u00e9","method":"item/fileChange/requestApproval","params":{}}"#,
        r#"{"id":2,"method":"item/tool/requestUserInput","params":{}}"#,
    ] {
        let a = ev(&mut b, BridgeEvent::CodexLine(line.into()));
        given.push(to_orbit(&a)[0]["id"].clone());
    }
    // Request 2 is answered before codex exits.
    ev(
        &mut b,
        BridgeEvent::OrbitFrame(r#"{"id":2,"result":{"answers":{}}}"#.into()),
    );
    let a = ev(&mut b, BridgeEvent::CodexExited { code: None });
    let sent = to_orbit(&a);
    let exited = sent
        .iter()
        .find(|f| f["method"] == CODEX_EXITED_METHOD)
        .expect("anchor/codexExited");
    let mut abandoned: Vec<Value> = exited["params"]["abandonedServerRequests"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    abandoned.sort_by_key(|v| v.to_string());
    let mut expected = vec![given[0].clone(), given[1].clone()];
    expected.sort_by_key(|v| v.to_string());
    assert_eq!(abandoned, expected);

    // A late answer to an abandoned request: nothing to codex, an error to Orbit.
    let a = ev(
        &mut b,
        BridgeEvent::OrbitFrame(r#"{"id":"call-é","result":{"decision":"accept"}}"#.into()),
    );
    assert!(
        to_codex(&a).is_empty(),
        "it waits for the new codex's handshake"
    );
    let a = ev(&mut b, BridgeEvent::CodexStarted);
    let init = to_codex(&a)[0]["id"].clone();
    let line = json!({"id": init, "result": {}}).to_string();
    let a = ev(&mut b, BridgeEvent::CodexLine(line));
    assert_eq!(to_codex(&a), vec![json!({"method": "initialized"})]);
    let answered: Vec<Value> = to_orbit(&a)
        .into_iter()
        .filter(|f| f["method"] != CODEX_RESTARTED_METHOD)
        .collect();
    assert_eq!(answered.len(), 1, "{answered:?}");
    assert_eq!(answered[0]["id"], "call-é");
    assert_eq!(answered[0]["error"]["data"]["code"], "codex_exited");
}

#[test]
fn codex_answer_nested_too_deep_to_relay_answers_the_requester_instead_of_leaving_it_waiting() {
    let mut b = ready();
    ev(
        &mut b,
        BridgeEvent::OrbitFrame(r#"{"id":"orbit:c:1","method":"thread/read"}"#.into()),
    );
    ev(
        &mut b,
        BridgeEvent::OrbitFrame(r#"{"id":"orbit:c:2","method":"thread/read"}"#.into()),
    );
    assert_eq!(b.in_flight(), 2);
    // Codex's serialiser has no depth limit (an MCP tool's JSON result, say), but every
    // parser on the way (Orbit's, the browser's) has one: such an answer cannot be relayed.
    let depth = 10_000;
    let deep = format!(
        r#"{{"id":"orbit:c:1","result":{{"x":{}{}}}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let sent = to_orbit(&ev(&mut b, BridgeEvent::CodexLine(deep)));
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["id"], "orbit:c:1");
    assert_eq!(sent[0]["error"]["data"]["code"], "malformed_json");
    assert!(
        sent[0]["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nested")),
        "{sent:?}"
    );
    assert_eq!(b.in_flight(), 1);
    // A deep notification or server request has no requester: it is dropped and counted.
    let note = format!(
        r#"{{"method":"item/completed","params":{{"x":{}{{}}{}}}}}"#,
        "{\"a\":".repeat(depth),
        "}".repeat(depth)
    );
    assert!(to_orbit(&ev(&mut b, BridgeEvent::CodexLine(note))).is_empty());
    // The other request is still answered normally.
    let sent = to_orbit(&ev(
        &mut b,
        BridgeEvent::CodexLine(r#"{"id":"orbit:c:2","result":{}}"#.into()),
    ));
    assert_eq!(sent, vec![json!({"id": "orbit:c:2", "result": {}})]);
    assert_eq!(b.in_flight(), 0);
}

fn note(n: u64) -> String {
    format!(r#"{{"method":"item/agentMessage/delta","params":{{"threadId":"t","n":{n}}}}}"#)
}

fn orbit_ack(up_to: u64) -> BridgeEvent {
    BridgeEvent::OrbitFrame(format!(r#"{{"type":"orbit.ack","upTo":{up_to}}}"#))
}

#[test]
fn frames_orbit_did_not_acknowledge_go_again_first_with_their_numbers_after_a_reconnection() {
    let mut b = ready();
    // The hello was sent before anything was numbered.
    for n in 1..=4 {
        ev(&mut b, BridgeEvent::CodexLine(note(n)));
    }
    ev(&mut b, orbit_ack(2));
    assert_eq!(b.unacknowledged(), 2);
    ev(&mut b, BridgeEvent::OrbitDisconnected);
    // What codex says while Orbit is away waits in the buffer, numbered when sent.
    ev(&mut b, BridgeEvent::CodexLine(note(5)));
    let sent = to_orbit(&ev(&mut b, BridgeEvent::OrbitConnected));
    assert_eq!(sent[0]["type"], "anchor.hello");
    assert_eq!(sent[0]["nextFrame"], 3, "the oldest frame not acknowledged");
    let again: Vec<u64> = sent[1..]
        .iter()
        .map(|f| f["params"]["n"].as_u64().unwrap())
        .collect();
    assert_eq!(again, vec![3, 4, 5]);
    ev(&mut b, orbit_ack(5));
    assert_eq!(b.unacknowledged(), 0);
    ev(&mut b, BridgeEvent::OrbitDisconnected);
    let sent = to_orbit(&ev(&mut b, BridgeEvent::OrbitConnected));
    assert_eq!(sent.len(), 1, "nothing to send again: {sent:?}");
    assert_eq!(sent[0]["nextFrame"], 6);
}

#[test]
fn a_hello_in_the_middle_of_a_connection_names_the_next_number_and_takes_none() {
    let mut b = bridge_with(BridgeConfig::default());
    ev(&mut b, BridgeEvent::OrbitConnected);
    ev(&mut b, BridgeEvent::CodexStarted);
    ev(&mut b, BridgeEvent::CodexLine(note(1)));
    // The handshake's answer names codex's version: the hello goes again.
    let a = ev(
        &mut b,
        BridgeEvent::CodexLine(
            r#"{"id":"anchor-init-1","result":{"userAgent":"codex/0.169.0"}}"#.into(),
        ),
    );
    let hello = to_orbit(&a);
    assert_eq!(hello[0]["type"], "anchor.hello");
    assert_eq!(hello[0]["nextFrame"], 2);
    // Pongs take no number either.
    ev(&mut b, BridgeEvent::OrbitFrame(r#"{"type":"ping"}"#.into()));
    ev(&mut b, BridgeEvent::CodexLine(note(2)));
    assert_eq!(b.unacknowledged(), 2);
    ev(&mut b, orbit_ack(2));
    assert_eq!(b.unacknowledged(), 0);
}

#[test]
fn an_orbit_that_does_not_acknowledge_never_gets_a_frame_twice() {
    let mut b = ready();
    ev(
        &mut b,
        BridgeEvent::OrbitFrame(
            r#"{"type":"orbit.hello","role":"anchor","userId":"u","connectionId":"c","serverTime":1}"#
                .into(),
        ),
    );
    assert!(!b.keeps_sent_frames());
    ev(&mut b, BridgeEvent::CodexLine(note(1)));
    ev(&mut b, BridgeEvent::OrbitDisconnected);
    let sent = to_orbit(&ev(&mut b, BridgeEvent::OrbitConnected));
    assert_eq!(sent.len(), 1, "only the hello: {sent:?}");
    // An Orbit that acknowledges says so, and frames are kept again.
    ev(
        &mut b,
        BridgeEvent::OrbitFrame(
            r#"{"type":"orbit.hello","role":"anchor","userId":"u","connectionId":"c","serverTime":1,"acks":true}"#
                .into(),
        ),
    );
    assert!(b.keeps_sent_frames());
}

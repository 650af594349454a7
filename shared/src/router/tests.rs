//! Routing rules of SPEC §1, one scenario each, driven through [`Sim`].

use serde_json::{json, Value};

use super::sim::Sim;
use super::{RouterConfig, CLOSE_REPLACED};
use orbit_protocol::limits::MAX_FRAME_BYTES;

/// Anchor socket `a1` (anchor-1) and client sockets `c1`, `c2`, inboxes empty.
fn one_anchor() -> Sim {
    let mut sim = Sim::new();
    sim.connect_anchor("a1", "anchor-1");
    sim.connect_client("c1");
    sim.connect_client("c2");
    sim.clear_inboxes();
    sim
}

/// Anchor sockets `a1` (anchor-1) and `a2` (anchor-2), client sockets `c1`, `c2`.
fn two_anchors() -> Sim {
    let mut sim = Sim::new();
    sim.connect_anchor("a1", "anchor-1");
    sim.connect_anchor("a2", "anchor-2");
    sim.connect_client("c1");
    sim.connect_client("c2");
    sim.clear_inboxes();
    sim
}

/// Orbit's machine-readable code of a JSON-RPC error response.
fn data_code(frame: &Value) -> &str {
    frame["error"]["data"]["code"].as_str().unwrap_or("")
}

/// Asserts `frames` is exactly one JSON-RPC error for request `id` with Orbit code `code`.
fn assert_rpc_error(frames: &[Value], id: Value, code: &str) {
    assert_eq!(
        frames.len(),
        1,
        "expected one error response, got {frames:?}"
    );
    assert_eq!(frames[0]["id"], id, "{frames:?}");
    assert_eq!(data_code(&frames[0]), code, "{frames:?}");
    let message = frames[0]["error"]["message"].as_str().unwrap_or("");
    assert!(
        !message.is_empty(),
        "error without a readable message: {frames:?}"
    );
}

/// Asserts `frames` is exactly one `orbit.error` with `code`.
fn assert_orbit_error(frames: &[Value], code: &str) {
    assert_eq!(frames.len(), 1, "expected one orbit.error, got {frames:?}");
    assert_eq!(frames[0]["type"], "orbit.error", "{frames:?}");
    assert_eq!(frames[0]["code"], code, "{frames:?}");
    let message = frames[0]["message"].as_str().unwrap_or("");
    assert!(
        !message.is_empty(),
        "orbit.error without a message: {frames:?}"
    );
}

fn notify(thread: &str, n: u64) -> Value {
    json!({"method": "item/agentMessage/delta", "params": {"threadId": thread, "n": n}})
}

fn approval(id: Value, thread: Option<&str>) -> Value {
    let mut params = json!({"command": "ls"});
    if let Some(thread) = thread {
        params["threadId"] = json!(thread);
    }
    json!({"id": id, "method": "item/commandExecution/requestApproval", "params": params})
}

fn subscribe(sim: &mut Sim, conn: &str, thread: &str, since: Option<u64>) -> Vec<Value> {
    let mut frame = json!({"type": "orbit.subscribe", "threadId": thread});
    if let Some(since) = since {
        frame["sinceSeq"] = json!(since);
    }
    sim.send_json(conn, frame);
    sim.take(conn)
}

/// The `origin` Orbit stamps on an anchor's frames, for an anchor with no other name than its
/// id (no hello name, no paired list).
fn origin(anchor_id: &str) -> Value {
    json!({"anchorId": anchor_id, "name": anchor_id})
}

/// `frame` as clients get it from `anchor_id`: stamped with its origin.
fn stamped(mut frame: Value, anchor_id: &str) -> Value {
    frame["origin"] = origin(anchor_id);
    frame
}

/// Binds `thread` to `anchor_id` the way the web client does: client `c1` starts it there and
/// the anchor (socket `anchor_conn`) answers with the new thread's id. Inboxes end empty.
fn started_on(sim: &mut Sim, anchor_conn: &str, anchor_id: &str, thread: &str) {
    sim.send_json(
        "c1",
        json!({"id": "start", "method": "thread/start", "params": {"anchorId": anchor_id}}),
    );
    let forwarded = sim.take(anchor_conn);
    assert_eq!(forwarded.len(), 1, "{forwarded:?}");
    sim.send_json(
        anchor_conn,
        json!({"id": forwarded[0]["id"], "result": {"thread": {"id": thread}}}),
    );
    sim.clear_inboxes();
}

fn seqs(frames: &[Value]) -> Vec<u64> {
    frames.iter().filter_map(|f| f["seq"].as_u64()).collect()
}

/// The key (`orbit-srv:N`) of the one server request in `frames`.
fn key_of(frames: &[Value]) -> Value {
    let keys: Vec<&Value> = frames
        .iter()
        .filter(|f| f["method"].is_string() && f["id"].is_string())
        .map(|f| &f["id"])
        .collect();
    assert_eq!(keys.len(), 1, "expected one server request in {frames:?}");
    assert!(
        keys[0].as_str().unwrap().starts_with("orbit-srv:"),
        "{frames:?}"
    );
    keys[0].clone()
}

// ---------------------------------------------------------------------------------------------
// Rule 2: a client request goes to exactly one anchor, or gets a routing error.
// ---------------------------------------------------------------------------------------------

#[test]
fn request_without_target_gets_anchor_required_when_two_anchors_are_online() {
    let mut sim = two_anchors();
    sim.send_json(
        "c1",
        json!({"id": 1, "method": "thread/list", "params": {}}),
    );
    assert_rpc_error(&sim.take("c1"), json!(1), "anchor_required");
    assert!(sim.take("a1").is_empty());
    assert!(sim.take("a2").is_empty());
    assert!(sim.take("c2").is_empty());
}

#[test]
fn request_naming_an_unknown_anchor_gets_anchor_not_found() {
    let mut sim = one_anchor();
    sim.send_json(
        "c1",
        json!({"id": 1, "method": "thread/list", "params": {"anchorId": "anchor-9"}}),
    );
    assert_rpc_error(&sim.take("c1"), json!(1), "anchor_not_found");
    assert!(
        sim.take("a1").is_empty(),
        "must not fall back to the only anchor"
    );
}

#[test]
fn request_with_no_anchor_at_all_gets_anchor_not_found() {
    let mut sim = Sim::new();
    sim.connect_client("c1");
    sim.clear_inboxes();
    sim.send_json(
        "c1",
        json!({"id": "q", "method": "thread/list", "params": {}}),
    );
    assert_rpc_error(&sim.take("c1"), json!("q"), "anchor_not_found");
}

#[test]
fn request_on_a_thread_whose_anchor_left_gets_anchor_offline_not_another_anchor() {
    let mut sim = two_anchors();
    started_on(&mut sim, "a1", "anchor-1", "t1");
    sim.close("a1");
    sim.clear_inboxes();
    sim.send_json(
        "c1",
        json!({"id": 3, "method": "turn/start", "params": {"threadId": "t1"}}),
    );
    assert_rpc_error(&sim.take("c1"), json!(3), "anchor_offline");
    assert!(sim.take("a2").is_empty());
}

#[test]
fn request_naming_a_known_but_offline_anchor_gets_anchor_offline() {
    let mut sim = one_anchor();
    sim.connect_anchor("a2", "anchor-2");
    sim.close("a2");
    sim.clear_inboxes();
    sim.send_json(
        "c1",
        json!({"id": 1, "method": "thread/list", "params": {"anchorId": "anchor-2"}}),
    );
    assert_rpc_error(&sim.take("c1"), json!(1), "anchor_offline");
    assert!(sim.take("a1").is_empty());
}

#[test]
fn request_without_target_gets_anchor_offline_when_the_paired_anchor_is_offline() {
    let mut sim = Sim::new();
    sim.set_paired(&[("anchor-1", "Laptop")]);
    sim.connect_client("c1");
    sim.clear_inboxes();
    sim.send_json("c1", json!({"id": 1, "method": "thread/list"}));
    assert_rpc_error(&sim.take("c1"), json!(1), "anchor_offline");
}

#[test]
fn request_naming_another_anchor_than_the_threads_gets_thread_anchor_mismatch() {
    let mut sim = two_anchors();
    started_on(&mut sim, "a1", "anchor-1", "t1");
    sim.clear_inboxes();
    sim.send_json(
        "c1",
        json!({"id": 1, "method": "turn/start", "params": {"threadId": "t1", "anchorId": "anchor-2"}}),
    );
    assert_rpc_error(&sim.take("c1"), json!(1), "thread_anchor_mismatch");
    assert!(sim.take("a1").is_empty());
    assert!(sim.take("a2").is_empty());
}

#[test]
fn anchor_id_is_stripped_before_forwarding() {
    let mut sim = two_anchors();
    sim.send_json(
        "c1",
        json!({"id": 7, "method": "turn/start", "params": {"anchorId": "anchor-2", "threadId": "t1", "input": [1]}}),
    );
    let forwarded = sim.take("a2");
    assert_eq!(
        forwarded,
        vec![
            json!({"id": "orbit:c1:anchor-2:7", "method": "turn/start", "params": {"threadId": "t1", "input": [1]}})
        ]
    );
    assert!(sim.take("a1").is_empty());
    assert!(sim.take("c1").is_empty());
}

#[test]
fn requests_are_never_sent_to_two_anchors() {
    let mut sim = two_anchors();
    started_on(&mut sim, "a1", "anchor-1", "t1");
    sim.clear_inboxes();
    sim.send_json(
        "c1",
        json!({"id": 1, "method": "m", "params": {"anchorId": "anchor-2"}}),
    );
    sim.send_json(
        "c1",
        json!({"id": 2, "method": "m", "params": {"threadId": "t1"}}),
    );
    sim.send_json("c1", json!({"id": 3, "method": "m", "params": {}}));
    let ids = |frames: Vec<Value>| frames.iter().map(|f| f["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(sim.take("a1")), vec![json!("orbit:c1:anchor-1:2")]);
    assert_eq!(ids(sim.take("a2")), vec![json!("orbit:c1:anchor-2:1")]);
    assert_rpc_error(&sim.take("c1"), json!(3), "anchor_required");
}

#[test]
fn client_notification_without_a_target_gets_orbit_error() {
    let mut sim = two_anchors();
    sim.send_json("c1", json!({"method": "initialized"}));
    assert_orbit_error(&sim.take("c1"), "anchor_required");
    assert!(sim.take("a1").is_empty());
    assert!(sim.take("a2").is_empty());

    let mut lonely = Sim::new();
    lonely.connect_client("c1");
    lonely.clear_inboxes();
    lonely.send_json("c1", json!({"method": "initialized"}));
    assert_orbit_error(&lonely.take("c1"), "anchor_not_found");
}

#[test]
fn client_notification_with_a_target_is_forwarded_without_an_id() {
    let mut sim = two_anchors();
    sim.send_json(
        "c1",
        json!({"method": "initialized", "params": {"anchorId": "anchor-1"}}),
    );
    assert_eq!(
        sim.take("a1"),
        vec![json!({"method": "initialized", "params": {}})]
    );
    assert!(sim.take("a2").is_empty());
    assert!(sim.take("c1").is_empty());
}

#[test]
fn request_with_only_a_thread_id_goes_to_the_anchor_that_started_the_thread() {
    let mut sim = two_anchors();
    started_on(&mut sim, "a2", "anchor-2", "t1");
    sim.send_json(
        "c1",
        json!({"id": 1, "method": "turn/start", "params": {"threadId": "t1"}}),
    );
    assert_eq!(sim.take("a2").len(), 1);
    assert!(sim.take("a1").is_empty());
    assert!(sim.take("c1").is_empty());
}

#[test]
fn request_naming_an_anchor_binds_its_thread() {
    let mut sim = two_anchors();
    sim.send_json(
        "c1",
        json!({"id": 1, "method": "thread/resume", "params": {"threadId": "t5", "anchorId": "anchor-2"}}),
    );
    sim.send_json(
        "c1",
        json!({"id": 2, "method": "turn/start", "params": {"threadId": "t5"}}),
    );
    assert_eq!(sim.take("a2").len(), 2);
    assert!(sim.take("a1").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Rule 3: responses go home.
// ---------------------------------------------------------------------------------------------

#[test]
fn response_goes_home_with_the_original_id_when_two_clients_share_ids() {
    let mut sim = Sim::new();
    sim.connect_anchor("a1", "anchor-1");
    sim.connect_client("c1");
    sim.connect_client("c2");
    sim.take("a1");
    sim.take("c1");
    sim.take("c2");

    sim.send_json(
        "c1",
        json!({"id": 1, "method": "thread/list", "params": {}}),
    );
    sim.send_json(
        "c2",
        json!({"id": 1, "method": "thread/list", "params": {}}),
    );
    let forwarded = sim.take("a1");
    assert_eq!(forwarded.len(), 2);
    assert_ne!(forwarded[0]["id"], forwarded[1]["id"]);

    // Answer in the opposite order.
    sim.send_json(
        "a1",
        json!({"id": forwarded[1]["id"], "result": {"who": "c2"}}),
    );
    sim.send_json(
        "a1",
        json!({"id": forwarded[0]["id"], "result": {"who": "c1"}}),
    );
    assert_eq!(
        sim.take("c1"),
        vec![json!({"id": 1, "result": {"who": "c1"}})]
    );
    assert_eq!(
        sim.take("c2"),
        vec![json!({"id": 1, "result": {"who": "c2"}})]
    );
}

#[test]
fn second_client_never_sees_first_clients_response() {
    let mut sim = one_anchor();
    sim.send_json("c1", json!({"id": 1, "method": "thread/list"}));
    let forwarded = sim.take("a1");
    sim.send_json(
        "a1",
        json!({"id": forwarded[0]["id"], "result": {"secret": 1}}),
    );
    assert_eq!(sim.take("c1").len(), 1);
    assert!(sim.take("c2").is_empty());
}

#[test]
fn string_and_negative_ids_are_restored_exactly() {
    let mut sim = one_anchor();
    let ids = [
        json!("req:1\"x"),
        json!(-5),
        json!("orbit:c2:1"),
        json!(""),
        json!(0),
    ];
    for id in &ids {
        sim.send_json("c1", json!({"id": id, "method": "m"}));
    }
    let forwarded = sim.take("a1");
    assert_eq!(forwarded.len(), ids.len());
    for f in forwarded.iter().rev() {
        sim.send_json("a1", json!({"id": f["id"], "result": null}));
    }
    let back: Vec<Value> = sim.take("c1").iter().map(|f| f["id"].clone()).collect();
    let mut expected = ids.to_vec();
    expected.reverse();
    assert_eq!(back, expected);
    assert!(sim.take("c2").is_empty());
}

#[test]
fn response_with_a_null_result_goes_home() {
    let mut sim = one_anchor();
    sim.send_json("c1", json!({"id": 4, "method": "turn/interrupt"}));
    let forwarded = sim.take("a1");
    sim.send(
        "a1",
        &format!(r#"{{"id":{},"result":null}}"#, forwarded[0]["id"]),
    );
    assert!(sim.take("a1").is_empty(), "a null result is a result");
    assert_eq!(sim.take("c1"), vec![json!({"id": 4, "result": null})]);
}

#[test]
fn error_responses_from_the_anchor_go_home_too() {
    let mut sim = one_anchor();
    sim.send_json("c2", json!({"id": "x", "method": "m"}));
    let forwarded = sim.take("a1");
    sim.send_json(
        "a1",
        json!({"id": forwarded[0]["id"], "error": {"code": -1, "message": "no"}}),
    );
    assert_eq!(
        sim.take("c2"),
        vec![json!({"id": "x", "error": {"code": -1, "message": "no"}})]
    );
    assert!(sim.take("c1").is_empty());
}

#[test]
fn response_for_a_departed_client_is_dropped() {
    let mut sim = one_anchor();
    sim.send_json("c1", json!({"id": 1, "method": "thread/list"}));
    let forwarded = sim.take("a1");
    sim.close("c1");
    sim.connect_client("c3");
    sim.clear_inboxes();
    sim.send_json("a1", json!({"id": forwarded[0]["id"], "result": {}}));
    assert!(sim.take("c2").is_empty());
    assert!(sim.take("c3").is_empty());
    assert!(sim.take("a1").is_empty(), "the anchor did nothing wrong");
    assert!(sim.misaddressed.is_empty());
}

#[test]
fn forged_or_unknown_response_id_gets_unknown_response_id_on_the_anchor_socket() {
    let mut sim = one_anchor();
    for id in [
        json!(99),
        json!("orbit-srv:0"),
        json!("whatever"),
        json!("orbit::1"),
    ] {
        sim.send_json("a1", json!({"id": id, "result": {}}));
        assert_orbit_error(&sim.take("a1"), "unknown_response_id");
    }
    assert!(sim.take("c1").is_empty());
    assert!(sim.take("c2").is_empty());
}

#[test]
fn response_addressed_to_another_anchor_is_not_delivered() {
    let mut sim = two_anchors();
    sim.send_json("a1", json!({"id": "orbit:a2:1", "result": {}}));
    assert!(sim.take("a2").is_empty());
    assert!(sim.take("c1").is_empty());
    assert!(sim.take("c2").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Rule 4: server requests go to the thread's clients and are answered once.
// ---------------------------------------------------------------------------------------------

#[test]
fn server_request_with_a_thread_goes_only_to_that_threads_subscribers() {
    let mut sim = one_anchor();
    subscribe(&mut sim, "c1", "t1", None);
    sim.send_json("a1", approval(json!(0), Some("t1")));
    let got = sim.take("c1");
    assert_eq!(got.len(), 1);
    let key = key_of(&got);
    assert_eq!(
        got[0],
        json!({"id": key, "seq": 1, "origin": origin("anchor-1"),
               "method": "item/commandExecution/requestApproval",
               "params": {"command": "ls", "threadId": "t1"}})
    );
    assert!(sim.take("c2").is_empty());
    assert!(sim.take("a1").is_empty());
}

#[test]
fn server_request_without_a_thread_goes_to_every_client() {
    let mut sim = one_anchor();
    sim.send_json("a1", approval(json!(0), None));
    let c1 = sim.take("c1");
    let c2 = sim.take("c2");
    assert_eq!(c1, c2);
    let key = key_of(&c1);
    assert_eq!(
        c1,
        vec![json!({"id": key, "origin": origin("anchor-1"),
                   "method": "item/commandExecution/requestApproval", "params": {"command": "ls"}})]
    );
}

#[test]
fn first_answer_reaches_the_anchor_with_its_original_id_later_ones_get_already_resolved() {
    let mut sim = one_anchor();
    subscribe(&mut sim, "c1", "t1", None);
    subscribe(&mut sim, "c2", "t1", None);
    sim.send_json("a1", approval(json!("srv-41"), Some("t1")));
    let key = key_of(&sim.take("c1"));
    assert_eq!(key_of(&sim.take("c2")), key);

    sim.send_json(
        "c2",
        json!({"id": key, "seq": 3, "result": {"decision": "accept"}}),
    );
    assert_eq!(
        sim.take("a1"),
        vec![json!({"id": "srv-41", "result": {"decision": "accept"}})]
    );
    // Everyone shown the prompt hears who answered it, the answerer included.
    for conn in ["c1", "c2"] {
        let answered = sim.take(conn);
        assert_eq!(answered.len(), 1, "{conn}: {answered:?}");
        assert_eq!(answered[0]["type"], "orbit.answered");
        assert_eq!(answered[0]["requestId"], key);
        assert_eq!(answered[0]["connectionId"], "c2");
    }

    sim.send_json("c1", json!({"id": key, "result": {"decision": "decline"}}));
    assert_rpc_error(&sim.take("c1"), key.clone(), "already_resolved");
    sim.send_json("c2", json!({"id": key, "result": {"decision": "decline"}}));
    assert_rpc_error(&sim.take("c2"), key, "already_resolved");
    assert!(sim.take("a1").is_empty());
}

#[test]
fn server_requests_of_two_anchors_with_the_same_id_are_answered_to_the_right_anchor() {
    let mut sim = two_anchors();
    subscribe(&mut sim, "c1", "t1", None);
    subscribe(&mut sim, "c1", "t2", None);
    sim.send_json("a1", approval(json!(0), Some("t1")));
    sim.send_json("a2", approval(json!(0), Some("t2")));
    let got = sim.take("c1");
    assert_eq!(got.len(), 2);
    assert_ne!(got[0]["id"], got[1]["id"]);
    sim.send_json("c1", json!({"id": got[1]["id"], "result": {"to": 2}}));
    sim.send_json("c1", json!({"id": got[0]["id"], "result": {"to": 1}}));
    assert_eq!(sim.take("a1"), vec![json!({"id": 0, "result": {"to": 1}})]);
    assert_eq!(sim.take("a2"), vec![json!({"id": 0, "result": {"to": 2}})]);
}

#[test]
fn codex_resolved_notification_after_an_answer_is_rewritten_to_the_orbit_key() {
    let mut sim = one_anchor();
    subscribe(&mut sim, "c1", "t1", None);
    subscribe(&mut sim, "c2", "t1", None);
    sim.send_json("a1", approval(json!(41), Some("t1")));
    let key = key_of(&sim.take("c1"));
    sim.take("c2");
    sim.send_json("c1", json!({"id": key, "result": {"decision": "accept"}}));
    sim.take("a1");
    sim.take("c1");
    sim.take("c2");

    // What codex does once it has the answer: every client must learn the prompt is settled.
    sim.send_json(
        "a1",
        json!({"method": "serverRequest/resolved", "params": {"threadId": "t1", "requestId": 41}}),
    );
    for conn in ["c1", "c2"] {
        let got = sim.take(conn);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0]["method"], "serverRequest/resolved");
        assert_eq!(got[0]["params"]["requestId"], key, "{conn} got {got:?}");
        assert_eq!(got[0]["seq"], 2);
    }
}

#[test]
fn codex_resolving_an_unanswered_request_settles_it_and_is_rewritten() {
    let mut sim = one_anchor();
    sim.send_json("a1", approval(json!(5), None));
    let key = key_of(&sim.take("c1"));
    sim.take("c2");
    sim.send_json(
        "a1",
        json!({"method": "serverRequest/resolved", "params": {"requestId": 5}}),
    );
    for conn in ["c1", "c2"] {
        let got = sim.take(conn);
        assert_eq!(
            got,
            vec![stamped(
                json!({"method": "serverRequest/resolved", "params": {"requestId": key}}),
                "anchor-1"
            )]
        );
    }
    sim.send_json("c1", json!({"id": key, "result": {}}));
    assert_rpc_error(&sim.take("c1"), key, "already_resolved");
    assert!(sim.take("a1").is_empty());
    // A client connecting now is not shown the settled prompt.
    sim.connect_client("c3");
    assert!(sim.take("c3").iter().all(|f| f["type"].is_string()));
}

#[test]
fn resolved_notification_names_the_newest_request_with_that_id() {
    // Codex restarted and numbers its requests from 0 again; the old prompt was never answered.
    let mut sim = one_anchor();
    sim.send_json("a1", approval(json!(0), None));
    let old = key_of(&sim.take("c1"));
    sim.connect_anchor("a1b", "anchor-1");
    sim.send_json("a1b", approval(json!(0), None));
    let new = key_of(&sim.take_without("c1", &["orbit.anchor-connected"]));
    assert_ne!(old, new);
    sim.send_json("c1", json!({"id": new, "result": {}}));
    assert_eq!(
        sim.take_without("a1b", &["orbit.hello"]),
        vec![json!({"id": 0, "result": {}})]
    );
    sim.send_json(
        "a1b",
        json!({"method": "serverRequest/resolved", "params": {"requestId": 0}}),
    );
    assert_eq!(
        sim.take("c2")
            .last()
            .map(|f| f["params"]["requestId"].clone()),
        Some(new)
    );
}

#[test]
fn resolved_notification_for_an_unknown_request_passes_through_unchanged() {
    let mut sim = one_anchor();
    let frame = json!({"method": "serverRequest/resolved", "params": {"requestId": 77}});
    sim.send_json("a1", frame.clone());
    assert_eq!(sim.take("c1"), vec![stamped(frame, "anchor-1")]);
}

#[test]
fn answer_while_the_anchor_is_offline_gets_anchor_offline_and_can_be_retried() {
    let mut sim = one_anchor();
    sim.send_json("a1", approval(json!(9), None));
    let key = key_of(&sim.take("c1"));
    sim.close("a1");
    sim.clear_inboxes();
    let answer = json!({"id": key, "result": {"decision": "accept"}});
    sim.send_json("c1", answer.clone());
    assert_rpc_error(&sim.take("c1"), key.clone(), "anchor_offline");

    sim.connect_anchor("a1b", "anchor-1");
    assert!(sim
        .take_without("c1", &["orbit.anchor-connected"])
        .is_empty());
    sim.clear_inboxes();
    sim.send_json("c1", answer);
    assert_eq!(sim.take("c1")[0]["type"], "orbit.answered");
    assert_eq!(
        sim.take("a1b"),
        vec![json!({"id": 9, "result": {"decision": "accept"}})]
    );
}

#[test]
fn unresolved_server_requests_reach_a_client_that_subscribes_without_since_seq() {
    let mut sim = one_anchor();
    sim.send_json("a1", approval(json!(1), Some("t1")));
    sim.send_json("a1", approval(json!(2), Some("t1")));
    sim.send_json("a1", approval(json!(3), Some("t2")));
    assert!(sim.take("c1").is_empty(), "nobody is subscribed yet");

    // c2 answers the first one (after seeing it through a subscription).
    let seen = subscribe(&mut sim, "c2", "t1", None);
    assert_eq!(seen.len(), 3);
    sim.send_json("c2", json!({"id": seen[0]["id"], "result": {}}));
    sim.take("a1");

    let got = subscribe(&mut sim, "c1", "t1", None);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0], seen[1], "only the open request of t1");
    assert_eq!(
        got[1],
        json!({"type": "orbit.subscribed", "threadId": "t1", "seq": 2})
    );
}

#[test]
fn thread_less_unresolved_server_requests_reach_a_client_that_connects_later() {
    let mut sim = one_anchor();
    sim.send_json("a1", approval(json!(1), None));
    let seen = sim.take("c1");
    sim.connect_client("c3");
    let got = sim.take("c3");
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0]["type"], "orbit.hello");
    assert_eq!(got[1]["type"], "orbit.anchors");
    assert_eq!(got[2], seen[0]);
}

/// The kinds of an action list, in order: "store", "send" or "close".
fn action_kinds(actions: &[super::Action]) -> Vec<&'static str> {
    actions
        .iter()
        .map(|a| match a {
            super::Action::Store(_) => "store",
            super::Action::Send { .. } => "send",
            super::Action::Close { .. } => "close",
            super::Action::Ack { .. } => "ack",
            super::Action::Alert(_) => "alert",
        })
        .collect()
}

#[test]
fn send_before_its_write_thread_less_server_request_is_stored_before_any_client_gets_it() {
    let mut sim = one_anchor();
    let text = approval(json!(1), None).to_string();
    let actions = sim.router.receive("a1", &text, 5_000, &sim.store);
    assert_eq!(
        action_kinds(&actions),
        ["store", "send", "send"],
        "{actions:?}"
    );
    let super::Action::Store(super::StoreOp::SavePending(request)) = &actions[0] else {
        panic!("the pending record first: {actions:?}");
    };
    assert!(
        request.thread_id.is_none() && !request.resolved,
        "{request:?}"
    );
}

#[test]
fn send_before_its_write_no_event_lists_a_write_after_a_send() {
    // A thread's server request, settling one, presence and a replaced anchor: every list of
    // actions has its writes first.
    let mut sim = one_anchor();
    subscribe(&mut sim, "c1", "t1", None);
    let mut lists = Vec::new();
    let now = 6_000;
    let frame = approval(json!(2), Some("t1")).to_string();
    lists.push(sim.router.receive("a1", &frame, now, &sim.store));
    let frame = approval(json!(3), None).to_string();
    lists.push(sim.router.receive("a1", &frame, now, &sim.store));
    let answer = json!({"id": "orbit-srv:1", "result": {"decision": "accept"}}).to_string();
    lists.push(sim.router.receive("c1", &answer, now, &sim.store));
    let anchor = super::Peer::Anchor {
        anchor_id: "anchor-1".into(),
    };
    lists.push(sim.router.connect("a9".into(), anchor, now));
    lists.push(sim.router.disconnect("a9", now));
    for actions in &lists {
        let kinds = action_kinds(actions);
        let first_other = kinds.iter().position(|k| *k != "store");
        let last_store = kinds.iter().rposition(|k| *k == "store");
        assert!(
            matches!((first_other, last_store), (Some(o), Some(s)) if s < o)
                || first_other.is_none()
                || last_store.is_none(),
            "{kinds:?}: {actions:?}"
        );
        assert!(
            kinds.contains(&"store"),
            "each of these events writes: {kinds:?}"
        );
    }
}

#[test]
fn answer_to_an_unknown_key_gets_unknown_request() {
    let mut sim = one_anchor();
    for id in [
        json!("orbit-srv:77"),
        json!(5),
        json!("orbit-srv:x"),
        json!("orbit:c1:1"),
    ] {
        sim.send_json("c1", json!({"id": id, "result": {}}));
        assert_rpc_error(&sim.take("c1"), id, "unknown_request");
    }
    assert!(sim.take("a1").is_empty());
}

#[test]
fn server_request_keys_are_never_reused_after_hibernation() {
    // Even when Orbit remembers no settled request at all.
    let mut sim = Sim::with_config(RouterConfig {
        resolved_remembered: 0,
        ..RouterConfig::default()
    });
    sim.connect_anchor("a1", "anchor-1");
    sim.connect_client("c1");
    sim.clear_inboxes();
    sim.send_json("a1", approval(json!(1), None));
    let first = key_of(&sim.take("c1"));
    sim.send_json("c1", json!({"id": first, "result": {}}));
    sim.take("a1");
    sim.hibernate();
    sim.send_json("a1", approval(json!(2), None));
    let second = key_of(&sim.take("c1"));
    assert_ne!(first, second);
    // A late answer to the first prompt must not answer the second one.
    sim.send_json("c1", json!({"id": first, "result": {"late": true}}));
    assert!(sim.take("a1").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Rule 5: notifications fan out by thread.
// ---------------------------------------------------------------------------------------------

#[test]
fn thread_notification_reaches_only_the_threads_subscribers() {
    let mut sim = one_anchor();
    subscribe(&mut sim, "c1", "t1", None);
    subscribe(&mut sim, "c2", "t2", None);
    sim.send_json("a1", notify("t1", 1));
    assert_eq!(
        sim.take("c1"),
        vec![
            json!({"seq": 1, "origin": origin("anchor-1"), "method": "item/agentMessage/delta",
                   "params": {"threadId": "t1", "n": 1}})
        ]
    );
    assert!(sim.take("c2").is_empty());
    assert!(sim.take("a1").is_empty());
}

#[test]
fn thread_less_notification_reaches_every_client_unnumbered() {
    let mut sim = one_anchor();
    subscribe(&mut sim, "c1", "t1", None);
    let frame = json!({"method": "account/rateLimits/updated", "params": {"x": 1}});
    sim.send_json("a1", frame.clone());
    let frame = stamped(frame, "anchor-1");
    assert_eq!(sim.take("c1"), vec![frame.clone()]);
    assert_eq!(sim.take("c2"), vec![frame]);
    assert!(sim.take("a1").is_empty());
}

#[test]
fn thread_started_with_params_thread_id_is_a_thread_frame() {
    let mut sim = two_anchors();
    started_on(&mut sim, "a2", "anchor-2", "t7");
    subscribe(&mut sim, "c1", "t7", None);
    sim.send_json(
        "a2",
        json!({"method": "thread/started", "params": {"thread": {"id": "t7"}}}),
    );
    assert_eq!(seqs(&sim.take("c1")), vec![1]);
    assert!(sim.take("c2").is_empty());
    sim.send_json(
        "c2",
        json!({"id": 1, "method": "turn/start", "params": {"threadId": "t7"}}),
    );
    assert_eq!(sim.take("a2").len(), 1);
}

#[test]
fn thread_start_response_binds_the_thread_to_the_answering_anchor() {
    let mut sim = two_anchors();
    sim.send_json(
        "c1",
        json!({"id": 1, "method": "thread/start", "params": {"anchorId": "anchor-2", "cwd": "/"}}),
    );
    let forwarded = sim.take("a2");
    assert_eq!(forwarded.len(), 1);
    sim.send_json(
        "a2",
        json!({"id": forwarded[0]["id"], "result": {"thread": {"id": "t9"}}}),
    );
    assert_eq!(
        sim.take("c1"),
        vec![json!({"id": 1, "result": {"thread": {"id": "t9"}}})]
    );
    sim.send_json(
        "c2",
        json!({"id": 1, "method": "turn/start", "params": {"threadId": "t9"}}),
    );
    assert_eq!(sim.take("a2").len(), 1, "t9 lives on anchor-2");
    assert!(sim.take("a1").is_empty());
    assert!(sim.take("c2").is_empty());
}

#[test]
fn unsubscribed_client_stops_receiving_thread_frames() {
    let mut sim = one_anchor();
    subscribe(&mut sim, "c1", "t1", None);
    sim.send_json("a1", notify("t1", 1));
    assert_eq!(sim.take("c1").len(), 1);
    sim.send_json("c1", json!({"type": "orbit.unsubscribe", "threadId": "t1"}));
    assert!(sim.take("c1").is_empty(), "unsubscribe is silent");
    sim.send_json("a1", notify("t1", 2));
    assert!(sim.take("c1").is_empty());
    // Unsubscribing from a thread one is not subscribed to is harmless.
    sim.send_json("c1", json!({"type": "orbit.unsubscribe", "threadId": "t8"}));
    assert!(sim.take("c1").is_empty());
}

#[test]
fn subscriptions_per_socket_are_capped() {
    let mut sim = Sim::with_config(RouterConfig {
        max_subscriptions: 2,
        ..RouterConfig::default()
    });
    sim.connect_client("c1");
    sim.clear_inboxes();
    subscribe(&mut sim, "c1", "t1", None);
    subscribe(&mut sim, "c1", "t2", None);
    assert_orbit_error(
        &subscribe(&mut sim, "c1", "t3", None),
        "too_many_subscriptions",
    );
    // Subscribing again to a thread it has is no new subscription.
    assert_eq!(
        subscribe(&mut sim, "c1", "t2", None)[0]["type"],
        "orbit.subscribed"
    );
}

// ---------------------------------------------------------------------------------------------
// Rule 7: per-thread seq and replay.
// ---------------------------------------------------------------------------------------------

#[test]
fn seq_is_strictly_increasing_per_thread_and_independent_across_threads() {
    let mut sim = one_anchor();
    subscribe(&mut sim, "c1", "t1", None);
    subscribe(&mut sim, "c1", "t2", None);
    for (thread, n) in [("t1", 1), ("t2", 2), ("t1", 3), ("t2", 4), ("t1", 5)] {
        sim.send_json("a1", notify(thread, n));
    }
    sim.send_json("a1", approval(json!(0), Some("t2")));
    let got = sim.take("c1");
    let of = |thread: &str| -> Vec<u64> {
        got.iter()
            .filter(|f| f["params"]["threadId"] == thread)
            .filter_map(|f| f["seq"].as_u64())
            .collect()
    };
    assert_eq!(of("t1"), vec![1, 2, 3]);
    assert_eq!(of("t2"), vec![1, 2, 3]);
}

#[test]
fn subscribe_with_since_seq_replays_the_rest_then_confirms_then_goes_live() {
    let mut sim = one_anchor();
    for n in 1..=5 {
        sim.send_json("a1", notify("t1", n));
    }
    let got = subscribe(&mut sim, "c1", "t1", Some(2));
    assert_eq!(seqs(&got[..3]), vec![3, 4, 5]);
    assert_eq!(got[0]["params"]["n"], 3);
    assert_eq!(
        got[3],
        json!({"type": "orbit.subscribed", "threadId": "t1", "seq": 5})
    );
    assert_eq!(got.len(), 4);
    sim.send_json("a1", notify("t1", 6));
    assert_eq!(seqs(&sim.take("c1")), vec![6]);
}

#[test]
fn subscribe_with_since_seq_equal_to_the_latest_replays_nothing() {
    let mut sim = one_anchor();
    for n in 1..=3 {
        sim.send_json("a1", notify("t1", n));
    }
    let got = subscribe(&mut sim, "c1", "t1", Some(3));
    assert_eq!(
        got,
        vec![json!({"type": "orbit.subscribed", "threadId": "t1", "seq": 3})]
    );
}

#[test]
fn replay_includes_server_requests_and_reconnect_sees_no_gap_and_no_duplicate() {
    let mut sim = one_anchor();
    subscribe(&mut sim, "c1", "t1", None);
    sim.send_json("a1", notify("t1", 1));
    sim.send_json("a1", notify("t1", 2));
    let before = sim.take("c1");
    sim.close("c1");
    sim.send_json("a1", approval(json!(3), Some("t1")));
    sim.send_json("a1", notify("t1", 4));
    sim.connect_client("c1b");
    sim.take("c1b");
    let last = before.last().and_then(|f| f["seq"].as_u64());
    let mut got = subscribe(&mut sim, "c1b", "t1", last);
    sim.send_json("a1", notify("t1", 5));
    got.extend(sim.take("c1b"));
    let mut all = before.clone();
    all.extend(got.iter().filter(|f| f["type"].is_null()).cloned());
    assert_eq!(seqs(&all), vec![1, 2, 3, 4, 5]);
    assert!(got[0]["id"].as_str().unwrap().starts_with("orbit-srv:"));
    for f in &all {
        let seq = f["seq"].as_u64().unwrap();
        let logged: Value = serde_json::from_str(&sim.history["t1"][&seq]).unwrap();
        assert_eq!(*f, logged, "a client sees exactly what was logged");
    }
}

#[test]
fn a_failed_log_read_is_answered_truncated_not_as_an_empty_replay() {
    let mut sim = one_anchor();
    for n in 1..=3 {
        sim.send_json("a1", notify("t1", n));
    }
    sim.store.unreadable = true;
    let got = subscribe(&mut sim, "c1", "t1", Some(1));
    assert_eq!(
        got,
        vec![json!({"type": "orbit.subscribed", "threadId": "t1", "seq": 3, "truncated": true})]
    );
    sim.store.unreadable = false;
    let got = subscribe(&mut sim, "c1", "t1", Some(1));
    assert_eq!(seqs(&got), vec![2, 3, 3]);
    assert!(got[2].get("truncated").is_none());
}

#[test]
fn a_replay_across_a_hole_left_by_a_failed_write_is_answered_truncated() {
    let mut sim = one_anchor();
    for n in 1..=5 {
        sim.send_json("a1", notify("t1", n));
    }
    // The row of 3 was never written (its write failed; its number stayed reserved).
    sim.store.log.get_mut("t1").unwrap().remove(&3);
    for since in [0, 1, 2] {
        let got = subscribe(&mut sim, "c1", "t1", Some(since));
        assert_eq!(
            got,
            vec![
                json!({"type": "orbit.subscribed", "threadId": "t1", "seq": 5, "truncated": true})
            ],
            "since {since}: no replay across the hole"
        );
    }
    // After the hole the log is whole again.
    let got = subscribe(&mut sim, "c1", "t1", Some(3));
    assert_eq!(seqs(&got), vec![4, 5, 5]);
    assert!(got[2].get("truncated").is_none());
}

#[test]
fn numbering_survives_a_wake_after_the_log_was_emptied_or_trimmed() {
    let mut sim = Sim::with_config(RouterConfig {
        log_frames_per_thread: 2,
        trim_every: 1,
        ..RouterConfig::default()
    });
    sim.connect_anchor("a1", "anchor-1");
    sim.connect_client("c1");
    subscribe(&mut sim, "c1", "t1", None);
    subscribe(&mut sim, "c1", "t2", None);
    sim.clear_inboxes();
    for n in 1..=5 {
        sim.send_json("a1", notify("t1", n));
        sim.send_json("a1", notify("t2", n));
    }
    // t1 is trimmed to its newest rows; t2 loses every row.
    assert_eq!(
        sim.store.log["t1"].keys().copied().collect::<Vec<_>>(),
        vec![4, 5]
    );
    sim.store.log.remove("t2");
    sim.hibernate();
    sim.clear_inboxes();
    sim.send_json("a1", notify("t1", 6));
    sim.send_json("a1", notify("t2", 6));
    assert_eq!(seqs(&sim.take("c1")), vec![6, 6]);
}

#[test]
fn subscribe_past_the_trimmed_log_is_truncated() {
    let mut sim = Sim::with_config(RouterConfig {
        log_frames_per_thread: 3,
        trim_every: 1,
        ..RouterConfig::default()
    });
    sim.connect_anchor("a1", "anchor-1");
    sim.connect_client("c1");
    sim.clear_inboxes();
    for n in 1..=10 {
        sim.send_json("a1", notify("t1", n));
    }
    assert_eq!(
        sim.store.log["t1"].keys().copied().collect::<Vec<_>>(),
        vec![8, 9, 10]
    );
    let got = subscribe(&mut sim, "c1", "t1", Some(2));
    assert_eq!(
        got,
        vec![json!({"type": "orbit.subscribed", "threadId": "t1", "seq": 10, "truncated": true})]
    );
    // One short of reaching back: 7 is gone, so after 6 there would be a gap.
    let got = subscribe(&mut sim, "c1", "t1", Some(6));
    assert_eq!(got.len(), 1, "no partial replay: {got:?}");
    assert_eq!(got[0]["truncated"], true);
    // The log still reaches back to 7 + 1.
    let got = subscribe(&mut sim, "c1", "t1", Some(7));
    assert_eq!(seqs(&got), vec![8, 9, 10, 10]);
    assert_eq!(got[3]["type"], "orbit.subscribed");
    assert!(got[3].get("truncated").is_none());
}

#[test]
fn log_is_trimmed_in_batches() {
    let mut sim = Sim::with_config(RouterConfig {
        log_frames_per_thread: 4,
        trim_every: 3,
        ..RouterConfig::default()
    });
    sim.connect_anchor("a1", "anchor-1");
    for n in 1..=9 {
        sim.send_json("a1", notify("t1", n));
    }
    // Trimmed at seq 6 (through 2) and 9 (through 5), not after every append.
    assert_eq!(
        sim.store.log["t1"].keys().copied().collect::<Vec<_>>(),
        vec![6, 7, 8, 9]
    );
}

#[test]
fn subscribe_with_since_seq_beyond_the_latest_is_truncated() {
    let mut sim = one_anchor();
    subscribe(&mut sim, "c2", "t1", None);
    sim.send_json("a1", approval(json!(1), Some("t1")));
    sim.send_json("a1", notify("t1", 2));
    let live = sim.take("c2");
    let got = subscribe(&mut sim, "c1", "t1", Some(50));
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        got[0], live[0],
        "open requests are sent when the replay cannot be"
    );
    assert_eq!(
        got[1],
        json!({"type": "orbit.subscribed", "threadId": "t1", "seq": 2, "truncated": true})
    );
    // An unknown thread counts as having seq 0.
    assert_eq!(
        subscribe(&mut sim, "c1", "t4", Some(1)),
        vec![json!({"type": "orbit.subscribed", "threadId": "t4", "seq": 0, "truncated": true})]
    );
}

#[test]
fn sender_supplied_seq_is_replaced_never_duplicated() {
    let mut sim = one_anchor();
    subscribe(&mut sim, "c1", "t1", None);
    sim.send(
        "a1",
        r#"{"seq":999,"method":"turn/started","params":{"threadId":"t1"}}"#,
    );
    sim.send(
        "a1",
        r#"{"method":"turn/started","params":{"threadId":"t1"},"seq":"x"}"#,
    );
    sim.send(
        "a1",
        r#"{"id":3,"seq":999,"method":"item/tool/requestUserInput","params":{"threadId":"t1"}}"#,
    );
    sim.send(
        "a1",
        r#"{"seq":null,"method":"turn/started","params":{"threadId":"t1"}}"#,
    );
    sim.send(
        "a1",
        r#"{"seq":999,"method":"account/updated","params":{}}"#,
    );
    let raw = sim.take_raw("c1");
    assert_eq!(raw.len(), 5);
    for text in &raw {
        assert!(text.matches("\"seq\"").count() <= 1, "{text}");
    }
    let got: Vec<Value> = raw
        .iter()
        .map(|t| serde_json::from_str(t).unwrap())
        .collect();
    assert_eq!(seqs(&got), vec![1, 2, 3, 4]);
    assert!(
        got[4].get("seq").is_none(),
        "thread-less frames carry no seq: {}",
        raw[4]
    );
}

// ---------------------------------------------------------------------------------------------
// Rule 8: limits and bad input.
// ---------------------------------------------------------------------------------------------

/// Sends `bad` from `conn`, expects `orbit.error` with `code`, then checks the socket still
/// relays a valid request.
fn refused_then_usable(sim: &mut Sim, conn: &str, bad: &str, code: &str) {
    sim.send(conn, bad);
    assert_orbit_error(&sim.take(conn), code);
    assert!(sim.closed.is_empty(), "no socket is closed for bad input");
    sim.send_json(conn, json!({"id": 1, "method": "thread/list"}));
    assert_eq!(sim.take("a1").len(), 1, "after {bad:.40}");
}

#[test]
fn malformed_json_gets_orbit_error_and_the_socket_stays_usable() {
    let mut sim = one_anchor();
    refused_then_usable(&mut sim, "c1", "{nope", "malformed_json");
    refused_then_usable(&mut sim, "c1", "", "malformed_json");
    refused_then_usable(&mut sim, "c1", r#"{"id":1,"method":"m""#, "malformed_json");
}

#[test]
fn non_object_gets_orbit_error_and_the_socket_stays_usable() {
    let mut sim = one_anchor();
    refused_then_usable(&mut sim, "c1", "[1,2]", "not_an_object");
    refused_then_usable(&mut sim, "c1", "42", "not_an_object");
    refused_then_usable(&mut sim, "c1", "\"hi\"", "not_an_object");
}

#[test]
fn unknown_control_type_gets_orbit_error_and_the_socket_stays_usable() {
    let mut sim = one_anchor();
    refused_then_usable(&mut sim, "c1", r#"{"type":"orbit.nope"}"#, "unknown_type");
    refused_then_usable(&mut sim, "c1", r#"{"type":7}"#, "unknown_type");
    // A null type is no control frame; it is not a JSON-RPC message either.
    refused_then_usable(&mut sim, "c1", r#"{"type":null}"#, "invalid_message");
}

#[test]
fn bad_shape_gets_orbit_error_and_the_socket_stays_usable() {
    let mut sim = one_anchor();
    refused_then_usable(&mut sim, "c1", r#"{"type":"orbit.subscribe"}"#, "bad_frame");
    refused_then_usable(
        &mut sim,
        "c1",
        r#"{"type":"orbit.subscribe","threadId":"t","sinceSeq":"x"}"#,
        "bad_frame",
    );
    refused_then_usable(&mut sim, "c1", r#"{"hello":1}"#, "invalid_message");
    refused_then_usable(
        &mut sim,
        "c1",
        r#"{"id":[1],"method":"m"}"#,
        "invalid_message",
    );
    refused_then_usable(
        &mut sim,
        "c1",
        r#"{"type":"anchor.hello","anchorId":"anchor-1"}"#,
        "bad_frame",
    );
}

#[test]
fn over_limit_frame_gets_frame_too_large_and_the_socket_stays_usable() {
    let mut sim = one_anchor();
    let big = format!(
        r#"{{"id":1,"method":"turn/start","params":{{"text":"{}"}}}}"#,
        "x".repeat(MAX_FRAME_BYTES)
    );
    refused_then_usable(&mut sim, "c1", &big, "frame_too_large");
    assert!(sim.take("c1").is_empty() && sim.take("c2").is_empty());

    // From an anchor too: refused to the anchor, nothing reaches the clients.
    subscribe(&mut sim, "c1", "t1", None);
    let big = format!(
        r#"{{"method":"m","params":{{"threadId":"t1","text":"{}"}}}}"#,
        "x".repeat(MAX_FRAME_BYTES)
    );
    sim.send("a1", &big);
    assert_orbit_error(&sim.take("a1"), "frame_too_large");
    assert!(sim.take("c1").is_empty());
    sim.send_json("a1", notify("t1", 1));
    assert_eq!(
        seqs(&sim.take("c1")),
        vec![1],
        "the refused frame used no seq"
    );
}

#[test]
fn bad_frames_from_an_anchor_get_orbit_error_and_change_nothing() {
    let mut sim = one_anchor();
    for (bad, code) in [
        ("{", "malformed_json"),
        ("[]", "not_an_object"),
        (r#"{"type":"orbit.subscribe","threadId":"t1"}"#, "bad_frame"),
        (r#"{"type":"orbit.list-anchors"}"#, "bad_frame"),
        (r#"{"type":"x"}"#, "unknown_type"),
        (r#"{"result":1}"#, "invalid_message"),
    ] {
        sim.send("a1", bad);
        assert_orbit_error(&sim.take("a1"), code);
        assert!(sim.take("c1").is_empty());
    }
    sim.send_json("c1", json!({"id": 1, "method": "m"}));
    assert_eq!(sim.take("a1").len(), 1);
}

#[test]
fn ping_gets_pong_on_either_side() {
    let mut sim = one_anchor();
    for conn in ["c1", "a1"] {
        sim.send(conn, r#"{"type":"ping"}"#);
        assert_eq!(sim.take(conn), vec![json!({"type": "pong"})]);
        sim.send(conn, r#"{"type":"pong"}"#);
        assert!(sim.take(conn).is_empty());
    }
}

#[test]
fn frames_from_unknown_sockets_are_ignored() {
    let mut sim = one_anchor();
    sim.send("ghost", r#"{"id":1,"method":"m"}"#);
    assert!(sim.inbox.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Presence.
// ---------------------------------------------------------------------------------------------

#[test]
fn hello_is_the_first_frame_with_role_user_and_connection_id() {
    let mut sim = Sim::new();
    sim.connect_client("c1");
    let got = sim.take("c1");
    assert_eq!(got[0]["type"], "orbit.hello");
    assert_eq!(got[0]["role"], "client");
    assert_eq!(got[0]["userId"], "user-1");
    assert_eq!(got[0]["connectionId"], "c1");
    assert!(got[0]["serverTime"].is_u64());
    assert_eq!(got[1], json!({"type": "orbit.anchors", "anchors": []}));

    sim.connect_anchor("a1", "anchor-1");
    let got = sim.take("a1");
    assert_eq!(got.len(), 1, "an anchor gets only its hello: {got:?}");
    assert_eq!(got[0]["type"], "orbit.hello");
    assert_eq!(got[0]["role"], "anchor");
    assert_eq!(got[0]["userId"], "user-1");
    assert_eq!(got[0]["connectionId"], "a1");
}

#[test]
fn client_gets_the_anchor_list_on_connect_and_on_request() {
    let mut sim = Sim::new();
    sim.connect_anchor("a1", "anchor-1");
    sim.connect_anchor("a2", "anchor-2");
    sim.close("a2");
    sim.connect_client("c1");
    let got = sim.take("c1");
    assert_eq!(got.len(), 2);
    let anchors = got[1]["anchors"].as_array().unwrap();
    assert_eq!(anchors.len(), 2);
    assert_eq!(anchors[0]["anchorId"], "anchor-1");
    assert_eq!(anchors[0]["online"], true);
    assert_eq!(anchors[1]["anchorId"], "anchor-2");
    assert_eq!(anchors[1]["online"], false);
    assert!(anchors[1]["lastSeenAt"].is_u64());

    sim.send("c1", r#"{"type":"orbit.list-anchors"}"#);
    assert_eq!(sim.take("c1"), vec![got[1].clone()]);
}

#[test]
fn anchor_presence_changes_are_broadcast_to_clients_only() {
    let mut sim = Sim::new();
    sim.connect_client("c1");
    sim.connect_client("c2");
    sim.connect_anchor("a0", "anchor-0");
    sim.clear_inboxes();
    sim.connect_anchor("a1", "anchor-1");
    for conn in ["c1", "c2"] {
        let got = sim.take(conn);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["type"], "orbit.anchor-connected");
        assert_eq!(got[0]["anchor"]["anchorId"], "anchor-1");
        assert_eq!(got[0]["anchor"]["online"], true);
    }
    assert!(
        sim.take("a0").is_empty(),
        "anchors are not told about each other"
    );
    sim.close("a1");
    for conn in ["c1", "c2"] {
        assert_eq!(
            sim.take(conn),
            vec![json!({"type": "orbit.anchor-disconnected", "anchorId": "anchor-1"})]
        );
    }
    assert!(sim.take("a0").is_empty());
}

#[test]
fn second_connection_of_an_anchor_replaces_the_first_and_the_old_close_changes_nothing() {
    let mut sim = one_anchor();
    sim.connect_anchor("a1b", "anchor-1");
    assert_eq!(sim.closed.get("a1"), Some(&CLOSE_REPLACED));
    let got = sim.take("c1");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["type"], "orbit.anchor-connected");

    // The old socket's close event arrives later.
    sim.close("a1");
    assert!(
        sim.take("c1").is_empty(),
        "no anchor-disconnected for the old socket"
    );
    sim.send("c1", r#"{"type":"orbit.list-anchors"}"#);
    assert_eq!(sim.take("c1")[0]["anchors"][0]["online"], true);
    sim.take("a1b");
    sim.send_json("c1", json!({"id": 1, "method": "m"}));
    assert_eq!(sim.take("a1b").len(), 1);
    assert!(sim.take("a1").is_empty());
    assert!(sim.misaddressed.is_empty());
}

#[test]
fn anchor_hello_naming_another_anchor_is_refused() {
    let mut sim = one_anchor();
    sim.send_json(
        "a1",
        json!({"type": "anchor.hello", "anchorId": "anchor-2", "name": "Impostor"}),
    );
    assert_orbit_error(&sim.take("a1"), "bad_frame");
    assert!(sim.take("c1").is_empty());
    sim.send("c1", r#"{"type":"orbit.list-anchors"}"#);
    let list = sim.take("c1");
    let anchors = list[0]["anchors"].as_array().unwrap();
    assert_eq!(anchors.len(), 1);
    assert_eq!(anchors[0]["anchorId"], "anchor-1");
    assert_eq!(anchors[0]["name"], "anchor-1");
}

#[test]
fn anchor_hello_metadata_is_announced_and_listed() {
    let mut sim = one_anchor();
    sim.send_json(
        "a1",
        json!({"type": "anchor.hello", "anchorId": "anchor-1", "name": "Laptop",
               "hostname": "lap", "platform": "linux", "version": "0.1.0",
               "capabilities": ["anchor.git"], "codexVersion": "0.40.0"}),
    );
    assert!(sim.take("a1").is_empty());
    let got = sim.take("c1");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["type"], "orbit.anchor-connected");
    let anchor = &got[0]["anchor"];
    assert_eq!(anchor["name"], "Laptop");
    assert_eq!(anchor["hostname"], "lap");
    assert_eq!(anchor["codexVersion"], "0.40.0");
    sim.take("c2");
    sim.send("c2", r#"{"type":"orbit.list-anchors"}"#);
    assert_eq!(sim.take("c2")[0]["anchors"][0], *anchor);
}

fn paired(list: &[(&str, &str)]) -> Vec<super::PairedAnchor> {
    list.iter()
        .map(|(id, name)| super::PairedAnchor {
            anchor_id: (*id).into(),
            name: (*name).into(),
        })
        .collect()
}

#[test]
fn paired_list_change_reaches_every_client_by_the_approved_name_and_no_change_sends_nothing() {
    let mut sim = one_anchor();
    sim.set_paired(&[("anchor-1", "Laptop")]);
    // A pairing approved: the new anchor is listed under its approved name, before it connects.
    let actions = sim
        .router
        .update_paired_anchors(paired(&[("anchor-1", "Laptop"), ("anchor-2", "Desk")]));
    assert_eq!(action_kinds(&actions), ["send", "send"], "{actions:?}");
    for action in &actions {
        let super::Action::Send { to, text } = action else {
            panic!("{actions:?}")
        };
        assert!(to == "c1" || to == "c2", "only clients: {to}");
        let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        assert_eq!(v["type"], "orbit.anchors");
        assert_eq!(v["anchors"][1]["anchorId"], "anchor-2", "{v}");
        assert_eq!(v["anchors"][1]["name"], "Desk", "{v}");
        assert_eq!(v["anchors"][1]["online"], false, "{v}");
    }
    // Read again, unchanged: nothing to say.
    let again = sim
        .router
        .update_paired_anchors(paired(&[("anchor-2", "Desk"), ("anchor-1", "Laptop")]));
    assert!(again.is_empty(), "{again:?}");
    // When it connects, it is announced by that name too.
    sim.connect_anchor("a2", "anchor-2");
    let connected = sim.take("c1");
    assert_eq!(connected[0]["type"], "orbit.anchor-connected");
    assert_eq!(connected[0]["anchor"]["name"], "Desk", "{connected:?}");
    // Renamed, then revoked.
    let renamed = sim
        .router
        .update_paired_anchors(paired(&[("anchor-1", "Laptop"), ("anchor-2", "Attic")]));
    assert_eq!(action_kinds(&renamed), ["send", "send"], "{renamed:?}");
    assert!(renamed
        .iter()
        .all(|a| matches!(a, super::Action::Send { text, .. } if text.contains("Attic"))));
    sim.close("a2");
    let revoked = sim
        .router
        .update_paired_anchors(paired(&[("anchor-1", "Laptop")]));
    assert!(
        revoked
            .iter()
            .all(|a| matches!(a, super::Action::Send { text, .. } if !text.contains("anchor-2"))),
        "{revoked:?}"
    );
    assert_eq!(revoked.len(), 2, "{revoked:?}");
}

#[test]
fn paired_list_shows_never_connected_anchors_offline_and_hides_unpaired_ones() {
    let mut sim = Sim::new();
    sim.connect_anchor("a1", "anchor-1");
    sim.connect_anchor("a2", "anchor-2");
    sim.close("a1");
    sim.close("a2");
    sim.set_paired(&[("anchor-1", "Laptop"), ("anchor-3", "Desk")]);
    sim.connect_client("c1");
    let got = sim.take("c1");
    assert_eq!(
        got[1]["anchors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (
                a["anchorId"].clone(),
                a["name"].clone(),
                a["online"].clone()
            ))
            .collect::<Vec<_>>(),
        vec![
            (json!("anchor-1"), json!("Laptop"), json!(false)),
            (json!("anchor-3"), json!("Desk"), json!(false)),
        ]
    );
    sim.send_json(
        "c1",
        json!({"id": 1, "method": "m", "params": {"anchorId": "anchor-2"}}),
    );
    assert_rpc_error(&sim.take("c1"), json!(1), "anchor_not_found");
    sim.send_json(
        "c1",
        json!({"id": 2, "method": "m", "params": {"anchorId": "anchor-3"}}),
    );
    assert_rpc_error(&sim.take("c1"), json!(2), "anchor_offline");

    // The never-seen anchor connects: it is online under the user's name for it.
    sim.connect_anchor("a3", "anchor-3");
    let got = sim.take("c1");
    assert_eq!(got[0]["anchor"]["name"], "Desk");
    assert_eq!(got[0]["anchor"]["online"], true);
}

// ---------------------------------------------------------------------------------------------
// Hibernation: the router is rebuilt from storage and the open sockets.
// ---------------------------------------------------------------------------------------------

#[test]
fn hibernation_preserves_subscriptions() {
    let mut sim = one_anchor();
    subscribe(&mut sim, "c1", "t1", None);
    subscribe(&mut sim, "c2", "t2", None);
    sim.hibernate();
    sim.send_json("a1", notify("t1", 1));
    assert_eq!(seqs(&sim.take("c1")), vec![1]);
    assert!(sim.take("c2").is_empty());
    sim.send("c1", r#"{"type":"orbit.unsubscribe","threadId":"t1"}"#);
    sim.hibernate();
    sim.send_json("a1", notify("t1", 2));
    assert!(sim.take("c1").is_empty());
}

#[test]
fn hibernation_preserves_thread_bindings() {
    let mut sim = two_anchors();
    started_on(&mut sim, "a2", "anchor-2", "t1");
    sim.send_json(
        "c1",
        json!({"id": 1, "method": "thread/resume", "params": {"threadId": "t2", "anchorId": "anchor-1"}}),
    );
    sim.clear_inboxes();
    sim.hibernate();
    sim.send_json(
        "c1",
        json!({"id": 2, "method": "turn/start", "params": {"threadId": "t1"}}),
    );
    sim.send_json(
        "c1",
        json!({"id": 3, "method": "turn/start", "params": {"threadId": "t2"}}),
    );
    assert_eq!(sim.take("a2").len(), 1);
    assert_eq!(sim.take("a1").len(), 1);
    sim.send_json(
        "c1",
        json!({"id": 4, "method": "turn/start", "params": {"threadId": "t1", "anchorId": "anchor-1"}}),
    );
    assert_rpc_error(&sim.take("c1"), json!(4), "thread_anchor_mismatch");
}

#[test]
fn hibernation_preserves_seq_counters_and_the_replay_log() {
    let mut sim = one_anchor();
    subscribe(&mut sim, "c1", "t1", None);
    for n in 1..=3 {
        sim.send_json("a1", notify("t1", n));
    }
    sim.send_json("a1", notify("t2", 1));
    sim.clear_inboxes();
    sim.hibernate();
    sim.send_json("a1", notify("t1", 4));
    sim.send_json("a1", notify("t2", 2));
    assert_eq!(seqs(&sim.take("c1")), vec![4]);
    let got = subscribe(&mut sim, "c2", "t1", Some(0));
    assert_eq!(seqs(&got), vec![1, 2, 3, 4, 4]);
    let got = subscribe(&mut sim, "c2", "t2", Some(1));
    assert_eq!(seqs(&got), vec![2, 2]);
    assert!(sim.duplicate_seqs.is_empty());
}

#[test]
fn hibernation_preserves_pending_server_requests_and_their_answered_state() {
    let mut sim = one_anchor();
    subscribe(&mut sim, "c1", "t1", None);
    sim.send_json("a1", approval(json!("x-1"), Some("t1")));
    sim.send_json("a1", approval(json!("x-2"), None));
    let got = sim.take("c1");
    let threaded = got[0].clone();
    let key = threaded["id"].clone();
    sim.take("c2");
    sim.hibernate();
    // A late subscriber still gets the open thread request.
    let late = subscribe(&mut sim, "c2", "t1", None);
    assert_eq!(late[0], threaded);
    sim.hibernate();
    sim.send_json("c2", json!({"id": key, "result": {"ok": true}}));
    assert_eq!(
        sim.take("a1"),
        vec![json!({"id": "x-1", "result": {"ok": true}})]
    );
    sim.hibernate();
    // c1 was shown the request too: it hears that c2 answered, then is refused.
    let answered = sim.take("c1");
    assert_eq!(answered[0]["type"], "orbit.answered");
    assert_eq!(answered[0]["connectionId"], "c2");
    sim.send_json("c1", json!({"id": key, "result": {"ok": false}}));
    assert_rpc_error(&sim.take("c1"), key.clone(), "already_resolved");
    sim.hibernate();
    sim.send_json(
        "a1",
        json!({"method": "serverRequest/resolved", "params": {"threadId": "t1", "requestId": "x-1"}}),
    );
    assert_eq!(sim.take("c1")[0]["params"]["requestId"], key);
    // The thread-less one still reaches a new client after hibernation.
    sim.hibernate();
    sim.connect_client("c3");
    assert_eq!(sim.take("c3")[2], got[1]);
}

#[test]
fn hibernation_between_request_and_response_still_delivers_home() {
    let mut sim = one_anchor();
    sim.send_json("c1", json!({"id": 1, "method": "m"}));
    sim.send_json("c2", json!({"id": 1, "method": "m"}));
    let forwarded = sim.take("a1");
    sim.hibernate();
    sim.send_json("a1", json!({"id": forwarded[1]["id"], "result": "two"}));
    sim.hibernate();
    sim.send_json("a1", json!({"id": forwarded[0]["id"], "result": "one"}));
    assert_eq!(sim.take("c1"), vec![json!({"id": 1, "result": "one"})]);
    assert_eq!(sim.take("c2"), vec![json!({"id": 1, "result": "two"})]);
}

#[test]
fn replaced_anchor_stays_online_across_hibernation() {
    let mut sim = one_anchor();
    sim.connect_anchor("a1b", "anchor-1");
    sim.hibernate();
    sim.close("a1");
    sim.clear_inboxes();
    sim.send_json("c1", json!({"id": 1, "method": "m"}));
    assert_eq!(sim.take("a1b").len(), 1);
    sim.close("a1b");
    assert_eq!(
        sim.take("c1"),
        vec![json!({"type": "orbit.anchor-disconnected", "anchorId": "anchor-1"})]
    );
}

#[test]
fn paired_list_is_resupplied_after_hibernation() {
    let mut sim = Sim::new();
    sim.connect_anchor("a2", "anchor-2");
    sim.close("a2");
    sim.set_paired(&[("anchor-1", "Laptop")]);
    sim.hibernate();
    sim.connect_client("c1");
    let got = sim.take("c1");
    assert_eq!(got[1]["anchors"].as_array().map(Vec::len), Some(1));
    assert_eq!(got[1]["anchors"][0]["anchorId"], "anchor-1");
}

/// One step of a scripted session.
type Step = Box<dyn Fn(&mut Sim)>;

/// One scripted session; `nap` runs between every two steps.
fn scripted_session(sim: &mut Sim, nap: fn(&mut Sim)) -> Vec<(String, Vec<Value>)> {
    let steps: Vec<Step> = vec![
        Box::new(|s| s.connect_anchor("a1", "anchor-1")),
        Box::new(|s| s.connect_anchor("a2", "anchor-2")),
        Box::new(|s| s.connect_client("c1")),
        Box::new(|s| s.connect_client("c2")),
        Box::new(|s| {
            s.send_json("c1", json!({"type": "orbit.subscribe", "threadId": "t1"}));
        }),
        Box::new(|s| {
            s.send_json(
                "c1",
                json!({"id": 1, "method": "thread/start", "params": {"anchorId": "anchor-2"}}),
            )
        }),
        Box::new(|s| {
            s.send_json(
                "c2",
                json!({"id": 1, "method": "m", "params": {"anchorId": "anchor-2"}}),
            )
        }),
        Box::new(|s| {
            s.send_json(
                "a2",
                json!({"id": "orbit-thread:c1:anchor-2:1", "result": {"thread": {"id": "t1"}}}),
            )
        }),
        Box::new(|s| s.send_json("a2", notify("t1", 1))),
        Box::new(|s| s.send_json("a2", approval(json!(0), Some("t1")))),
        Box::new(|s| s.send_json("a2", approval(json!(1), None))),
        Box::new(|s| {
            s.send_json(
                "c2",
                json!({"type": "orbit.subscribe", "threadId": "t1", "sinceSeq": 0}),
            )
        }),
        Box::new(|s| {
            s.send_json(
                "c1",
                json!({"id": 5, "method": "turn/start", "params": {"threadId": "t1"}}),
            )
        }),
        Box::new(|s| {
            s.send_json(
                "c2",
                json!({"id": "orbit-srv:0", "result": {"decision": "accept"}}),
            )
        }),
        Box::new(|s| {
            s.send_json(
                "c1",
                json!({"id": "orbit-srv:0", "result": {"decision": "decline"}}),
            )
        }),
        Box::new(|s| {
            s.send_json(
                "a2",
                json!({"method": "serverRequest/resolved", "params": {"threadId": "t1", "requestId": 0}}),
            )
        }),
        Box::new(|s| s.send_json("a2", json!({"id": "orbit:c2:anchor-2:1", "result": "c2"}))),
        Box::new(|s| s.close("a2")),
        Box::new(|s| s.send_json("c1", json!({"id": "orbit-srv:1", "result": {}}))),
        Box::new(|s| s.connect_anchor("a2b", "anchor-2")),
        Box::new(|s| s.send_json("c1", json!({"id": "orbit-srv:1", "result": {}}))),
        Box::new(|s| s.send_json("a2b", json!({"id": "orbit:c1:anchor-2:5", "result": "c1"}))),
        Box::new(|s| s.connect_client("c3")),
        Box::new(|s| {
            s.send_json(
                "c3",
                json!({"type": "orbit.subscribe", "threadId": "t1", "sinceSeq": 1}),
            )
        }),
        Box::new(|s| s.send_json("a2b", notify("t1", 2))),
        Box::new(|s| s.close("c1")),
        Box::new(|s| s.send_json("a2b", notify("t1", 3))),
    ];
    for step in &steps {
        step(sim);
        nap(sim);
    }
    let conns: Vec<String> = sim.inbox.keys().cloned().collect();
    conns
        .into_iter()
        .map(|c| (c.clone(), sim.take(&c)))
        .collect()
}

#[test]
fn hibernating_between_any_two_steps_changes_nothing() {
    let mut awake = Sim::new();
    let expected = scripted_session(&mut awake, |_| {});
    let mut sleepy = Sim::new();
    let got = scripted_session(&mut sleepy, Sim::hibernate);
    assert_eq!(got, expected);
    assert_eq!(sleepy.history, awake.history);
    // And the session did what it should.
    let inbox: std::collections::BTreeMap<_, _> = expected.into_iter().collect();
    let a2: Vec<&Value> = inbox["a2"].iter().filter(|f| f["type"].is_null()).collect();
    assert_eq!(
        a2.len(),
        4,
        "thread/start, c2's request, turn/start, the answer: {a2:?}"
    );
    assert_eq!(a2[2]["params"], json!({"threadId": "t1"}));
    assert_eq!(a2[3], &json!({"id": 0, "result": {"decision": "accept"}}));
    let a2b: Vec<&Value> = inbox["a2b"]
        .iter()
        .filter(|f| f["type"].is_null())
        .collect();
    assert_eq!(
        a2b,
        vec![&json!({"id": 1, "result": {}})],
        "the retried answer"
    );
    assert_eq!(seqs(&inbox["c3"]), vec![2, 3, 3, 4, 5]);
    assert!(inbox["c1"].contains(&json!({"id": 5, "result": "c1"})));
    assert!(inbox["c2"].contains(&json!({"id": 1, "result": "c2"})));
}

// Relaying stays cheap (SPEC §6): a frame is read in full once on its way through Orbit, and
// what needs no change goes on as the same bytes.

#[test]
fn a_client_request_is_read_once_and_only_its_id_and_routing_hint_change() {
    let mut sim = one_anchor();
    let request = r#"{"id":7,"method":"turn/start","params":{"threadId":"t1","anchorId":"anchor-1","input":[{"type":"text","text":"hi \"there\""}]}}"#;
    orbit_protocol::count::reset();
    sim.send("c1", request);
    assert_eq!(orbit_protocol::count::full_parses(), 1);
    let forwarded = sim.take_raw("a1");
    assert_eq!(
        forwarded,
        [
            r#"{"id":"orbit:c1:anchor-1:7","method":"turn/start","params":{"threadId":"t1","input":[{"type":"text","text":"hi \"there\""}]}}"#
        ]
    );
}

#[test]
fn a_notification_and_its_answer_are_read_once_each() {
    let mut sim = one_anchor();
    sim.send_json("c1", json!({"type": "orbit.subscribe", "threadId": "t1"}));
    sim.clear_inboxes();
    let note = r#"{"method":"item/agentMessage/delta","params":{"threadId":"t1","delta":"x"}}"#;
    orbit_protocol::count::reset();
    sim.send("a1", note);
    assert_eq!(orbit_protocol::count::full_parses(), 1);
    // Numbered and stamped by splicing `seq` and `origin` in front: the rest is the anchor's
    // own bytes.
    assert_eq!(
        sim.take_raw("c1"),
        [format!(
            "{{\"seq\":1,\"origin\":{{\"anchorId\":\"anchor-1\",\"name\":\"anchor-1\"}},{}",
            &note[1..]
        )]
    );

    sim.send(
        "c1",
        r#"{"id":1,"method":"thread/read","params":{"threadId":"t1"}}"#,
    );
    sim.clear_inboxes();
    let answer = r#"{"id":"orbit:c1:anchor-1:1","result":{"thread":{"id":"t1","items":[1,2,3]}}}"#;
    orbit_protocol::count::reset();
    sim.send("a1", answer);
    assert_eq!(orbit_protocol::count::full_parses(), 1);
    assert_eq!(
        sim.take_raw("c1"),
        [r#"{"id":1,"result":{"thread":{"id":"t1","items":[1,2,3]}}}"#]
    );
}

#[test]
fn who_answered_a_prompt_reaches_the_thread_s_subscribers_with_the_device_name() {
    let mut sim = one_anchor();
    subscribe(&mut sim, "c1", "t1", None);
    subscribe(&mut sim, "c2", "t1", None);
    sim.set_device("c1", "Chrome on Linux");
    sim.send_json("a1", approval(json!(3), Some("t1")));
    let key = key_of(&sim.take("c1"));
    sim.take("c2");
    sim.send_json("c1", json!({"id": key, "result": {"decision": "decline"}}));
    let seen = sim.take("c2");
    assert_eq!(
        seen,
        vec![
            json!({"type": "orbit.answered", "requestId": key, "connectionId": "c1",
            "device": "Chrome on Linux", "at": seen[0]["at"]})
        ]
    );
    // Not logged for replay: it is news, not thread history.
    sim.connect_client("c3");
    sim.take("c3");
    subscribe(&mut sim, "c3", "t1", Some(0));
    assert!(sim.take("c3").iter().all(|f| f["type"] != "orbit.answered"));
}

// ---------------------------------------------------------------------------------------------
// Issue 12 item 2: approvals of an exited codex, late answers, and the bound on open requests.
// ---------------------------------------------------------------------------------------------

/// The anchor's notice that codex exited, naming the abandoned requests by codex's raw ids.
fn codex_exited(raw_ids: Value) -> Value {
    json!({"method": "anchor/codexExited", "params": {"exitCode": null, "failedRequests": 0,
        "abandonedServerRequests": raw_ids, "restartInMs": 500}})
}

/// The `serverRequest/resolved` notices in `frames`, as (requestId, reason).
fn withdrawals(frames: &[Value]) -> Vec<(Value, Value)> {
    frames
        .iter()
        .filter(|f| f["method"] == "serverRequest/resolved")
        .map(|f| {
            (
                f["params"]["requestId"].clone(),
                f["params"]["reason"].clone(),
            )
        })
        .collect()
}

#[test]
fn abandoned_server_requests_of_an_exited_codex_are_settled_for_every_client() {
    let mut sim = one_anchor();
    subscribe(&mut sim, "c1", "t1", None);
    sim.send_json("a1", approval(json!(0), Some("t1")));
    sim.send_json("a1", approval(json!(1), None));
    let seen = sim.take("c1");
    let thread_key = seen[0]["id"].clone();
    let thread_less_key = seen[1]["id"].clone();
    assert_eq!(key_of(&sim.take("c2")), thread_less_key);

    sim.send_json("a1", codex_exited(json!([0, 1])));
    // The subscriber of t1 is told about both, with the ids it was given; the other client
    // about the thread-less one (the only one it was shown).
    let c1 = sim.take("c1");
    let c1_withdrawn = withdrawals(&c1);
    assert_eq!(
        c1_withdrawn,
        vec![
            (thread_key.clone(), json!("codex_exited")),
            (thread_less_key.clone(), json!("codex_exited"))
        ],
        "{c1:?}"
    );
    assert!(c1.iter().any(|f| f["method"] == "anchor/codexExited"));
    assert_eq!(
        withdrawals(&sim.take("c2")),
        vec![(thread_less_key.clone(), json!("codex_exited"))]
    );

    // Settled: no longer replayed on connect or subscribe.
    sim.connect_client("c3");
    assert!(withdrawals(&sim.take("c3")).is_empty());
    let got = subscribe(&mut sim, "c2", "t1", None);
    assert!(
        got.iter().all(|f| f["id"] != thread_key),
        "an abandoned request is replayed: {got:?}"
    );
    // The withdrawal is in the thread's log, so a client catching up learns of it too.
    let replayed = subscribe(&mut sim, "c3", "t1", Some(1));
    assert_eq!(
        withdrawals(&replayed),
        vec![(thread_key, json!("codex_exited"))]
    );
    assert!(sim.misaddressed.is_empty() && sim.written_after_sent.is_empty());
}

#[test]
fn abandoned_server_requests_of_one_anchor_leave_another_anchors_open() {
    let mut sim = two_anchors();
    sim.send_json("a1", approval(json!(0), None));
    sim.send_json("a2", approval(json!(0), None));
    let seen = sim.take("c1");
    sim.send_json("a1", codex_exited(json!([0])));
    assert_eq!(
        withdrawals(&sim.take("c1")),
        vec![(seen[0]["id"].clone(), json!("codex_exited"))]
    );
    sim.send_json("c1", json!({"id": seen[1]["id"], "result": {}}));
    assert_eq!(sim.take("a2"), vec![json!({"id": 0, "result": {}})]);
}

#[test]
fn late_answer_to_an_abandoned_request_gets_an_error() {
    let mut sim = one_anchor();
    sim.send_json("a1", approval(json!(7), None));
    let key = key_of(&sim.take("c1"));
    sim.send_json("a1", codex_exited(json!([7])));
    sim.clear_inboxes();
    sim.send_json("c1", json!({"id": key, "result": {"decision": "accept"}}));
    assert_rpc_error(&sim.take("c1"), key, "already_resolved");
    assert!(
        sim.take("a1").is_empty(),
        "a dead codex's request is not answered"
    );

    // The race: the answer is forwarded, but codex exits before the anchor can deliver it.
    // The anchor refuses it with the request's own id, and Orbit relays that to the answerer.
    sim.send_json("a1", approval(json!(8), None));
    let key = key_of(&sim.take("c2"));
    sim.send_json("c2", json!({"id": key, "result": {"decision": "accept"}}));
    assert_eq!(sim.take("a1").len(), 1);
    sim.send_json("a1", codex_exited(json!([8])));
    sim.clear_inboxes();
    let refusal = orbit_protocol::rpc::error_response(
        "8",
        orbit_protocol::ErrorCode::CodexExited,
        "this request belonged to a codex that has exited",
    );
    sim.send("a1", &refusal);
    assert_rpc_error(&sim.take("c2"), key, "codex_exited");
    assert!(sim.take("c1").is_empty(), "only the answerer hears it");
    assert!(
        sim.take("a1").is_empty(),
        "no unknown_response_id for the anchor"
    );
}

#[test]
fn pending_server_requests_are_bounded_and_expire() {
    let config = RouterConfig {
        open_requests_max: 2,
        open_request_max_age_ms: 10_000,
        ..RouterConfig::default()
    };
    let mut sim = Sim::with_config(config);
    sim.connect_anchor("a1", "anchor-1");
    sim.connect_client("c1");
    sim.clear_inboxes();

    // The cap: a third open request withdraws the oldest.
    for id in 0..3 {
        sim.send_json("a1", approval(json!(id), None));
    }
    let got = sim.take("c1");
    let keys: Vec<Value> = got
        .iter()
        .filter(|f| f["method"] == "item/commandExecution/requestApproval")
        .map(|f| f["id"].clone())
        .collect();
    assert_eq!(keys.len(), 3);
    assert_eq!(withdrawals(&got), vec![(keys[0].clone(), json!("expired"))]);
    sim.send_json("c1", json!({"id": keys[0], "result": {}}));
    assert_rpc_error(&sim.take("c1"), keys[0].clone(), "already_resolved");

    // The age limit: past it, the next event withdraws every open request that old.
    sim.now += 10_001;
    sim.send_json("c1", json!({"type": "ping"}));
    let got = sim.take_without("c1", &["pong"]);
    assert_eq!(
        withdrawals(&got),
        vec![
            (keys[1].clone(), json!("expired")),
            (keys[2].clone(), json!("expired"))
        ],
        "{got:?}"
    );
    sim.connect_client("c2");
    assert_eq!(
        sim.take("c2").len(),
        2,
        "only hello and anchors: nothing open is left"
    );
    assert!(sim.misaddressed.is_empty() && sim.written_after_sent.is_empty());
}

/// A thread frame whose text is about `bytes` long.
fn large(thread: &str, n: u64, bytes: usize) -> Value {
    json!({"method": "item/agentMessage/delta",
           "params": {"threadId": thread, "n": n, "delta": "x".repeat(bytes)}})
}

#[test]
fn replay_beyond_the_byte_budget_is_truncated_not_loaded_whole() {
    let mut sim = Sim::with_config(RouterConfig {
        replay_budget_bytes: 10_000,
        ..RouterConfig::default()
    });
    sim.connect_anchor("a1", "anchor-1");
    sim.connect_client("c1");
    sim.clear_inboxes();
    for n in 1..=6 {
        sim.send_json("a1", large("t1", n, 3_000));
    }
    // Six frames of ~3 KB after 0: beyond the 10 KB budget, so nothing is replayed.
    let got = subscribe(&mut sim, "c1", "t1", Some(0));
    assert_eq!(
        got,
        vec![json!({"type": "orbit.subscribed", "threadId": "t1", "seq": 6, "truncated": true})]
    );
    // Three frames after 3 fit: they are replayed whole, in order.
    let got = subscribe(&mut sim, "c1", "t1", Some(3));
    assert_eq!(seqs(&got), vec![4, 5, 6, 6]);
    assert!(got[3].get("truncated").is_none());
}

#[test]
fn log_is_trimmed_by_bytes_as_well_as_count() {
    let mut sim = Sim::with_config(RouterConfig {
        log_bytes_per_thread: 10_000,
        trim_every_bytes: 3_000,
        ..RouterConfig::default()
    });
    sim.connect_anchor("a1", "anchor-1");
    for n in 1..=20 {
        sim.send_json("a1", large("t1", n, 2_000));
    }
    // Far fewer than the 20,000 frames of the count cap, yet only ~10 KB is kept.
    let log = &sim.store.log["t1"];
    let bytes: usize = log.values().map(String::len).sum();
    assert!(bytes <= 10_000, "{bytes} bytes kept");
    assert!(log.len() >= 3, "the newest rows stay: {:?}", log.keys());
    assert_eq!(log.keys().next_back(), Some(&20));
    // Trimming never restarts the numbering.
    sim.hibernate();
    sim.connect_client("c1");
    subscribe(&mut sim, "c1", "t1", None);
    sim.send_json("a1", notify("t1", 21));
    assert_eq!(seqs(&sim.take("c1")), vec![21]);
}

#[test]
fn idle_threads_are_forgotten_but_their_seq_is_not_reused() {
    let mut sim = Sim::with_config(RouterConfig {
        idle_thread_ms: 1_000_000,
        ..RouterConfig::default()
    });
    sim.connect_anchor("a1", "anchor-1");
    sim.connect_client("c1");
    subscribe(&mut sim, "c1", "t1", None);
    subscribe(&mut sim, "c1", "t2", None);
    for n in 1..=3 {
        sim.send_json("a1", notify("t1", n));
    }
    sim.send_json("a1", notify("t2", 1));
    sim.connect_client("c2");
    subscribe(&mut sim, "c2", "t1", None);
    sim.close("c2");
    // t1 goes quiet; t2 is written again shortly before the wake.
    sim.now += 2_000_000;
    sim.send_json("a1", notify("t2", 2));
    sim.hibernate();
    sim.clear_inboxes();
    assert!(
        !sim.store.log.contains_key("t1"),
        "the idle log is forgotten"
    );
    assert!(
        !sim.store.subscriptions.iter().any(|(c, _)| c == "c2"),
        "and the subscriptions of closed sockets"
    );
    assert_eq!(sim.store.log["t2"].len(), 2, "a live thread keeps its log");
    sim.connect_client("c3");
    sim.clear_inboxes();
    let got = subscribe(&mut sim, "c3", "t1", Some(1));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["truncated"], true, "{got:?}");
    assert_eq!(got[0]["seq"], 3);
    sim.send_json("a1", notify("t1", 4));
    assert_eq!(seqs(&sim.take("c3")), vec![4], "seq is not reused");
    // A socket still open stays subscribed to the forgotten thread.
    assert_eq!(seqs(&sim.take("c1")), vec![4]);
}

/// `anchor.hello` with an `instance`, as an anchor process sends on each of its connections.
fn hello_of_instance(instance: &str) -> Value {
    json!({"type": "anchor.hello", "anchorId": "anchor-1", "instance": instance})
}

#[test]
fn a_restarted_anchor_process_withdraws_its_old_codexs_approvals_so_a_stale_answer_never_reaches_the_new_codex(
) {
    let mut sim = one_anchor();
    subscribe(&mut sim, "c1", "t1", None);
    sim.send_json("a1", hello_of_instance("run-1"));
    sim.send_json("a1", approval(json!(0), Some("t1")));
    let old_key = key_of(&sim.take("c1"));
    sim.clear_inboxes();

    // The same process reconnecting (Orbit restarted, a network blip) keeps it open.
    sim.close("a1");
    sim.connect_anchor("a1", "anchor-1");
    sim.send_json("a1", hello_of_instance("run-1"));
    assert!(withdrawals(&sim.take("c1")).is_empty());

    // A new process, after the hub slept (the last instance is stored): its codex numbers its
    // requests from 0 again.
    sim.close("a1");
    sim.hibernate();
    sim.connect_anchor("a1", "anchor-1");
    sim.send_json("a1", hello_of_instance("run-2"));
    assert_eq!(
        withdrawals(&sim.take("c1")),
        vec![(old_key.clone(), json!("anchor_restarted"))]
    );
    sim.send_json("a1", approval(json!(0), Some("t1")));
    sim.take("c1");
    sim.clear_inboxes();
    sim.send_json(
        "c1",
        json!({"id": old_key, "result": {"decision": "accept"}}),
    );
    assert!(
        sim.take("a1").is_empty(),
        "the stale answer reached the new codex, whose request 0 it would approve"
    );
    let refused = sim.take("c1");
    assert_eq!(
        refused[0]["error"]["data"]["code"], "already_resolved",
        "{refused:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Issue 13 item 1: a rogue sibling anchor of the same user is not trusted like the real one.
// A thread is bound by a client's request or by the answer to a request that starts, resumes
// or forks it, never by what an anchor sends on its own; frames for another anchor's thread are
// dropped; answers are accepted only from the anchor the request went to; and every frame an
// anchor sends clients names that anchor.
// ---------------------------------------------------------------------------------------------

fn turn_started(thread: &str) -> Value {
    json!({"method": "turn/started", "params": {"threadId": thread, "turn": {"id": "evil"}}})
}

/// Asserts the last event raised exactly one alert, of `anchor_id`, and clears the list.
fn assert_one_alert(sim: &mut Sim, anchor_id: &str) -> super::AlertKind {
    assert_eq!(sim.alerts.len(), 1, "{:?}", sim.alerts);
    let alert = sim.alerts.remove(0);
    assert_eq!(alert.anchor_id, anchor_id);
    alert.kind
}

#[test]
fn a_rogue_sibling_anchor_cannot_take_over_another_anchors_thread_with_turn_started() {
    let mut sim = two_anchors();
    started_on(&mut sim, "a1", "anchor-1", "t1");
    subscribe(&mut sim, "c1", "t1", None);
    sim.send_json("a2", turn_started("t1"));
    assert!(sim.take("c1").is_empty(), "never shown as t1's");
    assert!(!sim.history.contains_key("t1"), "never logged for replay");
    assert_orbit_error(&sim.take("a2"), "thread_anchor_mismatch");
    assert_eq!(
        assert_one_alert(&mut sim, "anchor-2"),
        super::AlertKind::ForeignThread {
            method: "turn/started".into(),
            thread_id: "t1".into(),
            bound: "anchor-1".into(),
        }
    );
    // The next prompt still goes to the anchor the thread lives on.
    sim.send_json(
        "c2",
        json!({"id": 1, "method": "turn/start", "params": {"threadId": "t1", "input": []}}),
    );
    assert_eq!(sim.take("a1").len(), 1);
    assert!(sim.take("a2").is_empty());
    // And the real anchor's own traffic flows as before.
    sim.send_json("a1", notify("t1", 1));
    assert_eq!(seqs(&sim.take("c1")), vec![1]);
    assert!(sim.alerts.is_empty());
}

#[test]
fn a_rogue_sibling_anchors_server_request_on_another_anchors_thread_is_dropped_and_never_pending() {
    let mut sim = two_anchors();
    started_on(&mut sim, "a1", "anchor-1", "t1");
    subscribe(&mut sim, "c1", "t1", None);
    sim.send_json(
        "a2",
        json!({"id": 0, "method": "item/tool/requestUserInput",
               "params": {"threadId": "t1", "questions": [{"question": "password?"}]}}),
    );
    assert!(sim.take("c1").is_empty());
    assert!(sim.store.pending.is_empty(), "nothing to answer later");
    assert_orbit_error(&sim.take("a2"), "thread_anchor_mismatch");
    assert_one_alert(&mut sim, "anchor-2");
    // A client subscribing afresh is not shown it either.
    sim.connect_client("c3");
    sim.clear_inboxes();
    let got = subscribe(&mut sim, "c3", "t1", None);
    assert_eq!(got.len(), 1, "only orbit.subscribed: {got:?}");
}

#[test]
fn a_rogue_sibling_anchor_cannot_answer_a_request_routed_to_another_anchor() {
    let mut sim = two_anchors();
    sim.send_json(
        "c1",
        json!({"id": 5, "method": "thread/start", "params": {"anchorId": "anchor-1"}}),
    );
    let forwarded = sim.take("a1");
    let address = forwarded[0]["id"].clone();
    // anchor-2 learnt c1's connection id from a request of its own, and forges the answer.
    sim.send_json(
        "a2",
        json!({"id": address, "result": {"thread": {"id": "t1"}}}),
    );
    assert!(sim.take("c1").is_empty(), "the forged answer never arrives");
    assert_orbit_error(&sim.take("a2"), "unknown_response_id");
    assert!(matches!(
        assert_one_alert(&mut sim, "anchor-2"),
        super::AlertKind::ForeignResponse { .. }
    ));
    // Nor does it bind the thread it named.
    sim.send_json(
        "c2",
        json!({"id": 1, "method": "turn/start", "params": {"threadId": "t1"}}),
    );
    assert_rpc_error(&sim.take("c2"), json!(1), "anchor_required");
    // The real answer still goes home, and binds.
    sim.send_json(
        "a1",
        json!({"id": address, "result": {"thread": {"id": "t1"}}}),
    );
    assert_eq!(
        sim.take("c1"),
        vec![json!({"id": 5, "result": {"thread": {"id": "t1"}}})]
    );
    sim.send_json(
        "c2",
        json!({"id": 2, "method": "turn/start", "params": {"threadId": "t1"}}),
    );
    assert_eq!(sim.take("a1").len(), 1);
    assert!(sim.alerts.is_empty());
}

#[test]
fn an_answer_naming_a_thread_binds_it_only_for_a_request_that_starts_or_resumes_one() {
    let mut sim = two_anchors();
    started_on(&mut sim, "a1", "anchor-1", "t1");
    // The user asks anchor-2 something unrelated; it answers naming t1 (and a new t9).
    for (id, thread) in [(1, "t1"), (2, "t9")] {
        sim.send_json(
            "c1",
            json!({"id": id, "method": "model/list", "params": {"anchorId": "anchor-2"}}),
        );
        let forwarded = sim.take("a2");
        sim.send_json(
            "a2",
            json!({"id": forwarded[0]["id"], "result": {"thread": {"id": thread}}}),
        );
        assert_eq!(sim.take("c1").len(), 1, "the answer itself goes home");
    }
    sim.send_json(
        "c1",
        json!({"id": 3, "method": "turn/start", "params": {"threadId": "t1"}}),
    );
    assert_eq!(sim.take("a1").len(), 1, "t1 still lives on anchor-1");
    sim.send_json(
        "c1",
        json!({"id": 4, "method": "turn/start", "params": {"threadId": "t9"}}),
    );
    assert_rpc_error(&sim.take("c1"), json!(4), "anchor_required");
    assert!(!sim.store.bindings.contains_key("t9"));
}

#[test]
fn a_thread_moves_to_another_anchor_by_the_answer_to_a_resume_sent_there() {
    let mut sim = two_anchors();
    started_on(&mut sim, "a1", "anchor-1", "t1");
    // The user resumes the thread on the other machine (by its rollout's path: no threadId).
    sim.send_json(
        "c1",
        json!({"id": 7, "method": "thread/resume",
               "params": {"anchorId": "anchor-2", "path": "/r/t1.jsonl"}}),
    );
    let forwarded = sim.take("a2");
    assert_eq!(forwarded.len(), 1);
    sim.send_json(
        "a2",
        json!({"id": forwarded[0]["id"], "result": {"thread": {"id": "t1"}}}),
    );
    assert_eq!(sim.take("c1").len(), 1);
    assert_eq!(sim.store.bindings["t1"], "anchor-2");
    sim.send_json(
        "c2",
        json!({"id": 1, "method": "turn/start", "params": {"threadId": "t1"}}),
    );
    assert_eq!(sim.take("a2").len(), 1);
    // The old anchor's late traffic for it is now the foreign one.
    subscribe(&mut sim, "c1", "t1", None);
    sim.send_json("a1", notify("t1", 1));
    assert!(sim.take("c1").is_empty());
    assert_orbit_error(&sim.take("a1"), "thread_anchor_mismatch");
    assert_one_alert(&mut sim, "anchor-1");
}

#[test]
fn an_unbound_threads_frames_are_delivered_stamped_but_bind_it_to_nobody() {
    let mut sim = two_anchors();
    subscribe(&mut sim, "c1", "t5", None);
    sim.send_json("a2", notify("t5", 1));
    assert_eq!(
        sim.take("c1"),
        vec![
            json!({"seq": 1, "origin": origin("anchor-2"), "method": "item/agentMessage/delta",
                   "params": {"threadId": "t5", "n": 1}})
        ]
    );
    sim.send_json(
        "c1",
        json!({"id": 1, "method": "turn/start", "params": {"threadId": "t5"}}),
    );
    assert_rpc_error(&sim.take("c1"), json!(1), "anchor_required");
    assert!(sim.alerts.is_empty());
}

#[test]
fn bindings_survive_hibernation_and_a_reconnect_so_a_rogue_is_still_refused() {
    let mut sim = two_anchors();
    started_on(&mut sim, "a1", "anchor-1", "t1");
    subscribe(&mut sim, "c1", "t1", None);
    sim.send_json("a1", notify("t1", 1));
    sim.hibernate();
    sim.connect_anchor("a1b", "anchor-1");
    sim.hibernate();
    sim.clear_inboxes();
    sim.send_json("a2", turn_started("t1"));
    assert!(sim.take("c1").is_empty());
    assert_one_alert(&mut sim, "anchor-2");
    sim.send_json("a1b", notify("t1", 2));
    assert_eq!(seqs(&sim.take("c1")), vec![2]);
}

#[test]
fn a_thread_numbered_but_never_bound_keeps_its_numbering_across_hibernation() {
    let mut sim = one_anchor();
    subscribe(&mut sim, "c1", "t5", None);
    sim.send_json("a1", notify("t5", 1));
    sim.send_json("a1", notify("t5", 2));
    sim.hibernate();
    sim.send_json("a1", notify("t5", 3));
    assert_eq!(seqs(&sim.take("c1")), vec![1, 2, 3]);
    assert!(sim.duplicate_seqs.is_empty());
}

#[test]
fn server_requests_reach_clients_stamped_with_the_asking_anchor() {
    let mut sim = two_anchors();
    sim.set_paired(&[("anchor-1", "Laptop"), ("anchor-2", "Build box")]);
    sim.clear_inboxes();
    started_on(&mut sim, "a1", "anchor-1", "t1");
    subscribe(&mut sim, "c1", "t1", None);
    // A thread-less question from each anchor, one with an origin of its own making.
    sim.send_json("a1", approval(json!(0), None));
    let mut forged = approval(json!(0), None);
    forged["origin"] = json!({"anchorId": "anchor-1", "name": "Laptop"});
    sim.send_json("a2", forged);
    sim.send_json("a1", approval(json!(1), Some("t1")));
    sim.send_json(
        "a2",
        json!({"method": "account/updated", "params": {"origin": "kept: not Orbit's field"}}),
    );
    let got = sim.take("c1");
    let origins: Vec<&Value> = got.iter().map(|f| &f["origin"]).collect();
    assert_eq!(
        origins,
        vec![
            &json!({"anchorId": "anchor-1", "name": "Laptop"}),
            &json!({"anchorId": "anchor-2", "name": "Build box"}),
            &json!({"anchorId": "anchor-1", "name": "Laptop"}),
            &json!({"anchorId": "anchor-2", "name": "Build box"}),
        ],
        "{got:?}"
    );
    assert_eq!(got[3]["params"]["origin"], "kept: not Orbit's field");
    for frame in &got {
        let text = frame.to_string();
        assert_eq!(text.matches("\"origin\":{").count(), 1, "{text}");
    }
    // The stamp is part of what is stored, so a late subscriber sees it too.
    sim.connect_client("c3");
    let late: Vec<Value> = sim
        .take("c3")
        .into_iter()
        .filter(|f| f["type"].is_null())
        .collect();
    assert_eq!(late.len(), 2, "the two open thread-less requests: {late:?}");
    assert_eq!(late[1]["origin"]["name"], "Build box");
}

#[test]
fn the_stamp_names_an_anchor_as_the_anchor_list_does_and_follows_a_rename() {
    let mut sim = one_anchor();
    let name = |sim: &mut Sim| {
        sim.send_json("a1", json!({"method": "account/updated", "params": {}}));
        let got = sim.take("c1");
        sim.take("c2");
        got[0]["origin"]["name"].clone()
    };
    assert_eq!(name(&mut sim), "anchor-1", "no name yet: its id");
    sim.send_json(
        "a1",
        json!({"type": "anchor.hello", "name": "says-laptop", "hostname": "h"}),
    );
    sim.clear_inboxes();
    assert_eq!(name(&mut sim), "says-laptop", "the name it announced");
    sim.set_paired(&[("anchor-1", "Build box")]);
    sim.clear_inboxes();
    assert_eq!(name(&mut sim), "Build box", "the user's name wins");
    sim.set_paired(&[("anchor-1", "Renamed")]);
    sim.clear_inboxes();
    assert_eq!(name(&mut sim), "Renamed");
    sim.hibernate();
    sim.clear_inboxes();
    assert_eq!(name(&mut sim), "Renamed");
}

#[test]
fn an_answer_goes_only_to_the_anchor_that_asked_and_a_sibling_cannot_settle_it() {
    let mut sim = two_anchors();
    sim.send_json("a1", approval(json!(4), None));
    let key = key_of(&sim.take("c1"));
    sim.take("c2");
    // anchor-2 claims codex settled anchor-1's request (same raw id), then answers for it.
    sim.send_json(
        "a2",
        json!({"method": "serverRequest/resolved", "params": {"requestId": 4}}),
    );
    let seen = sim.take("c1");
    assert_eq!(seen[0]["params"]["requestId"], 4, "not rewritten to {key}");
    sim.send_json("a2", json!({"id": 4, "error": {"code": 1, "message": "x"}}));
    assert_orbit_error(&sim.take("a2"), "unknown_response_id");
    // Two clients race to answer: the first goes to anchor-1 only, the second is refused.
    sim.send_json("c2", json!({"id": key, "result": {"decision": "accept"}}));
    sim.send_json("c1", json!({"id": key, "result": {"decision": "decline"}}));
    assert_eq!(
        sim.take("a1"),
        vec![json!({"id": 4, "result": {"decision": "accept"}})]
    );
    assert!(sim.take("a2").is_empty());
    let c1: Vec<Value> = sim
        .take("c1")
        .into_iter()
        .filter(|f| f["type"].is_null())
        .collect();
    assert_rpc_error(&c1, key, "already_resolved");
}

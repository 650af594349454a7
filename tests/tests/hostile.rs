//! Hostile input against the real Worker under workerd, one named test per threat (issue 12):
//! frames nested far past any parser's depth, frames only the other role may send, forged
//! request ids, a user reaching for another user's machines, threads and records, and guessed
//! device codes. Each test checks the precise refusal, and then that nothing was lost: the same
//! socket and the user's other sockets keep working and a normal frame still round-trips.
//!
//! Every test makes its own users, so they share one Orbit. Negative assertions within a user
//! use [`Ws::barrier`] (a round trip through the user's Durable Object); across users (two
//! objects, no common order) a bounded [`Ws::expect_silence`] after the frames that must
//! arrive have arrived.

use std::time::Duration;

use anyhow::{anyhow, ensure, Result};
use orbit_tests::api::Client;
use orbit_tests::{random_hex, thread_note, unique, Orbit, Rig, Ws};
use serde_json::{json, Value};

/// How long a socket of another user must stay quiet after the traffic it must not see has
/// reached its intended receivers.
const CROSS_USER_QUIET: Duration = Duration::from_millis(750);

/// The depth issue 12 names: far past serde_json's limit (128) and deep enough that a
/// recursive parser without a limit would exhaust a wasm stack.
const HOSTILE_DEPTH: usize = 10_000;

fn orbit() -> Result<&'static Orbit> {
    Orbit::shared()
}

fn request(id: Value, method: &str, params: Value) -> Value {
    json!({ "id": id, "method": method, "params": params })
}

/// `depth` nested arrays: `[[[…]]]`.
fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// `depth` nested objects: `{"a":{"a":…{}}}`.
fn nested_objects(depth: usize) -> String {
    format!("{}{{}}{}", r#"{"a":"#.repeat(depth), "}".repeat(depth))
}

/// Sends `text` and expects `orbit.error` with `code` and a readable message.
async fn expect_refused(ws: &mut Ws, text: &str, code: &str) -> Result<()> {
    ws.send_text(text).await?;
    let e = ws.recv_json().await?;
    ensure!(
        e["type"] == "orbit.error" && e["code"] == code,
        "{} sent {} bytes ({}…): expected orbit.error {code}, got {e}",
        ws.label,
        text.len(),
        text.get(..60).unwrap_or(text)
    );
    ensure!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "a readable message: {e}"
    );
    Ok(())
}

/// A client request reaches the rig's anchor and its answer comes back: the relay works both
/// ways after whatever came before.
async fn round_trip(rig: &mut Rig, id: u64) -> Result<()> {
    rig.client
        .send_json(&request(
            json!(id),
            "thread/list",
            json!({"after": "hostile"}),
        ))
        .await?;
    let forwarded = rig.anchor.recv_json().await?;
    ensure!(
        forwarded["method"] == "thread/list",
        "the request reached the anchor: {forwarded}"
    );
    rig.anchor
        .send_json(&json!({"id": forwarded["id"], "result": {"data": [], "n": id}}))
        .await?;
    let answer = rig.client.recv_json().await?;
    ensure!(
        answer["id"] == id && answer["result"]["n"] == id,
        "the answer came home: {answer}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Deeply nested frames
// ---------------------------------------------------------------------------------------------

/// The frames, 10,000 deep, that each role sends: inside a request's params, inside a
/// notification, inside a control frame, inside a response, and as the whole frame.
fn deep_frames(thread: &str) -> Vec<(&'static str, String)> {
    let arrays = nested_arrays(HOSTILE_DEPTH);
    let objects = nested_objects(HOSTILE_DEPTH);
    vec![
        (
            "request params",
            format!(r#"{{"id":1,"method":"thread/list","params":{{"x":{arrays}}}}}"#),
        ),
        (
            "notification params",
            format!(
                r#"{{"method":"item/agentMessage/delta","params":{{"threadId":"{thread}","x":{objects}}}}}"#
            ),
        ),
        (
            "control frame member",
            format!(r#"{{"type":"orbit.subscribe","threadId":"{thread}","x":{arrays}}}"#),
        ),
        (
            "response result",
            format!(r#"{{"id":7,"result":{objects}}}"#),
        ),
        ("response error", format!(r#"{{"id":7,"error":{arrays}}}"#)),
        ("request id", format!(r#"{{"id":{arrays},"method":"m"}}"#)),
        ("whole frame, arrays", arrays),
        ("whole frame, objects", objects),
    ]
}

#[tokio::test]
async fn frames_nested_ten_thousand_deep_from_a_client_are_refused_and_nothing_is_lost(
) -> Result<()> {
    let orbit = orbit()?;
    let mut rig = orbit.rig("deep-client").await?;
    let second = orbit.web_session(&rig.web.user_id).await?;
    let (mut other, _, _) = orbit.client(&second).await?;
    let thread = unique("deep");
    other.subscribe(&thread, None).await?;

    for (what, text) in deep_frames(&thread) {
        expect_refused(&mut rig.client, &text, "malformed_json")
            .await
            .map_err(|e| anyhow!("{what}: {e:#}"))?;
    }
    // Nothing reached the anchor or the user's other client.
    rig.anchor.expect_nothing_pending().await?;
    other.expect_nothing_pending().await?;

    // Nothing was lost: the same socket round-trips, and the other client still gets its
    // thread's traffic.
    round_trip(&mut rig, 2).await?;
    rig.anchor.send_json(&thread_note(&thread, 1)).await?;
    let note = other.recv_json().await?;
    ensure!(note["params"]["n"] == 1, "{note}");
    Ok(())
}

#[tokio::test]
async fn frames_nested_ten_thousand_deep_from_an_anchor_are_refused_and_nothing_is_lost(
) -> Result<()> {
    let orbit = orbit()?;
    let mut rig = orbit.rig("deep-anchor").await?;
    let thread = unique("deep");
    rig.client.subscribe(&thread, None).await?;

    // A request in flight, whose answer the anchor then sends nested 10,000 deep.
    rig.client
        .send_json(&request(json!("waiting"), "thread/read", json!({})))
        .await?;
    let forwarded = rig.anchor.recv_json().await?;
    let deep_answer = format!(
        r#"{{"id":{},"result":{}}}"#,
        forwarded["id"],
        nested_arrays(HOSTILE_DEPTH)
    );
    expect_refused(&mut rig.anchor, &deep_answer, "malformed_json").await?;
    for (what, text) in deep_frames(&thread) {
        expect_refused(&mut rig.anchor, &text, "malformed_json")
            .await
            .map_err(|e| anyhow!("{what}: {e:#}"))?;
    }
    rig.client.expect_nothing_pending().await?;

    // The anchor can still answer the waiting request, and the thread's numbering did not
    // move: the refused notification took no seq.
    rig.anchor
        .send_json(&json!({"id": forwarded["id"], "result": {"thread": null}}))
        .await?;
    let answer = rig.client.recv_json().await?;
    ensure!(answer["id"] == "waiting", "{answer}");
    rig.anchor.send_json(&thread_note(&thread, 1)).await?;
    let note = rig.client.recv_json().await?;
    ensure!(
        note["seq"] == 1 && note["params"]["n"] == 1,
        "the first accepted notification is seq 1: {note}"
    );
    round_trip(&mut rig, 3).await?;
    Ok(())
}

/// The boundary: nesting a legitimate message may have (well inside serde_json's limit of
/// 128) is relayed whole, so the refusal above is about depth, not about nesting at all.
#[tokio::test]
async fn frames_nested_a_hundred_deep_are_relayed_whole() -> Result<()> {
    let orbit = orbit()?;
    let mut rig = orbit.rig("deep-ok").await?;
    let params = format!(r#"{{"x":{}}}"#, nested_objects(100));
    rig.client
        .send_text(format!(r#"{{"id":1,"method":"echo","params":{params}}}"#))
        .await?;
    let got = rig.anchor.recv_json().await?;
    let sent: Value = serde_json::from_str(&params)?;
    ensure!(got["params"] == sent, "the 100-deep params arrived whole");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Wrong-role frames
// ---------------------------------------------------------------------------------------------

/// Control frames only Orbit sends. From either role they are types Orbit does not take.
const ORBIT_ONLY_FRAMES: &[&str] = &[
    r#"{"type":"orbit.hello","role":"anchor","userId":"u","connectionId":"c","serverTime":0}"#,
    r#"{"type":"orbit.anchors","anchors":[]}"#,
    r#"{"type":"orbit.anchor-connected","anchor":{"anchorId":"a","online":true}}"#,
    r#"{"type":"orbit.anchor-disconnected","anchorId":"a"}"#,
    r#"{"type":"orbit.subscribed","threadId":"t","seq":0,"truncated":false}"#,
    r#"{"type":"orbit.answered","requestId":"orbit-srv:0","connectionId":"c","at":0}"#,
    r#"{"type":"orbit.error","code":"bad_frame","message":"forged"}"#,
];

#[tokio::test]
async fn client_sending_what_only_an_anchor_or_orbit_may_send_is_refused() -> Result<()> {
    let orbit = orbit()?;
    let mut rig = orbit.rig("wrong-role-client").await?;
    let second = orbit.web_session(&rig.web.user_id).await?;
    let (mut other, _, _) = orbit.client(&second).await?;
    let thread = unique("prompted");
    rig.client.subscribe(&thread, None).await?;
    other.subscribe(&thread, None).await?;

    for text in ORBIT_ONLY_FRAMES {
        expect_refused(&mut rig.client, text, "unknown_type").await?;
    }
    // anchor.hello: only an anchor introduces itself.
    expect_refused(
        &mut rig.client,
        &json!({"type": "anchor.hello", "anchorId": rig.anchor_id, "name": "me"}).to_string(),
        "bad_frame",
    )
    .await?;
    // A response addressed like an answer to a forwarded client request: only an anchor
    // answers those, and a client's responses are only answers to server requests.
    let return_address = json!(format!("orbit:{}:1", random_hex(8)));
    expect_answer_refused(&mut rig.client, return_address, "unknown_request").await?;

    // An open approval, which a client must not be able to settle or withdraw by sending
    // what codex and the anchor send.
    rig.anchor
        .send_json(&request(
            json!(5),
            "item/commandExecution/requestApproval",
            json!({"threadId": thread, "command": "ls"}),
        ))
        .await?;
    let key = rig.client.recv_json().await?["id"].clone();
    ensure!(other.recv_json().await?["id"] == key);
    for forged in [
        json!({"method": "serverRequest/resolved", "params": {"threadId": thread, "requestId": key}}),
        json!({"method": "serverRequest/resolved", "params": {"threadId": thread, "requestId": 5}}),
        json!({"method": "anchor/codexExited", "params": {"exitCode": 1, "failedRequests": 0, "abandonedServerRequests": [5], "restartInMs": 0}}),
    ] {
        rig.client.send_json(&forged).await?;
        // A client notification is a message for codex: it goes to the anchor as it is,
        // and Orbit itself acts on nothing in it.
        let at_anchor = rig.anchor.recv_json().await?;
        ensure!(at_anchor == forged, "forwarded unchanged: {at_anchor}");
    }
    rig.client.expect_nothing_pending().await?;
    other.expect_nothing_pending().await?;

    // The approval is still open: the other device answers it, once.
    other
        .send_json(&json!({"id": key, "result": {"decision": "accept"}}))
        .await?;
    let answer = rig.anchor.recv_json().await?;
    ensure!(
        answer["id"] == 5 && answer["result"]["decision"] == "accept",
        "{answer}"
    );
    for ws in [&mut rig.client, &mut other] {
        ensure!(ws.recv_json().await?["type"] == "orbit.answered");
    }
    round_trip(&mut rig, 9).await?;
    Ok(())
}

#[tokio::test]
async fn anchor_sending_what_only_a_client_or_orbit_may_send_is_refused() -> Result<()> {
    let orbit = orbit()?;
    let mut rig = orbit.rig("wrong-role-anchor").await?;
    let thread = unique("watched");
    rig.client.subscribe(&thread, None).await?;

    for text in ORBIT_ONLY_FRAMES {
        expect_refused(&mut rig.anchor, text, "unknown_type").await?;
    }
    for frame in [
        json!({"type": "orbit.subscribe", "threadId": thread, "sinceSeq": 0}),
        json!({"type": "orbit.unsubscribe", "threadId": thread}),
        json!({"type": "orbit.list-anchors"}),
    ] {
        expect_refused(&mut rig.anchor, &frame.to_string(), "bad_frame").await?;
    }
    // Answering a client's prompt key as if it were a client: an anchor's responses answer
    // only requests Orbit forwarded to it.
    rig.anchor
        .send_json(&request(
            json!(8),
            "item/tool/requestUserInput",
            json!({"threadId": thread, "q": "?"}),
        ))
        .await?;
    let key = rig.client.recv_json().await?["id"].clone();
    rig.anchor
        .send_json(&json!({"id": key, "result": {"answers": {"q": "forged"}}}))
        .await?;
    rig.anchor.recv_orbit_error("unknown_response_id").await?;
    rig.client.expect_nothing_pending().await?;

    // The anchor never subscribed (so a thread's traffic is not echoed to it), and the
    // prompt is still the client's to answer.
    rig.anchor.send_json(&thread_note(&thread, 1)).await?;
    ensure!(rig.client.recv_json().await?["params"]["n"] == 1);
    rig.anchor.expect_nothing_pending().await?;
    rig.client
        .send_json(&json!({"id": key, "result": {"answers": {"q": "mine"}}}))
        .await?;
    let answer = rig.anchor.recv_json().await?;
    ensure!(
        answer["id"] == 8 && answer["result"]["answers"]["q"] == "mine",
        "{answer}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Forged request ids
// ---------------------------------------------------------------------------------------------

/// Sends a response with `id` and expects the JSON-RPC error `code` for it.
async fn expect_answer_refused(ws: &mut Ws, id: Value, code: &str) -> Result<()> {
    ws.send_json(&json!({"id": id, "result": {"decision": "accept"}}))
        .await?;
    let refused = ws.recv_json().await?;
    ensure!(
        refused["id"] == id && refused["error"]["data"]["code"] == code,
        "{} answered {id}: expected error {code}, got {refused}",
        ws.label
    );
    Ok(())
}

#[tokio::test]
async fn anchor_answering_ids_it_never_received_reaches_no_client() -> Result<()> {
    let orbit = orbit()?;
    let mut rig = orbit.rig("forger").await?;
    let second = orbit.web_session(&rig.web.user_id).await?;
    let (mut other, hello, _) = orbit.client(&second).await?;
    let other_conn = hello["connectionId"]
        .as_str()
        .ok_or_else(|| anyhow!("no connectionId: {hello}"))?
        .to_string();

    // Ids Orbit never made: answered with an error to the anchor, delivered to nobody.
    for id in [
        json!(77),
        json!("77"),
        json!("orbit-srv:0"),
        json!("orbit::1"),
        json!(format!("orbit:{other_conn}")),
        json!(format!("orbit:{other_conn}:{{}}")),
        json!(format!("orbit:{other_conn}:true")),
        // A real client's address, but not one made for this anchor (the form before the
        // anchor was part of it): a request this anchor was never sent.
        json!(format!("orbit:{other_conn}:1")),
        json!(format!("orbit:{other_conn}:another-anchor:1")),
    ] {
        rig.anchor
            .send_json(&json!({"id": id, "result": {"stolen": true}}))
            .await?;
        let e = rig.anchor.recv_orbit_error("unknown_response_id").await?;
        ensure!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
    }
    // A return address of a connection that is not open (made up, or gone): dropped.
    rig.anchor
        .send_json(
            &json!({"id": format!("orbit:{}:{}:1", random_hex(8), rig.anchor_id), "result": {}}),
        )
        .await?;
    rig.anchor.expect_nothing_pending().await?;
    rig.client.expect_nothing_pending().await?;
    other.expect_nothing_pending().await?;

    // The genuine answer still goes to exactly its asker, with its own id.
    round_trip(&mut rig, 4).await?;
    other.expect_nothing_pending().await?;
    Ok(())
}

#[tokio::test]
async fn anchor_cannot_reach_another_users_client_with_a_forged_return_address() -> Result<()> {
    let orbit = orbit()?;
    let mut alice = orbit.rig("alice-forger").await?;
    let bob_web = orbit.new_user().await?;
    let (mut bob, bob_hello, _) = orbit.client(&bob_web).await?;
    let bob_conn = bob_hello["connectionId"]
        .as_str()
        .ok_or_else(|| anyhow!("no connectionId: {bob_hello}"))?
        .to_string();

    // Alice's anchor knows (say) Bob's connection id and answers as if Bob had asked it.
    alice
        .anchor
        .send_json(&json!({"id": format!("orbit:{bob_conn}:1"), "result": {"phish": true}}))
        .await?;
    alice
        .anchor
        .send_json(&json!({"method": "account/updated", "params": {"to": bob_conn}}))
        .await?;
    // Alice's own client got the thread-less note: the forged answer was handled before it.
    ensure!(alice.client.recv_json().await?["method"] == "account/updated");
    bob.expect_silence(CROSS_USER_QUIET).await?;
    Ok(())
}

#[tokio::test]
async fn client_answering_a_server_request_never_issued_or_already_answered_is_refused(
) -> Result<()> {
    let orbit = orbit()?;
    let mut rig = orbit.rig("answerer").await?;
    let thread = unique("approve");
    rig.client.subscribe(&thread, None).await?;
    rig.anchor
        .send_json(&request(
            json!(3),
            "item/fileChange/requestApproval",
            json!({"threadId": thread}),
        ))
        .await?;
    let key = rig.client.recv_json().await?["id"].clone();
    let n: u64 = key
        .as_str()
        .and_then(|k| k.strip_prefix("orbit-srv:"))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow!("a server request key: {key}"))?;

    // Keys Orbit never issued, or that only look like one.
    for forged in [
        json!(format!("orbit-srv:{}", n + 1)),
        json!(format!("orbit-srv:{}", u64::MAX)),
        json!("orbit-srv:99999999999999999999999"),
        json!("orbit-srv:-1"),
        json!(format!("orbit-srv:{n} ")),
        json!(format!("orbit-srv:0{n}x")),
        json!("orbit-srv:"),
        json!(n),
        json!(3),
        json!("3"),
    ] {
        expect_answer_refused(&mut rig.client, forged, "unknown_request").await?;
    }
    rig.anchor.expect_nothing_pending().await?;

    // The real one is answered once; every later answer is refused and goes nowhere.
    rig.client
        .send_json(&json!({"id": key, "result": {"decision": "accept"}}))
        .await?;
    let answer = rig.anchor.recv_json().await?;
    ensure!(answer["id"] == 3, "{answer}");
    ensure!(rig.client.recv_json().await?["type"] == "orbit.answered");
    for _ in 0..2 {
        expect_answer_refused(&mut rig.client, key.clone(), "already_resolved").await?;
    }
    rig.anchor.expect_nothing_pending().await?;
    round_trip(&mut rig, 5).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// One user reaching for another's
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_client_cannot_reach_another_users_anchor_helpers_or_thread() -> Result<()> {
    let orbit = orbit()?;
    let mut alice = orbit.rig("alice-box").await?;
    let mut bob = orbit.rig("bob-box").await?;
    // Bob's thread, bound to Bob's anchor.
    let bobs_thread = unique("bobs");
    bob.client.subscribe(&bobs_thread, None).await?;
    bob.anchor.send_json(&thread_note(&bobs_thread, 1)).await?;
    ensure!(bob.client.recv_json().await?["params"]["n"] == 1);

    // Alice names Bob's anchor for a helper and for codex: not found, and nothing is sent.
    for (id, method) in [
        ("read", "anchor.file.read"),
        ("dirs", "anchor.listDirs"),
        ("git", "anchor.git.status"),
        ("info", "anchor.info"),
        ("turn", "turn/start"),
    ] {
        alice
            .client
            .send_json(&request(
                json!(id),
                method,
                json!({"anchorId": bob.anchor_id, "path": "/", "threadId": bobs_thread}),
            ))
            .await?;
        let refused = alice.client.recv_json().await?;
        ensure!(
            refused["id"] == id && refused["error"]["data"]["code"] == "anchor_not_found",
            "{method} naming Bob's anchor: {refused}"
        );
    }
    // Bob's thread id means nothing in Alice's hub: her request goes to her own anchor.
    alice
        .client
        .send_json(&request(
            json!("mine"),
            "anchor.file.read",
            json!({"threadId": bobs_thread, "path": "x"}),
        ))
        .await?;
    let at_alices = alice.anchor.recv_json().await?;
    ensure!(at_alices["method"] == "anchor.file.read", "{at_alices}");

    // Replay and presence of Bob's thread are Bob's alone.
    let (subscribed, replayed) = alice.client.subscribe(&bobs_thread, Some(0)).await?;
    ensure!(
        replayed.is_empty() && subscribed["seq"] == 0,
        "Alice sees none of Bob's thread: {subscribed} after {replayed:?}"
    );
    bob.anchor.send_json(&thread_note(&bobs_thread, 2)).await?;
    ensure!(bob.client.recv_json().await?["params"]["n"] == 2);
    bob.anchor.close().await?;
    bob.client.recv_type("orbit.anchor-disconnected").await?;
    alice.client.expect_silence(CROSS_USER_QUIET).await?;
    alice.anchor.expect_nothing_pending().await?;
    round_trip(&mut alice, 6).await?;
    Ok(())
}

#[tokio::test]
async fn another_users_ids_in_rename_revoke_and_delete_endpoints_are_not_found_and_change_nothing(
) -> Result<()> {
    let orbit = orbit()?;
    let mut alice = orbit.rig("alice-http").await?;
    let alice_phone = orbit.web_session(&alice.web.user_id).await?;
    let mallory = orbit.new_user().await?;
    let api = Client::new(orbit);
    let before = api
        .get("/auth/anchors", &alice.web.access_token)
        .await?
        .ok("Alice's anchors")?;

    for (method, path, code) in [
        (
            "PATCH",
            format!("/auth/anchors/{}", alice.anchor_id),
            "anchor_not_found",
        ),
        (
            "DELETE",
            format!("/auth/anchors/{}", alice.anchor_id),
            "anchor_not_found",
        ),
        (
            "DELETE",
            format!("/auth/sessions/{}", alice_phone.session_id),
            "session_not_found",
        ),
        (
            "DELETE",
            format!("/auth/sessions/{}", alice.web.session_id),
            "session_not_found",
        ),
        // An anchor's session is not a web session, whoever asks.
        (
            "DELETE",
            format!("/auth/sessions/{}", alice.anchor_session.session_id),
            "session_not_found",
        ),
        // (Another user's real passkey is in auth_passkey.rs; here, an id that is nobody's.)
        (
            "DELETE",
            format!("/auth/passkeys/{}", random_hex(16)),
            "passkey_not_found",
        ),
    ] {
        let answer = match method {
            "PATCH" => {
                api.patch(&path, json!({"name": "pwned"}), &mallory.access_token)
                    .await?
            }
            _ => api.delete(&path, &mallory.access_token).await?,
        };
        answer.refused(404, code, &format!("{method} {path} by another user"))?;
    }

    // Nothing changed: Alice's anchor keeps its name and relays, her sessions work.
    let after = api
        .get("/auth/anchors", &alice.web.access_token)
        .await?
        .ok("Alice's anchors")?;
    ensure!(
        after == before,
        "Alice's anchors unchanged: {before} → {after}"
    );
    api.get("/auth/session", &alice_phone.access_token)
        .await?
        .ok("Alice's phone")?;
    round_trip(&mut alice, 7).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Device codes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn guessed_device_codes_get_invalid_grant_and_leave_the_real_pairing_intact() -> Result<()> {
    let orbit = orbit()?;
    let anchor_api = Client::new(orbit);
    let attacker = Client::new(orbit);
    let started = anchor_api
        .post("/auth/device/code", json!({"name": "real"}), None)
        .await?
        .ok("a device code")?;
    let real = started["deviceCode"]
        .as_str()
        .ok_or_else(|| anyhow!("no deviceCode: {started}"))?
        .to_string();
    let user_code = started["userCode"].clone();

    // Well-formed guesses (43 base64url characters), near misses of the real code, and junk.
    let mut guesses: Vec<String> = (0..10)
        .map(|_| {
            let hex = random_hex(32);
            // 64 hex digits are 43+ base64url characters' worth: keep 42 and a padding-free end.
            format!("{}A", hex.get(..42).unwrap_or_default())
        })
        .collect();
    let flip = |c: char| if c == 'A' { 'B' } else { 'A' };
    let mut near = real.clone();
    if let Some(first) = near.chars().next() {
        near.replace_range(..1, &flip(first).to_string());
    }
    guesses.push(near);
    guesses.push(format!("{real}A"));
    guesses.push(real.get(..42).unwrap_or_default().to_string());
    guesses.push(real.to_uppercase());
    guesses.push(String::new());
    guesses.push("../../etc/passwd".into());
    for guess in &guesses {
        let answer = attacker
            .post("/auth/device/token", json!({"deviceCode": guess}), None)
            .await?;
        let expected = if guess.is_empty() {
            "invalid_request"
        } else {
            "invalid_grant"
        };
        answer.rfc_error(expected, &format!("guessed device code {guess:?}"))?;
    }

    // The real pairing is untouched: the user approves it and its anchor collects once.
    let user = orbit.new_user().await?;
    anchor_api
        .post(
            "/auth/device/authorise",
            json!({"userCode": user_code, "approve": true}),
            Some(&user.access_token),
        )
        .await?
        .ok("the user's approval")?;
    let credentials = anchor_api
        .post("/auth/device/token", json!({"deviceCode": real}), None)
        .await?
        .ok("the real poll")?;
    ensure!(
        credentials["accessToken"].is_string() && credentials["anchorId"].is_string(),
        "{credentials}"
    );
    attacker
        .post("/auth/device/token", json!({"deviceCode": real}), None)
        .await?
        .rfc_error("invalid_grant", "the collected code, again")?;
    Ok(())
}

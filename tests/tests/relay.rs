//! SPEC §1 end to end over real sockets: the control frames, presence, and routing rules 1–6
//! and 8, against the built Worker under workerd. Rule 7 (replay) is in `replay.rs`,
//! the upgrade gate in `gate.rs`.
//!
//! Every test makes its own users, so they share one Orbit. Negative assertions ("this socket
//! got nothing") use [`Ws::barrier`], a round trip through the user's Durable Object, so they
//! do not depend on waiting; across users (two Durable Objects, no common order) they use a
//! bounded [`Ws::expect_silence`] after the frames were seen to arrive where they belong.

use std::time::Duration;

use anyhow::{ensure, Result};
use orbit_tests::orbit_shared::router::paired::REFRESH_INTERVAL_MS;
use orbit_tests::{anchor_hello, now_ms, summarize, thread_note, unique, Orbit, Ws};
use serde_json::{json, Value};

/// How long a socket of another user must stay quiet after the traffic it must not see has
/// reached its intended receivers.
const CROSS_USER_QUIET: Duration = Duration::from_millis(750);

fn orbit() -> Result<&'static Orbit> {
    Orbit::shared()
}

/// A client request as codex's app-server expects it.
fn request(id: Value, method: &str, params: Value) -> Value {
    json!({ "id": id, "method": method, "params": params })
}

/// Asserts a JSON-RPC error answer with Orbit's routing code.
fn assert_rpc_error(frame: &Value, id: &Value, code: &str) {
    assert_eq!(
        &frame["id"], id,
        "error answer carries the client's id: {frame}"
    );
    assert_eq!(
        frame["error"]["data"]["code"], code,
        "routing error code: {frame}"
    );
    assert!(
        frame["error"]["code"].is_i64(),
        "numeric JSON-RPC error code: {frame}"
    );
    assert!(
        frame["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "readable message: {frame}"
    );
}

// ---------------------------------------------------------------------------------------------
// Control frames and presence
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn hello_is_the_first_frame_and_names_role_user_and_connection() -> Result<()> {
    let orbit = orbit()?;
    let web = orbit.new_user().await?;
    let anchor_session = orbit.pair_anchor(&web.user_id, "laptop").await?;

    let before = now_ms();
    let (_c1, hello1, _) = orbit.client(&web).await?;
    let (_c2, hello2, _) = orbit.client(&web).await?;
    assert_eq!(hello1["role"], "client");
    assert_eq!(hello1["userId"], web.user_id.as_str());
    let conn1 = hello1["connectionId"].as_str().unwrap_or_default();
    let conn2 = hello2["connectionId"].as_str().unwrap_or_default();
    assert!(!conn1.is_empty() && !conn2.is_empty(), "{hello1} {hello2}");
    assert_ne!(conn1, conn2, "each socket has its own connection id");
    let server_time = hello1["serverTime"].as_u64().unwrap_or_default();
    assert!(
        server_time + 60_000 > before && server_time < now_ms() + 60_000,
        "serverTime {server_time} is near now ({before})"
    );

    let mut anchor = orbit
        .connect_with(&orbit_tests::Upgrade::anchor().bearer(&anchor_session.access_token))
        .await?;
    let hello = anchor.recv_json().await?;
    assert_eq!(
        hello["type"], "orbit.hello",
        "first frame to an anchor: {hello}"
    );
    assert_eq!(hello["role"], "anchor");
    assert_eq!(hello["userId"], web.user_id.as_str());
    Ok(())
}

#[tokio::test]
async fn anchors_list_shows_paired_anchors_online_and_offline() -> Result<()> {
    let orbit = orbit()?;
    let web = orbit.new_user().await?;
    let online = orbit.pair_anchor(&web.user_id, "desk").await?;
    let offline = orbit.pair_anchor(&web.user_id, "attic").await?;
    let online_id = online.anchor()?;
    let offline_id = offline.anchor()?;

    let mut anchor = orbit.anchor(&online).await?;
    anchor
        .send_control(&anchor_hello(online_id, "desk"))
        .await?;
    anchor.expect_nothing_pending().await?;

    let (mut client, _, anchors) = orbit.client(&web).await?;
    let check = |anchors: &Value| {
        let list = anchors["anchors"].as_array().cloned().unwrap_or_default();
        assert_eq!(list.len(), 2, "both paired anchors are listed: {anchors}");
        let find = |id: &str| list.iter().find(|a| a["anchorId"] == id).cloned();
        let on = find(online_id).unwrap_or_default();
        let off = find(offline_id).unwrap_or_default();
        assert_eq!(on["online"], true, "{anchors}");
        assert_eq!(on["name"], "desk", "{anchors}");
        assert_eq!(
            on["hostname"], "desk.host",
            "anchor.hello metadata is listed: {anchors}"
        );
        assert_eq!(on["platform"], "linux", "{anchors}");
        assert!(
            on["connectedAt"].is_u64(),
            "connectedAt of an online anchor: {anchors}"
        );
        assert!(!on["lastSeenAt"].is_null(), "{anchors}");
        assert_eq!(
            off["online"], false,
            "a paired, never connected anchor is offline: {anchors}"
        );
        assert_eq!(off["name"], "attic", "{anchors}");
    };
    check(&anchors);

    client
        .send_json(&json!({"type": "orbit.list-anchors"}))
        .await?;
    let listed = client.recv_type("orbit.anchors").await?;
    check(&listed);
    Ok(())
}

#[tokio::test]
async fn presence_changes_reach_every_client_of_the_user() -> Result<()> {
    let orbit = orbit()?;
    let web = orbit.new_user().await?;
    let anchor_session = orbit.pair_anchor(&web.user_id, "box").await?;
    let anchor_id = anchor_session.anchor()?;
    let (mut c1, _, first) = orbit.client(&web).await?;
    let (mut c2, _, _) = orbit.client(&web).await?;
    assert_eq!(first["anchors"][0]["online"], false, "{first}");

    let mut anchor = orbit.anchor(&anchor_session).await?;
    for c in [&mut c1, &mut c2] {
        let connected = c.recv_type("orbit.anchor-connected").await?;
        assert_eq!(connected["anchor"]["anchorId"], anchor_id, "{connected}");
        assert_eq!(connected["anchor"]["online"], true, "{connected}");
    }

    anchor.send_control(&anchor_hello(anchor_id, "box")).await?;
    for c in [&mut c1, &mut c2] {
        let updated = c.recv_type("orbit.anchor-connected").await?;
        assert_eq!(
            updated["anchor"]["hostname"], "box.host",
            "hello metadata announced: {updated}"
        );
    }

    anchor.close().await?;
    for c in [&mut c1, &mut c2] {
        let gone = c.recv_type("orbit.anchor-disconnected").await?;
        assert_eq!(gone["anchorId"], anchor_id, "{gone}");
    }
    c1.send_json(&json!({"type": "orbit.list-anchors"})).await?;
    let listed = c1.recv_type("orbit.anchors").await?;
    assert_eq!(listed["anchors"][0]["online"], false, "{listed}");
    assert!(
        listed["anchors"][0]["lastSeenAt"].is_u64(),
        "lastSeenAt kept: {listed}"
    );
    Ok(())
}

/// Reading the paired anchors from D1 stalls the user's hub (`blockConcurrencyWhile`). Text
/// that merely contains `orbit.list-anchors` — a prompt, a file, a thread id, an anchor's
/// output — used to trigger a read on every frame; only the parsed control frame may.
#[tokio::test]
async fn list_anchors_text_inside_prompts_and_files_reads_no_d1_only_the_control_frame_does(
) -> Result<()> {
    let orbit = orbit()?;
    let mut rig = orbit.rig("substring").await?;
    let user = rig.web.user_id.clone();
    let before = orbit.paired_reads(&user).await?;
    // Past the refresh interval, so nothing but the frame's classification keeps these frames
    // from reading.
    tokio::time::sleep(Duration::from_millis(REFRESH_INTERVAL_MS + 300)).await;
    let name = r#"{"type":"orbit.list-anchors"}"#;
    let thread = unique("orbit.list-anchors");
    let frames = [
        request(
            json!(1),
            "turn/start",
            json!({"threadId": thread, "input": [{"type": "text", "text": format!("send {name}")}]}),
        ),
        request(
            json!(2),
            "fs/writeFile",
            json!({"path": "orbit.list-anchors.json", "content": name}),
        ),
        json!({"type": "orbit.list-anchors-please", "note": name}),
        json!({"type": "orbit.subscribe", "threadId": thread}),
    ];
    for frame in &frames {
        rig.client.send_json(frame).await?;
    }
    for method in ["turn/start", "fs/writeFile"] {
        let forwarded = rig.anchor.recv_json().await?;
        assert_eq!(forwarded["method"], method, "{forwarded}");
    }
    rig.client.recv_orbit_error("unknown_type").await?;
    rig.client.recv_type("orbit.subscribed").await?;
    // An anchor's output naming it, too.
    rig.anchor.send_json(&thread_note(&thread, 1)).await?;
    rig.anchor
        .send_json(&json!({"method": "item/agentMessage/delta", "params": {"threadId": thread, "delta": name}}))
        .await?;
    rig.client.recv_json().await?;
    rig.client.recv_json().await?;
    rig.client.expect_nothing_pending().await?;
    assert_eq!(
        orbit.paired_reads(&user).await?,
        before,
        "frames that only contain the text read D1"
    );

    rig.client
        .send_json(&json!({"type": "orbit.list-anchors"}))
        .await?;
    let listed = rig.client.recv_type("orbit.anchors").await?;
    assert_eq!(listed["anchors"][0]["name"], "substring", "{listed}");
    assert_eq!(
        orbit.paired_reads(&user).await?,
        before + 1,
        "the control frame, past the interval, reads once"
    );
    Ok(())
}

/// A client (or a script) asking for the anchor list in a loop must not turn each request into
/// a D1 read: within the refresh interval it is answered from the hub's list, every time.
#[tokio::test]
async fn list_anchors_burst_reads_d1_a_bounded_number_of_times_and_every_one_is_answered(
) -> Result<()> {
    const BURST: usize = 60;
    let orbit = orbit()?;
    let mut rig = orbit.rig("burst").await?;
    let user = rig.web.user_id.clone();
    let before = orbit.paired_reads(&user).await?;
    let started = std::time::Instant::now();
    for _ in 0..BURST {
        rig.client
            .send_json(&json!({"type": "orbit.list-anchors"}))
            .await?;
    }
    for n in 0..BURST {
        let listed = rig.client.recv_type("orbit.anchors").await?;
        let anchors = listed["anchors"].as_array().cloned().unwrap_or_default();
        ensure!(
            anchors.len() == 1 && anchors[0]["anchorId"] == rig.anchor_id.as_str(),
            "answer {n}: {listed}"
        );
        assert_eq!(anchors[0]["online"], true, "answer {n}: {listed}");
    }
    rig.client.expect_nothing_pending().await?;
    let reads = orbit.paired_reads(&user).await? - before;
    let elapsed = u64::try_from(started.elapsed().as_millis())?;
    let bound = 1 + elapsed / REFRESH_INTERVAL_MS;
    assert!(
        reads <= bound,
        "{BURST} list requests in {elapsed} ms read D1 {reads} times (at most {bound})"
    );
    Ok(())
}

#[tokio::test]
async fn ping_is_answered_with_pong_on_both_sides() -> Result<()> {
    let orbit = orbit()?;
    let mut rig = orbit.rig("pinger").await?;
    for ws in [&mut rig.client, &mut rig.anchor] {
        ws.send_text(r#"{"type":"ping"}"#).await?;
        let pong = ws.recv_json().await?;
        assert_eq!(pong, json!({"type": "pong"}), "{}", ws.label);
    }
    Ok(())
}

#[tokio::test]
async fn second_connection_of_an_anchor_replaces_the_first_with_close_4001() -> Result<()> {
    let orbit = orbit()?;
    let mut rig = orbit.rig("twin").await?;
    // The same anchor reconnecting (a second session for the same anchor id).
    let again = orbit
        .anchor_session(&rig.web.user_id, &rig.anchor_id)
        .await?;
    let mut newer = orbit.anchor(&again).await?.named("newer anchor connection");

    let (close, frames) = rig.anchor.recv_close().await?;
    assert_eq!(
        close.as_ref().map(|c| c.0),
        Some(4001),
        "the older connection is closed with 4001 ({close:?}); frames before: {}",
        summarize(&frames)
    );

    // Clients see the anchor (re)connected, never disconnected.
    let connected = rig.client.recv_type("orbit.anchor-connected").await?;
    assert_eq!(connected["anchor"]["anchorId"], rig.anchor_id.as_str());
    let pending = rig.client.barrier().await?;
    assert!(
        pending
            .iter()
            .all(|f| f["type"] != "orbit.anchor-disconnected"),
        "replacement is not a disconnection: {}",
        summarize(&pending)
    );

    // Requests now reach the newer connection.
    rig.client
        .send_json(&request(json!(5), "thread/list", json!({})))
        .await?;
    let forwarded = newer.recv_json().await?;
    assert_eq!(forwarded["method"], "thread/list", "{forwarded}");
    rig.client
        .send_json(&json!({"type": "orbit.list-anchors"}))
        .await?;
    let listed = rig.client.recv_type("orbit.anchors").await?;
    assert_eq!(listed["anchors"][0]["online"], true, "{listed}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Rule 1: isolation
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn rule1_isolation_nothing_crosses_between_users() -> Result<()> {
    let orbit = orbit()?;
    let mut a = orbit.rig("alice-box").await?;
    let mut b = orbit.rig("bob-box").await?;
    // Both users use the very same thread id.
    let thread = unique("shared-thread");
    a.client.subscribe(&thread, None).await?;
    b.client.subscribe(&thread, Some(0)).await?;

    // Bob has three open prompts (his Orbit keys 0, 1 and 2); Alice will get two (her 0, 1).
    for n in 0..3 {
        b.anchor
            .send_json(&request(
                json!(n),
                "item/tool/requestUserInput",
                json!({"q": "bob?"}),
            ))
            .await?;
    }
    let mut bob_keys = Vec::new();
    for _ in 0..3 {
        bob_keys.push(b.client.recv_json().await?["id"].clone());
    }

    // Alice's anchor: a thread notification, a thread-less one, and two server requests.
    a.anchor.send_json(&thread_note(&thread, 1)).await?;
    a.anchor
        .send_json(&json!({"method": "account/updated", "params": {"who": "alice"}}))
        .await?;
    a.anchor
        .send_json(&request(
            json!(1),
            "item/commandExecution/requestApproval",
            json!({"threadId": thread, "command": "rm -rf /"}),
        ))
        .await?;
    a.anchor
        .send_json(&request(
            json!(2),
            "item/tool/requestUserInput",
            json!({"q": "?"}),
        ))
        .await?;
    let got = a.client.recv_json().await?;
    assert_eq!(got["params"]["n"], 1, "{got}");
    assert_eq!(a.client.recv_json().await?["method"], "account/updated");
    let approval = a.client.recv_json().await?;
    assert_eq!(
        approval["method"], "item/commandExecution/requestApproval",
        "{approval}"
    );
    let question = a.client.recv_json().await?;
    assert_eq!(
        question["method"], "item/tool/requestUserInput",
        "{question}"
    );
    let alice_keys = [approval["id"].clone(), question["id"].clone()];

    // Alice's client: a request naming Bob's anchor, and answers to Bob's server-request ids.
    a.client
        .send_json(&request(
            json!("x1"),
            "thread/list",
            json!({"anchorId": b.anchor_id}),
        ))
        .await?;
    let refused = a.client.recv_json().await?;
    assert_rpc_error(&refused, &json!("x1"), "anchor_not_found");
    // Bob's prompt keys that mean nothing in Alice's hub: answering them cannot reach Bob.
    let foreign: Vec<&Value> = bob_keys
        .iter()
        .filter(|k| !alice_keys.contains(k))
        .collect();
    assert!(
        !foreign.is_empty(),
        "Bob {bob_keys:?}, Alice {alice_keys:?}"
    );
    for key in foreign {
        a.client
            .send_json(&json!({"id": key, "result": {"answers": {}}}))
            .await?;
        let unknown = a.client.recv_json().await?;
        assert_eq!(unknown["id"], *key, "{unknown}");
        assert_eq!(
            unknown["error"]["data"]["code"], "unknown_request",
            "{unknown}"
        );
    }

    // Alice's anchor goes away and comes back: presence is Alice's alone.
    a.anchor.close().await?;
    a.client.recv_type("orbit.anchor-disconnected").await?;
    let mut a_anchor = orbit.anchor(&a.anchor_session).await?;
    a.client.recv_type("orbit.anchor-connected").await?;

    // Bob saw none of it, and replay of the same thread id gives him none of Alice's frames.
    b.client.expect_silence(CROSS_USER_QUIET).await?;
    b.anchor.expect_silence(Duration::from_millis(100)).await?;
    let (subscribed, replayed) = b.client.subscribe(&thread, Some(0)).await?;
    assert!(
        replayed.is_empty(),
        "Bob's replay: {}",
        summarize(&replayed)
    );
    assert_eq!(
        subscribed["seq"], 0,
        "Bob's thread has no frames: {subscribed}"
    );
    b.client
        .send_json(&json!({"type": "orbit.list-anchors"}))
        .await?;
    let listed = b.client.recv_type("orbit.anchors").await?;
    assert_eq!(
        listed["anchors"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    assert_eq!(
        listed["anchors"][0]["anchorId"],
        b.anchor_id.as_str(),
        "{listed}"
    );

    // And the other way round: Bob's traffic never reaches Alice.
    b.anchor.send_json(&thread_note(&thread, 99)).await?;
    b.client
        .send_json(&request(json!(7), "thread/list", json!({})))
        .await?;
    let forwarded = b.anchor.recv_json().await?;
    assert_eq!(forwarded["method"], "thread/list");
    let note = b.client.recv_json().await?;
    assert_eq!(note["params"]["n"], 99, "{note}");
    a.client.expect_silence(CROSS_USER_QUIET).await?;
    a_anchor.expect_silence(Duration::from_millis(100)).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Rule 2: a client request goes to one anchor
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn rule2_request_reaches_exactly_one_anchor_with_a_rewritten_id() -> Result<()> {
    let orbit = orbit()?;
    let web = orbit.new_user().await?;
    let s1 = orbit.pair_anchor(&web.user_id, "one").await?;
    let s2 = orbit.pair_anchor(&web.user_id, "two").await?;
    let (id1, id2) = (s1.anchor()?.to_string(), s2.anchor()?.to_string());
    let mut a1 = orbit.anchor(&s1).await?;
    let mut a2 = orbit.anchor(&s2).await?;
    let (mut client, _, _) = orbit.client(&web).await?;

    // Named by params.anchorId: only that anchor gets it, without Orbit's routing hint.
    client
        .send_json(&request(
            json!(1),
            "thread/list",
            json!({"anchorId": id2, "limit": 5}),
        ))
        .await?;
    let got = a2.recv_json().await?;
    assert_eq!(got["method"], "thread/list", "{got}");
    assert_eq!(got["params"]["limit"], 5, "params kept: {got}");
    assert!(
        got["params"].get("anchorId").is_none(),
        "routing hint stripped: {got}"
    );
    assert_ne!(
        got["id"],
        json!(1),
        "the id is rewritten on the way to the anchor: {got}"
    );
    a1.expect_nothing_pending().await?;

    // A thread belongs to the anchor a client named for it: resumed on anchor one, a request
    // about it without anchorId goes to anchor one, even with two online.
    let thread = unique("bound");
    client
        .send_json(&request(
            json!(20),
            "thread/resume",
            json!({"threadId": thread, "anchorId": id1}),
        ))
        .await?;
    assert_eq!(a1.recv_json().await?["method"], "thread/resume");
    client
        .send_json(&request(
            json!(2),
            "turn/start",
            json!({"threadId": thread, "input": []}),
        ))
        .await?;
    let turn = a1.recv_json().await?;
    assert_eq!(turn["method"], "turn/start", "{turn}");
    assert_eq!(turn["params"]["threadId"], thread.as_str(), "{turn}");
    a2.expect_nothing_pending().await?;
    client.expect_nothing_pending().await?;

    // A thread id learned from a response (thread/start answered by anchor two) binds too.
    client
        .send_json(&request(
            json!(3),
            "thread/start",
            json!({"anchorId": id2, "cwd": "/"}),
        ))
        .await?;
    let start = a2.recv_json().await?;
    let fresh = unique("started");
    a2.send_json(&json!({"id": start["id"], "result": {"thread": {"id": fresh}}}))
        .await?;
    let answer = client.recv_json().await?;
    assert_eq!(answer["id"], 3, "{answer}");
    client
        .send_json(&request(
            json!(4),
            "thread/read",
            json!({"threadId": fresh}),
        ))
        .await?;
    let read = a2.recv_json().await?;
    assert_eq!(read["method"], "thread/read", "{read}");
    a1.expect_nothing_pending().await?;
    Ok(())
}

#[tokio::test]
async fn rule2_single_online_anchor_is_the_default_target() -> Result<()> {
    let orbit = orbit()?;
    let mut rig = orbit.rig("only").await?;
    rig.client
        .send_json(&request(json!(10), "model/list", json!({})))
        .await?;
    let got = rig.anchor.recv_json().await?;
    assert_eq!(got["method"], "model/list", "{got}");
    // Notifications from a client follow the same route.
    rig.client
        .send_json(&json!({"method": "initialized"}))
        .await?;
    let note = rig.anchor.recv_json().await?;
    assert_eq!(note, json!({"method": "initialized"}));
    Ok(())
}

#[tokio::test]
async fn rule2_unroutable_requests_get_each_error_code() -> Result<()> {
    let orbit = orbit()?;

    // No anchor paired at all.
    let lonely = orbit.new_user().await?;
    let (mut c, _, _) = orbit.client(&lonely).await?;
    c.send_json(&request(json!(1), "thread/list", json!({})))
        .await?;
    assert_rpc_error(&c.recv_json().await?, &json!(1), "anchor_not_found");
    c.send_json(&request(
        json!("n"),
        "thread/list",
        json!({"anchorId": "no-such-anchor"}),
    ))
    .await?;
    assert_rpc_error(&c.recv_json().await?, &json!("n"), "anchor_not_found");
    // A notification has no id to answer: it gets orbit.error with the same code.
    c.send_json(&json!({"method": "initialized"})).await?;
    let e = c.recv_json().await?;
    assert_eq!(e["type"], "orbit.error", "{e}");
    assert_eq!(e["code"], "anchor_not_found", "{e}");

    // Paired but not connected.
    let web = orbit.new_user().await?;
    let s1 = orbit.pair_anchor(&web.user_id, "one").await?;
    let s2 = orbit.pair_anchor(&web.user_id, "two").await?;
    let (id1, id2) = (s1.anchor()?.to_string(), s2.anchor()?.to_string());
    let (mut c, _, _) = orbit.client(&web).await?;
    c.send_json(&request(json!(2), "thread/list", json!({})))
        .await?;
    assert_rpc_error(&c.recv_json().await?, &json!(2), "anchor_offline");
    c.send_json(&request(json!(3), "thread/list", json!({"anchorId": id1})))
        .await?;
    assert_rpc_error(&c.recv_json().await?, &json!(3), "anchor_offline");

    // Two online and none named.
    let mut a1 = orbit.anchor(&s1).await?;
    let mut a2 = orbit.anchor(&s2).await?;
    c.recv_type("orbit.anchor-connected").await?;
    c.recv_type("orbit.anchor-connected").await?;
    c.send_json(&request(json!(4), "thread/list", json!({})))
        .await?;
    assert_rpc_error(&c.recv_json().await?, &json!(4), "anchor_required");

    // A thread bound to one anchor, a request naming the other.
    let thread = unique("mine");
    c.send_json(&request(
        json!(40),
        "thread/resume",
        json!({"threadId": thread, "anchorId": id1}),
    ))
    .await?;
    assert_eq!(a1.recv_json().await?["method"], "thread/resume");
    c.send_json(&request(
        json!(5),
        "turn/start",
        json!({"threadId": thread, "anchorId": id2}),
    ))
    .await?;
    assert_rpc_error(&c.recv_json().await?, &json!(5), "thread_anchor_mismatch");

    // None of the refused requests reached an anchor: never broadcast, never guessed.
    a1.expect_nothing_pending().await?;
    a2.expect_nothing_pending().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Rule 3: responses go home
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn rule3_clients_with_the_same_ids_get_only_their_own_responses() -> Result<()> {
    let orbit = orbit()?;
    let mut rig = orbit.rig("home").await?;
    let second = orbit.web_session(&rig.web.user_id).await?;
    let (mut tab2, _, _) = orbit.client(&second).await?;
    let mut tab1 = rig.client;

    // The same ids from both tabs, at the same time: numbers, and strings that look like
    // Orbit's own return addresses.
    let ids = [json!(1), json!("a:b"), json!("orbit:deadbeef:1"), json!(-7)];
    for id in &ids {
        tab1.send_json(&request(id.clone(), "thread/list", json!({"tab": 1})))
            .await?;
        tab2.send_json(&request(id.clone(), "thread/list", json!({"tab": 2})))
            .await?;
    }
    let mut received = Vec::new();
    for _ in 0..ids.len() * 2 {
        received.push(rig.anchor.recv_json().await?);
    }
    let rewritten: std::collections::HashSet<String> =
        received.iter().map(|r| r["id"].to_string()).collect();
    assert_eq!(
        rewritten.len(),
        received.len(),
        "distinct ids at the anchor: {}",
        summarize(&received)
    );

    // Answer in reverse order, saying whose request it was.
    for r in received.iter().rev() {
        rig.anchor
            .send_json(
                &json!({"id": r["id"], "result": {"tab": r["params"]["tab"], "orig": r["id"]}}),
            )
            .await?;
    }
    for (tab, ws) in [(1, &mut tab1), (2, &mut tab2)] {
        let mut seen = Vec::new();
        for _ in 0..ids.len() {
            let answer = ws.recv_json().await?;
            assert_eq!(
                answer["result"]["tab"], tab,
                "tab {tab} got another's answer: {answer}"
            );
            seen.push(answer["id"].clone());
        }
        for id in &ids {
            assert!(
                seen.contains(id),
                "tab {tab} got its id {id} back: {seen:?}"
            );
        }
        ws.expect_nothing_pending().await?;
    }

    // Errors from the anchor go home the same way.
    tab2.send_json(&request(
        json!(1),
        "thread/read",
        json!({"threadId": "nope"}),
    ))
    .await?;
    let r = rig.anchor.recv_json().await?;
    rig.anchor
        .send_json(&json!({"id": r["id"], "error": {"code": -32600, "message": "no such thread"}}))
        .await?;
    let err = tab2.recv_json().await?;
    assert_eq!(
        err,
        json!({"id": 1, "error": {"code": -32600, "message": "no such thread"}})
    );
    tab1.expect_nothing_pending().await?;
    Ok(())
}

#[tokio::test]
async fn rule3_response_for_a_departed_client_is_dropped_quietly() -> Result<()> {
    let orbit = orbit()?;
    let mut rig = orbit.rig("orphans").await?;
    let other = orbit.web_session(&rig.web.user_id).await?;
    let (mut stays, _, _) = orbit.client(&other).await?;
    rig.client
        .send_json(&request(json!(1), "thread/list", json!({})))
        .await?;
    let r = rig.anchor.recv_json().await?;
    rig.client.close().await?;
    rig.anchor
        .send_json(&json!({"id": r["id"], "result": {}}))
        .await?;
    rig.anchor.expect_nothing_pending().await?;
    stays.expect_nothing_pending().await?;
    // A response to nothing Orbit forwarded is refused to the anchor, not delivered.
    rig.anchor
        .send_json(&json!({"id": 12345, "result": {}}))
        .await?;
    let e = rig.anchor.recv_json().await?;
    assert_eq!(e["type"], "orbit.error", "{e}");
    stays.expect_nothing_pending().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Rule 4: server requests reach the thread's clients and are answered once
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn rule4_server_request_goes_to_subscribers_and_only_first_answer_counts() -> Result<()> {
    let orbit = orbit()?;
    let mut rig = orbit.rig("approver").await?;
    let s2 = orbit.web_session(&rig.web.user_id).await?;
    let s3 = orbit.web_session(&rig.web.user_id).await?;
    let (mut c2, c2_hello, _) = orbit.client(&s2).await?;
    let (mut bystander, _, _) = orbit.client(&s3).await?;
    let mut c1 = rig.client;
    let thread = unique("approve");
    c1.subscribe(&thread, None).await?;
    c2.subscribe(&thread, None).await?;

    let ask = request(
        json!(42),
        "item/commandExecution/requestApproval",
        json!({"threadId": thread, "itemId": "i1", "command": "make"}),
    );
    rig.anchor.send_json(&ask).await?;
    let p1 = c1.recv_json().await?;
    let p2 = c2.recv_json().await?;
    assert_eq!(
        p1["method"], "item/commandExecution/requestApproval",
        "{p1}"
    );
    assert_eq!(p1["params"]["command"], "make", "{p1}");
    assert_eq!(p1, p2, "both subscribers get the same frame");
    assert!(
        p1["seq"].is_u64(),
        "a thread's server request is numbered: {p1}"
    );
    let key = p1["id"].clone();
    rig.anchor.expect_nothing_pending().await?;
    bystander.expect_nothing_pending().await?;

    // The first answer goes to the anchor with the anchor's own id.
    c2.send_json(&json!({"id": key, "result": {"decision": "accept"}}))
        .await?;
    let answer = rig.anchor.recv_json().await?;
    assert_eq!(
        answer["id"], 42,
        "the anchor's original id is restored: {answer}"
    );
    assert_eq!(answer["result"]["decision"], "accept", "{answer}");

    // Both subscribers hear who answered: c2's connection, from the browser it named.
    let c2_conn = c2_hello["connectionId"].clone();
    for c in [&mut c1, &mut c2] {
        let answered = c.recv_json().await?;
        assert_eq!(answered["type"], "orbit.answered", "{answered}");
        assert_eq!(answered["requestId"], key, "{answered}");
        assert_eq!(answered["connectionId"], c2_conn, "{answered}");
    }

    // The late answer is refused and never reaches the anchor.
    c1.send_json(&json!({"id": key, "result": {"decision": "decline"}}))
        .await?;
    let late = c1.recv_json().await?;
    assert_eq!(late["id"], key, "{late}");
    assert_eq!(late["error"]["data"]["code"], "already_resolved", "{late}");
    rig.anchor.expect_nothing_pending().await?;

    // Codex announces the settlement; every subscriber hears it under the id it knows.
    rig.anchor
        .send_json(&json!({"method": "serverRequest/resolved", "params": {"threadId": thread, "requestId": 42}}))
        .await?;
    for c in [&mut c1, &mut c2] {
        let resolved = c.recv_json().await?;
        assert_eq!(resolved["method"], "serverRequest/resolved", "{resolved}");
        assert_eq!(resolved["params"]["requestId"], key, "{resolved}");
    }
    bystander.expect_nothing_pending().await?;
    Ok(())
}

#[tokio::test]
async fn rule4_threadless_server_request_goes_to_every_client() -> Result<()> {
    let orbit = orbit()?;
    let mut rig = orbit.rig("asker").await?;
    let s2 = orbit.web_session(&rig.web.user_id).await?;
    let (mut c2, _, _) = orbit.client(&s2).await?;
    rig.client.subscribe(&unique("other"), None).await?;

    rig.anchor
        .send_json(&request(
            json!("q1"),
            "mcpServer/elicitation/request",
            json!({"message": "ok?"}),
        ))
        .await?;
    let p1 = rig.client.recv_json().await?;
    let p2 = c2.recv_json().await?;
    assert_eq!(p1["method"], "mcpServer/elicitation/request", "{p1}");
    assert_eq!(p1["id"], p2["id"], "{p1} {p2}");

    // A client that connects while it is open is asked too.
    let s3 = orbit.web_session(&rig.web.user_id).await?;
    let (mut c3, _, _) = orbit.client(&s3).await?;
    let p3 = c3.recv_json().await?;
    assert_eq!(
        p3["id"], p1["id"],
        "a late client still gets the open request: {p3}"
    );

    c3.send_json(&json!({"id": p3["id"], "result": {"action": "accept"}}))
        .await?;
    let answer = rig.anchor.recv_json().await?;
    assert_eq!(answer["id"], "q1", "{answer}");
    // A thread-less request was shown to every client: every client hears it was answered.
    for c in [&mut rig.client, &mut c2, &mut c3] {
        assert_eq!(c.recv_json().await?["type"], "orbit.answered");
    }
    c2.send_json(&json!({"id": p2["id"], "result": {"action": "decline"}}))
        .await?;
    assert_eq!(
        c2.recv_json().await?["error"]["data"]["code"],
        "already_resolved"
    );
    rig.anchor.expect_nothing_pending().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Rule 5: notifications fan out by thread
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn rule5_notifications_reach_the_threads_subscribers_and_threadless_reach_all() -> Result<()>
{
    let orbit = orbit()?;
    let mut rig = orbit.rig("fan").await?;
    let s2 = orbit.web_session(&rig.web.user_id).await?;
    let s3 = orbit.web_session(&rig.web.user_id).await?;
    let (mut c2, _, _) = orbit.client(&s2).await?;
    let (mut c3, _, _) = orbit.client(&s3).await?;
    let mut c1 = rig.client;
    let (t1, t2) = (unique("t1"), unique("t2"));
    c1.subscribe(&t1, None).await?;
    c2.subscribe(&t2, None).await?;

    rig.anchor.send_json(&thread_note(&t1, 1)).await?;
    rig.anchor.send_json(&thread_note(&t2, 2)).await?;
    // `thread/started` names its thread as params.thread.id.
    rig.anchor
        .send_json(
            &json!({"method": "thread/started", "params": {"thread": {"id": t1, "cwd": "/"}}}),
        )
        .await?;
    rig.anchor
        .send_json(&json!({"method": "account/rateLimits/updated", "params": {"x": 1}}))
        .await?;

    let (_, c1_frames) = c1
        .collect_until("the thread-less notification", |f| {
            f["method"] == "account/rateLimits/updated"
        })
        .await?;
    let (_, c2_frames) = c2
        .collect_until("the thread-less notification", |f| {
            f["method"] == "account/rateLimits/updated"
        })
        .await?;
    let (_, c3_frames) = c3
        .collect_until("the thread-less notification", |f| {
            f["method"] == "account/rateLimits/updated"
        })
        .await?;
    let threads = |frames: &[Value]| -> Vec<String> {
        frames
            .iter()
            .map(|f| {
                f["params"]["threadId"]
                    .as_str()
                    .or(f["params"]["thread"]["id"].as_str())
                    .unwrap_or("?")
                    .to_string()
            })
            .collect()
    };
    assert_eq!(
        threads(&c1_frames),
        vec![t1.clone(), t1.clone()],
        "{}",
        summarize(&c1_frames)
    );
    assert_eq!(
        threads(&c2_frames),
        vec![t2.clone()],
        "{}",
        summarize(&c2_frames)
    );
    assert!(
        c3_frames.is_empty(),
        "unsubscribed client: {}",
        summarize(&c3_frames)
    );

    // After unsubscribing, the thread's traffic stops.
    c1.send_json(&json!({"type": "orbit.unsubscribe", "threadId": t1}))
        .await?;
    c1.expect_nothing_pending().await?;
    rig.anchor.send_json(&thread_note(&t1, 3)).await?;
    rig.anchor.expect_nothing_pending().await?;
    c1.expect_nothing_pending().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Rule 6: order
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn rule6_five_hundred_frames_each_way_arrive_in_order() -> Result<()> {
    const N: u64 = 500;
    let orbit = orbit()?;
    let mut rig = orbit.rig("order").await?;
    let thread = unique("ordered");
    rig.client.subscribe(&thread, None).await?;

    // Anchor → client: numbered thread notifications, interleaved with thread-less ones.
    for n in 0..N {
        rig.anchor.send_json(&thread_note(&thread, n)).await?;
        if n % 50 == 0 {
            rig.anchor
                .send_json(&json!({"method": "tick", "params": {"n": n}}))
                .await?;
        }
    }
    let mut last_seq = 0;
    let mut expected = 0;
    let mut ticks = 0;
    while expected < N {
        let frame = rig.client.recv_json().await?;
        if frame["method"] == "tick" {
            assert_eq!(
                frame["params"]["n"].as_u64(),
                expected.checked_sub(1),
                "a tick follows the notification sent just before it: {frame}"
            );
            ticks += 1;
            continue;
        }
        assert_eq!(
            frame["params"]["n"], expected,
            "notification {expected} is next: {frame}"
        );
        let seq = frame["seq"].as_u64().unwrap_or_default();
        assert_eq!(seq, last_seq + 1, "seq strictly increasing by one: {frame}");
        last_seq = seq;
        expected += 1;
    }
    assert_eq!(ticks, N / 50);

    // Client → anchor: requests in order, and responses back in order.
    for n in 0..N {
        rig.client
            .send_json(&request(json!(n), "echo", json!({"n": n})))
            .await?;
    }
    for n in 0..N {
        let r = rig.anchor.recv_json().await?;
        assert_eq!(r["params"]["n"], n, "request {n} is next: {r}");
        rig.anchor
            .send_json(&json!({"id": r["id"], "result": {"n": n}}))
            .await?;
    }
    for n in 0..N {
        let r = rig.client.recv_json().await?;
        assert_eq!(r["id"], n, "response {n} is next: {r}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Rule 8: limits and bad input
// ---------------------------------------------------------------------------------------------

/// Each bad frame, and the `orbit.error` code it must get.
const BAD_FRAMES: &[(&str, &str)] = &[
    ("{", "malformed_json"),
    ("not json at all", "malformed_json"),
    ("", "malformed_json"),
    (r#"{"method":"m","params":{}"#, "malformed_json"),
    ("[1,2,3]", "not_an_object"),
    ("42", "not_an_object"),
    (r#""a string""#, "not_an_object"),
    ("null", "not_an_object"),
    (r#"{"type":"orbit.no-such-frame"}"#, "unknown_type"),
    (r#"{"type":17}"#, "unknown_type"),
    (r#"{"type":"orbit.subscribe"}"#, "bad_frame"),
    (r#"{"type":"orbit.subscribe","threadId":""}"#, "bad_frame"),
    (
        r#"{"type":"orbit.subscribe","threadId":"t","sinceSeq":-1}"#,
        "bad_frame",
    ),
    (r#"{"type":"orbit.subscribe","threadId":42}"#, "bad_frame"),
    (r#"{"type":"orbit.unsubscribe"}"#, "bad_frame"),
    (r#"{"hello":"world"}"#, "invalid_message"),
    (r#"{"id":true,"method":"m"}"#, "invalid_message"),
    (r#"{"id":{},"method":"m"}"#, "invalid_message"),
    (r#"{"id":1,"method":"m","result":{}}"#, "invalid_message"),
    (r#"{"result":{}}"#, "invalid_message"),
];

async fn assert_bad_frames_refused(ws: &mut Ws) -> Result<()> {
    for (text, code) in BAD_FRAMES {
        ws.send_text(*text).await?;
        let e = ws.recv_json().await?;
        assert_eq!(
            e["type"], "orbit.error",
            "{} sent {text:?}, got {e}",
            ws.label
        );
        assert_eq!(e["code"], *code, "{} sent {text:?}, got {e}", ws.label);
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
    }
    Ok(())
}

#[tokio::test]
async fn rule8_bad_frames_get_orbit_error_and_the_socket_keeps_working() -> Result<()> {
    let orbit = orbit()?;
    let mut rig = orbit.rig("garbage").await?;
    assert_bad_frames_refused(&mut rig.client).await?;
    assert_bad_frames_refused(&mut rig.anchor).await?;
    // anchor.hello is for anchors, subscriptions for clients.
    rig.client.send_control(&anchor_hello("x", "x")).await?;
    rig.client.recv_orbit_error("bad_frame").await?;
    rig.anchor
        .send_json(&json!({"type": "orbit.subscribe", "threadId": "t"}))
        .await?;
    rig.anchor.recv_orbit_error("bad_frame").await?;
    // An anchor cannot claim another anchor's id.
    rig.anchor
        .send_control(&anchor_hello("someone-else", "x"))
        .await?;
    rig.anchor.recv_orbit_error("bad_frame").await?;

    // Nothing was wedged: the relay still works both ways.
    let thread = unique("after-garbage");
    rig.client.subscribe(&thread, None).await?;
    rig.client
        .send_json(&request(json!(1), "thread/list", json!({})))
        .await?;
    let r = rig.anchor.recv_json().await?;
    assert_eq!(r["method"], "thread/list", "{r}");
    rig.anchor.send_json(&thread_note(&thread, 1)).await?;
    assert_eq!(rig.client.recv_json().await?["params"]["n"], 1);
    Ok(())
}

#[tokio::test]
async fn rule8_binary_frame_gets_orbit_error_and_the_socket_stays_open() -> Result<()> {
    let orbit = orbit()?;
    let mut rig = orbit.rig("binary").await?;
    for ws in [&mut rig.client, &mut rig.anchor] {
        ws.send_binary(br#"{"type":"ping"}"#.to_vec()).await?;
        let e = ws.recv_json().await?;
        assert_eq!(e["type"], "orbit.error", "{}: {e}", ws.label);
        assert_eq!(e["code"], "binary_frame", "{}: {e}", ws.label);
        ws.expect_nothing_pending().await?;
    }
    Ok(())
}

/// A JSON-RPC request of exactly `size` bytes.
fn request_of_size(id: u64, size: usize) -> String {
    let head = format!(r#"{{"id":{id},"method":"echo","params":{{"pad":""#);
    let tail = r#""}}"#;
    let pad = size.saturating_sub(head.len() + tail.len());
    let text = format!("{head}{}{tail}", "x".repeat(pad));
    debug_assert_eq!(text.len(), size);
    text
}

#[tokio::test]
async fn rule8_oversized_frame_is_refused_with_frame_too_large_and_socket_stays_open() -> Result<()>
{
    let limit = orbit_tests::orbit_protocol::limits::MAX_FRAME_BYTES;
    let orbit = orbit()?;
    let mut rig = orbit.rig("big").await?;
    rig.client.send_text(request_of_size(1, limit + 1)).await?;
    let e = rig.client.recv_json().await?;
    assert_eq!(e["type"], "orbit.error", "{e}");
    assert_eq!(e["code"], "frame_too_large", "{e}");
    rig.client.expect_nothing_pending().await?;
    rig.anchor.expect_nothing_pending().await?;

    // Far over the limit too, and from an anchor.
    rig.anchor.send_text(request_of_size(2, 3 * limit)).await?;
    let e = rig.anchor.recv_json().await?;
    assert_eq!(e["code"], "frame_too_large", "{e}");
    rig.anchor.expect_nothing_pending().await?;
    rig.client.expect_nothing_pending().await?;
    Ok(())
}

#[tokio::test]
async fn rule8_frame_at_the_limit_is_relayed_whole() -> Result<()> {
    let limit = orbit_tests::orbit_protocol::limits::MAX_FRAME_BYTES;
    let orbit = orbit()?;
    let mut rig = orbit.rig("edge").await?;
    let text = request_of_size(9, limit);
    rig.client.send_text(text.clone()).await?;
    let got = rig.anchor.recv_json().await?;
    let sent: Value = serde_json::from_str(&text)?;
    ensure!(
        got["params"] == sent["params"],
        "the {limit}-byte request reached the anchor whole (got {} bytes of params)",
        got["params"].to_string().len()
    );
    Ok(())
}

/// workerd itself refuses WebSocket messages over 32 MiB (33,554,432 bytes): it closes the
/// socket with 1009 "Message is too large: N > 33554432" before the Worker sees the frame, so
/// Orbit cannot answer with `orbit.error` there. Between 1 MiB and 32 MiB Orbit answers
/// `frame_too_large` (test above). This pins the runtime's behaviour: the refusal is explicit
/// (a close code with a reason, not a silent drop), only that socket is affected, and the
/// user's hub keeps working.
#[tokio::test]
async fn rule8_frame_beyond_the_runtime_limit_closes_only_that_socket_with_1009() -> Result<()> {
    let orbit = orbit()?;
    let mut rig = orbit.rig("huge").await?;
    let text = request_of_size(3, (32 << 20) + 1024);
    // workerd stops reading once it has seen the frame's length, so the send may not finish.
    rig.client.timeout = Duration::from_secs(3);
    let _ = rig.client.send_text(text).await;
    rig.client.timeout = orbit_tests::DEFAULT_TIMEOUT;
    let (close, frames) = rig.client.recv_close().await?;
    assert_eq!(
        close.as_ref().map(|c| c.0),
        Some(1009),
        "closed as too big ({close:?}); frames first: {}",
        summarize(&frames)
    );
    // Nothing reached the anchor and the hub is not wedged.
    rig.anchor.expect_nothing_pending().await?;
    let (mut again, _, _) = orbit.client(&rig.web).await?;
    again
        .send_json(&request(json!(4), "thread/list", json!({})))
        .await?;
    assert_eq!(rig.anchor.recv_json().await?["method"], "thread/list");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Issue 13 item 1: a rogue sibling anchor (a second, phished or compromised machine of the same
// user, with a real token) is not trusted like the anchor a thread lives on.
// ---------------------------------------------------------------------------------------------

/// A user with a real anchor and a rogue one, both paired and connected (the rogue announces
/// itself under the real one's name), and a client whose queue is empty.
struct Siblings {
    client: Ws,
    real: Ws,
    rogue: Ws,
    real_id: String,
    rogue_id: String,
}

async fn siblings(orbit: &Orbit) -> Result<Siblings> {
    let web = orbit.new_user().await?;
    let real_session = orbit.pair_anchor(&web.user_id, "real laptop").await?;
    let rogue_session = orbit.pair_anchor(&web.user_id, "rogue box").await?;
    let (real_id, rogue_id) = (
        real_session.anchor()?.to_string(),
        rogue_session.anchor()?.to_string(),
    );
    let real = orbit.online_anchor(&real_session, "real laptop").await?;
    let rogue = orbit.online_anchor(&rogue_session, "real laptop").await?;
    let (client, _, _) = orbit.client(&web).await?;
    Ok(Siblings {
        client,
        real,
        rogue,
        real_id,
        rogue_id,
    })
}

/// The client starts a thread on the real anchor, which answers with `thread`.
async fn start_on_real(s: &mut Siblings, thread: &str) -> Result<()> {
    s.client
        .send_json(&request(
            json!("start"),
            "thread/start",
            json!({"anchorId": s.real_id, "cwd": "/"}),
        ))
        .await?;
    let start = s.real.recv_json().await?;
    s.real
        .send_json(&json!({"id": start["id"], "result": {"thread": {"id": thread}}}))
        .await?;
    let answer = s.client.recv_json().await?;
    assert_eq!(answer["id"], "start", "{answer}");
    Ok(())
}

#[tokio::test]
async fn a_rogue_sibling_anchor_cannot_take_over_another_anchors_thread_with_turn_started(
) -> Result<()> {
    let orbit = orbit()?;
    let mut s = siblings(orbit).await?;
    let thread = unique("victim");
    start_on_real(&mut s, &thread).await?;
    s.client.subscribe(&thread, None).await?;

    // The rogue claims the thread: its turn/started is refused, never shown as the thread's.
    s.rogue
        .send_json(&json!({"method": "turn/started",
                           "params": {"threadId": thread, "turn": {"id": "evil", "items": []}}}))
        .await?;
    let refused = s.rogue.recv_json().await?;
    assert_eq!(refused["type"], "orbit.error", "{refused}");
    assert_eq!(refused["code"], "thread_anchor_mismatch", "{refused}");
    s.client.expect_nothing_pending().await?;

    // The user's next prompt still goes to the machine the thread lives on.
    s.client
        .send_json(&request(
            json!(2),
            "turn/start",
            json!({"threadId": thread, "input": [{"type": "text", "text": "hi"}]}),
        ))
        .await?;
    let turn = s.real.recv_json().await?;
    assert_eq!(turn["method"], "turn/start", "{turn}");
    s.rogue.expect_nothing_pending().await?;

    // The real anchor's traffic flows, stamped with its id.
    s.real.send_json(&thread_note(&thread, 1)).await?;
    let note = s.client.recv_json().await?;
    assert_eq!(note["params"]["threadId"], thread.as_str(), "{note}");
    assert_eq!(note["origin"]["anchorId"], s.real_id.as_str(), "{note}");
    Ok(())
}

#[tokio::test]
async fn a_rogue_sibling_anchor_cannot_answer_a_request_routed_to_another_anchor() -> Result<()> {
    let orbit = orbit()?;
    let mut s = siblings(orbit).await?;

    // A request to the real anchor; the rogue answers it first, with its very return address
    // (as a rogue that learnt the client's connection id from a request of its own would).
    s.client
        .send_json(&request(
            json!(8),
            "thread/start",
            json!({"anchorId": s.real_id, "cwd": "/"}),
        ))
        .await?;
    let start = s.real.recv_json().await?;
    let stolen = unique("stolen");
    s.rogue
        .send_json(&json!({"id": start["id"], "result": {"thread": {"id": stolen}}}))
        .await?;
    let refused = s.rogue.recv_json().await?;
    assert_eq!(refused["type"], "orbit.error", "{refused}");
    assert_eq!(refused["code"], "unknown_response_id", "{refused}");
    s.client.expect_nothing_pending().await?;

    // The real answer goes home, and the thread is the real anchor's.
    let thread = unique("real");
    s.real
        .send_json(&json!({"id": start["id"], "result": {"thread": {"id": thread}}}))
        .await?;
    let answer = s.client.recv_json().await?;
    assert_eq!(answer["id"], 8, "{answer}");
    assert_eq!(
        answer["result"]["thread"]["id"],
        thread.as_str(),
        "{answer}"
    );

    // An answer to the real anchor's approval reaches the real anchor only; the rogue cannot
    // settle it by answering codex's id itself.
    s.client.subscribe(&thread, None).await?;
    s.real
        .send_json(&request(
            json!(42),
            "item/commandExecution/requestApproval",
            json!({"threadId": thread, "itemId": "i1", "command": "make"}),
        ))
        .await?;
    let prompt = s.client.recv_json().await?;
    s.rogue
        .send_json(&json!({"id": 42, "result": {"decision": "accept"}}))
        .await?;
    assert_eq!(
        s.rogue.recv_json().await?["code"],
        "unknown_response_id",
        "a server request is answered by clients, not by a sibling"
    );
    s.client
        .send_json(&json!({"id": prompt["id"], "result": {"decision": "decline"}}))
        .await?;
    let forwarded = s.real.recv_json().await?;
    assert_eq!(
        forwarded,
        json!({"id": 42, "result": {"decision": "decline"}})
    );
    s.rogue.expect_nothing_pending().await?;
    Ok(())
}

#[tokio::test]
async fn server_requests_reach_clients_stamped_with_the_asking_anchor() -> Result<()> {
    let orbit = orbit()?;
    let mut s = siblings(orbit).await?;

    // A thread-less question from each; the rogue's claims to come from the real anchor.
    s.real
        .send_json(&request(
            json!("q1"),
            "item/tool/requestUserInput",
            json!({"questions": [{"id": "q", "question": "Continue?"}]}),
        ))
        .await?;
    let mut forged = request(
        json!("q2"),
        "item/tool/requestUserInput",
        json!({"questions": [{"id": "q", "question": "Your password?"}]}),
    );
    forged["origin"] = json!({"anchorId": s.real_id, "name": "real laptop"});
    s.rogue.send_json(&forged).await?;
    s.rogue
        .send_json(&json!({"method": "account/updated", "params": {}}))
        .await?;

    let asked = s.client.recv_json().await?;
    assert_eq!(
        asked["origin"],
        json!({"anchorId": s.real_id, "name": "real laptop"}),
        "{asked}"
    );
    let phish = s.client.recv_json().await?;
    assert_eq!(
        phish["params"]["questions"][0]["question"],
        "Your password?"
    );
    // Named by the id from its token and the name the user paired it under, whatever it says.
    assert_eq!(
        phish["origin"],
        json!({"anchorId": s.rogue_id, "name": "rogue box"}),
        "{phish}"
    );
    let text = phish.to_string();
    assert_eq!(text.matches("\"origin\"").count(), 1, "{text}");
    let note = s.client.recv_json().await?;
    assert_eq!(note["method"], "account/updated", "{note}");
    assert_eq!(note["origin"]["anchorId"], s.rogue_id.as_str(), "{note}");
    Ok(())
}

//! SPEC §1 rule 7 end to end: thread frames are numbered per thread, logged in the Durable
//! Object's storage and replayed after `sinceSeq` with no gap and no duplicate, also across a
//! restart of workerd on the same state.

use anyhow::{anyhow, Result};
use orbit_protocol::close::CLOSE_STORAGE_FAILED;
use orbit_protocol::dev::DevHubFaultRequest;
use orbit_tests::{
    anchor_hello, random_hex, summarize, thread_note, unique, Orbit, Session, TempDir, Ws,
};
use serde_json::{json, Value};

fn orbit() -> Result<&'static Orbit> {
    Orbit::shared()
}

fn seq_of(frame: &Value) -> Result<u64> {
    frame["seq"]
        .as_u64()
        .ok_or_else(|| anyhow!("a thread frame without a numeric seq: {frame}"))
}

/// Receives thread notifications `from..=to` (by `params.n`), checking `seq == n`.
async fn expect_notes(ws: &mut Ws, from: u64, to: u64) -> Result<()> {
    for n in from..=to {
        let frame = ws.recv_json().await?;
        assert_eq!(
            frame["params"]["n"], n,
            "{}: notification {n} is next: {frame}",
            ws.label
        );
        assert_eq!(seq_of(&frame)?, n, "{}: {frame}", ws.label);
    }
    Ok(())
}

#[tokio::test]
async fn rule7_replay_after_reconnect_has_no_gap_and_no_duplicate() -> Result<()> {
    let orbit = orbit()?;
    let rig = orbit.rig("replayer").await?;
    let thread = unique("long-turn");
    let mut client = rig.client;
    let mut anchor = rig.anchor;
    client.subscribe(&thread, None).await?;

    // The client reads 30 of 100 frames, then its connection drops mid-stream.
    for n in 1..=100 {
        anchor.send_json(&thread_note(&thread, n)).await?;
    }
    expect_notes(&mut client, 1, 30).await?;
    client.close().await?;
    anchor.expect_nothing_pending().await?;

    // While the client comes back and subscribes with its last seq, the anchor keeps going:
    // 150 frames before the subscribe is sent, 150 right after, so the subscription lands in
    // the middle of a stream.
    let live_thread = thread.clone();
    let (go, wait_for_go) = tokio::sync::oneshot::channel::<()>();
    let sender = tokio::spawn(async move {
        for n in 101..=250 {
            anchor.send_json(&thread_note(&live_thread, n)).await?;
        }
        wait_for_go.await?;
        for n in 251..=400 {
            anchor.send_json(&thread_note(&live_thread, n)).await?;
        }
        anyhow::Ok(anchor)
    });
    let (mut back, _, _) = orbit.client(&rig.web).await?;
    back.send_json(&json!({"type": "orbit.subscribe", "threadId": thread, "sinceSeq": 30}))
        .await?;
    let _ = go.send(());

    let mut expected = 31;
    let mut subscribed = None;
    while expected <= 400 || subscribed.is_none() {
        let frame = back.recv_json().await?;
        if frame["type"] == "orbit.subscribed" {
            assert_eq!(frame["threadId"], thread.as_str(), "{frame}");
            assert!(frame.get("truncated").is_none_or(|t| t == false), "{frame}");
            let seq = seq_of(&frame)?;
            assert_eq!(
                seq,
                expected - 1,
                "replay ends exactly where live delivery starts: {frame}"
            );
            subscribed = Some(seq);
            continue;
        }
        assert_eq!(
            frame["params"]["n"], expected,
            "no gap, no duplicate: {frame}"
        );
        assert_eq!(seq_of(&frame)?, expected, "{frame}");
        expected += 1;
    }
    let subscribed = subscribed.ok_or_else(|| anyhow!("no orbit.subscribed arrived"))?;
    assert!(
        subscribed >= 100,
        "the 70 frames sent while away were replayed ({subscribed})"
    );
    eprintln!(
        "replayed 31..={subscribed}, then live {}..=400",
        subscribed + 1
    );
    let mut anchor = sender.await??;
    anchor.expect_nothing_pending().await?;
    back.expect_nothing_pending().await?;
    Ok(())
}

#[tokio::test]
async fn rule7_since_seq_ahead_of_the_log_is_answered_truncated() -> Result<()> {
    let orbit = orbit()?;
    let mut rig = orbit.rig("ahead").await?;
    let thread = unique("short");
    for n in 1..=5 {
        rig.anchor.send_json(&thread_note(&thread, n)).await?;
    }
    rig.anchor.expect_nothing_pending().await?;

    let (subscribed, replayed) = rig.client.subscribe(&thread, Some(1000)).await?;
    assert!(replayed.is_empty(), "{}", summarize(&replayed));
    assert_eq!(
        subscribed["truncated"], true,
        "a client ahead of Orbit must reload: {subscribed}"
    );
    assert_eq!(subscribed["seq"], 5, "{subscribed}");

    // Up to date: nothing to replay, not truncated.
    let (subscribed, replayed) = rig.client.subscribe(&thread, Some(5)).await?;
    assert!(replayed.is_empty(), "{}", summarize(&replayed));
    assert!(
        subscribed.get("truncated").is_none_or(|t| t == false),
        "{subscribed}"
    );

    // From the start: everything, in order.
    let (subscribed, replayed) = rig.client.subscribe(&thread, Some(0)).await?;
    let ns: Vec<u64> = replayed
        .iter()
        .filter_map(|f| f["params"]["n"].as_u64())
        .collect();
    assert_eq!(ns, vec![1, 2, 3, 4, 5], "{}", summarize(&replayed));
    let seqs: Vec<u64> = replayed.iter().filter_map(|f| f["seq"].as_u64()).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    assert_eq!(subscribed["seq"], 5, "{subscribed}");
    Ok(())
}

/// A thread notification of about 900 KB.
fn large_note(thread_id: &str, n: u64) -> Value {
    json!({
        "method": "item/agentMessage/delta",
        "params": { "threadId": thread_id, "n": n, "delta": "x".repeat(900 * 1000) },
    })
}

#[tokio::test]
async fn replay_beyond_the_byte_budget_is_truncated_not_loaded_whole() -> Result<()> {
    let orbit = orbit()?;
    let mut rig = orbit.rig("large-frames").await?;
    let thread = unique("large");
    // 20 frames of ~900 KB: ~18 MB after seq 0, beyond the 8 MiB replay budget.
    for n in 1..=20 {
        rig.anchor.send_json(&large_note(&thread, n)).await?;
    }
    rig.anchor.expect_nothing_pending().await?;

    let (subscribed, replayed) = rig.client.subscribe(&thread, Some(0)).await?;
    assert!(replayed.is_empty(), "{}", summarize(&replayed));
    assert_eq!(
        subscribed["truncated"], true,
        "a replay beyond the budget must be a reload: {subscribed}"
    );
    assert_eq!(subscribed["seq"], 20, "{subscribed}");

    // The last five (~4.5 MB) fit: replayed whole, in order, not truncated.
    let (subscribed, replayed) = rig.client.subscribe(&thread, Some(15)).await?;
    let seqs: Vec<u64> = replayed.iter().filter_map(|f| f["seq"].as_u64()).collect();
    assert_eq!(seqs, vec![16, 17, 18, 19, 20], "{}", summarize(&replayed));
    assert!(
        subscribed.get("truncated").is_none_or(|t| t == false),
        "{subscribed}"
    );
    Ok(())
}

#[tokio::test]
async fn rule7_seq_is_per_thread_and_owned_by_orbit() -> Result<()> {
    let orbit = orbit()?;
    let mut rig = orbit.rig("numbers").await?;
    let (t1, t2) = (unique("a"), unique("b"));
    rig.client.subscribe(&t1, None).await?;
    rig.client.subscribe(&t2, None).await?;
    for n in 1..=3 {
        rig.anchor.send_json(&thread_note(&t1, n)).await?;
        // An anchor cannot choose the seq: Orbit replaces it.
        let mut note = thread_note(&t2, n);
        note["seq"] = json!(999);
        rig.anchor.send_json(&note).await?;
    }
    for n in 1..=3u64 {
        for thread in [&t1, &t2] {
            let frame = rig.client.recv_json().await?;
            assert_eq!(frame["params"]["threadId"], thread.as_str(), "{frame}");
            assert_eq!(seq_of(&frame)?, n, "each thread counts on its own: {frame}");
        }
    }
    // Thread-less notifications are not numbered.
    rig.anchor
        .send_json(&json!({"method": "x/y", "params": {}}))
        .await?;
    let frame = rig.client.recv_json().await?;
    assert!(frame.get("seq").is_none(), "{frame}");
    Ok(())
}

#[tokio::test]
async fn rule7_unresolved_server_requests_are_replayed_to_new_subscribers() -> Result<()> {
    let orbit = orbit()?;
    let mut rig = orbit.rig("pending").await?;
    let thread = unique("waiting");
    for n in 1..=3 {
        rig.anchor.send_json(&thread_note(&thread, n)).await?;
    }
    rig.anchor
        .send_json(&json!({
            "id": 77,
            "method": "item/fileChange/requestApproval",
            "params": {"threadId": thread, "itemId": "f1"},
        }))
        .await?;
    rig.anchor.expect_nothing_pending().await?;

    // Subscribing without sinceSeq: the open request is delivered, nothing else of the past.
    let (subscribed, before) = rig.client.subscribe(&thread, None).await?;
    assert_eq!(
        before.len(),
        1,
        "only the open request: {}",
        summarize(&before)
    );
    assert_eq!(
        before[0]["method"], "item/fileChange/requestApproval",
        "{}",
        before[0]
    );
    assert_eq!(seq_of(&before[0])?, 4);
    assert_eq!(subscribed["seq"], 4, "{subscribed}");

    // A second client that replays from seq 2 gets 3 and the request, once.
    let s2 = orbit.web_session(&rig.web.user_id).await?;
    let (mut c2, _, _) = orbit.client(&s2).await?;
    let (_, replayed) = c2.subscribe(&thread, Some(2)).await?;
    let seqs: Vec<u64> = replayed.iter().filter_map(|f| f["seq"].as_u64()).collect();
    assert_eq!(seqs, vec![3, 4], "{}", summarize(&replayed));

    // Once answered, it is no longer handed to new subscribers as open.
    let key = before[0]["id"].clone();
    rig.client
        .send_json(&json!({"id": key, "result": {"decision": "accept"}}))
        .await?;
    let answer = rig.anchor.recv_json().await?;
    assert_eq!(answer["id"], 77, "{answer}");
    let s3 = orbit.web_session(&rig.web.user_id).await?;
    let (mut c3, _, _) = orbit.client(&s3).await?;
    let (_, before) = c3.subscribe(&thread, None).await?;
    assert!(
        before.is_empty(),
        "a settled request is not offered again: {}",
        summarize(&before)
    );
    Ok(())
}

#[tokio::test]
async fn state_survives_a_restart_of_workerd_and_replay_continues() -> Result<()> {
    let dir = TempDir::new("orbit-restart")?;
    let secret = random_hex(32);
    let mut orbit = Orbit::start_in(dir.path(), &secret)?;
    let rig = orbit.rig("survivor").await?;
    let (web, anchor_session, anchor_id) = (rig.web, rig.anchor_session, rig.anchor_id);
    let mut client = rig.client;
    let mut anchor = rig.anchor;
    let thread = unique("durable");
    client.subscribe(&thread, None).await?;
    for n in 1..=5 {
        anchor.send_json(&thread_note(&thread, n)).await?;
    }
    anchor
        .send_json(&json!({
            "id": "approve-1",
            "method": "item/commandExecution/requestApproval",
            "params": {"threadId": thread, "command": "cargo test"},
        }))
        .await?;
    expect_notes(&mut client, 1, 5).await?;
    let request = client.recv_json().await?;
    assert_eq!(seq_of(&request)?, 6, "{request}");
    let key = request["id"].clone();

    orbit.restart()?;
    // The old sockets died with the old workerd.
    client.recv_close().await?;
    anchor.recv_close().await?;

    // Same tokens (same secret, sessions in the persisted D1) still open sockets; the paired
    // anchor is listed, offline.
    let (mut client, _, anchors) = orbit.client(&web).await?;
    assert_eq!(
        anchors["anchors"][0]["anchorId"],
        anchor_id.as_str(),
        "{anchors}"
    );
    assert_eq!(anchors["anchors"][0]["online"], false, "{anchors}");
    let (subscribed, replayed) = client.subscribe(&thread, Some(3)).await?;
    let seqs: Vec<u64> = replayed.iter().filter_map(|f| f["seq"].as_u64()).collect();
    assert_eq!(
        seqs,
        vec![4, 5, 6],
        "replay from the persisted log: {}",
        summarize(&replayed)
    );
    assert_eq!(
        replayed[2]["id"], key,
        "the open request kept its key: {}",
        replayed[2]
    );
    assert_eq!(subscribed["seq"], 6, "{subscribed}");

    // The anchor comes back; numbering continues; the open request can still be answered.
    let mut anchor = orbit.anchor(&anchor_session).await?;
    anchor
        .send_control(&anchor_hello(&anchor_id, "survivor"))
        .await?;
    client.recv_type("orbit.anchor-connected").await?;
    client.recv_type("orbit.anchor-connected").await?;
    anchor.send_json(&thread_note(&thread, 7)).await?;
    let next = client.recv_json().await?;
    assert_eq!(
        seq_of(&next)?,
        7,
        "no seq is reused after a restart: {next}"
    );
    client
        .send_json(&json!({"id": key, "result": {"decision": "accept"}}))
        .await?;
    let answer = anchor.recv_json().await?;
    assert_eq!(answer["id"], "approve-1", "{answer}");
    // The thread stays bound to its anchor: a request about it needs no anchorId.
    client
        .send_json(&json!({"id": 1, "method": "turn/start", "params": {"threadId": thread}}))
        .await?;
    assert_eq!(anchor.recv_json().await?["method"], "turn/start");
    drop(orbit);
    Ok(())
}

#[tokio::test]
async fn idle_threads_are_forgotten_but_their_seq_is_not_reused() -> Result<()> {
    // Threads idle for 2 s are forgotten at the hub's next wake.
    let mut orbit = Orbit::start_with(&[("ORBIT_IDLE_THREAD_SECONDS", "2")])?;
    let rig = orbit.rig("idle").await?;
    let (web, anchor_session, anchor_id) = (rig.web, rig.anchor_session, rig.anchor_id);
    let mut client = rig.client;
    let mut anchor = rig.anchor;
    let thread = unique("quiet");
    client.subscribe(&thread, None).await?;
    for n in 1..=3 {
        anchor.send_json(&thread_note(&thread, n)).await?;
    }
    expect_notes(&mut client, 1, 3).await?;
    tokio::time::sleep(std::time::Duration::from_millis(3_500)).await;

    // A restart makes the hub wake; the idle thread's log is forgotten then.
    orbit.restart()?;
    client.recv_close().await?;
    anchor.recv_close().await?;
    let mut anchor = orbit.anchor(&anchor_session).await?;
    anchor
        .send_control(&anchor_hello(&anchor_id, "idle"))
        .await?;
    anchor.send_json(&thread_note(&thread, 4)).await?;
    anchor.expect_nothing_pending().await?;

    let (mut client, _, _) = orbit.client(&web).await?;
    let (subscribed, replayed) = client.subscribe(&thread, Some(1)).await?;
    assert!(replayed.is_empty(), "{}", summarize(&replayed));
    assert_eq!(
        subscribed["truncated"], true,
        "the forgotten frames cannot be replayed: {subscribed}"
    );
    assert_eq!(subscribed["seq"], 4, "{subscribed}");
    let (subscribed, replayed) = client.subscribe(&thread, Some(3)).await?;
    let seqs: Vec<u64> = replayed.iter().filter_map(|f| f["seq"].as_u64()).collect();
    assert_eq!(seqs, vec![4], "seq is not reused: {}", summarize(&replayed));
    assert!(
        subscribed.get("truncated").is_none_or(|t| t == false),
        "{subscribed}"
    );
    drop(orbit);
    Ok(())
}

/// A storage fault for `POST /__dev/hub-fault`.
fn storage_fault(fail_writes: u32, fail_reads: u32, empty_log: bool) -> DevHubFaultRequest {
    DevHubFaultRequest {
        fail_writes,
        fail_reads,
        empty_log,
        ..DevHubFaultRequest::default()
    }
}

/// Waits for the hub to close `ws` after a storage failure: close code 1011, and no frame
/// before it.
async fn expect_storage_reset(ws: &mut Ws) -> Result<()> {
    let (close, before) = ws.recv_close().await?;
    assert!(
        before.is_empty(),
        "{}: nothing of a failed batch is delivered: {}",
        ws.label,
        summarize(&before)
    );
    let code = close.as_ref().map(|(code, _)| *code);
    assert_eq!(code, Some(CLOSE_STORAGE_FAILED), "{}: {close:?}", ws.label);
    Ok(())
}

/// Opens an anchor socket again (with its hello) and a client socket. A connection that
/// arrives while the hub cannot read its state is refused, so each is tried a few times.
async fn reconnect(
    orbit: &Orbit,
    rig_web: &Session,
    anchor: &Session,
    id: &str,
) -> Result<(Ws, Ws)> {
    let mut last = None;
    for _ in 0..5 {
        match orbit.anchor(anchor).await {
            Ok(mut ws) => {
                ws.send_control(&anchor_hello(id, "faulty")).await?;
                ws.expect_nothing_pending().await?;
                for _ in 0..5 {
                    match orbit.client(rig_web).await {
                        Ok((client, _, _)) => return Ok((ws, client)),
                        Err(e) => last = Some(e),
                    }
                }
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| anyhow!("could not reconnect")))
}

/// The next thread notification on `ws` (skipping presence frames): its `n` and `seq`.
async fn next_note(ws: &mut Ws) -> Result<(u64, u64)> {
    loop {
        let frame = ws.recv_json().await?;
        if let Some(n) = frame["params"]["n"].as_u64() {
            return Ok((n, seq_of(&frame)?));
        }
    }
}

#[tokio::test]
async fn storage_write_failure_delivers_nothing_the_log_lacks_and_clients_resync() -> Result<()> {
    let orbit = orbit()?;
    let rig = orbit.rig("faulty").await?;
    let (mut client, mut anchor) = (rig.client, rig.anchor);
    let thread = unique("write-fault");
    client.subscribe(&thread, None).await?;
    for n in 1..=3 {
        anchor.send_json(&thread_note(&thread, n)).await?;
    }
    expect_notes(&mut client, 1, 3).await?;

    // The batch that would log note 4 fails: note 4 reaches no one, and every socket is
    // closed so that its peer resyncs.
    orbit
        .storage_fault(&rig.web.user_id, storage_fault(1, 0, false))
        .await?;
    anchor.send_json(&thread_note(&thread, 4)).await?;
    expect_storage_reset(&mut client).await?;
    expect_storage_reset(&mut anchor).await?;

    // Note 4's number stays taken, without a row: the client that saw 3 is told it missed
    // something (`truncated`, so it reloads the thread) instead of never learning of note 4.
    let (mut anchor, mut client) =
        reconnect(orbit, &rig.web, &rig.anchor_session, &rig.anchor_id).await?;
    let (subscribed, replayed) = client.subscribe(&thread, Some(3)).await?;
    assert!(replayed.is_empty(), "{}", summarize(&replayed));
    assert_eq!(subscribed["truncated"], true, "{subscribed}");
    assert_eq!(subscribed["seq"], 4, "{subscribed}");
    anchor.send_json(&thread_note(&thread, 5)).await?;
    let (n, seq) = next_note(&mut client).await?;
    assert_eq!(
        (n, seq),
        (5, 5),
        "numbering goes on after the lost frame's number"
    );

    // Everything any client saw is in the log, in the order it was seen; a replay across the
    // hole is refused, and one after it is whole.
    let (mut fresh, _, _) = orbit.client(&rig.web).await?;
    let (subscribed, replayed) = fresh.subscribe(&thread, Some(0)).await?;
    assert!(replayed.is_empty(), "{}", summarize(&replayed));
    assert_eq!(subscribed["truncated"], true, "{subscribed}");
    let (subscribed, replayed) = fresh.subscribe(&thread, Some(4)).await?;
    let logged: Vec<(u64, u64)> = replayed
        .iter()
        .filter_map(|f| Some((f["params"]["n"].as_u64()?, f["seq"].as_u64()?)))
        .collect();
    assert_eq!(logged, vec![(5, 5)]);
    assert!(
        subscribed.get("truncated").is_none_or(|t| t == false),
        "{subscribed}"
    );
    Ok(())
}

#[tokio::test]
async fn storage_read_failure_is_not_answered_as_an_empty_replay() -> Result<()> {
    let orbit = orbit()?;
    let mut rig = orbit.rig("unreadable").await?;
    let thread = unique("read-fault");
    for n in 1..=5 {
        rig.anchor.send_json(&thread_note(&thread, n)).await?;
    }
    rig.anchor.expect_nothing_pending().await?;

    orbit
        .storage_fault(&rig.web.user_id, storage_fault(0, 1, false))
        .await?;
    let (subscribed, replayed) = rig.client.subscribe(&thread, Some(2)).await?;
    assert!(replayed.is_empty(), "{}", summarize(&replayed));
    assert_eq!(
        subscribed["truncated"], true,
        "a replay that could not be read must make the client reload, not look complete: \
         {subscribed}"
    );
    assert_eq!(subscribed["seq"], 5, "{subscribed}");

    // Once storage reads again, the same subscribe replays.
    let (subscribed, replayed) = rig.client.subscribe(&thread, Some(2)).await?;
    let seqs: Vec<u64> = replayed.iter().filter_map(|f| f["seq"].as_u64()).collect();
    assert_eq!(seqs, vec![3, 4, 5], "{}", summarize(&replayed));
    assert!(
        subscribed.get("truncated").is_none_or(|t| t == false),
        "{subscribed}"
    );
    Ok(())
}

#[tokio::test]
async fn seq_is_never_reused_after_the_log_is_emptied_or_trimmed() -> Result<()> {
    let orbit = orbit()?;
    let rig = orbit.rig("forgetful").await?;
    let (mut client, mut anchor) = (rig.client, rig.anchor);
    let thread = unique("emptied");
    client.subscribe(&thread, None).await?;
    for n in 1..=3 {
        anchor.send_json(&thread_note(&thread, n)).await?;
    }
    expect_notes(&mut client, 1, 3).await?;

    // The log loses every row, and the hub must rebuild its state from storage (a failed
    // write resets it), whose first read of the threads fails as well.
    orbit
        .storage_fault(&rig.web.user_id, storage_fault(1, 1, true))
        .await?;
    anchor.send_json(&thread_note(&thread, 4)).await?;
    expect_storage_reset(&mut client).await?;
    expect_storage_reset(&mut anchor).await?;

    let (mut anchor, mut client) =
        reconnect(orbit, &rig.web, &rig.anchor_session, &rig.anchor_id).await?;
    let (subscribed, _) = client.subscribe(&thread, None).await?;
    assert_eq!(
        subscribed["seq"], 4,
        "the thread's numbering survives an empty log, with note 4's number kept: {subscribed}"
    );
    anchor.send_json(&thread_note(&thread, 5)).await?;
    let (n, seq) = next_note(&mut client).await?;
    assert_eq!(n, 5);
    assert!(
        seq > 4,
        "seq {seq} was already given to a frame (3 was seen, 4 lost)"
    );
    Ok(())
}

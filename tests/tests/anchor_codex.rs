//! The whole path with the real parts: a WebSocket client → Orbit (workerd) → the `anchor`
//! binary → the real `codex app-server` → the mock model server, and back (SPEC §1, §3).
//!
//! Each test gets its own user, anchor, codex home and mock model; they share one Orbit. The
//! mock's behaviour is chosen by a directive in the prompt (see `orbit_tests::mock_model`).
//! Runs inside a private network namespace (`make test` uses `unshare -n`).

use std::time::Duration;

use anyhow::{anyhow, ensure, Result};
use orbit_tests::anchor::{process_alive, signal_pid, AnchorRig};
use orbit_tests::codex::require_private_netns;
use orbit_tests::{Orbit, Ws};
use serde_json::{json, Value};

const READY: Duration = Duration::from_secs(30);

/// A rig whose anchor is connected with codex ready, and a client socket of its user.
async fn ready_rig(name: &str) -> Result<(AnchorRig, Ws)> {
    require_private_netns()?;
    let orbit = Orbit::shared()?;
    let rig = AnchorRig::start(orbit, name).await?;
    rig.anchor
        .wait_status("connected with codex ready", READY, |s| {
            s["orbit"]["connected"] == true && s["codex"]["state"] == "ready"
        })
        .await?;
    let (mut client, _, _) = orbit.client(&rig.web).await?;
    client.set_timeout(Duration::from_secs(30));
    Ok((rig, client))
}

/// Sends a request and returns its answer (skipping other frames).
async fn call(client: &mut Ws, id: &str, method: &str, params: Value) -> Result<Value> {
    client
        .send_json(&json!({"id": id, "method": method, "params": params}))
        .await?;
    client
        .recv_until(&format!("the answer to {method}"), |f| f["id"] == id)
        .await
}

/// Starts a thread in the rig's workspace (approvals on request) and subscribes to it.
async fn start_thread(rig: &AnchorRig, client: &mut Ws) -> Result<String> {
    let answer = call(
        client,
        "thread",
        "thread/start",
        json!({
            "cwd": rig.home.workspace(),
            "approvalPolicy": "on-request",
            "sandbox": "workspace-write",
        }),
    )
    .await?;
    let thread_id = answer["result"]["thread"]["id"]
        .as_str()
        .ok_or_else(|| anyhow!("thread/start answered without a thread id: {answer}"))?
        .to_string();
    client
        .send_json(&json!({"type": "orbit.subscribe", "threadId": thread_id}))
        .await?;
    client.recv_type("orbit.subscribed").await?;
    Ok(thread_id)
}

/// Starts a turn with `text`; returns the turn id.
async fn start_turn(client: &mut Ws, thread_id: &str, text: &str) -> Result<String> {
    let answer = call(
        client,
        "turn",
        "turn/start",
        json!({"threadId": thread_id, "input": [{"type": "text", "text": text}]}),
    )
    .await?;
    answer["result"]["turn"]["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("turn/start answered without a turn id: {answer}"))
}

/// Frames of the thread up to and including `turn/completed`.
async fn until_turn_completed(client: &mut Ws) -> Result<(Value, Vec<Value>)> {
    client
        .collect_until("turn/completed", |f| f["method"] == "turn/completed")
        .await
}

fn deltas(frames: &[Value]) -> String {
    frames
        .iter()
        .filter(|f| f["method"] == "item/agentMessage/delta")
        .filter_map(|f| f["params"]["delta"].as_str())
        .collect()
}

/// The audit log's lines of one kind.
fn audit(rig: &AnchorRig, kind: &str) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(rig.paired.state_dir().join("audit.jsonl"))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["kind"] == kind)
        .collect())
}

#[tokio::test]
async fn a_turn_streams_its_deltas_to_the_subscribed_client_numbered_in_order() -> Result<()> {
    let (rig, mut client) = ready_rig("turn").await?;
    let thread_id = start_thread(&rig, &mut client).await?;
    start_turn(&mut client, &thread_id, "Say hello").await?;
    let (completed, frames) = until_turn_completed(&mut client).await?;
    assert_eq!(
        completed["params"]["turn"]["status"], "completed",
        "{completed}"
    );
    let text = deltas(&frames);
    assert!(
        text.contains("mock reply to: Say hello"),
        "the streamed deltas carry the model's text: {text:?}"
    );
    let seqs: Vec<u64> = frames
        .iter()
        .chain(std::iter::once(&completed))
        .filter(|f| f["params"]["threadId"] == thread_id.as_str())
        .filter_map(|f| f["seq"].as_u64())
        .collect();
    ensure!(seqs.len() > 3, "thread frames are numbered: {seqs:?}");
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "seq increases by one, nothing missing: {seqs:?}"
    );
    assert_eq!(rig.mock.requests().len(), 1, "one model call");
    Ok(())
}

#[tokio::test]
async fn an_approved_command_runs_and_its_output_and_completion_reach_the_client() -> Result<()> {
    let (rig, mut client) = ready_rig("approve").await?;
    let thread_id = start_thread(&rig, &mut client).await?;
    start_turn(
        &mut client,
        &thread_id,
        "[mock:command echo approved-output > made-by-codex.txt && cat made-by-codex.txt]",
    )
    .await?;
    let ask = client
        .recv_until("the approval request", |f| {
            f["method"] == "item/commandExecution/requestApproval"
        })
        .await?;
    assert_eq!(ask["params"]["threadId"], thread_id.as_str());
    client
        .send_json(&json!({"id": ask["id"], "result": {"decision": "accept"}}))
        .await?;
    let (completed, frames) = until_turn_completed(&mut client).await?;
    assert_eq!(completed["params"]["turn"]["status"], "completed");
    assert!(
        frames
            .iter()
            .any(|f| f["method"] == "serverRequest/resolved"),
        "clients are told the approval is settled"
    );
    let file = std::fs::read_to_string(rig.home.workspace().join("made-by-codex.txt"))?;
    assert_eq!(file.trim(), "approved-output", "the command really ran");
    let outputs: String = frames
        .iter()
        .filter(|f| f["method"] == "item/completed")
        .filter(|f| f["params"]["item"]["type"] == "commandExecution")
        .filter_map(|f| f["params"]["item"]["aggregatedOutput"].as_str())
        .collect();
    assert!(
        outputs.contains("approved-output"),
        "the command's output reached the client: {outputs:?}"
    );
    let decisions = audit(&rig, "approval")?;
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert_eq!(
        decisions[0]["method"],
        "item/commandExecution/requestApproval"
    );
    assert_eq!(decisions[0]["outcome"], "accept");
    let request_id = &decisions[0]["params"]["requestId"];
    assert!(
        request_id.is_number() || request_id.is_string(),
        "the audit names codex's own request id: {decisions:?}"
    );
    // Every line codex wrote and every frame Orbit sent was read; nothing was refused.
    let status = rig.anchor.status().await?;
    assert_eq!(
        status["frames"],
        json!({
            "busy": 0, "codexExited": 0, "tooLarge": 0, "unreadableCodexLines": 0,
            "unreadableOrbitFrames": 0, "staleAnswers": 0, "droppedNotifications": 0,
            "droppedResponses": 0,
        }),
        "{status}"
    );
    Ok(())
}

#[tokio::test]
async fn a_declined_command_never_runs_and_the_turn_still_completes() -> Result<()> {
    let (rig, mut client) = ready_rig("decline").await?;
    let thread_id = start_thread(&rig, &mut client).await?;
    start_turn(
        &mut client,
        &thread_id,
        "[mock:command touch must-not-exist.txt]",
    )
    .await?;
    let ask = client
        .recv_until("the approval request", |f| {
            f["method"] == "item/commandExecution/requestApproval"
        })
        .await?;
    client
        .send_json(&json!({"id": ask["id"], "result": {"decision": "decline"}}))
        .await?;
    let (completed, _) = until_turn_completed(&mut client).await?;
    assert_eq!(completed["params"]["turn"]["status"], "completed");
    assert!(
        !rig.home.workspace().join("must-not-exist.txt").exists(),
        "a declined command does not run"
    );
    let decisions = audit(&rig, "approval")?;
    assert_eq!(decisions[0]["outcome"], "decline", "{decisions:?}");
    Ok(())
}

#[tokio::test]
async fn interrupting_a_turn_completes_it_as_interrupted() -> Result<()> {
    let (rig, mut client) = ready_rig("interrupt").await?;
    let thread_id = start_thread(&rig, &mut client).await?;
    let turn_id = start_turn(&mut client, &thread_id, "[mock:stall]").await?;
    client
        .recv_until("the first delta", |f| {
            f["method"] == "item/agentMessage/delta"
        })
        .await?;
    let answer = call(
        &mut client,
        "stop",
        "turn/interrupt",
        json!({"threadId": thread_id, "turnId": turn_id}),
    )
    .await?;
    assert!(answer.get("error").is_none(), "{answer}");
    let (completed, _) = until_turn_completed(&mut client).await?;
    assert_eq!(completed["params"]["turn"]["status"], "interrupted");
    drop(rig);
    Ok(())
}

#[tokio::test]
async fn a_model_error_fails_the_turn_with_an_error_notification() -> Result<()> {
    let (rig, mut client) = ready_rig("model-error").await?;
    let thread_id = start_thread(&rig, &mut client).await?;
    start_turn(&mut client, &thread_id, "[mock:error 500]").await?;
    let (completed, frames) = until_turn_completed(&mut client).await?;
    assert_eq!(
        completed["params"]["turn"]["status"], "failed",
        "{completed}"
    );
    assert!(
        frames.iter().any(|f| f["method"] == "error"),
        "an error notification explains the failure"
    );
    drop(rig);
    Ok(())
}

#[tokio::test]
async fn helpers_are_answered_by_the_anchor_and_refuse_paths_outside_the_roots() -> Result<()> {
    let (rig, mut client) = ready_rig("helpers").await?;
    let workspace = rig.home.workspace();
    std::fs::create_dir_all(workspace.join("project"))?;
    std::fs::write(
        workspace.join("project/notes.txt"),
        "hello from the workspace",
    )?;
    std::os::unix::fs::symlink("/etc", workspace.join("escape"))?;

    let dirs = call(
        &mut client,
        "dirs",
        "anchor.listDirs",
        json!({"path": workspace}),
    )
    .await?;
    let names: Vec<&str> = dirs["result"]["entries"]
        .as_array()
        .map(|e| e.iter().filter_map(|d| d["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(names.contains(&"project"), "{dirs}");

    let read = call(
        &mut client,
        "read",
        "anchor.file.read",
        json!({"path": workspace.join("project/notes.txt")}),
    )
    .await?;
    assert!(
        read["result"]
            .to_string()
            .contains("hello from the workspace"),
        "{read}"
    );

    for (id, path) in [
        (
            "dotdot",
            workspace.join("project/../../").display().to_string(),
        ),
        ("absolute", "/etc/passwd".to_string()),
        (
            "symlink",
            workspace.join("escape/passwd").display().to_string(),
        ),
    ] {
        let refused = call(&mut client, id, "anchor.file.read", json!({"path": path})).await?;
        assert_eq!(
            refused["error"]["data"]["code"], "path_not_allowed",
            "{id}: {refused}"
        );
        assert_eq!(refused["error"]["code"], -32001, "{id}: {refused}");
    }

    let info = call(&mut client, "info", "anchor.info", json!({})).await?;
    assert_eq!(info["result"]["codexVersion"], "0.169.0", "{info}");

    let calls = audit(&rig, "helper")?;
    assert!(calls.len() >= 6, "every helper call is audited: {calls:?}");
    assert!(
        calls
            .iter()
            .any(|c| c["outcome"] == "error:path_not_allowed"),
        "{calls:?}"
    );
    assert!(
        !std::fs::read_to_string(rig.paired.state_dir().join("audit.jsonl"))?
            .contains("hello from the workspace"),
        "file contents never reach the audit log"
    );
    Ok(())
}

#[tokio::test]
async fn codex_killed_mid_turn_is_restarted_clients_are_told_and_nothing_hangs() -> Result<()> {
    let (rig, mut client) = ready_rig("kill-codex").await?;
    let thread_id = start_thread(&rig, &mut client).await?;
    start_turn(&mut client, &thread_id, "[mock:stall]").await?;
    client
        .recv_until("the first delta", |f| {
            f["method"] == "item/agentMessage/delta"
        })
        .await?;
    let before = rig.anchor.status().await?;
    let pid = before["codex"]["pid"].as_u64().unwrap_or_default() as u32;

    // Freeze codex so the next request is certainly in flight when it dies.
    signal_pid(pid, "STOP").await?;
    client
        .send_json(&json!({"id": "in-flight", "method": "thread/list", "params": {}}))
        .await?;
    rig.anchor
        .wait_status("the request in flight", READY, |s| {
            s["codex"]["inFlight"].as_u64() >= Some(1)
        })
        .await?;
    signal_pid(pid, "KILL").await?;

    let failed = client
        .recv_until("the in-flight request's error", |f| f["id"] == "in-flight")
        .await?;
    assert_eq!(failed["error"]["data"]["code"], "codex_exited", "{failed}");
    let exited = client
        .recv_until("anchor/codexExited", |f| {
            f["method"] == "anchor/codexExited"
        })
        .await?;
    assert!(exited["params"]["restartInMs"].is_u64(), "{exited}");
    client
        .recv_until("anchor/codexRestarted", |f| {
            f["method"] == "anchor/codexRestarted"
        })
        .await?;
    let after = rig.anchor.status().await?;
    assert_eq!(after["codex"]["restarts"], 1, "{after}");
    assert_ne!(after["codex"]["pid"], before["codex"]["pid"]);
    assert!(!process_alive(pid), "the killed codex was reaped");

    // The new codex works: a fresh thread and turn complete.
    let thread_id = start_thread(&rig, &mut client).await?;
    start_turn(&mut client, &thread_id, "Are you back?").await?;
    let (completed, _) = until_turn_completed(&mut client).await?;
    assert_eq!(completed["params"]["turn"]["status"], "completed");
    Ok(())
}

/// Issue 12 item 2: an approval pending when codex dies is settled for the client (withdrawn,
/// with the id the client was given), is not offered again, and a late answer gets an error.
#[tokio::test]
async fn approval_of_a_killed_codex_is_withdrawn_and_a_late_answer_gets_an_error() -> Result<()> {
    let (rig, mut client) = ready_rig("kill-codex-approval").await?;
    let thread_id = start_thread(&rig, &mut client).await?;
    start_turn(&mut client, &thread_id, "[mock:command touch never.txt]").await?;
    let ask = client
        .recv_until("the approval request", |f| {
            f["method"] == "item/commandExecution/requestApproval"
        })
        .await?;
    let pid = rig.anchor.status().await?["codex"]["pid"]
        .as_u64()
        .unwrap_or_default() as u32;
    signal_pid(pid, "KILL").await?;

    let withdrawn = client
        .recv_until("the approval's withdrawal", |f| {
            f["method"] == "serverRequest/resolved"
        })
        .await?;
    assert_eq!(withdrawn["params"]["requestId"], ask["id"], "{withdrawn}");
    assert_eq!(withdrawn["params"]["reason"], "codex_exited", "{withdrawn}");
    assert_eq!(withdrawn["params"]["threadId"], thread_id.as_str());
    client
        .recv_until("anchor/codexExited", |f| {
            f["method"] == "anchor/codexExited"
        })
        .await?;

    // A late answer is refused, not dropped in silence.
    client
        .send_json(&json!({"id": ask["id"], "result": {"decision": "accept"}}))
        .await?;
    let refused = client
        .recv_until("the late answer's error", |f| {
            f["id"] == ask["id"] && f["error"].is_object()
        })
        .await?;
    assert_eq!(
        refused["error"]["data"]["code"], "already_resolved",
        "{refused}"
    );

    // A client that subscribes afresh is not offered it again.
    let (mut other, _, _) = Orbit::shared()?.client(&rig.web).await?;
    other.set_timeout(Duration::from_secs(30));
    other
        .send_json(&json!({"type": "orbit.subscribe", "threadId": thread_id}))
        .await?;
    let mut replayed = Vec::new();
    loop {
        let frame = other.recv_json().await?;
        if frame["type"] == "orbit.subscribed" {
            break;
        }
        replayed.push(frame);
    }
    assert!(
        replayed.iter().all(|f| f["id"] != ask["id"]),
        "a withdrawn approval is offered again: {replayed:?}"
    );
    assert!(
        !rig.home.workspace().join("never.txt").exists(),
        "the command never ran"
    );
    Ok(())
}

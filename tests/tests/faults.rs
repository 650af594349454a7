//! SPEC §7 under faults, with the real stack: Orbit under workerd, the real `anchor`, the real
//! `codex app-server`, and the mock model. One test per fault (issue 12):
//! the anchor killed (`kill -9`) mid-turn and started again, codex killed mid-turn, workerd
//! killed and restarted under a stream, a client dropped mid-stream, the Durable Object evicted
//! with its sockets open, and a storage write failing through the development switch.
//!
//! **The ground truth.** Each test streams a turn of `[mock:slow N MS]`, whose deltas are
//! `chunk 1 ` … `chunk N ` ([`slow_text`]): the mock model's script is what codex was fed,
//! and no component under fault can change it, so it is the most honest record of what the
//! anchor was given to send. Every client is a [`Recorder`], which reconnects by itself and
//! resubscribes with the last `seq` it saw. At the end each recorder's frames of the thread are
//! compared with (1) the script: its deltas, joined, are the script exactly, or, where the
//! fault legitimately ends the turn early, a prefix of it; (2) Orbit's log, replayed from
//! before the recorder's first frame to a fresh client: the same frames, byte for byte, in the
//! same order, so nothing was duplicated, reordered or skipped between the log and the client;
//! and (3) `seq`, which must rise by exactly one from frame to frame. The anchor's audit log
//! names the approvals it relayed to codex, and the command's own output file counts how many
//! times it ran.
//!
//! **The approval.** A second thread of the same codex holds a command approval open when the
//! fault hits. After recovery it is answered once (the command runs once) and a second answer
//! gets `already_resolved`; or, where the fault kills the codex that asked, it is withdrawn
//! for every client and a late answer gets `already_resolved`.
//!
//! Runs inside a private network namespace (`make test` uses `scripts/private-net.sh`).

use std::time::Duration;

use anyhow::{anyhow, ensure, Context, Result};
use orbit_protocol::dev::DevHubFaultRequest;
use orbit_tests::anchor::{process_alive, signal_pid, AnchorProc, AnchorRig};
use orbit_tests::codex::require_private_netns;
use orbit_tests::mock_model::slow_text;
use orbit_tests::recorder::{Record, Recorder};
use orbit_tests::{random_hex, summarize, Orbit, TempDir, Ws};
use serde_json::{json, Value};

/// How long the anchor may take to be connected with codex ready.
const READY: Duration = Duration::from_secs(45);
/// How long a recorder may take to see what a step of a test waits for.
const STEP: Duration = Duration::from_secs(45);
/// Chunks of the streamed turn and the pause between them: about 6 s of stream.
const CHUNKS: u32 = 120;
const CHUNK_MS: u64 = 50;
/// How many chunks the recorders must have seen before the fault hits.
const BEFORE_FAULT: usize = 15;
/// What the approved command appends to its file, once per run.
const RAN: &str = "ran";
const APPROVED_FILE: &str = "approved.txt";

const APPROVAL: &str = "item/commandExecution/requestApproval";
const RESOLVED: &str = "serverRequest/resolved";

fn ready(status: &Value) -> bool {
    status["orbit"]["connected"] == true && status["codex"]["state"] == "ready"
}

/// A user with a running anchor (real codex, mock model), a driver client that starts threads
/// and turns, and two threads: one to stream in, one to hold an approval open.
struct Stack {
    rig: AnchorRig,
    driver: Ws,
    stream: String,
    approval: String,
}

impl Stack {
    async fn start(orbit: &Orbit, name: &str) -> Result<Stack> {
        require_private_netns()?;
        let rig = AnchorRig::start(orbit, name).await?;
        rig.anchor.wait_status("ready", READY, ready).await?;
        let (mut driver, _, _) = orbit.client(&rig.web).await?;
        driver.set_timeout(STEP);
        let stream = start_thread(&rig, &mut driver, "stream").await?;
        let approval = start_thread(&rig, &mut driver, "approval").await?;
        Ok(Stack {
            rig,
            driver,
            stream,
            approval,
        })
    }

    fn threads(&self) -> Vec<String> {
        vec![self.stream.clone(), self.approval.clone()]
    }

    /// A recorder of both threads.
    async fn recorder(&self, orbit: &Orbit, label: &str) -> Result<Recorder> {
        Recorder::start(label, &orbit.ws_url(), &self.rig.web, &self.threads()).await
    }

    /// Starts the approval turn and waits until `recorder` holds the request; returns its id.
    async fn open_approval(&mut self, recorder: &Recorder) -> Result<Value> {
        let command = format!("[mock:command echo {RAN} >> {APPROVED_FILE}]");
        let approval = self.approval.clone();
        start_turn(&mut self.driver, &approval, &command).await?;
        let ask = recorder
            .wait_frame("the approval request", STEP, |f| {
                f["method"] == APPROVAL && Record::thread_of(f) == Some(approval.as_str())
            })
            .await?;
        Ok(ask["id"].clone())
    }

    /// Starts the streamed turn and waits until `recorder` has seen its first chunks.
    async fn start_stream(&mut self, recorder: &Recorder) -> Result<()> {
        let stream = self.stream.clone();
        start_turn(
            &mut self.driver,
            &stream,
            &format!("[mock:slow {CHUNKS} {CHUNK_MS}]"),
        )
        .await?;
        recorder
            .wait("streaming", STEP, |r| {
                r.deltas(&stream).len() >= BEFORE_FAULT
            })
            .await?;
        Ok(())
    }

    /// How many times the approved command ran.
    fn command_runs(&self) -> usize {
        std::fs::read_to_string(self.rig.home.workspace().join(APPROVED_FILE))
            .map(|t| t.lines().filter(|l| *l == RAN).count())
            .unwrap_or(0)
    }

    /// The approvals the anchor relayed to codex, from its audit log.
    fn audited_approvals(&self) -> Result<usize> {
        let path = self.rig.paired.state_dir().join("audit.jsonl");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["kind"] == "approval")
            .count())
    }
}

/// Sends a request from `client` and returns its answer (skipping other frames).
async fn call(client: &mut Ws, method: &str, params: Value) -> Result<Value> {
    let id = format!("{method}-{}", random_hex(4));
    client
        .send_json(&json!({"id": id, "method": method, "params": params}))
        .await?;
    let answer = client
        .recv_until(&format!("the answer to {method}"), |f| f["id"] == id)
        .await?;
    ensure!(answer.get("error").is_none(), "{method} failed: {answer}");
    Ok(answer)
}

async fn start_thread(rig: &AnchorRig, driver: &mut Ws, what: &str) -> Result<String> {
    let answer = call(
        driver,
        "thread/start",
        json!({
            "cwd": rig.home.workspace(),
            "approvalPolicy": "on-request",
            "sandbox": "workspace-write",
        }),
    )
    .await?;
    answer["result"]["thread"]["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("thread/start for the {what} thread: no thread id in {answer}"))
}

async fn start_turn(driver: &mut Ws, thread: &str, text: &str) -> Result<()> {
    call(
        driver,
        "turn/start",
        json!({"threadId": thread, "input": [{"type": "text", "text": text}]}),
    )
    .await?;
    Ok(())
}

/// The script's chunks, joined.
fn script() -> String {
    slow_text(CHUNKS).concat()
}

fn completed(r: &Record, thread: &str) -> bool {
    !r.with_method(thread, "turn/completed").is_empty()
}

/// What every recorder must hold of `thread`, whatever the fault: `seq` rising by exactly one
/// (no duplicate, no gap, in order), the same frames as Orbit's log replays from before its
/// first one, and no `truncated` answer (every reconnection was inside the replay window).
/// Returns the recorder's deltas joined.
async fn check_against_the_log(orbit: &Orbit, stack: &Stack, rec: &Recorder) -> Result<String> {
    let record = rec.record();
    let thread = &stack.stream;
    let frames = record.thread_frames(thread);
    let seqs: Vec<u64> = frames.iter().filter_map(|f| f["seq"].as_u64()).collect();
    ensure!(!seqs.is_empty(), "{}: no frame of the thread", rec.label);
    for pair in seqs.windows(2) {
        ensure!(
            pair[1] == pair[0] + 1,
            "{}: seq {} follows {}: a duplicate, a gap or a reordering in {seqs:?}",
            rec.label,
            pair[1],
            pair[0]
        );
    }
    for answer in &record.subscribed {
        ensure!(
            answer.get("truncated").is_none_or(|t| t == false),
            "{}: a reconnection inside the replay window was answered truncated: {answer}",
            rec.label
        );
    }

    let (mut fresh, _, _) = orbit.client(&stack.rig.web).await?;
    fresh.set_timeout(STEP);
    let (subscribed, logged) = fresh.subscribe(thread, Some(seqs[0] - 1)).await?;
    ensure!(
        subscribed.get("truncated").is_none_or(|t| t == false),
        "the log still reaches back: {subscribed}"
    );
    let logged: Vec<Value> = logged.into_iter().filter(|f| f["seq"].is_u64()).collect();
    ensure!(
        frames == logged,
        "{}: what the client got ({} frames, seq {:?}..{:?}) differs from Orbit's log ({} frames): \
         client {} / log {}",
        rec.label,
        frames.len(),
        seqs.first(),
        seqs.last(),
        logged.len(),
        summarize(&frames[frames.len().saturating_sub(5)..]),
        summarize(&logged[logged.len().saturating_sub(5)..])
    );
    Ok(record.deltas(thread).concat())
}

/// Answers the approval `key` from `first`, then again from `second`: the first answer runs
/// the command once, the second gets `already_resolved`.
async fn answer_exactly_once(
    stack: &Stack,
    key: &Value,
    first: &Recorder,
    second: &Recorder,
) -> Result<()> {
    first.send(json!({"id": key, "result": {"decision": "accept"}}))?;
    let approval = stack.approval.clone();
    first
        .wait("the approval turn completed", STEP, |r| {
            completed(r, &approval)
        })
        .await?;
    second.send(json!({"id": key, "result": {"decision": "accept"}}))?;
    let refused = second
        .wait_frame("the second answer's error", STEP, |f| {
            f["id"] == *key && f["error"].is_object()
        })
        .await?;
    assert_eq!(
        refused["error"]["data"]["code"], "already_resolved",
        "{refused}"
    );
    assert_eq!(stack.command_runs(), 1, "the approved command ran once");
    assert_eq!(stack.audited_approvals()?, 1, "one decision reached codex");
    Ok(())
}

/// The approval `key` was withdrawn for `rec` (reason `reason`), a late answer gets
/// `already_resolved`, and the command never ran.
async fn withdrawn_for(stack: &Stack, key: &Value, rec: &Recorder, reason: &str) -> Result<()> {
    let note = rec
        .wait_frame("the approval's withdrawal", STEP, |f| {
            f["method"] == RESOLVED && f["params"]["requestId"] == *key
        })
        .await?;
    assert_eq!(note["params"]["reason"], reason, "{}: {note}", rec.label);
    rec.send(json!({"id": key, "result": {"decision": "accept"}}))?;
    let refused = rec
        .wait_frame("the late answer's error", STEP, |f| {
            f["id"] == *key && f["error"].is_object()
        })
        .await?;
    assert_eq!(
        refused["error"]["data"]["code"], "already_resolved",
        "{}: {refused}",
        rec.label
    );
    assert_eq!(stack.command_runs(), 0, "a withdrawn approval never runs");
    Ok(())
}

/// A new turn on a new thread completes: the stack works again after the fault.
async fn works_again(stack: &mut Stack) -> Result<()> {
    let rig = &stack.rig;
    let thread = start_thread(rig, &mut stack.driver, "after").await?;
    stack
        .driver
        .send_json(&json!({"type": "orbit.subscribe", "threadId": thread}))
        .await?;
    start_turn(&mut stack.driver, &thread, "still there?").await?;
    let done = stack
        .driver
        .recv_until("the new turn's completion", |f| {
            f["method"] == "turn/completed"
        })
        .await?;
    assert_eq!(done["params"]["turn"]["status"], "completed", "{done}");
    Ok(())
}

/// The deltas are a prefix of the script ending on a whole chunk: nothing doubled or
/// reordered, only the end cut off by the fault.
fn is_prefix_of_the_script(text: &str) -> bool {
    script().starts_with(text) && (text.is_empty() || text.ends_with(' '))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anchor_killed_mid_turn_restarts_and_its_approval_is_withdrawn_for_every_client(
) -> Result<()> {
    let orbit = Orbit::shared()?;
    let mut stack = Stack::start(orbit, "kill-anchor").await?;
    let watcher = stack.recorder(orbit, "watcher").await?;
    let key = stack.open_approval(&watcher).await?;
    stack.start_stream(&watcher).await?;
    let codex_pid = stack.rig.anchor.status().await?["codex"]["pid"]
        .as_u64()
        .context("codex pid")? as u32;

    stack.rig.anchor.signal("KILL").await?;
    stack.rig.anchor.wait_exit(Duration::from_secs(10)).await?;
    let restarted = AnchorProc::start(stack.rig.paired.state_dir(), &stack.rig.options)?;
    restarted.wait_status("ready again", READY, ready).await?;

    // The codex of the killed anchor is gone with it, and so is its approval.
    let deadline = tokio::time::Instant::now() + STEP;
    while process_alive(codex_pid) {
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the killed anchor's codex {codex_pid} still runs"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The new codex asks for an approval of its own; it numbers its requests from 0 again, as
    // the killed one did. An answer to the killed codex's request must not reach it.
    let other = start_thread(&stack.rig, &mut stack.driver, "other").await?;
    stack.driver.subscribe(&other, None).await?;
    start_turn(
        &mut stack.driver,
        &other,
        "[mock:command echo stale >> must-not-run.txt]",
    )
    .await?;
    let new_ask = stack
        .driver
        .recv_until("the new codex's approval request", |f| {
            f["method"] == APPROVAL
        })
        .await?;
    watcher.send(json!({"id": key, "result": {"decision": "accept"}}))?;
    let refused = watcher
        .wait_frame("the stale answer's error", STEP, |f| {
            f["id"] == key && f["error"].is_object()
        })
        .await?;
    assert_eq!(
        refused["error"]["data"]["code"], "already_resolved",
        "{refused}"
    );
    stack
        .driver
        .send_json(&json!({"id": new_ask["id"], "result": {"decision": "decline"}}))
        .await?;
    stack
        .driver
        .recv_until("the new turn's completion", |f| {
            f["method"] == "turn/completed"
        })
        .await?;
    assert!(
        !stack.rig.home.workspace().join("must-not-run.txt").exists(),
        "an answer to the killed codex's approval approved the new codex's request"
    );

    withdrawn_for(&stack, &key, &watcher, "anchor_restarted").await?;
    let (mut late, _, _) = orbit.client(&stack.rig.web).await?;
    late.set_timeout(STEP);
    let (_, replayed) = late.subscribe(&stack.approval, None).await?;
    ensure!(
        replayed.iter().all(|f| f["id"] != key),
        "a withdrawn approval is offered to a new subscriber: {}",
        summarize(&replayed)
    );

    let text = check_against_the_log(orbit, &stack, &watcher).await?;
    ensure!(
        is_prefix_of_the_script(&text) && text.len() >= BEFORE_FAULT,
        "the deltas are the script's start, each once, in order: {text:?}"
    );
    stack.rig.anchor = restarted;
    works_again(&mut stack).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_killed_mid_turn_is_restarted_and_its_approval_is_withdrawn_for_every_client(
) -> Result<()> {
    let orbit = Orbit::shared()?;
    let mut stack = Stack::start(orbit, "kill-codex").await?;
    let first = stack.recorder(orbit, "first").await?;
    let second = stack.recorder(orbit, "second").await?;
    let key = stack.open_approval(&first).await?;
    stack.start_stream(&first).await?;
    let pid = stack.rig.anchor.status().await?["codex"]["pid"]
        .as_u64()
        .context("codex pid")? as u32;

    signal_pid(pid, "KILL").await?;
    first
        .wait_frame("codex restarted", STEP, |f| {
            f["method"] == "anchor/codexRestarted"
        })
        .await?;

    for rec in [&first, &second] {
        withdrawn_for(&stack, &key, rec, "codex_exited").await?;
        let text = check_against_the_log(orbit, &stack, rec).await?;
        ensure!(
            is_prefix_of_the_script(&text) && text.len() >= BEFORE_FAULT,
            "{}: the deltas are the script's start, each once, in order: {text:?}",
            rec.label
        );
        ensure!(
            rec.record().connections == 1,
            "{}: a codex crash does not disconnect clients",
            rec.label
        );
    }
    works_again(&mut stack).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workerd_killed_under_a_stream_loses_and_doubles_nothing_and_everything_reconnects(
) -> Result<()> {
    let dir = TempDir::new("orbit-faults-restart")?;
    let mut orbit = Orbit::start_in(dir.path(), &random_hex(32))?;
    let mut stack = Stack::start(&orbit, "kill-workerd").await?;
    let first = stack.recorder(&orbit, "first").await?;
    let second = stack.recorder(&orbit, "second").await?;
    let key = stack.open_approval(&first).await?;
    stack.start_stream(&first).await?;

    orbit.kill_and_restart_same_port()?;
    let stream = stack.stream.clone();
    for rec in [&first, &second] {
        rec.wait("the stream completed after reconnecting", STEP, |r| {
            r.connections >= 2 && completed(r, &stream)
        })
        .await?;
    }
    stack
        .rig
        .anchor
        .wait_status("reconnected", READY, |s| {
            ready(s) && s["orbit"]["connections"] == 2
        })
        .await?;

    answer_exactly_once(&stack, &key, &first, &second).await?;
    // A chunk the anchor had written into its socket when workerd died is sent again, since
    // Orbit had not acknowledged it, and dropped if Orbit had logged it after all.
    for rec in [&first, &second] {
        let text = check_against_the_log(&orbit, &stack, rec).await?;
        assert_eq!(text, script(), "{}: every chunk once, in order", rec.label);
    }
    let (mut driver, _, _) = orbit.client(&stack.rig.web).await?;
    check_reload_has_the_script(&mut driver, &stack.stream).await?;
    driver.set_timeout(STEP);
    stack.driver = driver;
    works_again(&mut stack).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_dropped_mid_stream_catches_up_with_since_seq_to_the_same_frames_as_one_that_stayed(
) -> Result<()> {
    let orbit = Orbit::shared()?;
    let mut stack = Stack::start(orbit, "drop-client").await?;
    let dropped = stack.recorder(orbit, "dropped").await?;
    let stayed = stack.recorder(orbit, "stayed").await?;
    let key = stack.open_approval(&dropped).await?;
    stack.start_stream(&dropped).await?;

    dropped.drop_connection()?;
    let stream = stack.stream.clone();
    for rec in [&dropped, &stayed] {
        rec.wait("the stream completed", STEP, |r| completed(r, &stream))
            .await?;
    }
    let (d, s) = (dropped.record(), stayed.record());
    assert_eq!(d.connections, 2, "the dropped client reconnected once");
    assert_eq!(s.connections, 1, "the other never left");
    assert!(
        d.subscribed
            .iter()
            .any(|a| a["threadId"] == stream.as_str() && a["seq"].as_u64() > Some(0)),
        "it resubscribed: {:?}",
        d.subscribed
    );
    assert_eq!(
        d.thread_frames(&stream),
        s.thread_frames(&stream),
        "the reconnected client holds exactly what the one that stayed holds"
    );

    answer_exactly_once(&stack, &key, &dropped, &stayed).await?;
    for rec in [&dropped, &stayed] {
        let text = check_against_the_log(orbit, &stack, rec).await?;
        assert_eq!(text, script(), "{}: every chunk once, in order", rec.label);
    }
    Ok(())
}

/// workerd evicts an object whose only connections are hibernatable sockets after about ten
/// seconds without events; the probe says whether it did (and wakes it).
const IDLE_STEP: Duration = Duration::from_secs(11);
const MAX_IDLE_STEPS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_object_evicted_with_sockets_open_keeps_numbering_routing_and_the_approval(
) -> Result<()> {
    let orbit = Orbit::shared()?;
    let mut stack = Stack::start(orbit, "evict").await?;
    let first = stack.recorder(orbit, "first").await?;
    let second = stack.recorder(orbit, "second").await?;
    let key = stack.open_approval(&first).await?;
    // A first stretch of the stream before the eviction, then quiet: codex waits for the
    // approval, the anchor's pings are answered without waking the object.
    let stream = stack.stream.clone();
    start_turn(&mut stack.driver, &stream, "[mock:slow 20 20]").await?;
    first
        .wait("the first turn", STEP, |r| completed(r, &stream))
        .await?;

    let mut evicted = false;
    for _ in 0..MAX_IDLE_STEPS {
        tokio::time::sleep(IDLE_STEP).await;
        if orbit.probe_hub(&stack.rig.web.user_id).await?["wasLive"] == false {
            evicted = true;
            break;
        }
    }
    ensure!(evicted, "the hub was never evicted");

    // After the eviction: the approval, answered once; a second stream, on the same numbering.
    answer_exactly_once(&stack, &key, &first, &second).await?;
    stack.start_stream(&first).await?;
    for rec in [&first, &second] {
        rec.wait("the second turn", STEP, |r| {
            r.with_method(&stream, "turn/completed").len() == 2
        })
        .await?;
        let text = check_against_the_log(orbit, &stack, rec).await?;
        assert_eq!(
            text,
            format!("{}{}", slow_text(20).concat(), script()),
            "{}: every chunk of both turns once, in order",
            rec.label
        );
        assert_eq!(
            rec.record().connections,
            1,
            "{}: the sockets stayed open across the eviction",
            rec.label
        );
    }
    let status = stack.rig.anchor.status().await?;
    assert_eq!(
        status["orbit"]["connections"], 1,
        "the anchor's socket stayed open: {status}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_write_failure_mid_stream_resets_the_hub_and_clients_are_told_what_they_missed(
) -> Result<()> {
    let orbit = Orbit::shared()?;
    let mut stack = Stack::start(orbit, "storage").await?;
    let first = stack.recorder(orbit, "first").await?;
    let second = stack.recorder(orbit, "second").await?;
    let key = stack.open_approval(&first).await?;
    stack.start_stream(&first).await?;

    orbit
        .storage_fault(
            &stack.rig.web.user_id,
            DevHubFaultRequest {
                fail_writes: 1,
                ..DevHubFaultRequest::default()
            },
        )
        .await?;
    let stream = stack.stream.clone();
    for rec in [&first, &second] {
        let record = rec
            .wait("the stream completed after the reset", STEP, |r| {
                r.connections >= 2 && completed(r, &stream)
            })
            .await?;
        assert_eq!(
            record.closes.first(),
            Some(&1011),
            "{}: told of the storage failure by close code 1011",
            rec.label
        );
    }
    stack
        .rig
        .anchor
        .wait_status("reconnected", READY, |s| {
            ready(s) && s["orbit"]["connections"].as_u64() >= Some(2)
        })
        .await?;

    answer_exactly_once(&stack, &key, &first, &second).await?;
    for rec in [&first, &second] {
        let text = check_told_of_the_hole(orbit, &stack, rec).await?;
        check_at_most_one_lost_run(&rec.label, &text)?;
    }
    // What the client was told it missed, its reload has: codex's thread holds the whole script.
    // The hub's reset closed every socket, the driver's too.
    let (mut reader, _, _) = orbit.client(&stack.rig.web).await?;
    check_reload_has_the_script(&mut reader, &stack.stream).await
}

/// What a client reloading `thread` gets (codex's `thread/read`) holds the whole script: what a
/// fault cost the live stream, the reload has.
async fn check_reload_has_the_script(client: &mut Ws, thread: &str) -> Result<()> {
    let read = call(
        client,
        "thread/read",
        json!({"threadId": thread, "includeTurns": true}),
    )
    .await?;
    ensure!(
        read["result"].to_string().contains(&script()),
        "the reload lacks the script: {}",
        summarize(std::slice::from_ref(&read))
    );
    Ok(())
}

/// What a recorder must hold of the stream after a failed log write: `seq` rising by one
/// except across one hole, the numbers of the frames that write lost, and a resubscription
/// answered `truncated` exactly there, so the client knows to reload; after the hole, the same
/// frames as Orbit's log. Returns the recorder's deltas joined.
async fn check_told_of_the_hole(orbit: &Orbit, stack: &Stack, rec: &Recorder) -> Result<String> {
    let record = rec.record();
    let thread = &stack.stream;
    let frames = record.thread_frames(thread);
    let seqs: Vec<u64> = frames.iter().filter_map(|f| f["seq"].as_u64()).collect();
    let jumps: Vec<(u64, u64)> = seqs
        .windows(2)
        .filter(|w| w[1] != w[0] + 1)
        .map(|w| (w[0], w[1]))
        .collect();
    let told: Vec<&Value> = record
        .subscribed
        .iter()
        .filter(|a| a["threadId"] == *thread && a["truncated"] == true)
        .collect();
    ensure!(
        jumps.len() == 1 && jumps[0].1 > jumps[0].0,
        "{}: expected one hole in seq, forward: {jumps:?} in {seqs:?}",
        rec.label
    );
    let (before, after) = jumps[0];
    ensure!(
        told.len() == 1 && told[0]["seq"].as_u64().is_some_and(|s| s > before && s < after),
        "{}: the resubscription across the hole ({before}..{after}) was not answered truncated: {told:?}",
        rec.label
    );

    let (mut fresh, _, _) = orbit.client(&stack.rig.web).await?;
    fresh.set_timeout(STEP);
    let (subscribed, logged) = fresh.subscribe(thread, Some(after - 1)).await?;
    ensure!(
        subscribed.get("truncated").is_none_or(|t| t == false),
        "the log is whole after the hole: {subscribed}"
    );
    let logged: Vec<Value> = logged.into_iter().filter(|f| f["seq"].is_u64()).collect();
    let after_hole: Vec<Value> = frames
        .iter()
        .filter(|f| f["seq"].as_u64() >= Some(after))
        .cloned()
        .collect();
    ensure!(
        after_hole == logged,
        "{}: after the hole the client got {} frames, Orbit's log {}",
        rec.label,
        after_hole.len(),
        logged.len()
    );
    Ok(record.deltas(thread).concat())
}

/// What a fault may cost a client's deltas: the chunks that did arrive are the script's, each
/// once and in order, the last one included, and any missing ones are a single run. After a
/// failed log write the client is told of that run: its numbers stay reserved and the
/// resubscription across them is `truncated` ([`check_told_of_the_hole`]), and the reload has
/// it.
fn check_at_most_one_lost_run(label: &str, text: &str) -> Result<()> {
    let got: Vec<u32> = text
        .split_inclusive(' ')
        .collect::<Vec<_>>()
        .chunks(2)
        .map(|pair| {
            pair.get(1)
                .and_then(|n| n.trim().parse().ok())
                .ok_or_else(|| anyhow!("{label}: not a chunk of the script: {pair:?}"))
        })
        .collect::<Result<_>>()?;
    ensure!(
        got.windows(2).all(|w| w[0] < w[1]),
        "{label}: chunks doubled or out of order: {got:?}"
    );
    ensure!(
        got.last() == Some(&CHUNKS),
        "{label}: the end is missing: {got:?}"
    );
    let gaps = got.windows(2).filter(|w| w[1] != w[0] + 1).count();
    ensure!(
        got.first() == Some(&1) && gaps <= 1,
        "{label}: what was lost is more than one run: {got:?}"
    );
    Ok(())
}

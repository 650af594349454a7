//! The real `codex app-server`, driven directly over stdio against the mock model: proves
//! that the mock (`orbit_tests::mock_model`) and the harness (`orbit_tests::codex`) make codex
//! do real turns offline — streamed replies (plain, `[mock:say …]` verbatim, `[mock:slow …]`
//! paced), approved and declined commands, a file change codex asks approval for, interrupts
//! and model errors.
//!
//! Run inside a private network namespace (the tests refuse otherwise):
//! `unshare -n sh -c 'ip link set lo up && cargo test -p orbit-tests --features codex --test codex_mock'`.

use std::time::Duration;

use anyhow::{bail, Result};
use orbit_tests::codex::{require_private_netns, CodexHome, CodexProc, MOCK_KEY};
use orbit_tests::mock_model::{
    plain_reply, slow_text, MockModel, APPLY_PATCH_EXAMPLE, COMMAND_OUTPUT_PREFIX,
};
use orbit_tests::unique;
use serde_json::{json, Value};

/// How long one awaited message may take (generous: the machine may be busy compiling).
const WAIT: Duration = Duration::from_secs(30);

/// One codex with its own mock model, initialized, with one thread started.
/// Fields drop in order: codex before its home directory and the mock.
struct Rig {
    codex: CodexProc,
    home: CodexHome,
    mock: MockModel,
    thread: String,
}

impl Rig {
    async fn start() -> Result<Rig> {
        require_private_netns()?;
        let mock = MockModel::start().await?;
        let home = CodexHome::new(&mock.base_url())?;
        let mut codex = CodexProc::spawn(&home)?;
        codex.initialize().await?;
        let thread = codex.start_thread(&home).await?;
        Ok(Rig {
            codex,
            home,
            mock,
            thread,
        })
    }

    /// Starts a turn and waits for its `turn/completed`; returns that and everything before.
    async fn turn(&mut self, text: &str) -> Result<(Value, Vec<Value>)> {
        let turn = self.codex.start_turn(&self.thread, text).await?;
        self.completed(&turn).await
    }

    /// Starts a `[mock:stall]` turn on the rig's thread and waits for its first delta.
    async fn stalled_turn(&mut self) -> Result<String> {
        let turn = self.codex.start_turn(&self.thread, "[mock:stall]").await?;
        let t = turn.clone();
        self.codex
            .recv_until(
                "the stalled turn's first delta",
                |m| m["method"] == "item/agentMessage/delta" && m["params"]["turnId"] == t,
                WAIT,
            )
            .await?;
        Ok(turn)
    }

    async fn completed(&mut self, turn: &str) -> Result<(Value, Vec<Value>)> {
        self.codex
            .recv_until(
                &format!("turn/completed of {turn}"),
                |m| m["method"] == "turn/completed" && m["params"]["turn"]["id"] == turn,
                WAIT,
            )
            .await
    }

    /// Waits for the next command approval request of this thread (failing at once if the
    /// turn completes without one).
    async fn approval(&mut self) -> Result<Value> {
        let (msg, _) = self
            .server_request("item/commandExecution/requestApproval")
            .await?;
        Ok(msg)
    }

    /// Waits for the next server request `method` of this thread; returns it and the messages
    /// before it. Fails at once if the turn completes first.
    async fn server_request(&mut self, method: &str) -> Result<(Value, Vec<Value>)> {
        let thread = self.thread.clone();
        let (msg, before) = self
            .codex
            .recv_until(
                method,
                |m| {
                    (m["method"] == method || m["method"] == "turn/completed")
                        && m["params"]["threadId"] == thread
                },
                WAIT,
            )
            .await?;
        if msg["method"] == "turn/completed" {
            let seen: Vec<&str> = before.iter().filter_map(|m| m["method"].as_str()).collect();
            bail!("the turn completed without {method}: {msg}\nbefore it: {seen:?}");
        }
        Ok((msg, before))
    }

    /// The agent-message deltas of `turn` among `msgs`.
    fn deltas<'a>(msgs: &'a [Value], turn: &str) -> Vec<&'a str> {
        with_method(msgs, "item/agentMessage/delta")
            .filter(|m| m["params"]["turnId"] == turn)
            .filter_map(|m| m["params"]["delta"].as_str())
            .collect()
    }
}

fn with_method<'a>(msgs: &'a [Value], method: &'a str) -> impl Iterator<Item = &'a Value> {
    msgs.iter().filter(move |m| m["method"] == method)
}

/// The items of `type` completed among `msgs`.
fn completed_items<'a>(msgs: &'a [Value], kind: &'a str) -> Vec<&'a Value> {
    with_method(msgs, "item/completed")
        .map(|m| &m["params"]["item"])
        .filter(|item| item["type"] == kind)
        .collect()
}

fn status(completed: &Value) -> &str {
    completed["params"]["turn"]["status"].as_str().unwrap_or("")
}

#[tokio::test]
async fn plain_turns_stream_the_mock_reply() -> Result<()> {
    let mut rig = Rig::start().await?;
    for prompt in [
        format!("hello from the direct suite {}", unique("p1")),
        format!("a second turn on the same thread {}", unique("p2")),
    ] {
        let turn = rig.codex.start_turn(&rig.thread, &prompt).await?;
        let (done, before) = rig.completed(&turn).await?;
        assert_eq!(status(&done), "completed", "{done}");

        let deltas: Vec<&str> = with_method(&before, "item/agentMessage/delta")
            .filter(|m| m["params"]["turnId"] == turn)
            .filter_map(|m| m["params"]["delta"].as_str())
            .collect();
        assert!(
            deltas.len() >= 2,
            "the reply is streamed in chunks: {deltas:?}"
        );
        assert_eq!(deltas.concat(), plain_reply(&prompt));
        let messages = completed_items(&before, "agentMessage");
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert_eq!(messages[0]["text"], plain_reply(&prompt));

        // The mock read the directive from this turn's prompt, not the earlier one.
        let requests = rig.mock.requests_for(&prompt);
        assert_eq!(requests.len(), 1, "one model call per plain turn");
        let req = &requests[0];
        assert_eq!(req.path, "/v1/responses");
        assert_eq!(req.last_user_text().as_deref(), Some(prompt.as_str()));
        assert_eq!(req.body["model"], "mock-model");
        assert_eq!(req.body["stream"], true);
        assert_eq!(
            req.header("authorization"),
            Some(format!("Bearer {MOCK_KEY}").as_str())
        );
        assert_eq!(req.header("content-encoding"), None, "uncompressed body");
    }
    assert_eq!(rig.mock.requests().len(), 2, "no other calls to the model");
    Ok(())
}

#[tokio::test]
async fn approved_command_runs_and_its_output_reaches_the_model() -> Result<()> {
    let mut rig = Rig::start().await?;
    let marker = unique("approved");
    let prompt = format!("[mock:command echo {marker} > made.txt && cat made.txt]");
    let turn = rig.codex.start_turn(&rig.thread, &prompt).await?;

    let approval = rig.approval().await?;
    assert_eq!(approval["params"]["turnId"], turn.as_str());
    let command = approval["params"]["command"].as_str().unwrap_or("");
    assert!(command.contains(&marker), "{approval}");
    assert!(
        !rig.home.workspace().join("made.txt").exists(),
        "nothing runs before the approval"
    );
    rig.codex
        .respond(&approval["id"], json!({ "decision": "accept" }))?;

    let (done, before) = rig.completed(&turn).await?;
    assert_eq!(status(&done), "completed", "{done}");
    let file = std::fs::read_to_string(rig.home.workspace().join("made.txt"))?;
    assert_eq!(file.trim(), marker);

    let commands = completed_items(&before, "commandExecution");
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert_eq!(commands[0]["status"], "completed");
    assert_eq!(commands[0]["exitCode"], 0);
    let output = commands[0]["aggregatedOutput"].as_str().unwrap_or("");
    assert!(output.contains(&marker), "{}", commands[0]);

    let messages = completed_items(&before, "agentMessage");
    let last = messages
        .last()
        .map_or("", |m| m["text"].as_str().unwrap_or(""));
    assert!(last.starts_with(COMMAND_OUTPUT_PREFIX), "{last}");
    assert!(
        last.contains(&marker),
        "the tool output reached the model: {last}"
    );

    let requests = rig.mock.requests_for(&marker);
    assert_eq!(
        requests.len(),
        2,
        "the call, then the follow-up with its output"
    );
    assert!(requests[0].tool_outputs().is_empty());
    assert!(requests[0].tool_names().iter().any(|t| t == "exec_command"));
    assert!(requests[1].tool_outputs().concat().contains(&marker));
    Ok(())
}

#[tokio::test]
async fn declined_command_does_not_run() -> Result<()> {
    let mut rig = Rig::start().await?;
    let marker = unique("declined");
    let prompt = format!("[mock:command echo {marker} > declined.txt]");
    let turn = rig.codex.start_turn(&rig.thread, &prompt).await?;

    let approval = rig.approval().await?;
    rig.codex
        .respond(&approval["id"], json!({ "decision": "decline" }))?;
    let (done, before) = rig.completed(&turn).await?;
    assert_eq!(status(&done), "completed", "{done}");
    assert!(
        !rig.home.workspace().join("declined.txt").exists(),
        "the declined command ran"
    );
    let commands = completed_items(&before, "commandExecution");
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert_eq!(commands[0]["status"], "declined");

    // The model is told, and answers with a final message.
    let requests = rig.mock.requests_for(&marker);
    assert_eq!(requests.len(), 2);
    let told = requests[1].tool_outputs().concat();
    assert!(told.contains("rejected"), "{told}");
    let messages = completed_items(&before, "agentMessage");
    let last = messages
        .last()
        .map_or("", |m| m["text"].as_str().unwrap_or(""));
    assert!(last.starts_with(COMMAND_OUTPUT_PREFIX), "{last}");
    Ok(())
}

#[tokio::test]
async fn interrupt_ends_a_stalled_turn() -> Result<()> {
    let mut rig = Rig::start().await?;
    let turn = rig.stalled_turn().await?;
    assert_eq!(rig.mock.open_stalls(), 1);

    let params = json!({ "threadId": rig.thread, "turnId": turn });
    rig.codex.request("turn/interrupt", params).await?;
    let (done, _) = rig.completed(&turn).await?;
    assert_eq!(status(&done), "interrupted", "{done}");
    // Codex dropped the stream, and the mock noticed and stopped it.
    rig.mock.wait_no_stalls(WAIT).await?;

    // The thread still works afterwards.
    let prompt = format!("after the interrupt {}", unique("p"));
    let (done, _) = rig.turn(&prompt).await?;
    assert_eq!(status(&done), "completed", "{done}");
    Ok(())
}

/// A model error fails the turn with an `error` notification and no retry.
async fn model_error(code: u16, info: &str) -> Result<()> {
    let mut rig = Rig::start().await?;
    let marker = unique("error");
    let (done, before) = rig.turn(&format!("{marker} [mock:error {code}]")).await?;
    assert_eq!(status(&done), "failed", "{done}");
    let errors: Vec<&Value> = with_method(&before, "error").collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let error = &errors[0]["params"];
    assert_eq!(error["willRetry"], false, "{error}");
    assert_eq!(error["error"]["codexErrorInfo"], info, "{error}");
    assert_eq!(done["params"]["turn"]["error"]["codexErrorInfo"], info);
    if code == 400 {
        let message = error["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains("mock: error 400"), "{message}");
    }
    let calls = rig.mock.requests_for(&marker).len();
    if calls != 1 {
        bail!("expected one model call (retries are off), got {calls}");
    }
    Ok(())
}

#[tokio::test]
async fn model_error_500_fails_the_turn() -> Result<()> {
    model_error(500, "internalServerError").await
}

#[tokio::test]
async fn model_error_400_fails_the_turn() -> Result<()> {
    model_error(400, "other").await
}

/// One mock serves several threads at once, each by its own directive: a plain turn completes
/// while another thread's turn is stalled.
#[tokio::test]
async fn one_mock_serves_concurrent_threads() -> Result<()> {
    let mut rig = Rig::start().await?;
    let stalled = rig.stalled_turn().await?;
    let other = rig.codex.start_thread(&rig.home).await?;
    let prompt = format!("meanwhile {}", unique("p"));
    let turn = rig.codex.start_turn(&other, &prompt).await?;
    let (done, _) = rig.completed(&turn).await?;
    assert_eq!(status(&done), "completed", "{done}");
    assert_eq!(
        rig.mock.open_stalls(),
        1,
        "the first thread is still stalled"
    );

    let params = json!({ "threadId": rig.thread, "turnId": stalled });
    rig.codex.request("turn/interrupt", params).await?;
    let (done, _) = rig.completed(&stalled).await?;
    assert_eq!(status(&done), "interrupted", "{done}");
    Ok(())
}

/// `[mock:say TEXT]` streams TEXT verbatim, in several deltas: Markdown and markup arrive as
/// the model wrote them (the web client's rendering and escaping tests rely on it).
#[tokio::test]
async fn say_streams_its_text_verbatim() -> Result<()> {
    let mut rig = Rig::start().await?;
    for text in [
        "# Title\n\nSome **bold**, `code` and [a link](https://example.test).\n\n- one\n- two\n",
        "<img src=x onerror=alert(1)><script>alert(2)</script>",
    ] {
        let turn = rig
            .codex
            .start_turn(&rig.thread, &format!("[mock:say {text}]"))
            .await?;
        let (done, before) = rig.completed(&turn).await?;
        assert_eq!(status(&done), "completed", "{done}");
        let deltas = Rig::deltas(&before, &turn);
        assert!(deltas.len() >= 3, "streamed in several deltas: {deltas:?}");
        assert_eq!(deltas.concat(), text);
        let messages = completed_items(&before, "agentMessage");
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert_eq!(messages[0]["text"], text);
    }
    Ok(())
}

/// `[mock:slow N MS]` streams `chunk 1 ` … `chunk N `, one delta each, then completes.
#[tokio::test]
async fn slow_streams_numbered_chunks_then_completes() -> Result<()> {
    let mut rig = Rig::start().await?;
    let started = std::time::Instant::now();
    let turn = rig
        .codex
        .start_turn(&rig.thread, "[mock:slow 6 100]")
        .await?;
    let (done, before) = rig.completed(&turn).await?;
    assert_eq!(status(&done), "completed", "{done}");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "five pauses of 100 ms: {:?}",
        started.elapsed()
    );
    assert_eq!(Rig::deltas(&before, &turn), slow_text(6));
    let messages = completed_items(&before, "agentMessage");
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["text"], slow_text(6).concat());
    Ok(())
}

/// A `[mock:command …]` whose command is an `apply_patch` heredoc ([`APPLY_PATCH_EXAMPLE`])
/// becomes a `fileChange` item that codex asks the client to approve
/// (`item/fileChange/requestApproval`); nothing is written before the approval, the file is
/// afterwards.
#[tokio::test]
async fn apply_patch_becomes_a_file_change_that_asks_for_approval() -> Result<()> {
    let mut rig = Rig::start().await?;
    let path = rig.home.workspace().join(".codex/e2e-patched.txt");
    let turn = rig
        .codex
        .start_turn(&rig.thread, APPLY_PATCH_EXAMPLE)
        .await?;
    let (approval, before) = rig
        .server_request("item/fileChange/requestApproval")
        .await?;
    assert_eq!(approval["params"]["turnId"], turn.as_str(), "{approval}");
    let item_id = approval["params"]["itemId"].clone();
    let started: Vec<&Value> = with_method(&before, "item/started")
        .map(|m| &m["params"]["item"])
        .filter(|item| item["type"] == "fileChange")
        .collect();
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0]["id"], item_id, "{}", started[0]);
    let change = &started[0]["changes"][0];
    assert_eq!(change["path"], path.display().to_string(), "{change}");
    assert_eq!(change["kind"]["type"], "add", "{change}");
    assert_eq!(change["diff"], "patched by the mock\n", "{change}");
    assert!(!path.exists(), "nothing is written before the approval");

    rig.codex
        .respond(&approval["id"], json!({ "decision": "accept" }))?;
    let (done, before) = rig.completed(&turn).await?;
    assert_eq!(status(&done), "completed", "{done}");
    assert_eq!(std::fs::read_to_string(&path)?, "patched by the mock\n");
    let changes = completed_items(&before, "fileChange");
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["status"], "completed", "{}", changes[0]);
    Ok(())
}

//! A mock of the OpenAI Responses API (`POST …/v1/responses`, streamed as server-sent events),
//! for running the real `codex app-server` offline.
//!
//! The server is a small hand-written HTTP/1.1 server on tokio: one request per connection,
//! answered with `Connection: close` (SSE bodies end when the socket closes, as codex's
//! client accepts). A crate such as hyper would bring more than the mock needs; the only
//! client is codex, whose requests are plain `Content-Length` bodies.
//!
//! What the mock answers is chosen by a directive in the text of the **last user message** of
//! the request's `input`, so one mock serves any number of threads and tests at once,
//! deterministically (codex repeats the whole conversation in every request, so the
//! follow-up request after a tool call still ends with the same user message):
//!
//! * no directive: an assistant message [`plain_reply`] streamed in several
//!   `response.output_text.delta` chunks, then `response.completed`.
//! * `[mock:command CMD]`: the first request gets a short message and a call of the shell
//!   tool the request offers (`exec_command` in codex 0.169, asking for escalated sandbox
//!   permissions so that codex asks the client for approval under `on-request`; `shell_command`
//!   and `shell` for older codex). The follow-up request, whose input holds a
//!   `function_call_output` after that user message, gets a final message that quotes the
//!   tool output (see [`COMMAND_OUTPUT_PREFIX`]). CMD runs to the matching `]`: brackets inside
//!   it must balance (`[ -f x ]` is fine).
//! * `[mock:error NNN]`: HTTP status NNN with an OpenAI-style JSON error body.
//! * `[mock:stall]`: one delta, then keep-alive comments until the client goes away (or
//!   [`STALL_LIMIT`] passes), never `response.completed`. See [`MockModel::wait_no_stalls`].
//! * `[mock:say TEXT]`: TEXT, verbatim, as the assistant message, streamed in several deltas
//!   ([`say_chunks`]): Markdown to render, or a script-injection payload the client must show
//!   as text. TEXT is everything after the single space that follows `say`, up to the matching
//!   `]`, so brackets inside it must balance (`[a link](https://x.test)` is fine, a lone `]`
//!   ends it early); it may span lines.
//! * `[mock:slow N MS]`: N deltas `chunk 1 `, `chunk 2 `, … `chunk N ` ([`slow_text`]) with MS
//!   milliseconds before each after the first, then `response.completed`: a stream long
//!   enough to cut a client's connection in the middle of and check that nothing was lost or
//!   doubled. 1 ≤ N ≤ [`SLOW_MAX_CHUNKS`], MS ≤ [`SLOW_MAX_INTERVAL_MS`] (codex gives up on a
//!   stream idle for 15 s, `stream_idle_timeout_ms` in [`crate::codex::CodexHome`]). Stops
//!   early if the client goes away.
//!
//! A change to a file that codex asks the client to approve (an `item/fileChange/requestApproval`
//! for a `fileChange` item) needs no directive of its own: codex turns a `[mock:command …]`
//! whose command is an `apply_patch` heredoc into one, when the patch writes outside what the
//! sandbox lets it write unasked. [`APPLY_PATCH_EXAMPLE`] is such a prompt, tested in
//! `tests/tests/codex_mock.rs`.
//!
//! Anything else under `/v1` gets a 404, and every request is recorded ([`MockModel::requests`]).
//! Request bodies with a `Content-Encoding` are refused with 415: codex 0.169 compresses
//! nothing it sends to an API-key provider, and a test should notice if that changes.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// How long a `[mock:stall]` stream is held open at most.
pub const STALL_LIMIT: Duration = Duration::from_secs(60);
/// How often a stalled stream sends a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(1);
/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 32 * 1024 * 1024;

/// The final message of a `[mock:command …]` turn starts with this, followed by the tool output.
pub const COMMAND_OUTPUT_PREFIX: &str = "Command finished. Tool output: ";

/// The most deltas a `[mock:slow N MS]` may ask for.
pub const SLOW_MAX_CHUNKS: u32 = 10_000;
/// The longest pause between two deltas of `[mock:slow N MS]`, in milliseconds: under codex's
/// 15 s stream idle timeout.
pub const SLOW_MAX_INTERVAL_MS: u64 = 10_000;

/// A prompt whose turn makes codex ask the client to approve a file change: `[mock:command …]`
/// with an `apply_patch` heredoc. Codex turns the call into a `fileChange` item (adding
/// `.codex/e2e-patched.txt` in the thread's working directory, one line `patched by the mock`)
/// and an `item/fileChange/requestApproval`; once accepted, the file is written.
///
/// The path matters. Under the `workspace-write` sandbox ([`crate::codex::CodexHome`]'s
/// default) codex applies a patch inside its writable roots without asking, and those are the
/// working directory *and* `/tmp`, where the test workspaces live: `e2e-patched.txt` or
/// `../x.txt` would just be written. A project's `.codex/` (like `.git/`) is kept read-only
/// inside the writable roots, so a patch there always asks. (Under the `read-only` sandbox
/// every patch asks.)
pub const APPLY_PATCH_EXAMPLE: &str = "[mock:command apply_patch <<'EOF'
*** Begin Patch
*** Add File: .codex/e2e-patched.txt
+patched by the mock
*** End Patch
EOF]";

/// The text the mock streams for a prompt without a directive.
pub fn plain_reply(prompt: &str) -> String {
    let head: String = prompt.chars().take(40).collect();
    format!("mock reply to: {head}")
}

/// A request the mock received.
#[derive(Debug, Clone)]
pub struct MockRequest {
    pub method: String,
    pub path: String,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The parsed JSON body; `Null` when there was none (or it was not JSON).
    pub body: Value,
}

impl MockRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    fn input(&self) -> &[Value] {
        self.body["input"].as_array().map_or(&[], Vec::as_slice)
    }

    fn last_user_index(&self) -> Option<usize> {
        self.input()
            .iter()
            .rposition(|i| i["type"] == "message" && i["role"] == "user")
    }

    /// The text of the last user message of `input` (its text parts joined).
    pub fn last_user_text(&self) -> Option<String> {
        let item = &self.input()[self.last_user_index()?];
        let text = match &item["content"] {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            _ => String::new(),
        };
        Some(text)
    }

    /// The outputs of tool calls that follow the last user message, as text.
    pub fn tool_outputs(&self) -> Vec<String> {
        let start = self.last_user_index().map_or(0, |i| i + 1);
        self.input()[start..]
            .iter()
            .filter(|i| {
                matches!(
                    i["type"].as_str(),
                    Some("function_call_output" | "custom_tool_call_output")
                )
            })
            .map(|i| match &i["output"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
                other => other.to_string(),
            })
            .collect()
    }

    /// The names of the tools the request offers.
    pub fn tool_names(&self) -> Vec<String> {
        let tools = self.body["tools"].as_array().map_or(&[][..], Vec::as_slice);
        tools
            .iter()
            .filter_map(|t| t["name"].as_str().or(t["function"]["name"].as_str()))
            .map(str::to_string)
            .collect()
    }
}

/// What a request asks the mock for (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Directive {
    Reply,
    Command(String),
    Error(u16),
    Stall,
    /// `[mock:say TEXT]`: the text, verbatim.
    Say(String),
    /// `[mock:slow N MS]`.
    Slow {
        chunks: u32,
        interval_ms: u64,
    },
    /// A `[mock:…]` the mock does not know: answered with a 400 naming it.
    Unknown(String),
}

impl Directive {
    /// Finds the first directive in `text`.
    pub fn parse(text: &str) -> Directive {
        let Some(start) = text.find("[mock:") else {
            return Directive::Reply;
        };
        let rest = &text[start + 1..];
        let mut depth = 1usize;
        let mut end = None;
        for (i, c) in rest.char_indices() {
            match c {
                '[' => depth += 1,
                ']' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(end) = end else {
            return Directive::Unknown(text[start..].to_string());
        };
        let inner = &rest["mock:".len()..end];
        let (verb, arg) = inner.split_once(' ').unwrap_or((inner, ""));
        if verb == "say" && !arg.is_empty() {
            // Verbatim: only the one space after the verb is the directive's.
            return Directive::Say(arg.to_string());
        }
        match (verb, arg.trim()) {
            ("command", cmd) if !cmd.is_empty() => Directive::Command(cmd.to_string()),
            ("error", code) => match code.parse::<u16>() {
                Ok(code) if (400..600).contains(&code) => Directive::Error(code),
                _ => Directive::Unknown(inner.to_string()),
            },
            ("stall", "") => Directive::Stall,
            ("slow", args) => match args.split_whitespace().collect::<Vec<_>>()[..] {
                [n, ms] => match (n.parse::<u32>(), ms.parse::<u64>()) {
                    (Ok(chunks), Ok(interval_ms))
                        if (1..=SLOW_MAX_CHUNKS).contains(&chunks)
                            && interval_ms <= SLOW_MAX_INTERVAL_MS =>
                    {
                        Directive::Slow {
                            chunks,
                            interval_ms,
                        }
                    }
                    _ => Directive::Unknown(inner.to_string()),
                },
                _ => Directive::Unknown(inner.to_string()),
            },
            _ => Directive::Unknown(inner.to_string()),
        }
    }
}

#[derive(Debug)]
struct Shared {
    requests: Mutex<Vec<MockRequest>>,
    /// How many `[mock:stall]` streams are open.
    stalls: watch::Sender<usize>,
    ids: Mutex<u64>,
}

impl Shared {
    fn next_id(&self, prefix: &str) -> String {
        let mut n = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        *n += 1;
        format!("{prefix}_{n}")
    }
}

/// A running mock, listening on 127.0.0.1; stopped (with every open stream) on drop.
#[derive(Debug)]
pub struct MockModel {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl MockModel {
    /// Binds 127.0.0.1 on a free port and serves in the current tokio runtime.
    pub async fn start() -> Result<MockModel> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the mock model server on 127.0.0.1")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            requests: Mutex::new(Vec::new()),
            stalls: watch::channel(0).0,
            ids: Mutex::new(0),
        });
        let state = shared.clone();
        let server = tokio::spawn(async move {
            // Dropping this set (when the server task is aborted) aborts every connection.
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((sock, _)) => {
                            conns.spawn(serve(sock, state.clone()));
                        }
                        // Out of descriptors and the like: wait instead of spinning.
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    },
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok(MockModel {
            addr,
            shared,
            server,
        })
    }

    /// The `base_url` for codex's model provider: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<MockRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The requests whose last user message contains `needle` (a test's unique marker).
    pub fn requests_for(&self, needle: &str) -> Vec<MockRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.last_user_text().is_some_and(|t| t.contains(needle)))
            .collect()
    }

    /// How many `[mock:stall]` streams are open now.
    pub fn open_stalls(&self) -> usize {
        *self.shared.stalls.borrow()
    }

    /// Waits until no `[mock:stall]` stream is open (their clients went away).
    pub async fn wait_no_stalls(&self, timeout: Duration) -> Result<()> {
        let mut rx = self.shared.stalls.subscribe();
        let waited = tokio::time::timeout(timeout, async {
            rx.wait_for(|n| *n == 0).await.map(|_| ())
        })
        .await;
        match waited {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => bail!("the mock model server stopped"),
            Err(_) => bail!(
                "{} stalled stream(s) still open after {timeout:?}",
                self.open_stalls()
            ),
        }
    }
}

impl Drop for MockModel {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Serves one connection: one request, one answer, then close.
async fn serve(mut sock: TcpStream, shared: Arc<Shared>) {
    let req = match tokio::time::timeout(READ_TIMEOUT, read_request(&mut sock)).await {
        Ok(Ok(Some(req))) => req,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            let _ = write_json(&mut sock, e.status, &error_body(&e.message)).await;
            return;
        }
        Err(_) => return,
    };
    shared
        .requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(req.clone());
    let _ = answer(&mut sock, &req, &shared).await;
    let _ = sock.shutdown().await;
}

async fn answer(sock: &mut TcpStream, req: &MockRequest, shared: &Shared) -> std::io::Result<()> {
    if req.method != "POST" || req.path.trim_end_matches('/') != "/v1/responses" {
        let msg = format!("mock: no route for {} {}", req.method, req.path);
        return write_json(sock, 404, &error_body(&msg)).await;
    }
    let text = req.last_user_text().unwrap_or_default();
    match Directive::parse(&text) {
        Directive::Reply => {
            let reply = plain_reply(&text);
            let mut events = vec![];
            message_events(shared, &mut events, &chunks(&reply));
            write_sse(sock, shared, events).await
        }
        Directive::Command(cmd) => command(sock, req, shared, &cmd).await,
        Directive::Error(code) => {
            let msg = format!("mock: error {code}");
            write_json(sock, code, &error_body(&msg)).await
        }
        Directive::Stall => stall(sock, shared).await,
        Directive::Say(text) => {
            let mut events = vec![];
            message_events(shared, &mut events, &say_chunks(&text));
            write_sse(sock, shared, events).await
        }
        Directive::Slow {
            chunks,
            interval_ms,
        } => slow(sock, shared, chunks, Duration::from_millis(interval_ms)).await,
        Directive::Unknown(what) => {
            let msg = format!("mock: unknown directive [{what}]");
            write_json(sock, 400, &error_body(&msg)).await
        }
    }
}

async fn command(
    sock: &mut TcpStream,
    req: &MockRequest,
    shared: &Shared,
    cmd: &str,
) -> std::io::Result<()> {
    let outputs = req.tool_outputs();
    let mut events = vec![];
    if !outputs.is_empty() {
        let text = format!("{COMMAND_OUTPUT_PREFIX}{}", outputs.join("\n"));
        message_events(shared, &mut events, &chunks(&text));
        return write_sse(sock, shared, events).await;
    }
    let names = req.tool_names();
    let has = |n: &str| names.iter().any(|t| t == n);
    let justification = format!("The mock model asks to run: {cmd}");
    let (name, args) = if has("exec_command") {
        // Escalation makes codex ask the client under `on-request` even for harmless commands.
        let args = json!({ "cmd": cmd, "sandbox_permissions": "require_escalated",
                           "justification": justification });
        ("exec_command", args)
    } else if has("shell_command") {
        ("shell_command", json!({ "command": cmd }))
    } else if has("shell") {
        ("shell", json!({ "command": ["bash", "-lc", cmd] }))
    } else {
        let msg = format!("mock: the request offers no shell tool (tools: {names:?})");
        return write_json(sock, 400, &error_body(&msg)).await;
    };
    message_events(shared, &mut events, &["I will run ", "a command."]);
    events.push(json!({
        "type": "response.output_item.done",
        "item": { "type": "function_call", "id": shared.next_id("fc"),
                  "call_id": shared.next_id("call"), "name": name,
                  "arguments": args.to_string() },
    }));
    write_sse(sock, shared, events).await
}

async fn stall(sock: &mut TcpStream, shared: &Shared) -> std::io::Result<()> {
    let id = shared.next_id("msg");
    let events = [
        json!({ "type": "response.created", "response": { "id": shared.next_id("resp") } }),
        json!({ "type": "response.output_item.added",
                "item": { "type": "message", "role": "assistant", "id": id, "content": [] } }),
        json!({ "type": "response.output_text.delta", "item_id": id, "output_index": 0,
                "content_index": 0, "delta": "thinking..." }),
    ];
    shared.stalls.send_modify(|n| *n += 1);
    let result = async {
        let (mut rd, mut wr) = sock.split();
        wr.write_all(SSE_HEAD.as_bytes()).await?;
        for event in &events {
            wr.write_all(sse(event).as_bytes()).await?;
        }
        let deadline = tokio::time::Instant::now() + STALL_LIMIT;
        let mut tick = tokio::time::interval(KEEP_ALIVE);
        let mut buf = [0u8; 512];
        loop {
            tokio::select! {
                _ = tick.tick() => wr.write_all(b": keep-alive\n\n").await?,
                // The client sends nothing more: any read result means it went away.
                _ = rd.read(&mut buf) => return Ok(()),
                _ = tokio::time::sleep_until(deadline) => return Ok(()),
            }
        }
    }
    .await;
    shared.stalls.send_modify(|n| *n -= 1);
    result
}

/// `text` cut into word-sized chunks (at least two when it has two words).
fn chunks(text: &str) -> Vec<&str> {
    text.split_inclusive(' ').collect()
}

/// How `[mock:say TEXT]` streams TEXT: word-sized chunks (cut after spaces and newlines), and
/// a text of one or two words cut into up to three pieces, so that even a payload without
/// spaces arrives in several deltas. The chunks join to TEXT exactly.
pub fn say_chunks(text: &str) -> Vec<&str> {
    let words: Vec<&str> = text.split_inclusive([' ', '\n']).collect();
    if words.len() >= 3 {
        return words;
    }
    let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let count = bounds.len().min(3);
    if count == 0 {
        return vec![text];
    }
    let mut pieces = Vec::with_capacity(count);
    let mut start = 0;
    for k in 1..=count {
        let end = if k == count {
            text.len()
        } else {
            bounds[k * bounds.len() / count]
        };
        pieces.push(&text[start..end]);
        start = end;
    }
    pieces
}

/// The deltas of `[mock:slow N MS]`: `chunk 1 `, `chunk 2 `, … `chunk N `. Their
/// concatenation is the assistant message.
pub fn slow_text(chunks: u32) -> Vec<String> {
    (1..=chunks).map(|i| format!("chunk {i} ")).collect()
}

/// `[mock:slow N MS]`: one message whose deltas come `interval` apart, then
/// `response.completed`. Returns early, quietly, when the client goes away.
async fn slow(
    sock: &mut TcpStream,
    shared: &Shared,
    chunks: u32,
    interval: Duration,
) -> std::io::Result<()> {
    let response = shared.next_id("resp");
    let id = shared.next_id("msg");
    let deltas = slow_text(chunks);
    let (mut rd, mut wr) = sock.split();
    wr.write_all(SSE_HEAD.as_bytes()).await?;
    for event in [
        json!({ "type": "response.created", "response": { "id": response } }),
        json!({ "type": "response.output_item.added",
                "item": { "type": "message", "role": "assistant", "id": id, "content": [] } }),
    ] {
        wr.write_all(sse(&event).as_bytes()).await?;
    }
    let mut buf = [0u8; 512];
    for (i, delta) in deltas.iter().enumerate() {
        if i > 0 {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                // The client sends nothing more: any read result means it went away.
                _ = rd.read(&mut buf) => return Ok(()),
            }
        }
        let event = json!({ "type": "response.output_text.delta", "item_id": id,
                            "output_index": 0, "content_index": 0, "delta": delta });
        wr.write_all(sse(&event).as_bytes()).await?;
        wr.flush().await?;
    }
    for event in [
        json!({ "type": "response.output_item.done",
                "item": { "type": "message", "role": "assistant", "id": id,
                          "content": [{ "type": "output_text", "text": deltas.concat() }] } }),
        completed(&response),
    ] {
        wr.write_all(sse(&event).as_bytes()).await?;
    }
    wr.flush().await
}

/// Appends the events of one streamed assistant message (opening with `response.created`
/// when `events` is empty).
fn message_events(shared: &Shared, events: &mut Vec<Value>, chunks: &[&str]) {
    if events.is_empty() {
        events.push(json!({ "type": "response.created",
                            "response": { "id": shared.next_id("resp") } }));
    }
    let id = shared.next_id("msg");
    events.push(json!({
        "type": "response.output_item.added",
        "item": { "type": "message", "role": "assistant", "id": id, "content": [] },
    }));
    for chunk in chunks {
        events.push(json!({ "type": "response.output_text.delta", "item_id": id,
                            "output_index": 0, "content_index": 0, "delta": chunk }));
    }
    events.push(json!({
        "type": "response.output_item.done",
        "item": { "type": "message", "role": "assistant", "id": id,
                  "content": [{ "type": "output_text", "text": chunks.concat() }] },
    }));
}

const SSE_HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                        Cache-Control: no-cache\r\nConnection: close\r\n\r\n";

fn sse(event: &Value) -> String {
    let kind = event["type"].as_str().unwrap_or("message");
    format!("event: {kind}\ndata: {event}\n\n")
}

/// Streams `events` (one write each, so codex sees separate deltas), then `response.completed`.
async fn write_sse(
    sock: &mut TcpStream,
    shared: &Shared,
    mut events: Vec<Value>,
) -> std::io::Result<()> {
    let id = events
        .first()
        .and_then(|e| e["response"]["id"].as_str())
        .map_or_else(|| shared.next_id("resp"), str::to_string);
    events.push(completed(&id));
    sock.write_all(SSE_HEAD.as_bytes()).await?;
    for event in &events {
        sock.write_all(sse(event).as_bytes()).await?;
        sock.flush().await?;
    }
    Ok(())
}

/// The `response.completed` event that ends response `id`.
fn completed(id: &str) -> Value {
    json!({
        "type": "response.completed",
        "response": { "id": id, "usage": {
            "input_tokens": 10, "input_tokens_details": { "cached_tokens": 0 },
            "output_tokens": 5, "output_tokens_details": { "reasoning_tokens": 0 },
            "total_tokens": 15 } },
    })
}

fn error_body(message: &str) -> Value {
    json!({ "error": { "message": message, "type": "mock_error", "code": "mock_error" } })
}

async fn write_json(sock: &mut TcpStream, status: u16, body: &Value) -> std::io::Result<()> {
    let body = body.to_string();
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        411 => "Length Required",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        500 => "Internal Server Error",
        _ => "Mock Status",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    sock.write_all(head.as_bytes()).await?;
    sock.write_all(body.as_bytes()).await
}

/// Why a request could not be read, as the HTTP answer to give.
struct BadRequest {
    status: u16,
    message: String,
}

fn bad(status: u16, message: impl Into<String>) -> BadRequest {
    BadRequest {
        status,
        message: message.into(),
    }
}

/// Reads one request; `None` when the client closed without sending one.
async fn read_request(sock: &mut TcpStream) -> Result<Option<MockRequest>, BadRequest> {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err(bad(413, "mock: request head too large"));
        }
        let mut chunk = [0u8; 8192];
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) if buf.is_empty() => return Ok(None),
            Ok(0) | Err(_) => return Err(bad(400, "mock: truncated request head")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut start = lines.next().unwrap_or_default().split(' ');
    let (method, path) = (start.next(), start.next());
    let (Some(method), Some(path)) = (method, path) else {
        return Err(bad(400, "mock: malformed request line"));
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut req = MockRequest {
        method: method.to_string(),
        path: path.to_string(),
        headers,
        body: Value::Null,
    };
    if req.header("transfer-encoding").is_some() {
        return Err(bad(411, "mock: send a Content-Length body"));
    }
    if let Some(enc) = req.header("content-encoding").filter(|e| *e != "identity") {
        return Err(bad(
            415,
            format!("mock: compressed bodies ({enc}) unsupported"),
        ));
    }
    let len: usize = match req.header("content-length").map(str::parse) {
        None => 0,
        Some(Ok(n)) if n <= MAX_BODY => n,
        Some(_) => return Err(bad(413, "mock: bad or too large Content-Length")),
    };
    let mut body = buf.split_off(head_end + 4);
    while body.len() < len {
        let mut chunk = vec![0u8; (len - body.len()).min(64 * 1024)];
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return Err(bad(400, "mock: truncated request body")),
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(len);
    if !body.is_empty() {
        req.body = serde_json::from_slice(&body)
            .map_err(|e| bad(400, format!("mock: body is not JSON: {e}")))?;
    }
    Ok(Some(req))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives() {
        assert_eq!(Directive::parse("hello"), Directive::Reply);
        assert_eq!(
            Directive::parse("do it [mock:command [ -f x ] && echo yes] please"),
            Directive::Command("[ -f x ] && echo yes".into())
        );
        assert_eq!(Directive::parse("[mock:error 500]"), Directive::Error(500));
        assert_eq!(Directive::parse("x [mock:stall]"), Directive::Stall);
        assert!(matches!(
            Directive::parse("[mock:error 200]"),
            Directive::Unknown(_)
        ));
        assert!(matches!(
            Directive::parse("[mock:command"),
            Directive::Unknown(_)
        ));
    }

    #[test]
    fn say_takes_its_text_verbatim_to_the_matching_bracket() {
        assert_eq!(
            Directive::parse("x [mock:say # Title\n\n[a link](https://x.test)  ] y"),
            Directive::Say("# Title\n\n[a link](https://x.test)  ".into())
        );
        assert_eq!(
            Directive::parse("[mock:say <img src=x onerror=alert(1)>]"),
            Directive::Say("<img src=x onerror=alert(1)>".into())
        );
        assert!(matches!(
            Directive::parse("[mock:say]"),
            Directive::Unknown(_)
        ));
    }

    #[test]
    fn slow_takes_a_count_and_an_interval() {
        assert_eq!(
            Directive::parse("[mock:slow 20 50]"),
            Directive::Slow {
                chunks: 20,
                interval_ms: 50
            }
        );
        for bad in [
            "[mock:slow]",
            "[mock:slow 0 10]",
            "[mock:slow 5]",
            "[mock:slow 5 10 15]",
            "[mock:slow x 10]",
            "[mock:slow 5 60000]",
        ] {
            assert!(
                matches!(Directive::parse(bad), Directive::Unknown(_)),
                "{bad}"
            );
        }
        assert_eq!(slow_text(3).concat(), "chunk 1 chunk 2 chunk 3 ");
    }

    #[test]
    fn say_streams_any_text_in_several_deltas() {
        for text in [
            "<script>alert(1)</script>",
            "**bold** and `code`\n\n- item",
            "ab",
            "é",
            "one two",
        ] {
            let pieces = say_chunks(text);
            assert_eq!(pieces.concat(), text);
            assert!(
                pieces.len() >= text.chars().count().min(3),
                "{text}: {pieces:?}"
            );
            assert!(pieces.iter().all(|p| !p.is_empty()), "{text}: {pieces:?}");
        }
    }

    #[test]
    fn the_file_change_example_is_a_command_directive() {
        let Directive::Command(cmd) = Directive::parse(APPLY_PATCH_EXAMPLE) else {
            panic!("not a command: {APPLY_PATCH_EXAMPLE}");
        };
        assert!(cmd.starts_with("apply_patch <<'EOF'\n*** Begin Patch\n"));
        assert!(cmd.ends_with("*** End Patch\nEOF"));
    }

    #[test]
    fn reply_chunks() {
        let reply = plain_reply("a prompt that is rather longer than forty characters");
        assert_eq!(
            reply,
            "mock reply to: a prompt that is rather longer than fort"
        );
        assert!(chunks(&reply).len() > 2);
        assert_eq!(chunks(&reply).concat(), reply);
    }
}

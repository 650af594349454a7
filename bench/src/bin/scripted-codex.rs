//! `scripted-codex`: a stand-in for `codex app-server` in the web client's benchmark
//! (`web/bench`, docs/benchmarks.md), run by the real anchor in place of codex. It holds one
//! long thread and streams model deltas at a set pace, so what is measured is the browser's
//! cost for a big transcript and a fast stream, not the model's or codex's.
//!
//! Its shapes are those of the pinned codex (0.169), trimmed to what the client reads. Set by
//! the environment:
//!
//! * `ORBIT_SCRIPTED_ITEMS`: items in the thread's history (default 5,000), in turns of four
//!   (a user message, an answer in Markdown, a command with its output, a closing answer);
//! * `ORBIT_SCRIPTED_DELTAS`: deltas each `turn/start` streams (default 200);
//! * `ORBIT_SCRIPTED_DELTA_INTERVAL_US`: microseconds between two deltas (default 5,000,
//!   i.e. 200 a second).
//!
//! A `turn/start` whose message holds `deltas=N` or `interval_us=N` streams that turn with those
//! instead (the benchmark streams a short turn to time deltas, then a longer one to watch frames).
//!
//! It answers `initialize`, `thread/list`, `thread/read`, `thread/resume` (all turns, or none
//! with `excludeTurns`), `thread/turns/list` (pages, newest first unless `sortDirection` is
//! `asc`), `turn/start` (then streams the turn: `turn/started`, the user's message, an agent
//! message of `w0001 w0002 …` deltas, `turn/completed`) and `turn/interrupt` (ends the stream
//! early); anything else is a JSON-RPC "method not found" error. It exits at the end of its
//! input.

use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

const THREAD_ID: &str = "01a1fc8b-0000-7000-8000-00000000be9c";
const TURNS_PAGE_DEFAULT: usize = 25;

/// The script's knobs (see the module's documentation).
#[derive(Debug, Clone, Copy)]
struct Script {
    history_items: usize,
    deltas: usize,
    delta_interval: Duration,
}

impl Script {
    fn from_env() -> Self {
        let number = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(default)
        };
        Self {
            history_items: usize::try_from(number("ORBIT_SCRIPTED_ITEMS", 5_000)).unwrap_or(5_000),
            deltas: usize::try_from(number("ORBIT_SCRIPTED_DELTAS", 200)).unwrap_or(200),
            delta_interval: Duration::from_micros(number(
                "ORBIT_SCRIPTED_DELTA_INTERVAL_US",
                5_000,
            )),
        }
    }
}

impl Script {
    /// This script, with `deltas=N` / `interval_us=N` from a turn's message applied.
    fn for_turn(self, text: &str) -> Self {
        let knob = |name: &str| {
            text.split_whitespace().find_map(|word| {
                word.strip_prefix(name)?
                    .strip_prefix('=')?
                    .parse::<u64>()
                    .ok()
            })
        };
        Self {
            deltas: knob("deltas")
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(self.deltas),
            delta_interval: knob("interval_us").map_or(self.delta_interval, Duration::from_micros),
            ..self
        }
    }
}

/// Output lines, from the reader and the streaming thread alike.
#[derive(Clone)]
struct Out(Arc<Mutex<std::io::Stdout>>);

impl Out {
    fn send(&self, message: &Value) -> bool {
        let mut out = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        writeln!(out, "{message}")
            .and_then(|()| out.flush())
            .is_ok()
    }
}

/// The thread: its finished turns, and whether a turn is streaming.
struct State {
    script: Script,
    turns: Vec<Value>,
    started: u64,
    streaming: Option<Arc<AtomicBool>>,
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn main() {
    let script = Script::from_env();
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| "/".into());
    let started = now_ms() / 1000;
    let state: Shared = Arc::new(Mutex::new(State {
        script,
        turns: history(script.history_items, &cwd, started),
        started,
        streaming: None,
    }));
    let out = Out(Arc::new(Mutex::new(std::io::stdout())));
    for line in BufReader::new(std::io::stdin().lock()).lines() {
        let Ok(line) = line else { break };
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let (Some(id), Some(method)) = (message.get("id"), message["method"].as_str()) else {
            continue;
        };
        let params = message.get("params").cloned().unwrap_or(Value::Null);
        let answer = match answer(&state, &out, &cwd, method, &params) {
            Ok(result) => json!({"id": id, "result": result}),
            Err(message) => json!({"id": id, "error": {"code": -32601, "message": message}}),
        };
        if !out.send(&answer) {
            break;
        }
    }
}

fn answer(
    state: &Shared,
    out: &Out,
    cwd: &str,
    method: &str,
    params: &Value,
) -> Result<Value, String> {
    match method {
        "initialize" => Ok(json!({"userAgent": "scripted-codex/0.0.0 (bench)"})),
        "thread/list" => {
            let st = lock(state);
            Ok(
                json!({"data": [thread(&st, cwd, false)], "nextCursor": null, "backwardsCursor": null}),
            )
        }
        "thread/read" => {
            known_thread(params)?;
            let st = lock(state);
            Ok(json!({"thread": thread(&st, cwd, params["includeTurns"] == true)}))
        }
        "thread/resume" => {
            known_thread(params)?;
            let st = lock(state);
            Ok(json!({
                "thread": thread(&st, cwd, params["excludeTurns"] != true),
                "model": "scripted", "modelProvider": "mock", "serviceTier": null,
                "disabledPluginIds": [], "cwd": cwd, "instructionSources": [],
                "approvalPolicy": "on-request", "approvalsReviewer": "user",
                "sandbox": {"type": "workspaceWrite", "writableRoots": [], "networkAccess": false,
                            "excludeTmpdirEnvVar": false, "excludeSlashTmp": false},
                "reasoningEffort": null, "collaborationMode": null,
                "turnsBackwardsCursor": null, "itemsBackwardsCursor": null,
            }))
        }
        "thread/turns/list" => {
            known_thread(params)?;
            Ok(turns_page(&lock(state).turns, params))
        }
        "turn/start" => {
            known_thread(params)?;
            Ok(start_turn(state, out, params))
        }
        "turn/interrupt" => {
            if let Some(flag) = lock(state).streaming.take() {
                flag.store(true, Ordering::SeqCst);
            }
            Ok(json!({}))
        }
        other => Err(format!("scripted-codex does not script {other}")),
    }
}

fn known_thread(params: &Value) -> Result<(), String> {
    if params["threadId"] == THREAD_ID {
        Ok(())
    } else {
        Err(format!("no thread {}", params["threadId"]))
    }
}

fn thread(st: &State, cwd: &str, with_turns: bool) -> Value {
    let status = if st.streaming.is_some() {
        json!({"type": "active", "activeFlags": []})
    } else {
        json!({"type": "idle"})
    };
    json!({
        "id": THREAD_ID, "sessionId": THREAD_ID, "forkedFromId": null, "parentThreadId": null,
        "preview": "A long thread for the web client's benchmark", "ephemeral": false,
        "section": null, "sectionEnteredAt": null, "projectId": null, "historyMode": "paginated",
        "modelProvider": "mock", "model": "scripted", "reasoningEffort": null,
        "createdAt": st.started, "updatedAt": st.started, "recencyAt": st.started,
        "status": status, "path": null, "cwd": cwd, "cliVersion": "0.169.0",
        "originator": "scripted-codex", "source": "appServer", "threadSource": null,
        "agentNickname": null, "agentRole": null, "gitInfo": null, "name": "Benchmark thread",
        "turns": if with_turns { Value::Array(st.turns.clone()) } else { json!([]) },
    })
}

/// A page of turns: `cursor` is the index to start from (as a string), newest first by default.
fn turns_page(turns: &[Value], params: &Value) -> Value {
    let limit = params["limit"]
        .as_u64()
        .and_then(|l| usize::try_from(l).ok())
        .filter(|&l| l > 0)
        .unwrap_or(TURNS_PAGE_DEFAULT);
    let ascending = params["sortDirection"] == "asc";
    let start = params["cursor"]
        .as_str()
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(0);
    let ordered: Vec<&Value> = if ascending {
        turns.iter().collect()
    } else {
        turns.iter().rev().collect()
    };
    let page: Vec<&Value> = ordered.iter().skip(start).take(limit).copied().collect();
    let next = start + page.len();
    json!({
        "data": page,
        "nextCursor": (next < ordered.len()).then(|| next.to_string()),
        "backwardsCursor": (!page.is_empty()).then(|| start.to_string()),
    })
}

fn turn(id: &str, items: Vec<Value>, status: &str, at: u64) -> Value {
    json!({
        "id": id, "rootTurnId": id, "items": items, "itemsView": "full", "status": status,
        "error": null, "startedAt": at, "completedAt": if status == "inProgress" { Value::Null } else { json!(at) },
        "durationMs": null,
    })
}

fn user_message(id: &str, text: &str) -> Value {
    json!({"type": "userMessage", "id": id, "clientId": null,
           "content": [{"type": "text", "text": text, "text_elements": []}]})
}

fn agent_message(id: &str, text: &str) -> Value {
    json!({"type": "agentMessage", "moderation": null, "id": id, "text": text, "phase": null,
           "memoryCitation": null, "delivery": null, "questions": null})
}

/// `items` items of varied, realistic content, in turns of four.
fn history(items: usize, cwd: &str, at: u64) -> Vec<Value> {
    let mut turns = Vec::new();
    let mut made = 0;
    let mut n = 0;
    while made < items {
        n += 1;
        let mut list = vec![
            user_message(&format!("u{n}"), &format!("Step {n}: look at module_{n}.rs and tidy its error handling.")),
            agent_message(
                &format!("a{n}"),
                &format!(
                    "Looking at `module_{n}.rs`. It has **three** places that swallow errors:\n\n\
                     1. `parse_header` returns `None` on a bad length\n\
                     2. `read_body` ignores a short read\n\
                     3. `finish` drops the flush error\n\nI will run the tests first."
                ),
            ),
            json!({"type": "commandExecution", "id": format!("c{n}"), "pluginId": null,
                   "scriptPath": null, "command": format!("cargo test -p module_{n}"), "cwd": cwd,
                   "processId": null, "source": "agent", "status": "completed",
                   "commandActions": [{"type": "unknown", "command": format!("cargo test -p module_{n}")}],
                   "aggregatedOutput": format!("running 12 tests\n............\ntest result: ok. 12 passed; 0 failed (module_{n})\n"),
                   "exitCode": 0, "durationMs": 840}),
            agent_message(
                &format!("d{n}"),
                &format!(
                    "Done. The error now carries its cause:\n\n```rust\nfn parse_header(buf: &[u8]) -> Result<Header, Error> {{\n    \
                     let len = buf.get(..4).ok_or(Error::Short {{ step: {n} }})?;\n    Ok(Header::new(len))\n}}\n```"
                ),
            ),
        ];
        list.truncate(items - made);
        made += list.len();
        turns.push(turn(&format!("t{n}"), list, "completed", at));
    }
    turns
}

/// Answers `turn/start` and streams the turn on a thread of its own.
fn start_turn(state: &Shared, out: &Out, params: &Value) -> Value {
    let text = params["input"][0]["text"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let mut st = lock(state);
    if let Some(old) = st.streaming.take() {
        old.store(true, Ordering::SeqCst);
    }
    let n = st.turns.len() + 1;
    let turn_id = format!("t{n}");
    let at = now_ms() / 1000;
    let stop = Arc::new(AtomicBool::new(false));
    st.streaming = Some(stop.clone());
    let script = st.script.for_turn(&text);
    drop(st);
    let started = turn(&turn_id, vec![], "inProgress", at);
    let (state, out, answer) = (state.clone(), out.clone(), started.clone());
    thread::spawn(move || stream(&state, &out, script, &turn_id, &text, &started, &stop));
    json!({"turn": answer})
}

fn notify(out: &Out, method: &str, params: Value) -> bool {
    out.send(&json!({"method": method, "params": params}))
}

fn stream(
    state: &Shared,
    out: &Out,
    script: Script,
    turn_id: &str,
    text: &str,
    started: &Value,
    stop: &AtomicBool,
) {
    let n = turn_id.trim_start_matches('t');
    let base = json!({"threadId": THREAD_ID, "turnId": turn_id});
    let with = |extra: Value| {
        let mut p = base.clone();
        if let (Some(p), Value::Object(extra)) = (p.as_object_mut(), extra) {
            p.extend(extra);
        }
        p
    };
    let user = user_message(&format!("u{n}"), text);
    let agent_id = format!("a{n}");
    notify(
        out,
        "turn/started",
        json!({"threadId": THREAD_ID, "turn": started}),
    );
    notify(out, "item/started", with(json!({"item": user})));
    notify(out, "item/completed", with(json!({"item": user})));
    notify(
        out,
        "item/started",
        with(json!({"item": agent_message(&agent_id, "")})),
    );
    let mut said = String::new();
    let begin = Instant::now();
    for i in 1..=script.deltas {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        // On a schedule from the start, so a late wake-up does not slow the whole stream.
        let due = begin + script.delta_interval * u32::try_from(i).unwrap_or(u32::MAX);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        let delta = format!("w{i:04} ");
        said.push_str(&delta);
        if !notify(
            out,
            "item/agentMessage/delta",
            with(json!({"itemId": agent_id, "delta": delta})),
        ) {
            return;
        }
    }
    let agent = agent_message(&agent_id, &said);
    notify(out, "item/completed", with(json!({"item": agent})));
    let interrupted = stop.load(Ordering::SeqCst);
    let status = if interrupted {
        "interrupted"
    } else {
        "completed"
    };
    let done = turn(turn_id, vec![user, agent], status, now_ms() / 1000);
    {
        let mut st = lock(state);
        st.turns.push(done.clone());
        if !interrupted {
            st.streaming = None;
        }
    }
    notify(
        out,
        "turn/completed",
        json!({"threadId": THREAD_ID, "turn": done}),
    );
}

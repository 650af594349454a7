//! The bridge between Orbit (WebSocket text frames) and `codex app-server` (JSON lines on
//! stdio), as a sans-IO state machine: the binary feeds [`BridgeEvent`]s into
//! [`Bridge::handle`] and carries out the [`BridgeAction`]s it returns.
//!
//! States: [`BridgeState::Starting`] (no codex yet) → `Initializing` (the anchor sent its own
//! `initialize`, id `"anchor-init-N"`, a namespace no Orbit-rewritten id uses) → `Ready` (the
//! answer came and the anchor sent `initialized`) → `Restarting` when codex exits, and back to
//! `Initializing` when the binary reports [`BridgeEvent::CodexStarted`] again.
//!
//! Decisions, and why:
//! * Codex refuses requests before its handshake (-32600), so frames from Orbit wait in a
//!   bounded queue until `Ready` (default 1,000 frames / 8 MiB). A request that does not fit is
//!   answered at once with a JSON-RPC error whose `data.code` is `anchor_busy`.
//! * Codex accepts a single `initialize` per process, and the anchor already did it; a client's
//!   `initialize` is answered by the anchor with codex's cached result, and a client's
//!   `initialized` notification is dropped.
//! * `anchor.*` requests are the anchor's own helpers: they come out as
//!   [`BridgeAction::HandleHelper`] and never reach codex. They work in every state.
//! * Frames with a top-level `type` are Orbit control frames (`orbit.hello`, `orbit.error`,
//!   `ping`, `pong`…): `ping` is answered with `pong`, the rest are reported as
//!   [`BridgeAction::OrbitControl`], none reaches codex.
//! * Requests forwarded to codex are tracked by id. When codex exits, each gets a JSON-RPC
//!   error with `data.code = "codex_exited"`, and clients get the notification
//!   `{"method":"anchor/codexExited","params":{"exitCode":…,"failedRequests":…,
//!   "abandonedServerRequests":[…],"restartInMs":…}}`; when the new codex finishes its handshake
//!   they get `{"method":"anchor/codexRestarted","params":{"restarts":N}}`. Server requests
//!   codex had sent (approvals) die with it; late answers to them are dropped, never delivered
//!   to the new codex (whose ids start from 0 again and would collide).
//! * Codex lines that are not JSON are dropped and counted (codex ignores such lines too).
//! * While Orbit is disconnected, frames for Orbit are buffered (default 1,000 frames / 8 MiB).
//!   When full, the oldest *notification* is dropped first: notifications can be recovered by
//!   re-reading the thread, whereas a response or a server request has someone waiting on it.
//!   Only if the buffer holds nothing but those is the oldest of them dropped. Drops are counted.
//! * On each (re)connection to Orbit, `anchor.hello` is sent first, then the buffer. Once codex
//!   has answered the handshake, the hello carries codex's version (parsed from `userAgent`);
//!   if Orbit was already connected, the hello is sent again with it.
//! * A codex line larger than Orbit's frame limit could never be delivered: a response is
//!   replaced by a JSON-RPC error (`data.code = "frame_too_large"`) to its requester, anything
//!   else is dropped and counted.
//! * Each client answer to a codex server request is reported as [`BridgeAction::Decision`],
//!   so approval decisions can be written to the audit log.
//!
//! ```
//! use orbit_shared::anchor::bridge::{Bridge, BridgeAction, BridgeConfig, BridgeEvent, BridgeState};
//! let mut bridge = Bridge::new(BridgeConfig::default());
//! let actions = bridge.handle(BridgeEvent::CodexStarted, 0, 0.5);
//! assert!(matches!(&actions[..], [BridgeAction::ToCodex(init)] if init.contains("anchor-init-1")));
//! let answer = r#"{"id":"anchor-init-1","result":{}}"#.to_string();
//! let actions = bridge.handle(BridgeEvent::CodexLine(answer), 70, 0.5);
//! assert_eq!(actions, vec![BridgeAction::ToCodex(r#"{"method":"initialized"}"#.into())]);
//! assert_eq!(bridge.state(), BridgeState::Ready);
//! ```

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::anchor::backoff::{Backoff, BackoffConfig};
use orbit_protocol::control::{AnchorHello, PONG_FRAME};
const ROUTING_ERROR: i64 = orbit_protocol::rpc::RpcCode::Routing.number();

/// Prefix of the anchor's own request ids toward codex.
pub const INIT_ID_PREFIX: &str = "anchor-init-";
/// Notification sent to clients when codex exits.
pub const CODEX_EXITED_METHOD: &str = "anchor/codexExited";
/// Notification sent to clients when a restarted codex is ready again.
pub const CODEX_RESTARTED_METHOD: &str = "anchor/codexRestarted";

/// Bounds and identity of a bridge.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// `params` of the anchor's `initialize` (`clientInfo`, `capabilities`).
    pub initialize_params: Value,
    /// Sent to Orbit as `{"type":"anchor.hello",…}` on every connection.
    pub hello: AnchorHello,
    pub max_queued_to_codex_frames: usize,
    pub max_queued_to_codex_bytes: usize,
    pub max_buffered_to_orbit_frames: usize,
    pub max_buffered_to_orbit_bytes: usize,
    /// Largest frame Orbit accepts ([`orbit_protocol::limits::MAX_FRAME_BYTES`]).
    pub max_frame_bytes: usize,
    pub restart_backoff: BackoffConfig,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            initialize_params: json!({
                "clientInfo": {"name": "orbit-anchor", "title": "Orbit anchor", "version": env!("CARGO_PKG_VERSION")},
                "capabilities": {"experimentalApi": false},
            }),
            hello: AnchorHello::default(),
            max_queued_to_codex_frames: 1_000,
            max_queued_to_codex_bytes: 8 * 1024 * 1024,
            max_buffered_to_orbit_frames: 1_000,
            max_buffered_to_orbit_bytes: 8 * 1024 * 1024,
            max_frame_bytes: orbit_protocol::limits::MAX_FRAME_BYTES,
            restart_backoff: BackoffConfig::default(),
        }
    }
}

/// Where the bridge is in codex's life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeState {
    /// Waiting for the first codex process.
    Starting,
    /// `initialize` sent, waiting for its answer.
    Initializing,
    /// Handshake complete; frames flow both ways.
    Ready,
    /// Codex exited; a restart was requested.
    Restarting,
}

/// Something that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BridgeEvent {
    /// A codex process was spawned and its stdio is connected.
    CodexStarted,
    /// One line from codex's stdout (without the newline).
    CodexLine(String),
    /// The codex process exited (`None`: killed by a signal).
    CodexExited {
        code: Option<i32>,
    },
    /// One text frame from Orbit.
    OrbitFrame(String),
    OrbitConnected,
    OrbitDisconnected,
    /// A frame the anchor itself sends to Orbit: its answer to a [`BridgeAction::HandleHelper`],
    /// or a frame handed to a connection that died before writing it. Sent now if Orbit is
    /// connected, else buffered (never dropped before notifications are).
    LocalFrame(String),
}

/// Something the binary must do.
#[derive(Debug, Clone, PartialEq)]
pub enum BridgeAction {
    /// Write this line (plus `\n`) to codex's stdin.
    ToCodex(String),
    /// Send this text frame to Orbit (only emitted while Orbit is connected).
    ToOrbit(String),
    /// Answer an `anchor.*` request; reply with [`Bridge::helper_response`] (or an error).
    HandleHelper {
        id: Value,
        method: String,
        params: Value,
    },
    /// An Orbit control frame for the binary to log or record (e.g. `orbit.error`).
    OrbitControl { kind: String, frame: Value },
    /// Spawn codex again after this delay, then report [`BridgeEvent::CodexStarted`].
    RestartCodexAfter(Duration),
    /// Codex answered the handshake with an error: kill it (its exit restarts it).
    KillCodex { reason: String },
    /// A client answered a codex server request (an approval); the answer went to codex.
    /// `decision` is `result.decision` when present, else `"error"` or `"answered"`.
    Decision {
        method: String,
        request_id: Value,
        decision: String,
    },
}

/// Counters for `anchor status` and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BridgeStats {
    pub codex_non_json_lines: u64,
    pub orbit_frames_dropped: u64,
    pub busy_rejections: u64,
    pub failed_on_exit: u64,
    pub to_orbit_notifications_dropped: u64,
    pub to_orbit_responses_dropped: u64,
    pub stale_answers_dropped: u64,
    pub codex_restarts: u64,
    pub oversized_codex_lines: u64,
}

#[derive(Debug)]
struct OutFrame {
    text: String,
    /// A notification may be dropped under pressure; responses and requests may not first.
    droppable: bool,
}

/// The bridge state machine. See the module docs.
#[derive(Debug)]
pub struct Bridge {
    config: BridgeConfig,
    state: BridgeState,
    init_counter: u64,
    init_id: Option<String>,
    init_result: Option<Value>,
    /// Frames from Orbit waiting for `Ready`.
    to_codex: VecDeque<String>,
    to_codex_bytes: usize,
    /// Frames for Orbit waiting for a connection.
    to_orbit: VecDeque<OutFrame>,
    to_orbit_bytes: usize,
    orbit_connected: bool,
    /// Request ids (JSON text) forwarded to the current codex → the original id value.
    in_flight: HashMap<String, Value>,
    /// Ids (JSON text) of server requests the current codex is waiting on → their method.
    codex_requests: HashMap<String, String>,
    backoff: Backoff,
    restarting: bool,
    stats: BridgeStats,
    last_error: Option<String>,
}

impl Bridge {
    pub fn new(config: BridgeConfig) -> Self {
        let backoff = Backoff::new(config.restart_backoff);
        Bridge {
            config,
            state: BridgeState::Starting,
            init_counter: 0,
            init_id: None,
            init_result: None,
            to_codex: VecDeque::new(),
            to_codex_bytes: 0,
            to_orbit: VecDeque::new(),
            to_orbit_bytes: 0,
            orbit_connected: false,
            in_flight: HashMap::new(),
            codex_requests: HashMap::new(),
            backoff,
            restarting: false,
            stats: BridgeStats::default(),
            last_error: None,
        }
    }

    pub fn state(&self) -> BridgeState {
        self.state
    }

    pub fn stats(&self) -> &BridgeStats {
        &self.stats
    }

    /// The last codex exit or handshake failure, for `anchor status`.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Requests forwarded to codex and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Frames from Orbit waiting for codex.
    pub fn queued_to_codex(&self) -> usize {
        self.to_codex.len()
    }

    /// Frames waiting for Orbit to reconnect.
    pub fn buffered_to_orbit(&self) -> usize {
        self.to_orbit.len()
    }

    /// The result codex gave the anchor's `initialize` (e.g. for `anchor.hello`'s codex version).
    pub fn initialize_result(&self) -> Option<&Value> {
        self.init_result.as_ref()
    }

    /// Codex's version, once a codex has answered the handshake (as sent in `anchor.hello`).
    pub fn codex_version(&self) -> Option<&str> {
        self.config.hello.codex_version.as_deref()
    }

    /// Builds the JSON-RPC response to a [`BridgeAction::HandleHelper`] request.
    pub fn helper_response(id: &Value, result: Result<Value, (&str, &str)>) -> String {
        match result {
            Ok(result) => json!({"id": id, "result": result}).to_string(),
            Err((code, message)) => error_response(id, code, message),
        }
    }

    /// Feeds one event. `now_ms` is a monotonic clock in milliseconds; `random` a uniform
    /// value in `[0, 1)` (used for restart jitter).
    pub fn handle(&mut self, event: BridgeEvent, now_ms: u64, random: f64) -> Vec<BridgeAction> {
        let mut out = Vec::new();
        match event {
            BridgeEvent::CodexStarted => self.codex_started(&mut out),
            BridgeEvent::CodexLine(line) => self.codex_line(line, now_ms, &mut out),
            BridgeEvent::CodexExited { code } => self.codex_exited(code, now_ms, random, &mut out),
            BridgeEvent::OrbitFrame(text) => self.orbit_frame(text, &mut out),
            BridgeEvent::OrbitConnected => {
                self.orbit_connected = true;
                out.push(BridgeAction::ToOrbit(self.hello_frame()));
                while let Some(frame) = self.to_orbit.pop_front() {
                    out.push(BridgeAction::ToOrbit(frame.text));
                }
                self.to_orbit_bytes = 0;
            }
            BridgeEvent::OrbitDisconnected => self.orbit_connected = false,
            BridgeEvent::LocalFrame(text) => self.local_frame(text, &mut out),
        }
        out
    }

    fn local_frame(&mut self, text: String, out: &mut Vec<BridgeAction>) {
        if text.len() <= self.config.max_frame_bytes {
            self.emit_orbit(text, false, out);
            return;
        }
        // Orbit would refuse it and its requester would wait forever: answer with an error.
        if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&text) {
            let id = map.get("id").filter(|id| !id.is_null());
            let is_response = id.is_some() && !map.contains_key("method");
            self.oversized_line(&map, id, is_response, text.len(), out);
        }
    }

    /// The `anchor.hello` control frame for the current metadata.
    fn hello_frame(&self) -> String {
        let mut hello = serde_json::to_value(&self.config.hello).unwrap_or_else(|_| json!({}));
        if let Value::Object(map) = &mut hello {
            map.insert("type".into(), Value::String("anchor.hello".into()));
        }
        hello.to_string()
    }

    fn codex_started(&mut self, out: &mut Vec<BridgeAction>) {
        self.init_counter += 1;
        let id = format!("{INIT_ID_PREFIX}{}", self.init_counter);
        let request =
            json!({"id": id, "method": "initialize", "params": self.config.initialize_params});
        self.init_id = Some(id);
        self.state = BridgeState::Initializing;
        self.in_flight.clear();
        self.codex_requests.clear();
        out.push(BridgeAction::ToCodex(request.to_string()));
    }

    fn codex_line(&mut self, line: String, now_ms: u64, out: &mut Vec<BridgeAction>) {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return;
        }
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(trimmed) else {
            self.stats.codex_non_json_lines += 1;
            return;
        };
        let id = map.get("id").filter(|id| !id.is_null());
        let is_response = id.is_some() && !map.contains_key("method");
        if line.len() > self.config.max_frame_bytes
            && !(self.state == BridgeState::Initializing
                && id.and_then(Value::as_str) == self.init_id.as_deref())
        {
            self.oversized_line(&map, id, is_response, line.len(), out);
            return;
        }
        if is_response {
            let key = id.map(Value::to_string).unwrap_or_default();
            if self.state == BridgeState::Initializing
                && id.and_then(Value::as_str) == self.init_id.as_deref()
            {
                self.handshake_answer(&map, now_ms, out);
                return;
            }
            self.in_flight.remove(&key);
        } else if let Some(id) = id {
            let method = map
                .get("method")
                .and_then(Value::as_str)
                .unwrap_or_default();
            self.codex_requests
                .insert(id.to_string(), method.to_string());
        }
        self.emit_orbit(line, !is_response && id.is_none(), out);
    }

    fn oversized_line(
        &mut self,
        map: &Map<String, Value>,
        id: Option<&Value>,
        is_response: bool,
        len: usize,
        out: &mut Vec<BridgeAction>,
    ) {
        self.stats.oversized_codex_lines += 1;
        let method = map
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("response");
        self.last_error = Some(format!(
            "a {len}-byte {method} frame for Orbit is over Orbit's {} byte limit; dropped",
            self.config.max_frame_bytes
        ));
        if let (true, Some(id)) = (is_response, id) {
            self.in_flight.remove(&id.to_string());
            let message = format!(
                "the answer is {len} bytes, more than Orbit relays ({} bytes); \
                 ask for less (e.g. a smaller page or limit)",
                self.config.max_frame_bytes
            );
            self.emit_orbit(error_response(id, "frame_too_large", &message), false, out);
        }
    }

    fn handshake_answer(
        &mut self,
        map: &Map<String, Value>,
        now_ms: u64,
        out: &mut Vec<BridgeAction>,
    ) {
        self.init_id = None;
        if let Some(error) = map.get("error") {
            let reason = format!("codex refused initialize: {error}");
            self.last_error = Some(reason.clone());
            out.push(BridgeAction::KillCodex { reason });
            return;
        }
        self.init_result = Some(map.get("result").cloned().unwrap_or(Value::Null));
        let codex_version = self
            .init_result
            .as_ref()
            .and_then(|r| r.get("userAgent"))
            .and_then(Value::as_str)
            .and_then(codex_version_from_user_agent);
        if codex_version.is_some() && codex_version != self.config.hello.codex_version {
            self.config.hello.codex_version = codex_version;
            if self.orbit_connected {
                out.push(BridgeAction::ToOrbit(self.hello_frame()));
            }
        }
        out.push(BridgeAction::ToCodex(
            json!({"method": "initialized"}).to_string(),
        ));
        self.state = BridgeState::Ready;
        self.backoff.connected(now_ms);
        if self.restarting {
            self.restarting = false;
            let note = json!({"method": CODEX_RESTARTED_METHOD, "params": {"restarts": self.stats.codex_restarts}});
            self.emit_orbit(note.to_string(), true, out);
        }
        self.to_codex_bytes = 0;
        let queued = std::mem::take(&mut self.to_codex);
        for frame in queued {
            self.orbit_rpc(frame, out);
        }
    }

    fn codex_exited(
        &mut self,
        code: Option<i32>,
        now_ms: u64,
        random: f64,
        out: &mut Vec<BridgeAction>,
    ) {
        let described = match code {
            Some(code) => format!("codex exited with status {code}"),
            None => "codex was killed by a signal".to_string(),
        };
        self.last_error = Some(described.clone());
        let message = format!(
            "{described} before answering; the request was not completed (codex is restarting)"
        );
        let mut failed: Vec<(String, Value)> = self.in_flight.drain().collect();
        failed.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, id) in &failed {
            self.stats.failed_on_exit += 1;
            self.emit_orbit(error_response(id, "codex_exited", &message), false, out);
        }
        let mut abandoned: Vec<Value> = self
            .codex_requests
            .drain()
            .filter_map(|(text, _)| serde_json::from_str(&text).ok())
            .collect();
        abandoned.sort_by_key(Value::to_string);
        self.init_id = None;
        self.backoff.disconnected(now_ms);
        let delay = self.backoff.next_delay(random);
        self.state = BridgeState::Restarting;
        self.restarting = true;
        self.stats.codex_restarts += 1;
        let note = json!({
            "method": CODEX_EXITED_METHOD,
            "params": {
                "exitCode": code,
                "failedRequests": failed.len(),
                "abandonedServerRequests": abandoned,
                "restartInMs": u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            },
        });
        self.emit_orbit(note.to_string(), true, out);
        out.push(BridgeAction::RestartCodexAfter(delay));
    }

    fn orbit_frame(&mut self, text: String, out: &mut Vec<BridgeAction>) {
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&text) else {
            self.stats.orbit_frames_dropped += 1;
            return;
        };
        if let Some(kind) = map.get("type") {
            let kind = kind.as_str().unwrap_or_default().to_string();
            match kind.as_str() {
                "ping" => out.push(BridgeAction::ToOrbit(PONG_FRAME.to_string())),
                "pong" => {}
                _ => out.push(BridgeAction::OrbitControl {
                    kind,
                    frame: Value::Object(map),
                }),
            }
            return;
        }
        let method = map.get("method").and_then(Value::as_str);
        let id = map.get("id").filter(|id| !id.is_null());
        if let (Some(method), Some(id)) = (method, id) {
            if method.starts_with("anchor.") {
                out.push(BridgeAction::HandleHelper {
                    id: id.clone(),
                    method: method.to_string(),
                    params: map.get("params").cloned().unwrap_or(Value::Null),
                });
                return;
            }
        }
        if method == Some("initialized") && id.is_none() {
            return;
        }
        if self.state == BridgeState::Ready {
            self.orbit_rpc(text, out);
        } else {
            self.queue_to_codex(text, id.cloned(), out);
        }
    }

    fn queue_to_codex(&mut self, text: String, id: Option<Value>, out: &mut Vec<BridgeAction>) {
        let fits = self.to_codex.len() < self.config.max_queued_to_codex_frames
            && self.to_codex_bytes + text.len() <= self.config.max_queued_to_codex_bytes;
        if fits {
            self.to_codex_bytes += text.len();
            self.to_codex.push_back(text);
            return;
        }
        self.stats.busy_rejections += 1;
        if let Some(id) = id {
            let message = "the anchor's queue for codex is full while codex starts; retry shortly";
            self.emit_orbit(error_response(&id, "anchor_busy", message), false, out);
        }
    }

    /// Forwards a JSON-RPC frame from Orbit to a ready codex.
    fn orbit_rpc(&mut self, text: String, out: &mut Vec<BridgeAction>) {
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&text) else {
            self.stats.orbit_frames_dropped += 1;
            return;
        };
        let id = map.get("id").filter(|id| !id.is_null());
        match (id, map.get("method").and_then(Value::as_str)) {
            (Some(id), Some("initialize")) => {
                let result = self.init_result.clone().unwrap_or(Value::Null);
                let answer = json!({"id": id, "result": result}).to_string();
                self.emit_orbit(answer, false, out);
            }
            (Some(id), Some(_)) => {
                self.in_flight.insert(id.to_string(), id.clone());
                out.push(BridgeAction::ToCodex(text));
            }
            (Some(id), None) => {
                if let Some(method) = self.codex_requests.remove(&id.to_string()) {
                    let decision = match (map.get("result"), map.get("error")) {
                        (Some(result), _) => result
                            .get("decision")
                            .map(|d| d.as_str().map_or_else(|| d.to_string(), str::to_owned))
                            .unwrap_or_else(|| "answered".to_string()),
                        (None, Some(_)) => "error".to_string(),
                        (None, None) => "answered".to_string(),
                    };
                    out.push(BridgeAction::Decision {
                        method,
                        request_id: id.clone(),
                        decision,
                    });
                    out.push(BridgeAction::ToCodex(text));
                } else {
                    self.stats.stale_answers_dropped += 1;
                }
            }
            (None, _) => out.push(BridgeAction::ToCodex(text)),
        }
    }

    fn emit_orbit(&mut self, text: String, droppable: bool, out: &mut Vec<BridgeAction>) {
        if self.orbit_connected {
            out.push(BridgeAction::ToOrbit(text));
            return;
        }
        self.to_orbit_bytes += text.len();
        self.to_orbit.push_back(OutFrame { text, droppable });
        while self.to_orbit.len() > self.config.max_buffered_to_orbit_frames
            || self.to_orbit_bytes > self.config.max_buffered_to_orbit_bytes
        {
            let victim = self.to_orbit.iter().position(|f| f.droppable).unwrap_or(0);
            let Some(frame) = self.to_orbit.remove(victim) else {
                break;
            };
            self.to_orbit_bytes -= frame.text.len();
            if frame.droppable {
                self.stats.to_orbit_notifications_dropped += 1;
            } else {
                self.stats.to_orbit_responses_dropped += 1;
            }
        }
    }
}

/// Codex's version from its `initialize` answer's `userAgent`, whose first word is
/// `<client name>/<codex version>` (e.g. `orbit-anchor/0.169.0 (Debian 12; x86_64) …`).
pub fn codex_version_from_user_agent(user_agent: &str) -> Option<String> {
    let first = user_agent.split_whitespace().next()?;
    let (_, version) = first.rsplit_once('/')?;
    (!version.is_empty() && version.len() <= 64).then(|| version.to_string())
}

/// A JSON-RPC error response with the anchor's machine-readable code in `error.data.code`.
fn error_response(id: &Value, code: &str, message: &str) -> String {
    json!({"id": id, "error": {"code": ROUTING_ERROR, "message": message, "data": {"code": code}}})
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(b.initialize_result(), Some(&json!({"userAgent": "x"})));
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
        assert_eq!(b.queued_to_codex(), 2);
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
            BridgeEvent::OrbitFrame(
                r#"{"id":"orbit:c:1","method":"initialize","params":{}}"#.into(),
            ),
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
        assert_eq!(
            to_orbit(&a),
            vec![json!({"method": CODEX_RESTARTED_METHOD, "params": {"restarts": 1}})]
        );
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
        assert!(ev(&mut b, BridgeEvent::OrbitFrame(answer.into())).is_empty());
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
                id: json!("orbit:c:9"),
                method: "anchor.status".into(),
                params: json!({"x": 1})
            }]
        );
        assert_eq!(b.queued_to_codex(), 0);
        let reply =
            Bridge::helper_response(&json!("orbit:c:9"), Err(("no_such_helper", "unknown")));
        let reply: Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(reply["error"]["data"]["code"], "no_such_helper");
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
            BridgeEvent::OrbitFrame(r#"{"type":"orbit.error","code":"x"}"#.into()),
        );
        assert!(
            matches!(&a[..], [BridgeAction::OrbitControl { kind, .. }] if kind == "orbit.error")
        );
        assert!(ev(&mut b, BridgeEvent::OrbitFrame("not json".into())).is_empty());
        assert_eq!(b.stats().orbit_frames_dropped, 1);
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
    fn non_json_codex_lines_are_counted_and_dropped() {
        let mut b = ready();
        assert!(ev(&mut b, BridgeEvent::CodexLine("WARN something".into())).is_empty());
        assert!(ev(&mut b, BridgeEvent::CodexLine("".into())).is_empty());
        assert!(ev(&mut b, BridgeEvent::CodexLine("[1,2]".into())).is_empty());
        assert_eq!(b.stats().codex_non_json_lines, 2);
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
        let answer = Bridge::helper_response(&json!("orbit:c:9"), Ok(json!({"ok": true})));
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
        assert_eq!(b.stats().oversized_codex_lines, 2);
        assert!(b.last_error().is_some_and(|e| e.contains("over Orbit's")));
    }

    #[test]
    fn an_oversized_helper_answer_becomes_an_error() {
        let mut b = bridge_with(BridgeConfig {
            max_frame_bytes: 100,
            ..BridgeConfig::default()
        });
        ev(&mut b, BridgeEvent::OrbitConnected);
        let answer = Bridge::helper_response(&json!("h1"), Ok(json!({"data": "z".repeat(200)})));
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
                request_id: json!(0),
                decision: "decline".into(),
            }
        );
        assert_eq!(
            to_codex(&a),
            vec![json!({"id":0,"result":{"decision":"decline"}})]
        );
        // A second answer to the same request is stale: no decision, nothing to codex.
        let a = ev(
            &mut b,
            BridgeEvent::OrbitFrame(r#"{"id":0,"result":{"decision":"accept"}}"#.into()),
        );
        assert!(a.is_empty());
    }
}

//! The bridge between Orbit (WebSocket text frames) and `codex app-server` (JSON lines on
//! stdio), as a sans-IO state machine: the event loop ([`crate::run`]) feeds
//! [`BridgeEvent`]s into [`Bridge::handle`] and carries out the [`BridgeAction`]s it returns.
//!
//! States: [`BridgeState::Starting`] (no codex yet) → `Initializing` (the anchor sent its own
//! `initialize`, id `"anchor-init-N"`, a namespace no Orbit-rewritten id uses) → `Ready` (the
//! answer came and the anchor sent `initialized`) → `Restarting` when codex exits, and back to
//! `Initializing` when the event loop reports [`BridgeEvent::CodexStarted`] again.
//!
//! * [`orbit_side`]: frames from Orbit — control frames, helpers, the queue for a codex that
//!   is not ready, requests in flight, approval answers.
//! * [`codex_side`]: codex's life cycle and lines — the handshake, responses going home, codex
//!   exiting, lines too large for Orbit.
//! * This module: the events and actions, the buffer for an absent Orbit, `anchor.hello`.
//!
//! Every frame and every line is peeked once ([`orbit_protocol::envelope::peek`]) and passed
//! on as the same bytes, never parsed into a `serde_json::Value` and written again. Only a few
//! rare messages are read further: the handshake's answer (for codex's version), a client's
//! answer to an approval (its decision, for the audit log), and a frame too large to peek (its
//! id, to answer its requester).
//!
//! Decisions, and why:
//! * Codex refuses requests before its handshake (-32600), so frames from Orbit wait in a
//!   bounded queue until `Ready` (default 1,000 frames / 8 MiB). A request that does not fit is
//!   answered at once with `data.code = "anchor_busy"`.
//! * Codex accepts a single `initialize` per process, and the anchor already did it; a client's
//!   `initialize` is answered by the anchor with codex's cached result, and a client's
//!   `initialized` notification is dropped.
//! * `anchor.*` requests are the anchor's own helpers: they come out as
//!   [`BridgeAction::HandleHelper`] and never reach codex. They work in every state.
//! * Control frames from Orbit never reach codex: `ping` is answered with `pong`, the rest are
//!   reported as [`BridgeAction::OrbitControl`].
//! * Requests forwarded to codex are tracked by id. When codex exits, each gets an error with
//!   `data.code = "codex_exited"`, and clients get `anchor/codexExited {exitCode,
//!   failedRequests, abandonedServerRequests, restartInMs}`; when the new codex finishes its
//!   handshake they get `anchor/codexRestarted {restarts}`. Server requests codex had sent
//!   (approvals) die with it: `abandonedServerRequests` names them by the ids Orbit was given
//!   (the anchor passes codex's ids on unchanged), and Orbit withdraws them for every client.
//!   Late answers to them are never delivered to the new codex (whose ids start from 0 again
//!   and would collide); each is answered with an error (`data.code = "codex_exited"`, or
//!   `already_resolved` for a second answer), which Orbit relays to the client that answered.
//! * Requests in flight are bounded (default 4,096 / 1 MiB of ids): past that the oldest is
//!   given up and answered `anchor_busy`, and codex's late answer to it is dropped.
//! * A codex line over the line reader's bound arrives as its first bytes only; if they name a
//!   request in flight as a response's `id`, the requester gets `frame_too_large`.
//! * Codex lines that are not JSON-RPC messages are dropped and counted (codex ignores such
//!   lines too, and Orbit would refuse them).
//! * While Orbit is disconnected, frames for Orbit are buffered (default 1,000 frames / 8 MiB).
//!   When full, the oldest *notification* is dropped first: notifications can be recovered by
//!   re-reading the thread, whereas a response or a server request has someone waiting on it.
//!   Only if the buffer holds nothing but those is the oldest of them dropped.
//! * On each (re)connection to Orbit, `anchor.hello` is sent first, then the buffer. Once codex
//!   has answered the handshake, the hello carries codex's version (parsed from `userAgent`);
//!   if Orbit was already connected, the hello is sent again with it.
//! * A frame for Orbit larger than its frame limit could never be delivered: a response is
//!   replaced by an error (`data.code = "frame_too_large"`) to its requester, anything else is
//!   dropped and counted.
//! * Each client answer to a codex server request is reported as [`BridgeAction::Decision`],
//!   so approval decisions can be written to the audit log.
//!
//! ```
//! use orbit_anchor::bridge::{Bridge, BridgeAction, BridgeConfig, BridgeEvent, BridgeState};
//! let mut bridge = Bridge::new(BridgeConfig::default());
//! let actions = bridge.handle(BridgeEvent::CodexStarted, 0, 0.5);
//! assert!(matches!(&actions[..], [BridgeAction::ToCodex(init)] if init.contains("anchor-init-1")));
//! let answer = r#"{"id":"anchor-init-1","result":{}}"#.to_string();
//! let actions = bridge.handle(BridgeEvent::CodexLine(answer), 70, 0.5);
//! assert_eq!(actions, vec![BridgeAction::ToCodex(r#"{"method":"initialized"}"#.into())]);
//! assert_eq!(bridge.state(), BridgeState::Ready);
//! ```

mod codex_side;
mod orbit_side;
mod unacked;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use orbit_protocol::control::{AnchorHello, Control};
use serde_json::{json, Value};

use crate::backoff::{Backoff, BackoffConfig};
use crate::lines::LineError;
use orbit_side::ClientFrame;
use unacked::Unacked;

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
    /// Frames sent to Orbit and not yet acknowledged, kept at most (count, bytes).
    pub max_unacked_frames: usize,
    pub max_unacked_bytes: usize,
    /// Requests forwarded to codex and not yet answered, at most (count, and bytes of their
    /// ids). Beyond either, the oldest is given up: its requester is answered `anchor_busy`.
    pub max_in_flight: usize,
    pub max_in_flight_id_bytes: usize,
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
            max_unacked_frames: 1_000,
            max_unacked_bytes: 8 * 1024 * 1024,
            max_in_flight: 4_096,
            max_in_flight_id_bytes: 1024 * 1024,
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

impl BridgeState {
    /// The name `anchor status` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            BridgeState::Starting => "starting",
            BridgeState::Initializing => "initializing",
            BridgeState::Ready => "ready",
            BridgeState::Restarting => "restarting",
        }
    }
}

/// Something that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BridgeEvent {
    /// A codex process was spawned and its stdio is connected.
    CodexStarted,
    /// One line from codex's stdout (without the newline).
    CodexLine(String),
    /// A line of codex's stdout the reader could not deliver.
    CodexLineLost(LineError),
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

/// Something the event loop must do.
#[derive(Debug, Clone, PartialEq)]
pub enum BridgeAction {
    /// Write this line (plus `\n`) to codex's stdin.
    ToCodex(String),
    /// Send this text frame to Orbit (only emitted while Orbit is connected).
    ToOrbit(String),
    /// Answer an `anchor.*` request and report the answer as a [`BridgeEvent::LocalFrame`].
    /// `id` is the request's id as JSON text; `frame` is the whole request, whose `params` are
    /// read where the helper runs, off the bridge's thread.
    HandleHelper {
        id: String,
        method: String,
        frame: String,
    },
    /// An Orbit control frame for the event loop to log or record (e.g. `orbit.error`).
    OrbitControl(Control),
    /// Spawn codex again after this delay, then report [`BridgeEvent::CodexStarted`].
    RestartCodexAfter(Duration),
    /// Codex answered the handshake with an error: kill it (its exit restarts it).
    KillCodex { reason: String },
    /// A client answered a codex server request (an approval); the answer went to codex.
    /// `request_id` is JSON text; `decision` is `result.decision` when present, else `"error"`
    /// or `"answered"`.
    Decision {
        method: String,
        request_id: String,
        decision: String,
    },
}

/// What the bridge refused or dropped since it started, by cause, for `anchor status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BridgeStats {
    /// Codex lines that are not JSON-RPC messages (or not UTF-8): dropped.
    pub unreadable_codex_lines: u64,
    /// Frames from Orbit that are neither a known control frame nor a JSON-RPC message: dropped.
    pub unreadable_orbit_frames: u64,
    /// Requests answered `anchor_busy` (or other frames dropped) because the queue for a codex
    /// that is not ready was full.
    pub busy_rejections: u64,
    /// Requests answered `codex_exited`.
    pub failed_on_exit: u64,
    /// Frames for Orbit over its frame limit (or codex lines over the reader's): a response
    /// became a `frame_too_large` error, anything else was dropped.
    pub too_large: u64,
    /// Notifications dropped from the full buffer for an absent Orbit.
    pub to_orbit_notifications_dropped: u64,
    /// Responses and server requests dropped from that buffer (only when it held nothing else).
    pub to_orbit_responses_dropped: u64,
    /// Client answers to server requests of a dead codex, or answered already: dropped.
    pub stale_answers_dropped: u64,
    /// Requests given up (answered `anchor_busy`) because too many were in flight.
    pub in_flight_evicted: u64,
    /// Codex's late answers to requests that were given up: dropped (the requester has its
    /// error already).
    pub late_answers_dropped: u64,
    pub codex_restarts: u64,
    /// Frames sent to Orbit and forgotten before Orbit acknowledged them (the bound on kept
    /// frames was reached).
    pub unacked_forgotten: u64,
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
    /// The id (JSON text) of the anchor's `initialize` awaiting its answer.
    init_id: Option<String>,
    /// The `result` (JSON text) codex gave the anchor's `initialize`.
    init_result: Option<String>,
    /// Frames from Orbit waiting for `Ready`.
    to_codex: VecDeque<ClientFrame>,
    to_codex_bytes: usize,
    /// Frames for Orbit waiting for a connection.
    to_orbit: VecDeque<OutFrame>,
    to_orbit_bytes: usize,
    orbit_connected: bool,
    /// Frames sent to Orbit that it has not acknowledged.
    unacked: Unacked,
    /// Ids (JSON text, see [`id_key`]) of requests forwarded to the current codex, oldest first.
    in_flight: InFlight,
    /// Ids (JSON text) of server requests the current codex is waiting on → their method.
    codex_requests: HashMap<String, String>,
    /// Ids of the server requests the last codex to exit left unanswered, so that a late answer
    /// to one is told `codex_exited` (any other stale answer gets `already_resolved`). At most
    /// what `codex_requests` held; replaced at each exit.
    abandoned: HashSet<String>,
    backoff: Backoff,
    restarting: bool,
    stats: BridgeStats,
    last_error: Option<String>,
}

impl Bridge {
    pub fn new(config: BridgeConfig) -> Self {
        let backoff = Backoff::new(config.restart_backoff);
        let unacked = Unacked::new(config.max_unacked_frames, config.max_unacked_bytes);
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
            unacked,
            in_flight: InFlight::default(),
            codex_requests: HashMap::new(),
            abandoned: HashSet::new(),
            backoff,
            restarting: false,
            stats: BridgeStats::default(),
            last_error: None,
        }
    }

    pub fn state(&self) -> BridgeState {
        self.state
    }

    pub fn stats(&self) -> BridgeStats {
        BridgeStats {
            unacked_forgotten: self.unacked.forgotten,
            ..self.stats.clone()
        }
    }

    /// Whether the frames sent on the current (or last) connection are kept until Orbit
    /// acknowledges them. Then a frame that connection never wrote is kept already, and the
    /// event loop must not queue it again.
    pub fn keeps_sent_frames(&self) -> bool {
        self.unacked.keeps_frames()
    }

    /// Frames sent to Orbit and not yet acknowledged.
    pub fn unacknowledged(&self) -> usize {
        self.unacked.len()
    }

    /// The last codex exit, handshake failure or undeliverable frame, for `anchor status`.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Requests forwarded to codex and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Frames waiting for Orbit to reconnect.
    pub fn buffered_to_orbit(&self) -> usize {
        self.to_orbit.len()
    }

    /// Codex's version, once a codex has answered the handshake (as sent in `anchor.hello`).
    pub fn codex_version(&self) -> Option<&str> {
        self.config.hello.codex_version.as_deref()
    }

    /// Feeds one event. `now_ms` is a monotonic clock in milliseconds; `random` a uniform
    /// value in `[0, 1)` (used for restart jitter).
    pub fn handle(&mut self, event: BridgeEvent, now_ms: u64, random: f64) -> Vec<BridgeAction> {
        let mut out = Vec::new();
        match event {
            BridgeEvent::CodexStarted => self.codex_started(&mut out),
            BridgeEvent::CodexLine(line) => self.codex_line(line, now_ms, &mut out),
            BridgeEvent::CodexLineLost(lost) => self.codex_line_lost(lost, &mut out),
            BridgeEvent::CodexExited { code } => self.codex_exited(code, now_ms, random, &mut out),
            BridgeEvent::OrbitFrame(text) => self.orbit_frame(text, &mut out),
            BridgeEvent::OrbitConnected => {
                self.orbit_connected = true;
                let (next_frame, again) = self.unacked.connected();
                out.push(BridgeAction::ToOrbit(self.hello_frame_from(next_frame)));
                out.extend(again.into_iter().map(BridgeAction::ToOrbit));
                while let Some(frame) = self.to_orbit.pop_front() {
                    self.unacked.sent(&frame.text);
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
        } else {
            self.local_frame_too_large(&text, out);
        }
    }

    /// The `anchor.hello` control frame for the current metadata, in the middle of a
    /// connection: every frame sent so far is numbered below the next one.
    fn hello_frame(&self) -> String {
        self.hello_frame_from(self.unacked.next())
    }

    /// The `anchor.hello` whose next numbered frame is `next_frame`.
    fn hello_frame_from(&self, next_frame: u64) -> String {
        let mut hello = self.config.hello.clone();
        hello.next_frame = Some(next_frame);
        Control::AnchorHello(hello).to_text()
    }

    /// Sends `text` to Orbit now, or buffers it while Orbit is away.
    fn emit_orbit(&mut self, text: String, droppable: bool, out: &mut Vec<BridgeAction>) {
        if self.orbit_connected {
            self.unacked.sent(&text);
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

/// Ids of the requests codex has not answered, in the order they were sent, bounded by the
/// caller; plus the most recent ids given up, so a late answer to one is not delivered twice.
#[derive(Debug, Default)]
struct InFlight {
    next: u64,
    by_id: HashMap<String, u64>,
    by_age: BTreeMap<u64, String>,
    id_bytes: usize,
    given_up: VecDeque<String>,
    given_up_bytes: usize,
}

/// How many given-up ids are remembered (count, bytes), to drop codex's late answers to them.
const GIVEN_UP_IDS: usize = 1_024;
const GIVEN_UP_ID_BYTES: usize = 64 * 1024;

impl InFlight {
    fn len(&self) -> usize {
        self.by_id.len()
    }

    fn insert(&mut self, id: String) {
        self.remove(&id);
        self.next += 1;
        self.id_bytes += id.len();
        self.by_id.insert(id.clone(), self.next);
        self.by_age.insert(self.next, id);
    }

    fn remove(&mut self, id: &str) -> bool {
        let Some(age) = self.by_id.remove(id) else {
            return false;
        };
        self.by_age.remove(&age);
        self.id_bytes -= id.len();
        true
    }

    /// Removes the oldest, remembering it as given up.
    fn give_up_oldest(&mut self) -> Option<String> {
        let (_, id) = self.by_age.pop_first()?;
        self.by_id.remove(&id);
        self.id_bytes -= id.len();
        self.given_up_bytes += id.len();
        self.given_up.push_back(id.clone());
        while self.given_up.len() > GIVEN_UP_IDS || self.given_up_bytes > GIVEN_UP_ID_BYTES {
            match self.given_up.pop_front() {
                Some(old) => self.given_up_bytes -= old.len(),
                None => break,
            }
        }
        Some(id)
    }

    /// Whether `id` was given up (and forgets it: codex answers once).
    fn was_given_up(&mut self, id: &str) -> bool {
        let Some(at) = self.given_up.iter().position(|g| g == id) else {
            return false;
        };
        if let Some(old) = self.given_up.remove(at) {
            self.given_up_bytes -= old.len();
        }
        true
    }

    /// All ids, oldest first; leaves the set empty.
    fn take(&mut self) -> Vec<String> {
        let taken = std::mem::take(self);
        taken.by_age.into_values().collect()
    }
}

/// A request id (JSON text, as written) in the form both directions agree on. Codex writes the
/// ids it echoes with serde_json, as Orbit wrote them; only an id with an escape sequence could
/// be spelled differently, so only such an id is read and written again.
fn id_key(raw: &str) -> String {
    if !raw.contains('\\') {
        return raw.to_string();
    }
    let normal = serde_json::from_str::<Cow<'_, str>>(raw)
        .ok()
        .and_then(|id| serde_json::to_string(&id).ok());
    normal.unwrap_or_else(|| raw.to_string())
}

#[cfg(test)]
mod tests;

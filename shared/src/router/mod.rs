//! The per-user relay as a sans-IO state machine.
//!
//! One [`Router`] lives in each user's Durable Object. The adapter feeds it events — a socket
//! connected, a text frame arrived, a socket closed — and carries out the [`Action`]s it returns:
//! send a frame, close a socket, write to storage. The router never does I/O, never reads a
//! clock (time comes in with each event) and never makes random values (connection ids come
//! from the adapter), so every routing rule of SPEC §1 is tested here natively.
//!
//! State that must survive hibernation is either derivable from the sockets themselves (their
//! [`Peer`], kept in the socket attachment) or written out through [`StoreOp`]s, and
//! [`Router::restore`] rebuilds the router from a [`Snapshot`] of both.

pub mod alert;
mod anchor_side;
mod batch;
pub mod budget;
mod client_side;
mod numbered;
pub mod paired;
mod records;

/// The reference model of the relay and its in-memory harness, for the property tests and
/// the router fuzz target (`--features router-model`; never in the Worker).
#[cfg(any(test, feature = "router-model"))]
pub mod model;
#[cfg(test)]
mod proptests;
#[cfg(any(test, feature = "router-model"))]
pub mod sim;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

pub use alert::{Alert, AlertKind};
pub use batch::{is_batched, lost_seqs, Step, WriteBatch, BATCH_MAX_WRITES};
pub use paired::{asks_for_anchor_list, refresh_cause, PairedRefresh, RefreshCause};
pub use records::{
    AnchorRecord, ConnId, LogReadError, PairedAnchor, Peer, PendingRequest, ReplayLog, Snapshot,
    StoreOp, ThreadRecord,
};

use orbit_protocol::control::{AnchorInfo, Control, SocketRole};
use orbit_protocol::envelope::{peek, Envelope, Kind, PeekError};
use orbit_protocol::limits;
use orbit_protocol::origin::Origin;
use orbit_protocol::request_id::server_request_number;
use orbit_protocol::ErrorCode;

use numbered::Numbered;

pub use orbit_protocol::close::{CLOSE_REPLACED, CLOSE_REVOKED};

/// Tunables, with the defaults from [`crate::limits`].
#[derive(Debug, Clone)]
pub struct RouterConfig {
    pub log_frames_per_thread: u64,
    pub trim_every: u64,
    /// Bytes of log kept per thread; trimmed by bytes as well as by count.
    pub log_bytes_per_thread: u64,
    /// Bytes appended to a thread between two trims of it by bytes.
    pub trim_every_bytes: u64,
    /// Most bytes one subscribe replays; beyond it the answer is `truncated`.
    pub replay_budget_bytes: u64,
    /// Time (ms) after its last logged frame when a thread's log is forgotten. The router does
    /// not sweep; the adapter does, at a wake, before any event (never during a replay).
    pub idle_thread_ms: u64,
    pub max_subscriptions: usize,
    pub resolved_remembered: usize,
    /// Open server requests kept at most; past it the oldest is withdrawn.
    pub open_requests_max: usize,
    /// Age (ms) after which an open server request is withdrawn.
    pub open_request_max_age_ms: u64,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            log_frames_per_thread: limits::REPLAY_LOG_FRAMES_PER_THREAD,
            trim_every: limits::REPLAY_TRIM_EVERY,
            log_bytes_per_thread: limits::REPLAY_LOG_BYTES_PER_THREAD,
            trim_every_bytes: limits::REPLAY_TRIM_EVERY_BYTES,
            replay_budget_bytes: limits::REPLAY_BUDGET_BYTES,
            idle_thread_ms: limits::IDLE_THREAD_FORGET_MS,
            max_subscriptions: limits::MAX_SUBSCRIPTIONS_PER_SOCKET,
            resolved_remembered: limits::RESOLVED_SERVER_REQUESTS_REMEMBERED,
            open_requests_max: limits::MAX_OPEN_SERVER_REQUESTS,
            open_request_max_age_ms: limits::OPEN_SERVER_REQUEST_MAX_AGE_MS,
        }
    }
}

/// Something the adapter must do.
///
/// In every list of actions the router returns, the writes ([`Action::Store`]) come first, in
/// the order they must be made, and then the sends and closes: a frame is never delivered
/// ahead of the write that records it (a server request before its pending record, say), so a
/// crash between the two cannot leave a client holding something Orbit forgot. The adapter
/// keeps that order ([`WriteBatch`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send a text frame. Fan-out shares one allocation between receivers.
    Send { to: ConnId, text: Arc<str> },
    /// Close a socket with a WebSocket close code and reason.
    Close {
        conn: ConnId,
        code: u16,
        reason: String,
    },
    /// Write to durable storage.
    Store(StoreOp),
    /// Tell an anchor (`orbit.ack`) that its frames up to `up_to` are handled and durable. A
    /// send, kept apart so that a batch sends only the latest one per connection.
    Ack { to: ConnId, up_to: u64 },
    /// Log a frame refused as a security event (nothing else to do: the router has already
    /// dropped it and told its sender).
    Alert(Alert),
}

#[derive(Debug, Clone, Default)]
struct ThreadState {
    anchor_id: Option<String>,
    last_seq: u64,
    /// Bytes appended since the thread's log was last trimmed (in memory only: a wake starts
    /// the count again, which only delays a trim by bytes by one interval).
    bytes_since_trim: u64,
}

#[derive(Debug, Clone)]
struct Conn {
    peer: Peer,
    subscriptions: BTreeSet<String>,
}

/// The routing state of one user.
#[derive(Debug, Clone)]
pub struct Router {
    user_id: String,
    config: RouterConfig,
    conns: BTreeMap<ConnId, Conn>,
    /// Anchor id → the connection currently speaking for it.
    online: BTreeMap<String, ConnId>,
    anchors: BTreeMap<String, AnchorRecord>,
    /// Paired anchors from the accounts database, once the adapter has supplied them.
    paired: Option<BTreeMap<String, String>>,
    threads: HashMap<String, ThreadState>,
    subscribers: HashMap<String, BTreeSet<ConnId>>,
    pending: BTreeMap<u64, PendingRequest>,
    next_server_request: u64,
    /// How each client's device names itself (from its User-Agent), for `orbit.answered`.
    devices: BTreeMap<ConnId, String>,
    /// Each anchor's `origin` stamp, made once rather than per frame; emptied whenever a name
    /// can change (a hello, a new paired list).
    origins: HashMap<String, Arc<str>>,
}

impl Router {
    /// A router for a user with no history.
    pub fn new(user_id: impl Into<String>, config: RouterConfig) -> Self {
        Router {
            user_id: user_id.into(),
            config,
            conns: BTreeMap::new(),
            online: BTreeMap::new(),
            anchors: BTreeMap::new(),
            paired: None,
            threads: HashMap::new(),
            subscribers: HashMap::new(),
            pending: BTreeMap::new(),
            next_server_request: 0,
            devices: BTreeMap::new(),
            origins: HashMap::new(),
        }
    }

    /// Rebuilds a router from persisted state and the sockets still open.
    pub fn restore(user_id: impl Into<String>, config: RouterConfig, snapshot: Snapshot) -> Self {
        let mut router = Router::new(user_id, config);
        for record in snapshot.anchors {
            router.anchors.insert(record.anchor_id.clone(), record);
        }
        for thread in snapshot.threads {
            router.threads.insert(
                thread.thread_id,
                ThreadState {
                    anchor_id: thread.anchor_id,
                    last_seq: thread.last_seq,
                    bytes_since_trim: 0,
                },
            );
        }
        for request in snapshot.pending {
            if let Some(n) = server_request_number(&request.key) {
                router.next_server_request = router.next_server_request.max(n + 1);
                router.pending.insert(n, request);
            }
        }
        for (conn, peer) in snapshot.conns {
            if let Peer::Anchor { anchor_id } = &peer {
                // Two sockets for one anchor can only be seen mid-replacement; keep the later.
                router.online.insert(anchor_id.clone(), conn.clone());
            }
            router.conns.insert(
                conn,
                Conn {
                    peer,
                    subscriptions: BTreeSet::new(),
                },
            );
        }
        for (conn, thread_id) in snapshot.subscriptions {
            if let Some(c) = router.conns.get_mut(&conn) {
                c.subscriptions.insert(thread_id.clone());
                router
                    .subscribers
                    .entry(thread_id)
                    .or_default()
                    .insert(conn);
            }
        }
        router
    }

    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The user's paired anchors, as listed in the accounts database. Anchors missing from it
    /// (revoked) drop out of `orbit.anchors`.
    pub fn set_paired_anchors(&mut self, paired: Vec<PairedAnchor>) {
        self.paired = Some(paired.into_iter().map(|p| (p.anchor_id, p.name)).collect());
        self.origins.clear();
    }

    /// Replaces the paired list as [`Router::set_paired_anchors`] does, and when that changes
    /// what clients see (an anchor paired, renamed or revoked), sends them all the new
    /// `orbit.anchors`.
    pub fn update_paired_anchors(&mut self, paired: Vec<PairedAnchor>) -> Vec<Action> {
        let before = self.anchor_list();
        self.set_paired_anchors(paired);
        let mut out = Vec::new();
        let anchors = self.anchor_list();
        if anchors != before {
            let text: Arc<str> = Control::Anchors { anchors }.to_text().into();
            self.broadcast_clients(&text, &mut out);
        }
        out
    }

    /// Whether the paired list is known and names `anchor_id`.
    pub fn is_paired(&self, anchor_id: &str) -> bool {
        self.paired
            .as_ref()
            .is_some_and(|p| p.contains_key(anchor_id))
    }

    /// Whether [`Router::set_paired_anchors`] was called since the router was built.
    pub fn knows_paired_anchors(&self) -> bool {
        self.paired.is_some()
    }

    /// Names the device behind a client connection (kept with the socket, so the adapter sets
    /// it again after a restore).
    pub fn set_device(&mut self, conn: &str, device: Option<String>) {
        match device {
            Some(d) if self.conns.contains_key(conn) => {
                self.devices.insert(conn.to_string(), d);
            }
            _ => {
                self.devices.remove(conn);
            }
        }
    }

    /// The peer behind a connection, if it is open.
    pub fn peer(&self, conn: &str) -> Option<&Peer> {
        self.conns.get(conn).map(|c| &c.peer)
    }

    /// A socket was accepted. `now_ms` is milliseconds since the Unix epoch.
    pub fn connect(&mut self, conn: ConnId, peer: Peer, now_ms: u64) -> Vec<Action> {
        let mut out = Vec::new();
        self.expire_pending(now_ms, &mut out);
        let role = match &peer {
            Peer::Client => SocketRole::Client,
            Peer::Anchor { .. } => SocketRole::Anchor,
        };
        self.conns.insert(
            conn.clone(),
            Conn {
                peer: peer.clone(),
                subscriptions: BTreeSet::new(),
            },
        );
        let hello = Control::Hello {
            role,
            user_id: self.user_id.clone(),
            connection_id: conn.clone(),
            server_time: now_ms,
            acks: role == SocketRole::Anchor,
        }
        .to_text();
        send(&mut out, &conn, hello.into());
        match peer {
            Peer::Client => {
                let anchors = self.anchor_list();
                let text = Control::Anchors { anchors }.to_text();
                send(&mut out, &conn, text.into());
                // Open requests that belong to no thread reach every client, late ones too.
                for request in self.pending.values() {
                    if !request.resolved && request.thread_id.is_none() {
                        send(&mut out, &conn, request.text.as_str().into());
                    }
                }
            }
            Peer::Anchor { anchor_id } => {
                self.anchor_connected(&conn, &anchor_id, now_ms, &mut out);
            }
        }
        writes_first(out)
    }

    /// A text frame arrived on `conn`.
    pub fn receive(
        &mut self,
        conn: &str,
        text: &str,
        now_ms: u64,
        log: &dyn ReplayLog,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(peer) = self.conns.get(conn).map(|c| c.peer.clone()) else {
            return out;
        };
        self.expire_pending(now_ms, &mut out);
        // The one full read of the frame; everything below works on what it found.
        let peeked = peek(text);
        let numbered = match &peer {
            Peer::Anchor { anchor_id } if numbered::is_numbered(&peeked) => {
                Some((anchor_id.clone(), self.number_frame(conn, anchor_id)))
            }
            _ => None,
        };
        match numbered {
            Some((anchor_id, Numbered::Again)) => self.acknowledge(conn, &anchor_id, &mut out),
            Some((anchor_id, Numbered::Fresh)) => {
                self.dispatch(conn, &peer, text, peeked, now_ms, log, &mut out);
                self.acknowledge(conn, &anchor_id, &mut out);
            }
            Some((_, Numbered::No)) | None => {
                self.dispatch(conn, &peer, text, peeked, now_ms, log, &mut out)
            }
        }
        writes_first(out)
    }

    /// Routes one frame `peer` sent on `conn`, as `peeked`.
    #[allow(clippy::too_many_arguments)]
    fn dispatch(
        &mut self,
        conn: &str,
        peer: &Peer,
        text: &str,
        peeked: Result<Envelope<'_>, PeekError>,
        now_ms: u64,
        log: &dyn ReplayLog,
        out: &mut Vec<Action>,
    ) {
        let envelope = match peeked {
            Ok(envelope) => envelope,
            Err(err) => {
                send_error(out, conn, err.code(), &err.to_string());
                return;
            }
        };
        let peer = peer.clone();
        match envelope.kind() {
            Kind::Control(kind) => match Control::parse_inbound_typed(text, kind) {
                Err(err) => send_error(out, conn, err.code(), &err.to_string()),
                Ok(frame) => match peer {
                    Peer::Client => self.client_control(conn, frame, log, out),
                    Peer::Anchor { anchor_id } => {
                        self.anchor_control(conn, &anchor_id, frame, now_ms, out)
                    }
                },
            },
            Kind::Rpc(_) => match peer {
                Peer::Client => self.client_rpc(conn, &envelope, now_ms, out),
                Peer::Anchor { anchor_id } => {
                    self.anchor_rpc(conn, &anchor_id, &envelope, now_ms, out)
                }
            },
        }
    }

    /// A socket closed (or errored).
    pub fn disconnect(&mut self, conn: &str, now_ms: u64) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(c) = self.conns.remove(conn) else {
            return out;
        };
        self.devices.remove(conn);
        for thread_id in &c.subscriptions {
            if let Some(subs) = self.subscribers.get_mut(thread_id) {
                subs.remove(conn);
                if subs.is_empty() {
                    self.subscribers.remove(thread_id);
                }
            }
        }
        if !c.subscriptions.is_empty() {
            out.push(Action::Store(StoreOp::ForgetConn {
                conn: conn.to_string(),
            }));
        }
        if let Peer::Anchor { anchor_id } = c.peer {
            if self.online.get(&anchor_id).map(String::as_str) == Some(conn) {
                self.online.remove(&anchor_id);
                let record = self.anchors.entry(anchor_id.clone()).or_default();
                record.anchor_id.clone_from(&anchor_id);
                record.last_seen_at = Some(now_ms);
                out.push(Action::Store(StoreOp::SaveAnchor(record.clone())));
                let text: Arc<str> = Control::AnchorDisconnected {
                    anchor_id: anchor_id.clone(),
                }
                .to_text()
                .into();
                self.broadcast_clients(&text, &mut out);
            }
        }
        writes_first(out)
    }

    /// `orbit.anchors` as it stands: paired anchors (all known ones until the paired list is
    /// supplied), with online state.
    pub fn anchor_list(&self) -> Vec<AnchorInfo> {
        let mut ids: BTreeSet<&String> = self.online.keys().collect();
        match &self.paired {
            Some(paired) => ids.extend(paired.keys()),
            None => ids.extend(self.anchors.keys()),
        }
        ids.into_iter().map(|id| self.anchor_info(id)).collect()
    }

    fn anchor_info(&self, anchor_id: &str) -> AnchorInfo {
        let paired_name = self
            .paired
            .as_ref()
            .and_then(|p| p.get(anchor_id))
            .map(String::as_str);
        let online = self.online.contains_key(anchor_id);
        match self.anchors.get(anchor_id) {
            Some(record) => record.info(paired_name, online),
            None => AnchorRecord {
                anchor_id: anchor_id.to_string(),
                ..AnchorRecord::default()
            }
            .info(paired_name, online),
        }
    }

    /// Connections of clients, for fan-out to all of the user's clients.
    fn client_conns(&self) -> impl Iterator<Item = &ConnId> {
        self.conns
            .iter()
            .filter(|(_, c)| c.peer == Peer::Client)
            .map(|(id, _)| id)
    }

    fn broadcast_clients(&self, text: &Arc<str>, out: &mut Vec<Action>) {
        for conn in self.client_conns() {
            send(out, conn, text.clone());
        }
    }

    /// The `origin` Orbit stamps on frames of `anchor_id`, as JSON text: the anchor's id and
    /// the name clients list it by (as [`Router::anchor_list`] names it).
    fn origin(&mut self, anchor_id: &str) -> Arc<str> {
        if let Some(origin) = self.origins.get(anchor_id) {
            return origin.clone();
        }
        let origin: Arc<str> = self.make_origin(anchor_id).into();
        self.origins.insert(anchor_id.to_string(), origin.clone());
        origin
    }

    fn make_origin(&self, anchor_id: &str) -> String {
        let record = self.anchors.get(anchor_id);
        let name = self
            .paired
            .as_ref()
            .and_then(|p| p.get(anchor_id))
            .or_else(|| record.and_then(|r| r.name.as_ref()))
            .or_else(|| record.and_then(|r| r.hostname.as_ref()))
            .map_or(anchor_id, String::as_str);
        Origin {
            anchor_id: anchor_id.to_string(),
            name: name.to_string(),
        }
        .to_json()
    }

    /// The anchor `thread_id` is bound to, when that is another anchor than `anchor_id`.
    fn bound_elsewhere(&self, thread_id: &str, anchor_id: &str) -> Option<String> {
        self.threads
            .get(thread_id)
            .and_then(|t| t.anchor_id.as_deref())
            .filter(|bound| *bound != anchor_id)
            .map(str::to_string)
    }

    /// Numbers a thread frame, logs it and delivers it to the thread's subscribers. It binds
    /// nothing: a thread is bound by a client's request or the answer to one, never by what an
    /// anchor sends on its own.
    fn fan_out_thread(
        &mut self,
        thread_id: &str,
        numbered: impl FnOnce(u64) -> Option<String>,
        out: &mut Vec<Action>,
    ) -> Option<(u64, Arc<str>)> {
        let seq = self.threads.get(thread_id).map_or(0, |t| t.last_seq) + 1;
        let text: Arc<str> = numbered(seq)?.into();
        self.threads
            .entry(thread_id.to_string())
            .or_default()
            .last_seq = seq;
        out.push(Action::Store(StoreOp::AppendLog {
            thread_id: thread_id.to_string(),
            seq,
            text: text.clone(),
        }));
        let cap = self.config.log_frames_per_thread;
        let by_count = seq > cap && seq.is_multiple_of(self.config.trim_every.max(1));
        let by_bytes = self.threads.get_mut(thread_id).is_some_and(|thread| {
            let len = u64::try_from(text.len()).unwrap_or(u64::MAX);
            thread.bytes_since_trim = thread.bytes_since_trim.saturating_add(len);
            thread.bytes_since_trim >= self.config.trim_every_bytes
        });
        if by_count || by_bytes {
            if let Some(thread) = self.threads.get_mut(thread_id) {
                thread.bytes_since_trim = 0;
            }
            out.push(Action::Store(StoreOp::TrimLog {
                thread_id: thread_id.to_string(),
                max_frames: cap,
                max_bytes: self.config.log_bytes_per_thread,
            }));
        }
        if let Some(subs) = self.subscribers.get(thread_id) {
            for conn in subs {
                send(out, conn, text.clone());
            }
        }
        Some((seq, text))
    }

    fn bind_thread(&mut self, thread_id: &str, anchor_id: &str, out: &mut Vec<Action>) {
        let thread = self.threads.entry(thread_id.to_string()).or_default();
        if thread.anchor_id.as_deref() != Some(anchor_id) {
            thread.anchor_id = Some(anchor_id.to_string());
            out.push(Action::Store(StoreOp::BindThread {
                thread_id: thread_id.to_string(),
                anchor_id: anchor_id.to_string(),
            }));
        }
    }
}

/// Moves an event's writes ahead of its sends and closes, keeping the order within each (see
/// [`Action`]).
fn writes_first(actions: Vec<Action>) -> Vec<Action> {
    let is_write = |a: &Action| matches!(a, Action::Store(_));
    let ordered = actions
        .iter()
        .skip_while(|a| is_write(a))
        .all(|a| !is_write(a));
    if ordered {
        return actions;
    }
    let (mut writes, rest): (Vec<Action>, Vec<Action>) = actions.into_iter().partition(is_write);
    writes.extend(rest);
    writes
}

fn send(out: &mut Vec<Action>, to: &str, text: Arc<str>) {
    out.push(Action::Send {
        to: to.to_string(),
        text,
    });
}

fn send_error(out: &mut Vec<Action>, to: &str, code: ErrorCode, message: &str) {
    let text = Control::Error {
        code,
        message: message.to_string(),
    }
    .to_text();
    send(out, to, text.into());
}

/// The id of a message as JSON text (an envelope of a request or response always has one).
fn id_json<'a>(envelope: &Envelope<'a>) -> Option<&'a str> {
    envelope.id().map(|id| id.get())
}

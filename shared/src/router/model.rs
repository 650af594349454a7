//! The reference model of a user's relay: random sessions of 3 clients, 2 anchors and 3
//! threads, with reconnects, replaced anchor sockets, colliding ids, duplicated answers and
//! hibernation at any point, played through [`Sim`] and checked frame by frame against the
//! routing rules of SPEC §1. The property tests (`proptests.rs`) and the router fuzz target
//! (`fuzz/`, feature `router-model`) both drive it, with [`Op`]s of their own choosing.
//!
//! Invariants (any violation panics, which proptest shrinks and libFuzzer reports):
//! * (a) a client only receives responses to requests it sent, each at most once, with its own
//!   original id (the anchor's answer names the rewritten id it answered, so a response that
//!   reached the wrong client is caught);
//! * (b) every frame an anchor receives is a client request, notification or answer rewritten
//!   for it (nothing else, never twice, never to an anchor the client did not name), and no
//!   client frame reaches another client verbatim;
//! * (c) per thread and subscription, the `seq`s a client receives are strictly increasing;
//! * (d) after `orbit.subscribe {sinceSeq}` that is not truncated, replay + live frames are
//!   exactly the log after `sinceSeq`: no gap, no duplicate, the very frames that were logged;
//! * (e) each server request key reaches its anchor at most once, and never after codex said
//!   it was resolved;
//! * (f) the router never panics, never appends a `seq` twice and never addresses a socket that
//!   is not open;
//! * (g) a thread is bound only by a client's request naming an anchor or by the answer to a
//!   `thread/start` routed to an anchor; an anchor's frames for a thread bound to the other
//!   anchor reach no client, are not logged, and get the sender `orbit.error` and an alert;
//!   every frame an anchor sends clients carries Orbit's `origin` naming that anchor (whatever
//!   `origin` the anchor wrote); an answer is accepted only from the anchor its request went to.

// A broken invariant is reported by panicking: that is what both drivers catch.
#![allow(clippy::panic)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::{json, Value};

use super::sim::Sim;
use super::RouterConfig;
use orbit_protocol::limits::MAX_FRAME_BYTES;

pub const CLIENTS: usize = 3;
pub const ANCHORS: usize = 2;
pub const THREADS: usize = 3;

#[derive(Debug, Clone)]
pub enum Since {
    None,
    LastSeen,
    Zero,
    Ahead,
    Fixed(u64),
    /// This many frames before the thread's latest.
    Back(u64),
}

#[derive(Debug, Clone)]
pub enum Target {
    None,
    Anchor(usize),
    Thread(usize),
    Both(usize, usize),
}

#[derive(Debug, Clone)]
pub enum Op {
    /// Connects the client slot (closing its current socket first, as a reload does).
    ConnectClient(usize),
    CloseClient(usize),
    /// Connects the anchor; a second socket replaces the first.
    ConnectAnchor(usize),
    CloseAnchor(usize),
    /// The close event of a replaced anchor socket finally arrives.
    StaleClose,
    Subscribe(usize, usize, Since),
    Unsubscribe(usize, usize),
    Request {
        client: usize,
        id: usize,
        target: Target,
        thread_start: bool,
    },
    ClientNotify(usize, Target),
    /// The anchor answers one of the requests forwarded to it (in any order, possibly on a
    /// later socket), optionally with `result.thread.id`.
    Respond {
        anchor: usize,
        pick: usize,
        thread: Option<usize>,
        /// `"result": null` instead of a result naming the request.
        null: bool,
    },
    Notify {
        anchor: usize,
        thread: Option<usize>,
        with_seq: bool,
    },
    ServerRequest {
        anchor: usize,
        thread: Option<usize>,
        id: usize,
    },
    /// A client answers a server request it has seen, once or twice.
    Answer {
        client: usize,
        pick: usize,
        twice: bool,
        with_seq: bool,
    },
    /// A client answers a key it may never have seen.
    AnswerGuess(usize, u64),
    /// Codex's `serverRequest/resolved` for one of the anchor's request ids.
    Resolved {
        anchor: usize,
        pick: usize,
        thread: Option<usize>,
    },
    ForgedResponse(usize),
    /// The anchor answers a request that was routed to the other anchor, with its very id.
    StolenResponse {
        anchor: usize,
        pick: usize,
    },
    Garbage {
        from_anchor: bool,
        slot: usize,
        kind: usize,
    },
    Hibernate,
}

pub const GARBAGE: &[&str] = &[
    "{",
    "",
    "[1]",
    "7",
    r#"{"type":"orbit.nope"}"#,
    r#"{"type":"orbit.subscribe"}"#,
    r#"{"type":"orbit.subscribe","threadId":"t0","sinceSeq":-1}"#,
    r#"{"hello":1}"#,
    r#"{"id":{},"method":"m"}"#,
    r#"{"id":1,"method":"m","result":1}"#,
    "BIG",
];

fn anchor_name(i: usize) -> String {
    format!("anchor-{i}")
}

fn thread_name(t: usize) -> String {
    format!("t{t}")
}

const REQUEST_IDS: [&str; 3] = ["1", "2", r#""x""#];
const SERVER_IDS: [&str; 3] = ["0", "1", r#""s""#];

/// One subscription of one client socket to one thread.
#[derive(Debug)]
struct Epoch {
    since: Option<u64>,
    confirmed: bool,
    /// Thread frames received before `orbit.subscribed` (the replay).
    buffer: Vec<(u64, Value)>,
    /// The `seq` the next live frame must carry.
    next: u64,
}

#[derive(Debug)]
struct ClientConn {
    slot: usize,
    /// Request id (JSON text) → requests sent and not yet answered.
    outstanding: HashMap<String, usize>,
    /// Server-request key → answers sent and not yet refused or forwarded.
    answers: HashMap<String, usize>,
    epochs: HashMap<String, Epoch>,
    seen_keys: Vec<String>,
}

#[derive(Debug)]
struct Forward {
    nonce: u64,
    /// The anchor rule 2 sends it to.
    to: String,
    frame: Value,
}

#[derive(Debug)]
struct ExpectedAnswer {
    anchor_id: String,
    key: String,
    frame: Value,
}

#[derive(Debug)]
struct ServerRequest {
    anchor_id: String,
    original: Value,
    thread: Option<String>,
    nonce: u64,
}

pub struct Harness {
    sim: Sim,
    clients: [Option<String>; CLIENTS],
    anchors: [Option<String>; ANCHORS],
    generation: u64,
    replaced: Vec<String>,
    conns: HashMap<String, ClientConn>,
    anchor_conns: HashMap<String, usize>,
    last_seen: HashMap<(usize, String), u64>,
    /// Forwarded request ids each anchor (process) has not answered yet.
    anchor_open: [Vec<Value>; ANCHORS],
    /// Server-request ids each anchor has used.
    anchor_srv: [Vec<Value>; ANCHORS],
    expected_forwards: Vec<Forward>,
    expected_answers: Vec<ExpectedAnswer>,
    forwarded_keys: BTreeSet<String>,
    settled_keys: BTreeSet<String>,
    keys: BTreeMap<String, ServerRequest>,
    /// Frames anchors sent to clients, by the nonce in their params.
    anchor_sent: HashMap<u64, (String, Value)>,
    client_texts: HashSet<String>,
    ever_connected: [bool; ANCHORS],
    /// Thread → anchor slot, as rules 2 and 5 bind them.
    bindings: HashMap<String, usize>,
    nonce: u64,
    /// `(conn, id)` of JSON-RPC errors clients received during the current op.
    rpc_errors: Vec<(String, String, String)>,
}

impl Harness {
    pub fn new(config: RouterConfig) -> Self {
        Harness {
            sim: Sim::with_config(config),
            clients: Default::default(),
            anchors: Default::default(),
            generation: 0,
            replaced: Vec::new(),
            conns: HashMap::new(),
            anchor_conns: HashMap::new(),
            last_seen: HashMap::new(),
            anchor_open: Default::default(),
            anchor_srv: Default::default(),
            expected_forwards: Vec::new(),
            expected_answers: Vec::new(),
            forwarded_keys: BTreeSet::new(),
            settled_keys: BTreeSet::new(),
            keys: BTreeMap::new(),
            anchor_sent: HashMap::new(),
            client_texts: HashSet::new(),
            ever_connected: [false; ANCHORS],
            bindings: HashMap::new(),
            nonce: 0,
            rpc_errors: Vec::new(),
        }
    }

    fn next_nonce(&mut self) -> u64 {
        self.nonce += 1;
        self.nonce
    }

    fn latest_seq(&self, thread: &str) -> u64 {
        self.sim
            .history
            .get(thread)
            .and_then(|l| l.keys().next_back().copied())
            .unwrap_or(0)
    }

    fn client_send(&mut self, conn: &str, frame: &Value) {
        let text = frame.to_string();
        self.client_texts.insert(text.clone());
        self.sim.send(conn, &text);
    }

    fn anchor_send(&mut self, conn: &str, frame: &Value) {
        self.sim.send(conn, &frame.to_string());
    }

    fn connect_client(&mut self, slot: usize) {
        if let Some(old) = self.clients[slot].take() {
            self.sim.close(&old);
        }
        self.generation += 1;
        let conn = format!("c{slot}n{}", self.generation);
        self.conns.insert(
            conn.clone(),
            ClientConn {
                slot,
                outstanding: HashMap::new(),
                answers: HashMap::new(),
                epochs: HashMap::new(),
                seen_keys: Vec::new(),
            },
        );
        self.clients[slot] = Some(conn.clone());
        self.sim.connect_client(&conn);
    }

    fn connect_anchor(&mut self, slot: usize) {
        if let Some(old) = self.anchors[slot].take() {
            self.replaced.push(old);
        }
        self.generation += 1;
        let conn = format!("a{slot}n{}", self.generation);
        self.anchor_conns.insert(conn.clone(), slot);
        self.anchors[slot] = Some(conn.clone());
        self.ever_connected[slot] = true;
        self.sim.connect_anchor(&conn, &anchor_name(slot));
    }

    /// Routing params for a client frame, and the anchor named (if any).
    fn target_params(&self, target: &Target, nonce: u64) -> (Value, Option<String>) {
        let mut params = json!({"n": nonce});
        let mut named = None;
        match target {
            Target::None => {}
            Target::Anchor(a) => named = Some(anchor_name(*a)),
            Target::Thread(t) => params["threadId"] = json!(thread_name(*t)),
            Target::Both(a, t) => {
                named = Some(anchor_name(*a));
                params["threadId"] = json!(thread_name(*t));
            }
        }
        (params, named)
    }

    /// Rule 2, restated: the anchor slot a client frame must go to, or the error it must get.
    fn expected_route(&self, target: &Target) -> Result<usize, &'static str> {
        let (named, thread) = match target {
            Target::None => (None, None),
            Target::Anchor(a) => (Some(*a), None),
            Target::Thread(t) => (None, Some(*t)),
            Target::Both(a, t) => (Some(*a), Some(*t)),
        };
        let bound = thread.and_then(|t| self.bindings.get(&thread_name(t)).copied());
        if let Some(a) = named {
            if !self.ever_connected[a] {
                return Err("anchor_not_found");
            }
            if bound.is_some_and(|b| b != a) {
                return Err("thread_anchor_mismatch");
            }
            return if self.anchors[a].is_some() {
                Ok(a)
            } else {
                Err("anchor_offline")
            };
        }
        if let Some(b) = bound {
            return if self.anchors[b].is_some() {
                Ok(b)
            } else {
                Err("anchor_offline")
            };
        }
        let online: Vec<usize> = (0..ANCHORS)
            .filter(|a| self.anchors[*a].is_some())
            .collect();
        match online.len() {
            1 => Ok(online[0]),
            0 if self.ever_connected.iter().any(|c| *c) => Err("anchor_offline"),
            0 => Err("anchor_not_found"),
            _ => Err("anchor_required"),
        }
    }

    /// Where a client frame to `target` must go (binding its thread when it names an anchor).
    fn route(&mut self, target: &Target) -> Result<usize, &'static str> {
        let route = self.expected_route(target);
        if let (Ok(a), Target::Both(_, t)) = (route, target) {
            self.bindings.insert(thread_name(*t), a);
        }
        route
    }

    pub fn run(&mut self, op: &Op) {
        self.rpc_errors.clear();
        match op {
            Op::ConnectClient(slot) => {
                self.connect_client(*slot);
                self.drain();
            }
            Op::CloseClient(slot) => {
                if let Some(conn) = self.clients[*slot].take() {
                    self.sim.close(&conn);
                }
                self.drain();
            }
            Op::ConnectAnchor(slot) => {
                let old = self.anchors[*slot].clone();
                self.connect_anchor(*slot);
                self.drain();
                if let Some(old) = old {
                    assert_eq!(self.sim.closed.get(&old), Some(&super::CLOSE_REPLACED));
                }
            }
            Op::CloseAnchor(slot) => {
                if let Some(conn) = self.anchors[*slot].take() {
                    self.sim.close(&conn);
                }
                self.drain();
            }
            Op::StaleClose => {
                if let Some(old) = self.replaced.pop() {
                    self.sim.close(&old);
                    let got = self.drain();
                    assert!(
                        got.is_empty(),
                        "closing a replaced socket changed something: {got:?}"
                    );
                }
            }
            Op::Subscribe(slot, t, since) => {
                let Some(conn) = self.clients[*slot].clone() else {
                    return;
                };
                let thread = thread_name(*t);
                let since = match since {
                    Since::None => None,
                    Since::LastSeen => Some(
                        self.last_seen
                            .get(&(*slot, thread.clone()))
                            .copied()
                            .unwrap_or(0),
                    ),
                    Since::Zero => Some(0),
                    Since::Ahead => Some(self.latest_seq(&thread) + 3),
                    Since::Fixed(n) => Some(*n),
                    Since::Back(n) => Some(self.latest_seq(&thread).saturating_sub(*n)),
                };
                let mut frame = json!({"type": "orbit.subscribe", "threadId": thread});
                if let Some(since) = since {
                    frame["sinceSeq"] = json!(since);
                }
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.epochs.insert(
                        thread.clone(),
                        Epoch {
                            since,
                            confirmed: false,
                            buffer: Vec::new(),
                            next: 0,
                        },
                    );
                }
                self.client_send(&conn, &frame);
                let got = self.drain();
                let confirmed = self.conns[&conn]
                    .epochs
                    .get(&thread)
                    .is_some_and(|e| e.confirmed);
                assert!(confirmed, "no orbit.subscribed for {thread}: {got:?}");
            }
            Op::Unsubscribe(slot, t) => {
                let Some(conn) = self.clients[*slot].clone() else {
                    return;
                };
                let thread = thread_name(*t);
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.epochs.remove(&thread);
                }
                self.client_send(
                    &conn,
                    &json!({"type": "orbit.unsubscribe", "threadId": thread}),
                );
                let got = self.drain();
                assert!(got.is_empty(), "unsubscribe is silent: {got:?}");
            }
            Op::Request {
                client,
                id,
                target,
                thread_start,
            } => {
                let Some(conn) = self.clients[*client].clone() else {
                    return;
                };
                let nonce = self.next_nonce();
                let (params, named) = self.target_params(target, nonce);
                let id_text = REQUEST_IDS[*id];
                let id: Value = serde_json::from_str(id_text).unwrap_or(Value::Null);
                let method = if *thread_start {
                    "thread/start"
                } else {
                    "client/req"
                };
                let mut frame = json!({"id": id, "method": method, "params": params.clone()});
                if let Some(named) = &named {
                    frame["params"]["anchorId"] = json!(named);
                }
                let route = self.route(target);
                if let Ok(to) = route {
                    let prefix = if *thread_start {
                        "orbit-thread"
                    } else {
                        "orbit"
                    };
                    let address = format!("{prefix}:{conn}:{}:{id_text}", anchor_name(to));
                    self.expected_forwards.push(Forward {
                        nonce,
                        to: anchor_name(to),
                        frame: json!({"id": address, "method": method, "params": params}),
                    });
                }
                if let Some(c) = self.conns.get_mut(&conn) {
                    *c.outstanding.entry(id_text.to_string()).or_default() += 1;
                }
                self.client_send(&conn, &frame);
                let got = self.drain();
                let left = self.expected_forwards.iter().any(|f| f.nonce == nonce);
                assert!(!left, "{op:?} was not forwarded: {got:?}");
                let errors: Vec<&str> = self
                    .rpc_errors
                    .iter()
                    .filter(|(c, i, _)| *c == conn && i == id_text)
                    .map(|(_, _, code)| code.as_str())
                    .collect();
                match route {
                    Ok(_) => assert!(
                        errors.is_empty(),
                        "{op:?} forwarded and refused: {errors:?}"
                    ),
                    Err(code) => assert_eq!(errors, vec![code], "{op:?}"),
                }
            }
            Op::ClientNotify(client, target) => {
                let Some(conn) = self.clients[*client].clone() else {
                    return;
                };
                let nonce = self.next_nonce();
                let (params, named) = self.target_params(target, nonce);
                let mut frame = json!({"method": "client/note", "params": params.clone()});
                if let Some(named) = &named {
                    frame["params"]["anchorId"] = json!(named);
                }
                let route = self.route(target);
                if let Ok(to) = route {
                    self.expected_forwards.push(Forward {
                        nonce,
                        to: anchor_name(to),
                        frame: json!({"method": "client/note", "params": params}),
                    });
                }
                self.client_send(&conn, &frame);
                let got = self.drain();
                assert!(
                    !self.expected_forwards.iter().any(|f| f.nonce == nonce),
                    "{op:?}: {got:?}"
                );
                let errors: Vec<&Value> = got
                    .get(&conn)
                    .map(|frames| {
                        frames
                            .iter()
                            .filter(|f| f["type"] == "orbit.error")
                            .collect()
                    })
                    .unwrap_or_default();
                match route {
                    Ok(_) => assert!(errors.is_empty(), "{op:?}: {errors:?}"),
                    Err(code) => {
                        assert_eq!(errors.len(), 1, "{op:?}: {got:?}");
                        assert_eq!(errors[0]["code"], code);
                    }
                }
            }
            Op::Respond {
                anchor,
                pick,
                thread,
                null,
            } => {
                let Some(conn) = self.anchors[*anchor].clone() else {
                    return;
                };
                let open = &mut self.anchor_open[*anchor];
                if open.is_empty() {
                    return;
                }
                let id = open.remove(pick % open.len());
                let mut result = json!({"for": id});
                if *null {
                    result = Value::Null;
                } else if let Some(t) = thread {
                    result["thread"] = json!({"id": thread_name(*t)});
                    // Only the answer to a request that starts a thread binds it.
                    if id.as_str().is_some_and(|i| i.starts_with("orbit-thread:")) {
                        self.bindings.insert(thread_name(*t), *anchor);
                    }
                }
                self.anchor_send(&conn, &json!({"id": id, "result": result}));
                let got = self.drain();
                assert!(
                    !got.contains_key(&conn),
                    "a real response is not refused: {got:?}"
                );
            }
            Op::Notify {
                anchor,
                thread,
                with_seq,
            } => {
                let Some(conn) = self.anchors[*anchor].clone() else {
                    return;
                };
                let nonce = self.next_nonce();
                let mut frame =
                    json!({"method": "item/agentMessage/delta", "params": {"n": nonce}});
                if let Some(t) = thread {
                    frame["params"]["threadId"] = json!(thread_name(*t));
                }
                if *with_seq {
                    frame["seq"] = json!(999);
                    frame["origin"] = json!({"anchorId": "forged"});
                }
                self.anchor_sent
                    .insert(nonce, (anchor_name(*anchor), frame.clone()));
                let before = thread.map(|t| self.latest_seq(&thread_name(t)));
                let foreign = self.foreign(*anchor, *thread);
                self.anchor_send(&conn, &frame);
                let got = self.drain();
                if let (Some(t), Some(before)) = (thread, before) {
                    let after = if foreign { before } else { before + 1 };
                    assert_eq!(self.latest_seq(&thread_name(*t)), after);
                }
                self.check_refused(foreign, &conn, nonce, &got);
            }
            Op::ServerRequest { anchor, thread, id } => {
                let Some(conn) = self.anchors[*anchor].clone() else {
                    return;
                };
                let nonce = self.next_nonce();
                let original: Value = serde_json::from_str(SERVER_IDS[*id]).unwrap_or(Value::Null);
                let mut frame = json!({"id": original, "method": "item/fileChange/requestApproval",
                                       "params": {"n": nonce}});
                if let Some(t) = thread {
                    frame["params"]["threadId"] = json!(thread_name(*t));
                }
                self.anchor_sent
                    .insert(nonce, (anchor_name(*anchor), frame.clone()));
                self.anchor_srv[*anchor].push(original.clone());
                let foreign = self.foreign(*anchor, *thread);
                self.anchor_send(&conn, &frame);
                // The key Orbit gave it, read from what it stored.
                let made: Vec<String> = self
                    .sim
                    .store
                    .pending
                    .values()
                    .filter(|r| {
                        serde_json::from_str::<Value>(&r.text)
                            .is_ok_and(|v| v["params"]["n"] == json!(nonce))
                    })
                    .map(|r| {
                        assert_eq!(r.anchor_id, anchor_name(*anchor));
                        assert!(!r.resolved);
                        r.key.clone()
                    })
                    .collect();
                if foreign {
                    assert!(made.is_empty(), "a refused request is not stored: {made:?}");
                    let got = self.drain();
                    self.check_refused(true, &conn, nonce, &got);
                    return;
                }
                assert_eq!(
                    made.len(),
                    1,
                    "one stored request per server request: {made:?}"
                );
                let key = made[0].clone();
                assert!(
                    !self.keys.contains_key(&key),
                    "server request key {key} reused"
                );
                self.keys.insert(
                    key,
                    ServerRequest {
                        anchor_id: anchor_name(*anchor),
                        original,
                        thread: thread.map(thread_name),
                        nonce,
                    },
                );
                self.drain();
            }
            Op::Answer {
                client,
                pick,
                twice,
                with_seq,
            } => {
                let Some(conn) = self.clients[*client].clone() else {
                    return;
                };
                let seen = &self.conns[&conn].seen_keys;
                if seen.is_empty() {
                    return;
                }
                let key = seen[pick % seen.len()].clone();
                let times = if *twice { 2 } else { 1 };
                self.answer(&conn, &key, times, *with_seq);
            }
            Op::AnswerGuess(client, n) => {
                let Some(conn) = self.clients[*client].clone() else {
                    return;
                };
                self.answer(&conn, &format!("orbit-srv:{n}"), 1, false);
            }
            Op::Resolved {
                anchor,
                pick,
                thread,
            } => {
                let Some(conn) = self.anchors[*anchor].clone() else {
                    return;
                };
                let used = &self.anchor_srv[*anchor];
                let request_id = if used.is_empty() {
                    json!(42)
                } else {
                    used[pick % used.len()].clone()
                };
                let nonce = self.next_nonce();
                let mut frame = json!({"method": "serverRequest/resolved",
                                       "params": {"requestId": request_id, "n": nonce}});
                if let Some(t) = thread {
                    frame["params"]["threadId"] = json!(thread_name(*t));
                }
                self.anchor_sent
                    .insert(nonce, (anchor_name(*anchor), frame.clone()));
                let foreign = self.foreign(*anchor, *thread);
                let rewritable = self.sim.store.pending.values().any(|r| {
                    r.anchor_id == anchor_name(*anchor)
                        && serde_json::from_str::<Value>(&r.original_id).ok()
                            == Some(request_id.clone())
                });
                self.anchor_send(&conn, &frame);
                let got = self.drain();
                for frames in got.values() {
                    for f in frames.iter().filter(|f| f["params"]["n"] == json!(nonce)) {
                        let rewritten = f["params"]["requestId"]
                            .as_str()
                            .is_some_and(|k| k.starts_with("orbit-srv:"));
                        assert_eq!(rewritten, rewritable, "resolved notification {f}");
                    }
                }
                self.check_refused(foreign, &conn, nonce, &got);
            }
            Op::ForgedResponse(anchor) => {
                let Some(conn) = self.anchors[*anchor].clone() else {
                    return;
                };
                self.anchor_send(&conn, &json!({"id": 12345, "result": {}}));
                let got = self.drain();
                assert_eq!(got.len(), 1, "{got:?}");
                assert_eq!(got[&conn][0]["code"], "unknown_response_id");
            }
            Op::StolenResponse { anchor, pick } => {
                let Some(conn) = self.anchors[*anchor].clone() else {
                    return;
                };
                let other = (*anchor + 1) % ANCHORS;
                let open = &self.anchor_open[other];
                if open.is_empty() {
                    return;
                }
                // The other anchor's request stays open: it may still answer it.
                let id = open[pick % open.len()].clone();
                self.anchor_send(&conn, &json!({"id": id, "result": {"stolen": true}}));
                let got = self.drain();
                assert_eq!(got.len(), 1, "only the thief hears of it: {got:?}");
                assert_eq!(got[&conn][0]["code"], "unknown_response_id");
                let alerts = std::mem::take(&mut self.sim.alerts);
                assert_eq!(alerts.len(), 1, "an alert is raised: {alerts:?}");
            }
            Op::Garbage {
                from_anchor,
                slot,
                kind,
            } => {
                let conn = if *from_anchor {
                    self.anchors[slot % ANCHORS].clone()
                } else {
                    self.clients[*slot].clone()
                };
                let Some(conn) = conn else { return };
                let text = match GARBAGE[*kind] {
                    "BIG" => format!(
                        r#"{{"method":"m","params":{{"threadId":"t0","x":"{}"}}}}"#,
                        "x".repeat(MAX_FRAME_BYTES)
                    ),
                    other => other.to_string(),
                };
                self.client_texts.insert(text.clone());
                self.sim.send(&conn, &text);
                let got = self.drain();
                assert_eq!(got.len(), 1, "only the sender hears about garbage: {got:?}");
                assert_eq!(got[&conn].len(), 1);
                assert_eq!(got[&conn][0]["type"], "orbit.error");
            }
            Op::Hibernate => self.sim.hibernate(),
        }
    }

    /// Whether `thread` is bound to the other anchor than `anchor` (rule (g) then drops it).
    fn foreign(&self, anchor: usize, thread: Option<usize>) -> bool {
        thread
            .and_then(|t| self.bindings.get(&thread_name(t)))
            .is_some_and(|bound| *bound != anchor)
    }

    /// After an anchor frame (with `nonce` in its params): when `foreign`, no client got it and
    /// its sender got `thread_anchor_mismatch` with an alert raised; otherwise no alert.
    fn check_refused(
        &mut self,
        foreign: bool,
        conn: &str,
        nonce: u64,
        got: &BTreeMap<String, Vec<Value>>,
    ) {
        let alerts = std::mem::take(&mut self.sim.alerts);
        if !foreign {
            assert!(
                alerts.is_empty(),
                "alert for an anchor's own frame: {alerts:?}"
            );
            return;
        }
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        for (c, frames) in got {
            assert!(
                !frames.iter().any(|f| f["params"]["n"] == json!(nonce)),
                "{c} got a frame for another anchor's thread: {frames:?}"
            );
        }
        let refusals: Vec<&Value> = got
            .get(conn)
            .into_iter()
            .flatten()
            .filter(|f| f["code"] == "thread_anchor_mismatch")
            .collect();
        assert_eq!(refusals.len(), 1, "{got:?}");
    }

    fn answer(&mut self, conn: &str, key: &str, times: usize, with_seq: bool) {
        let nonce = self.next_nonce();
        let result = json!({"key": key, "n": nonce});
        let mut frame = json!({"id": key, "result": result.clone()});
        if with_seq {
            frame["seq"] = json!(7);
        }
        for _ in 0..times {
            if let Some(c) = self.conns.get_mut(conn) {
                *c.answers.entry(key.to_string()).or_default() += 1;
            }
            if let Some(request) = self.keys.get(key) {
                self.expected_answers.push(ExpectedAnswer {
                    anchor_id: request.anchor_id.clone(),
                    key: key.to_string(),
                    frame: json!({"id": request.original, "result": result.clone()}),
                });
            }
        }
        let forwarded_before = self.forwarded_keys.contains(key);
        for _ in 0..times {
            self.client_send(conn, &frame);
        }
        self.drain();
        let key_json = json!(key).to_string();
        let refused = self
            .rpc_errors
            .iter()
            .filter(|(c, i, _)| c == conn && *i == key_json)
            .count();
        let forwarded = usize::from(!forwarded_before && self.forwarded_keys.contains(key));
        assert_eq!(
            refused + forwarded,
            times,
            "each answer is forwarded or refused"
        );
        self.expected_answers
            .retain(|a| a.frame["result"]["n"] != json!(nonce));
    }

    /// Takes every inbox, checking each frame; returns what each socket got during the op.
    fn drain(&mut self) -> BTreeMap<String, Vec<Value>> {
        let mut got: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        let conns: Vec<String> = self.sim.inbox.keys().cloned().collect();
        for conn in conns {
            for text in self.sim.take_raw(&conn) {
                let frame = if self.conns.contains_key(&conn) {
                    self.client_frame(&conn, &text)
                } else if let Some(&slot) = self.anchor_conns.get(&conn) {
                    self.anchor_frame(&conn, slot, &text)
                } else {
                    panic!("a frame for an unknown socket {conn}: {text}");
                };
                got.entry(conn.clone()).or_default().push(frame);
            }
        }
        assert!(
            self.sim.misaddressed.is_empty(),
            "sent to closed sockets: {:?}",
            self.sim.misaddressed
        );
        assert!(
            self.sim.duplicate_seqs.is_empty(),
            "seq logged twice: {:?}",
            self.sim.duplicate_seqs
        );
        assert!(
            self.sim.written_after_sent.is_empty(),
            "a send before its write: {:?}",
            self.sim.written_after_sent
        );
        got
    }

    fn client_frame(&mut self, conn: &str, text: &str) -> Value {
        assert!(
            !self.client_texts.contains(text),
            "a client's frame reached client {conn} verbatim: {text}"
        );
        assert!(text.matches("\"seq\"").count() <= 1, "seq twice: {text}");
        let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        assert!(v.is_object(), "{text}");
        if let Some(kind) = v["type"].as_str() {
            match kind {
                "orbit.hello" => {
                    assert_eq!(v["role"], "client");
                    assert_eq!(v["connectionId"], conn);
                }
                "orbit.anchors"
                | "orbit.anchor-connected"
                | "orbit.anchor-disconnected"
                | "orbit.error"
                | "orbit.answered"
                | "pong" => {}
                "orbit.subscribed" => self.subscribed(conn, &v),
                other => panic!("client {conn} got control frame {other}: {text}"),
            }
        } else if v.get("method").is_some() {
            self.client_got_message(conn, &v, text);
        } else if v.get("result").is_some() || v.get("error").is_some() {
            self.client_got_response(conn, &v);
        } else {
            panic!("client {conn} got {text}");
        }
        v
    }

    fn client_got_message(&mut self, conn: &str, v: &Value, text: &str) {
        let nonce = v["params"]["n"].as_u64().unwrap_or(0);
        let Some((anchor_id, sent)) = self.anchor_sent.get(&nonce).cloned() else {
            panic!("client {conn} got a message no anchor sent: {v}");
        };
        assert_eq!(
            v["origin"],
            json!({"anchorId": anchor_id, "name": anchor_id}),
            "client {conn} got a frame without its anchor's origin: {v}"
        );
        let mut expected = sent.clone();
        let mut seen = v.clone();
        if let Some(map) = expected.as_object_mut() {
            map.remove("seq");
            map.remove("origin");
        }
        if let Some(map) = seen.as_object_mut() {
            map.remove("seq");
            map.remove("origin");
        }
        if v.get("id").is_some() {
            // A server request: Orbit's key instead of the anchor's id.
            let key = v["id"].as_str().unwrap_or("").to_string();
            let Some(request) = self.keys.get(&key) else {
                panic!("server request with an unknown key: {v}");
            };
            assert_eq!(request.nonce, nonce, "{v}");
            assert_eq!(request.anchor_id, anchor_id);
            assert_eq!(request.thread.as_deref(), v["params"]["threadId"].as_str());
            expected["id"] = json!(key);
            if let Some(c) = self.conns.get_mut(conn) {
                if !c.seen_keys.contains(&key) {
                    c.seen_keys.push(key);
                }
            }
        } else if v["method"] == "serverRequest/resolved" {
            if let Some(key) = v["params"]["requestId"]
                .as_str()
                .filter(|k| k.starts_with("orbit-srv:"))
            {
                let Some(request) = self.keys.get(key) else {
                    panic!("resolved rewritten to an unknown key: {v}");
                };
                assert_eq!(request.anchor_id, anchor_id, "{v}");
                assert_eq!(request.original, sent["params"]["requestId"], "{v}");
                expected["params"]["requestId"] = json!(key);
                self.settled_keys.insert(key.to_string());
            }
        }
        assert_eq!(seen, expected, "client {conn} got a changed frame");
        match v["params"]["threadId"].as_str() {
            Some(thread) => {
                let Some(seq) = v["seq"].as_u64() else {
                    panic!("thread frame without seq: {v}");
                };
                self.thread_frame(conn, thread, seq, v, text);
            }
            None => assert!(v.get("seq").is_none(), "thread-less frame with seq: {v}"),
        }
    }

    fn thread_frame(&mut self, conn: &str, thread: &str, seq: u64, v: &Value, text: &str) {
        let logged = self.sim.history.get(thread).and_then(|l| l.get(&seq));
        assert_eq!(
            logged.map(String::as_str),
            Some(text),
            "{conn} got a frame that is not the log's"
        );
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        let slot = c.slot;
        let Some(epoch) = c.epochs.get_mut(thread) else {
            panic!("{conn} got a {thread} frame without a subscription: {v}");
        };
        if epoch.confirmed {
            assert_eq!(
                seq, epoch.next,
                "{conn} on {thread}: gap or duplicate (live)"
            );
            epoch.next += 1;
        } else {
            epoch.buffer.push((seq, v.clone()));
        }
        let last = self
            .last_seen
            .entry((slot, thread.to_string()))
            .or_default();
        *last = (*last).max(seq);
    }

    fn subscribed(&mut self, conn: &str, v: &Value) {
        let thread = v["threadId"].as_str().unwrap_or("").to_string();
        let seq = v["seq"].as_u64().unwrap_or(u64::MAX);
        let truncated = v["truncated"] == json!(true);
        assert_eq!(
            seq,
            self.latest_seq(&thread),
            "orbit.subscribed carries the latest seq"
        );
        let oldest = self
            .sim
            .store
            .log
            .get(&thread)
            .and_then(|l| l.keys().next().copied());
        let mut open: Vec<(String, Option<u64>)> = self
            .sim
            .store
            .pending
            .values()
            .filter(|r| !r.resolved && r.thread_id.as_deref() == Some(thread.as_str()))
            .map(|r| (r.key.clone(), r.seq))
            .collect();
        open.sort_by_key(|(_, seq)| *seq);
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        let Some(epoch) = c.epochs.get_mut(&thread) else {
            panic!("{conn} got orbit.subscribed for {thread} it did not ask for");
        };
        assert!(!epoch.confirmed, "orbit.subscribed twice");
        let expect_truncated = match epoch.since {
            None => false,
            Some(since) => since > seq || (since < seq && oldest.is_none_or(|o| o > since + 1)),
        };
        assert_eq!(
            truncated, expect_truncated,
            "{conn} {v} since {:?}",
            epoch.since
        );
        let replayed: Vec<u64> = epoch.buffer.iter().map(|(s, _)| *s).collect();
        match epoch.since {
            Some(since) if !truncated => {
                let expected: Vec<u64> = (since + 1..=seq).collect();
                assert_eq!(
                    replayed, expected,
                    "{conn}: replay after {since} of {thread}"
                );
            }
            _ => {
                // No replay: the thread's open server requests, and only those.
                let keys: Vec<(String, Option<u64>)> = epoch
                    .buffer
                    .iter()
                    .map(|(s, f)| (f["id"].as_str().unwrap_or("").to_string(), Some(*s)))
                    .collect();
                assert_eq!(keys, open, "{conn}: open requests of {thread}");
            }
        }
        epoch.confirmed = true;
        epoch.next = seq + 1;
    }

    fn client_got_response(&mut self, conn: &str, v: &Value) {
        let id = v["id"].to_string();
        let code = v["error"]["data"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        if let Some(key) = v["id"].as_str().filter(|k| k.starts_with("orbit-srv:")) {
            // A refused answer.
            let left = c.answers.get_mut(key);
            assert!(
                left.as_ref().is_some_and(|n| **n > 0),
                "{conn} got a refusal for an answer it never sent: {v}"
            );
            if let Some(n) = left {
                *n -= 1;
            }
            let key = key.to_string();
            match code.as_str() {
                "already_resolved" => {
                    assert!(
                        self.sim.store.pending.get(&key).is_some_and(|r| r.resolved),
                        "{v}"
                    )
                }
                "unknown_request" => assert!(
                    !self.keys.contains_key(&key) || !self.sim.store.pending.contains_key(&key),
                    "{v}"
                ),
                "anchor_offline" => {
                    let anchor = &self.keys[&key].anchor_id;
                    let slot = (0..ANCHORS).find(|i| anchor_name(*i) == *anchor);
                    assert!(slot.is_some_and(|s| self.anchors[s].is_none()), "{v}");
                }
                other => panic!("answer refused with {other}: {v}"),
            }
            self.rpc_errors.push((conn.to_string(), id, code));
            return;
        }
        let left = c.outstanding.get_mut(&id);
        assert!(
            left.as_ref().is_some_and(|n| **n > 0),
            "{conn} got a response to nothing it asked: {v}"
        );
        if let Some(n) = left {
            *n -= 1;
        }
        if let Some(answered) = v["result"]["for"].as_str() {
            let mine = answered
                .strip_prefix("orbit:")
                .or_else(|| answered.strip_prefix("orbit-thread:"))
                .and_then(|rest| rest.strip_prefix(&format!("{conn}:")))
                .is_some_and(|rest| rest.ends_with(&format!(":{id}")));
            assert!(mine, "{conn} got another's response: {answered}");
        } else if v.get("result") == Some(&Value::Null) {
            // An anchor's null result: nothing names the request, the count above still holds.
        } else {
            assert!(
                !code.is_empty(),
                "a response that is neither the anchor's nor Orbit's: {v}"
            );
            self.rpc_errors.push((conn.to_string(), id, code));
        }
    }

    fn anchor_frame(&mut self, conn: &str, slot: usize, text: &str) -> Value {
        let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let anchor_id = anchor_name(slot);
        if let Some(kind) = v["type"].as_str() {
            match kind {
                "orbit.hello" => {
                    assert_eq!(v["role"], "anchor");
                    assert_eq!(v["connectionId"], conn);
                }
                "orbit.error" | "pong" => {}
                other => panic!("anchor {conn} got control frame {other}"),
            }
        } else if v.get("method").is_some() {
            let Some(at) = self.expected_forwards.iter().position(|f| f.frame == v) else {
                panic!("anchor {conn} got a frame no client sent it: {text}");
            };
            let forward = self.expected_forwards.remove(at);
            assert_eq!(forward.to, anchor_id, "rule 2 sends {text} elsewhere");
            if v.get("id").is_some() {
                self.anchor_open[slot].push(v["id"].clone());
            }
        } else if v.get("result").is_some() || v.get("error").is_some() {
            let Some(at) = self
                .expected_answers
                .iter()
                .position(|a| a.frame == v && a.anchor_id == anchor_id)
            else {
                panic!("anchor {conn} got an answer no client sent it: {text}");
            };
            let answer = self.expected_answers.remove(at);
            assert!(
                self.forwarded_keys.insert(answer.key.clone()),
                "{} forwarded to the anchor twice",
                answer.key
            );
            assert!(
                self.settled_keys.insert(answer.key.clone()),
                "{} forwarded after codex resolved it",
                answer.key
            );
        } else {
            panic!("anchor {conn} got {text}");
        }
        v
    }
}

/// Default limits, or logs small enough to be trimmed (every append, or in batches) and a
/// router that forgets settled requests at once.
pub fn config(kind: u8) -> RouterConfig {
    match kind {
        0 => RouterConfig::default(),
        1 => RouterConfig {
            log_frames_per_thread: 2,
            trim_every: 1,
            ..RouterConfig::default()
        },
        _ => RouterConfig {
            log_frames_per_thread: 3,
            trim_every: 2,
            resolved_remembered: 0,
            ..RouterConfig::default()
        },
    }
}

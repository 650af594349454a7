//! A test harness: the router plus an in-memory store and socket inboxes, carrying out actions
//! exactly as the Durable Object adapter does, and able to "hibernate" (drop the router and
//! rebuild it from what was stored).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{
    budget, Action, Alert, AnchorRecord, ConnId, LogReadError, PairedAnchor, Peer, PendingRequest,
    ReplayLog, Router, RouterConfig, Snapshot, StoreOp, ThreadRecord,
};

#[derive(Debug, Default, Clone)]
pub struct MemStore {
    pub log: BTreeMap<String, BTreeMap<u64, String>>,
    pub bindings: BTreeMap<String, String>,
    pub subscriptions: BTreeSet<(ConnId, String)>,
    pub anchors: BTreeMap<String, AnchorRecord>,
    pub pending: BTreeMap<String, PendingRequest>,
    /// Every read of the log fails while set, as a storage failure would.
    pub unreadable: bool,
    /// Each thread's highest `seq` ever logged, kept apart from the log as the hub's `seqs`
    /// table is, so that trimming or losing rows cannot restart the numbering.
    pub high: BTreeMap<String, u64>,
    /// When each thread was last logged to (the hub's `seqs.at`).
    pub active: BTreeMap<String, u64>,
}

impl ReplayLog for MemStore {
    fn frames_after(
        &self,
        thread_id: &str,
        after_seq: u64,
    ) -> Result<Vec<(u64, String)>, LogReadError> {
        if self.unreadable {
            return Err(LogReadError("injected".into()));
        }
        Ok(self
            .log
            .get(thread_id)
            .map(|l| {
                l.range(after_seq + 1..)
                    .map(|(s, t)| (*s, t.clone()))
                    .collect()
            })
            .unwrap_or_default())
    }

    fn bytes_after(&self, thread_id: &str, after_seq: u64) -> Result<u64, LogReadError> {
        if self.unreadable {
            return Err(LogReadError("injected".into()));
        }
        Ok(self.log.get(thread_id).map_or(0, |l| {
            l.range(after_seq + 1..).map(|(_, t)| t.len() as u64).sum()
        }))
    }

    fn oldest_seq(&self, thread_id: &str) -> Result<Option<u64>, LogReadError> {
        if self.unreadable {
            return Err(LogReadError("injected".into()));
        }
        Ok(self
            .log
            .get(thread_id)
            .and_then(|l| l.keys().next().copied()))
    }
}

impl MemStore {
    /// The hub's sweep at a wake: forgets the log rows of threads not logged to for `idle_ms`,
    /// keeping their `seq` high-water mark and the subscriptions of sockets still open (those of
    /// closed sockets are forgotten by every wake).
    pub fn forget_idle(&mut self, now: u64, idle_ms: u64) {
        let idle: Vec<String> = self
            .active
            .iter()
            .filter(|(_, at)| budget::is_idle(**at, now, idle_ms))
            .map(|(t, _)| t.clone())
            .collect();
        for thread in idle {
            self.log.remove(&thread);
            self.active.remove(&thread);
        }
    }

    pub fn apply(&mut self, op: &StoreOp) {
        match op {
            StoreOp::AppendLog {
                thread_id,
                seq,
                text,
            } => {
                let high = self.high.entry(thread_id.clone()).or_default();
                *high = (*high).max(*seq);
                // A plain `INSERT`, as in the hub: a `seq` given twice is an error.
                let before = self
                    .log
                    .entry(thread_id.clone())
                    .or_default()
                    .insert(*seq, text.to_string());
                assert!(before.is_none(), "seq {seq} of {thread_id} logged twice");
            }
            StoreOp::TrimLog {
                thread_id,
                max_frames,
                max_bytes,
            } => {
                if let Some(l) = self.log.get_mut(thread_id) {
                    let rows: Vec<(u64, u64)> =
                        l.iter().map(|(s, t)| (*s, t.len() as u64)).collect();
                    if let Some(through) = budget::trim_through(&rows, *max_frames, *max_bytes) {
                        l.retain(|s, _| *s > through);
                    }
                }
            }
            StoreOp::BindThread {
                thread_id,
                anchor_id,
            } => {
                self.bindings.insert(thread_id.clone(), anchor_id.clone());
            }
            StoreOp::Subscribe { conn, thread_id } => {
                self.subscriptions.insert((conn.clone(), thread_id.clone()));
            }
            StoreOp::Unsubscribe { conn, thread_id } => {
                self.subscriptions
                    .remove(&(conn.clone(), thread_id.clone()));
            }
            StoreOp::ForgetConn { conn } => self.subscriptions.retain(|(c, _)| c != conn),
            StoreOp::SaveAnchor(record) => {
                self.anchors
                    .insert(record.anchor_id.clone(), record.clone());
            }
            StoreOp::SavePending(request) => {
                self.pending.insert(request.key.clone(), request.clone());
            }
            StoreOp::SettlePending { key } => {
                if let Some(r) = self.pending.get_mut(key) {
                    r.resolved = true;
                }
            }
            StoreOp::ForgetPending { key } => {
                self.pending.remove(key);
            }
        }
    }

    /// What the adapter reads back after hibernation, for the sockets still open.
    pub fn snapshot(&self, conns: Vec<(ConnId, Peer)>) -> Snapshot {
        let mut threads: BTreeMap<String, ThreadRecord> = BTreeMap::new();
        for (thread_id, anchor_id) in &self.bindings {
            threads.insert(
                thread_id.clone(),
                ThreadRecord {
                    thread_id: thread_id.clone(),
                    anchor_id: Some(anchor_id.clone()),
                    last_seq: 0,
                },
            );
        }
        // Every logged thread has a high-water mark, whether or not rows remain.
        for (thread_id, high) in &self.high {
            let in_log = self
                .log
                .get(thread_id)
                .and_then(|l| l.keys().next_back().copied())
                .unwrap_or(0);
            let last = in_log.max(*high);
            threads
                .entry(thread_id.clone())
                .or_insert_with(|| ThreadRecord {
                    thread_id: thread_id.clone(),
                    anchor_id: None,
                    last_seq: 0,
                })
                .last_seq = last;
        }
        Snapshot {
            conns,
            subscriptions: self.subscriptions.iter().cloned().collect(),
            threads: threads.into_values().collect(),
            anchors: self.anchors.values().cloned().collect(),
            pending: self.pending.values().cloned().collect(),
        }
    }
}

/// The router wired to an in-memory store and per-socket inboxes.
pub struct Sim {
    pub router: Router,
    pub store: MemStore,
    pub open: BTreeMap<ConnId, Peer>,
    pub inbox: BTreeMap<ConnId, Vec<String>>,
    /// Sockets the router asked to close, with the close code.
    pub closed: BTreeMap<ConnId, u16>,
    pub now: u64,
    /// Every frame ever appended to a thread's log, never trimmed: the reference the replay
    /// checks compare against.
    pub history: BTreeMap<String, BTreeMap<u64, String>>,
    /// `(thread, seq)` pairs the router appended twice (must stay empty).
    pub duplicate_seqs: Vec<(String, u64)>,
    /// Sends the router addressed to a socket that is not open (must stay empty).
    pub misaddressed: Vec<ConnId>,
    /// Writes the router listed after a send or close of the same event (must stay empty: a
    /// frame would leave before the write that records it).
    pub written_after_sent: Vec<StoreOp>,
    /// The paired-anchor list the adapter supplies (again after every wake-up).
    pub paired: Option<Vec<PairedAnchor>>,
    /// Security events the router raised, in order (the hub logs them).
    pub alerts: Vec<Alert>,
    config: RouterConfig,
}

impl Sim {
    pub fn new() -> Self {
        Sim::with_config(RouterConfig::default())
    }

    pub fn with_config(config: RouterConfig) -> Self {
        Sim {
            router: Router::new("user-1", config.clone()),
            store: MemStore::default(),
            open: BTreeMap::new(),
            inbox: BTreeMap::new(),
            closed: BTreeMap::new(),
            now: 1_000,
            history: BTreeMap::new(),
            duplicate_seqs: Vec::new(),
            misaddressed: Vec::new(),
            written_after_sent: Vec::new(),
            paired: None,
            alerts: Vec::new(),
            config,
        }
    }

    fn run(&mut self, actions: Vec<Action>) {
        let mut sent = false;
        for action in actions {
            match &action {
                Action::Store(op) if sent => self.written_after_sent.push(op.clone()),
                Action::Store(_) => {}
                Action::Send { .. } | Action::Close { .. } | Action::Ack { .. } => sent = true,
                Action::Alert(_) => {}
            }
            match action {
                Action::Send { to, text } => {
                    if self.open.contains_key(&to) {
                        self.inbox.entry(to).or_default().push(text.to_string());
                    } else {
                        self.misaddressed.push(to);
                    }
                }
                Action::Ack { to, up_to } => {
                    let text = orbit_protocol::control::Control::Ack { up_to }.to_text();
                    if self.open.contains_key(&to) {
                        self.inbox.entry(to).or_default().push(text);
                    } else {
                        self.misaddressed.push(to);
                    }
                }
                Action::Alert(alert) => self.alerts.push(alert),
                Action::Close { conn, code, .. } => {
                    self.open.remove(&conn);
                    self.closed.insert(conn, code);
                }
                Action::Store(op) => {
                    if let StoreOp::AppendLog {
                        thread_id,
                        seq,
                        text,
                    } = &op
                    {
                        let thread = self.history.entry(thread_id.clone()).or_default();
                        if thread.insert(*seq, text.to_string()).is_some() {
                            self.duplicate_seqs.push((thread_id.clone(), *seq));
                        }
                    }
                    if let StoreOp::AppendLog { thread_id, .. } = &op {
                        self.store.active.insert(thread_id.clone(), self.now);
                    }
                    self.store.apply(&op);
                }
            }
        }
    }

    pub fn connect_client(&mut self, conn: &str) {
        self.connect(conn, Peer::Client);
    }

    /// Names the device behind a client connection (the hub does it from the User-Agent).
    pub fn set_device(&mut self, conn: &str, device: &str) {
        self.router.set_device(conn, Some(device.to_string()));
    }

    pub fn connect_anchor(&mut self, conn: &str, anchor_id: &str) {
        self.connect(
            conn,
            Peer::Anchor {
                anchor_id: anchor_id.into(),
            },
        );
    }

    pub fn connect(&mut self, conn: &str, peer: Peer) {
        self.now += 1;
        self.open.insert(conn.into(), peer.clone());
        let actions = self.router.connect(conn.into(), peer, self.now);
        self.run(actions);
    }

    pub fn send(&mut self, conn: &str, text: &str) {
        self.now += 1;
        let actions = self.router.receive(conn, text, self.now, &self.store);
        self.run(actions);
    }

    pub fn send_json(&mut self, conn: &str, value: Value) {
        self.send(conn, &value.to_string());
    }

    /// The socket closes (by the peer, or after the router asked to close it).
    pub fn close(&mut self, conn: &str) {
        self.now += 1;
        self.open.remove(conn);
        let actions = self.router.disconnect(conn, self.now);
        self.run(actions);
    }

    /// Drops the router and rebuilds it from storage and the open sockets, as after a
    /// Durable Object hibernation.
    pub fn hibernate(&mut self) {
        let conns = self
            .open
            .iter()
            .map(|(c, p)| (c.clone(), p.clone()))
            .collect();
        self.store.forget_idle(self.now, self.config.idle_thread_ms);
        let snapshot = self.store.snapshot(conns);
        self.router = Router::restore("user-1", self.config.clone(), snapshot);
        // The paired list lives in the accounts database, not in the snapshot: the adapter
        // supplies it again after every wake-up.
        if let Some(paired) = &self.paired {
            self.router.set_paired_anchors(paired.clone());
        }
    }

    /// Supplies the user's paired anchors (as the adapter does from the accounts database).
    pub fn set_paired(&mut self, paired: &[(&str, &str)]) {
        let paired: Vec<PairedAnchor> = paired
            .iter()
            .map(|(id, name)| PairedAnchor {
                anchor_id: (*id).to_string(),
                name: (*name).to_string(),
            })
            .collect();
        self.router.set_paired_anchors(paired.clone());
        self.paired = Some(paired);
    }

    /// Empties every inbox.
    pub fn clear_inboxes(&mut self) {
        self.inbox.clear();
    }

    /// Everything `conn` received since the last call, as sent.
    pub fn take_raw(&mut self, conn: &str) -> Vec<String> {
        self.inbox.remove(conn).unwrap_or_default()
    }

    /// Everything `conn` received since the last call, parsed.
    pub fn take(&mut self, conn: &str) -> Vec<Value> {
        self.inbox
            .remove(conn)
            .unwrap_or_default()
            .iter()
            .map(|t| serde_json::from_str(t).unwrap_or(Value::Null))
            .collect()
    }

    /// Like [`Sim::take`], without control frames of the given `type`s.
    pub fn take_without(&mut self, conn: &str, types: &[&str]) -> Vec<Value> {
        self.take(conn)
            .into_iter()
            .filter(|v| !types.iter().any(|t| v["type"] == *t))
            .collect()
    }
}

impl Default for Sim {
    fn default() -> Self {
        Sim::new()
    }
}

//! Frames from anchors: presence, responses going home (rule 3), server requests (rule 4) and
//! notifications fanned out by thread (rules 5 and 7).

use std::sync::Arc;

use serde_json::Value;

use orbit_protocol::control::{Control, PONG_FRAME};
use orbit_protocol::envelope::{Envelope, RpcKind};
use orbit_protocol::request_id::{is_return_address, parse_client_request_id, server_request_key};
use orbit_protocol::ErrorCode;

use super::{id_json, send, send_error, Action, Alert, AlertKind, Router, StoreOp, CLOSE_REPLACED};
use crate::router::records::{Peer, PendingRequest};

/// Codex's notification that a server request was settled.
const SERVER_REQUEST_RESOLVED: &str = "serverRequest/resolved";
/// The anchor's notification that codex exited (see docs/anchor.md).
const CODEX_EXITED: &str = "anchor/codexExited";

/// Why Orbit withdrew a server request (`params.reason` of its `serverRequest/resolved`).
#[derive(Debug, Clone, Copy)]
enum WithdrawReason {
    /// The codex that asked exited.
    CodexExited,
    /// Past the age limit, or the oldest past the cap on open requests.
    Expired,
    /// The anchor process was restarted (a hello with a new `instance`), so the codex that
    /// asked is gone with it.
    AnchorRestarted,
}

impl WithdrawReason {
    fn as_str(self) -> &'static str {
        match self {
            WithdrawReason::CodexExited => "codex_exited",
            WithdrawReason::Expired => "expired",
            WithdrawReason::AnchorRestarted => "anchor_restarted",
        }
    }
}

impl Router {
    pub(super) fn anchor_connected(
        &mut self,
        conn: &str,
        anchor_id: &str,
        now_ms: u64,
        out: &mut Vec<Action>,
    ) {
        if let Some(previous) = self.online.insert(anchor_id.to_string(), conn.to_string()) {
            if previous != conn {
                // The newer connection wins; the old one is closed and forgotten, so its close
                // event will not mark the anchor offline.
                self.conns.remove(&previous);
                out.push(Action::Close {
                    conn: previous,
                    code: CLOSE_REPLACED,
                    reason: "replaced by a newer connection of the same anchor".into(),
                });
            }
        }
        let record = self.anchors.entry(anchor_id.to_string()).or_default();
        record.anchor_id = anchor_id.to_string();
        record.connected_at = Some(now_ms);
        record.last_seen_at = Some(now_ms);
        // Until its hello says otherwise, a new connection does not number its frames.
        record.next_frame = None;
        out.push(Action::Store(StoreOp::SaveAnchor(record.clone())));
        self.announce_anchor(anchor_id, out);
    }

    fn announce_anchor(&self, anchor_id: &str, out: &mut Vec<Action>) {
        let info = self.anchor_info(anchor_id);
        let text: Arc<str> = Control::AnchorConnected { anchor: info }.to_text().into();
        self.broadcast_clients(&text, out);
    }

    pub(super) fn anchor_control(
        &mut self,
        conn: &str,
        anchor_id: &str,
        frame: Control,
        now_ms: u64,
        out: &mut Vec<Action>,
    ) {
        match frame {
            Control::Ping => send(out, conn, PONG_FRAME.into()),
            Control::Pong => {}
            Control::AnchorHello(hello) => {
                if hello.anchor_id.as_deref().is_some_and(|id| id != anchor_id) {
                    send_error(
                        out,
                        conn,
                        ErrorCode::BadFrame,
                        "anchor.hello names another anchor than this connection's token",
                    );
                    return;
                }
                let record = self.anchors.entry(anchor_id.to_string()).or_default();
                record.anchor_id = anchor_id.to_string();
                // A new run of the anchor process: a killed anchor takes its codex with it and
                // nobody sends `anchor/codexExited`, so the requests that codex had open are
                // withdrawn here. An answer to one must never reach the new codex, whose ids
                // start from 0 again and would name one of its own requests.
                let restarted = matches!(
                    (&record.instance, &hello.instance),
                    (Some(old), Some(new)) if old != new
                );
                let same_run = hello.instance.is_some() && record.instance == hello.instance;
                super::numbered::hello_numbers(record, &hello, same_run);
                if hello.instance.is_some() {
                    record.instance.clone_from(&hello.instance);
                }
                // The paired name (from Orbit's records) stands unless the anchor names itself.
                if hello.name.is_some() {
                    record.name = hello.name;
                }
                record.hostname = hello.hostname;
                record.platform = hello.platform;
                record.version = hello.version;
                record.codex_version = hello.codex_version;
                self.origins.remove(anchor_id);
                record.last_seen_at = Some(now_ms);
                out.push(Action::Store(StoreOp::SaveAnchor(record.clone())));
                if restarted {
                    self.withdraw_open_of(anchor_id, WithdrawReason::AnchorRestarted, out);
                }
                self.announce_anchor(anchor_id, out);
            }
            Control::Subscribe { .. } | Control::Unsubscribe { .. } | Control::ListAnchors => {
                send_error(
                    out,
                    conn,
                    ErrorCode::BadFrame,
                    "subscriptions and anchor lists are for clients",
                )
            }
            // Frames only Orbit sends never get here (Control::parse_inbound_typed).
            _ => {}
        }
    }

    pub(super) fn anchor_rpc(
        &mut self,
        conn: &str,
        anchor_id: &str,
        msg: &Envelope<'_>,
        now_ms: u64,
        out: &mut Vec<Action>,
    ) {
        match msg.rpc_kind() {
            Some(RpcKind::Response) => self.anchor_response(conn, anchor_id, msg, out),
            Some(RpcKind::Request) => self.server_request(conn, anchor_id, msg, now_ms, out),
            Some(RpcKind::Notification) => self.anchor_notification(conn, anchor_id, msg, out),
            None => {}
        }
    }

    /// Rule 3: a response reaches exactly the client that asked, with its own id back, and only
    /// when it comes from the anchor the request was routed to. The answer to a request that
    /// creates or resumes a thread binds that thread to the answering anchor.
    fn anchor_response(
        &mut self,
        conn: &str,
        anchor_id: &str,
        msg: &Envelope<'_>,
        out: &mut Vec<Action>,
    ) {
        let Some(id) = id_json(msg) else { return };
        let Some(address) = parse_client_request_id(id, anchor_id) else {
            if self.answer_refused(anchor_id, id, msg, out) {
                return;
            }
            if is_return_address(id) {
                out.push(Action::Alert(Alert {
                    anchor_id: anchor_id.to_string(),
                    kind: AlertKind::ForeignResponse { id: id.to_string() },
                }));
            }
            send_error(
                out,
                conn,
                ErrorCode::UnknownResponseId,
                "this response answers no request Orbit forwarded",
            );
            return;
        };
        if let (true, Some(thread_id)) = (address.binds_thread, msg.result_thread_id()) {
            self.bind_thread(thread_id, anchor_id, out);
        }
        if self.peer(&address.conn) != Some(&Peer::Client) {
            // The client left; the answer has nowhere to go.
            return;
        }
        let mut edit = msg.edit();
        edit.set_id(&address.original);
        send(out, &address.conn, edit.finish().into());
    }

    /// Rule 4: a server request is numbered, remembered until answered, and delivered to the
    /// thread's subscribers (or every client when it has no thread). It is recorded before it
    /// is delivered: a client must never hold a request Orbit could forget. It names the anchor
    /// that asks (`origin`), and one for a thread bound to another anchor is refused.
    fn server_request(
        &mut self,
        conn: &str,
        anchor_id: &str,
        msg: &Envelope<'_>,
        now_ms: u64,
        out: &mut Vec<Action>,
    ) {
        let Some(id) = id_json(msg) else { return };
        let number = self.next_server_request;
        let key = server_request_key(number);
        let key_json = Value::String(key.clone()).to_string();
        let thread_id = msg.thread_id().map(str::to_string);
        if let Some(thread_id) = &thread_id {
            if self.refuse_foreign(conn, anchor_id, thread_id, msg, out) {
                return;
            }
        }
        let origin = self.origin(anchor_id);
        let with_id = |seq: Option<u64>| {
            let mut edit = msg.edit();
            edit.set_id(&key_json).remove_seq().remove_origin();
            if let Some(seq) = seq {
                edit.prepend_seq(seq);
            }
            edit.prepend_origin(&origin);
            Some(edit.finish())
        };
        let (seq, delivered) = match &thread_id {
            Some(thread_id) => {
                match self.fan_out_thread(thread_id, |seq| with_id(Some(seq)), out) {
                    Some((seq, text)) => (Some(seq), text),
                    None => return,
                }
            }
            // Broadcast below, once the record is written.
            None => match with_id(None) {
                Some(text) => (None, Arc::from(text)),
                None => return,
            },
        };
        let thread_less = thread_id.is_none();
        self.next_server_request = number + 1;
        let request = PendingRequest {
            key,
            anchor_id: anchor_id.to_string(),
            original_id: id.to_string(),
            thread_id,
            seq,
            text: delivered.to_string(),
            resolved: false,
            created_at: now_ms,
            answered_by: None,
        };
        out.push(Action::Store(StoreOp::SavePending(request.clone())));
        self.pending.insert(number, request);
        if thread_less {
            self.broadcast_clients(&delivered, out);
        }
        // The open set is bounded: past the cap the oldest open request is withdrawn.
        let open: Vec<u64> = self.open_requests().collect();
        let excess = open
            .len()
            .saturating_sub(self.config.open_requests_max.max(1));
        for n in open.into_iter().take(excess) {
            self.withdraw(n, WithdrawReason::Expired, out);
        }
    }

    /// The numbers of the open (unsettled) server requests, oldest first.
    fn open_requests(&self) -> impl Iterator<Item = u64> + '_ {
        self.pending
            .iter()
            .filter(|(_, r)| !r.resolved)
            .map(|(n, _)| *n)
    }

    /// Withdraws the open server requests older than the age limit.
    pub(super) fn expire_pending(&mut self, now_ms: u64, out: &mut Vec<Action>) {
        let max_age = self.config.open_request_max_age_ms;
        let expired: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, r)| !r.resolved && now_ms.saturating_sub(r.created_at) > max_age)
            .map(|(n, _)| *n)
            .collect();
        for n in expired {
            self.withdraw(n, WithdrawReason::Expired, out);
        }
    }

    /// Settles an open server request nobody will answer, and tells every client that was shown
    /// it with `serverRequest/resolved {threadId?, requestId, reason}` (logged for replay when
    /// it has a thread). A later answer gets `already_resolved`.
    fn withdraw(&mut self, number: u64, reason: WithdrawReason, out: &mut Vec<Action>) {
        let Some(request) = self.pending.get(&number) else {
            return;
        };
        if request.resolved {
            return;
        }
        let key = request.key.clone();
        let thread_id = request.thread_id.clone();
        self.settle(number, out);
        let note = |seq: Option<u64>| {
            let mut params = serde_json::Map::new();
            if let Some(thread_id) = &thread_id {
                params.insert("threadId".into(), Value::String(thread_id.clone()));
            }
            params.insert("requestId".into(), Value::String(key.clone()));
            params.insert("reason".into(), Value::String(reason.as_str().into()));
            let mut frame = serde_json::Map::new();
            if let Some(seq) = seq {
                frame.insert("seq".into(), Value::from(seq));
            }
            frame.insert(
                "method".into(),
                Value::String(SERVER_REQUEST_RESOLVED.into()),
            );
            frame.insert("params".into(), Value::Object(params));
            Some(Value::Object(frame).to_string())
        };
        match &thread_id {
            Some(thread_id) => {
                self.fan_out_thread(thread_id, |seq| note(Some(seq)), out);
            }
            None => {
                if let Some(text) = note(None) {
                    self.broadcast_clients(&text.into(), out);
                }
            }
        }
    }

    /// Codex exited: the server requests it had sent can never be answered. The anchor names
    /// them by codex's own ids (`abandonedServerRequests`); every open request of this anchor
    /// belongs to that codex (the anchor's frames arrive in order, so a new codex's requests
    /// come after this notice), and each is withdrawn.
    fn codex_exited(&mut self, anchor_id: &str, out: &mut Vec<Action>) {
        self.withdraw_open_of(anchor_id, WithdrawReason::CodexExited, out);
    }

    /// Withdraws every open server request of `anchor_id`.
    fn withdraw_open_of(&mut self, anchor_id: &str, reason: WithdrawReason, out: &mut Vec<Action>) {
        let open: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, r)| !r.resolved && r.anchor_id == anchor_id)
            .map(|(n, _)| *n)
            .collect();
        for n in open {
            self.withdraw(n, reason, out);
        }
    }

    /// Drops a frame of `anchor_id` for a thread bound to another anchor, tells the sender and
    /// raises an [`Alert`]. False when the thread is the sender's, or bound to no anchor yet.
    fn refuse_foreign(
        &mut self,
        conn: &str,
        anchor_id: &str,
        thread_id: &str,
        msg: &Envelope<'_>,
        out: &mut Vec<Action>,
    ) -> bool {
        let Some(bound) = self.bound_elsewhere(thread_id, anchor_id) else {
            return false;
        };
        send_error(
            out,
            conn,
            ErrorCode::ThreadAnchorMismatch,
            &format!(
                "thread {thread_id} is bound to another anchor; {} dropped",
                msg.method()
            ),
        );
        out.push(Action::Alert(Alert {
            anchor_id: anchor_id.to_string(),
            kind: AlertKind::ForeignThread {
                method: msg.method().to_string(),
                thread_id: thread_id.to_string(),
                bound,
            },
        }));
        true
    }

    /// Rules 5 and 7: a thread's notifications are numbered, logged and sent to its
    /// subscribers; others go to every client. Each names its anchor (`origin`); one for a
    /// thread bound to another anchor is refused.
    fn anchor_notification(
        &mut self,
        conn: &str,
        anchor_id: &str,
        msg: &Envelope<'_>,
        out: &mut Vec<Action>,
    ) {
        let mut settled_key = None;
        if msg.method() == CODEX_EXITED {
            self.codex_exited(anchor_id, out);
        }
        if msg.method() == SERVER_REQUEST_RESOLVED {
            if let Some(original) = msg.request_id() {
                if let Some(number) = self.pending_for(anchor_id, original) {
                    settled_key = self
                        .pending
                        .get(&number)
                        .map(|r| Value::String(r.key.clone()).to_string());
                    self.settle(number, out);
                }
            }
        }
        if let Some(thread_id) = msg.thread_id() {
            // What the anchor settled of its own stays settled; only the delivery is refused.
            if self.refuse_foreign(conn, anchor_id, thread_id, msg, out) {
                return;
            }
        }
        let origin = self.origin(anchor_id);
        let numbered = |seq: Option<u64>| {
            let mut edit = msg.edit();
            edit.remove_seq().remove_origin();
            if let Some(key) = &settled_key {
                edit.set_request_id(key);
            }
            if let Some(seq) = seq {
                edit.prepend_seq(seq);
            }
            edit.prepend_origin(&origin);
            Some(edit.finish())
        };
        match msg.thread_id() {
            Some(thread_id) => {
                self.fan_out_thread(thread_id, |seq| numbered(Some(seq)), out);
            }
            None => {
                if let Some(text) = numbered(None) {
                    self.broadcast_clients(&text.into(), out);
                }
            }
        }
    }

    /// The anchor refused a client's answer to one of its server requests (the codex that asked
    /// had exited, see docs/anchor.md): its error response carries the request's own id. It
    /// goes, with the Orbit key as its id, to the client whose answer Orbit forwarded. False if
    /// no such answer is known.
    fn answer_refused(
        &mut self,
        anchor_id: &str,
        id: &str,
        msg: &Envelope<'_>,
        out: &mut Vec<Action>,
    ) -> bool {
        let Ok(wanted) = serde_json::from_str::<Value>(id) else {
            return false;
        };
        let found = self.pending.iter_mut().rev().find(|(_, r)| {
            r.anchor_id == anchor_id
                && r.answered_by.is_some()
                && serde_json::from_str::<Value>(&r.original_id).ok().as_ref() == Some(&wanted)
        });
        let Some((_, request)) = found else {
            return false;
        };
        let Some(client) = request.answered_by.take() else {
            return false;
        };
        let key_json = Value::String(request.key.clone()).to_string();
        if self.peer(&client) == Some(&Peer::Client) {
            let mut edit = msg.edit();
            edit.set_id(&key_json);
            send(out, &client, edit.finish().into());
        }
        true
    }

    /// The newest server request of `anchor_id` with the anchor's own id `original`, answered or
    /// not: codex announces `serverRequest/resolved` *after* the answer Orbit forwarded settled
    /// the request, and clients still need its Orbit key. (Codex numbers its requests per
    /// process, so an older request with the same id belongs to a codex that has since exited.)
    fn pending_for(&self, anchor_id: &str, original: &str) -> Option<u64> {
        let wanted: Value = serde_json::from_str(original).ok()?;
        self.pending
            .iter()
            .rev()
            .find(|(_, r)| {
                r.anchor_id == anchor_id
                    && serde_json::from_str::<Value>(&r.original_id).ok().as_ref() == Some(&wanted)
            })
            .map(|(n, _)| *n)
    }
}

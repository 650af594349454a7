//! Frames from web clients: subscriptions, requests for an anchor (rule 2), and answers to
//! server requests (rule 4).

use orbit_protocol::control::{Control, PONG_FRAME};
use orbit_protocol::envelope::{Envelope, RpcKind};
use orbit_protocol::request_id::{
    binds_thread, client_request_id, parse_server_request_key, server_request_number,
};
use orbit_protocol::rpc::error_response;
use orbit_protocol::ErrorCode;

use super::budget;
use super::records::{LogReadError, ReplayLog};
use super::{id_json, send, send_error, Action, Router, StoreOp};

/// Why a client request has no anchor to go to (SPEC §1 rule 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RouteError {
    AnchorRequired,
    AnchorNotFound(String),
    AnchorOffline(String),
    ThreadAnchorMismatch { thread_id: String, bound: String },
}

impl RouteError {
    fn code(&self) -> ErrorCode {
        match self {
            RouteError::AnchorRequired => ErrorCode::AnchorRequired,
            RouteError::AnchorNotFound(_) => ErrorCode::AnchorNotFound,
            RouteError::AnchorOffline(_) => ErrorCode::AnchorOffline,
            RouteError::ThreadAnchorMismatch { .. } => ErrorCode::ThreadAnchorMismatch,
        }
    }

    fn message(&self) -> String {
        match self {
            RouteError::AnchorRequired => {
                "several anchors are online: name one with params.anchorId".to_string()
            }
            RouteError::AnchorNotFound(id) if id.is_empty() => {
                "no anchor is paired with this account".to_string()
            }
            RouteError::AnchorNotFound(id) => {
                format!("anchor {id} is not paired with this account")
            }
            RouteError::AnchorOffline(id) if id.is_empty() => "no anchor is online".to_string(),
            RouteError::AnchorOffline(id) => format!("anchor {id} is offline"),
            RouteError::ThreadAnchorMismatch { thread_id, bound } => {
                format!("thread {thread_id} lives on anchor {bound}, not the one named")
            }
        }
    }
}

impl Router {
    pub(super) fn client_control(
        &mut self,
        conn: &str,
        frame: Control,
        log: &dyn ReplayLog,
        out: &mut Vec<Action>,
    ) {
        match frame {
            Control::Ping => send(out, conn, PONG_FRAME.into()),
            Control::Pong => {}
            Control::ListAnchors => {
                let anchors = self.anchor_list();
                send(out, conn, Control::Anchors { anchors }.to_text().into());
            }
            Control::Subscribe {
                thread_id,
                since_seq,
            } => self.subscribe(conn, thread_id, since_seq, log, out),
            Control::Unsubscribe { thread_id } => {
                let removed = self
                    .conns
                    .get_mut(conn)
                    .is_some_and(|c| c.subscriptions.remove(&thread_id));
                if removed {
                    if let Some(subs) = self.subscribers.get_mut(&thread_id) {
                        subs.remove(conn);
                        if subs.is_empty() {
                            self.subscribers.remove(&thread_id);
                        }
                    }
                    out.push(Action::Store(StoreOp::Unsubscribe {
                        conn: conn.to_string(),
                        thread_id,
                    }));
                }
            }
            Control::AnchorHello(_) => send_error(
                out,
                conn,
                ErrorCode::BadFrame,
                "anchor.hello is only for anchors",
            ),
            // Frames only Orbit sends never get here (Control::parse_inbound_typed).
            _ => {}
        }
    }

    fn subscribe(
        &mut self,
        conn: &str,
        thread_id: String,
        since_seq: Option<u64>,
        log: &dyn ReplayLog,
        out: &mut Vec<Action>,
    ) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        if !c.subscriptions.contains(&thread_id) {
            if c.subscriptions.len() >= self.config.max_subscriptions {
                let message = format!(
                    "a socket may subscribe to at most {} threads",
                    self.config.max_subscriptions
                );
                send_error(out, conn, ErrorCode::TooManySubscriptions, &message);
                return;
            }
            c.subscriptions.insert(thread_id.clone());
            self.subscribers
                .entry(thread_id.clone())
                .or_default()
                .insert(conn.to_string());
            out.push(Action::Store(StoreOp::Subscribe {
                conn: conn.to_string(),
                thread_id: thread_id.clone(),
            }));
        }
        let last = self.threads.get(&thread_id).map_or(0, |t| t.last_seq);
        // Replay the log after `since`; a log that no longer reaches back that far (or a client
        // that claims to be ahead of Orbit), or that cannot be read, is told to reload the
        // thread from the anchor. A failed read is never answered as "no frames".
        let mut truncated = false;
        if let Some(since) = since_seq {
            if since > last {
                truncated = true;
            } else if since < last {
                match replay(
                    log,
                    &thread_id,
                    since,
                    last,
                    self.config.replay_budget_bytes,
                ) {
                    Ok(Some(frames)) => {
                        for (_, text) in frames {
                            send(out, conn, text.into());
                        }
                    }
                    // The store reports the failed read itself.
                    Ok(None) | Err(_) => truncated = true,
                }
            }
        }
        // Unresolved server requests always reach a subscriber. After a complete replay the
        // client has them all (those after `since` were just replayed, the others it saw);
        // without a replay it is sent every one still open.
        if since_seq.is_none() || truncated {
            for request in self.pending.values() {
                if !request.resolved && request.thread_id.as_deref() == Some(thread_id.as_str()) {
                    send(out, conn, request.text.as_str().into());
                }
            }
        }
        let done = Control::Subscribed {
            thread_id,
            seq: last,
            truncated,
        };
        send(out, conn, done.to_text().into());
    }

    pub(super) fn client_rpc(
        &mut self,
        conn: &str,
        msg: &Envelope<'_>,
        now_ms: u64,
        out: &mut Vec<Action>,
    ) {
        match msg.rpc_kind() {
            Some(RpcKind::Request | RpcKind::Notification) => self.client_request(conn, msg, out),
            Some(RpcKind::Response) => self.client_answer(conn, msg, now_ms, out),
            None => {}
        }
    }

    /// Rule 2: a client request goes to exactly one anchor, with a return address as its id.
    fn client_request(&mut self, conn: &str, msg: &Envelope<'_>, out: &mut Vec<Action>) {
        let (anchor_id, anchor_conn) = match self.route(msg.thread_id(), msg.anchor_id()) {
            Ok(target) => target,
            Err(err) => {
                match id_json(msg) {
                    Some(id) => send(
                        out,
                        conn,
                        error_response(id, err.code(), &err.message()).into(),
                    ),
                    None => send_error(out, conn, err.code(), &err.message()),
                }
                return;
            }
        };
        let mut edit = msg.edit();
        if let Some(id) = id_json(msg) {
            edit.set_id(&client_request_id(
                conn,
                &anchor_id,
                binds_thread(msg.method()),
                id,
            ));
        }
        // `anchorId` is Orbit's routing hint, not part of codex's protocol.
        edit.remove_anchor_id();
        if let (Some(thread_id), Some(_)) = (msg.thread_id(), msg.anchor_id()) {
            self.bind_thread(thread_id, &anchor_id, out);
        }
        send(out, &anchor_conn, edit.finish().into());
    }

    /// Picks the anchor for a client request (SPEC §1 rule 2).
    pub(super) fn route(
        &self,
        thread_id: Option<&str>,
        named: Option<&str>,
    ) -> Result<(String, String), RouteError> {
        let bound = thread_id
            .and_then(|t| self.threads.get(t))
            .and_then(|t| t.anchor_id.clone());
        let anchor_id = if let Some(named) = named {
            if !self.is_known_anchor(named) {
                return Err(RouteError::AnchorNotFound(named.to_string()));
            }
            if let (Some(bound), Some(thread_id)) = (&bound, thread_id) {
                if bound != named {
                    return Err(RouteError::ThreadAnchorMismatch {
                        thread_id: thread_id.to_string(),
                        bound: bound.clone(),
                    });
                }
            }
            named.to_string()
        } else if let Some(bound) = bound {
            bound
        } else {
            let mut online = self.online.iter();
            match (online.next(), online.next()) {
                (Some((id, conn)), None) => return Ok((id.clone(), conn.clone())),
                (Some(_), Some(_)) => return Err(RouteError::AnchorRequired),
                (None, _) if self.has_paired_anchor() => {
                    return Err(RouteError::AnchorOffline(String::new()))
                }
                (None, _) => return Err(RouteError::AnchorNotFound(String::new())),
            }
        };
        match self.online.get(&anchor_id) {
            Some(conn) => Ok((anchor_id, conn.clone())),
            None => Err(RouteError::AnchorOffline(anchor_id)),
        }
    }

    fn is_known_anchor(&self, anchor_id: &str) -> bool {
        self.online.contains_key(anchor_id)
            || match &self.paired {
                Some(paired) => paired.contains_key(anchor_id),
                None => self.anchors.contains_key(anchor_id),
            }
    }

    fn has_paired_anchor(&self) -> bool {
        match &self.paired {
            Some(paired) => !paired.is_empty(),
            None => !self.anchors.is_empty(),
        }
    }

    /// Rule 4: the first answer to a server request goes to its anchor; later ones are refused.
    fn client_answer(
        &mut self,
        conn: &str,
        msg: &Envelope<'_>,
        now_ms: u64,
        out: &mut Vec<Action>,
    ) {
        let Some(id) = id_json(msg) else { return };
        let refuse = |out: &mut Vec<Action>, code: ErrorCode, message: &str| {
            send(out, conn, error_response(id, code, message).into());
        };
        let unknown = |out: &mut Vec<Action>| {
            refuse(
                out,
                ErrorCode::UnknownRequest,
                "no server request has this id",
            );
        };
        let Some(number) = parse_server_request_key(id)
            .as_deref()
            .and_then(server_request_number)
        else {
            unknown(out);
            return;
        };
        let Some(request) = self.pending.get(&number) else {
            unknown(out);
            return;
        };
        if request.resolved {
            refuse(
                out,
                ErrorCode::AlreadyResolved,
                "this request was already answered or withdrawn",
            );
            return;
        }
        let Some(anchor_conn) = self.online.get(&request.anchor_id).cloned() else {
            let message = format!(
                "anchor {} is offline; answer again when it is back",
                request.anchor_id
            );
            refuse(out, ErrorCode::AnchorOffline, &message);
            return;
        };
        let mut edit = msg.edit();
        edit.set_id(&request.original_id).remove_seq();
        let forward = edit.finish();
        let answered = Control::Answered {
            request_id: request.key.clone(),
            connection_id: conn.to_string(),
            device: self.devices.get(conn).cloned(),
            at: now_ms,
        }
        .to_text();
        let thread_id = request.thread_id.clone();
        self.settle(number, out);
        if let Some(request) = self.pending.get_mut(&number) {
            request.answered_by = Some(conn.to_string());
        }
        send(out, &anchor_conn, forward.into());
        // Everyone who was shown the prompt learns who answered it, and when.
        let answered: std::sync::Arc<str> = answered.into();
        match thread_id.and_then(|t| self.subscribers.get(&t)) {
            Some(subs) => {
                for c in subs {
                    send(out, c, answered.clone());
                }
            }
            None => self.broadcast_clients(&answered, out),
        }
    }

    /// Marks a server request answered and forgets the oldest settled ones past the cap.
    pub(super) fn settle(&mut self, number: u64, out: &mut Vec<Action>) {
        let Some(request) = self.pending.get_mut(&number) else {
            return;
        };
        if request.resolved {
            return;
        }
        request.resolved = true;
        out.push(Action::Store(StoreOp::SettlePending {
            key: request.key.clone(),
        }));
        let settled: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, r)| r.resolved)
            .map(|(n, _)| *n)
            .collect();
        // Keep at least the newest settled request: after hibernation the key counter restarts
        // past the highest remembered key, and a forgotten newest key would be handed out again.
        let excess = settled
            .len()
            .saturating_sub(self.config.resolved_remembered.max(1));
        for n in settled.into_iter().take(excess) {
            if let Some(r) = self.pending.remove(&n) {
                out.push(Action::Store(StoreOp::ForgetPending { key: r.key }));
            }
        }
    }
}

/// The thread's logged frames after `since`, or `None` when the log no longer reaches back to
/// `since + 1`, or when those frames hold more than `budget` bytes: they are then never loaded,
/// and the client reloads the thread instead.
fn replay(
    log: &dyn ReplayLog,
    thread_id: &str,
    since: u64,
    last: u64,
    budget: u64,
) -> Result<Option<Vec<(u64, String)>>, LogReadError> {
    match log.oldest_seq(thread_id)? {
        Some(oldest) if oldest <= since + 1 => {
            if !budget::replay_fits(log.bytes_after(thread_id, since)?, budget) {
                return Ok(None);
            }
            let frames = log.frames_after(thread_id, since)?;
            // Numbers reserved for frames whose write failed leave a hole: not a replay.
            if !budget::replay_is_whole(frames.iter().map(|(seq, _)| *seq), since, last) {
                return Ok(None);
            }
            Ok(Some(frames))
        }
        _ => Ok(None),
    }
}

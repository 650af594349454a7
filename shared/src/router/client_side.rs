//! Frames from web clients: subscriptions, requests for an anchor (rule 2), and answers to
//! server requests (rule 4).

use serde_json::Value;

use super::records::ReplayLog;
use super::{send, send_error, Action, Router, StoreOp};
use crate::control::{ControlFrame, OutboundControl, PONG_FRAME};
use crate::request_id::{client_request_id, parse_server_request_key, server_request_number};
use crate::rpc::{
    self, error_response, ParamsFields, RpcKind, RpcPeek, INVALID_REQUEST, ROUTING_ERROR,
};

/// Why a client request has no anchor to go to (SPEC §1 rule 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RouteError {
    AnchorRequired,
    AnchorNotFound(String),
    AnchorOffline(String),
    ThreadAnchorMismatch { thread_id: String, bound: String },
}

impl RouteError {
    fn code(&self) -> &'static str {
        match self {
            RouteError::AnchorRequired => "anchor_required",
            RouteError::AnchorNotFound(_) => "anchor_not_found",
            RouteError::AnchorOffline(_) => "anchor_offline",
            RouteError::ThreadAnchorMismatch { .. } => "thread_anchor_mismatch",
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
        frame: ControlFrame,
        log: &dyn ReplayLog,
        out: &mut Vec<Action>,
    ) {
        match frame {
            ControlFrame::Ping => send(out, conn, PONG_FRAME.into()),
            ControlFrame::Pong => {}
            ControlFrame::ListAnchors => {
                let list = self.anchor_list();
                send(
                    out,
                    conn,
                    OutboundControl::Anchors { anchors: &list }.to_text().into(),
                );
            }
            ControlFrame::Subscribe {
                thread_id,
                since_seq,
            } => self.subscribe(conn, thread_id, since_seq, log, out),
            ControlFrame::Unsubscribe { thread_id } => {
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
            ControlFrame::AnchorHello(_) => {
                send_error(out, conn, "bad_frame", "anchor.hello is only for anchors")
            }
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
                send_error(out, conn, "too_many_subscriptions", &message);
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
        // that claims to be ahead of Orbit) is told to reload the thread from the anchor.
        let mut truncated = false;
        if let Some(since) = since_seq {
            if since > last {
                truncated = true;
            } else if since < last {
                match log.oldest_seq(&thread_id) {
                    Some(oldest) if oldest <= since + 1 => {
                        for (_, text) in log.frames_after(&thread_id, since) {
                            send(out, conn, text.into());
                        }
                    }
                    _ => truncated = true,
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
        let done = OutboundControl::Subscribed {
            thread_id: &thread_id,
            seq: last,
            truncated,
        };
        send(out, conn, done.to_text().into());
    }

    pub(super) fn client_rpc(
        &mut self,
        conn: &str,
        text: &str,
        msg: &RpcPeek<'_>,
        out: &mut Vec<Action>,
    ) {
        match msg.kind {
            RpcKind::Request | RpcKind::Notification => self.client_request(conn, text, msg, out),
            RpcKind::Response => self.client_answer(conn, text, msg, out),
        }
    }

    /// Rule 2: a client request goes to exactly one anchor, with a return address as its id.
    fn client_request(&mut self, conn: &str, text: &str, msg: &RpcPeek<'_>, out: &mut Vec<Action>) {
        let fields = msg.params_fields();
        let (anchor_id, anchor_conn) = match self.route(&fields) {
            Ok(target) => target,
            Err(err) => {
                match msg.id {
                    Some(id) => send(
                        out,
                        conn,
                        error_response(id, ROUTING_ERROR, err.code(), &err.message()).into(),
                    ),
                    None => send_error(out, conn, err.code(), &err.message()),
                }
                return;
            }
        };
        let new_id = msg.id.map(|id| client_request_id(conn, id.get()));
        let rewritten = rpc::rewrite(text, |map| {
            if let Some(new_id) = new_id {
                if let Ok(v) = serde_json::from_str::<Value>(&new_id) {
                    map.insert("id".into(), v);
                }
            }
            // `anchorId` is Orbit's routing hint, not part of codex's protocol.
            if let Some(Value::Object(params)) = map.get_mut("params") {
                params.remove("anchorId");
            }
        });
        match rewritten {
            Ok(forward) => {
                if let Some(thread_id) = &fields.thread_id {
                    if fields.anchor_id.is_some() {
                        self.bind_thread(thread_id, &anchor_id, out);
                    }
                }
                send(out, &anchor_conn, forward.into());
            }
            Err(err) => send_error(out, conn, "malformed_json", &err.to_string()),
        }
    }

    /// Picks the anchor for a client request (SPEC §1 rule 2).
    pub(super) fn route(&self, fields: &ParamsFields) -> Result<(String, String), RouteError> {
        let bound = fields
            .thread_id
            .as_ref()
            .and_then(|t| self.threads.get(t))
            .and_then(|t| t.anchor_id.clone());
        let anchor_id = if let Some(named) = &fields.anchor_id {
            if !self.is_known_anchor(named) {
                return Err(RouteError::AnchorNotFound(named.clone()));
            }
            if let (Some(bound), Some(thread_id)) = (&bound, &fields.thread_id) {
                if bound != named {
                    return Err(RouteError::ThreadAnchorMismatch {
                        thread_id: thread_id.clone(),
                        bound: bound.clone(),
                    });
                }
            }
            named.clone()
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
    fn client_answer(&mut self, conn: &str, text: &str, msg: &RpcPeek<'_>, out: &mut Vec<Action>) {
        let Some(id) = msg.id else { return };
        let refuse = |out: &mut Vec<Action>, code: &str, message: &str, rpc_code: i64| {
            send(
                out,
                conn,
                error_response(id, rpc_code, code, message).into(),
            );
        };
        let Some(number) = parse_server_request_key(id.get())
            .as_deref()
            .and_then(server_request_number)
        else {
            refuse(
                out,
                "unknown_request",
                "no server request has this id",
                INVALID_REQUEST,
            );
            return;
        };
        let Some(request) = self.pending.get(&number) else {
            refuse(
                out,
                "unknown_request",
                "no server request has this id",
                INVALID_REQUEST,
            );
            return;
        };
        if request.resolved {
            refuse(
                out,
                "already_resolved",
                "this request was already answered",
                ROUTING_ERROR,
            );
            return;
        }
        let Some(anchor_conn) = self.online.get(&request.anchor_id).cloned() else {
            let message = format!(
                "anchor {} is offline; answer again when it is back",
                request.anchor_id
            );
            refuse(out, "anchor_offline", &message, ROUTING_ERROR);
            return;
        };
        let original = request.original_id.clone();
        let forward = rpc::rewrite(text, |map| {
            if let Ok(v) = serde_json::from_str::<Value>(&original) {
                map.insert("id".into(), v);
            }
            map.remove("seq");
        });
        match forward {
            Ok(forward) => {
                self.settle(number, out);
                send(out, &anchor_conn, forward.into());
            }
            Err(err) => send_error(out, conn, "malformed_json", &err.to_string()),
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

//! Frames from anchors: presence, responses going home (rule 3), server requests (rule 4) and
//! notifications fanned out by thread (rules 5 and 7).

use std::sync::Arc;

use serde_json::Value;

use super::{send, send_error, Action, Router, StoreOp, CLOSE_REPLACED};
use crate::control::{ControlFrame, OutboundControl, PONG_FRAME};
use crate::request_id::{parse_client_request_id, server_request_key};
use crate::router::records::{Peer, PendingRequest};
use crate::rpc::{self, splice_seq, RpcKind, RpcPeek};

/// Codex's notification that a server request was settled.
const SERVER_REQUEST_RESOLVED: &str = "serverRequest/resolved";

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
        out.push(Action::Store(StoreOp::SaveAnchor(record.clone())));
        self.announce_anchor(anchor_id, out);
    }

    fn announce_anchor(&self, anchor_id: &str, out: &mut Vec<Action>) {
        let info = self.anchor_info(anchor_id);
        let text: Arc<str> = OutboundControl::AnchorConnected { anchor: &info }
            .to_text()
            .into();
        self.broadcast_clients(&text, out);
    }

    pub(super) fn anchor_control(
        &mut self,
        conn: &str,
        anchor_id: &str,
        frame: ControlFrame,
        now_ms: u64,
        out: &mut Vec<Action>,
    ) {
        match frame {
            ControlFrame::Ping => send(out, conn, PONG_FRAME.into()),
            ControlFrame::Pong => {}
            ControlFrame::AnchorHello(hello) => {
                if hello.anchor_id.as_deref().is_some_and(|id| id != anchor_id) {
                    send_error(
                        out,
                        conn,
                        "bad_frame",
                        "anchor.hello names another anchor than this connection's token",
                    );
                    return;
                }
                let record = self.anchors.entry(anchor_id.to_string()).or_default();
                record.anchor_id = anchor_id.to_string();
                // The paired name (from Orbit's records) stands unless the anchor names itself.
                if hello.name.is_some() {
                    record.name = hello.name;
                }
                record.hostname = hello.hostname;
                record.platform = hello.platform;
                record.version = hello.version;
                record.codex_version = hello.codex_version;
                record.last_seen_at = Some(now_ms);
                out.push(Action::Store(StoreOp::SaveAnchor(record.clone())));
                self.announce_anchor(anchor_id, out);
            }
            ControlFrame::Subscribe { .. }
            | ControlFrame::Unsubscribe { .. }
            | ControlFrame::ListAnchors => send_error(
                out,
                conn,
                "bad_frame",
                "subscriptions and anchor lists are for clients",
            ),
        }
    }

    pub(super) fn anchor_rpc(
        &mut self,
        conn: &str,
        anchor_id: &str,
        text: &str,
        msg: &RpcPeek<'_>,
        out: &mut Vec<Action>,
    ) {
        match msg.kind {
            RpcKind::Response => self.anchor_response(conn, anchor_id, text, msg, out),
            RpcKind::Request => self.server_request(anchor_id, text, msg, out),
            RpcKind::Notification => self.anchor_notification(anchor_id, text, msg, out),
        }
    }

    /// Rule 3: a response reaches exactly the client that asked, with its own id back.
    fn anchor_response(
        &mut self,
        conn: &str,
        anchor_id: &str,
        text: &str,
        msg: &RpcPeek<'_>,
        out: &mut Vec<Action>,
    ) {
        let Some(id) = msg.id else { return };
        let Some((client, original)) = parse_client_request_id(id.get()) else {
            send_error(
                out,
                conn,
                "unknown_response_id",
                "this response answers no request Orbit forwarded",
            );
            return;
        };
        if let Some(thread_id) = msg.result_thread_id() {
            self.bind_thread(&thread_id, anchor_id, out);
        }
        if self.peer(&client) != Some(&Peer::Client) {
            // The client left; the answer has nowhere to go.
            return;
        }
        let forward = rpc::rewrite(text, |map| {
            if let Ok(v) = serde_json::from_str::<Value>(&original) {
                map.insert("id".into(), v);
            }
        });
        match forward {
            Ok(forward) => send(out, &client, forward.into()),
            Err(err) => send_error(out, conn, "malformed_json", &err.to_string()),
        }
    }

    /// Rule 4: a server request is numbered, remembered until answered, and delivered to the
    /// thread's subscribers (or every client when it has no thread).
    fn server_request(
        &mut self,
        anchor_id: &str,
        text: &str,
        msg: &RpcPeek<'_>,
        out: &mut Vec<Action>,
    ) {
        let Some(id) = msg.id else { return };
        let number = self.next_server_request;
        let key = server_request_key(number);
        let thread_id = msg.params_fields().thread_id;
        let with_id = |seq: Option<u64>| {
            rpc::rewrite(text, |map| {
                map.insert("id".into(), Value::String(key.clone()));
                map.remove("seq");
                if let Some(seq) = seq {
                    map.insert("seq".into(), Value::from(seq));
                }
            })
            .ok()
        };
        let (seq, delivered) = match &thread_id {
            Some(thread_id) => {
                match self.fan_out_thread(thread_id, anchor_id, |seq| with_id(Some(seq)), out) {
                    Some((seq, text)) => (Some(seq), text),
                    None => return,
                }
            }
            None => {
                let Some(text) = with_id(None) else { return };
                let text: Arc<str> = text.into();
                self.broadcast_clients(&text, out);
                (None, text)
            }
        };
        self.next_server_request = number + 1;
        let request = PendingRequest {
            key,
            anchor_id: anchor_id.to_string(),
            original_id: id.get().to_string(),
            thread_id,
            seq,
            text: delivered.to_string(),
            resolved: false,
        };
        out.push(Action::Store(StoreOp::SavePending(request.clone())));
        self.pending.insert(number, request);
    }

    /// Rules 5 and 7: a thread's notifications are numbered, logged and sent to its
    /// subscribers; others go to every client.
    fn anchor_notification(
        &mut self,
        anchor_id: &str,
        text: &str,
        msg: &RpcPeek<'_>,
        out: &mut Vec<Action>,
    ) {
        let fields = msg.params_fields();
        let mut rewrite_request_id = None;
        if msg.method_str() == SERVER_REQUEST_RESOLVED {
            if let Some(original) = &fields.request_id {
                if let Some(number) = self.pending_for(anchor_id, original) {
                    rewrite_request_id = self.pending.get(&number).map(|r| r.key.clone());
                    self.settle(number, out);
                }
            }
        }
        let needs_rewrite = msg.has_seq || rewrite_request_id.is_some();
        let numbered = |seq: Option<u64>| {
            if !needs_rewrite {
                return Some(match seq {
                    Some(seq) => splice_seq(text, seq),
                    None => text.to_string(),
                });
            }
            rpc::rewrite(text, |map| {
                map.remove("seq");
                if let Some(seq) = seq {
                    map.insert("seq".into(), Value::from(seq));
                }
                if let (Some(key), Some(Value::Object(params))) =
                    (&rewrite_request_id, map.get_mut("params"))
                {
                    params.insert("requestId".into(), Value::String(key.clone()));
                }
            })
            .ok()
        };
        match &fields.thread_id {
            Some(thread_id) => {
                self.fan_out_thread(thread_id, anchor_id, |seq| numbered(Some(seq)), out);
            }
            None => {
                if let Some(text) = numbered(None) {
                    self.broadcast_clients(&text.into(), out);
                }
            }
        }
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

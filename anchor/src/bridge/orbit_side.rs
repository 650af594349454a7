//! Frames from Orbit: each is peeked once, then answered by the bridge, handed to a helper, or
//! forwarded to codex as the same bytes (queued while codex is not ready).

use orbit_protocol::control::{Control, PONG_FRAME};
use orbit_protocol::envelope::{peek, Kind, RpcKind};
use orbit_protocol::ErrorCode;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::{id_key, Bridge, BridgeAction, BridgeState};
use crate::helpers::HELPER_PREFIX;
use orbit_protocol::rpc;

/// A JSON-RPC frame from Orbit on its way to codex, with what the bridge needs to know about it
/// (so a queued frame is not read again when it is finally sent).
#[derive(Debug)]
pub(super) struct ClientFrame {
    pub(super) text: String,
    pub(super) what: What,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum What {
    /// A client's own `initialize`, answered from the cache. The id is JSON text, as are the
    /// others ([`id_key`]).
    Initialize {
        id: String,
    },
    Request {
        id: String,
    },
    /// An answer to a codex server request (an approval).
    Response {
        id: String,
    },
    Notification,
}

impl Bridge {
    pub(super) fn orbit_frame(&mut self, text: String, out: &mut Vec<BridgeAction>) {
        let what = {
            let Ok(envelope) = peek(&text) else {
                self.stats.unreadable_orbit_frames += 1;
                return;
            };
            let id = envelope.id().map(|id| id_key(id.get()));
            match (envelope.kind(), id) {
                (Kind::Control(kind), _) => {
                    self.control_frame(kind, &text, out);
                    return;
                }
                (Kind::Rpc(RpcKind::Request), Some(id)) => match envelope.method() {
                    method if method.starts_with(HELPER_PREFIX) => {
                        let method = method.to_string();
                        out.push(BridgeAction::HandleHelper {
                            id,
                            method,
                            frame: text,
                        });
                        return;
                    }
                    "initialize" => What::Initialize { id },
                    _ => What::Request { id },
                },
                (Kind::Rpc(RpcKind::Response), Some(id)) => What::Response { id },
                (Kind::Rpc(RpcKind::Notification), _) if envelope.method() == "initialized" => {
                    return;
                }
                _ => What::Notification,
            }
        };
        let frame = ClientFrame { text, what };
        if self.state == BridgeState::Ready {
            self.forward(frame, out);
        } else {
            self.queue_to_codex(frame, out);
        }
    }

    /// A control frame from Orbit (whose `type` the peek read).
    fn control_frame(&mut self, kind: &str, text: &str, out: &mut Vec<BridgeAction>) {
        match kind {
            // Told by their peeked type alone: nothing else in them matters.
            "ping" => out.push(BridgeAction::ToOrbit(PONG_FRAME.to_string())),
            "pong" => {}
            _ => match Control::parse(text) {
                Ok(Control::Ack { up_to }) => self.unacked.acknowledged(up_to),
                Ok(control) => {
                    if let Control::Hello { acks: false, .. } = control {
                        self.unacked.orbit_does_not_acknowledge();
                    }
                    out.push(BridgeAction::OrbitControl(control));
                }
                // A type from a newer Orbit: nothing this anchor could do with it.
                Err(_) => self.stats.unreadable_orbit_frames += 1,
            },
        }
    }

    fn queue_to_codex(&mut self, frame: ClientFrame, out: &mut Vec<BridgeAction>) {
        let fits = self.to_codex.len() < self.config.max_queued_to_codex_frames
            && self.to_codex_bytes + frame.text.len() <= self.config.max_queued_to_codex_bytes;
        if fits {
            self.to_codex_bytes += frame.text.len();
            self.to_codex.push_back(frame);
            return;
        }
        self.stats.busy_rejections += 1;
        if let What::Initialize { id } | What::Request { id } = &frame.what {
            let message = "the anchor's queue for codex is full while codex starts; retry shortly";
            let answer = rpc::error_response(id, ErrorCode::AnchorBusy, message);
            self.emit_orbit(answer, false, out);
        }
    }

    /// Gives up the oldest requests while more are in flight than allowed: each requester is
    /// answered `anchor_busy` at once instead of waiting without bound.
    fn bound_in_flight(&mut self, out: &mut Vec<BridgeAction>) {
        while self.in_flight.len() > self.config.max_in_flight
            || self.in_flight.id_bytes > self.config.max_in_flight_id_bytes
        {
            let Some(id) = self.in_flight.give_up_oldest() else {
                break;
            };
            self.stats.in_flight_evicted += 1;
            let message = format!(
                "codex has more than {} requests unanswered; the oldest, this one, was given up",
                self.config.max_in_flight
            );
            let answer = rpc::error_response(&id, ErrorCode::AnchorBusy, &message);
            self.emit_orbit(answer, false, out);
        }
    }

    /// Sends the frames that waited for the handshake, in order.
    pub(super) fn flush_queue(&mut self, out: &mut Vec<BridgeAction>) {
        self.to_codex_bytes = 0;
        for frame in std::mem::take(&mut self.to_codex) {
            self.forward(frame, out);
        }
    }

    /// Forwards a JSON-RPC frame from Orbit to a ready codex.
    fn forward(&mut self, frame: ClientFrame, out: &mut Vec<BridgeAction>) {
        match frame.what {
            What::Initialize { id } => {
                let result = self.init_result.as_deref().unwrap_or("null");
                let answer = rpc::result_response(&id, result);
                self.emit_orbit(answer, false, out);
            }
            What::Request { id } => {
                self.in_flight.insert(id);
                self.bound_in_flight(out);
                out.push(BridgeAction::ToCodex(frame.text));
            }
            What::Response { id } => match self.codex_requests.remove(&id) {
                Some(method) => {
                    out.push(BridgeAction::Decision {
                        method,
                        request_id: id,
                        decision: decision(&frame.text),
                    });
                    out.push(BridgeAction::ToCodex(frame.text));
                }
                None => {
                    // An answer to a request of a codex that has exited (or one answered
                    // already): it must not reach the new codex, whose ids start from 0 again,
                    // and its sender is told instead of waiting. Orbit relays the error to the
                    // client that answered.
                    self.stats.stale_answers_dropped += 1;
                    let (code, message) = if self.abandoned.remove(&id) {
                        (
                            ErrorCode::CodexExited,
                            "this request belonged to a codex that has exited; it can no longer be answered",
                        )
                    } else {
                        (
                            ErrorCode::AlreadyResolved,
                            "codex is not waiting for an answer to this request",
                        )
                    };
                    let answer = rpc::error_response(&id, code, message);
                    self.emit_orbit(answer, false, out);
                }
            },
            What::Notification => out.push(BridgeAction::ToCodex(frame.text)),
        }
    }
}

/// What a client answered to an approval: `result.decision` when present (a string as is,
/// anything else as JSON), else `"error"` for an error and `"answered"` for any other result.
/// Read for the audit log only, once per approval.
fn decision(text: &str) -> String {
    #[derive(Deserialize)]
    struct Answer<'a> {
        #[serde(borrow)]
        result: Option<&'a RawValue>,
        error: Option<IgnoredAny>,
    }
    let answered = || "answered".to_string();
    let Ok(answer) = serde_json::from_str::<Answer<'_>>(text) else {
        return answered();
    };
    match (answer.result, answer.error) {
        // An approval's result is a few bytes: `{"decision": …}`.
        (Some(result), _) => {
            let outcome = serde_json::from_str::<Map<String, Value>>(result.get());
            match outcome.as_ref().ok().and_then(|o| o.get("decision")) {
                Some(Value::String(decision)) => decision.clone(),
                Some(other) => other.to_string(),
                None => answered(),
            }
        }
        (None, Some(_)) => "error".to_string(),
        (None, None) => answered(),
    }
}

#[cfg(test)]
mod tests {
    use super::decision;

    #[test]
    fn decisions_are_read_from_the_result() {
        assert_eq!(
            decision(r#"{"id":0,"result":{"decision":"accept"}}"#),
            "accept"
        );
        assert_eq!(
            decision(r#"{"id":0,"result":{"decision":{"acceptWithExecpolicyAmendment":{}}}}"#),
            r#"{"acceptWithExecpolicyAmendment":{}}"#
        );
        assert_eq!(decision(r#"{"id":0,"result":{}}"#), "answered");
        assert_eq!(decision(r#"{"id":0,"result":[1]}"#), "answered");
        assert_eq!(
            decision(r#"{"id":0,"error":{"code":-1,"message":"no"}}"#),
            "error"
        );
    }
}

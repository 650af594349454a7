//! Codex's side: its life cycle (the anchor's handshake, exits and restarts) and its lines,
//! each peeked once and passed to Orbit as the same bytes.

use std::borrow::Cow;

use orbit_protocol::envelope::{peek, Kind, PeekError, RpcKind};
use orbit_protocol::ErrorCode;
use serde::Deserialize;
use serde::Serialize;
use serde_json::json;
use serde_json::value::RawValue;

use super::{
    id_key, Bridge, BridgeAction, BridgeState, CODEX_EXITED_METHOD, CODEX_RESTARTED_METHOD,
};
use crate::lines::LineError;
use orbit_protocol::rpc;

/// Prefix of the anchor's own request ids toward codex.
const INIT_ID_PREFIX: &str = "anchor-init-";
const INITIALIZED: &str = r#"{"method":"initialized"}"#;

/// A line from codex, as far as the bridge cares.
enum CodexMessage {
    /// A response (JSON text of its id).
    Response(String),
    /// A server request (an approval), with its id and method.
    Request(String, String),
    Notification,
}

#[derive(Serialize)]
struct Notification<P> {
    method: &'static str,
    params: P,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CodexExited {
    exit_code: Option<i32>,
    failed_requests: usize,
    abandoned_server_requests: Vec<Box<RawValue>>,
    restart_in_ms: u64,
}

#[derive(Serialize)]
struct CodexRestarted {
    restarts: u64,
}

impl Bridge {
    pub(super) fn codex_started(&mut self, out: &mut Vec<BridgeAction>) {
        self.init_counter += 1;
        let id = format!("{INIT_ID_PREFIX}{}", self.init_counter);
        let request =
            json!({"id": id, "method": "initialize", "params": self.config.initialize_params});
        self.init_id = Some(format!("\"{id}\""));
        self.state = BridgeState::Initializing;
        self.in_flight = Default::default();
        self.codex_requests.clear();
        out.push(BridgeAction::ToCodex(request.to_string()));
    }

    pub(super) fn codex_line(&mut self, line: String, now_ms: u64, out: &mut Vec<BridgeAction>) {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return;
        }
        // The line goes on as it came, so its own length is what Orbit will see.
        if line.len() > self.config.max_frame_bytes {
            self.oversized_codex_line(trimmed, now_ms, out);
            return;
        }
        let envelope = match peek(trimmed) {
            Ok(envelope) => envelope,
            Err(refused) => {
                self.unrelayable_codex_line(trimmed, &refused, out);
                return;
            }
        };
        let message = match (envelope.kind(), envelope.id()) {
            (Kind::Rpc(RpcKind::Notification), _) => Some(CodexMessage::Notification),
            (Kind::Rpc(RpcKind::Response), Some(id)) => {
                Some(CodexMessage::Response(id_key(id.get())))
            }
            (Kind::Rpc(RpcKind::Request), Some(id)) => Some(CodexMessage::Request(
                id_key(id.get()),
                envelope.method().to_string(),
            )),
            _ => None,
        };
        // Not JSON-RPC: codex never means such a line for a client, and Orbit would refuse it.
        let Some(message) = message else {
            self.stats.unreadable_codex_lines += 1;
            return;
        };
        match message {
            CodexMessage::Response(id) if self.is_init_answer(&id) => {
                self.handshake_answer(trimmed, now_ms, out);
            }
            CodexMessage::Response(id) => {
                if !self.in_flight.remove(&id) && self.in_flight.was_given_up(&id) {
                    // Its requester was answered `anchor_busy` already.
                    self.stats.late_answers_dropped += 1;
                    return;
                }
                self.emit_orbit(line, false, out);
            }
            CodexMessage::Request(id, method) => {
                self.abandoned.remove(&id);
                self.codex_requests.insert(id, method);
                self.emit_orbit(line, false, out);
            }
            CodexMessage::Notification => self.emit_orbit(line, true, out),
        }
    }

    /// A line the reader could not deliver. A line over the reader's bound was not kept, but
    /// its start was: if it is an answer to a request in flight (its `id`, which codex writes
    /// first, names one, and no `method` came before the cut), the requester gets
    /// `frame_too_large` instead of waiting forever.
    pub(super) fn codex_line_lost(&mut self, lost: LineError, out: &mut Vec<BridgeAction>) {
        self.last_error = Some(format!("codex wrote {lost}; dropped"));
        let head = match lost {
            LineError::TooLong { head, .. } => head,
            LineError::NotUtf8 => {
                self.stats.unreadable_codex_lines += 1;
                return;
            }
        };
        self.stats.too_large += 1;
        let start = PartialHead::read(&head);
        let Some(id) = start.id.filter(|_| !start.method) else {
            return;
        };
        if self.in_flight.remove(&id) {
            let message = format!(
                "codex's answer is longer than the anchor reads ({} bytes), far more than Orbit \
                 relays ({} bytes); ask for less (e.g. a smaller page or limit)",
                crate::codex::MAX_LINE_BYTES,
                self.config.max_frame_bytes
            );
            let answer = rpc::error_response(&id, ErrorCode::FrameTooLarge, &message);
            self.emit_orbit(answer, false, out);
        }
    }

    /// A line Orbit would refuse (nested too deep, say, which codex's serialiser allows). It is
    /// dropped; if it answers a request in flight (its `id`, which codex writes first, names
    /// one), the requester gets the refusal instead of waiting forever.
    fn unrelayable_codex_line(
        &mut self,
        text: &str,
        refused: &PeekError,
        out: &mut Vec<BridgeAction>,
    ) {
        self.stats.unreadable_codex_lines += 1;
        let head = PartialHead::read(text);
        let Some(id) = head.id.filter(|_| !head.method) else {
            return;
        };
        if !self.is_init_answer(&id) && self.in_flight.remove(&id) {
            self.last_error = Some(format!("codex's answer cannot be relayed: {refused}"));
            let message = format!("codex's answer cannot be relayed to Orbit: {refused}");
            let answer = rpc::error_response(&id, refused.code(), &message);
            self.emit_orbit(answer, false, out);
        }
    }

    fn is_init_answer(&self, id: &str) -> bool {
        self.state == BridgeState::Initializing && self.init_id.as_deref() == Some(id)
    }

    /// A line too large for Orbit. The answer to the anchor's own `initialize` is still taken
    /// (it is never forwarded); any other response becomes an error for its requester.
    fn oversized_codex_line(&mut self, text: &str, now_ms: u64, out: &mut Vec<BridgeAction>) {
        let Some(head) = Head::read(text) else {
            self.stats.unreadable_codex_lines += 1;
            return;
        };
        if head
            .id
            .is_some_and(|id| self.is_init_answer(&id_key(id.get())))
        {
            self.handshake_answer(text, now_ms, out);
        } else {
            self.refuse_too_large(text.len(), head, out);
        }
    }

    /// The anchor's own frame for Orbit (a helper's answer) over Orbit's frame limit.
    pub(super) fn local_frame_too_large(&mut self, text: &str, out: &mut Vec<BridgeAction>) {
        match Head::read(text) {
            Some(head) => self.refuse_too_large(text.len(), head, out),
            // The anchor writes these itself: they are always JSON.
            None => self.stats.too_large += 1,
        }
    }

    /// Drops a frame of `len` bytes that Orbit would refuse; a response becomes an error for its
    /// requester, who would otherwise wait forever.
    fn refuse_too_large(&mut self, len: usize, head: Head<'_>, out: &mut Vec<BridgeAction>) {
        self.stats.too_large += 1;
        let limit = self.config.max_frame_bytes;
        self.last_error = Some(format!(
            "a {len}-byte {} frame for Orbit is over Orbit's {limit} byte limit; dropped",
            head.method.as_deref().unwrap_or("response")
        ));
        if let (Some(id), None) = (head.id, &head.method) {
            let id = id_key(id.get());
            self.in_flight.remove(&id);
            let message = format!(
                "the answer is {len} bytes, more than Orbit relays ({limit} bytes); \
                 ask for less (e.g. a smaller page or limit)"
            );
            let answer = rpc::error_response(&id, ErrorCode::FrameTooLarge, &message);
            self.emit_orbit(answer, false, out);
        }
    }

    fn handshake_answer(&mut self, text: &str, now_ms: u64, out: &mut Vec<BridgeAction>) {
        #[derive(Default, Deserialize)]
        struct InitAnswer<'a> {
            #[serde(borrow)]
            result: Option<&'a RawValue>,
            #[serde(borrow)]
            error: Option<&'a RawValue>,
        }
        #[derive(Deserialize)]
        struct InitResult {
            #[serde(rename = "userAgent")]
            user_agent: Option<String>,
        }
        self.init_id = None;
        let answer = serde_json::from_str::<InitAnswer<'_>>(text).unwrap_or_default();
        if let Some(error) = answer.error {
            let reason = format!("codex refused initialize: {}", error.get());
            self.last_error = Some(reason.clone());
            out.push(BridgeAction::KillCodex { reason });
            return;
        }
        let result = answer.result.map_or("null", RawValue::get);
        let codex_version = serde_json::from_str::<InitResult>(result)
            .ok()
            .and_then(|r| r.user_agent)
            .and_then(|agent| codex_version_from_user_agent(&agent));
        self.init_result = Some(result.to_string());
        if codex_version.is_some() && codex_version != self.config.hello.codex_version {
            self.config.hello.codex_version = codex_version;
            if self.orbit_connected {
                out.push(BridgeAction::ToOrbit(self.hello_frame()));
            }
        }
        out.push(BridgeAction::ToCodex(INITIALIZED.to_string()));
        self.state = BridgeState::Ready;
        self.backoff.connected(now_ms);
        if self.restarting {
            self.restarting = false;
            let note = Notification {
                method: CODEX_RESTARTED_METHOD,
                params: CodexRestarted {
                    restarts: self.stats.codex_restarts,
                },
            };
            self.emit_orbit(to_text(&note), true, out);
        }
        self.flush_queue(out);
    }

    pub(super) fn codex_exited(
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
        let failed = self.in_flight.take();
        for id in &failed {
            self.stats.failed_on_exit += 1;
            let answer = rpc::error_response(id, ErrorCode::CodexExited, &message);
            self.emit_orbit(answer, false, out);
        }
        let mut abandoned: Vec<String> = self.codex_requests.drain().map(|(id, _)| id).collect();
        abandoned.sort();
        self.abandoned = abandoned.iter().cloned().collect();
        self.init_id = None;
        self.backoff.disconnected(now_ms);
        let delay = self.backoff.next_delay(random);
        self.state = BridgeState::Restarting;
        self.restarting = true;
        self.stats.codex_restarts += 1;
        let note = Notification {
            method: CODEX_EXITED_METHOD,
            params: CodexExited {
                exit_code: code,
                failed_requests: failed.len(),
                abandoned_server_requests: abandoned
                    .into_iter()
                    .filter_map(|id| RawValue::from_string(id).ok())
                    .collect(),
                restart_in_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            },
        };
        self.emit_orbit(to_text(&note), true, out);
        out.push(BridgeAction::RestartCodexAfter(delay));
    }
}

/// The id and method of a message too large to peek (the peek stops at Orbit's frame limit;
/// a codex line may be up to the line reader's, 16 MiB).
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Option<Cow<'a, str>>,
}

impl<'a> Head<'a> {
    fn read(text: &'a str) -> Option<Head<'a>> {
        serde_json::from_str(text).ok()
    }
}

/// What the start of a JSON object cut short says: its `id` (JSON text, [`id_key`]) and whether
/// a `method` came before it was cut. Read entry by entry, keeping what came before the cut.
#[derive(Debug, Default, PartialEq, Eq)]
struct PartialHead {
    id: Option<String>,
    method: bool,
}

impl PartialHead {
    fn read(text: &str) -> PartialHead {
        use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
        struct Entries<'a>(&'a mut PartialHead);
        impl<'de> Visitor<'de> for Entries<'_> {
            type Value = ();
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    match key.as_ref() {
                        "id" => {
                            let id = map.next_value::<Box<RawValue>>()?;
                            self.0.id = Some(id_key(id.get()));
                        }
                        "method" => {
                            self.0.method = true;
                            map.next_value::<IgnoredAny>()?;
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(())
            }
        }
        let mut head = PartialHead::default();
        let mut reader = serde_json::Deserializer::from_str(text);
        // Cut short, the object ends in an error: what was read before it stands.
        let _ = (&mut reader).deserialize_map(Entries(&mut head));
        head
    }
}

fn to_text<T: Serialize>(value: &T) -> String {
    // Only the anchor's own notifications, of numbers, strings and JSON ids: cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

/// Codex's version from its `initialize` answer's `userAgent`, whose first word is
/// `<client name>/<codex version>` (e.g. `orbit-anchor/0.169.0 (Debian 12; x86_64) …`).
pub(super) fn codex_version_from_user_agent(user_agent: &str) -> Option<String> {
    let first = user_agent.split_whitespace().next()?;
    let (_, version) = first.rsplit_once('/')?;
    (!version.is_empty() && version.len() <= 64).then(|| version.to_string())
}

//! `UserHub`: one Durable Object per user, relaying between that user's web clients and
//! anchors. A thin adapter: it turns runtime events into calls on the shared
//! [`Router`](orbit_shared::router::Router) and carries out the actions it returns.
//!
//! Sockets are accepted with the hibernation API, so the object may be evicted between
//! messages while its sockets stay open. Each socket's attachment holds only its connection
//! id, session id and peer; the router's other state is rebuilt from SQLite on wake.
//!
//! Revocation (closing a revoked credential's sockets when told, and re-checking D1 before
//! routing when not) is in [`revocation`].

mod revocation;
mod storage;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use worker::wasm_bindgen_futures;
use worker::{
    durable_object, Delay, DurableObject, Env, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair,
};

use orbit_protocol::close::CLOSE_STORAGE_FAILED;
use orbit_protocol::control::{Control, PING_FRAME, PONG_FRAME};
use orbit_protocol::ErrorCode;
use orbit_shared::gate::SUBPROTOCOL;
use orbit_shared::router::{
    lost_seqs, refresh_cause, Action, ConnId, PairedRefresh, Peer, RefreshCause, Router,
    RouterConfig, Step, StoreOp, WriteBatch,
};

use crate::db;
use crate::http::{self, now_ms, random_id};
use crate::upgrade::{Admitted, ADMIT_HEADER};
use storage::{InjectedFaults, Store, StoreError};

/// Header telling a hub that its user's paired anchors changed; the value is the user id.
const ANCHORS_CHANGED_HEADER: &str = "X-Orbit-Anchors-Changed";

/// A credential that was revoked, whose open sockets must close.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Revoked {
    Session(String),
    Anchor(String),
}

impl Revoked {
    /// The socket tag that finds the sockets opened with this credential.
    fn tag(&self) -> String {
        match self {
            Revoked::Session(id) => format!("sid:{id}"),
            Revoked::Anchor(id) => format!("aid:{id}"),
        }
    }
}

/// Sends `user`'s hub an internal request carrying `header: value`.
async fn tell_hub(env: &Env, user: &str, header: &str, value: &str) -> Result<Response> {
    let headers = worker::Headers::new();
    headers.set(header, value)?;
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::Post).with_headers(headers);
    let inner = Request::new_with_init("https://hub.internal/", &init)?;
    env.durable_object("USER_HUB")?
        .id_from_name(user)?
        .get_stub()?
        .fetch_with_request(inner)
        .await
}

pub use revocation::{close_revoked, CloseError, Fault, FAULT_HEADER};

/// Tells `user`'s hub that the user's paired anchors changed (an anchor was paired or renamed):
/// the hub reads them again and sends its clients the new `orbit.anchors`.
pub async fn anchors_changed(env: &Env, user: &str) -> Result<()> {
    tell_hub(env, user, ANCHORS_CHANGED_HEADER, user).await?;
    Ok(())
}

/// [`anchors_changed`], for callers whose own work is done: a failure is logged, and the hub's
/// clients see the change at their next refresh (docs/protocol.md).
pub async fn announce_anchors_changed(env: &Env, user: &str) {
    if let Err(e) = anchors_changed(env, user).await {
        worker::console_error!("telling the hub its anchors changed failed: {e}");
    }
}

/// Header of the development probe request, sent only by the dev API.
pub const PROBE_HEADER: &str = "X-Orbit-Probe";

/// What each socket carries through hibernation. Kept small on purpose.
#[derive(Debug, Serialize, Deserialize)]
struct Attachment {
    /// Connection id.
    c: ConnId,
    /// Session id, so revoking a session can find its sockets.
    s: String,
    p: Peer,
    /// The client's device name, for `orbit.answered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    d: Option<String>,
}

/// The in-memory half of the hub, rebuilt lazily after hibernation.
struct Live {
    router: Router,
    sockets: HashMap<ConnId, WebSocket>,
    store: Store,
    /// How many times this object's state has been rebuilt, this time included.
    wakes: u64,
    /// Thread-log writes not yet made, and the sends and closes that wait for them
    /// ([`WriteBatch`]: no send is carried out before the writes listed with or before it).
    batch: WriteBatch,
    flush_scheduled: bool,
    /// When the paired-anchor list was read from the accounts database, and how often.
    paired: PairedRefresh,
}

/// How long a batch of writes may stay open (docs/benchmarks.md).
const BATCH_DELAY: Duration = Duration::from_millis(2);

impl Live {
    /// Carries out the router's actions, batching thread-log writes.
    fn run(&mut self, actions: Vec<Action>) -> Result<(), StoreError> {
        let now = self.batch.admit(actions);
        self.carry_out(now)?;
        if self.batch.is_full() {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the open batch, then carries out what waited for it.
    fn flush(&mut self) -> Result<(), StoreError> {
        let step = self.batch.take();
        self.carry_out(step)
    }

    /// The writes, then the sends and closes. When a write fails, nothing that waited for it
    /// is carried out: no client may see a frame the log does not hold.
    fn carry_out(&mut self, step: Step) -> Result<(), StoreError> {
        for op in &step.writes {
            if let Err(e) = self.store.apply(op) {
                self.reserve_lost(&step.writes);
                return Err(e);
            }
        }
        for action in step.actions {
            self.act(action)?;
        }
        Ok(())
    }

    /// Keeps the numbers of a failed step's frames handed out, without rows: the log then shows
    /// a hole, and a client resubscribing from before it is told `truncated` and reloads the
    /// thread, instead of never learning that those frames existed. When storage refuses this
    /// too, the loss stays silent; it is logged.
    fn reserve_lost(&self, writes: &[StoreOp]) {
        for (thread_id, seq) in lost_seqs(writes) {
            if let Err(e) = self.store.reserve_seq(&thread_id, seq) {
                worker::console_error!("reserving seq {seq} of {thread_id} failed: {e}");
            }
        }
    }

    /// After a failed write the in-memory state no longer matches storage: every socket is
    /// closed (the clients reconnect and resubscribe with `sinceSeq`, and get what the log
    /// holds), and the state is dropped, to be rebuilt from storage by the next event.
    fn reset(slot: &mut Option<Live>, error: &StoreError) {
        worker::console_error!("hub reset after a storage failure: {error}");
        if let Some(live) = slot.take() {
            for (_, ws) in live.sockets {
                let _ = ws.close(
                    Some(CLOSE_STORAGE_FAILED),
                    Some("storage failed; reconnect"),
                );
            }
        }
    }

    /// Sends `text` on `to`'s socket, if it is still open; a failure is logged (its close
    /// event follows).
    fn send(&self, to: &str, text: &str) {
        if let Some(ws) = self.sockets.get(to) {
            if let Err(e) = ws.send_with_str(text) {
                worker::console_error!("send to {to} failed: {e}");
            }
        }
    }

    fn act(&mut self, action: Action) -> Result<(), StoreError> {
        match action {
            Action::Send { to, text } => self.send(&to, &text),
            Action::Ack { to, up_to } => self.send(&to, &Control::Ack { up_to }.to_text()),
            Action::Close { conn, code, reason } => {
                if let Some(ws) = self.sockets.remove(&conn) {
                    let _ = ws.close(Some(code), Some(reason));
                }
            }
            Action::Store(op) => self.store.apply(&op)?,
            Action::Alert(alert) => worker::console_warn!("security: {alert}"),
        }
        Ok(())
    }
}

#[durable_object]
pub struct UserHub {
    state: State,
    env: Env,
    live: Rc<RefCell<Option<Live>>>,
    /// When to re-check the sockets' credentials, and the development fault switch.
    revocation: RefCell<revocation::Guard>,
    /// Storage failures the development fault switch asked for.
    store_faults: Rc<InjectedFaults>,
    /// How long after its last frame a thread's log is forgotten (`ORBIT_IDLE_THREAD_SECONDS`).
    idle_thread_ms: u64,
}

impl UserHub {
    /// Makes sure the router is in memory, restoring it from storage and the open sockets.
    fn wake(&self, user_hint: Option<&str>) -> Result<()> {
        if self.live.borrow().is_some() {
            return Ok(());
        }
        let store = Store::open(self.state.storage().sql(), Rc::clone(&self.store_faults))?;
        let stored_user = store.user_id()?;
        if let Some(user) = user_hint {
            if stored_user.as_deref() != Some(user) {
                store.set_user_id(user)?;
            }
        }
        let user = user_hint
            .map(str::to_string)
            .or(stored_user)
            .unwrap_or_default();
        let mut sockets = HashMap::new();
        let mut conns = Vec::new();
        let mut devices = Vec::new();
        for ws in self.state.get_websockets() {
            if let Ok(Some(att)) = ws.deserialize_attachment::<Attachment>() {
                conns.push((att.c.clone(), att.p));
                devices.push((att.c.clone(), att.d));
                sockets.insert(att.c, ws);
            }
        }
        // Idle threads are forgotten here, at a wake, before any event: never during a replay.
        store.forget_idle_threads(now_ms(), self.idle_thread_ms)?;
        let config = RouterConfig {
            idle_thread_ms: self.idle_thread_ms,
            ..RouterConfig::default()
        };
        // A failed read fails the event rather than restoring an empty state.
        let mut router = Router::restore(user, config, store.snapshot(conns)?);
        for (conn, device) in devices {
            router.set_device(&conn, device);
        }
        let wakes = store.count_wake()?;
        *self.live.borrow_mut() = Some(Live {
            router,
            sockets,
            store,
            wakes,
            batch: WriteBatch::default(),
            flush_scheduled: false,
            paired: PairedRefresh::default(),
        });
        Ok(())
    }

    /// Runs `f` against the live router and carries out the actions it returns.
    fn with_router(&self, f: impl FnOnce(&mut Router, &Store) -> Vec<Action>) {
        let mut guard = self.live.borrow_mut();
        let Some(live) = guard.as_mut() else { return };
        let actions = f(&mut live.router, &live.store);
        if let Err(e) = live.run(actions) {
            Live::reset(&mut guard, &e);
            return;
        }
        if live.batch.is_open() && !live.flush_scheduled {
            live.flush_scheduled = true;
            let shared = Rc::clone(&self.live);
            wasm_bindgen_futures::spawn_local(async move {
                Delay::from(BATCH_DELAY).await;
                let mut guard = shared.borrow_mut();
                if let Some(live) = guard.as_mut() {
                    live.flush_scheduled = false;
                    if let Err(e) = live.flush() {
                        Live::reset(&mut guard, &e);
                    }
                }
            });
        }
    }

    /// Writes any open batch now: before a client's frame is routed, so that a replay reads
    /// every frame already numbered.
    fn flush_now(&self) {
        let mut guard = self.live.borrow_mut();
        if let Some(live) = guard.as_mut() {
            if let Err(e) = live.flush() {
                Live::reset(&mut guard, &e);
            }
        }
    }

    /// Gives the router the user's paired anchors from the accounts database, when `cause`
    /// calls for a read ([`PairedRefresh`]: pushed changes and a missing list at once, a
    /// client's connect or `orbit.list-anchors` at a bounded rate, nothing during the backoff
    /// after a failure). When the list clients see changes, they are sent the new one.
    ///
    /// The read runs under `blockConcurrencyWhile`: no other event is delivered meanwhile, so a
    /// frame that arrives during the read cannot be routed ahead of the one being handled
    /// (rule 6). A failed read is logged and the previous list kept.
    async fn refresh_paired(&self, cause: RefreshCause) {
        let started = now_ms();
        let user = match self.live.borrow_mut().as_mut() {
            Some(live) if live.paired.due(cause, started) => {
                live.paired.started();
                live.router.user_id().to_string()
            }
            _ => return,
        };
        let env = self.env.clone();
        let read = self.state.block_concurrency_while(async move {
            // Errors are returned as values: an `Err` here would reset the object.
            Ok(match env.d1("DB") {
                Ok(db) => db::paired_anchors(&db, &user).await,
                Err(e) => Err(e),
            })
        });
        match read.await {
            Ok(Ok(paired)) => {
                if let Some(live) = self.live.borrow_mut().as_mut() {
                    live.paired.succeeded(started);
                }
                self.with_router(|router, _| router.update_paired_anchors(paired));
            }
            Ok(Err(e)) | Err(e) => {
                if let Some(live) = self.live.borrow_mut().as_mut() {
                    live.paired.failed(now_ms());
                }
                worker::console_error!("reading paired anchors failed: {e}");
            }
        }
    }

    /// Why the paired-anchor list should be read before the router hears of this event
    /// ([`refresh_cause`]): `frame` is what `peer` sent, or `None` when it is connecting.
    fn paired_cause(&self, peer: &Peer, frame: Option<&str>) -> Option<RefreshCause> {
        let live = self.live.borrow();
        refresh_cause(&live.as_ref()?.router, peer, frame)
    }

    async fn accept(&self, admitted: Admitted) -> Result<Response> {
        self.wake(Some(&admitted.user_id))?;
        if let Some(cause) = self.paired_cause(&admitted.peer, None) {
            self.refresh_paired(cause).await;
        }
        let pair = WebSocketPair::new()?;
        let conn = random_id(8)?;
        let mut tags = vec![
            conn.clone(),
            Revoked::Session(admitted.session_id.clone()).tag(),
        ];
        if let Peer::Anchor { anchor_id } = &admitted.peer {
            tags.push(Revoked::Anchor(anchor_id.clone()).tag());
        }
        let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        self.state.accept_websocket_with_tags(&pair.server, &tags);
        pair.server.serialize_attachment(Attachment {
            c: conn.clone(),
            s: admitted.session_id.clone(),
            p: admitted.peer.clone(),
            d: admitted.device.clone(),
        })?;
        if let Some(live) = self.live.borrow_mut().as_mut() {
            live.sockets.insert(conn.clone(), pair.server.clone());
        }
        let peer = admitted.peer;
        let device = admitted.device;
        self.with_router(|router, _| {
            let actions = router.connect(conn.clone(), peer, now_ms());
            router.set_device(&conn, device);
            actions
        });
        let response = Response::from_websocket(pair.client)?;
        if admitted.subprotocol {
            let headers = worker::Headers::new();
            headers.set("Sec-WebSocket-Protocol", SUBPROTOCOL)?;
            return Ok(response.with_headers(headers));
        }
        Ok(response)
    }

    /// Development probe (reached only through the dev API): whether the in-memory state
    /// survived since the last event, how often it was rebuilt, how many sockets are open, and
    /// the size of the wasm memory.
    fn probe(&self) -> Result<Response> {
        let was_live = self.live.borrow().is_some();
        self.wake(None)?;
        let (wakes, paired_reads) = self
            .live
            .borrow()
            .as_ref()
            .map_or((0, 0), |l| (l.wakes, l.paired.reads()));
        http::json(&serde_json::json!({
            "wasLive": was_live,
            "wakes": wakes,
            "sockets": self.state.get_websockets().len(),
            // Reads of the paired-anchor list from D1 since this state was built.
            "pairedReads": paired_reads,
            // The Rust heap's ceiling: linear memory only grows, so the load suite can tell
            // growth in Orbit's own code from growth in workerd and V8.
            "wasmMemoryBytes": wasm_memory_bytes(),
        }))
    }

    /// The user's paired anchors changed: read them again, and tell the clients. A hub with no
    /// open socket has no one to tell; it reads the list when someone connects.
    async fn anchors_changed(&self, user: &str) -> Result<Response> {
        let idle = self.live.borrow().is_none() && self.state.get_websockets().is_empty();
        if !idle {
            self.wake(Some(user))?;
            self.refresh_paired(RefreshCause::Changed).await;
        }
        http::json(&serde_json::json!({"refreshed": !idle}))
    }

    fn conn_of(ws: &WebSocket) -> Option<Attachment> {
        ws.deserialize_attachment::<Attachment>().ok().flatten()
    }
}

impl DurableObject for UserHub {
    fn new(state: State, env: Env) -> Self {
        // Pings are answered by the runtime itself, without waking the object.
        match worker::worker_sys::WebSocketRequestResponsePair::new(PING_FRAME, PONG_FRAME) {
            Ok(pair) => state.set_websocket_auto_response(&pair),
            Err(_) => worker::console_error!("could not set the ping auto-response"),
        }
        let recheck_ms = crate::config::revocation_recheck_ms(&env);
        let idle_thread_ms = crate::config::idle_thread_ms(&env);
        UserHub {
            idle_thread_ms,
            state,
            env,
            live: Rc::new(RefCell::new(None)),
            revocation: RefCell::new(revocation::Guard::new(recheck_ms)),
            store_faults: Rc::new(InjectedFaults::default()),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        if req.headers().get(PROBE_HEADER)?.is_some() {
            return self.probe();
        }
        if let Some(answer) = self.revocation_request(&req).await? {
            return Ok(answer);
        }
        if let Some(user) = req.headers().get(ANCHORS_CHANGED_HEADER)? {
            return self.anchors_changed(&user).await;
        }
        let Some(admit) = req.headers().get(ADMIT_HEADER)? else {
            return http::refusal(ErrorCode::NotFound, "no such endpoint");
        };
        let Ok(admitted) = serde_json::from_str::<Admitted>(&admit) else {
            return http::refusal(ErrorCode::BadRequest, "bad admission");
        };
        self.accept(admitted).await
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        let Some(att) = Self::conn_of(&ws) else {
            return Ok(());
        };
        self.wake(None)?;
        if let Some(live) = self.live.borrow_mut().as_mut() {
            // A socket accepted before a restart is back in the map on first use.
            live.sockets
                .entry(att.c.clone())
                .or_insert_with(|| ws.clone());
        }
        if self.recheck_revocations(&att.c).await {
            // This very socket's credential was revoked: its frame goes nowhere.
            return Ok(());
        }
        let text = match message {
            WebSocketIncomingMessage::String(text) => text,
            WebSocketIncomingMessage::Binary(_) => {
                let error = Control::Error {
                    code: ErrorCode::BinaryFrame,
                    message: "Orbit frames are UTF-8 JSON text".into(),
                };
                return ws.send_with_str(error.to_text());
            }
        };
        // Only the parsed control frame asks for the list, never text that contains its name.
        if let Some(cause) = self.paired_cause(&att.p, Some(&text)) {
            self.refresh_paired(cause).await;
        }
        if att.p == Peer::Client {
            self.flush_now();
        }
        self.with_router(|router, store| router.receive(&att.c, &text, now_ms(), store));
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        reason: String,
        _was_clean: bool,
    ) -> Result<()> {
        if let Some(att) = Self::conn_of(&ws) {
            self.wake(None)?;
            if let Some(live) = self.live.borrow_mut().as_mut() {
                live.sockets.remove(&att.c);
            }
            self.with_router(|router, _| router.disconnect(&att.c, now_ms()));
        }
        // Finish the closing handshake; 1005 and 1006 may not be sent in a close frame.
        let code = u16::try_from(code)
            .ok()
            .filter(|c| *c != 1005 && *c != 1006)
            .unwrap_or(1000);
        let _ = ws.close(Some(code), Some(reason));
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        if let Some(att) = Self::conn_of(&ws) {
            self.wake(None)?;
            if let Some(live) = self.live.borrow_mut().as_mut() {
                live.sockets.remove(&att.c);
            }
            self.with_router(|router, _| router.disconnect(&att.c, now_ms()));
        }
        Ok(())
    }
}

/// The size of this isolate's wasm linear memory, in bytes (0 when not built for wasm).
fn wasm_memory_bytes() -> usize {
    #[cfg(target_arch = "wasm32")]
    {
        core::arch::wasm32::memory_size::<0>() * 65_536
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0
    }
}

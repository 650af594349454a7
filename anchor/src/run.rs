//! `anchor run`: the event loop that carries out the bridge's decisions.
//!
//! One task owns the [`Bridge`] ([`crate::bridge`], where every routing and supervision
//! decision is made and unit-tested) and feeds it events from four sources: codex's
//! stdout ([`crate::codex`]), the Orbit connection task ([`crate::orbit`]), finished helper
//! calls, and the codex restart timer. It performs the actions the bridge returns. Everything
//! between them is a bounded channel: when Orbit or codex is slow, the loop waits instead of
//! growing memory, and the bridge's own buffers are bounded with a clear error when full.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use orbit_protocol::control::{AnchorHello, Control};
use orbit_protocol::envelope::{peek, Kind};
use orbit_protocol::ErrorCode;
use serde_json::json;
use tokio::sync::{mpsc, watch, Notify, Semaphore};

use crate::audit::AuditLog;
use crate::bridge::{Bridge, BridgeAction, BridgeConfig, BridgeEvent, BridgeState};
use crate::codex::{CodexOutput, CodexProcess, LineBudget};
use crate::control::{ControlServer, FrameCounts, StatusReport};
use crate::helpers::{self, HelperContext};
use crate::orbit::{OrbitEvent, OrbitLink};
use crate::tokens::TokenKeeper;
use orbit_protocol::rpc;

/// Helper calls answered at once; more wait their turn.
const HELPER_CONCURRENCY: usize = 8;
/// Helper calls waiting or running at most; beyond that a call is answered `anchor_busy`.
const HELPER_QUEUE: usize = 64;
/// Frames for Orbit held between a connection's end and its `Disconnected` report, at most
/// (count, bytes); beyond, the oldest notification (else the oldest frame) is dropped.
const MAX_ORPHANED_FRAMES: usize = 1_000;
const MAX_ORPHANED_BYTES: usize = 8 * 1024 * 1024;
/// How long codex gets to exit by itself after its stdin closes, before it is killed.
const CODEX_EXIT_GRACE: Duration = Duration::from_secs(3);

/// Everything `anchor run` needs, resolved by the binary.
pub struct RunConfig {
    pub codex: PathBuf,
    pub orbit_url: String,
    pub socket_url: String,
    pub keeper: TokenKeeper,
    pub helper_ctx: HelperContext,
    pub control: ControlServer,
    pub hello: AnchorHello,
    /// Where `anchor.*` helpers run, apart from the bridge's thread.
    pub helpers_runtime: tokio::runtime::Handle,
    pub version: String,
    pub now_ms: fn() -> i64,
}

/// Why the anchor stopped.
#[derive(Debug)]
pub enum StopReason {
    Signal(&'static str),
    StopRequested,
    /// It cannot go on: revoked, replaced, refresh refused.
    Fatal(String),
}

struct Anchor {
    bridge: Bridge,
    codex_program: PathBuf,
    codex: Option<CodexProcess>,
    generation: u64,
    codex_tx: mpsc::Sender<(u64, CodexOutput)>,
    orbit_out: Option<crate::orbit::Outbound>,
    /// Frames the bridge sent while the connection was already gone (in order).
    orphaned: Orphans,
    /// The byte budget of codex's stdout lines waiting for this loop.
    line_budget: LineBudget,
    restart_at: Option<tokio::time::Instant>,
    helper_ctx: Arc<HelperContext>,
    helper_tx: mpsc::Sender<String>,
    helper_slots: Arc<Semaphore>,
    /// Helper calls accepted and not yet answered.
    helpers_pending: Arc<std::sync::atomic::AtomicUsize>,
    /// Helper calls answered `anchor_busy` (the bridge counts its own refusals).
    helpers_refused: u64,
    helpers_runtime: tokio::runtime::Handle,
    audit: Option<Arc<AuditLog>>,
    status: Arc<Mutex<StatusReport>>,
    started: Instant,
    now_ms: fn() -> i64,
}

pub async fn run(config: RunConfig) -> Result<StopReason> {
    let started = Instant::now();
    let status = Arc::new(Mutex::new(StatusReport {
        version: config.version.clone(),
        ..StatusReport::default()
    }));
    if let Ok(mut s) = status.lock() {
        s.orbit.url = Some(config.orbit_url.clone());
        s.orbit.anchor_id = Some(config.keeper.anchor_id().to_string());
    }
    let stop_requested = Arc::new(Notify::new());
    let provider = {
        let status = status.clone();
        move || {
            let mut report = status.lock().map(|s| s.clone()).unwrap_or_default();
            report.uptime_s = started.elapsed().as_secs();
            report
        }
    };
    let serving = tokio::spawn(
        config
            .control
            .serve(Arc::new(provider), stop_requested.clone()),
    );

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (orbit_tx, mut orbit_rx) = mpsc::channel::<OrbitEvent>(256);
    let link = OrbitLink {
        url: config.socket_url.clone(),
        keeper: config.keeper,
        events: orbit_tx,
        backoff: Default::default(),
        now_ms: config.now_ms,
    };
    let orbit_task = tokio::spawn(link.run(shutdown_rx));

    let (codex_tx, mut codex_rx) = mpsc::channel(256);
    let (helper_tx, mut helper_rx) = mpsc::channel(64);
    let audit = config.helper_ctx.audit.clone();
    let mut anchor = Anchor {
        bridge: Bridge::new(BridgeConfig {
            hello: config.hello,
            ..BridgeConfig::default()
        }),
        codex_program: config.codex,
        codex: None,
        generation: 0,
        codex_tx,
        orbit_out: None,
        orphaned: Orphans::default(),
        line_budget: LineBudget::default(),
        restart_at: None,
        helper_ctx: Arc::new(config.helper_ctx),
        helper_tx,
        helper_slots: Arc::new(Semaphore::new(HELPER_CONCURRENCY)),
        helpers_pending: Arc::default(),
        helpers_refused: 0,
        helpers_runtime: config.helpers_runtime,
        audit,
        status,
        started,
        now_ms: config.now_ms,
    };
    anchor.start_codex().await;

    // Both made once, before the loop: a listener made later misses signals already delivered.
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let reason = loop {
        let restart_at = anchor.restart_at;
        tokio::select! {
            _ = sigint.recv() => break StopReason::Signal("SIGINT"),
            _ = sigterm.recv() => break StopReason::Signal("SIGTERM"),
            _ = stop_requested.notified() => break StopReason::StopRequested,
            Some((generation, output)) = codex_rx.recv() => {
                anchor.codex_output(generation, output).await;
            }
            event = orbit_rx.recv() => match event {
                Some(OrbitEvent::Fatal(reason)) => break StopReason::Fatal(reason),
                Some(event) => anchor.orbit_event(event).await,
                None => break StopReason::Fatal("the Orbit connection task ended".into()),
            },
            Some(answer) = helper_rx.recv() => {
                anchor.feed(BridgeEvent::LocalFrame(answer)).await;
            }
            _ = sleep_until_opt(restart_at) => {
                anchor.restart_at = None;
                anchor.start_codex().await;
            }
        }
        anchor.publish_status();
    };

    match &reason {
        StopReason::Fatal(why) => tracing::error!("stopping: {why}"),
        StopReason::Signal(signal) => tracing::info!("{signal}: shutting down"),
        StopReason::StopRequested => {
            tracing::info!("stop requested over the control socket: shutting down")
        }
    }
    let _ = shutdown_tx.send(true);
    anchor.stop_codex(&mut codex_rx).await;
    if tokio::time::timeout(Duration::from_secs(3), orbit_task)
        .await
        .is_err()
    {
        tracing::warn!("the Orbit connection did not close in time");
    }
    serving.abort();
    let _ = serving.await;
    Ok(reason)
}

/// Whether `frame` is an `anchor.hello` control frame.
fn is_hello(frame: &str) -> bool {
    peek(frame).is_ok_and(|e| e.kind() == Kind::Control("anchor.hello"))
}

/// The exit code of codex generation `generation`, skipping its remaining output.
async fn wait_for_exit(
    codex_rx: &mut mpsc::Receiver<(u64, CodexOutput)>,
    generation: u64,
) -> Option<Option<i32>> {
    while let Some((g, output)) = codex_rx.recv().await {
        if let (true, CodexOutput::Exited(code)) = (g == generation, output) {
            return Some(code);
        }
    }
    None
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Anchor {
    fn mono_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    async fn feed(&mut self, event: BridgeEvent) {
        let actions = self
            .bridge
            .handle(event, self.mono_ms(), rand::random::<f64>());
        for action in actions {
            self.perform(action).await;
        }
    }

    async fn perform(&mut self, action: BridgeAction) {
        match action {
            BridgeAction::ToCodex(line) => match &self.codex {
                Some(codex) => {
                    if codex.send(line).await.is_err() {
                        tracing::debug!("codex's stdin is closed; its exit will be reported");
                    }
                }
                None => tracing::warn!("a frame for codex arrived with no codex running"),
            },
            BridgeAction::ToOrbit(text) => self.send_to_orbit(text).await,
            BridgeAction::HandleHelper { id, method, frame } => {
                // Boxed: answering `anchor_busy` feeds the bridge again (async recursion).
                Box::pin(self.spawn_helper(id, method, frame)).await
            }
            BridgeAction::OrbitControl(Control::Error { code, message }) => {
                tracing::warn!(%code, %message, "Orbit refused a frame from the anchor");
                self.set_orbit_error(format!("Orbit refused a frame: {code}: {message}"));
            }
            BridgeAction::OrbitControl(control) => {
                tracing::debug!(?control, "control frame from Orbit");
            }
            BridgeAction::RestartCodexAfter(delay) => {
                tracing::warn!(
                    restart_in_ms = delay.as_millis() as u64,
                    "codex exited; restarting it"
                );
                self.restart_at = Some(tokio::time::Instant::now() + delay);
            }
            BridgeAction::KillCodex { reason } => {
                tracing::error!(%reason, "killing codex");
                if let Some(codex) = &mut self.codex {
                    codex.kill();
                }
            }
            BridgeAction::Decision {
                method,
                request_id,
                decision,
            } => {
                tracing::info!(%method, %request_id, %decision, "approval answered");
                if let Some(audit) = &self.audit {
                    let time_ms = u64::try_from((self.now_ms)()).unwrap_or(0);
                    // The id as it was on the wire: a JSON string or number.
                    let request_id = serde_json::from_str::<serde_json::Value>(&request_id)
                        .unwrap_or(serde_json::Value::String(request_id));
                    let summary = json!({ "requestId": request_id });
                    if let Err(e) = audit.approval(time_ms, &method, Some(summary), &decision) {
                        tracing::warn!(error = %e, "failed to write the audit log");
                    }
                }
            }
        }
    }

    async fn send_to_orbit(&mut self, text: String) {
        let Some(out) = &self.orbit_out else {
            self.orphaned.push(text);
            return;
        };
        if let Err(e) = out.send(text).await {
            // The connection ended under us; its Disconnected event comes next.
            self.orbit_out = None;
            self.orphaned.push(e);
        }
    }

    async fn spawn_helper(&mut self, id: String, method: String, frame: String) {
        use std::sync::atomic::Ordering;
        if self.helpers_pending.load(Ordering::Relaxed) >= HELPER_QUEUE {
            self.helpers_refused += 1;
            let message = format!(
                "the anchor is already answering {HELPER_QUEUE} helper calls; retry shortly"
            );
            let busy = rpc::error_response(&id, ErrorCode::AnchorBusy, &message);
            self.feed(BridgeEvent::LocalFrame(busy)).await;
            return;
        }
        self.helpers_pending.fetch_add(1, Ordering::Relaxed);
        let ctx = self.helper_ctx.clone();
        let slots = self.helper_slots.clone();
        let pending = self.helpers_pending.clone();
        let answers = self.helper_tx.clone();
        self.helpers_runtime.spawn(async move {
            let _slot = slots.acquire_owned().await;
            let answer = helpers::answer(&ctx, &id, &method, &frame).await;
            let _ = answers.send(answer).await;
            pending.fetch_sub(1, Ordering::Relaxed);
        });
    }

    async fn orbit_event(&mut self, event: OrbitEvent) {
        match event {
            OrbitEvent::Connected { outbound } => {
                self.orbit_out = Some(outbound);
                self.orphaned.clear();
                if let Ok(mut s) = self.status.lock() {
                    s.orbit.connected = true;
                    s.orbit.connections += 1;
                    s.orbit.last_error = None;
                }
                self.feed(BridgeEvent::OrbitConnected).await;
            }
            OrbitEvent::Frame(text) => self.feed(BridgeEvent::OrbitFrame(text)).await,
            OrbitEvent::Disconnected { reason, unsent } => {
                self.orbit_out = None;
                if let Ok(mut s) = self.status.lock() {
                    s.orbit.connected = false;
                    s.orbit.last_error = Some(reason);
                }
                self.feed(BridgeEvent::OrbitDisconnected).await;
                let orphaned = self.orphaned.take();
                if self.bridge.keeps_sent_frames() {
                    // Every numbered frame among them is kept by the bridge until Orbit
                    // acknowledges it, and goes again first on the next connection; the rest
                    // are hellos and pongs, which belong to the connection that ended.
                    return;
                }
                // Written to the queue but never to the socket, then sent after the drop: keep
                // them, in that order, for the next connection.
                // An old `anchor.hello` among them is left out: each connection starts with a
                // fresh one, and a stale one sent after it would overwrite newer metadata.
                for frame in unsent.into_iter().chain(orphaned) {
                    if !is_hello(&frame) {
                        self.feed(BridgeEvent::LocalFrame(frame)).await;
                    }
                }
            }
            OrbitEvent::Refreshed => {
                if let Ok(mut s) = self.status.lock() {
                    s.orbit.token_refreshes += 1;
                }
            }
            OrbitEvent::Fatal(_) => {}
        }
    }

    async fn codex_output(&mut self, generation: u64, output: CodexOutput) {
        if generation != self.generation {
            return;
        }
        match output {
            // The permit returns the line's bytes to the budget once the line is handled.
            CodexOutput::Line(line, _permit) => {
                let was_ready = self.bridge.state() == BridgeState::Ready;
                self.feed(BridgeEvent::CodexLine(line)).await;
                if !was_ready && self.bridge.state() == BridgeState::Ready {
                    self.codex_ready();
                }
            }
            CodexOutput::Lost(lost) => {
                tracing::warn!("codex wrote {lost}; dropped");
                self.feed(BridgeEvent::CodexLineLost(lost)).await;
            }
            CodexOutput::Exited(code) => {
                tracing::warn!(?code, "codex exited");
                self.codex = None;
                self.feed(BridgeEvent::CodexExited { code }).await;
            }
        }
    }

    fn codex_ready(&mut self) {
        let version = self.bridge.codex_version().map(str::to_string);
        tracing::info!(version = ?version, "codex is ready");
        if version.is_some() && version != self.helper_ctx.codex_version {
            let mut ctx = (*self.helper_ctx).clone();
            ctx.codex_version = version;
            self.helper_ctx = Arc::new(ctx);
        }
    }

    async fn start_codex(&mut self) {
        self.generation += 1;
        let spawned = CodexProcess::spawn(
            &self.codex_program,
            self.generation,
            self.codex_tx.clone(),
            self.line_budget.clone(),
        );
        match spawned {
            Ok(process) => {
                tracing::info!(pid = ?process.pid, "codex started");
                self.codex = Some(process);
                self.feed(BridgeEvent::CodexStarted).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "could not start codex");
                // Reported as an exit, so the bridge schedules a retry with backoff.
                self.feed(BridgeEvent::CodexExited { code: None }).await;
                if let Ok(mut s) = self.status.lock() {
                    s.codex.last_error = Some(e.to_string());
                }
            }
        }
    }

    /// Closes codex's stdin, waits for it to exit, kills it if it does not; always reaped.
    async fn stop_codex(&mut self, codex_rx: &mut mpsc::Receiver<(u64, CodexOutput)>) {
        let Some(mut codex) = self.codex.take() else {
            return;
        };
        codex.close_stdin();
        let generation = codex.generation;
        match tokio::time::timeout(CODEX_EXIT_GRACE, wait_for_exit(codex_rx, generation)).await {
            Ok(code) => tracing::info!(?code, "codex exited"),
            Err(_) => {
                tracing::warn!("codex did not exit within {CODEX_EXIT_GRACE:?}; killing it");
                codex.kill();
                let _ = tokio::time::timeout(CODEX_EXIT_GRACE, wait_for_exit(codex_rx, generation))
                    .await;
            }
        }
    }

    fn set_orbit_error(&self, error: String) {
        if let Ok(mut s) = self.status.lock() {
            s.orbit.last_error = Some(error);
        }
    }

    fn publish_status(&self) {
        let Ok(mut s) = self.status.lock() else {
            return;
        };
        s.codex.running = self.codex.is_some();
        s.codex.pid = self.codex.as_ref().and_then(|c| c.pid);
        s.codex.state = self.bridge.state().as_str().to_string();
        s.codex.restarts = u32::try_from(self.bridge.stats().codex_restarts).unwrap_or(u32::MAX);
        s.codex.version = self.helper_ctx.codex_version.clone();
        s.codex.in_flight = self.bridge.in_flight();
        if let Some(e) = self.bridge.last_error() {
            s.codex.last_error = Some(e.to_string());
        }
        s.orbit.buffered_frames = self.bridge.buffered_to_orbit() + self.orphaned.len();
        s.orbit.unacknowledged_frames = self.bridge.unacknowledged();
        let stats = self.bridge.stats();
        s.orbit.unacknowledged_forgotten = stats.unacked_forgotten;
        s.frames = FrameCounts {
            busy: stats.busy_rejections + stats.in_flight_evicted + self.helpers_refused,
            codex_exited: stats.failed_on_exit,
            too_large: stats.too_large,
            unreadable_codex_lines: stats.unreadable_codex_lines,
            unreadable_orbit_frames: stats.unreadable_orbit_frames,
            stale_answers: stats.stale_answers_dropped + stats.late_answers_dropped,
            dropped_notifications: stats.to_orbit_notifications_dropped
                + self.orphaned.notifications_dropped,
            dropped_responses: stats.to_orbit_responses_dropped + self.orphaned.others_dropped,
        };
        let dropped = s.frames.dropped_notifications + s.frames.dropped_responses;
        // Logged at 1, 2, 4, 8… drops, so a long outage cannot flood the log.
        let previous = s.orbit.dropped_frames;
        if dropped > previous && dropped.ilog2() != previous.checked_ilog2().unwrap_or(u32::MAX) {
            tracing::warn!(
                dropped,
                "the buffer for Orbit is full (Orbit unreachable for long); dropping the oldest frames, notifications first"
            );
        }
        s.orbit.dropped_frames = dropped;
    }
}

/// Frames for Orbit sent while the connection was already gone, in order, bounded by
/// [`MAX_ORPHANED_FRAMES`] and [`MAX_ORPHANED_BYTES`]: past them the oldest notification is
/// dropped first (a client can re-read a thread), as in the bridge's own buffer.
#[derive(Debug, Default)]
struct Orphans {
    frames: std::collections::VecDeque<String>,
    bytes: usize,
    notifications_dropped: u64,
    others_dropped: u64,
}

impl Orphans {
    fn len(&self) -> usize {
        self.frames.len()
    }

    fn clear(&mut self) {
        self.take();
    }

    /// The frames, oldest first (the counts of dropped ones stay).
    fn take(&mut self) -> std::collections::VecDeque<String> {
        self.bytes = 0;
        std::mem::take(&mut self.frames)
    }

    fn push(&mut self, frame: String) {
        self.bytes += frame.len();
        self.frames.push_back(frame);
        while self.frames.len() > MAX_ORPHANED_FRAMES || self.bytes > MAX_ORPHANED_BYTES {
            let notification = self.frames.iter().position(|f| is_notification(f));
            let Some(dropped) = self.frames.remove(notification.unwrap_or(0)) else {
                break;
            };
            self.bytes -= dropped.len();
            if notification.is_some() {
                self.notifications_dropped += 1;
            } else {
                self.others_dropped += 1;
            }
        }
    }
}

fn is_notification(frame: &str) -> bool {
    use orbit_protocol::envelope::RpcKind;
    peek(frame).is_ok_and(|e| e.kind() == Kind::Rpc(RpcKind::Notification))
}

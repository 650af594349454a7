//! The local control socket: `anchor.sock` in the state directory (mode 0600), carrying
//! length-prefixed JSON frames ([`crate::framing`]).
//!
//! Requests: `{"cmd":"status"}` → a [`StatusReport`]; `{"cmd":"stop"}` → `{"stopping":true}` and
//! the server's stop signal fires. Anything else → `{"error": "..."}`, and the connection stays
//! open; a frame over the size limit ends it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;
use tokio_util::codec::Framed;

use crate::framing::{FrameError, StatusCodec};

pub const SOCKET_FILE: &str = "anchor.sock";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OrbitStatus {
    pub connected: bool,
    pub url: Option<String>,
    pub last_error: Option<String>,
    pub anchor_id: Option<String>,
    /// Connections made since start (1 after the first).
    pub connections: u64,
    /// Successful access-token refreshes since start.
    pub token_refreshes: u64,
    /// Frames waiting for Orbit to come back.
    pub buffered_frames: usize,
    /// Frames dropped because the buffer for an absent Orbit was full (the two kinds are in
    /// [`FrameCounts`]).
    pub dropped_frames: u64,
    /// Frames sent to Orbit and not yet acknowledged (sent again after a reconnection).
    pub unacknowledged_frames: usize,
    /// Frames sent and forgotten before Orbit acknowledged them (the bound on kept frames was
    /// reached), so they could not have been sent again.
    pub unacknowledged_forgotten: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CodexStatus {
    pub running: bool,
    pub pid: Option<u32>,
    pub restarts: u32,
    /// `starting`, `initializing`, `ready` or `restarting`.
    pub state: String,
    pub version: Option<String>,
    pub last_error: Option<String>,
    /// Requests forwarded to codex and not answered yet.
    pub in_flight: usize,
}

/// What the anchor refused or dropped since it started, by cause. Each of these means a client
/// got an error instead of an answer, or lost a frame; the log says little about them, so
/// `anchor status` is where they show.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FrameCounts {
    /// Requests answered `anchor_busy`: the queue for a starting codex, or the helpers' queue,
    /// was full, or too many requests were in flight and this, the oldest, was given up.
    pub busy: u64,
    /// Requests answered `codex_exited`.
    pub codex_exited: u64,
    /// Frames over Orbit's 1 MiB limit (or codex lines over 16 MiB): a response became a
    /// `frame_too_large` error, anything else was dropped.
    pub too_large: u64,
    /// Codex lines that are not JSON-RPC messages: dropped.
    pub unreadable_codex_lines: u64,
    /// Frames from Orbit the anchor could not read: dropped.
    pub unreadable_orbit_frames: u64,
    /// Answers to approvals of a codex that has since exited, or answered twice, and codex's
    /// late answers to requests given up: dropped.
    pub stale_answers: u64,
    /// Notifications dropped from the full buffer for an absent Orbit.
    pub dropped_notifications: u64,
    /// Responses and approvals dropped from that buffer, when it held nothing else.
    pub dropped_responses: u64,
}

impl FrameCounts {
    /// The nonzero counts, as `anchor status` words them (the buffer's drops have a line of
    /// their own).
    fn summary(&self) -> Vec<String> {
        [
            (self.busy, "answered anchor_busy"),
            (self.codex_exited, "answered codex_exited"),
            (self.too_large, "too large for Orbit"),
            (self.unreadable_codex_lines, "unreadable from codex"),
            (self.unreadable_orbit_frames, "unreadable from Orbit"),
            (self.stale_answers, "stale approval answers"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub orbit: OrbitStatus,
    pub codex: CodexStatus,
    /// Absent from the answer of an older anchor.
    #[serde(default)]
    pub frames: FrameCounts,
    pub version: String,
    pub uptime_s: u64,
}

/// A request to the running anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub enum ControlRequest {
    Status,
    Stop,
}

/// The running anchor's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ControlAnswer {
    Error { error: String },
    Stopping { stopping: bool },
    Status(Box<StatusReport>),
}

/// Supplies the anchor's current state (`anchor run` passes a closure).
pub trait StatusProvider: Send + Sync + 'static {
    fn status(&self) -> StatusReport;
}

impl<F> StatusProvider for F
where
    F: Fn() -> StatusReport + Send + Sync + 'static,
{
    fn status(&self) -> StatusReport {
        self()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("no anchor is running (no control socket at {})", path.display())]
    NotRunning { path: PathBuf },
    #[error("an anchor is already running (control socket {} answers)", path.display())]
    AlreadyRunning { path: PathBuf },
    #[error("control socket {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("control frame: {0}")]
    Frame(#[from] FrameError),
}

/// The socket's path in `state_dir`.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join(SOCKET_FILE)
}

/// The server's end of a connection: requests in (read as JSON, so that an unknown command
/// gets its own answer), answers out.
type ServerStream<S> = Framed<S, StatusCodec<Value, ControlAnswer>>;

fn io_err(source: std::io::Error) -> ControlError {
    ControlError::Io {
        path: PathBuf::new(),
        source,
    }
}

/// A frame error as [`ControlError`], I/O errors keeping their own kind.
fn frame_err(e: FrameError) -> ControlError {
    match e {
        FrameError::Io(source) => io_err(source),
        other => ControlError::Frame(other),
    }
}

/// The listening control socket.
pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlServer {
    /// Binds `<state_dir>/anchor.sock` with mode 0600. A stale socket file (nobody answering) is
    /// replaced; a live one means another anchor is running.
    pub async fn bind(state_dir: &Path) -> Result<Self, ControlError> {
        let path = socket_path(state_dir);
        let io = |source| ControlError::Io {
            path: path.clone(),
            source,
        };
        crate::credentials::ensure_state_dir(state_dir).map_err(|e| ControlError::Io {
            path: state_dir.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
        if std::fs::symlink_metadata(&path).is_ok() {
            if UnixStream::connect(&path).await.is_ok() {
                return Err(ControlError::AlreadyRunning { path });
            }
            std::fs::remove_file(&path).map_err(io)?;
        }
        let listener = UnixListener::bind(&path).map_err(io)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        Ok(Self { listener, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves until dropped (run it in a task). `stop` is notified on `{"cmd":"stop"}`.
    pub async fn serve(self, provider: Arc<dyn StatusProvider>, stop: Arc<Notify>) {
        loop {
            let (stream, _) = match self.listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let provider = provider.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                if let Err(e) = handle(stream, provider, stop).await {
                    tracing::debug!(error = %e, "control connection ended with an error");
                }
            });
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn handle(
    stream: UnixStream,
    provider: Arc<dyn StatusProvider>,
    stop: Arc<Notify>,
) -> Result<(), ControlError> {
    let mut stream: ServerStream<UnixStream> = Framed::new(stream, StatusCodec::new());
    while let Some(frame) = stream.next().await {
        let (answer, stopping) = match frame.map_err(frame_err)? {
            Ok(req) => dispatch(&req, provider.as_ref()),
            Err(malformed) => (
                ControlAnswer::Error {
                    error: malformed.to_string(),
                },
                false,
            ),
        };
        stream.send(answer).await.map_err(frame_err)?;
        if stopping {
            stop.notify_one();
        }
    }
    Ok(())
}

/// Answers one request; the flag says whether the anchor should stop.
fn dispatch(req: &Value, provider: &dyn StatusProvider) -> (ControlAnswer, bool) {
    let error = |error: String| (ControlAnswer::Error { error }, false);
    match req.get("cmd").and_then(Value::as_str) {
        Some("status") => (ControlAnswer::Status(Box::new(provider.status())), false),
        Some("stop") => (ControlAnswer::Stopping { stopping: true }, true),
        Some(other) => error(format!("unknown command {other:?}")),
        None => error("request needs a string \"cmd\"".to_string()),
    }
}

/// Client side: sends one request to the running anchor and returns its answer, as JSON (so
/// `anchor status --log-format json` shows all the anchor said, fields newer than this client
/// included).
pub async fn request(state_dir: &Path, req: ControlRequest) -> Result<Value, ControlError> {
    let path = socket_path(state_dir);
    let stream = match UnixStream::connect(&path).await {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(ControlError::NotRunning { path })
        }
        Err(source) => return Err(ControlError::Io { path, source }),
    };
    exchange(stream, req).await.map_err(|e| match e {
        ControlError::Io { source, .. } => ControlError::Io { path, source },
        other => other,
    })
}

async fn exchange<S, Q>(stream: S, req: Q) -> Result<Value, ControlError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    Q: Serialize,
{
    let mut stream = Framed::new(stream, StatusCodec::<Value, Q>::new());
    stream.send(req).await.map_err(frame_err)?;
    match stream.next().await {
        Some(frame) => Ok(frame.map_err(frame_err)??),
        None => Err(io_err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the anchor closed the connection without answering",
        ))),
    }
}

/// Human-readable rendering of a status answer for `anchor status`.
pub fn render_status(s: &StatusReport) -> String {
    let orbit = if s.orbit.connected {
        "connected".to_string()
    } else {
        "not connected".to_string()
    };
    let codex = match (s.codex.running, s.codex.pid) {
        (true, Some(pid)) => format!("running (pid {pid})"),
        (true, None) => "running".to_string(),
        _ => "not running".to_string(),
    };
    let codex = match (&s.codex.version, s.codex.state.as_str()) {
        (Some(v), "") => format!("{codex}, version {v}"),
        (Some(v), state) => format!("{codex}, {state}, version {v}"),
        (None, "") => codex,
        (None, state) => format!("{codex}, {state}"),
    };
    let mut out = format!(
        "anchor {} up {}s\norbit: {orbit}{}\ncodex: {codex}, {} restart(s)\n",
        s.version,
        s.uptime_s,
        s.orbit
            .url
            .as_deref()
            .map(|u| format!(" ({u})"))
            .unwrap_or_default(),
        s.codex.restarts,
    );
    if let Some(id) = &s.orbit.anchor_id {
        out.push_str(&format!("anchor id: {id}\n"));
    }
    if s.orbit.buffered_frames > 0 {
        out.push_str(&format!(
            "{} frame(s) waiting for Orbit\n",
            s.orbit.buffered_frames
        ));
    }
    if s.orbit.unacknowledged_forgotten > 0 {
        out.push_str(&format!(
            "{} frame(s) sent and forgotten before Orbit acknowledged them\n",
            s.orbit.unacknowledged_forgotten
        ));
    }
    if s.orbit.dropped_frames > 0 {
        out.push_str(&format!(
            "{} frame(s) dropped while Orbit was away (buffer full): {} notification(s), {} response(s)\n",
            s.orbit.dropped_frames, s.frames.dropped_notifications, s.frames.dropped_responses
        ));
    }
    let refused = s.frames.summary();
    if !refused.is_empty() {
        out.push_str(&format!(
            "frames refused or dropped: {}\n",
            refused.join(", ")
        ));
    }
    if let Some(e) = &s.orbit.last_error {
        out.push_str(&format!("last Orbit error: {e}\n"));
    }
    if let Some(e) = &s.codex.last_error {
        out.push_str(&format!("last codex error: {e}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn report() -> StatusReport {
        StatusReport {
            orbit: OrbitStatus {
                connected: false,
                url: Some("http://o".into()),
                last_error: Some("connection refused".into()),
                dropped_frames: 3,
                ..OrbitStatus::default()
            },
            codex: CodexStatus {
                running: true,
                pid: Some(42),
                restarts: 1,
                ..CodexStatus::default()
            },
            frames: FrameCounts {
                busy: 2,
                too_large: 1,
                dropped_notifications: 2,
                dropped_responses: 1,
                ..FrameCounts::default()
            },
            version: "0.1.0".into(),
            uptime_s: 3,
        }
    }

    /// A control server on a fresh state directory.
    async fn serving(
        stop: Arc<Notify>,
    ) -> anyhow::Result<(tempfile::TempDir, tokio::task::JoinHandle<()>)> {
        let dir = tempfile::tempdir()?;
        let server = ControlServer::bind(dir.path()).await?;
        let mode = std::fs::metadata(server.path())?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let task = tokio::spawn(server.serve(Arc::new(report), stop));
        Ok((dir, task))
    }

    #[tokio::test]
    async fn oversized_frames_end_the_connection_unanswered() -> anyhow::Result<()> {
        let (dir, task) = serving(Arc::new(Notify::new())).await?;
        let mut raw = UnixStream::connect(socket_path(dir.path())).await?;
        raw.write_all(&(u32::MAX).to_be_bytes()).await?;
        let mut s = Framed::new(raw, StatusCodec::<Value, Value>::new());
        assert!(s.next().await.is_none(), "closed without an answer");
        task.abort();
        Ok(())
    }

    #[tokio::test]
    async fn malformed_frames_get_an_error_answer_and_the_connection_goes_on() -> anyhow::Result<()>
    {
        let (dir, task) = serving(Arc::new(Notify::new())).await?;
        let mut raw = UnixStream::connect(socket_path(dir.path())).await?;
        raw.write_all(&[0, 0, 0, 3]).await?;
        raw.write_all(b"{{{").await?;
        let mut s = Framed::new(raw, StatusCodec::<Value, ControlRequest>::new());
        let v = s
            .next()
            .await
            .ok_or_else(|| anyhow::anyhow!("no answer"))???;
        assert!(
            v["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("malformed JSON in frame: ")),
            "{v}"
        );
        s.send(ControlRequest::Status).await?;
        let v = s
            .next()
            .await
            .ok_or_else(|| anyhow::anyhow!("no answer"))???;
        assert_eq!(v["uptimeS"], 3);
        task.abort();
        Ok(())
    }

    #[test]
    fn status_json_shape_and_rendering() -> anyhow::Result<()> {
        let v = serde_json::to_value(ControlAnswer::Status(Box::new(report())))?;
        assert_eq!(v["orbit"]["connected"], false);
        assert_eq!(v["orbit"]["lastError"], "connection refused");
        assert_eq!(v["codex"]["pid"], 42);
        assert_eq!(v["frames"]["busy"], 2);
        assert_eq!(v["frames"]["tooLarge"], 1);
        assert_eq!(v["frames"]["unreadableCodexLines"], 0);
        assert_eq!(v["uptimeS"], 3);
        assert_eq!(v["version"], "0.1.0");
        let text = render_status(&report());
        assert!(
            text.contains("pid 42") && text.contains("last Orbit error: connection refused"),
            "{text}"
        );
        assert!(
            text.contains(
                "frames refused or dropped: 2 answered anchor_busy, 1 too large for Orbit\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("3 frame(s) dropped while Orbit was away (buffer full): 2 notification(s), 1 response(s)"),
            "{text}"
        );
        let quiet = StatusReport::default();
        assert!(!render_status(&quiet).contains("frames refused"));
        // An older anchor's answer, without `frames`, still reads.
        let mut old = v.clone();
        old.as_object_mut().map(|o| o.remove("frames"));
        assert_eq!(
            serde_json::from_value::<StatusReport>(old)?.frames,
            FrameCounts::default()
        );
        Ok(())
    }

    #[tokio::test]
    async fn serves_status_and_stop_over_the_socket() -> anyhow::Result<()> {
        let stop = Arc::new(Notify::new());
        let (dir, task) = serving(stop.clone()).await?;

        // A second anchor must not steal the socket.
        assert!(matches!(
            ControlServer::bind(dir.path()).await,
            Err(ControlError::AlreadyRunning { .. })
        ));

        let v = request(dir.path(), ControlRequest::Status).await?;
        assert_eq!(serde_json::from_value::<StatusReport>(v)?, report());
        let path = socket_path(dir.path());
        for (req, want) in [
            (
                serde_json::json!({"cmd": "dance"}),
                "unknown command \"dance\"",
            ),
            (
                serde_json::json!({"cmd": 7}),
                "request needs a string \"cmd\"",
            ),
            (serde_json::json!([1]), "request needs a string \"cmd\""),
        ] {
            let v = exchange(UnixStream::connect(&path).await?, &req).await?;
            assert_eq!(v["error"], want, "{req}");
        }

        let stopped = stop.notified();
        let v = request(dir.path(), ControlRequest::Stop).await?;
        assert_eq!(v["stopping"], true);
        tokio::time::timeout(std::time::Duration::from_secs(5), stopped).await?;

        task.abort();
        let _ = task.await;
        assert!(!path.exists(), "socket removed on drop");
        Ok(())
    }

    #[tokio::test]
    async fn client_says_when_no_anchor_runs() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let err = request(dir.path(), ControlRequest::Status)
            .await
            .expect_err("nothing is listening");
        assert!(matches!(err, ControlError::NotRunning { .. }), "{err}");
        assert!(err.to_string().contains("no anchor is running"));

        // A stale socket file (left by a crashed anchor) is also "not running", and is replaced.
        let path = socket_path(dir.path());
        drop(std::os::unix::net::UnixListener::bind(&path)?);
        let err = request(dir.path(), ControlRequest::Status)
            .await
            .expect_err("stale socket");
        assert!(matches!(err, ControlError::NotRunning { .. }), "{err}");
        let server = ControlServer::bind(dir.path()).await?;
        drop(server);
        Ok(())
    }
}

//! The local control socket: `anchor.sock` in the state directory (mode 0600), carrying
//! length-prefixed JSON frames (u32 big-endian length, then that many bytes of JSON).
//!
//! Requests: `{"cmd":"status"}` → a [`StatusReport`]; `{"cmd":"stop"}` → `{"stopping":true}` and
//! the server's stop signal fires. Anything else → `{"error": "..."}`.
//!
//! The framing is `orbit_shared::anchor::framing` (sans-IO); [`FrameStream`] drives it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;

use orbit_shared::anchor::framing::{encode, FrameDecoder, FrameError};

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
    /// Frames dropped because the buffer for an absent Orbit was full.
    pub dropped_frames: u64,
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

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub orbit: OrbitStatus,
    pub codex: CodexStatus,
    pub version: String,
    pub uptime_s: u64,
}

/// Supplies the anchor's current state (the bridge implements this; closures work too).
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
    Frame(FrameError),
}

/// The socket's path in `state_dir`.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join(SOCKET_FILE)
}

/// A stream carrying control frames, decoded with [`FrameDecoder`].
pub struct FrameStream<S> {
    io: S,
    decoder: FrameDecoder,
}

impl<S: AsyncRead + AsyncWrite + Unpin> FrameStream<S> {
    pub fn new(io: S) -> Self {
        Self {
            io,
            decoder: FrameDecoder::new(),
        }
    }

    /// The next frame; `Ok(None)` when the peer closed the stream.
    pub async fn recv(&mut self) -> Result<Option<serde_json::Value>, ControlError> {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(frame) = self.decoder.next_frame() {
                return frame.map(Some).map_err(ControlError::Frame);
            }
            let n = self.io.read(&mut chunk).await.map_err(io_err)?;
            if n == 0 {
                return Ok(None);
            }
            self.decoder.push(&chunk[..n]);
        }
    }

    pub async fn send(&mut self, value: &serde_json::Value) -> Result<(), ControlError> {
        let bytes = encode(value).map_err(ControlError::Frame)?;
        self.io.write_all(&bytes).await.map_err(io_err)?;
        self.io.flush().await.map_err(io_err)
    }
}

fn io_err(source: std::io::Error) -> ControlError {
    ControlError::Io {
        path: PathBuf::new(),
        source,
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
    let mut stream = FrameStream::new(stream);
    loop {
        let req = match stream.recv().await {
            Ok(Some(req)) => req,
            Ok(None) => return Ok(()),
            Err(ControlError::Frame(e @ FrameError::Malformed(_))) => {
                stream
                    .send(&serde_json::json!({ "error": e.to_string() }))
                    .await?;
                continue;
            }
            Err(e) => return Err(e),
        };
        let (answer, stopping) = dispatch(&req, provider.as_ref());
        stream.send(&answer).await?;
        if stopping {
            stop.notify_one();
        }
    }
}

/// Answers one request; the flag says whether the anchor should stop.
pub fn dispatch(
    req: &serde_json::Value,
    provider: &dyn StatusProvider,
) -> (serde_json::Value, bool) {
    match req.get("cmd").and_then(|c| c.as_str()) {
        Some("status") => (
            serde_json::to_value(provider.status())
                .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() })),
            false,
        ),
        Some("stop") => (serde_json::json!({ "stopping": true }), true),
        Some(other) => (
            serde_json::json!({ "error": format!("unknown command {other:?}") }),
            false,
        ),
        None => (
            serde_json::json!({ "error": "request needs a string \"cmd\"" }),
            false,
        ),
    }
}

/// Client side: sends one request to the running anchor and returns its answer.
pub async fn request(
    state_dir: &Path,
    req: &serde_json::Value,
) -> Result<serde_json::Value, ControlError> {
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
    let mut stream = FrameStream::new(stream);
    stream.send(req).await?;
    stream.recv().await?.ok_or_else(|| ControlError::Io {
        path,
        source: std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the anchor closed the connection without answering",
        ),
    })
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
    if s.orbit.dropped_frames > 0 {
        out.push_str(&format!(
            "{} frame(s) dropped while Orbit was away (buffer full)\n",
            s.orbit.dropped_frames
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

    fn report() -> StatusReport {
        StatusReport {
            orbit: OrbitStatus {
                connected: false,
                url: Some("http://o".into()),
                last_error: Some("connection refused".into()),
                ..OrbitStatus::default()
            },
            codex: CodexStatus {
                running: true,
                pid: Some(42),
                restarts: 1,
                ..CodexStatus::default()
            },
            version: "0.1.0".into(),
            uptime_s: 3,
        }
    }

    #[tokio::test]
    async fn frames_round_trip() -> anyhow::Result<()> {
        let (a, b) = tokio::io::duplex(4096);
        let (mut a, mut b) = (FrameStream::new(a), FrameStream::new(b));
        let v = serde_json::json!({"cmd": "status", "x": [1, 2, 3], "pad": "x".repeat(200)});
        a.send(&v).await?;
        drop(a);
        assert_eq!(b.recv().await?, Some(v));
        assert_eq!(b.recv().await?, None, "clean EOF");
        Ok(())
    }

    #[tokio::test]
    async fn oversized_frames_are_refused() -> anyhow::Result<()> {
        let (mut a, b) = tokio::io::duplex(64);
        let mut b = FrameStream::new(b);
        a.write_all(&(u32::MAX).to_be_bytes()).await?;
        assert!(matches!(
            b.recv().await,
            Err(ControlError::Frame(FrameError::TooLarge { .. }))
        ));
        Ok(())
    }

    #[tokio::test]
    async fn malformed_frames_get_an_error_answer() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let server = ControlServer::bind(dir.path()).await?;
        let task = tokio::spawn(server.serve(Arc::new(report), Arc::new(Notify::new())));
        let mut raw = UnixStream::connect(socket_path(dir.path())).await?;
        raw.write_all(&[0, 0, 0, 3]).await?;
        raw.write_all(b"{{{").await?;
        let mut s = FrameStream::new(raw);
        let v = s
            .recv()
            .await?
            .ok_or_else(|| anyhow::anyhow!("no answer"))?;
        assert!(
            v["error"].as_str().is_some_and(|e| e.contains("malformed")),
            "{v}"
        );
        s.send(&serde_json::json!({"cmd": "status"})).await?;
        let v = s
            .recv()
            .await?
            .ok_or_else(|| anyhow::anyhow!("no answer"))?;
        assert_eq!(v["uptimeS"], 3);
        task.abort();
        Ok(())
    }

    #[test]
    fn status_json_shape() -> anyhow::Result<()> {
        let v = serde_json::to_value(report())?;
        assert_eq!(v["orbit"]["connected"], false);
        assert_eq!(v["orbit"]["lastError"], "connection refused");
        assert_eq!(v["codex"]["pid"], 42);
        assert_eq!(v["uptimeS"], 3);
        assert_eq!(v["version"], "0.1.0");
        let text = render_status(&report());
        assert!(
            text.contains("pid 42") && text.contains("last Orbit error: connection refused"),
            "{text}"
        );
        Ok(())
    }

    #[tokio::test]
    async fn serves_status_and_stop_over_the_socket() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let server = ControlServer::bind(dir.path()).await?;
        let mode = std::fs::metadata(server.path())?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let stop = Arc::new(Notify::new());
        let task = tokio::spawn(server.serve(Arc::new(report), stop.clone()));

        // A second anchor must not steal the socket.
        assert!(matches!(
            ControlServer::bind(dir.path()).await,
            Err(ControlError::AlreadyRunning { .. })
        ));

        let v = request(dir.path(), &serde_json::json!({"cmd": "status"})).await?;
        assert_eq!(serde_json::from_value::<StatusReport>(v)?, report());
        let v = request(dir.path(), &serde_json::json!({"cmd": "dance"})).await?;
        assert!(v["error"].as_str().is_some_and(|e| e.contains("dance")));

        let stopped = stop.notified();
        let v = request(dir.path(), &serde_json::json!({"cmd": "stop"})).await?;
        assert_eq!(v["stopping"], true);
        tokio::time::timeout(std::time::Duration::from_secs(5), stopped).await?;

        task.abort();
        let _ = task.await;
        assert!(!socket_path(dir.path()).exists(), "socket removed on drop");
        Ok(())
    }

    #[tokio::test]
    async fn client_says_when_no_anchor_runs() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let err = request(dir.path(), &serde_json::json!({"cmd": "status"}))
            .await
            .expect_err("nothing is listening");
        assert!(matches!(err, ControlError::NotRunning { .. }), "{err}");
        assert!(err.to_string().contains("no anchor is running"));

        // A stale socket file (left by a crashed anchor) is also "not running", and is replaced.
        let path = socket_path(dir.path());
        drop(std::os::unix::net::UnixListener::bind(&path)?);
        let err = request(dir.path(), &serde_json::json!({"cmd": "status"}))
            .await
            .expect_err("stale socket");
        assert!(matches!(err, ControlError::NotRunning { .. }), "{err}");
        let server = ControlServer::bind(dir.path()).await?;
        drop(server);
        Ok(())
    }
}

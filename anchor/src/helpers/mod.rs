//! The `anchor.*` JSON-RPC methods, answered by the anchor itself and never forwarded to codex.
//!
//! Every path goes through the [`Sandbox`]; sizes are capped with explicit `truncated` flags; every
//! call is written to the audit log when one is configured.

mod config;
mod fs;
mod git;
mod info;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use orbit_protocol::ErrorCode;
use serde_json::{json, Value};

use crate::audit::AuditLog;
use crate::sandbox::{Sandbox, SandboxError};
use orbit_protocol::rpc;

/// Most bytes of file or command output one answer may carry. Every answer must fit in one
/// Orbit frame (`orbit_protocol::limits::MAX_FRAME_BYTES`, 1 MiB); half of it leaves room for JSON
/// escaping and the envelope. Answers that still do not fit become `frame_too_large` errors.
pub const ANSWER_BUDGET_BYTES: u64 = (orbit_protocol::limits::MAX_FRAME_BYTES / 2) as u64;

/// What every helper method's name starts with; such requests never reach codex.
pub const HELPER_PREFIX: &str = "anchor.";

/// The methods this module answers (announced in `anchor.hello` as capabilities).
pub const HELPER_METHODS: &[&str] = &[
    "anchor.listDirs",
    "anchor.git.status",
    "anchor.git.diff",
    "anchor.git.log",
    "anchor.git.branches",
    "anchor.file.read",
    "anchor.image.read",
    "anchor.config.read",
    "anchor.config.write",
    "anchor.info",
];

/// Everything the helpers need, supplied by the anchor.
#[derive(Debug, Clone)]
pub struct HelperContext {
    /// Allowed roots for every client-named path.
    pub sandbox: Sandbox,
    /// Codex's home directory (`CODEX_HOME`, default `~/.codex`); `config.toml` lives here.
    pub codex_home: PathBuf,
    /// The anchor's version string.
    pub anchor_version: String,
    /// The codex version reported at `initialize`, if known.
    pub codex_version: Option<String>,
    /// When the anchor started (for `uptime`).
    pub started_at: Instant,
    /// Where helper calls are recorded, if anywhere.
    pub audit: Option<Arc<AuditLog>>,
}

impl HelperContext {
    /// `CODEX_HOME` if set and non-empty, else `$HOME/.codex`.
    pub fn default_codex_home() -> Option<PathBuf> {
        match std::env::var_os("CODEX_HOME") {
            Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
            _ => std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".codex")),
        }
    }
}

/// A helper failure; its code is the answer's `error.data.code` (and picks `error.code`, see
/// [`orbit_protocol::rpc`]).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct HelperError {
    pub code: ErrorCode,
    pub message: String,
}

impl HelperError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParams, message)
    }

    /// `not_found` for a missing file, else `io_error`.
    pub fn io(context: &str, e: &std::io::Error) -> Self {
        let code = if e.kind() == std::io::ErrorKind::NotFound {
            ErrorCode::NotFound
        } else {
            ErrorCode::IoError
        };
        Self::new(code, format!("{context}: {e}"))
    }
}

impl From<SandboxError> for HelperError {
    fn from(e: SandboxError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

/// Answers the `anchor.*` request `frame` (whose id, as JSON text, is `id_json`): the JSON-RPC
/// response to send back. Its `params` are read here, where the helper runs, not on the
/// bridge's thread, which only peeked at the frame.
pub async fn answer(ctx: &HelperContext, id_json: &str, method: &str, frame: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Request {
        #[serde(default)]
        params: Value,
    }
    let params = match serde_json::from_str::<Request>(frame) {
        Ok(request) => request.params,
        Err(e) => {
            let message = format!("params cannot be read: {e}");
            return rpc::error_response(id_json, ErrorCode::InvalidParams, &message);
        }
    };
    match handle(ctx, method, &params).await {
        // A Value has only string keys: serialising it cannot fail.
        Ok(result) => rpc::result_response(
            id_json,
            &serde_json::to_string(&result).unwrap_or_else(|_| "null".into()),
        ),
        Err(e) => rpc::error_response(id_json, e.code, &e.message),
    }
}

/// Answers one `anchor.*` call. Writes an audit line when the context has an audit log.
pub async fn handle(
    ctx: &HelperContext,
    method: &str,
    params: &Value,
) -> Result<Value, HelperError> {
    let result = dispatch(ctx, method, params).await;
    if let Some(log) = &ctx.audit {
        let time_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        let (path, outcome) = match &result {
            Ok(v) => (
                v.get("path").and_then(Value::as_str).map(str::to_owned),
                "ok".to_owned(),
            ),
            Err(e) => (None, format!("error:{}", e.code.as_str())),
        };
        if let Err(e) = log.helper_call(time_ms, method, path, params_summary(params), &outcome) {
            tracing::warn!(error = %e, "failed to write audit log");
        }
    }
    result
}

async fn dispatch(ctx: &HelperContext, method: &str, params: &Value) -> Result<Value, HelperError> {
    match method {
        "anchor.listDirs" => fs::list_dirs(ctx, params),
        "anchor.file.read" => fs::read_file(ctx, params),
        "anchor.image.read" => fs::read_image(ctx, params),
        "anchor.git.status" => git::status(ctx, params).await,
        "anchor.git.diff" => git::diff(ctx, params).await,
        "anchor.git.log" => git::log(ctx, params).await,
        "anchor.git.branches" => git::branches(ctx, params).await,
        "anchor.config.read" => config::read(ctx),
        "anchor.config.write" => config::write(ctx, params),
        "anchor.info" => Ok(info::info(ctx)),
        other => Err(HelperError::new(
            ErrorCode::UnknownMethod,
            format!("unknown anchor method: {other}"),
        )),
    }
}

/// The parameters worth auditing: names and small scalars only, never `content`.
fn params_summary(params: &Value) -> Option<Value> {
    let obj = params.as_object()?;
    let mut out = serde_json::Map::new();
    for (k, v) in obj {
        match v {
            Value::String(s) if k != "content" => {
                let s: String = s.chars().take(512).collect();
                out.insert(k.clone(), Value::String(s));
            }
            Value::Number(_) | Value::Bool(_) => {
                out.insert(k.clone(), v.clone());
            }
            Value::String(s) => {
                out.insert(k.clone(), json!({ "bytes": s.len() }));
            }
            _ => {}
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

// ---- parameter helpers shared by the helper groups ----

fn obj(params: &Value) -> Result<Option<&serde_json::Map<String, Value>>, HelperError> {
    match params {
        Value::Null => Ok(None),
        Value::Object(m) => Ok(Some(m)),
        _ => Err(HelperError::invalid_params("params must be an object")),
    }
}

fn opt_str<'a>(params: &'a Value, key: &str) -> Result<Option<&'a str>, HelperError> {
    match obj(params)?.and_then(|m| m.get(key)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(HelperError::invalid_params(format!(
            "`{key}` must be a string"
        ))),
    }
}

fn req_str<'a>(params: &'a Value, key: &str) -> Result<&'a str, HelperError> {
    opt_str(params, key)?.ok_or_else(|| HelperError::invalid_params(format!("missing `{key}`")))
}

fn opt_u64(params: &Value, key: &str) -> Result<Option<u64>, HelperError> {
    match obj(params)?.and_then(|m| m.get(key)) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            HelperError::invalid_params(format!("`{key}` must be a non-negative integer"))
        }),
    }
}

fn path_string(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    pub fn ctx(root: &std::path::Path) -> HelperContext {
        HelperContext {
            sandbox: Sandbox::new(vec![root.to_path_buf()]).unwrap(),
            codex_home: root.join(".codex"),
            anchor_version: "0.1.0".into(),
            codex_version: Some("codex 9.9".into()),
            started_at: Instant::now(),
            audit: None,
        }
    }

    /// A context whose root is a home directory with the anchor's defaults: its state
    /// directory at `.config/orbit-anchor`, codex's home at `.codex`, the built-in deny-list.
    pub fn home_ctx(home: &std::path::Path) -> HelperContext {
        let list: Vec<String> = crate::deny::DEFAULT_DENY
            .iter()
            .map(|e| (*e).to_owned())
            .collect();
        let sandbox = crate::sandbox::anchor_sandbox(
            vec![home.to_path_buf()],
            &home.join(".config/orbit-anchor"),
            &home.join(".codex"),
            home,
            &list,
        )
        .unwrap();
        HelperContext {
            sandbox,
            ..ctx(home)
        }
    }

    /// Makes a FIFO at `path` (with the system's `mkfifo`: no unsafe code in the tests).
    pub fn mkfifo(path: &std::path::Path) {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success(), "mkfifo {}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every helper that takes a `path`.
    const PATH_TAKING_HELPERS: [&str; 7] = [
        "anchor.listDirs",
        "anchor.file.read",
        "anchor.image.read",
        "anchor.git.status",
        "anchor.git.diff",
        "anchor.git.log",
        "anchor.git.branches",
    ];

    #[test]
    fn every_helper_method_has_the_prefix() {
        assert!(HELPER_METHODS.iter().all(|m| m.starts_with(HELPER_PREFIX)));
    }

    #[tokio::test]
    async fn unknown_method_and_error_shape() {
        let tmp = tempfile::tempdir().unwrap();
        let ctx = test_support::ctx(tmp.path());
        let e = handle(&ctx, "anchor.nope", &Value::Null).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownMethod);
        let frame = r#"{"id":"orbit:c:1","method":"anchor.nope","params":{}}"#;
        let v: Value =
            serde_json::from_str(&answer(&ctx, r#""orbit:c:1""#, "anchor.nope", frame).await)
                .unwrap();
        assert_eq!(v["id"], "orbit:c:1");
        assert_eq!(v["error"]["code"], -32601);
        assert_eq!(v["error"]["data"]["code"], "unknown_method");
        let e = handle(&ctx, "anchor.file.read", &json!([1]))
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParams);
    }

    #[tokio::test]
    async fn answers_carry_the_request_id_and_the_result() {
        let tmp = tempfile::tempdir().unwrap();
        let ctx = test_support::ctx(tmp.path());
        std::fs::write(tmp.path().join("f.txt"), "hi").unwrap();
        let frame = r#"{"id":7,"method":"anchor.file.read","params":{"path":"f.txt"}}"#;
        let v: Value =
            serde_json::from_str(&answer(&ctx, "7", "anchor.file.read", frame).await).unwrap();
        assert_eq!(v["id"], 7);
        assert_eq!(v["result"]["content"], "hi");
        // Without params, a helper sees `null`, as before.
        let frame = r#"{"id":8,"method":"anchor.info"}"#;
        let v: Value =
            serde_json::from_str(&answer(&ctx, "8", "anchor.info", frame).await).unwrap();
        assert_eq!(v["result"]["anchorVersion"], "0.1.0");
        let frame = r#"{"id":9,"method":"anchor.file.read","params":{"path":"/etc/passwd"}}"#;
        let v: Value =
            serde_json::from_str(&answer(&ctx, "9", "anchor.file.read", frame).await).unwrap();
        assert_eq!(v["error"]["code"], -32001);
        assert_eq!(v["error"]["data"]["code"], "path_not_allowed");
    }

    #[tokio::test]
    async fn calls_are_audited_without_content() {
        let tmp = tempfile::tempdir().unwrap();
        let log_path = tmp.path().join("audit.jsonl");
        let mut ctx = test_support::ctx(tmp.path());
        ctx.audit = Some(Arc::new(AuditLog::open(&log_path).unwrap()));
        std::fs::write(tmp.path().join("f.txt"), "SECRET-CONTENT").unwrap();
        handle(&ctx, "anchor.file.read", &json!({"path": "f.txt"}))
            .await
            .unwrap();
        handle(&ctx, "anchor.file.read", &json!({"path": "/etc/passwd"}))
            .await
            .unwrap_err();
        handle(
            &ctx,
            "anchor.config.write",
            &json!({"content": "model = \"SECRET-CONFIG\"\n"}),
        )
        .await
        .unwrap();
        let text = std::fs::read_to_string(&log_path).unwrap();
        assert!(!text.contains("SECRET"));
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["method"], "anchor.file.read");
        assert_eq!(lines[0]["outcome"], "ok");
        assert!(lines[0]["path"].as_str().unwrap().ends_with("f.txt"));
        assert_eq!(lines[1]["outcome"], "error:path_not_allowed");
        assert_eq!(lines[2]["params"]["content"]["bytes"], 24);
    }

    /// Every helper that takes a path, against the anchor's credentials, codex's sign-in and
    /// the secret stores in a home-directory root: named directly, through `..`, and through a
    /// symlink inside the root. Each is refused with `path_denied` (not `path_not_allowed`:
    /// the path is inside the root), naming the rule, and never carries the secret.
    #[tokio::test]
    async fn every_path_taking_helper_refuses_the_anchor_credentials_and_secret_stores() {
        let tmp = tempfile::tempdir().unwrap();
        let home = std::fs::canonicalize(tmp.path()).unwrap();
        for (file, text) in [
            (".config/orbit-anchor/credentials.json", "SECRET-REFRESH"),
            (".codex/auth.json", "SECRET-CODEX"),
            (".ssh/id_ed25519", "SECRET-KEY"),
            (".aws/credentials", "SECRET-AWS"),
            ("proj/a.txt", "inside"),
        ] {
            let p = home.join(file);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        std::os::unix::fs::symlink(home.join(".ssh"), home.join("proj/ssh")).unwrap();
        std::os::unix::fs::symlink(home.join(".aws/credentials"), home.join("proj/aws")).unwrap();
        let c = test_support::home_ctx(&home);
        let denied = [
            ".config/orbit-anchor/credentials.json",
            ".config/orbit-anchor",
            ".codex/auth.json",
            ".codex",
            ".ssh/id_ed25519",
            ".ssh",
            ".aws/credentials",
            "proj/../.ssh/id_ed25519",
            "proj/../.aws",
            "proj/ssh/id_ed25519",
            "proj/ssh",
            "proj/aws",
        ];
        for method in PATH_TAKING_HELPERS {
            for path in denied {
                let e = handle(&c, method, &json!({"path": path}))
                    .await
                    .unwrap_err();
                assert_eq!(e.code, ErrorCode::PathDenied, "{method} {path}: {e}");
                assert!(!e.message.contains("SECRET"), "{method} {path}: {e}");
            }
        }
        let v = handle(&c, "anchor.file.read", &json!({"path": "proj/a.txt"}))
            .await
            .unwrap();
        assert_eq!(v["content"], "inside");
        let frame = r#"{"id":1,"method":"anchor.file.read","params":{"path":".ssh/id_ed25519"}}"#;
        let v: Value =
            serde_json::from_str(&answer(&c, "1", "anchor.file.read", frame).await).unwrap();
        assert_eq!(v["error"]["data"]["code"], "path_denied");
        assert_eq!(v["error"]["code"], -32001);
    }

    /// Every helper that takes a path, against each way out of the roots: `..`, an absolute
    /// path outside, a symlink out (to a directory and to a file). Each is refused with
    /// `path_not_allowed`, and the same helper still works inside.
    #[tokio::test]
    async fn every_path_taking_helper_refuses_dotdot_absolute_and_symlink_escapes() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("inside")).unwrap();
        std::fs::write(root.join("inside/a.txt"), "inside").unwrap();
        std::fs::write(outside.path().join("secret.txt"), "secret").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("to-dir")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), root.join("to-file"))
            .unwrap();
        let c = test_support::ctx(&root);
        let out = outside.path().display().to_string();
        let escapes = [
            "..".to_string(),
            "../..".to_string(),
            "inside/../../".to_string(),
            format!("{out}/secret.txt"),
            out.clone(),
            "/".to_string(),
            "to-dir".to_string(),
            "to-dir/secret.txt".to_string(),
            "to-file".to_string(),
            format!("{}/inside/../../", root.display()),
        ];
        for method in PATH_TAKING_HELPERS {
            for path in &escapes {
                let e = handle(&c, method, &json!({"path": path}))
                    .await
                    .unwrap_err();
                assert_eq!(e.code, ErrorCode::PathNotAllowed, "{method} {path}: {e}");
                assert!(!e.message.contains("secret\""), "{method} {path}: {e}");
            }
        }
        for path in ["inside/a.txt", "inside"] {
            let method = if path.ends_with(".txt") {
                "anchor.file.read"
            } else {
                "anchor.listDirs"
            };
            handle(&c, method, &json!({"path": path})).await.unwrap();
        }
    }
}

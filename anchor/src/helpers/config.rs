//! `anchor.config.read` / `anchor.config.write`: codex's `config.toml` under `CODEX_HOME`.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::{path_string, req_str, HelperContext, HelperError};
use orbit_protocol::ErrorCode;

/// Largest config file read or written.
pub const CONFIG_MAX_BYTES: u64 = super::ANSWER_BUDGET_BYTES;

/// `anchor.config.read`: `{path, exists, content}`.
pub fn read(ctx: &HelperContext) -> Result<Value, HelperError> {
    let path = ctx.codex_home.join("config.toml");
    // Codex's home is writable by codex, so its config could be a FIFO: opened the same
    // non-blocking, regular-files-only way as the file helpers.
    let file = match super::fs::open_regular(&path, super::fs::FinalSymlink::Follow) {
        Ok((f, _)) => f,
        Err(e) if e.code == ErrorCode::NotFound => {
            return Ok(json!({"path": path_string(&path), "exists": false, "content": ""}));
        }
        Err(e) => return Err(e),
    };
    let mut buf = Vec::new();
    file.take(CONFIG_MAX_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| HelperError::io("read config", &e))?;
    if buf.len() as u64 > CONFIG_MAX_BYTES {
        return Err(HelperError::new(
            ErrorCode::TooLarge,
            "config.toml is larger than 1 MiB",
        ));
    }
    let content = String::from_utf8(buf)
        .map_err(|_| HelperError::new(ErrorCode::IoError, "config.toml is not valid UTF-8"))?;
    Ok(json!({"path": path_string(&path), "exists": true, "content": content}))
}

/// `anchor.config.write {content}`: validates the TOML, then replaces the file atomically
/// (temp file in the same directory, fsync, rename), mode 0600.
pub fn write(ctx: &HelperContext, params: &Value) -> Result<Value, HelperError> {
    let content = req_str(params, "content")?;
    if content.len() as u64 > CONFIG_MAX_BYTES {
        return Err(HelperError::new(
            ErrorCode::TooLarge,
            "config is larger than 1 MiB",
        ));
    }
    if let Err(e) = content.parse::<toml::Table>() {
        return Err(HelperError::invalid_params(format!("invalid TOML: {e}")));
    }
    let dir = &ctx.codex_home;
    std::fs::create_dir_all(dir).map_err(|e| HelperError::io("create CODEX_HOME", &e))?;
    let path = dir.join("config.toml");
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(".config.toml.tmp-{}-{nanos}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(content.as_bytes())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, &path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok::<_, std::io::Error>(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(HelperError::io("write config", &e));
    }
    Ok(json!({"path": path_string(&path), "bytes": content.len()}))
}

#[cfg(test)]
mod tests {
    use super::super::handle;
    use super::super::test_support::ctx;
    use super::*;
    use orbit_protocol::ErrorCode;
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn read_write_roundtrip_and_validation() {
        let tmp = tempfile::tempdir().unwrap();
        let c = ctx(tmp.path());
        let v = handle(&c, "anchor.config.read", &Value::Null)
            .await
            .unwrap();
        assert_eq!(v["exists"], false);
        let text = "model = \"o3\"\n[features]\nweb_search = true\n";
        handle(&c, "anchor.config.write", &json!({"content": text}))
            .await
            .unwrap();
        let v = handle(&c, "anchor.config.read", &Value::Null)
            .await
            .unwrap();
        assert_eq!(v["exists"], true);
        assert_eq!(v["content"], text);
        let p = c.codex_home.join("config.toml");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // Invalid TOML is refused and the file is untouched.
        let e = handle(
            &c,
            "anchor.config.write",
            &json!({"content": "model = = broken"}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParams);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), text);
        let e = handle(&c, "anchor.config.write", &json!({}))
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParams);
        // No temp files left behind.
        let names: Vec<_> = std::fs::read_dir(&c.codex_home)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("config.toml")]);
    }
}

//! `anchor.listDirs`, `anchor.file.read`, `anchor.image.read`.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use base64::Engine as _;
use serde_json::{json, Value};

use super::{opt_str, opt_u64, path_string, req_str, HelperContext, HelperError};
use orbit_protocol::ErrorCode;

/// Default `maxBytes` for `anchor.file.read`.
pub const FILE_READ_DEFAULT_BYTES: u64 = 256 * 1024;
/// Hard cap for `anchor.file.read` (larger files are cut, with `truncated`).
pub const FILE_READ_MAX_BYTES: u64 = super::ANSWER_BUDGET_BYTES;
/// Hard cap for `anchor.image.read` (larger images are refused with `too_large`): base64 makes
/// 4 bytes of 3 and needs no escaping, so 704 KiB stays under Orbit's 1 MiB frame.
pub const IMAGE_MAX_BYTES: u64 = 704 * 1024;
/// Maximum entries returned by `anchor.listDirs`.
pub const LIST_DIRS_MAX_ENTRIES: usize = 1000;

/// `anchor.listDirs {path?}`: the sub-directories of a directory (default: the first root).
pub fn list_dirs(ctx: &HelperContext, params: &Value) -> Result<Value, HelperError> {
    let dir = match opt_str(params, "path")? {
        Some(p) => ctx.sandbox.resolve(p)?,
        None => ctx.sandbox.default_root().to_path_buf(),
    };
    let meta = std::fs::metadata(&dir).map_err(|e| HelperError::io("stat", &e))?;
    if !meta.is_dir() {
        return Err(HelperError::invalid_params("path is not a directory"));
    }
    let deny = ctx.sandbox.deny_rules();
    let mut entries = Vec::new();
    let mut truncated = false;
    let rd = std::fs::read_dir(&dir).map_err(|e| HelperError::io("read_dir", &e))?;
    for entry in rd {
        let Ok(entry) = entry else { continue };
        let Ok(ft) = entry.file_type() else { continue };
        let full = entry.path();
        let is_symlink = ft.is_symlink();
        let is_dir = if is_symlink {
            // Only list symlinked directories whose target stays inside the sandbox and is
            // not denied.
            match std::fs::canonicalize(&full) {
                Ok(t) => t.is_dir() && ctx.sandbox.is_allowed(&t) && deny.denied_by(&t).is_none(),
                Err(_) => false,
            }
        } else {
            // `dir` is canonical and this is no symlink: `full` is canonical too.
            ft.is_dir() && deny.denied_by(&full).is_none()
        };
        if !is_dir {
            continue;
        }
        if entries.len() >= LIST_DIRS_MAX_ENTRIES {
            truncated = true;
            break;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        entries.push(json!({
            "name": name,
            "path": path_string(&full),
            "hidden": name.starts_with('.'),
            "isSymlink": is_symlink,
            "isGitRepo": full.join(".git").exists(),
        }));
    }
    entries.sort_by(|a, b| {
        let an = a["name"].as_str().unwrap_or_default();
        let bn = b["name"].as_str().unwrap_or_default();
        an.to_lowercase().cmp(&bn.to_lowercase()).then(an.cmp(bn))
    });
    let parent = dir
        .parent()
        .filter(|p| ctx.sandbox.is_allowed(p))
        .map(path_string);
    let roots: Vec<String> = ctx.sandbox.roots().iter().map(|r| path_string(r)).collect();
    Ok(json!({
        "path": path_string(&dir),
        "parent": parent,
        "roots": roots,
        "entries": entries,
        "truncated": truncated,
    }))
}

/// Refuses what is not a regular file: a directory as bad parameters, anything else (FIFO,
/// socket, device) as `not_a_regular_file`.
fn require_regular(meta: &std::fs::Metadata) -> Result<(), HelperError> {
    let ft = meta.file_type();
    if ft.is_file() {
        return Ok(());
    }
    if ft.is_dir() {
        return Err(HelperError::invalid_params("path is a directory"));
    }
    let kind = if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() || ft.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    };
    Err(HelperError::new(
        ErrorCode::NotARegularFile,
        format!("path is {kind}: only regular files are read"),
    ))
}

/// Whether the last name of a path may be a symlink when it is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FinalSymlink {
    /// The path was resolved by the sandbox, so a symlink there now was swapped in since: refuse.
    Refuse,
    /// A fixed path of the anchor's own (codex's `config.toml`, often a dotfiles symlink).
    Follow,
}

/// Opens a regular file for reading without ever blocking in `open`.
///
/// Opening a FIFO for reading waits for a writer, and a device may do anything when opened: a
/// few such calls would hold every helper thread. So the type is checked before opening (a
/// special file is never opened), the open itself is non-blocking, and the type is checked
/// again on the handle that was opened (the path may have been swapped in between).
pub(super) fn open_regular(path: &Path, last: FinalSymlink) -> Result<(File, u64), HelperError> {
    let (before, flags) = match last {
        FinalSymlink::Refuse => (std::fs::symlink_metadata(path), nix::libc::O_NOFOLLOW),
        FinalSymlink::Follow => (std::fs::metadata(path), 0),
    };
    require_regular(&before.map_err(|e| HelperError::io("stat", &e))?)?;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY | flags)
        .open(path)
        .map_err(|e| HelperError::io("open", &e))?;
    let meta = file.metadata().map_err(|e| HelperError::io("stat", &e))?;
    require_regular(&meta)?;
    Ok((file, meta.len()))
}

fn read_up_to(file: File, limit: u64) -> Result<Vec<u8>, HelperError> {
    let mut buf = Vec::new();
    file.take(limit)
        .read_to_end(&mut buf)
        .map_err(|e| HelperError::io("read", &e))?;
    Ok(buf)
}

/// `anchor.file.read {path, maxBytes?}`: text as UTF-8, anything else as base64.
pub fn read_file(ctx: &HelperContext, params: &Value) -> Result<Value, HelperError> {
    let path = ctx.sandbox.resolve(req_str(params, "path")?)?;
    let max = opt_u64(params, "maxBytes")?
        .unwrap_or(FILE_READ_DEFAULT_BYTES)
        .clamp(1, FILE_READ_MAX_BYTES);
    let (file, size) = open_regular(&path, FinalSymlink::Refuse)?;
    let mut buf = read_up_to(file, max + 1)?;
    let truncated = buf.len() as u64 > max;
    buf.truncate(usize::try_from(max).unwrap_or(usize::MAX));
    let (encoding, content) = match std::str::from_utf8(&buf) {
        Ok(s) => ("utf8", s.to_owned()),
        // Cut in the middle of a multi-byte character: drop the partial character.
        Err(e) if truncated && e.error_len().is_none() => {
            let valid = e.valid_up_to();
            (
                "utf8",
                String::from_utf8_lossy(buf.get(..valid).unwrap_or_default()).into_owned(),
            )
        }
        Err(_) => (
            "base64",
            base64::engine::general_purpose::STANDARD.encode(&buf),
        ),
    };
    Ok(json!({
        "path": path_string(&path),
        "size": size,
        "encoding": encoding,
        "content": content,
        "truncated": truncated,
    }))
}

/// Image MIME type from magic bytes.
pub fn sniff_image_mime(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"\xff\xd8\xff") {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        Some("image/webp")
    } else if bytes.starts_with(b"BM") && bytes.len() >= 14 {
        Some("image/bmp")
    } else if bytes.starts_with(b"\x00\x00\x01\x00") {
        Some("image/x-icon")
    } else if bytes.len() >= 12
        && bytes.get(4..8) == Some(b"ftyp")
        && matches!(bytes.get(8..12), Some(b"avif") | Some(b"avis"))
    {
        Some("image/avif")
    } else {
        None
    }
}

/// `anchor.image.read {path}`: `{mime, data (base64), size}`; refuses non-images and huge files.
pub fn read_image(ctx: &HelperContext, params: &Value) -> Result<Value, HelperError> {
    let path = ctx.sandbox.resolve(req_str(params, "path")?)?;
    let (file, size) = open_regular(&path, FinalSymlink::Refuse)?;
    if size > IMAGE_MAX_BYTES {
        return Err(HelperError::new(
            ErrorCode::TooLarge,
            format!("image is {size} bytes; the limit is {IMAGE_MAX_BYTES}"),
        ));
    }
    let buf = read_up_to(file, IMAGE_MAX_BYTES + 1)?;
    if buf.len() as u64 > IMAGE_MAX_BYTES {
        return Err(HelperError::new(ErrorCode::TooLarge, "image too large"));
    }
    let mime = sniff_image_mime(&buf)
        .ok_or_else(|| HelperError::invalid_params("file is not a recognised image"))?;
    Ok(json!({
        "path": path_string(&path),
        "mime": mime,
        "size": buf.len(),
        "data": base64::engine::general_purpose::STANDARD.encode(&buf),
    }))
}

#[cfg(test)]
mod tests {
    use super::super::handle;
    use super::super::test_support::ctx;
    use super::*;
    use orbit_protocol::ErrorCode;

    #[tokio::test]
    async fn list_dirs_only_dirs_sorted_and_sandboxed() {
        let tmp = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(tmp.path()).unwrap();
        let root = base.join("home");
        std::fs::create_dir_all(root.join("b")).unwrap();
        std::fs::create_dir_all(root.join("A")).unwrap();
        std::fs::create_dir_all(root.join(".hidden")).unwrap();
        std::fs::create_dir_all(root.join("repo/.git")).unwrap();
        std::fs::write(root.join("file.txt"), "x").unwrap();
        std::fs::create_dir_all(base.join("outside")).unwrap();
        std::os::unix::fs::symlink(base.join("outside"), root.join("out-link")).unwrap();
        std::os::unix::fs::symlink(root.join("b"), root.join("in-link")).unwrap();
        let c = ctx(&root);
        let v = handle(&c, "anchor.listDirs", &Value::Null).await.unwrap();
        let names: Vec<&str> = v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, vec![".hidden", "A", "b", "in-link", "repo"]);
        assert_eq!(v["truncated"], false);
        assert_eq!(v["parent"], Value::Null);
        let repo = v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "repo")
            .unwrap();
        assert_eq!(repo["isGitRepo"], true);
        let v = handle(&c, "anchor.listDirs", &json!({"path": "repo"}))
            .await
            .unwrap();
        assert_eq!(v["parent"], path_string(&root));
        let e = handle(&c, "anchor.listDirs", &json!({"path": "out-link"}))
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::PathNotAllowed);
        let e = handle(&c, "anchor.listDirs", &json!({"path": "file.txt"}))
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParams);
        let e = handle(&c, "anchor.listDirs", &json!({"path": "missing"}))
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::NotFound);
    }

    #[tokio::test]
    async fn list_dirs_is_capped() {
        let tmp = tempfile::tempdir().unwrap();
        for i in 0..(LIST_DIRS_MAX_ENTRIES + 5) {
            std::fs::create_dir(tmp.path().join(format!("d{i}"))).unwrap();
        }
        let v = handle(&ctx(tmp.path()), "anchor.listDirs", &Value::Null)
            .await
            .unwrap();
        assert_eq!(
            v["entries"].as_array().unwrap().len(),
            LIST_DIRS_MAX_ENTRIES
        );
        assert_eq!(v["truncated"], true);
    }

    #[tokio::test]
    async fn file_read_text_binary_truncation() {
        let tmp = tempfile::tempdir().unwrap();
        let c = ctx(tmp.path());
        std::fs::write(tmp.path().join("t.txt"), "héllo wörld").unwrap();
        let v = handle(&c, "anchor.file.read", &json!({"path": "t.txt"}))
            .await
            .unwrap();
        assert_eq!(v["content"], "héllo wörld");
        assert_eq!(v["encoding"], "utf8");
        assert_eq!(v["truncated"], false);
        // Cut inside "é" (bytes 1..3): the partial character is dropped.
        let v = handle(
            &c,
            "anchor.file.read",
            &json!({"path": "t.txt", "maxBytes": 2}),
        )
        .await
        .unwrap();
        assert_eq!(v["content"], "h");
        assert_eq!(v["truncated"], true);
        assert_eq!(v["size"], 13);
        std::fs::write(tmp.path().join("b.bin"), [0xffu8, 0xfe, 0x00, 0x01]).unwrap();
        let v = handle(&c, "anchor.file.read", &json!({"path": "b.bin"}))
            .await
            .unwrap();
        assert_eq!(v["encoding"], "base64");
        assert_eq!(v["content"], "//4AAQ==");
        // maxBytes above the hard cap is clamped.
        let big = vec![b'a'; (FILE_READ_MAX_BYTES + 10) as usize];
        std::fs::write(tmp.path().join("big.txt"), big).unwrap();
        let v = handle(
            &c,
            "anchor.file.read",
            &json!({"path": "big.txt", "maxBytes": 10_000_000}),
        )
        .await
        .unwrap();
        assert_eq!(
            v["content"].as_str().unwrap().len() as u64,
            FILE_READ_MAX_BYTES
        );
        assert_eq!(v["truncated"], true);
        let e = handle(&c, "anchor.file.read", &json!({"path": "nope.txt"}))
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::NotFound);
        let e = handle(&c, "anchor.file.read", &json!({"path": "/etc/hostname"}))
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::PathNotAllowed);
        let e = handle(&c, "anchor.file.read", &json!({}))
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParams);
        let e = handle(&c, "anchor.file.read", &json!({"path": "."}))
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParams);
    }

    #[tokio::test]
    async fn image_read_sniffs_mime() {
        let tmp = tempfile::tempdir().unwrap();
        let c = ctx(tmp.path());
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        std::fs::write(tmp.path().join("pic.dat"), png).unwrap();
        let v = handle(&c, "anchor.image.read", &json!({"path": "pic.dat"}))
            .await
            .unwrap();
        assert_eq!(v["mime"], "image/png");
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(v["data"].as_str().unwrap())
                .unwrap(),
            png
        );
        std::fs::write(tmp.path().join("x.png"), "not an image").unwrap();
        let e = handle(&c, "anchor.image.read", &json!({"path": "x.png"}))
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParams);
        assert_eq!(sniff_image_mime(b"\xff\xd8\xff\xe0"), Some("image/jpeg"));
        assert_eq!(sniff_image_mime(b"GIF89a.."), Some("image/gif"));
        assert_eq!(
            sniff_image_mime(b"RIFF\0\0\0\0WEBPVP8 "),
            Some("image/webp")
        );
    }

    #[tokio::test]
    async fn listing_a_home_root_hides_the_credentials_and_secret_stores() {
        let tmp = tempfile::tempdir().unwrap();
        let home = std::fs::canonicalize(tmp.path()).unwrap();
        for d in [
            ".config/orbit-anchor",
            ".config/gcloud",
            ".config/nvim",
            ".codex",
            ".ssh",
            ".aws",
            ".gnupg",
            "proj",
            "elsewhere",
        ] {
            std::fs::create_dir_all(home.join(d)).unwrap();
        }
        std::os::unix::fs::symlink(home.join(".ssh"), home.join("keys")).unwrap();
        std::os::unix::fs::symlink(home.join("elsewhere"), home.join("fine")).unwrap();
        let c = super::super::test_support::home_ctx(&home);
        let names = |v: &Value| -> Vec<String> {
            v["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["name"].as_str().unwrap().to_owned())
                .collect()
        };
        let v = handle(&c, "anchor.listDirs", &Value::Null).await.unwrap();
        assert_eq!(names(&v), vec![".config", "elsewhere", "fine", "proj"]);
        let v = handle(&c, "anchor.listDirs", &json!({"path": ".config"}))
            .await
            .unwrap();
        assert_eq!(names(&v), vec!["nvim"]);
    }

    /// A FIFO (or socket, or device) is never opened: opening a FIFO for reading waits for a
    /// writer, and two such calls used to hold both helper threads. Each call answers
    /// `not_a_regular_file` within a deadline, from a thread of its own so a blocked open
    /// fails the test instead of hanging it.
    #[test]
    fn fifos_and_devices_are_refused_without_blocking() {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        super::super::test_support::mkfifo(&root.join("pipe"));
        std::os::unix::fs::symlink("/dev/zero", root.join("zero")).unwrap();
        std::os::unix::fs::symlink(root.join("pipe"), root.join("pipe-link")).unwrap();
        let mut c = ctx(&root);
        c.sandbox = crate::sandbox::Sandbox::new(vec![root.clone(), "/dev".into()]).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        for (method, path) in [
            ("anchor.file.read", "pipe"),
            ("anchor.file.read", "pipe-link"),
            ("anchor.image.read", "pipe"),
            ("anchor.file.read", "zero"),
            ("anchor.file.read", "/dev/zero"),
        ] {
            let (c, tx) = (c.clone(), tx.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                let r = rt.block_on(handle(&c, method, &json!({"path": path})));
                let _ = tx.send((method, path, r));
            });
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        for _ in 0..5 {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let (method, path, r) = rx.recv_timeout(left).expect("a helper call blocked");
            let e = r.unwrap_err();
            assert_eq!(e.code, ErrorCode::NotARegularFile, "{method} {path}: {e}");
        }
    }

    #[test]
    fn the_largest_answers_fit_in_one_orbit_frame() {
        let frame = orbit_protocol::limits::MAX_FRAME_BYTES as u64;
        // Base64 of the largest image plus an envelope of a few hundred bytes.
        assert!(IMAGE_MAX_BYTES.div_ceil(3) * 4 + 4096 <= frame);
        assert!(FILE_READ_MAX_BYTES * 2 <= frame);
    }
}

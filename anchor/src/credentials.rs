//! The anchor's saved credentials: `credentials.json` in the state directory, mode 0600,
//! written atomically (temporary file in the same directory, fsync, rename).
//!
//! Tokens are never printed: [`Credentials`]'s `Debug` redacts them.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use orbit_protocol::auth::AnchorCredentials;
use serde::{Deserialize, Serialize};

pub const CREDENTIALS_FILE: &str = "credentials.json";

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    pub orbit_url: String,
    pub anchor_id: String,
    pub access_token: String,
    /// Milliseconds since the epoch.
    pub access_expires_at: i64,
    pub refresh_token: String,
}

impl Credentials {
    /// The credentials to save from a grant of Orbit's, received at `now_ms` (ms since the
    /// epoch).
    pub fn from_grant(grant: AnchorCredentials, orbit_url: &str, now_ms: i64) -> Self {
        let lifetime_ms = i64::try_from(grant.expires_in.saturating_mul(1000)).unwrap_or(i64::MAX);
        Credentials {
            orbit_url: orbit_url.to_string(),
            anchor_id: grant.anchor_id,
            access_token: grant.access_token,
            access_expires_at: now_ms.saturating_add(lifetime_ms),
            refresh_token: grant.refresh_token,
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("orbit_url", &self.orbit_url)
            .field("anchor_id", &self.anchor_id)
            .field("access_token", &"<redacted>")
            .field("access_expires_at", &self.access_expires_at)
            .field("refresh_token", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error(
        "{} is readable by other users (mode {mode:04o}); refusing to use it. \
         Fix it with `chmod 600 {}` or run `anchor login` again",
        path.display(), path.display()
    )]
    InsecurePermissions { path: PathBuf, mode: u32 },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not valid credentials JSON: {source}", path.display())]
    Malformed {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Where the credentials live in `state_dir`.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(CREDENTIALS_FILE)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CredentialsError + '_ {
    move |source| CredentialsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates the state directory (mode 0700) if it is missing.
pub fn ensure_state_dir(state_dir: &Path) -> Result<(), CredentialsError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(state_dir)
        .map_err(io(state_dir))
}

/// Saves atomically with mode 0600.
pub fn save(state_dir: &Path, creds: &Credentials) -> Result<(), CredentialsError> {
    ensure_state_dir(state_dir)?;
    let target = path(state_dir);
    let tmp = state_dir.join(format!(".{CREDENTIALS_FILE}.{}.tmp", std::process::id()));
    let json = serde_json::to_vec_pretty(creds).map_err(|source| CredentialsError::Malformed {
        path: target.clone(),
        source,
    })?;
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        // The umask can only remove bits, but be explicit in case the file pre-existed oddly.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(&json)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, &target)?;
        if let Ok(dir) = std::fs::File::open(state_dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io(&target))
}

/// Loads the credentials; `Ok(None)` when there are none. Refuses a group/world-accessible file.
pub fn load(state_dir: &Path) -> Result<Option<Credentials>, CredentialsError> {
    let file = path(state_dir);
    let meta = match std::fs::metadata(&file) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&file)(e)),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CredentialsError::InsecurePermissions { path: file, mode });
    }
    let bytes = std::fs::read(&file).map_err(io(&file))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| CredentialsError::Malformed { path: file, source })
}

/// Deletes the credentials; answers whether there were any.
pub fn delete(state_dir: &Path) -> Result<bool, CredentialsError> {
    let file = path(state_dir);
    match std::fs::remove_file(&file) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io(&file)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Credentials {
        Credentials {
            orbit_url: "http://127.0.0.1:8787".into(),
            anchor_id: "anc_1".into(),
            access_token: "secret-access".into(),
            access_expires_at: 1_700_000_000_000,
            refresh_token: "ora_secret-refresh".into(),
        }
    }

    #[test]
    fn round_trip_with_mode_0600() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let state = dir.path().join("nested/state");
        assert_eq!(load(&state)?, None);
        save(&state, &sample())?;
        let mode = std::fs::metadata(path(&state))?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = std::fs::metadata(&state)?.permissions().mode() & 0o777;
        assert_eq!(dmode, 0o700);
        assert_eq!(load(&state)?, Some(sample()));
        // Overwrite (atomic rename over an existing file) and no temp file left behind.
        let mut next = sample();
        next.access_token = "rotated".into();
        save(&state, &next)?;
        assert_eq!(load(&state)?, Some(next));
        let names: Vec<_> = std::fs::read_dir(&state)?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(CREDENTIALS_FILE)]);
        Ok(())
    }

    #[test]
    fn json_uses_camel_case() -> Result<(), serde_json::Error> {
        let v = serde_json::to_value(sample())?;
        for k in [
            "orbitUrl",
            "anchorId",
            "accessToken",
            "accessExpiresAt",
            "refreshToken",
        ] {
            assert!(v.get(k).is_some(), "{k} missing in {v}");
        }
        Ok(())
    }

    #[test]
    fn refuses_group_or_world_readable_files() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        save(dir.path(), &sample())?;
        for mode in [0o640, 0o604, 0o660] {
            std::fs::set_permissions(path(dir.path()), std::fs::Permissions::from_mode(mode))?;
            let err = load(dir.path()).expect_err("insecure file accepted");
            assert!(
                matches!(err, CredentialsError::InsecurePermissions { .. }),
                "{err}"
            );
            let msg = err.to_string();
            assert!(
                msg.contains("chmod 600") && msg.contains(CREDENTIALS_FILE),
                "{msg}"
            );
        }
        Ok(())
    }

    #[test]
    fn malformed_file_is_a_clear_error() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        save(dir.path(), &sample())?;
        std::fs::write(path(dir.path()), "{not json")?;
        let err = load(dir.path()).expect_err("malformed accepted");
        assert!(
            err.to_string().contains("not valid credentials JSON"),
            "{err}"
        );
        Ok(())
    }

    #[test]
    fn delete_reports_whether_there_was_anything() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        assert!(!delete(dir.path())?);
        save(dir.path(), &sample())?;
        assert!(delete(dir.path())?);
        assert_eq!(load(dir.path())?, None);
        Ok(())
    }

    #[test]
    fn debug_never_shows_tokens() {
        let s = format!("{:?}", sample());
        assert!(!s.contains("secret"), "{s}");
        assert!(s.contains("anc_1"));
    }
}

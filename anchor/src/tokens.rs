//! The anchor's access token, kept fresh.
//!
//! Access tokens live 15 minutes; the anchor trades its refresh token for a new pair at
//! `POST /auth/device/refresh` a little before expiry (a quarter of the remaining life, at most a
//! minute early), whether or not it is connected, so a reconnection never starts with a dead
//! token. Refresh tokens are single use: the new pair is written to disk (0600) as soon as it
//! arrives. Two windows remain in which a crash or failure loses it (the answer lost on the way,
//! or the disk refusing the write); the next start then presents a spent token, which Orbit
//! treats as reuse, and the anchor must be paired again. A failed write is reported loudly and
//! the new pair kept in memory, so the running anchor carries on.

use std::path::PathBuf;

use crate::connection::refresh_due_ms;

use crate::credentials::{self, Credentials, CredentialsError};
use crate::login::{DeviceApi, LoginError};

/// Why a refresh did not give a new token.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Orbit refused the refresh token: revoked, expired or reused. Only `anchor login` helps.
    #[error("{0}; run `anchor login` to pair this machine again")]
    Refused(LoginError),
    /// Orbit unreachable, rate-limiting, or answering oddly: try again later.
    #[error("{source}")]
    Transient {
        source: LoginError,
        retry_after_ms: u64,
    },
    /// The new pair is in use but could not be saved; the refresh token on disk is already
    /// spent, so a restart before the next successful save would need `anchor login`.
    #[error("saving the refreshed credentials failed (they are kept in memory): {0}")]
    Save(#[from] CredentialsError),
}

impl RefreshError {
    /// Whether the anchor can carry on (and retry) after this.
    pub fn is_fatal(&self) -> bool {
        matches!(self, RefreshError::Refused(_))
    }
}

/// The credentials in memory and on disk, and the schedule of their refresh.
#[derive(Debug)]
pub struct TokenKeeper {
    api: DeviceApi,
    state_dir: PathBuf,
    creds: Credentials,
    due_ms: i64,
    refreshes: u64,
}

impl TokenKeeper {
    pub fn new(api: DeviceApi, state_dir: PathBuf, creds: Credentials, now_ms: i64) -> Self {
        let due_ms = refresh_due_ms(now_ms, creds.access_expires_at);
        TokenKeeper {
            api,
            state_dir,
            creds,
            due_ms,
            refreshes: 0,
        }
    }

    pub fn anchor_id(&self) -> &str {
        &self.creds.anchor_id
    }

    pub fn access_token(&self) -> &str {
        &self.creds.access_token
    }

    /// Milliseconds since the epoch at which [`TokenKeeper::refresh`] should run.
    pub fn due_ms(&self) -> i64 {
        self.due_ms
    }

    /// How many refreshes succeeded since start.
    pub fn refreshes(&self) -> u64 {
        self.refreshes
    }

    pub fn is_due(&self, now_ms: i64) -> bool {
        now_ms >= self.due_ms
    }

    /// Trades the refresh token for a new pair and saves it. On a transient failure the next
    /// attempt is scheduled (`retry_after_ms` from now).
    pub async fn refresh(&mut self, now_ms: impl Fn() -> i64) -> Result<(), RefreshError> {
        let grant = match self.api.refresh(&self.creds.refresh_token).await {
            Ok(grant) => grant,
            Err(e @ LoginError::TokenRefused { .. }) => return Err(RefreshError::Refused(e)),
            Err(e) => {
                let retry_after_ms = match &e {
                    LoginError::RateLimited { retry_after_s } => retry_after_s.saturating_mul(1000),
                    _ => 5_000,
                };
                self.due_ms = now_ms().saturating_add(i64::try_from(retry_after_ms).unwrap_or(0));
                return Err(RefreshError::Transient {
                    source: e,
                    retry_after_ms,
                });
            }
        };
        let now = now_ms();
        let creds = Credentials::from_grant(grant, &self.creds.orbit_url, now);
        self.due_ms = refresh_due_ms(now, creds.access_expires_at);
        // The old pair is spent: the new one is used whether or not it reaches the disk.
        let saved = credentials::save(&self.state_dir, &creds);
        self.creds = creds;
        self.refreshes += 1;
        saved.map_err(RefreshError::Save)
    }
}

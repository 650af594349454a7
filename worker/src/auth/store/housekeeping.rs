//! Deleting rows nobody needs any more: refresh tokens past their expiry (a spent token is kept
//! until then, for reuse detection), idle rate-limit state, expired enrolments, device grants an
//! hour past expiry (so late polls still get `expired_token`) and old security events. Passkey
//! challenges are deleted when new ones are issued ([`super::challenges::issue`]).

use super::{int, Store, StoreResult};

/// How long security events are kept (90 days).
pub const EVENT_RETENTION_MS: u64 = 90 * 24 * 60 * 60 * 1000;

/// How long expired device grants are kept, so late polls still get `expired_token` (1 hour).
pub const GRANT_RETENTION_MS: u64 = 60 * 60 * 1000;

/// A few indexed `DELETE`s in one batch.
pub async fn sweep(store: &Store) -> StoreResult<()> {
    let now = store.now_ms;
    let statements = [
        ("DELETE FROM refresh_tokens WHERE expires_at <= ?1", now),
        ("DELETE FROM rate_limits WHERE tat_ms <= ?1", now),
        ("DELETE FROM totp_enrollments WHERE expires_at <= ?1", now),
        (
            "DELETE FROM device_grants WHERE expires_at <= ?1",
            now.saturating_sub(GRANT_RETENTION_MS),
        ),
        (
            "DELETE FROM security_events WHERE at <= ?1",
            now.saturating_sub(EVENT_RETENTION_MS),
        ),
    ];
    let prepared = statements
        .into_iter()
        .map(|(sql, before)| store.db.prepare(sql).bind(&[int(before)]))
        .collect::<Result<Vec<_>, _>>()?;
    store.db.batch(prepared).await?;
    Ok(())
}

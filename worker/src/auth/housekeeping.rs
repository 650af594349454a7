//! Deleting rows nobody needs any more, now and then, on the back of ordinary requests (the
//! Worker has no cron trigger): refresh tokens past their expiry (a spent token is kept until
//! then, for reuse detection), grants and enrolments long expired, idle rate-limit state, and
//! security events older than [`EVENT_RETENTION_MS`].
//!
//! Each sweep is a few indexed `DELETE`s in one batch, run after the answer of one request in
//! [`SWEEP_ONE_IN`]; a failure is logged and never fails the request.

use worker::Env;

use super::{int, Ctx};

/// One request in this many sweeps.
pub const SWEEP_ONE_IN: u8 = 64;

/// How long security events are kept (90 days).
pub const EVENT_RETENTION_MS: u64 = 90 * 24 * 60 * 60 * 1000;

/// How long expired device grants are kept, so late polls still get `expired_token` (1 hour).
pub const GRANT_RETENTION_MS: u64 = 60 * 60 * 1000;

/// Sweeps, after the answer, with probability 1 / [`SWEEP_ONE_IN`].
pub fn maybe_sweep(ctx: &Ctx<'_>) {
    let Ok([roll]) = crate::http::random_bytes::<1>() else {
        return;
    };
    if roll % SWEEP_ONE_IN == 0 {
        let now = ctx.now_ms;
        ctx.background(move |env| sweep(env, now));
    }
}

async fn sweep(env: Env, now: u64) {
    let db = match env.d1("DB") {
        Ok(db) => db,
        Err(e) => {
            worker::console_error!("housekeeping: {e}");
            return;
        }
    };
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
    let mut prepared = Vec::with_capacity(statements.len());
    for (sql, before) in statements {
        match db.prepare(sql).bind(&[int(before)]) {
            Ok(statement) => prepared.push(statement),
            Err(e) => {
                worker::console_error!("housekeeping: {e}");
                return;
            }
        }
    }
    if let Err(e) = db.batch(prepared).await {
        worker::console_error!("housekeeping failed: {e}");
    }
}

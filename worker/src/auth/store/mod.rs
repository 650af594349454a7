//! The accounts database (D1, `migrations/`): every query of `/auth/*`, one module per group of
//! tables, and nothing else — no HTTP, no configuration, no clock but the request's instant
//! carried by [`Store`], no randomness (ids and secrets are drawn above and passed in).
//!
//! Failures are typed: [`StoreError`] when D1 or a stored row lets us down, and a
//! module's own `thiserror` enum when a write is refused by the state it found (an account name
//! taken meanwhile, a passkey registered twice).
//!
//! * [`accounts`] — `users`, `invites`: names, the sign-up rule, the ways in.
//! * [`sessions`] — `sessions`, `refresh_tokens`: creating, rotating, listing, revoking.
//! * [`anchors`] — `anchors`: the user's paired machines.
//! * [`device`] — `device_grants`: the device-code flow.
//! * [`totp`] — `totp`, `totp_enrollments`.
//! * [`challenges`] — `passkey_challenges`: single-use WebAuthn challenges.
//! * [`passkeys`] — `passkeys`, and the batches that take a challenge with a lookup.
//! * [`events`] — `security_events`.
//! * [`rate_limits`] — `rate_limits`: GCRA state.
//! * [`housekeeping`] — deleting expired rows.
//!
//! Arrows inside the layer point to [`accounts`] and [`sessions`] (account creation and sign-in
//! are batches that also write a credential) and to [`challenges`] from [`passkeys`]; nothing here
//! knows the modules above it.

pub mod accounts;
pub mod anchors;
pub mod challenges;
pub mod device;
pub mod events;
pub mod housekeeping;
pub mod passkeys;
pub mod rate_limits;
pub mod sessions;
pub mod totp;

use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1Result};

/// Why a query failed: never the client's fault.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("D1: {0}")]
    D1(#[from] worker::Error),
    #[error("a stored value does not serialise: {0}")]
    Json(#[from] serde_json::Error),
    /// A row that breaks an invariant of the schema or of how Orbit writes it.
    #[error("corrupt row: {0}")]
    Corrupt(&'static str),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The accounts database as one request sees it: the D1 binding and the request's instant (ms),
/// against which expiries are compared and which timestamps are written.
pub struct Store {
    db: D1Database,
    now_ms: u64,
}

impl Store {
    pub fn new(db: D1Database, now_ms: u64) -> Self {
        Store { db, now_ms }
    }

    /// The instant the store's queries are made at (ms since the epoch).
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// The binding itself, for the session check shared with the upgrade gate
    /// ([`crate::upgrade::authenticate`], over [`crate::db`]).
    pub fn d1(&self) -> &D1Database {
        &self.db
    }
}

/// A D1 text argument.
fn text(s: &str) -> JsValue {
    JsValue::from_str(s)
}

/// A D1 integer argument (ms and s timestamps, counters: far below 2^53).
fn int(n: u64) -> JsValue {
    JsValue::from_f64(n as f64)
}

/// A nullable D1 integer argument.
fn opt_int(n: Option<u64>) -> JsValue {
    n.map_or(JsValue::NULL, int)
}

/// A nullable D1 text argument.
fn opt_text(s: Option<&str>) -> JsValue {
    s.map_or(JsValue::NULL, JsValue::from_str)
}

/// Whether a statement with `RETURNING` returned a row: the way every conditional write here
/// says it took effect.
fn returned(result: Option<&D1Result>) -> bool {
    result.is_some_and(|r| {
        r.results::<serde_json::Value>()
            .is_ok_and(|rows| !rows.is_empty())
    })
}

/// The first row of a batch member's result, if any.
fn first_row<T: DeserializeOwned>(result: Option<&D1Result>) -> StoreResult<Option<T>> {
    Ok(match result {
        Some(result) => result.results::<T>()?.into_iter().next(),
        None => None,
    })
}

/// Every row of a batch member's result.
fn all_rows<T: DeserializeOwned>(result: Option<&D1Result>) -> StoreResult<Vec<T>> {
    Ok(match result {
        Some(result) => result.results::<T>()?,
        None => Vec::new(),
    })
}

//! `rate_limits`: one GCRA state (`tat_ms`) per key `action:scope:id`
//! (`orbit_shared::auth::rate_limit`). Writes are conditional on the value read, so concurrent
//! requests cannot both spend one slot.

use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::D1PreparedStatement;

use super::{int, returned, text, Store, StoreResult};

#[derive(Deserialize)]
struct Row {
    key: String,
    tat_ms: u64,
}

/// The stored `tat_ms` of each key (`None` for a key without a row).
pub async fn read(store: &Store, keys: &[&str]) -> StoreResult<Vec<Option<u64>>> {
    let placeholders: Vec<String> = (1..=keys.len()).map(|i| format!("?{i}")).collect();
    let args: Vec<JsValue> = keys.iter().map(|k| text(k)).collect();
    let rows = store
        .db
        .prepare(format!(
            "SELECT key, tat_ms FROM rate_limits WHERE key IN ({})",
            placeholders.join(", ")
        ))
        .bind(&args)?
        .all()
        .await?
        .results::<Row>()?;
    Ok(keys
        .iter()
        .map(|k| rows.iter().find(|r| r.key == *k).map(|r| r.tat_ms))
        .collect())
}

/// A new state for `key`, replacing `old` (`None`: the key had no row).
pub struct Write<'a> {
    pub key: &'a str,
    pub old: Option<u64>,
    pub new: u64,
}

/// Writes every new state in one batch; true only if each write found the state it replaces
/// (else a concurrent request got in between and the caller reads again).
pub async fn write_all(store: &Store, writes: &[Write<'_>]) -> StoreResult<bool> {
    let statements = writes
        .iter()
        .map(|w| conditional_write(store, w))
        .collect::<StoreResult<Vec<_>>>()?;
    let results = store.db.batch(statements).await?;
    Ok(results.len() == writes.len() && results.iter().all(|r| returned(Some(r))))
}

/// The conditional write of a new state; it returns a row only if it took effect.
fn conditional_write(store: &Store, w: &Write<'_>) -> StoreResult<D1PreparedStatement> {
    Ok(match w.old {
        Some(old) => store
            .db
            .prepare(
                "UPDATE rate_limits SET tat_ms = ?2 WHERE key = ?1 AND tat_ms = ?3 RETURNING key",
            )
            .bind(&[text(w.key), int(w.new), int(old)])?,
        None => store
            .db
            .prepare(
                "INSERT INTO rate_limits (key, tat_ms) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO NOTHING RETURNING key",
            )
            .bind(&[text(w.key), int(w.new)])?,
    })
}

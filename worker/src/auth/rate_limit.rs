//! Enforces `orbit_shared::auth::rate_limit`'s policy with its state in D1 (`rate_limits`).
//!
//! One request checks the client address's key and, when the account is known, the account's
//! key; it is allowed only if both allow, and only then are both states written back (a refused
//! request does not use up either). The write is conditional on the state read (`WHERE tat_ms =
//! old`, or an insert that fails if a row appeared), so concurrent requests cannot both spend the
//! same slot: the loser reads again (if only one of its two writes lost, the other slot stays
//! spent: stricter, never looser). That matters precisely when someone fires many guesses in
//! parallel.

use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::D1PreparedStatement;

use orbit_shared::auth::rate_limit::{
    key, Action, Limit, RateDecision, RateLimited, RateState, Scope,
};

use super::error::AuthResult;
use super::events::{self, Event, Kind};
use super::{int, text, Ctx};

/// How many times a check is retried after losing a race before it gives up (limited).
const ATTEMPTS: usize = 4;

#[derive(Deserialize)]
struct Row {
    key: String,
    tat_ms: u64,
}

/// Counts one attempt at `action` by this client (and, if known, by `account`), or refuses it
/// with 429 `rate_limited` and `Retry-After`. `account` is the user id, or for sign-in before the
/// account is known the account name it asks for.
pub async fn enforce(ctx: &Ctx<'_>, action: Action, account: Option<&str>) -> AuthResult<()> {
    let policy = ctx.config.rate_limits.action(action);
    let mut keys: Vec<(String, Limit)> = Vec::with_capacity(2);
    if let Some(limit) = policy.per_address {
        keys.push((key(action, Scope::Address, &ctx.address), limit));
    }
    if let (Some(limit), Some(account)) = (policy.per_account, account) {
        keys.push((key(action, Scope::Account, account), limit));
    }
    if keys.is_empty() {
        return Ok(());
    }
    for _ in 0..ATTEMPTS {
        let states = read(ctx, &keys).await?;
        let mut decision = RateDecision::Allowed;
        let mut writes = Vec::with_capacity(keys.len());
        for ((k, limit), old) in keys.iter().zip(&states) {
            let (d, new) = limit.check(
                RateState {
                    tat_ms: old.unwrap_or(0),
                },
                ctx.now_ms,
            );
            decision = decision.and(d);
            writes.push(write(ctx, k, *old, new.tat_ms)?);
        }
        if let Some(limited) = decision.error() {
            events::record(
                ctx,
                Kind::RateLimited,
                Event {
                    detail: Some(action.as_str()),
                    ..Event::default()
                },
            );
            return Err(limited.into());
        }
        let results = ctx.db.batch(writes).await?;
        let all_written = results.iter().all(|r| {
            r.results::<serde_json::Value>()
                .is_ok_and(|rows| !rows.is_empty())
        });
        if all_written {
            return Ok(());
        }
    }
    // Lost every race: someone is hammering this key right now.
    Err(RateLimited { retry_after_s: 1 }.into())
}

/// The stored `tat_ms` of each key (`None` for a key without a row).
async fn read(ctx: &Ctx<'_>, keys: &[(String, Limit)]) -> AuthResult<Vec<Option<u64>>> {
    let placeholders: Vec<String> = (1..=keys.len()).map(|i| format!("?{i}")).collect();
    let args: Vec<JsValue> = keys.iter().map(|(k, _)| text(k)).collect();
    let rows = ctx
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
        .map(|(k, _)| rows.iter().find(|r| &r.key == k).map(|r| r.tat_ms))
        .collect())
}

/// The conditional write of a new state; it returns a row only if it took effect.
fn write(ctx: &Ctx<'_>, k: &str, old: Option<u64>, new: u64) -> AuthResult<D1PreparedStatement> {
    Ok(match old {
        Some(old) => ctx
            .db
            .prepare(
                "UPDATE rate_limits SET tat_ms = ?2 WHERE key = ?1 AND tat_ms = ?3 RETURNING key",
            )
            .bind(&[text(k), int(new), int(old)])?,
        None => ctx
            .db
            .prepare(
                "INSERT INTO rate_limits (key, tat_ms) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO NOTHING RETURNING key",
            )
            .bind(&[text(k), int(new)])?,
    })
}

//! Enforces `orbit_shared::auth::rate_limit`'s policy with its state in D1
//! ([`crate::auth::store::rate_limits`]).
//!
//! One request checks the client address's key and, when the account is known, the account's
//! key; it is allowed only if both allow, and only then are both states written back (a refused
//! request does not use up either). The write is conditional on the state read, so concurrent
//! requests cannot both spend the same slot: the loser reads again (if only one of its two
//! writes lost, the other slot stays spent: stricter, never looser). That matters precisely
//! when someone fires many guesses in parallel.

use orbit_protocol::auth::SecurityEventKind;
use orbit_shared::auth::rate_limit::{
    key, Action, Limit, RateDecision, RateLimited, RateState, Scope,
};

use super::audit::{self, Event};
use crate::auth::ctx::Ctx;
use crate::auth::error::AuthResult;
use crate::auth::store::rate_limits::{read, write_all, Write};

/// How many times a check is retried after losing a race before it gives up (limited).
const ATTEMPTS: usize = 4;

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
    let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    for _ in 0..ATTEMPTS {
        let states = read(&ctx.store, &names).await?;
        let mut decision = RateDecision::Allowed;
        let mut writes = Vec::with_capacity(keys.len());
        for ((k, limit), old) in keys.iter().zip(states) {
            let (d, new) = limit.check(
                RateState {
                    tat_ms: old.unwrap_or(0),
                },
                ctx.now_ms,
            );
            decision = decision.and(d);
            writes.push(Write {
                key: k,
                old,
                new: new.tat_ms,
            });
        }
        if let Some(limited) = decision.error() {
            audit::record(
                ctx,
                SecurityEventKind::RateLimited,
                Event {
                    detail: Some(action.as_str()),
                    ..Event::default()
                },
            );
            return Err(limited.into());
        }
        if write_all(&ctx.store, &writes).await? {
            return Ok(());
        }
    }
    // Lost every race: someone is hammering this key right now.
    Err(RateLimited { retry_after_s: 1 }.into())
}

//! Enforces `orbit_shared::auth::rate_limit`'s policy with its state in D1
//! ([`crate::auth::store::rate_limits`]).
//!
//! One request checks the client address's key and, when the account is known, the account's
//! key; it is allowed only if both allow, and only then are both states written back (a refused
//! request does not use up either). The write is conditional on the state read, so concurrent
//! requests cannot both spend the same slot: the loser reads again (if only one of its two
//! writes lost, the other slot stays spent: stricter, never looser). That matters precisely
//! when someone fires many guesses in parallel.

use orbit_shared::auth::rate_limit::{
    key, Action, Limit, Policy, RateDecision, RateLimited, RateState, Scope,
};

use super::audit;
use crate::auth::ctx::Ctx;
use crate::auth::error::AuthResult;
use crate::auth::store::rate_limits::{read, write_all, Write};
use crate::auth::store::{Store, StoreResult};

/// How many times a check is retried after losing a race before it gives up (limited).
const ATTEMPTS: usize = 4;

/// Counts one attempt at `action` by this client (and, if known, by `account`), or refuses it
/// with 429 `rate_limited` and `Retry-After`. `account` is the user id, or for sign-in before the
/// account is known the account name it asks for.
pub async fn enforce(ctx: &Ctx<'_>, action: Action, account: Option<&str>) -> AuthResult<()> {
    let keys = keys(&ctx.config.rate_limits, action, Some(&ctx.address), account);
    match spend(&ctx.store, &keys).await? {
        Ok(()) => Ok(()),
        Err(limited) => {
            audit::refused(ctx, action);
            Err(limited.into())
        }
    }
}

/// The keys of `action` for this address and account, with their limits (none configured:
/// nothing to count).
pub fn keys(
    policy: &Policy,
    action: Action,
    address: Option<&str>,
    account: Option<&str>,
) -> Vec<(String, Limit)> {
    let policy = policy.action(action);
    let mut keys = Vec::with_capacity(2);
    if let (Some(limit), Some(address)) = (policy.per_address, address) {
        keys.push((key(action, Scope::Address, address), limit));
    }
    if let (Some(limit), Some(account)) = (policy.per_account, account) {
        keys.push((key(action, Scope::Account, account), limit));
    }
    keys
}

/// Spends one slot of each key at the store's instant, or none if any key is out of them.
pub async fn spend(
    store: &Store,
    keys: &[(String, Limit)],
) -> StoreResult<Result<(), RateLimited>> {
    if keys.is_empty() {
        return Ok(Ok(()));
    }
    let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    for _ in 0..ATTEMPTS {
        let states = read(store, &names).await?;
        let mut decision = RateDecision::Allowed;
        let mut writes = Vec::with_capacity(keys.len());
        for ((k, limit), old) in keys.iter().zip(states) {
            let (d, new) = limit.check(
                RateState {
                    tat_ms: old.unwrap_or(0),
                },
                store.now_ms(),
            );
            decision = decision.and(d);
            writes.push(Write {
                key: k,
                old,
                new: new.tat_ms,
            });
        }
        if let Some(limited) = decision.error() {
            return Ok(Err(limited));
        }
        if write_all(store, &writes).await? {
            return Ok(Ok(()));
        }
    }
    // Lost every race: someone is hammering this key right now.
    Ok(Err(RateLimited { retry_after_s: 1 }))
}

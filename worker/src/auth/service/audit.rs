//! Security events (SPEC §2 "Abuse"): sign-ins and their failures, account creation, token
//! reuse, revocations, pairing. Each is one JSON log line (`console_log`, so it reaches
//! `wrangler tail` / Workers Logs) and a row in `security_events`, written after the answer,
//! which the user can read back (`GET /auth/security-events`).
//!
//! What an event may hold is fixed by [`Event`]'s fields: ids, the client address, an account
//! name and a short reason. Never a token, code, secret or invite: the type has no place for one.

use serde::Serialize;

use orbit_protocol::auth::SecurityEventKind;
use orbit_shared::auth::rate_limit::Action;

use super::limits;
use crate::auth::ctx::Ctx;
use crate::auth::store::events::{insert, EventRow};
use crate::auth::store::Store;

/// The facts of one event. `detail` is a short fixed reason (an error code, a method name, an
/// account name), never user-supplied secret material.
#[derive(Debug, Clone, Default)]
pub struct Event<'a> {
    pub user_id: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub anchor_id: Option<&'a str>,
    pub detail: Option<&'a str>,
}

/// The log line of an event.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogLine<'a> {
    security: &'static str,
    at: u64,
    user_id: Option<&'a str>,
    session_id: Option<&'a str>,
    anchor_id: Option<&'a str>,
    address: &'a str,
    detail: Option<&'a str>,
}

/// Logs `kind` now and stores it after the answer. A failure to store is logged and otherwise
/// ignored: an event must never turn a sign-in or a revocation into an error.
pub fn record(ctx: &Ctx<'_>, kind: SecurityEventKind, event: Event<'_>) {
    store_after(ctx, kind, event, false);
}

/// Records a request refused by the rate limit on `action`. The log line is always written;
/// the row only within the refusal-event limit of the address, so a flood of refused requests
/// cannot grow `security_events` without bound.
pub fn refused(ctx: &Ctx<'_>, action: Action) {
    store_after(
        ctx,
        SecurityEventKind::RateLimited,
        Event {
            detail: Some(action.as_str()),
            ..Event::default()
        },
        true,
    );
}

fn store_after(ctx: &Ctx<'_>, kind: SecurityEventKind, event: Event<'_>, throttled: bool) {
    let line = LogLine {
        security: kind.as_str(),
        at: ctx.now_ms,
        user_id: event.user_id,
        session_id: event.session_id,
        anchor_id: event.anchor_id,
        address: &ctx.address,
        detail: event.detail,
    };
    match serde_json::to_string(&line) {
        Ok(line) => worker::console_log!("{line}"),
        Err(e) => worker::console_error!("a security event does not serialise: {e}"),
    }
    let row = EventRow {
        at: ctx.now_ms,
        kind,
        user_id: event.user_id.map(str::to_string),
        session_id: event.session_id.map(str::to_string),
        anchor_id: event.anchor_id.map(str::to_string),
        address: ctx.address.clone(),
        detail: event.detail.map(str::to_string),
    };
    let now = ctx.now_ms;
    let throttle = if throttled {
        limits::keys(
            &ctx.config.rate_limits,
            Action::RefusalEvent,
            Some(&ctx.address),
            None,
        )
    } else {
        Vec::new()
    };
    ctx.background(move |env| async move {
        let stored = async {
            let store = Store::new(env.d1("DB")?, now);
            if limits::spend(&store, &throttle).await?.is_err() {
                return Ok(());
            }
            insert(&store, &row).await
        };
        if let Err(e) = stored.await {
            worker::console_error!("storing a security event failed: {e}");
        }
    });
}

/// A failed sign-in or sign-up step; `detail` says which step and why (an error code).
pub fn sign_in_failure(ctx: &Ctx<'_>, user_id: Option<&str>, detail: &str) {
    record(
        ctx,
        SecurityEventKind::SignInFailure,
        Event {
            user_id,
            detail: Some(detail),
            ..Event::default()
        },
    );
}

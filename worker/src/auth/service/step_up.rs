//! Step-up (docs/auth.md, Step-up): the check every sensitive change makes before it acts, and
//! the record of a successful proof. The decision is `orbit_shared::auth::step_up`'s; the proof's
//! instant is the session row's `verified_at`, read by the same query that authenticated the
//! caller ([`crate::upgrade::authenticate`]), so the check costs no round trip when it passes.

use orbit_protocol::auth::SecurityEventKind;
use orbit_shared::auth::rate_limit::Action;
use orbit_shared::auth::step_up::{freshness, methods, Freshness};

use crate::auth::ctx::Ctx;
use crate::auth::error::{ApiError, AuthResult};
use crate::auth::service::audit::{self, Event};
use crate::auth::service::caller::WebUser;
use crate::auth::service::limits::enforce;
use crate::auth::store::accounts;

/// What a sensitive change is, for the refusal's event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    AddPasskey,
    RemovePasskey,
    EnableTotp,
    CreateInvite,
    ApproveDevice,
}

impl Change {
    fn as_str(self) -> &'static str {
        match self {
            Change::AddPasskey => "add_passkey",
            Change::RemovePasskey => "remove_passkey",
            Change::EnableTotp => "enable_totp",
            Change::CreateInvite => "create_invite",
            Change::ApproveDevice => "approve_device",
        }
    }
}

/// Passes when `me`'s session proved a way in within the window; otherwise 403
/// `step_up_required` naming the ways this account can step up with (and a security event: a
/// stolen token trying a sensitive change is worth seeing). Refusals are themselves limited per
/// account (`step_up_refusal`): past the limit the answer is 429, and the rows a stolen token
/// can write by retrying stay bounded.
pub async fn require_fresh(ctx: &Ctx<'_>, me: &WebUser, change: Change) -> AuthResult<()> {
    let window = ctx.config.step_up_window_s;
    if let Freshness::Fresh { .. } = freshness(ctx.now_ms, me.verified_at, window) {
        return Ok(());
    }
    enforce(ctx, Action::StepUpRefusal, Some(&me.user_id)).await?;
    let ways = accounts::ways_in(&ctx.store, &me.user_id).await?;
    audit::record(
        ctx,
        SecurityEventKind::StepUpRequired,
        Event {
            user_id: Some(&me.user_id),
            session_id: Some(&me.session_id),
            detail: Some(change.as_str()),
            ..Event::default()
        },
    );
    Err(ApiError::step_up(
        format!(
            "confirm it's you: this change needs a sign-in within the last {}; \
             prove a way in again (a passkey or a TOTP code), then retry",
            minutes(window)
        ),
        methods(ways),
    )
    .into())
}

/// Records a successful step-up of `me`'s session by `method` (`passkey` or `totp`).
pub fn stepped_up(ctx: &Ctx<'_>, me: &WebUser, method: &str) {
    audit::record(
        ctx,
        SecurityEventKind::SteppedUp,
        Event {
            user_id: Some(&me.user_id),
            session_id: Some(&me.session_id),
            detail: Some(method),
            ..Event::default()
        },
    );
}

/// A window in words: `5 minutes`, `1 minute`, `3 seconds`.
fn minutes(window_s: u64) -> String {
    match window_s {
        60 => "minute".to_string(),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        1 => "second".to_string(),
        s => format!("{s} seconds"),
    }
}

#[cfg(test)]
mod tests {
    use super::minutes;

    #[test]
    fn windows_read_as_words() {
        assert_eq!(minutes(300), "5 minutes");
        assert_eq!(minutes(60), "minute");
        assert_eq!(minutes(3), "3 seconds");
        assert_eq!(minutes(1), "second");
    }
}

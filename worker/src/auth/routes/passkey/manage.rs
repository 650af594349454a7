//! `GET /auth/passkeys` and `DELETE /auth/passkeys/{id}`: the signed-in user's passkeys. Listed
//! and removed by the caller's user id only; another user's passkey is "not found".

use worker::Response;

use orbit_protocol::auth::{PasskeyList, PasskeyRemoved, SecurityEventKind};

use super::decide;
use crate::auth::ctx::Ctx;
use crate::auth::error::AuthResult;
use crate::auth::routes::answer;
use crate::auth::service::audit::{self, Event};
use crate::auth::service::caller::require_web;
use crate::auth::service::step_up::{require_fresh, Change};
use crate::auth::store::{accounts, passkeys};

/// `GET /auth/passkeys`: the caller's passkeys, oldest first.
pub async fn list(ctx: &Ctx<'_>) -> AuthResult<Response> {
    let me = require_web(ctx).await?;
    let passkeys = passkeys::list(&ctx.store, &me.user_id).await?;
    answer(200, &PasskeyList { passkeys })
}

/// `DELETE /auth/passkeys/{id}`: removes one of the caller's passkeys, unless it is the
/// account's last way to sign in (409 `last_sign_in_method`).
pub async fn remove(ctx: &Ctx<'_>, passkey_id: &str) -> AuthResult<Response> {
    let me = require_web(ctx).await?;
    // Removing a way in locks the owner out of it; a stolen access token may not.
    require_fresh(ctx, &me, Change::RemovePasskey).await?;
    let mine = passkeys::is_mine(&ctx.store, passkey_id, &me.user_id).await?;
    decide::ensure_owned(mine)?;
    decide::ensure_not_last(accounts::ways_in(&ctx.store, &me.user_id).await?)?;
    // The same rule inside the delete, so two removals racing for the last two ways in cannot
    // both succeed.
    if !passkeys::remove_unless_last(&ctx.store, passkey_id, &me.user_id).await? {
        return Err(decide::last_way_in().into());
    }
    audit::record(
        ctx,
        SecurityEventKind::PasskeyRemoved,
        Event {
            user_id: Some(&me.user_id),
            session_id: Some(&me.session_id),
            detail: Some(passkey_id),
            ..Event::default()
        },
    );
    answer(200, &PasskeyRemoved { removed: true })
}

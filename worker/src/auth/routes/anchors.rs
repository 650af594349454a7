//! The signed-in user's anchors (SPEC §2): `GET /auth/anchors`, `PATCH /auth/anchors/{id}
//! {name}`, `DELETE /auth/anchors/{id}`. Another user's anchor, or a revoked one, is "not found".
//! Whether an anchor is online is the hub's knowledge and reaches clients over their socket
//! (`orbit.anchors`); this list is the accounts database's. Renaming and revoking tell the
//! user's hub, which sends its clients the new `orbit.anchors`.

use worker::Response;

use orbit_protocol::auth::{
    AnchorList, AnchorRenameRequest, AnchorRenamed, Revocation, SecurityEventKind,
};
use orbit_protocol::ErrorCode;
use orbit_shared::auth::names::{display_name, ANCHOR_NAME_MAX};

use super::answer;
use crate::auth::ctx::Ctx;
use crate::auth::error::{ApiError, AuthResult};
use crate::auth::service::audit::{self, Event};
use crate::auth::service::caller::require_web;
use crate::auth::service::sessions::close_sockets;
use crate::auth::store::anchors;
use crate::hub::{self, Revoked};

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::AnchorNotFound, "you have no such anchor")
}

/// `GET /auth/anchors`: the caller's paired, unrevoked anchors, oldest first.
pub async fn list(ctx: &Ctx<'_>) -> AuthResult<Response> {
    let me = require_web(ctx).await?;
    let anchors = anchors::list(&ctx.store, &me.user_id).await?;
    answer(200, &AnchorList { anchors })
}

/// `PATCH /auth/anchors/{id} {name}`.
pub async fn rename(
    ctx: &Ctx<'_>,
    anchor_id: &str,
    body: AnchorRenameRequest,
) -> AuthResult<Response> {
    let me = require_web(ctx).await?;
    let Some(name) = display_name(body.name.as_deref(), ANCHOR_NAME_MAX) else {
        return Err(ApiError::new(
            ErrorCode::InvalidName,
            "an anchor name is 1 to 64 characters",
        )
        .into());
    };
    if !anchors::rename(&ctx.store, &me.user_id, anchor_id, &name).await? {
        return Err(not_found().into());
    }
    hub::announce_anchors_changed(ctx.env, &me.user_id).await;
    audit::record(
        ctx,
        SecurityEventKind::AnchorRenamed,
        Event {
            user_id: Some(&me.user_id),
            anchor_id: Some(anchor_id),
            ..Event::default()
        },
    );
    answer(
        200,
        &AnchorRenamed {
            anchor_id: anchor_id.to_string(),
            name,
        },
    )
}

/// `DELETE /auth/anchors/{id}`: revokes the anchor and all its sessions, and closes its socket
/// (the hub then drops it from the list its clients are shown).
pub async fn revoke(ctx: &Ctx<'_>, anchor_id: &str) -> AuthResult<Response> {
    let me = require_web(ctx).await?;
    if !anchors::revoke(&ctx.store, &me.user_id, anchor_id).await? {
        return Err(not_found().into());
    }
    audit::record(
        ctx,
        SecurityEventKind::AnchorRevoked,
        Event {
            user_id: Some(&me.user_id),
            session_id: Some(&me.session_id),
            anchor_id: Some(anchor_id),
            ..Event::default()
        },
    );
    let closed = close_sockets(ctx, &me.user_id, Revoked::Anchor(anchor_id.to_string())).await?;
    answer(200, &Revocation::new(Some(closed)))
}

//! `POST /auth/refresh`, `POST /auth/logout`, `GET /auth/session`, `GET /auth/sessions`,
//! `DELETE /auth/sessions/{id}`: the caller's sessions (SPEC §2 "Sessions and tokens").

use worker::Response;

use orbit_protocol::auth::{
    RefreshRequest, Revocation, SecurityEventKind, SessionInfo, SessionList,
};
use orbit_protocol::ErrorCode;
use orbit_shared::auth::refresh::RefreshKind;
use orbit_shared::gate::GateError;

use super::answer;
use crate::auth::ctx::Ctx;
use crate::auth::error::{ApiError, AuthResult};
use crate::auth::service::audit::{self, Event};
use crate::auth::service::caller::{self, require_web};
use crate::auth::service::refresh::rotate;
use crate::auth::service::sessions::close_sockets;
use crate::auth::store::{anchors, sessions};
use crate::hub::Revoked;

/// `POST /auth/refresh {refreshToken}` → the session's next credentials.
pub async fn refresh(ctx: &Ctx<'_>, body: RefreshRequest) -> AuthResult<Response> {
    let rotated = rotate(ctx, &body.refresh_token, RefreshKind::Web).await?;
    answer(200, &rotated.credentials)
}

/// `POST /auth/logout`: revokes the caller's session and closes its sockets. Called with an
/// anchor's access token (`anchor logout`), it unpairs that anchor: the anchor and all its
/// sessions are revoked, as if the user had removed it in the web UI.
pub async fn logout(ctx: &Ctx<'_>) -> AuthResult<Response> {
    if let Some(who) = caller::anchor(ctx).await? {
        let anchor_id = who.claims.aid.unwrap_or_default();
        anchors::revoke(&ctx.store, &who.claims.sub, &anchor_id).await?;
        audit::record(
            ctx,
            SecurityEventKind::AnchorRevoked,
            Event {
                user_id: Some(&who.claims.sub),
                session_id: Some(&who.claims.sid),
                anchor_id: Some(&anchor_id),
                ..Event::default()
            },
        );
        let closed = close_sockets(ctx, &who.claims.sub, Revoked::Anchor(anchor_id)).await?;
        return answer(200, &Revocation::new(Some(closed)));
    }
    let me = require_web(ctx).await?;
    sessions::revoke(&ctx.store, &me.session_id).await?;
    audit::record(
        ctx,
        SecurityEventKind::Logout,
        Event {
            user_id: Some(&me.user_id),
            session_id: Some(&me.session_id),
            ..Event::default()
        },
    );
    let closed = close_sockets(ctx, &me.user_id, Revoked::Session(me.session_id.clone())).await?;
    answer(200, &Revocation::new(Some(closed)))
}

/// `GET /auth/session`: who the caller is, this session, and the account's ways in.
pub async fn whoami(ctx: &Ctx<'_>) -> AuthResult<Response> {
    let me = require_web(ctx).await?;
    let Some((row, methods)) = sessions::whoami(&ctx.store, &me.user_id, &me.session_id).await?
    else {
        return Err(GateError::SessionRevoked.into());
    };
    answer(
        200,
        &SessionInfo {
            user_id: me.user_id,
            name: row.name,
            created_at: row.created_at,
            session_id: me.session_id,
            session_created_at: row.session_created_at,
            session_expires_at: row.session_expires_at,
            methods,
        },
    )
}

/// `GET /auth/sessions`: the caller's live web sessions, newest first.
pub async fn list(ctx: &Ctx<'_>) -> AuthResult<Response> {
    let me = require_web(ctx).await?;
    let sessions = sessions::list_web(&ctx.store, &me.user_id, &me.session_id).await?;
    answer(200, &SessionList { sessions })
}

/// `DELETE /auth/sessions/{id}`: revokes one of the caller's web sessions (possibly the
/// current one) and closes its sockets. Another user's session is "not found".
pub async fn revoke(ctx: &Ctx<'_>, session_id: &str) -> AuthResult<Response> {
    let me = require_web(ctx).await?;
    if !sessions::revoke_web(&ctx.store, &me.user_id, session_id).await? {
        return Err(
            ApiError::new(ErrorCode::SessionNotFound, "you have no such live session").into(),
        );
    }
    audit::record(
        ctx,
        SecurityEventKind::SessionRevoked,
        Event {
            user_id: Some(&me.user_id),
            session_id: Some(session_id),
            ..Event::default()
        },
    );
    let closed = close_sockets(ctx, &me.user_id, Revoked::Session(session_id.to_string())).await?;
    answer(200, &Revocation::new(Some(closed)))
}

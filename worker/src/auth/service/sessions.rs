//! Sessions (SPEC §2 "Sessions and tokens"): drawing a new one with its first refresh token,
//! the credentials handed out for it, and closing the sockets of a revoked one.
//!
//! Access tokens (15 min) name the session in `sid`; every authenticated call and WebSocket
//! upgrade checks that the session is live ([`crate::upgrade::authenticate`]).

use orbit_protocol::auth::Credentials;
use orbit_protocol::ErrorCode;
use orbit_shared::auth::refresh::{self, IssuedRefresh, RefreshKind};
use orbit_shared::revocation::RECHECK_INTERVAL_MS;
use orbit_shared::token::{issue, Claims};

use crate::auth::ctx::Ctx;
use crate::auth::error::{ApiError, AuthResult};
use crate::auth::store::sessions::{self, NewSession};
use crate::http::{random_bytes, random_id};
use crate::hub::{self, Revoked};

/// Draws the ids and the first refresh token of a web session (`anchor_id: None`) or an anchor
/// session of `user_id`; nothing is stored yet.
pub fn draw(ctx: &Ctx<'_>, user_id: &str, anchor_id: Option<&str>) -> AuthResult<NewSession> {
    let kind = if anchor_id.is_some() {
        RefreshKind::Anchor
    } else {
        RefreshKind::Web
    };
    Ok(NewSession {
        session_id: random_id(16)?,
        user_id: user_id.to_string(),
        anchor_id: anchor_id.map(str::to_string),
        refresh: refresh::issue(kind, random_bytes()?, ctx.now_s()),
        // Only web sessions are listed, by the browser they started in.
        client: if anchor_id.is_some() {
            None
        } else {
            ctx.user_agent.clone()
        },
        // A web session is drawn only by a sign-in or sign-up, which just proved a way in; an
        // anchor's is drawn at pairing and never makes sensitive changes.
        verified: anchor_id.is_none(),
    })
}

/// The credentials of a session whose current refresh token is `refresh`.
pub fn credentials(
    ctx: &Ctx<'_>,
    user_id: &str,
    session_id: &str,
    anchor_id: Option<&str>,
    refresh: &IssuedRefresh,
) -> AuthResult<Credentials> {
    let now = ctx.now_s();
    let lifetime = ctx.config.access_token_lifetime_s;
    let claims = match anchor_id {
        Some(aid) => Claims::anchor(user_id, session_id, aid, now, lifetime),
        None => Claims::web(user_id, session_id, now, lifetime),
    };
    Ok(Credentials {
        session_id: session_id.to_string(),
        access_token: issue(&claims, &ctx.config.jwt_secret)?,
        refresh_token: refresh.token.clone(),
        expires_in: lifetime,
        refresh_expires_in: refresh.expires_at.saturating_sub(now),
    })
}

/// The credentials of a new session, once it is stored.
pub fn credentials_of(ctx: &Ctx<'_>, session: &NewSession) -> AuthResult<Credentials> {
    credentials(
        ctx,
        &session.user_id,
        &session.session_id,
        session.anchor_id.as_deref(),
        &session.refresh,
    )
}

/// Opens a session of an existing user and returns it with its credentials.
pub async fn open(
    ctx: &Ctx<'_>,
    user_id: &str,
    anchor_id: Option<&str>,
) -> AuthResult<(NewSession, Credentials)> {
    let session = draw(ctx, user_id, anchor_id)?;
    sessions::create(&ctx.store, &session).await?;
    let credentials = credentials_of(ctx, &session)?;
    Ok((session, credentials))
}

/// Closes the open sockets of a revoked session or anchor; how many. The hub is asked a few
/// times (`hub::close_revoked`); when it still cannot be told, the revocation in D1 stands and
/// the caller is refused with 503 `sockets_not_closed`, which says so: the sockets are refused at
/// their next upgrade, and the hub's own re-check cuts them off within seconds.
pub async fn close_sockets(ctx: &Ctx<'_>, user_id: &str, revoked: Revoked) -> AuthResult<u64> {
    let what = match revoked {
        Revoked::Session(_) => "session",
        Revoked::Anchor(_) => "anchor",
    };
    hub::close_revoked(ctx.env, user_id, revoked)
        .await
        .map_err(|e| {
            worker::console_error!("closing revoked sockets failed: {e}");
            ApiError::new(
                ErrorCode::SocketsNotClosed,
                format!(
                    "the {what} is revoked, but its open connections could not be closed now; \
                     they are cut off within {} seconds",
                    RECHECK_INTERVAL_MS / 1000
                ),
            )
            .into()
        })
}

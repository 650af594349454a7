//! Who is calling: bearer authentication of `/auth/*` calls, with the same check as every
//! WebSocket upgrade ([`crate::upgrade::authenticate`]: signature, audience, expiry, and in D1
//! that the session is live).

use orbit_shared::gate::{find_token, GateError};
use orbit_shared::token::Audience;

use crate::auth::ctx::Ctx;
use crate::auth::error::AuthResult;
use crate::upgrade::{authenticate, Authenticated};

/// A signed-in web user, from a verified `Authorization: Bearer` access token whose session
/// is live.
#[derive(Debug, Clone)]
pub struct WebUser {
    pub user_id: String,
    pub session_id: String,
    /// When the session last proved a way in (ms), as stored; `None`: never.
    pub verified_at: Option<u64>,
}

/// Whether the request carries an `Authorization` header at all: it decides between the
/// signed-in and the sign-up form of an endpoint.
pub fn bearer_present(ctx: &Ctx<'_>) -> bool {
    ctx.authorization.is_some()
}

/// The signed-in web user, or 401 with the gate's code (`token_missing`, `token_expired`,
/// `session_revoked`, …).
pub async fn require_web(ctx: &Ctx<'_>) -> AuthResult<WebUser> {
    let Some((token, _)) = find_token(None, ctx.authorization.as_deref(), None) else {
        return Err(GateError::MissingToken.into());
    };
    match authenticate(ctx.store.d1(), ctx.config, &token, Audience::Web).await? {
        Ok(who) => Ok(WebUser {
            user_id: who.claims.sub,
            session_id: who.claims.sid,
            verified_at: who.verified_at,
        }),
        Err(refusal) => Err(refusal.into()),
    }
}

/// The anchor the bearer token speaks for, if it is a live anchor's; `None` for any other
/// token (or none).
pub async fn anchor(ctx: &Ctx<'_>) -> AuthResult<Option<Authenticated>> {
    let Some((token, _)) = find_token(None, ctx.authorization.as_deref(), None) else {
        return Ok(None);
    };
    Ok(
        authenticate(ctx.store.d1(), ctx.config, &token, Audience::Anchor)
            .await?
            .ok(),
    )
}

//! Sessions: authenticating HTTP calls, creating sessions, refresh rotation with reuse
//! detection, logout and the session list (SPEC §2 "Sessions and tokens").
//!
//! A session is a row in `sessions` (kind `web` or `anchor`). It owns a chain of refresh tokens
//! of which exactly one is live; each refresh spends it and issues the next, and slides the
//! session's `expires_at` to the new token's expiry. Access tokens (15 min) name the session in
//! `sid`, and every authenticated call and WebSocket upgrade checks that the session is live
//! ([`crate::upgrade::authenticate`], shared with the upgrade gate).

use serde::{Deserialize, Serialize};
use worker::{D1PreparedStatement, Response};

use orbit_shared::auth::rate_limit::Action;
use orbit_shared::auth::refresh::{
    self, decide, IssuedRefresh, RefreshDecision, RefreshError, RefreshKind, StoredRefresh,
};
use orbit_shared::gate::{find_token, GateError};
use orbit_shared::token::{issue, Audience, Claims};

use super::accounts;
use super::error::{ApiError, AuthResult};
use super::events::{self, Event, Kind};
use super::rate_limit::enforce;
use super::{int, json, opt_text, text, Ctx};
use crate::http::{random_bytes, random_id};
use crate::hub::{self, Revoked};
use crate::upgrade::authenticate;

/// A signed-in web user, from a verified `Authorization: Bearer` access token whose session
/// is live.
#[derive(Debug, Clone)]
pub struct WebUser {
    pub user_id: String,
    pub session_id: String,
}

/// Whether the request carries an `Authorization` header at all.
pub fn bearer_present(ctx: &Ctx<'_>) -> bool {
    ctx.authorization.is_some()
}

/// The signed-in web user, or 401 with the gate's code (`token_missing`, `token_expired`,
/// `session_revoked`, …).
pub async fn require_web(ctx: &Ctx<'_>) -> AuthResult<WebUser> {
    let Some((token, _)) = find_token(None, ctx.authorization.as_deref(), None) else {
        return Err(GateError::MissingToken.into());
    };
    match authenticate(&ctx.db, ctx.config, &token, Audience::Web).await? {
        Ok(who) => Ok(WebUser {
            user_id: who.claims.sub,
            session_id: who.claims.sid,
        }),
        Err(refusal) => Err(refusal.into()),
    }
}

/// What a client gets when a session starts or refreshes. Lifetimes in seconds.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    pub session_id: String,
    pub access_token: String,
    pub refresh_token: String,
    /// Life of the access token.
    pub expires_in: u64,
    /// Life of the refresh token (and so of the session, unless refreshed).
    pub refresh_expires_in: u64,
}

/// What a new session's insert is conditioned on, within its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// The user exists (possibly inserted earlier in the same batch, for a new account).
    UserExists,
    /// This very session was recorded as the TOTP sign-in that spent the code's step (the step
    /// update earlier in the batch names it), so of two requests racing with one code only the
    /// one that recorded the step gets a session.
    TotpStepRecorded,
}

impl Guard {
    /// The condition, in terms of `?1` (session id) and `?2` (user id).
    fn sql(self) -> &'static str {
        match self {
            Guard::UserExists => "EXISTS (SELECT 1 FROM users WHERE id = ?2)",
            Guard::TotpStepRecorded => {
                "EXISTS (SELECT 1 FROM totp WHERE user_id = ?2 AND last_session_id = ?1)"
            }
        }
    }
}

/// A session about to be created, with its first refresh token.
pub struct NewSession {
    pub session_id: String,
    pub user_id: String,
    pub anchor_id: Option<String>,
    refresh: IssuedRefresh,
}

impl NewSession {
    /// Draws the ids and the refresh token of a web session (`anchor_id: None`) or an anchor
    /// session of `user_id`.
    pub fn new(ctx: &Ctx<'_>, user_id: &str, anchor_id: Option<&str>) -> AuthResult<Self> {
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
        })
    }

    /// The statements that write the session and its refresh token, taking effect only if
    /// `guard` holds when they run (they can follow a conditional insert or update in one batch).
    pub fn statements(&self, ctx: &Ctx<'_>, guard: Guard) -> AuthResult<Vec<D1PreparedStatement>> {
        let kind = if self.anchor_id.is_some() {
            "anchor"
        } else {
            "web"
        };
        let client = if self.anchor_id.is_some() {
            None
        } else {
            ctx.user_agent.as_deref()
        };
        let expires_ms = self.refresh.expires_at.saturating_mul(1000);
        Ok(vec![
            ctx.db
                .prepare(format!(
                    "INSERT INTO sessions (id, user_id, kind, anchor_id, created_at, expires_at, last_used_at, client) \
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?5, ?7 WHERE {}",
                    guard.sql()
                ))
                .bind(&[
                    text(&self.session_id),
                    text(&self.user_id),
                    text(kind),
                    opt_text(self.anchor_id.as_deref()),
                    int(ctx.now_ms),
                    int(expires_ms),
                    opt_text(client),
                ])?,
            ctx.db
                .prepare(
                    "INSERT INTO refresh_tokens (hash, session_id, created_at, expires_at) \
                     SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM sessions WHERE id = ?2)",
                )
                .bind(&[
                    text(&self.refresh.hash),
                    text(&self.session_id),
                    int(ctx.now_ms),
                    int(expires_ms),
                ])?,
        ])
    }

    /// The credentials to hand out once the statements have run.
    pub fn credentials(&self, ctx: &Ctx<'_>) -> AuthResult<Credentials> {
        credentials(
            ctx,
            &self.user_id,
            &self.session_id,
            self.anchor_id.as_deref(),
            &self.refresh,
        )
    }

    /// Writes the session of an existing user and returns its credentials.
    pub async fn create(&self, ctx: &Ctx<'_>) -> AuthResult<Credentials> {
        ctx.db
            .batch(self.statements(ctx, Guard::UserExists)?)
            .await?;
        self.credentials(ctx)
    }
}

fn credentials(
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

#[derive(Debug, Deserialize)]
struct RefreshRow {
    hash: String,
    expires_at: u64,
    used_at: Option<u64>,
    session_id: String,
    user_id: String,
    kind: String,
    anchor_id: Option<String>,
    revoked_at: Option<u64>,
    anchor_revoked_at: Option<u64>,
}

/// A successful refresh.
pub struct Rotated {
    pub anchor_id: Option<String>,
    pub credentials: Credentials,
}

/// Spends `presented` (a refresh token of `kind`) and issues the session's next pair.
///
/// Reuse of a spent token revokes the session — for an anchor, the anchor too, since its
/// credentials are evidently in two hands — and closes their sockets.
pub async fn rotate(ctx: &Ctx<'_>, presented: &str, kind: RefreshKind) -> AuthResult<Rotated> {
    let row = if refresh::is_well_formed(presented, kind) {
        ctx.db
            .prepare(
                "SELECT r.hash, r.expires_at, r.used_at, s.id AS session_id, s.user_id, s.kind, \
                 s.anchor_id, s.revoked_at, a.revoked_at AS anchor_revoked_at \
                 FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id \
                 LEFT JOIN anchors a ON a.id = s.anchor_id WHERE r.hash = ?1",
            )
            .bind(&[text(&refresh::lookup_hash(presented))])?
            .first::<RefreshRow>(None)
            .await?
    } else {
        None
    };
    enforce(
        ctx,
        Action::Refresh,
        row.as_ref().map(|r| r.user_id.as_str()),
    )
    .await?;
    let expected_kind = match kind {
        RefreshKind::Web => "web",
        RefreshKind::Anchor => "anchor",
    };
    let row = row.filter(|r| r.kind == expected_kind);
    let stored = row.as_ref().map(|r| StoredRefresh {
        hash: r.hash.clone(),
        expires_at: r.expires_at / 1000,
        used: r.used_at.is_some(),
        session_revoked: r.revoked_at.is_some() || r.anchor_revoked_at.is_some(),
    });
    let row = match (decide(presented, kind, stored.as_ref(), ctx.now_s()), row) {
        (RefreshDecision::Rotate, Some(row)) => row,
        (RefreshDecision::RevokeSession, Some(row)) => {
            reuse_detected(ctx, &row).await;
            return Err(RefreshError::Reused.into());
        }
        (decision, _) => {
            return Err(decision.error().unwrap_or(RefreshError::Unknown).into());
        }
    };
    // Spend it and write the next one in one transaction. The update names the next token, and
    // the inserts run only if this request's update took effect: if another request spent the
    // token first, nothing is written and this is reuse too.
    let next = refresh::issue(kind, random_bytes()?, ctx.now_s());
    let expires_ms = next.expires_at.saturating_mul(1000);
    let results = ctx
        .db
        .batch(vec![
            ctx.db
                .prepare(
                    "UPDATE refresh_tokens SET used_at = ?2, replaced_by = ?3 \
                     WHERE hash = ?1 AND used_at IS NULL RETURNING hash",
                )
                .bind(&[text(&row.hash), int(ctx.now_ms), text(&next.hash)])?,
            ctx.db
                .prepare(
                    "INSERT INTO refresh_tokens (hash, session_id, created_at, expires_at) \
                     SELECT ?3, ?2, ?4, ?5 \
                     WHERE EXISTS (SELECT 1 FROM refresh_tokens WHERE hash = ?1 AND replaced_by = ?3)",
                )
                .bind(&[
                    text(&row.hash),
                    text(&row.session_id),
                    text(&next.hash),
                    int(ctx.now_ms),
                    int(expires_ms),
                ])?,
            ctx.db
                .prepare(
                    "UPDATE sessions SET expires_at = ?4, last_used_at = ?5 WHERE id = ?2 \
                     AND EXISTS (SELECT 1 FROM refresh_tokens WHERE hash = ?1 AND replaced_by = ?3)",
                )
                .bind(&[
                    text(&row.hash),
                    text(&row.session_id),
                    text(&next.hash),
                    int(expires_ms),
                    int(ctx.now_ms),
                ])?,
        ])
        .await?;
    let spent = results.first().is_some_and(|r| {
        r.results::<serde_json::Value>()
            .is_ok_and(|rows| !rows.is_empty())
    });
    if !spent {
        reuse_detected(ctx, &row).await;
        return Err(RefreshError::Reused.into());
    }
    let credentials = credentials(
        ctx,
        &row.user_id,
        &row.session_id,
        row.anchor_id.as_deref(),
        &next,
    )?;
    Ok(Rotated {
        anchor_id: row.anchor_id,
        credentials,
    })
}

/// A spent refresh token came back: revoke its session (and anchor), close their sockets, and
/// say so in the security log.
async fn reuse_detected(ctx: &Ctx<'_>, row: &RefreshRow) {
    events::record(
        ctx,
        Kind::RefreshReuse,
        Event {
            user_id: Some(&row.user_id),
            session_id: Some(&row.session_id),
            anchor_id: row.anchor_id.as_deref(),
            detail: Some(&row.kind),
        },
    );
    let revoked = async {
        revoke_session_row(ctx, &row.session_id).await?;
        if let Some(aid) = &row.anchor_id {
            revoke_anchor_rows(ctx, &row.user_id, aid).await?;
        }
        AuthResult::Ok(())
    };
    if let Err(e) = revoked.await {
        worker::console_error!("revoking a session after refresh reuse failed: {e:?}");
    }
    close_sockets(ctx, &row.user_id, Revoked::Session(row.session_id.clone())).await;
    if let Some(aid) = &row.anchor_id {
        close_sockets(ctx, &row.user_id, Revoked::Anchor(aid.clone())).await;
    }
}

/// Marks a session revoked (idempotent).
pub async fn revoke_session_row(ctx: &Ctx<'_>, session_id: &str) -> AuthResult<()> {
    ctx.db
        .prepare("UPDATE sessions SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1")
        .bind(&[text(session_id), int(ctx.now_ms)])?
        .run()
        .await?;
    Ok(())
}

/// Marks `user_id`'s anchor and all its sessions revoked; false if the user has no such live
/// anchor.
pub async fn revoke_anchor_rows(ctx: &Ctx<'_>, user_id: &str, anchor_id: &str) -> AuthResult<bool> {
    let results = ctx
        .db
        .batch(vec![
            ctx.db
                .prepare(
                    "UPDATE anchors SET revoked_at = ?3 WHERE id = ?1 AND user_id = ?2 \
                     AND revoked_at IS NULL RETURNING id",
                )
                .bind(&[text(anchor_id), text(user_id), int(ctx.now_ms)])?,
            ctx.db
                .prepare(
                    "UPDATE sessions SET revoked_at = COALESCE(revoked_at, ?3) \
                     WHERE anchor_id = ?1 AND user_id = ?2",
                )
                .bind(&[text(anchor_id), text(user_id), int(ctx.now_ms)])?,
        ])
        .await?;
    Ok(results.first().is_some_and(|r| {
        r.results::<serde_json::Value>()
            .is_ok_and(|rows| !rows.is_empty())
    }))
}

/// Closes the open sockets of a revoked session or anchor; how many, or `None` if the hub could
/// not be reached (logged: the sockets are refused at their next upgrade anyway).
pub async fn close_sockets(ctx: &Ctx<'_>, user_id: &str, revoked: Revoked) -> Option<u64> {
    match hub::close_revoked(ctx.env, user_id, revoked).await {
        Ok(n) => Some(n),
        Err(e) => {
            worker::console_error!("closing revoked sockets failed: {e}");
            None
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshBody {
    #[serde(default)]
    refresh_token: String,
}

/// `POST /auth/refresh {refreshToken}`.
pub async fn refresh_web(ctx: &Ctx<'_>, body: RefreshBody) -> AuthResult<Response> {
    let rotated = rotate(ctx, &body.refresh_token, RefreshKind::Web).await?;
    json(200, &rotated.credentials)
}

/// `POST /auth/logout`: revokes the caller's session and closes its sockets. Called with an
/// anchor's access token (`anchor logout`), it unpairs that anchor: the anchor and all its
/// sessions are revoked, as if the user had removed it in the web UI.
pub async fn logout(ctx: &Ctx<'_>) -> AuthResult<Response> {
    if let Some((token, _)) = find_token(None, ctx.authorization.as_deref(), None) {
        if let Ok(who) = authenticate(&ctx.db, ctx.config, &token, Audience::Anchor).await? {
            let anchor_id = who.claims.aid.unwrap_or_default();
            revoke_anchor_rows(ctx, &who.claims.sub, &anchor_id).await?;
            let closed =
                close_sockets(ctx, &who.claims.sub, Revoked::Anchor(anchor_id.clone())).await;
            events::record(
                ctx,
                Kind::AnchorRevoked,
                Event {
                    user_id: Some(&who.claims.sub),
                    session_id: Some(&who.claims.sid),
                    anchor_id: Some(&anchor_id),
                    ..Event::default()
                },
            );
            return json(
                200,
                &serde_json::json!({"revoked": true, "closedSockets": closed}),
            );
        }
    }
    let me = require_web(ctx).await?;
    revoke_session_row(ctx, &me.session_id).await?;
    let closed = close_sockets(ctx, &me.user_id, Revoked::Session(me.session_id.clone())).await;
    events::record(
        ctx,
        Kind::Logout,
        Event {
            user_id: Some(&me.user_id),
            session_id: Some(&me.session_id),
            ..Event::default()
        },
    );
    json(
        200,
        &serde_json::json!({"revoked": true, "closedSockets": closed}),
    )
}

#[derive(Deserialize)]
struct WhoRow {
    name: Option<String>,
    created_at: u64,
    session_created_at: u64,
    session_expires_at: Option<u64>,
}

/// `GET /auth/session`: who the caller is, this session, and the account's ways in.
pub async fn whoami(ctx: &Ctx<'_>) -> AuthResult<Response> {
    let me = require_web(ctx).await?;
    let results = ctx
        .db
        .batch(vec![
            ctx.db
                .prepare(
                    "SELECT u.name, u.created_at, s.created_at AS session_created_at, \
                     s.expires_at AS session_expires_at \
                     FROM users u JOIN sessions s ON s.user_id = u.id WHERE u.id = ?1 AND s.id = ?2",
                )
                .bind(&[text(&me.user_id), text(&me.session_id)])?,
            accounts::ways_in_statement(ctx, &me.user_id)?,
        ])
        .await?;
    let row = results
        .first()
        .and_then(|r| r.results::<WhoRow>().ok())
        .and_then(|rows| rows.into_iter().next());
    let Some(row) = row else {
        return Err(GateError::SessionRevoked.into());
    };
    let ways = accounts::WaysIn::from_result(results.get(1))?;
    json(
        200,
        &serde_json::json!({
            "userId": me.user_id,
            "name": row.name,
            "createdAt": row.created_at,
            "sessionId": me.session_id,
            "sessionCreatedAt": row.session_created_at,
            "sessionExpiresAt": row.session_expires_at,
            "methods": ways,
        }),
    )
}

#[derive(Deserialize)]
struct SessionListRow {
    id: String,
    created_at: u64,
    last_used_at: Option<u64>,
    expires_at: Option<u64>,
    client: Option<String>,
}

/// `GET /auth/sessions`: the caller's live web sessions, newest first.
pub async fn list(ctx: &Ctx<'_>) -> AuthResult<Response> {
    let me = require_web(ctx).await?;
    let rows = ctx
        .db
        .prepare(
            "SELECT id, created_at, last_used_at, expires_at, client FROM sessions \
             WHERE user_id = ?1 AND kind = 'web' AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > ?2) ORDER BY created_at DESC LIMIT 200",
        )
        .bind(&[text(&me.user_id), int(ctx.now_ms)])?
        .all()
        .await?
        .results::<SessionListRow>()?;
    let sessions: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|r| {
            serde_json::json!({
                "sessionId": r.id,
                "current": r.id == me.session_id,
                "createdAt": r.created_at,
                "lastUsedAt": r.last_used_at,
                "expiresAt": r.expires_at,
                "client": r.client,
            })
        })
        .collect();
    json(200, &serde_json::json!({ "sessions": sessions }))
}

/// `DELETE /auth/sessions/{id}`: revokes one of the caller's web sessions (possibly the
/// current one) and closes its sockets. Another user's session is "not found".
pub async fn revoke(ctx: &Ctx<'_>, session_id: &str) -> AuthResult<Response> {
    let me = require_web(ctx).await?;
    let revoked = ctx
        .db
        .prepare(
            "UPDATE sessions SET revoked_at = ?3 WHERE id = ?1 AND user_id = ?2 AND kind = 'web' \
             AND revoked_at IS NULL RETURNING id",
        )
        .bind(&[text(session_id), text(&me.user_id), int(ctx.now_ms)])?
        .first::<serde_json::Value>(None)
        .await?;
    if revoked.is_none() {
        return Err(
            ApiError::not_found("session_not_found", "you have no such live session").into(),
        );
    }
    let closed = close_sockets(ctx, &me.user_id, Revoked::Session(session_id.to_string())).await;
    events::record(
        ctx,
        Kind::SessionRevoked,
        Event {
            user_id: Some(&me.user_id),
            session_id: Some(session_id),
            ..Event::default()
        },
    );
    json(
        200,
        &serde_json::json!({"revoked": true, "closedSockets": closed}),
    )
}

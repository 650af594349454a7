//! Refresh rotation with reuse detection, for web sessions (`POST /auth/refresh`) and anchors
//! (`POST /auth/device/refresh`).
//!
//! Each refresh spends the presented token and issues the next in one transaction
//! ([`crate::auth::store::sessions::rotate`]). Presenting a spent token revokes the whole
//! session — for an anchor, the anchor too, since its credentials are evidently in two hands —
//! and closes their sockets; except within the grace window after the spend, while its successor
//! is unused: then the answer that was lost is given again (the same successor, a fresh access
//! token). The decision, and the successor's derivation, are
//! `orbit_shared::auth::refresh::decide`'s.

use orbit_protocol::auth::{Credentials, SecurityEventKind};
use orbit_shared::auth::rate_limit::Action;
use orbit_shared::auth::refresh::{
    self, decide, Grace, IssuedRefresh, RefreshDecision, RefreshError, RefreshKind, RotationKey,
    StoredRefresh, StoredSuccessor,
};

use super::audit::{self, Event};
use super::limits::enforce;
use super::sessions::{close_sockets, credentials};
use crate::auth::ctx::Ctx;
use crate::auth::error::AuthResult;
use crate::auth::store::sessions::{self, RefreshRow};
use crate::auth::store::{anchors, StoreResult};
use crate::hub::Revoked;

/// A successful refresh.
pub struct Rotated {
    pub anchor_id: Option<String>,
    pub credentials: Credentials,
}

/// Spends `presented` (a refresh token of `kind`) and issues the session's next pair, or, for a
/// retry within the grace window, answers the pair's refresh token again. Every attempt counts
/// against the refresh rate limit (per address, and per account when the token is known).
pub async fn rotate(ctx: &Ctx<'_>, presented: &str, kind: RefreshKind) -> AuthResult<Rotated> {
    let mut row = find(ctx, presented, kind).await?;
    enforce(
        ctx,
        Action::Refresh,
        row.as_ref().map(|r| r.user_id.as_str()),
    )
    .await?;
    let key = RotationKey::derive(&ctx.config.jwt_secret);
    let grace = Grace {
        key: &key,
        window_s: ctx.config.refresh_reuse_grace_s,
    };
    let mut lost_a_race = false;
    loop {
        let decision = decide(
            presented,
            kind,
            stored(row.as_ref()).as_ref(),
            ctx.now_s(),
            grace,
        );
        let Some(found) = row.take() else {
            return Err(decision.error().unwrap_or(RefreshError::Unknown).into());
        };
        match decision {
            RefreshDecision::Rotate(next) if !lost_a_race => {
                if sessions::rotate(&ctx.store, &found.hash, &found.session_id, &next).await? {
                    return answer(ctx, found, &next);
                }
                // A concurrent request with the same token spent it first, storing the same
                // successor: decide again on the row as it is now (within the grace window,
                // that successor is this request's answer too).
                lost_a_race = true;
                row = find(ctx, presented, kind).await?;
            }
            RefreshDecision::Reissue(next) => return answer(ctx, found, &next),
            RefreshDecision::Refuse(e) => return Err(e.into()),
            // Reuse; or a token that still looks unspent after losing the spend to another
            // request, which only a broken store could show: treat it as reuse too.
            RefreshDecision::RevokeSession | RefreshDecision::Rotate(_) => {
                reuse_detected(ctx, &found).await;
                return Err(RefreshError::Reused.into());
            }
        }
    }
}

/// The row of a well-formed `presented` token of `kind`, if any.
async fn find(ctx: &Ctx<'_>, presented: &str, kind: RefreshKind) -> AuthResult<Option<RefreshRow>> {
    if !refresh::is_well_formed(presented, kind) {
        return Ok(None);
    }
    let expected_kind = match kind {
        RefreshKind::Web => "web",
        RefreshKind::Anchor => "anchor",
    };
    Ok(
        sessions::find_refresh(&ctx.store, &refresh::lookup_hash(presented))
            .await?
            .filter(|r| r.kind == expected_kind),
    )
}

/// What the decision needs of a row (D1 keeps ms, the decision seconds).
fn stored(row: Option<&RefreshRow>) -> Option<StoredRefresh> {
    row.map(|r| StoredRefresh {
        hash: r.hash.clone(),
        expires_at: r.expires_at / 1000,
        used_at: r.used_at.map(|ms| ms / 1000),
        successor: r.next_hash.as_ref().map(|hash| StoredSuccessor {
            hash: hash.clone(),
            expires_at: r.next_expires_at.unwrap_or(0) / 1000,
            used: r.next_used_at.is_some(),
        }),
        session_revoked: r.revoked_at.is_some() || r.anchor_revoked_at.is_some(),
    })
}

/// The credentials of `row`'s session with the refresh token `next`.
fn answer(ctx: &Ctx<'_>, row: RefreshRow, next: &IssuedRefresh) -> AuthResult<Rotated> {
    let credentials = credentials(
        ctx,
        &row.user_id,
        &row.session_id,
        row.anchor_id.as_deref(),
        next,
    )?;
    Ok(Rotated {
        anchor_id: row.anchor_id,
        credentials,
    })
}

/// A spent refresh token came back: revoke its session (and anchor), close their sockets, and
/// say so in the security log. Failures are logged: the refusal stands either way.
async fn reuse_detected(ctx: &Ctx<'_>, row: &RefreshRow) {
    audit::record(
        ctx,
        SecurityEventKind::RefreshReuse,
        Event {
            user_id: Some(&row.user_id),
            session_id: Some(&row.session_id),
            anchor_id: row.anchor_id.as_deref(),
            detail: Some(&row.kind),
        },
    );
    let revoked = async {
        sessions::revoke(&ctx.store, &row.session_id).await?;
        if let Some(aid) = &row.anchor_id {
            anchors::revoke(&ctx.store, &row.user_id, aid).await?;
        }
        StoreResult::Ok(())
    };
    if let Err(e) = revoked.await {
        worker::console_error!("revoking a session after refresh reuse failed: {e}");
    }
    // A failure to close is logged by `close_sockets`; the refusal stands, and the hub's
    // re-check cuts the sockets off.
    let _ = close_sockets(ctx, &row.user_id, Revoked::Session(row.session_id.clone())).await;
    if let Some(aid) = &row.anchor_id {
        let _ = close_sockets(ctx, &row.user_id, Revoked::Anchor(aid.clone())).await;
    }
}

//! Refresh rotation with reuse detection, for web sessions (`POST /auth/refresh`) and anchors
//! (`POST /auth/device/refresh`).
//!
//! Each refresh spends the presented token and issues the next in one transaction
//! ([`crate::auth::store::sessions::rotate`]). Presenting a spent token revokes the whole
//! session — for an anchor, the anchor too, since its credentials are evidently in two hands —
//! and closes their sockets. The decision is `orbit_shared::auth::refresh::decide`'s.

use orbit_protocol::auth::{Credentials, SecurityEventKind};
use orbit_shared::auth::rate_limit::Action;
use orbit_shared::auth::refresh::{
    self, decide, RefreshDecision, RefreshError, RefreshKind, StoredRefresh,
};

use super::audit::{self, Event};
use super::limits::enforce;
use super::sessions::{close_sockets, credentials};
use crate::auth::ctx::Ctx;
use crate::auth::error::AuthResult;
use crate::auth::store::sessions::{self, RefreshRow};
use crate::auth::store::{anchors, StoreResult};
use crate::http::random_bytes;
use crate::hub::Revoked;

/// A successful refresh.
pub struct Rotated {
    pub anchor_id: Option<String>,
    pub credentials: Credentials,
}

/// Spends `presented` (a refresh token of `kind`) and issues the session's next pair. Every
/// attempt counts against the refresh rate limit (per address, and per account when the token
/// is known).
pub async fn rotate(ctx: &Ctx<'_>, presented: &str, kind: RefreshKind) -> AuthResult<Rotated> {
    let row = if refresh::is_well_formed(presented, kind) {
        sessions::find_refresh(&ctx.store, &refresh::lookup_hash(presented)).await?
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
    let next = refresh::issue(kind, random_bytes()?, ctx.now_s());
    // Losing the spend to a concurrent request means the token was used twice: reuse too.
    if !sessions::rotate(&ctx.store, &row.hash, &row.session_id, &next).await? {
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
    close_sockets(ctx, &row.user_id, Revoked::Session(row.session_id.clone())).await;
    if let Some(aid) = &row.anchor_id {
        close_sockets(ctx, &row.user_id, Revoked::Anchor(aid.clone())).await;
    }
}

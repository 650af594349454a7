//! The signed-in user's anchors (SPEC §2): `GET /auth/anchors`, `PATCH /auth/anchors/{id}
//! {name}`, `DELETE /auth/anchors/{id}`. Another user's anchor, or a revoked one, is "not found".
//! Whether an anchor is online is the hub's knowledge and reaches clients over their socket
//! (`orbit.anchors`); this list is the accounts database's.

use serde::Deserialize;
use worker::Response;

use super::device::clean_name;
use super::error::{ApiError, AuthResult};
use super::events::{self, Event, Kind};
use super::session::{close_sockets, require_web, revoke_anchor_rows};
use super::{json, text, Ctx};
use crate::hub::Revoked;

#[derive(Deserialize)]
struct AnchorRow {
    id: String,
    name: String,
    created_at: u64,
    last_refresh_at: Option<u64>,
}

/// `GET /auth/anchors`: the caller's paired, unrevoked anchors, oldest first.
pub async fn list(ctx: &Ctx<'_>) -> AuthResult<Response> {
    let me = require_web(ctx).await?;
    let rows = ctx
        .db
        .prepare(
            "SELECT a.id, a.name, a.created_at, MAX(s.last_used_at) AS last_refresh_at \
             FROM anchors a LEFT JOIN sessions s ON s.anchor_id = a.id AND s.revoked_at IS NULL \
             WHERE a.user_id = ?1 AND a.revoked_at IS NULL GROUP BY a.id ORDER BY a.created_at",
        )
        .bind(&[text(&me.user_id)])?
        .all()
        .await?
        .results::<AnchorRow>()?;
    let anchors: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|r| {
            serde_json::json!({
                "anchorId": r.id,
                "name": r.name,
                "createdAt": r.created_at,
                "lastRefreshAt": r.last_refresh_at,
            })
        })
        .collect();
    json(200, &serde_json::json!({ "anchors": anchors }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RenameBody {
    name: Option<String>,
}

fn not_found() -> ApiError {
    ApiError::not_found("anchor_not_found", "you have no such anchor")
}

/// `PATCH /auth/anchors/{id} {name}`.
pub async fn rename(ctx: &Ctx<'_>, anchor_id: &str, body: RenameBody) -> AuthResult<Response> {
    let me = require_web(ctx).await?;
    let Some(name) = clean_name(body.name.as_deref()) else {
        return Err(
            ApiError::new(400, "invalid_name", "an anchor name is 1 to 64 characters").into(),
        );
    };
    let renamed = ctx
        .db
        .prepare(
            "UPDATE anchors SET name = ?3 WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL RETURNING id",
        )
        .bind(&[text(anchor_id), text(&me.user_id), text(&name)])?
        .first::<serde_json::Value>(None)
        .await?;
    if renamed.is_none() {
        return Err(not_found().into());
    }
    events::record(
        ctx,
        Kind::AnchorRenamed,
        Event {
            user_id: Some(&me.user_id),
            anchor_id: Some(anchor_id),
            ..Event::default()
        },
    );
    json(
        200,
        &serde_json::json!({"anchorId": anchor_id, "name": name}),
    )
}

/// `DELETE /auth/anchors/{id}`: revokes the anchor and all its sessions, and closes its socket.
pub async fn revoke(ctx: &Ctx<'_>, anchor_id: &str) -> AuthResult<Response> {
    let me = require_web(ctx).await?;
    if !revoke_anchor_rows(ctx, &me.user_id, anchor_id).await? {
        return Err(not_found().into());
    }
    let closed = close_sockets(ctx, &me.user_id, Revoked::Anchor(anchor_id.to_string())).await;
    events::record(
        ctx,
        Kind::AnchorRevoked,
        Event {
            user_id: Some(&me.user_id),
            session_id: Some(&me.session_id),
            anchor_id: Some(anchor_id),
            ..Event::default()
        },
    );
    json(
        200,
        &serde_json::json!({"revoked": true, "closedSockets": closed}),
    )
}

//! `anchors`: the machines paired with an account (their creation is the device flow's, in
//! [`super::device`]). Every query is scoped by the owner's user id, so another user's anchor
//! is "not found".

use serde::Deserialize;

use orbit_protocol::auth::AnchorSummary;

use super::{int, returned, text, Store, StoreResult};

#[derive(Deserialize)]
struct AnchorRow {
    id: String,
    name: String,
    created_at: u64,
    last_refresh_at: Option<u64>,
    hostname: Option<String>,
    platform: Option<String>,
}

/// `user_id`'s paired, unrevoked anchors, oldest first; the last refresh is the latest use of
/// one of the anchor's live sessions.
pub async fn list(store: &Store, user_id: &str) -> StoreResult<Vec<AnchorSummary>> {
    let rows = store
        .db
        .prepare(
            "SELECT a.id, a.name, a.created_at, a.hostname, a.platform, \
             MAX(s.last_used_at) AS last_refresh_at \
             FROM anchors a LEFT JOIN sessions s ON s.anchor_id = a.id AND s.revoked_at IS NULL \
             WHERE a.user_id = ?1 AND a.revoked_at IS NULL GROUP BY a.id ORDER BY a.created_at",
        )
        .bind(&[text(user_id)])?
        .all()
        .await?
        .results::<AnchorRow>()?;
    Ok(rows
        .into_iter()
        .map(|r| AnchorSummary {
            anchor_id: r.id,
            name: r.name,
            created_at: r.created_at,
            last_refresh_at: r.last_refresh_at,
            hostname: r.hostname,
            platform: r.platform,
        })
        .collect())
}

/// Renames `user_id`'s live anchor; false if there is no such anchor.
pub async fn rename(
    store: &Store,
    user_id: &str,
    anchor_id: &str,
    name: &str,
) -> StoreResult<bool> {
    Ok(store
        .db
        .prepare(
            "UPDATE anchors SET name = ?3 WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL RETURNING id",
        )
        .bind(&[text(anchor_id), text(user_id), text(name)])?
        .first::<serde_json::Value>(None)
        .await?
        .is_some())
}

/// Marks `user_id`'s anchor and all its sessions revoked; false if the user has no such live
/// anchor (its sessions are revoked anyway: idempotent).
pub async fn revoke(store: &Store, user_id: &str, anchor_id: &str) -> StoreResult<bool> {
    let results = store
        .db
        .batch(vec![
            store
                .db
                .prepare(
                    "UPDATE anchors SET revoked_at = ?3 WHERE id = ?1 AND user_id = ?2 \
                     AND revoked_at IS NULL RETURNING id",
                )
                .bind(&[text(anchor_id), text(user_id), int(store.now_ms)])?,
            store
                .db
                .prepare(
                    "UPDATE sessions SET revoked_at = COALESCE(revoked_at, ?3) \
                     WHERE anchor_id = ?1 AND user_id = ?2",
                )
                .bind(&[text(anchor_id), text(user_id), int(store.now_ms)])?,
        ])
        .await?;
    Ok(returned(results.first()))
}

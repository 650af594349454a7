//! `security_events`: the rows behind `GET /auth/security-events` (kept 90 days, see
//! [`super::housekeeping`]).

use serde::Deserialize;

use orbit_protocol::auth::{SecurityEvent, SecurityEventKind};

use super::{int, opt_text, text, Store, StoreResult};

/// One event to store. Its fields are ids, the address and a short reason: never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub at: u64,
    pub kind: SecurityEventKind,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub anchor_id: Option<String>,
    pub address: String,
    pub detail: Option<String>,
}

/// Stores one event.
pub async fn insert(store: &Store, event: &EventRow) -> StoreResult<()> {
    store
        .db
        .prepare(
            "INSERT INTO security_events (at, kind, user_id, session_id, anchor_id, address, detail) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .bind(&[
            int(event.at),
            text(event.kind.as_str()),
            opt_text(event.user_id.as_deref()),
            opt_text(event.session_id.as_deref()),
            opt_text(event.anchor_id.as_deref()),
            text(&event.address),
            opt_text(event.detail.as_deref()),
        ])?
        .run()
        .await?;
    Ok(())
}

#[derive(Deserialize)]
struct Row {
    at: u64,
    /// Stored by [`insert`] from the same enum, so it always reads back.
    kind: SecurityEventKind,
    session_id: Option<String>,
    anchor_id: Option<String>,
    address: Option<String>,
    detail: Option<String>,
}

/// `user_id`'s 100 latest events, newest first.
pub async fn latest(store: &Store, user_id: &str) -> StoreResult<Vec<SecurityEvent>> {
    let rows = store
        .db
        .prepare(
            "SELECT at, kind, session_id, anchor_id, address, detail FROM security_events \
             WHERE user_id = ?1 ORDER BY at DESC, id DESC LIMIT 100",
        )
        .bind(&[text(user_id)])?
        .all()
        .await?
        .results::<Row>()?;
    Ok(rows
        .into_iter()
        .map(|r| SecurityEvent {
            at: r.at,
            kind: r.kind,
            session_id: r.session_id,
            anchor_id: r.anchor_id,
            address: r.address,
            detail: r.detail,
        })
        .collect())
}

//! Queries against the accounts database (D1). Schema: `migrations/`.

use std::collections::BTreeMap;

use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, Result};

use orbit_shared::revocation::OpenCredentials;
use orbit_shared::router::PairedAnchor;

use crate::hub::Revoked;

/// What an upgrade needs to know about a token's session.
#[derive(Debug, Deserialize)]
pub struct SessionRow {
    pub user_id: String,
    pub kind: String,
    pub anchor_id: Option<String>,
    pub revoked_at: Option<f64>,
    pub anchor_revoked_at: Option<f64>,
    /// When the session lapses (ms), if it does: it follows its refresh token.
    #[serde(default)]
    pub expires_at: Option<f64>,
    /// When the session last proved a way in (ms; step-up), if ever.
    #[serde(default)]
    pub verified_at: Option<f64>,
}

/// The session row with its anchor's revocation, if any.
pub async fn session(db: &D1Database, session_id: &str) -> Result<Option<SessionRow>> {
    db.prepare(
        "SELECT s.user_id, s.kind, s.anchor_id, s.revoked_at, a.revoked_at AS anchor_revoked_at, \
         s.expires_at, s.verified_at \
         FROM sessions s LEFT JOIN anchors a ON a.id = s.anchor_id WHERE s.id = ?1",
    )
    .bind(&[JsValue::from_str(session_id)])?
    .first::<SessionRow>(None)
    .await
}

#[derive(Deserialize)]
struct AnchorRow {
    id: String,
    name: String,
}

/// The user's anchors that are not revoked.
pub async fn paired_anchors(db: &D1Database, user_id: &str) -> Result<Vec<PairedAnchor>> {
    let rows = db
        .prepare("SELECT id, name FROM anchors WHERE user_id = ?1 AND revoked_at IS NULL")
        .bind(&[JsValue::from_str(user_id)])?
        .all()
        .await?
        .results::<AnchorRow>()?;
    Ok(rows
        .into_iter()
        .map(|r| PairedAnchor {
            anchor_id: r.id,
            name: r.name,
        })
        .collect())
}

#[derive(Deserialize)]
struct RevokedRow {
    kind: String,
    id: String,
}

/// Which of `open`'s sessions and anchors are revoked: one read whatever their number (the ids
/// travel as two JSON arrays, not as one bound parameter each).
pub async fn revoked_among(db: &D1Database, open: &OpenCredentials) -> Result<Vec<Revoked>> {
    let sessions = serde_json::to_string(&open.sessions)?;
    let anchors = serde_json::to_string(&open.anchors)?;
    let rows = db
        .prepare(
            "SELECT 'session' AS kind, id FROM sessions WHERE revoked_at IS NOT NULL \
             AND id IN (SELECT value FROM json_each(?1)) \
             UNION ALL SELECT 'anchor' AS kind, id FROM anchors WHERE revoked_at IS NOT NULL \
             AND id IN (SELECT value FROM json_each(?2))",
        )
        .bind(&[JsValue::from_str(&sessions), JsValue::from_str(&anchors)])?
        .all()
        .await?
        .results::<RevokedRow>()?;
    Ok(rows
        .into_iter()
        .map(|r| match r.kind.as_str() {
            "anchor" => Revoked::Anchor(r.id),
            _ => Revoked::Session(r.id),
        })
        .collect())
}

fn num(ms: u64) -> JsValue {
    // Milliseconds since the epoch stay far below 2^53.
    JsValue::from_f64(ms as f64)
}

pub async fn insert_user(db: &D1Database, user_id: &str, now_ms: u64) -> Result<()> {
    db.prepare("INSERT OR IGNORE INTO users (id, created_at) VALUES (?1, ?2)")
        .bind(&[JsValue::from_str(user_id), num(now_ms)])?
        .run()
        .await?;
    Ok(())
}

pub async fn insert_anchor(
    db: &D1Database,
    anchor_id: &str,
    user_id: &str,
    name: &str,
    now_ms: u64,
) -> Result<()> {
    db.prepare("INSERT INTO anchors (id, user_id, name, created_at) VALUES (?1, ?2, ?3, ?4)")
        .bind(&[
            JsValue::from_str(anchor_id),
            JsValue::from_str(user_id),
            JsValue::from_str(name),
            num(now_ms),
        ])?
        .run()
        .await?;
    Ok(())
}

/// Forgets when session `session_id` last proved a way in (development API: a stale session
/// without waiting out the step-up window).
pub async fn forget_verification(db: &D1Database, session_id: &str) -> Result<()> {
    db.prepare("UPDATE sessions SET verified_at = NULL WHERE id = ?1")
        .bind(&[JsValue::from_str(session_id)])?
        .run()
        .await?;
    Ok(())
}

pub async fn insert_session(
    db: &D1Database,
    session_id: &str,
    user_id: &str,
    anchor_id: Option<&str>,
    now_ms: u64,
) -> Result<()> {
    let kind = if anchor_id.is_some() { "anchor" } else { "web" };
    // A development web session stands for a user who just signed in: fresh for step-up, like
    // a real sign-in's (anchors never are).
    let verified_at = if anchor_id.is_some() {
        JsValue::NULL
    } else {
        num(now_ms)
    };
    db.prepare(
        "INSERT INTO sessions (id, user_id, kind, anchor_id, created_at, verified_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .bind(&[
        JsValue::from_str(session_id),
        JsValue::from_str(user_id),
        JsValue::from_str(kind),
        anchor_id.map_or(JsValue::NULL, JsValue::from_str),
        num(now_ms),
        verified_at,
    ])?
    .run()
    .await?;
    Ok(())
}

#[derive(Deserialize)]
struct Owner {
    user_id: String,
}

/// Revokes a session; returns its user, or `None` when there is no such session.
pub async fn revoke_session(
    db: &D1Database,
    session_id: &str,
    now_ms: u64,
) -> Result<Option<String>> {
    let owner = db
        .prepare(
            "UPDATE sessions SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1 RETURNING user_id",
        )
        .bind(&[JsValue::from_str(session_id), num(now_ms)])?
        .first::<Owner>(None)
        .await?;
    Ok(owner.map(|o| o.user_id))
}

/// Revokes an anchor; returns its user, or `None` when there is no such anchor.
pub async fn revoke_anchor(
    db: &D1Database,
    anchor_id: &str,
    now_ms: u64,
) -> Result<Option<String>> {
    let owner = db
        .prepare(
            "UPDATE anchors SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1 RETURNING user_id",
        )
        .bind(&[JsValue::from_str(anchor_id), num(now_ms)])?
        .first::<Owner>(None)
        .await?;
    Ok(owner.map(|o| o.user_id))
}

/// The tables strangers can write to, as counted by [`row_counts`].
const STRANGER_TABLES: [&str; 5] = [
    "passkey_challenges",
    "totp_enrollments",
    "device_grants",
    "rate_limits",
    "security_events",
];

#[derive(Deserialize)]
struct Count {
    n: u64,
}

/// How many rows each table that unauthenticated requests write holds, by table name; with
/// `address`, also `securityEventsOfAddress`; with `before` (ms), also
/// `passkeyChallengesBefore` (those created at or before then). For the development API's
/// `GET /__dev/rows`: tests watch these stay bounded and expire.
pub async fn row_counts(
    db: &D1Database,
    address: Option<&str>,
    before: Option<u64>,
) -> Result<BTreeMap<String, u64>> {
    let mut names: Vec<String> = STRANGER_TABLES.iter().map(|t| (*t).to_string()).collect();
    let mut statements: Vec<_> = STRANGER_TABLES
        .iter()
        .map(|t| db.prepare(format!("SELECT COUNT(*) AS n FROM {t}")))
        .collect();
    if let Some(address) = address {
        names.push("securityEventsOfAddress".into());
        statements.push(
            db.prepare("SELECT COUNT(*) AS n FROM security_events WHERE address = ?1")
                .bind(&[JsValue::from_str(address)])?,
        );
    }
    if let Some(before) = before {
        names.push("passkeyChallengesBefore".into());
        statements.push(
            db.prepare("SELECT COUNT(*) AS n FROM passkey_challenges WHERE created_at <= ?1")
                .bind(&[JsValue::from_f64(before as f64)])?,
        );
    }
    let results = db.batch(statements).await?;
    let mut counts = BTreeMap::new();
    for (name, result) in names.into_iter().zip(results) {
        let n = result.results::<Count>()?.first().map_or(0, |c| c.n);
        counts.insert(name, n);
    }
    Ok(counts)
}

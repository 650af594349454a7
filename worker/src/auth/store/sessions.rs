//! `sessions` and `refresh_tokens`.
//!
//! A session is a row in `sessions` (kind `web` or `anchor`). It owns a chain of refresh tokens
//! of which exactly one is live; each refresh spends it and writes the next in one transaction,
//! and slides the session's `expires_at` to the new token's expiry. Only hashes of refresh
//! tokens are stored.

use serde::Deserialize;
use worker::D1PreparedStatement;

use orbit_protocol::auth::{SessionSummary, SignInMethods};
use orbit_shared::auth::refresh::IssuedRefresh;

use super::accounts::{read_ways_in, ways_in_statement};
use super::{first_row, int, opt_int, opt_text, returned, text, Store, StoreResult};

/// A session about to be created, with its first refresh token (ids and token drawn by the
/// caller).
pub struct NewSession {
    pub session_id: String,
    pub user_id: String,
    /// `Some` for an anchor session.
    pub anchor_id: Option<String>,
    /// The first refresh token: only its hash and expiry are stored.
    pub refresh: IssuedRefresh,
    /// The User-Agent a web session starts with, shown in the session list.
    pub client: Option<String>,
    /// The session opens by proving a way in (a sign-in or sign-up, not an anchor's pairing):
    /// it starts fresh for step-up (`verified_at` = now).
    pub verified: bool,
}

impl NewSession {
    fn kind(&self) -> &'static str {
        if self.anchor_id.is_some() {
            "anchor"
        } else {
            "web"
        }
    }
}

/// What a new session's insert is conditioned on, within its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Guard {
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

/// The statements that write `session` and its refresh token, taking effect only if `guard`
/// holds when they run (they can follow a conditional insert or update in one batch).
pub(super) fn statements(
    store: &Store,
    session: &NewSession,
    guard: Guard,
) -> StoreResult<Vec<D1PreparedStatement>> {
    let expires_ms = session.refresh.expires_at.saturating_mul(1000);
    Ok(vec![
        store
            .db
            .prepare(format!(
                "INSERT INTO sessions (id, user_id, kind, anchor_id, created_at, expires_at, last_used_at, client, verified_at) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?5, ?7, ?8 WHERE {}",
                guard.sql()
            ))
            .bind(&[
                text(&session.session_id),
                text(&session.user_id),
                text(session.kind()),
                opt_text(session.anchor_id.as_deref()),
                int(store.now_ms),
                int(expires_ms),
                opt_text(session.client.as_deref()),
                opt_int(session.verified.then_some(store.now_ms)),
            ])?,
        store
            .db
            .prepare(
                "INSERT INTO refresh_tokens (hash, session_id, created_at, expires_at) \
                 SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM sessions WHERE id = ?2)",
            )
            .bind(&[
                text(&session.refresh.hash),
                text(&session.session_id),
                int(store.now_ms),
                int(expires_ms),
            ])?,
    ])
}

/// Writes the session of an existing user.
pub async fn create(store: &Store, session: &NewSession) -> StoreResult<()> {
    store
        .db
        .batch(statements(store, session, Guard::UserExists)?)
        .await?;
    Ok(())
}

/// A stored refresh token with its session (and the session's anchor's revocation), and the row
/// of the token it was exchanged for, if any.
#[derive(Debug, Deserialize)]
pub struct RefreshRow {
    pub hash: String,
    /// ms.
    pub expires_at: u64,
    pub used_at: Option<u64>,
    pub session_id: String,
    pub user_id: String,
    /// `web` or `anchor`.
    pub kind: String,
    pub anchor_id: Option<String>,
    pub revoked_at: Option<u64>,
    pub anchor_revoked_at: Option<u64>,
    /// The successor's hash, when its row exists.
    pub next_hash: Option<String>,
    /// ms.
    pub next_expires_at: Option<u64>,
    pub next_used_at: Option<u64>,
}

/// The refresh token with this lookup hash, with its successor's row.
pub async fn find_refresh(store: &Store, hash: &str) -> StoreResult<Option<RefreshRow>> {
    Ok(store
        .db
        .prepare(
            "SELECT r.hash, r.expires_at, r.used_at, s.id AS session_id, s.user_id, s.kind, \
             s.anchor_id, s.revoked_at, a.revoked_at AS anchor_revoked_at, \
             n.hash AS next_hash, n.expires_at AS next_expires_at, n.used_at AS next_used_at \
             FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id \
             LEFT JOIN anchors a ON a.id = s.anchor_id \
             LEFT JOIN refresh_tokens n ON n.hash = r.replaced_by WHERE r.hash = ?1",
        )
        .bind(&[text(hash)])?
        .first::<RefreshRow>(None)
        .await?)
}

/// Spends the token `spent` of `session_id` and writes `next` in one transaction; false if the
/// token was already spent (by a concurrent request), in which case nothing is written.
///
/// The update names the next token, and the inserts run only if the spent token names it. Two
/// concurrent requests with one token derive the same successor, so the losing request's guard
/// holds as well: its insert gives way to the winner's row (`ON CONFLICT DO NOTHING`) and the
/// session's expiry is the stored successor's, whichever request stored it.
pub async fn rotate(
    store: &Store,
    spent: &str,
    session_id: &str,
    next: &IssuedRefresh,
) -> StoreResult<bool> {
    let expires_ms = next.expires_at.saturating_mul(1000);
    let results = store
        .db
        .batch(vec![
            store
                .db
                .prepare(
                    "UPDATE refresh_tokens SET used_at = ?2, replaced_by = ?3 \
                     WHERE hash = ?1 AND used_at IS NULL RETURNING hash",
                )
                .bind(&[text(spent), int(store.now_ms), text(&next.hash)])?,
            store
                .db
                .prepare(
                    "INSERT INTO refresh_tokens (hash, session_id, created_at, expires_at) \
                     SELECT ?3, ?2, ?4, ?5 \
                     WHERE EXISTS (SELECT 1 FROM refresh_tokens WHERE hash = ?1 AND replaced_by = ?3) \
                     ON CONFLICT (hash) DO NOTHING",
                )
                .bind(&[
                    text(spent),
                    text(session_id),
                    text(&next.hash),
                    int(store.now_ms),
                    int(expires_ms),
                ])?,
            store
                .db
                .prepare(
                    "UPDATE sessions SET last_used_at = ?4, \
                     expires_at = (SELECT expires_at FROM refresh_tokens WHERE hash = ?3) \
                     WHERE id = ?2 \
                     AND EXISTS (SELECT 1 FROM refresh_tokens WHERE hash = ?1 AND replaced_by = ?3) \
                     AND EXISTS (SELECT 1 FROM refresh_tokens WHERE hash = ?3)",
                )
                .bind(&[
                    text(spent),
                    text(session_id),
                    text(&next.hash),
                    int(store.now_ms),
                ])?,
        ])
        .await?;
    Ok(returned(results.first()))
}

/// Records that `user_id`'s live web session `session_id` proved a way in now (a passkey
/// step-up); false if it is not such a session.
pub async fn mark_verified(store: &Store, user_id: &str, session_id: &str) -> StoreResult<bool> {
    Ok(store
        .db
        .prepare(verified_sql(""))
        .bind(&[text(session_id), text(user_id), int(store.now_ms)])?
        .first::<serde_json::Value>(None)
        .await?
        .is_some())
}

/// The update that stamps `verified_at` (`?3`) on `user_id`'s (`?2`) live web session `?1`,
/// under an extra `condition`.
pub(super) fn verified_sql(condition: &str) -> String {
    format!(
        "UPDATE sessions SET verified_at = ?3 WHERE id = ?1 AND user_id = ?2 AND kind = 'web' \
         AND revoked_at IS NULL{condition} RETURNING id"
    )
}

/// Marks a session revoked (idempotent).
pub async fn revoke(store: &Store, session_id: &str) -> StoreResult<()> {
    store
        .db
        .prepare("UPDATE sessions SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1")
        .bind(&[text(session_id), int(store.now_ms)])?
        .run()
        .await?;
    Ok(())
}

/// Revokes `user_id`'s live web session `session_id`; false if the user has no such session.
pub async fn revoke_web(store: &Store, user_id: &str, session_id: &str) -> StoreResult<bool> {
    Ok(store
        .db
        .prepare(
            "UPDATE sessions SET revoked_at = ?3 WHERE id = ?1 AND user_id = ?2 AND kind = 'web' \
             AND revoked_at IS NULL RETURNING id",
        )
        .bind(&[text(session_id), text(user_id), int(store.now_ms)])?
        .first::<serde_json::Value>(None)
        .await?
        .is_some())
}

/// What `GET /auth/session` shows of the account and the session.
#[derive(Debug, Deserialize)]
pub struct WhoRow {
    pub name: Option<String>,
    pub created_at: u64,
    pub session_created_at: u64,
    pub session_expires_at: Option<u64>,
}

/// The account and session of `user_id`'s `session_id`, with the account's ways in; `None` if
/// the session is not the user's.
pub async fn whoami(
    store: &Store,
    user_id: &str,
    session_id: &str,
) -> StoreResult<Option<(WhoRow, SignInMethods)>> {
    let results = store
        .db
        .batch(vec![
            store
                .db
                .prepare(
                    "SELECT u.name, u.created_at, s.created_at AS session_created_at, \
                     s.expires_at AS session_expires_at \
                     FROM users u JOIN sessions s ON s.user_id = u.id WHERE u.id = ?1 AND s.id = ?2",
                )
                .bind(&[text(user_id), text(session_id)])?,
            ways_in_statement(store, user_id)?,
        ])
        .await?;
    let Some(row) = first_row::<WhoRow>(results.first())? else {
        return Ok(None);
    };
    Ok(Some((row, read_ways_in(results.get(1))?)))
}

#[derive(Deserialize)]
struct SessionListRow {
    id: String,
    created_at: u64,
    last_used_at: Option<u64>,
    expires_at: Option<u64>,
    client: Option<String>,
}

/// `user_id`'s live web sessions, newest first (at most 200); `current` marks `current_id`.
pub async fn list_web(
    store: &Store,
    user_id: &str,
    current_id: &str,
) -> StoreResult<Vec<SessionSummary>> {
    let rows = store
        .db
        .prepare(
            "SELECT id, created_at, last_used_at, expires_at, client FROM sessions \
             WHERE user_id = ?1 AND kind = 'web' AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > ?2) ORDER BY created_at DESC LIMIT 200",
        )
        .bind(&[text(user_id), int(store.now_ms)])?
        .all()
        .await?
        .results::<SessionListRow>()?;
    Ok(rows
        .into_iter()
        .map(|r| SessionSummary {
            current: r.id == current_id,
            session_id: r.id,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            expires_at: r.expires_at,
            client: r.client,
        })
        .collect())
}

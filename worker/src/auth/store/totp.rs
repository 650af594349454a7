//! `totp` (a user's confirmed secret, sealed, with the step of the last accepted code) and
//! `totp_enrollments` (secrets waiting for their first code, 10 minutes).
//!
//! The step is only ever moved forward by a conditional update (`… WHERE last_step < step`), so
//! of two requests racing with one code only one wins.

use serde::Deserialize;

use super::accounts::{self, CreateAccountError, NewAccount};
use super::sessions::{self, Guard, NewSession};
use super::{int, opt_text, returned, text, Store, StoreResult};

/// An enrolment to store.
pub struct NewEnrollment<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    /// Confirming it creates the account `name`.
    pub new_account: bool,
    pub name: Option<&'a str>,
    pub invite_hash: Option<&'a str>,
    pub secret_sealed: &'a str,
    /// ms.
    pub expires_at: u64,
}

/// How many expired enrolments one insert deletes (more than it adds, so they cannot pile up).
const DELETE_PER_INSERT: u64 = 64;

/// Stores an enrolment, deleting a bounded number of expired ones.
pub async fn insert_enrollment(store: &Store, e: &NewEnrollment<'_>) -> StoreResult<()> {
    let sweep = store
        .db
        .prepare(
            "DELETE FROM totp_enrollments WHERE id IN \
             (SELECT id FROM totp_enrollments WHERE expires_at <= ?1 LIMIT ?2)",
        )
        .bind(&[int(store.now_ms), int(DELETE_PER_INSERT)])?;
    let insert = store
        .db
        .prepare(
            "INSERT INTO totp_enrollments (id, user_id, new_account, name, invite_hash, secret_sealed, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(&[
            text(e.id),
            text(e.user_id),
            int(u64::from(e.new_account)),
            opt_text(e.name),
            opt_text(e.invite_hash),
            text(e.secret_sealed),
            int(store.now_ms),
            int(e.expires_at),
        ])?;
    store.db.batch(vec![sweep, insert]).await?;
    Ok(())
}

/// A stored, unexpired enrolment.
#[derive(Debug, Deserialize)]
pub struct EnrollmentRow {
    pub id: String,
    pub user_id: String,
    pub new_account: u64,
    pub name: Option<String>,
    pub invite_hash: Option<String>,
    pub secret_sealed: String,
}

impl EnrollmentRow {
    /// Whether confirming it creates an account.
    pub fn is_new_account(&self) -> bool {
        self.new_account == 1
    }
}

const ENROLLMENT_COLUMNS: &str = "id, user_id, new_account, name, invite_hash, secret_sealed";

/// The unexpired enrolment `id`.
pub async fn enrollment(store: &Store, id: &str) -> StoreResult<Option<EnrollmentRow>> {
    Ok(store
        .db
        .prepare(format!(
            "SELECT {ENROLLMENT_COLUMNS} FROM totp_enrollments WHERE id = ?1 AND expires_at > ?2"
        ))
        .bind(&[text(id), int(store.now_ms)])?
        .first::<EnrollmentRow>(None)
        .await?)
}

/// The signed-in `user_id`'s latest unexpired enrolment.
pub async fn latest_enrollment(store: &Store, user_id: &str) -> StoreResult<Option<EnrollmentRow>> {
    Ok(store
        .db
        .prepare(format!(
            "SELECT {ENROLLMENT_COLUMNS} FROM totp_enrollments \
             WHERE user_id = ?1 AND new_account = 0 AND expires_at > ?2 \
             ORDER BY created_at DESC LIMIT 1"
        ))
        .bind(&[text(user_id), int(store.now_ms)])?
        .first::<EnrollmentRow>(None)
        .await?)
}

/// A user's confirmed secret.
#[derive(Debug, Deserialize)]
pub struct SecretRow {
    pub user_id: String,
    pub secret_sealed: String,
    pub last_step: Option<u64>,
}

/// The TOTP secret of the account named `name` (none: no such account, or no TOTP).
pub async fn secret_by_name(store: &Store, name: &str) -> StoreResult<Option<SecretRow>> {
    Ok(store
        .db
        .prepare(
            "SELECT u.id AS user_id, t.secret_sealed, t.last_step \
             FROM users u JOIN totp t ON t.user_id = u.id WHERE u.name = ?1",
        )
        .bind(&[text(name)])?
        .first::<SecretRow>(None)
        .await?)
}

/// `user_id`'s TOTP secret, if TOTP is on.
pub async fn secret_of(store: &Store, user_id: &str) -> StoreResult<Option<SecretRow>> {
    Ok(store
        .db
        .prepare("SELECT user_id, secret_sealed, last_step FROM totp WHERE user_id = ?1")
        .bind(&[text(user_id)])?
        .first::<SecretRow>(None)
        .await?)
}

/// Records `step` as the last accepted one and, in the same transaction, stamps the web session
/// `session_id` of `user_id` as having proved a way in (step-up); false (and no stamp) if a
/// concurrent request stored this step (or a later one) first: then the code is a replay.
pub async fn step_up(
    store: &Store,
    user_id: &str,
    session_id: &str,
    step: u64,
) -> StoreResult<bool> {
    let results = store
        .db
        .batch(vec![
            store
                .db
                .prepare(
                    "UPDATE totp SET last_step = ?2, last_session_id = ?3 WHERE user_id = ?1 \
                     AND (last_step IS NULL OR last_step < ?2) RETURNING user_id",
                )
                .bind(&[text(user_id), int(step), text(session_id)])?,
            store
                .db
                .prepare(sessions::verified_sql(
                    " AND EXISTS (SELECT 1 FROM totp WHERE user_id = ?2 AND last_step = ?4 \
                     AND last_session_id = ?1)",
                ))
                .bind(&[
                    text(session_id),
                    text(user_id),
                    int(store.now_ms),
                    int(step),
                ])?,
        ])
        .await?;
    Ok(returned(results.first()))
}

/// Records the step of a sign-in's code and opens its session in one transaction; false (and
/// no session) if a concurrent request with the same code recorded the step first.
pub async fn sign_in(store: &Store, step: u64, session: &NewSession) -> StoreResult<bool> {
    let mut statements = vec![store
        .db
        .prepare(
            "UPDATE totp SET last_step = ?2, last_session_id = ?3 WHERE user_id = ?1 \
             AND (last_step IS NULL OR last_step < ?2) RETURNING user_id",
        )
        .bind(&[text(&session.user_id), int(step), text(&session.session_id)])?];
    statements.extend(sessions::statements(
        store,
        session,
        Guard::TotpStepRecorded,
    )?);
    let results = store.db.batch(statements).await?;
    Ok(returned(results.first()))
}

/// The statements that confirm `enrollment` (its code was `step`): the secret becomes the
/// user's (replacing any), the enrolment goes. Both wait for the user row, so they can follow
/// an account's creation in one batch.
fn confirmation(
    store: &Store,
    enrollment: &EnrollmentRow,
    step: u64,
) -> StoreResult<[worker::D1PreparedStatement; 2]> {
    Ok([
        store
            .db
            .prepare(
                "INSERT INTO totp (user_id, secret_sealed, last_step, confirmed_at) \
                 SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM users WHERE id = ?1) \
                 ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, \
                 last_step = excluded.last_step, confirmed_at = excluded.confirmed_at",
            )
            .bind(&[
                text(&enrollment.user_id),
                text(&enrollment.secret_sealed),
                int(step),
                int(store.now_ms),
            ])?,
        store
            .db
            .prepare(
                "DELETE FROM totp_enrollments WHERE id = ?1 AND EXISTS (SELECT 1 FROM users WHERE id = ?2)",
            )
            .bind(&[text(&enrollment.id), text(&enrollment.user_id)])?,
    ])
}

/// Confirms a signed-in user's enrolment: TOTP is on (or replaced).
pub async fn enable(store: &Store, enrollment: &EnrollmentRow, step: u64) -> StoreResult<()> {
    store
        .db
        .batch(confirmation(store, enrollment, step)?.into())
        .await?;
    Ok(())
}

/// Confirms a sign-up's enrolment: the account, its TOTP and its first session, in one
/// transaction.
pub async fn create_account(
    store: &Store,
    account: &NewAccount,
    enrollment: &EnrollmentRow,
    step: u64,
    session: &NewSession,
) -> Result<(), CreateAccountError> {
    let [totp_insert, enrollment_delete] = confirmation(store, enrollment, step)?;
    let mut rest = vec![totp_insert];
    rest.extend(sessions::statements(store, session, Guard::UserExists)?);
    rest.push(enrollment_delete);
    accounts::create(store, account, rest).await
}

/// Turns `user_id`'s TOTP off.
pub async fn disable(store: &Store, user_id: &str) -> StoreResult<()> {
    store
        .db
        .prepare("DELETE FROM totp WHERE user_id = ?1")
        .bind(&[text(user_id)])?
        .run()
        .await?;
    Ok(())
}

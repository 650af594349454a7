//! `passkey_challenges`: every WebAuthn ceremony's challenge, single use.
//!
//! A challenge is stored with its ceremony, an expiry and, for registrations, the user the
//! passkey is for (or the new account's allocated id, name and invite). `verify` takes it with
//! one conditional update (`… WHERE used_at IS NULL AND expires_at > now RETURNING …`) that also
//! names the ceremony and the caller, so a challenge serves one attempt only and nobody else's.

use serde::Deserialize;
use worker::{D1PreparedStatement, D1Result};

use orbit_shared::webauthn::base64url;

use super::{first_row, int, opt_text, text, Store, StoreError, StoreResult};

/// How many rows past their retention one issue deletes: more than it adds, so expired rows
/// cannot pile up, and few enough that one request's work stays small.
pub const DELETE_PER_ISSUE: u64 = 64;

/// The ceremonies, as stored in `passkey_challenges.ceremony`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ceremony {
    Register,
    Login,
    /// A signed-in session proving a way in again (docs/auth.md, Step-up).
    StepUp,
}

impl Ceremony {
    pub fn as_str(self) -> &'static str {
        match self {
            Ceremony::Register => "register",
            Ceremony::Login => "login",
            Ceremony::StepUp => "step_up",
        }
    }
}

/// Whose challenge a `verify` may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taker<'a> {
    /// A sign-in: anyone (the challenge names nobody).
    Anyone,
    /// A sign-up: only a challenge issued for a new account.
    NewAccount,
    /// A signed-in user adding a passkey: only a challenge issued to this user.
    User(&'a str),
    /// A step-up: only a challenge issued to this user's very session.
    Session {
        user_id: &'a str,
        session_id: &'a str,
    },
}

/// A challenge to store.
pub struct NewChallenge<'a> {
    pub id: &'a str,
    pub ceremony: Ceremony,
    pub challenge: &'a [u8],
    /// Registrations: the user the passkey is for (a new account's allocated id).
    pub user_id: Option<&'a str>,
    pub new_account: bool,
    /// A new account's name and the invite its sign-up started with.
    pub name: Option<&'a str>,
    pub invite_hash: Option<&'a str>,
    /// Step-ups: the session that asked.
    pub session_id: Option<&'a str>,
    /// ms.
    pub expires_at: u64,
    /// How long the row is kept after it expires, in ms (so a late `verify` still hears
    /// `challenge_expired` rather than `challenge_unknown`).
    pub retention_ms: u64,
}

/// Stores a challenge, deleting (a bounded number of) those past their retention.
pub async fn issue(store: &Store, c: &NewChallenge<'_>) -> StoreResult<()> {
    store
        .db
        .batch(vec![
            store
                .db
                .prepare(
                    "DELETE FROM passkey_challenges WHERE id IN \
                     (SELECT id FROM passkey_challenges WHERE expires_at <= ?1 LIMIT ?2)",
                )
                .bind(&[
                    int(store.now_ms.saturating_sub(c.retention_ms)),
                    int(DELETE_PER_ISSUE),
                ])?,
            store
                .db
                .prepare(
                    "INSERT INTO passkey_challenges \
                     (id, ceremony, challenge, user_id, new_account, name, invite_hash, created_at, expires_at, session_id) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .bind(&[
                    text(c.id),
                    text(c.ceremony.as_str()),
                    text(&base64url::encode(c.challenge)),
                    opt_text(c.user_id),
                    int(u64::from(c.new_account)),
                    opt_text(c.name),
                    opt_text(c.invite_hash),
                    int(store.now_ms),
                    int(c.expires_at),
                    opt_text(c.session_id),
                ])?,
        ])
        .await?;
    Ok(())
}

/// The statement that takes challenge `id` for `ceremony` and `taker` (once, before it
/// expires), to batch with the lookups of a `verify`; read its result with [`read_taken`].
pub(super) fn take_statement(
    store: &Store,
    id: &str,
    ceremony: Ceremony,
    taker: Taker<'_>,
) -> StoreResult<D1PreparedStatement> {
    let mut args = vec![text(id), text(ceremony.as_str()), int(store.now_ms)];
    let condition = match taker {
        Taker::Anyone => "",
        Taker::NewAccount => " AND new_account = 1",
        Taker::User(user_id) => {
            args.push(text(user_id));
            " AND new_account = 0 AND user_id = ?4"
        }
        Taker::Session {
            user_id,
            session_id,
        } => {
            args.push(text(user_id));
            args.push(text(session_id));
            " AND new_account = 0 AND user_id = ?4 AND session_id = ?5"
        }
    };
    Ok(store
        .db
        .prepare(format!(
            "UPDATE passkey_challenges SET used_at = ?3 \
             WHERE id = ?1 AND ceremony = ?2 AND used_at IS NULL AND expires_at > ?3{condition} \
             RETURNING challenge, user_id, new_account, name, invite_hash"
        ))
        .bind(&args)?)
}

#[derive(Deserialize)]
struct TakenRow {
    challenge: String,
    user_id: Option<String>,
    new_account: u64,
    name: Option<String>,
    invite_hash: Option<String>,
}

/// A taken challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub bytes: Vec<u8>,
    pub user_id: Option<String>,
    pub new_account: bool,
    pub name: Option<String>,
    pub invite_hash: Option<String>,
}

/// The challenge [`take_statement`] took, if it did.
pub(super) fn read_taken(result: Option<&D1Result>) -> StoreResult<Option<Taken>> {
    let Some(row) = first_row::<TakenRow>(result)? else {
        return Ok(None);
    };
    let bytes = base64url::decode(&row.challenge)
        .ok_or(StoreError::Corrupt("a stored challenge is not base64url"))?;
    Ok(Some(Taken {
        bytes,
        user_id: row.user_id,
        new_account: row.new_account == 1,
        name: row.name,
        invite_hash: row.invite_hash,
    }))
}

/// A challenge as stored, to tell why it could not be taken.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChallengeState {
    pub ceremony: String,
    pub user_id: Option<String>,
    pub new_account: u64,
    pub used_at: Option<u64>,
    /// ms.
    pub expires_at: u64,
    #[serde(default)]
    pub session_id: Option<String>,
}

/// Challenge `id` as stored, whoever it is for.
pub async fn state(store: &Store, id: &str) -> StoreResult<Option<ChallengeState>> {
    Ok(store
        .db
        .prepare(
            "SELECT ceremony, user_id, new_account, used_at, expires_at, session_id \
             FROM passkey_challenges WHERE id = ?1",
        )
        .bind(&[text(id)])?
        .first::<ChallengeState>(None)
        .await?)
}

//! `users` and `invites`: account names, the sign-up rule, invites, and the ways an account
//! can sign in.
//!
//! **Creating an account** is the one write here with a rule in it (SPEC §2; docs/auth.md
//! "Accounts"): the `users` row is inserted with a `WHERE` that encodes [`Admission`] — no
//! named account yet, or the invite just consumed by this very user — in the same batch as the
//! first credential and session, which are conditioned on the user row existing. So two racing
//! bootstrap sign-ups cannot both win and an invite is spent once. "Account" means a user with a
//! name: users made by the development API have none and do not close bootstrap.

use serde::Deserialize;
use worker::{D1PreparedStatement, D1Result};

use orbit_protocol::auth::SignInMethods;

use super::{first_row, int, returned, text, Store, StoreError, StoreResult};

/// Under which rule an account is being created, decided when its first credential is
/// confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// `ORBIT_OPEN_REGISTRATION=true`: anyone.
    Open,
    /// The holder of this invite (its storage hash), which the creation spends.
    Invite { hash: String },
    /// Only while no named account exists.
    Bootstrap,
}

impl Admission {
    /// The rule at confirmation: open registration as configured now, else the invite the
    /// sign-up started with, else bootstrap.
    pub fn at_confirmation(open_registration: bool, invite_hash: Option<&str>) -> Self {
        match (open_registration, invite_hash) {
            (true, _) => Admission::Open,
            (false, Some(hash)) => Admission::Invite {
                hash: hash.to_string(),
            },
            (false, None) => Admission::Bootstrap,
        }
    }
}

/// An account about to be created, the moment its first sign-in method is confirmed.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub user_id: String,
    pub name: String,
    pub admission: Admission,
}

/// Why an account was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateAccountError {
    /// Someone took the name since the sign-up started (the unique index refused it).
    #[error("an account with this name exists")]
    NameTaken,
    /// The invite was spent or expired since the sign-up started.
    #[error("the invite is unknown, expired or already used")]
    InviteInvalid,
    /// An account was created since this bootstrap sign-up started.
    #[error("new accounts need an invite from someone who has one")]
    RegistrationClosed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether an account already has this (canonical) name.
pub async fn name_taken(store: &Store, name: &str) -> StoreResult<bool> {
    Ok(store
        .db
        .prepare("SELECT 1 AS x FROM users WHERE name = ?1")
        .bind(&[text(name)])?
        .first::<serde_json::Value>(None)
        .await?
        .is_some())
}

/// Whether the invite with this storage hash is unused and unexpired.
pub async fn invite_is_live(store: &Store, hash: &str) -> StoreResult<bool> {
    Ok(store
        .db
        .prepare(
            "SELECT 1 AS x FROM invites WHERE code_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
        )
        .bind(&[text(hash), int(store.now_ms)])?
        .first::<serde_json::Value>(None)
        .await?
        .is_some())
}

/// Whether any named account exists (which ends bootstrap).
pub async fn any_account(store: &Store) -> StoreResult<bool> {
    Ok(store
        .db
        .prepare("SELECT 1 AS x FROM users WHERE name IS NOT NULL LIMIT 1")
        .first::<serde_json::Value>(None)
        .await?
        .is_some())
}

#[derive(Deserialize)]
struct NameRow {
    name: Option<String>,
}

/// The name of `user_id`'s account (`None`: no such user, or a development user).
pub async fn name_of(store: &Store, user_id: &str) -> StoreResult<Option<String>> {
    Ok(name_of_statement(store, user_id)?
        .first::<NameRow>(None)
        .await?
        .and_then(|r| r.name))
}

/// The query behind [`name_of`], to batch with others; read it with [`read_name`].
pub(super) fn name_of_statement(store: &Store, user_id: &str) -> StoreResult<D1PreparedStatement> {
    Ok(store
        .db
        .prepare("SELECT name FROM users WHERE id = ?1")
        .bind(&[text(user_id)])?)
}

/// Reads the result of [`name_of_statement`].
pub(super) fn read_name(result: Option<&D1Result>) -> StoreResult<Option<String>> {
    Ok(first_row::<NameRow>(result)?.and_then(|r| r.name))
}

/// Stores an invite (its hash only) made by `created_by`, live until `expires_at` (ms).
pub async fn insert_invite(
    store: &Store,
    hash: &str,
    created_by: &str,
    expires_at: u64,
) -> StoreResult<()> {
    store
        .db
        .prepare(
            "INSERT INTO invites (code_hash, created_by, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(&[
            text(hash),
            text(created_by),
            int(store.now_ms),
            int(expires_at),
        ])?
        .run()
        .await?;
    Ok(())
}

/// The ways `user_id` can sign in.
pub async fn ways_in(store: &Store, user_id: &str) -> StoreResult<SignInMethods> {
    let result = ways_in_statement(store, user_id)?.all().await?;
    read_ways_in(Some(&result))
}

/// The query behind [`ways_in`], to batch with others; read it with [`read_ways_in`].
pub(super) fn ways_in_statement(store: &Store, user_id: &str) -> StoreResult<D1PreparedStatement> {
    Ok(store
        .db
        .prepare(
            "SELECT EXISTS (SELECT 1 FROM totp WHERE user_id = ?1) AS totp, \
             (SELECT COUNT(*) FROM passkeys WHERE user_id = ?1) AS passkeys",
        )
        .bind(&[text(user_id)])?)
}

#[derive(Deserialize)]
struct WaysRow {
    totp: u64,
    passkeys: u64,
}

/// Reads the result of [`ways_in_statement`].
pub(super) fn read_ways_in(result: Option<&D1Result>) -> StoreResult<SignInMethods> {
    let row = first_row::<WaysRow>(result)?;
    Ok(SignInMethods {
        totp: row.as_ref().is_some_and(|r| r.totp == 1),
        passkeys: row.map_or(0, |r| u32::try_from(r.passkeys).unwrap_or(u32::MAX)),
    })
}

/// The statements that create `account` if its rule allows it now; the last one is the user
/// insert, which returns the id when it took effect.
fn creation_statements(
    store: &Store,
    account: &NewAccount,
) -> StoreResult<Vec<D1PreparedStatement>> {
    let mut args = vec![
        text(&account.user_id),
        text(&account.name),
        int(store.now_ms),
    ];
    let mut statements = Vec::new();
    let insert = match &account.admission {
        Admission::Open => {
            "INSERT INTO users (id, name, created_at) VALUES (?1, ?2, ?3) RETURNING id"
        }
        Admission::Invite { hash } => {
            statements.push(
                store
                    .db
                    .prepare(
                        "UPDATE invites SET used_at = ?3, used_by = ?1 \
                         WHERE code_hash = ?2 AND used_at IS NULL AND expires_at > ?3",
                    )
                    .bind(&[text(&account.user_id), text(hash), int(store.now_ms)])?,
            );
            args.push(text(hash));
            "INSERT INTO users (id, name, created_at) SELECT ?1, ?2, ?3 \
             WHERE EXISTS (SELECT 1 FROM invites WHERE code_hash = ?4 AND used_by = ?1) RETURNING id"
        }
        Admission::Bootstrap => {
            "INSERT INTO users (id, name, created_at) SELECT ?1, ?2, ?3 \
             WHERE NOT EXISTS (SELECT 1 FROM users WHERE name IS NOT NULL) RETURNING id"
        }
    };
    statements.push(store.db.prepare(insert).bind(&args)?);
    Ok(statements)
}

/// Creates `account` and runs `rest` (its first credential and session, each conditioned on the
/// user row existing) in one transaction.
pub(super) async fn create(
    store: &Store,
    account: &NewAccount,
    rest: Vec<D1PreparedStatement>,
) -> Result<(), CreateAccountError> {
    let mut statements = creation_statements(store, account)?;
    let user_insert = statements.len() - 1;
    statements.extend(rest);
    let results = match store.db.batch(statements).await {
        Ok(results) => results,
        Err(e) => {
            // The batch failed on a unique index: the name's, or the caller's credential's.
            if name_taken(store, &account.name).await? {
                return Err(CreateAccountError::NameTaken);
            }
            return Err(StoreError::D1(e).into());
        }
    };
    if returned(results.get(user_insert)) {
        return Ok(());
    }
    Err(match account.admission {
        Admission::Invite { .. } => CreateAccountError::InviteInvalid,
        Admission::Open | Admission::Bootstrap => CreateAccountError::RegistrationClosed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_at_confirmation_follows_the_configuration_then_the_invite() {
        assert_eq!(Admission::at_confirmation(true, Some("h")), Admission::Open);
        assert_eq!(
            Admission::at_confirmation(false, Some("h")),
            Admission::Invite { hash: "h".into() }
        );
        assert_eq!(
            Admission::at_confirmation(false, None),
            Admission::Bootstrap
        );
    }
}

//! `passkeys`: registered credentials (public data only: the private key never leaves the
//! authenticator), and the batches of a ceremony's `verify` that take its challenge
//! ([`super::challenges`]) in the same round trip as the credential lookup.
//!
//! A credential id belongs to one account: a unique index refuses a second registration even
//! when two race.

use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::D1PreparedStatement;

use orbit_protocol::auth::PasskeyInfo;
use orbit_shared::webauthn::{base64url, StoredCredential};

use super::accounts::{self, CreateAccountError, NewAccount};
use super::challenges::{read_taken, take_statement, Ceremony, Taken, Taker};
use super::sessions::{self, Guard, NewSession};
use super::{all_rows, first_row, int, opt_text, returned, text, Store, StoreError, StoreResult};

/// A passkey already registered to the account, as `excludeCredentials` needs it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DescriptorRow {
    /// base64url.
    pub credential_id: String,
    /// JSON array of transport hints.
    pub transports: String,
}

/// What adding a passkey to `user_id`'s account needs: the account name and its passkeys.
pub async fn registration_context(
    store: &Store,
    user_id: &str,
) -> StoreResult<(Option<String>, Vec<DescriptorRow>)> {
    let results = store
        .db
        .batch(vec![
            accounts::name_of_statement(store, user_id)?,
            store
                .db
                .prepare("SELECT credential_id, transports FROM passkeys WHERE user_id = ?1")
                .bind(&[text(user_id)])?,
        ])
        .await?;
    Ok((
        accounts::read_name(results.first())?,
        all_rows(results.get(1))?,
    ))
}

fn exists_statement(store: &Store, credential_id: &str) -> StoreResult<D1PreparedStatement> {
    Ok(store
        .db
        .prepare("SELECT 1 AS x FROM passkeys WHERE credential_id = ?1")
        .bind(&[text(credential_id)])?)
}

/// Takes a registration challenge for `taker` and, in the same round trip, tells whether the
/// credential the answer claims (`claimed`, base64url) is registered already.
pub async fn take_for_registration(
    store: &Store,
    challenge_id: &str,
    taker: Taker<'_>,
    claimed: Option<&str>,
) -> StoreResult<(Option<Taken>, bool)> {
    let mut statements = vec![take_statement(
        store,
        challenge_id,
        Ceremony::Register,
        taker,
    )?];
    if let Some(credential_id) = claimed {
        statements.push(exists_statement(store, credential_id)?);
    }
    let results = store.db.batch(statements).await?;
    Ok((read_taken(results.first())?, returned(results.get(1))))
}

/// A registered passkey with its user's name, for a sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PasskeyRow {
    pub id: String,
    pub user_id: String,
    pub name: Option<String>,
    /// base64url.
    pub credential_id: String,
    /// base64url of the COSE key.
    pub public_key: String,
    pub sign_count: u64,
    pub user_verified: u64,
    pub backup_eligible: u64,
}

impl PasskeyRow {
    /// The credential as the verifier needs it. The user handle is the user id: Orbit made it
    /// so at registration.
    pub fn stored(&self) -> StoreResult<StoredCredential> {
        let corrupt = || StoreError::Corrupt("a stored passkey is not base64url");
        Ok(StoredCredential {
            credential_id: base64url::decode(&self.credential_id).ok_or_else(corrupt)?,
            public_key: base64url::decode(&self.public_key).ok_or_else(corrupt)?,
            sign_count: u32::try_from(self.sign_count).unwrap_or(u32::MAX),
            user_handle: self.user_id.as_bytes().to_vec(),
            user_verified: self.user_verified == 1,
            backup_eligible: self.backup_eligible == 1,
        })
    }
}

/// Takes a sign-in challenge and, in the same round trip, finds the credential the answer
/// names (`credential_id`, base64url; `None` when the answer names none properly).
pub async fn take_for_login(
    store: &Store,
    challenge_id: &str,
    credential_id: Option<&str>,
) -> StoreResult<(Option<Taken>, Option<PasskeyRow>)> {
    take_for_assertion(
        store,
        challenge_id,
        Ceremony::Login,
        Taker::Anyone,
        credential_id,
    )
    .await
}

/// Takes a step-up challenge of `user_id`'s session `session_id` and, in the same round trip,
/// finds the credential the answer names (whoever's it is: the caller checks it is theirs).
pub async fn take_for_step_up(
    store: &Store,
    challenge_id: &str,
    user_id: &str,
    session_id: &str,
    credential_id: Option<&str>,
) -> StoreResult<(Option<Taken>, Option<PasskeyRow>)> {
    take_for_assertion(
        store,
        challenge_id,
        Ceremony::StepUp,
        Taker::Session {
            user_id,
            session_id,
        },
        credential_id,
    )
    .await
}

async fn take_for_assertion(
    store: &Store,
    challenge_id: &str,
    ceremony: Ceremony,
    taker: Taker<'_>,
    credential_id: Option<&str>,
) -> StoreResult<(Option<Taken>, Option<PasskeyRow>)> {
    let mut statements = vec![take_statement(store, challenge_id, ceremony, taker)?];
    if let Some(credential_id) = credential_id {
        statements.push(
            store
                .db
                .prepare(
                    "SELECT p.id, p.user_id, u.name, p.credential_id, p.public_key, p.sign_count, \
                     p.user_verified, p.backup_eligible \
                     FROM passkeys p JOIN users u ON u.id = p.user_id WHERE p.credential_id = ?1",
                )
                .bind(&[text(credential_id)])?,
        );
    }
    let results = store.db.batch(statements).await?;
    Ok((read_taken(results.first())?, first_row(results.get(1))?))
}

/// A verified new passkey to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPasskey {
    pub id: String,
    pub user_id: String,
    /// base64url.
    pub credential_id: String,
    /// base64url of the COSE key.
    pub public_key: String,
    /// COSE algorithm id.
    pub algorithm: i64,
    pub sign_count: u32,
    pub user_verified: bool,
    pub backup_eligible: bool,
    pub backed_up: bool,
    /// JSON array of transport hints.
    pub transports: String,
    pub aaguid: String,
    pub attestation_format: String,
    pub label: Option<String>,
}

/// The insert of `passkey`, conditioned on its user existing; it returns the id when it took
/// effect.
fn insert_statement(store: &Store, p: &NewPasskey) -> StoreResult<D1PreparedStatement> {
    Ok(store
        .db
        .prepare(
            "INSERT INTO passkeys (id, user_id, credential_id, public_key, algorithm, sign_count, \
             user_verified, backup_eligible, backed_up, transports, aaguid, attestation_format, \
             label, created_at) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14 \
             WHERE EXISTS (SELECT 1 FROM users WHERE id = ?2) RETURNING id",
        )
        .bind(&[
            text(&p.id),
            text(&p.user_id),
            text(&p.credential_id),
            text(&p.public_key),
            // COSE ids are small negative numbers: exact as f64.
            JsValue::from_f64(p.algorithm as f64),
            int(u64::from(p.sign_count)),
            int(u64::from(p.user_verified)),
            int(u64::from(p.backup_eligible)),
            int(u64::from(p.backed_up)),
            text(&p.transports),
            text(&p.aaguid),
            text(&p.attestation_format),
            opt_text(p.label.as_deref()),
            int(store.now_ms),
        ])?)
}

/// Why a passkey was not stored.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// Another registration of the same credential got in first (the unique index).
    #[error("this passkey is already registered")]
    CredentialExists,
    /// The signed-in user it was for no longer exists.
    #[error("the passkey's user is gone")]
    UserGone,
    /// A sign-up's account could not be created.
    #[error(transparent)]
    Account(CreateAccountError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether a passkey with this credential id is registered.
pub async fn credential_registered(store: &Store, credential_id: &str) -> StoreResult<bool> {
    Ok(exists_statement(store, credential_id)?
        .first::<serde_json::Value>(None)
        .await?
        .is_some())
}

/// Adds `passkey` to its (existing) user's account.
pub async fn add(store: &Store, passkey: &NewPasskey) -> Result<(), RegisterError> {
    let inserted = match insert_statement(store, passkey)?
        .first::<serde_json::Value>(None)
        .await
    {
        Ok(row) => row.is_some(),
        Err(e) => {
            if credential_registered(store, &passkey.credential_id).await? {
                return Err(RegisterError::CredentialExists);
            }
            return Err(StoreError::D1(e).into());
        }
    };
    if inserted {
        Ok(())
    } else {
        Err(RegisterError::UserGone)
    }
}

/// Creates `account` with `passkey` as its first way in and `session` as its first session, in
/// one transaction.
pub async fn create_account(
    store: &Store,
    account: &NewAccount,
    passkey: &NewPasskey,
    session: &NewSession,
) -> Result<(), RegisterError> {
    let mut rest = vec![insert_statement(store, passkey)?];
    rest.extend(sessions::statements(store, session, Guard::UserExists)?);
    match accounts::create(store, account, rest).await {
        Ok(()) => Ok(()),
        // A failed batch that was not the name's: the credential's unique index, if it is taken.
        Err(CreateAccountError::Store(e)) => {
            if credential_registered(store, &passkey.credential_id).await? {
                Err(RegisterError::CredentialExists)
            } else {
                Err(RegisterError::Store(e))
            }
        }
        Err(e) => Err(RegisterError::Account(e)),
    }
}

/// Moves a signed-in passkey's counter to `sign_count` and records the use; false if the stored
/// counter is not below it (only forward, or 0 → 0), so of two racing assertions with one
/// counter value (a cloned authenticator) only one gets through.
pub async fn count_use(
    store: &Store,
    passkey_id: &str,
    sign_count: u32,
    backed_up: bool,
) -> StoreResult<bool> {
    Ok(store
        .db
        .prepare(
            "UPDATE passkeys SET sign_count = ?2, backed_up = ?3, last_used_at = ?4 \
             WHERE id = ?1 AND (sign_count < ?2 OR (?2 = 0 AND sign_count = 0)) RETURNING id",
        )
        .bind(&[
            text(passkey_id),
            int(u64::from(sign_count)),
            int(u64::from(backed_up)),
            int(store.now_ms),
        ])?
        .first::<serde_json::Value>(None)
        .await?
        .is_some())
}

/// A passkey as listed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ListRow {
    pub id: String,
    pub credential_id: String,
    pub label: Option<String>,
    pub created_at: u64,
    pub last_used_at: Option<u64>,
    pub backup_eligible: u64,
    pub backed_up: u64,
    pub user_verified: u64,
    pub transports: String,
    pub aaguid: String,
    pub algorithm: i64,
}

impl ListRow {
    /// The wire form; unreadable transports (never written so) read as none.
    pub fn info(self) -> PasskeyInfo {
        PasskeyInfo {
            transports: serde_json::from_str(&self.transports).unwrap_or_default(),
            id: self.id,
            credential_id: self.credential_id,
            label: self.label,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
            backup_eligible: self.backup_eligible == 1,
            backed_up: self.backed_up == 1,
            user_verified: self.user_verified == 1,
            aaguid: self.aaguid,
            algorithm: self.algorithm,
        }
    }
}

/// `user_id`'s passkeys, oldest first.
pub async fn list(store: &Store, user_id: &str) -> StoreResult<Vec<PasskeyInfo>> {
    let rows = store
        .db
        .prepare(
            "SELECT id, credential_id, label, created_at, last_used_at, backup_eligible, \
             backed_up, user_verified, transports, aaguid, algorithm \
             FROM passkeys WHERE user_id = ?1 ORDER BY created_at, id",
        )
        .bind(&[text(user_id)])?
        .all()
        .await?
        .results::<ListRow>()?;
    Ok(rows.into_iter().map(ListRow::info).collect())
}

/// Whether `passkey_id` is one of `user_id`'s.
pub async fn is_mine(store: &Store, passkey_id: &str, user_id: &str) -> StoreResult<bool> {
    Ok(store
        .db
        .prepare("SELECT 1 AS x FROM passkeys WHERE id = ?1 AND user_id = ?2")
        .bind(&[text(passkey_id), text(user_id)])?
        .first::<serde_json::Value>(None)
        .await?
        .is_some())
}

/// Removes `user_id`'s passkey unless it is the account's last way in, re-checked inside the
/// delete (the ways-in count > 1), so two removals racing for the last two cannot both
/// succeed; false if nothing was removed.
pub async fn remove_unless_last(
    store: &Store,
    passkey_id: &str,
    user_id: &str,
) -> StoreResult<bool> {
    Ok(store
        .db
        .prepare(
            "DELETE FROM passkeys WHERE id = ?1 AND user_id = ?2 \
             AND (SELECT COUNT(*) FROM passkeys WHERE user_id = ?2) \
               + (SELECT COUNT(*) FROM totp WHERE user_id = ?2) > 1 RETURNING id",
        )
        .bind(&[text(passkey_id), text(user_id)])?
        .first::<serde_json::Value>(None)
        .await?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_passkey_reads_its_flags_and_transports() {
        let row = ListRow {
            id: "p1".into(),
            credential_id: "Y3JlZA".into(),
            label: Some("phone".into()),
            created_at: 5,
            last_used_at: None,
            backup_eligible: 1,
            backed_up: 0,
            user_verified: 1,
            transports: r#"["internal","hybrid"]"#.into(),
            aaguid: "00000000-0000-0000-0000-000000000000".into(),
            algorithm: -7,
        };
        let info = row.clone().info();
        assert!(info.backup_eligible && !info.backed_up && info.user_verified);
        assert_eq!(info.transports, ["internal", "hybrid"]);
        assert_eq!(info.algorithm, -7);
        let garbled = ListRow {
            transports: "not json".into(),
            ..row
        };
        assert!(garbled.info().transports.is_empty());
    }

    #[test]
    fn a_stored_passkey_is_read_back_for_the_verifier() {
        let row = PasskeyRow {
            id: "p1".into(),
            user_id: "u1".into(),
            name: Some("ada".into()),
            credential_id: base64url::encode(b"cred"),
            public_key: base64url::encode(b"key"),
            sign_count: u64::from(u32::MAX) + 5,
            user_verified: 1,
            backup_eligible: 0,
        };
        let stored = row.stored().unwrap();
        assert_eq!(stored.credential_id, b"cred");
        assert_eq!(stored.user_handle, b"u1");
        assert_eq!(stored.sign_count, u32::MAX);
        assert!(stored.user_verified && !stored.backup_eligible);
        let corrupt = PasskeyRow {
            public_key: "***".into(),
            ..row
        };
        assert!(matches!(corrupt.stored(), Err(StoreError::Corrupt(_))));
    }
}

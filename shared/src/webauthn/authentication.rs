//! The authentication ceremony (WebAuthn §7.2) with a stored passkey.
//!
//! The caller issued the challenge (and must refuse a reused one), looked the credential up by
//! [`AuthenticationResponseJson::credential_id`] (answering
//! [`WebauthnError::UnknownCredential`] when there is none, see [`find_credential`]), and after
//! success stores the new signature counter and backup state.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::auth_data;
use super::client_data::{self, Ceremony};
use super::cose::PublicKey;
use super::json::AuthenticationResponseJson;
use super::{base64url, WebauthnConfig, WebauthnError};

/// What the server keeps about a registered passkey (see [`super::NewCredential::to_stored`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredCredential {
    #[serde(with = "base64url::bytes")]
    pub credential_id: Vec<u8>,
    /// COSE_Key bytes from registration.
    #[serde(with = "base64url::bytes")]
    pub public_key: Vec<u8>,
    /// The last signature counter seen.
    pub sign_count: u32,
    /// The `user.id` the credential was created for.
    #[serde(with = "base64url::bytes")]
    pub user_handle: Vec<u8>,
    /// Whether the registration was user-verified: such a credential must keep verifying.
    pub user_verified: bool,
    /// BE at registration: it may never change.
    pub backup_eligible: bool,
}

/// A successful assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthOutcome {
    pub credential_id: Vec<u8>,
    /// The counter to store (unchanged 0 for authenticators without one, as synced passkeys).
    pub sign_count: u32,
    pub user_verified: bool,
    pub backup_eligible: bool,
    /// BS now; may change over a credential's life.
    pub backed_up: bool,
    /// The user handle the authenticator returned, if any.
    pub user_handle: Option<Vec<u8>>,
}

/// Picks the stored credential a response names, or [`WebauthnError::UnknownCredential`].
pub fn find_credential<'a>(
    response: &AuthenticationResponseJson,
    candidates: impl IntoIterator<Item = &'a StoredCredential>,
) -> Result<&'a StoredCredential, WebauthnError> {
    let id = response.credential_id()?;
    candidates
        .into_iter()
        .find(|c| c.credential_id == id)
        .ok_or(WebauthnError::UnknownCredential)
}

/// Verifies the answer to `navigator.credentials.get()` made with `stored`.
///
/// User verification is required when the configuration asks for it, and also when the
/// credential was registered with UV (as webauthn-rs does): a passkey that once verified the
/// user must not later sign in on presence alone.
pub fn verify_authentication(
    config: &WebauthnConfig,
    expected_challenge: &[u8],
    stored: &StoredCredential,
    response: &AuthenticationResponseJson,
) -> Result<AuthOutcome, WebauthnError> {
    if response.credential_id()? != stored.credential_id {
        return Err(WebauthnError::UnknownCredential);
    }
    if let Some(handle) = response.user_handle() {
        if handle != stored.user_handle {
            // The authenticator says this credential belongs to someone else.
            return Err(WebauthnError::UnknownCredential);
        }
    }
    let assertion = &response.response;
    client_data::check(
        config,
        Ceremony::Get,
        expected_challenge,
        &assertion.client_data_json,
    )?;
    let data = auth_data::parse(&assertion.authenticator_data)?;
    if data.rp_id_hash != config.rp_id_hash() {
        return Err(WebauthnError::RpIdMismatch);
    }
    if !data.user_present() {
        return Err(WebauthnError::UserNotPresent);
    }
    if (config.require_user_verification || stored.user_verified) && !data.user_verified() {
        return Err(WebauthnError::UserNotVerified);
    }
    if data.backup_eligible() != stored.backup_eligible {
        return Err(WebauthnError::BadAuthenticatorData(
            "backup eligibility changed",
        ));
    }
    let key = PublicKey::from_cose(&stored.public_key)?;
    if !config.algorithms.contains(&key.algorithm()) {
        return Err(WebauthnError::UnsupportedAlgorithm);
    }
    let mut signed = Vec::with_capacity(assertion.authenticator_data.len() + 32);
    signed.extend_from_slice(&assertion.authenticator_data);
    signed.extend_from_slice(&Sha256::digest(&assertion.client_data_json));
    key.verify(&signed, &assertion.signature)?;
    // Checked after the signature, so only the genuine authenticator can trip it.
    if (data.sign_count != 0 || stored.sign_count != 0) && data.sign_count <= stored.sign_count {
        return Err(WebauthnError::CounterRegressed);
    }
    Ok(AuthOutcome {
        credential_id: stored.credential_id.clone(),
        sign_count: data.sign_count,
        user_verified: data.user_verified(),
        backup_eligible: data.backup_eligible(),
        backed_up: data.backed_up(),
        user_handle: assertion.user_handle.clone(),
    })
}

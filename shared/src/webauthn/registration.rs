//! The registration ceremony (WebAuthn §7.1) for a passkey.
//!
//! The caller issued the challenge (and must refuse a reused one), stores the returned
//! [`NewCredential`] against the user, and refuses a credential id that is already registered.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::auth_data;
use super::client_data::{self, Ceremony};
use super::cose::{Algorithm, PublicKey};
use super::json::RegistrationResponseJson;
use super::{attestation, base64url, StoredCredential, WebauthnConfig, WebauthnError};

/// A verified new credential, ready to store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewCredential {
    #[serde(with = "base64url::bytes")]
    pub credential_id: Vec<u8>,
    /// The COSE_Key exactly as the authenticator sent it; [`verify_authentication`] parses it.
    ///
    /// [`verify_authentication`]: super::verify_authentication
    #[serde(with = "base64url::bytes")]
    pub public_key: Vec<u8>,
    pub algorithm: Algorithm,
    pub sign_count: u32,
    /// The authenticator model (all zeroes when not disclosed), as a UUID string. Informative
    /// only: with attestation "none" nothing vouches for it.
    pub aaguid: String,
    pub user_verified: bool,
    /// BE: a synced, multi-device passkey.
    pub backup_eligible: bool,
    /// BS: currently backed up.
    pub backed_up: bool,
    #[serde(default)]
    pub transports: Vec<String>,
    /// The attestation `fmt` the authenticator used (see [`super::attestation`] for what was
    /// checked).
    pub attestation_format: String,
}

impl NewCredential {
    /// The record [`verify_authentication`](super::verify_authentication) needs later, for the
    /// user whose `user.id` (user handle) was in the creation options.
    pub fn to_stored(&self, user_handle: &[u8]) -> StoredCredential {
        StoredCredential {
            credential_id: self.credential_id.clone(),
            public_key: self.public_key.clone(),
            sign_count: self.sign_count,
            user_handle: user_handle.to_vec(),
            user_verified: self.user_verified,
            backup_eligible: self.backup_eligible,
        }
    }
}

/// Verifies the answer to `navigator.credentials.create()`.
pub fn verify_registration(
    config: &WebauthnConfig,
    expected_challenge: &[u8],
    response: &RegistrationResponseJson,
) -> Result<NewCredential, WebauthnError> {
    let credential_id = response.credential_id()?;
    let client_data_json = &response.response.client_data_json;
    client_data::check(
        config,
        Ceremony::Create,
        expected_challenge,
        client_data_json,
    )?;
    let client_data_hash: [u8; 32] = Sha256::digest(client_data_json).into();

    let object = attestation::parse(&response.response.attestation_object)?;
    let data = auth_data::parse(object.auth_data)?;
    if data.rp_id_hash != config.rp_id_hash() {
        return Err(WebauthnError::RpIdMismatch);
    }
    if !data.user_present() {
        return Err(WebauthnError::UserNotPresent);
    }
    if config.require_user_verification && !data.user_verified() {
        return Err(WebauthnError::UserNotVerified);
    }
    let Some(attested) = &data.attested else {
        return Err(WebauthnError::BadAuthenticatorData(
            "no attested credential data",
        ));
    };
    if attested.credential_id != credential_id {
        return Err(WebauthnError::BadAuthenticatorData(
            "credential id differs from the response's",
        ));
    }
    let key = PublicKey::from_cose(attested.public_key)?;
    if !config.algorithms.contains(&key.algorithm()) {
        return Err(WebauthnError::UnsupportedAlgorithm);
    }
    attestation::verify_statement(&object, &key, &client_data_hash)?;

    Ok(NewCredential {
        credential_id: credential_id.to_vec(),
        public_key: attested.public_key.to_vec(),
        algorithm: key.algorithm(),
        sign_count: data.sign_count,
        aaguid: format_uuid(&attested.aaguid),
        user_verified: data.user_verified(),
        backup_eligible: data.backup_eligible(),
        backed_up: data.backed_up(),
        transports: response.response.transports.clone().unwrap_or_default(),
        attestation_format: object.fmt.to_string(),
    })
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, lower case.
fn format_uuid(bytes: &[u8; 16]) -> String {
    let mut out = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

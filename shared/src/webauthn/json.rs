//! The JSON a browser sends back: `PublicKeyCredential.toJSON()`, as produced by
//! `@simplewebauthn/browser` and by webauthn-rs's own client types. Binary members are
//! base64url. Members Orbit does not use (`clientExtensionResults`, `publicKey`,
//! `publicKeyAlgorithm`, …) are ignored when reading.

use serde::{Deserialize, Serialize};

use super::{base64url, WebauthnError};

/// The answer to `navigator.credentials.create()`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationResponseJson {
    /// base64url of `raw_id`.
    pub id: String,
    #[serde(with = "base64url::bytes")]
    pub raw_id: Vec<u8>,
    pub response: AttestationResponseJson,
    /// Always `public-key`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticator_attachment: Option<String>,
}

/// `AuthenticatorAttestationResponse` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttestationResponseJson {
    #[serde(rename = "clientDataJSON", with = "base64url::bytes")]
    pub client_data_json: Vec<u8>,
    #[serde(with = "base64url::bytes")]
    pub attestation_object: Vec<u8>,
    /// `getTransports()`: hints such as `internal`, `hybrid`, `usb`, worth storing so sign-in
    /// can pass them back in `allowCredentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transports: Option<Vec<String>>,
}

/// The answer to `navigator.credentials.get()`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationResponseJson {
    /// base64url of `raw_id`.
    pub id: String,
    #[serde(with = "base64url::bytes")]
    pub raw_id: Vec<u8>,
    pub response: AssertionResponseJson,
    /// Always `public-key`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticator_attachment: Option<String>,
}

/// `AuthenticatorAssertionResponse` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssertionResponseJson {
    #[serde(rename = "clientDataJSON", with = "base64url::bytes")]
    pub client_data_json: Vec<u8>,
    #[serde(with = "base64url::bytes")]
    pub authenticator_data: Vec<u8>,
    #[serde(with = "base64url::bytes")]
    pub signature: Vec<u8>,
    /// The `user.id` given at registration; a discoverable credential always returns it.
    #[serde(default, with = "base64url::optional_bytes")]
    pub user_handle: Option<Vec<u8>>,
}

impl RegistrationResponseJson {
    /// The new credential's id (`rawId`), after checking that `id` and `type` agree with it.
    pub fn credential_id(&self) -> Result<&[u8], WebauthnError> {
        credential_id(&self.kind, &self.id, &self.raw_id)
    }
}

impl AuthenticationResponseJson {
    /// The id to look the stored credential up by (`rawId`), after checking that `id` and
    /// `type` agree with it.
    pub fn credential_id(&self) -> Result<&[u8], WebauthnError> {
        credential_id(&self.kind, &self.id, &self.raw_id)
    }

    /// The user handle, for finding the user of a discoverable (username-less) sign-in.
    pub fn user_handle(&self) -> Option<&[u8]> {
        self.response.user_handle.as_deref()
    }
}

fn credential_id<'a>(kind: &str, id: &str, raw_id: &'a [u8]) -> Result<&'a [u8], WebauthnError> {
    if kind != "public-key" {
        return Err(WebauthnError::WrongType);
    }
    if raw_id.is_empty() || base64url::decode(id).as_deref() != Some(raw_id) {
        return Err(WebauthnError::UnknownCredential);
    }
    Ok(raw_id)
}

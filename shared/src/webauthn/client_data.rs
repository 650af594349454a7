//! `clientDataJSON` (WebAuthn §5.8.1): what the browser says it asked the authenticator for.
//!
//! The bytes are hashed into the signature, so they are checked as sent: the ceremony `type`,
//! the `challenge` this server issued, an `origin` from configuration (never from a request
//! header), and no `crossOrigin` (Orbit is never embedded in another site's iframe).

use serde::Deserialize;

use super::{base64url, WebauthnConfig, WebauthnError};

/// Challenges shorter than this are never accepted (WebAuthn §13.4.3 asks for at least 16
/// random bytes), so an empty or forgotten expected challenge cannot match anything.
pub const MIN_CHALLENGE_BYTES: usize = 16;

/// The fields of `clientDataJSON` that matter. Unknown members (`topOrigin`, `tokenBinding`,
/// `other_keys_can_be_added_here`) are ignored as the spec requires.
#[derive(Debug, Deserialize)]
struct CollectedClientData {
    #[serde(rename = "type")]
    kind: String,
    challenge: String,
    origin: String,
    #[serde(rename = "crossOrigin", default)]
    cross_origin: Option<bool>,
}

/// The ceremony a client data blob must belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ceremony {
    Create,
    Get,
}

impl Ceremony {
    fn client_data_type(self) -> &'static str {
        match self {
            Ceremony::Create => "webauthn.create",
            Ceremony::Get => "webauthn.get",
        }
    }
}

/// Checks `clientDataJSON` against the ceremony, the expected challenge and the configuration.
pub fn check(
    config: &WebauthnConfig,
    ceremony: Ceremony,
    expected_challenge: &[u8],
    client_data_json: &[u8],
) -> Result<(), WebauthnError> {
    let data: CollectedClientData = serde_json::from_slice(client_data_json)
        .map_err(|_| WebauthnError::BadClientData("not the expected JSON object"))?;
    if data.kind != ceremony.client_data_type() {
        return Err(WebauthnError::WrongType);
    }
    let challenge = base64url::decode(&data.challenge).ok_or(WebauthnError::ChallengeMismatch)?;
    if expected_challenge.len() < MIN_CHALLENGE_BYTES || challenge != expected_challenge {
        return Err(WebauthnError::ChallengeMismatch);
    }
    if !config.origin_allowed(&data.origin) {
        return Err(WebauthnError::OriginNotAllowed);
    }
    if data.cross_origin == Some(true) {
        return Err(WebauthnError::OriginNotAllowed);
    }
    Ok(())
}

//! Passkeys (WebAuthn): registration and sign-in ceremonies, the account's passkey list.
//!
//! The WebAuthn JSON itself — `publicKey` (`PublicKeyCredentialCreationOptionsJSON` /
//! `PublicKeyCredentialRequestOptionsJSON`) and `credential` (`PublicKeyCredential.toJSON()`) — is
//! carried as a JSON value: it is the W3C's format, made and read by the browser
//! (`PublicKeyCredential.parse…OptionsFromJSON()`, `@simplewebauthn/browser`) and, on Orbit's
//! side, by the verifier in `orbit_shared::webauthn`, which owns its Rust types. In TypeScript
//! these fields have the DOM's types.
//!
//! ```
//! use orbit_protocol::auth::{PasskeyLoginOptions, PasskeyLoginVerifyRequest};
//!
//! let options = PasskeyLoginOptions {
//!     challenge_id: "c1".into(),
//!     expires_in: 300,
//!     public_key: serde_json::json!({"challenge": "AAAA", "allowCredentials": []}),
//! };
//! let json = serde_json::to_value(&options).unwrap();
//! assert_eq!(json["challengeId"], "c1");
//! assert_eq!(json["publicKey"]["allowCredentials"], serde_json::json!([]));
//!
//! let verify: PasskeyLoginVerifyRequest =
//!     serde_json::from_str(r#"{"challengeId":"c1","credential":{"id":"x"}}"#).unwrap();
//! assert_eq!(verify.credential["id"], "x");
//! ```

use serde::{Deserialize, Serialize};

/// `POST /auth/passkey/register/options`. Not signed in: `{name, invite?}` starts a new
/// account. Signed in: `{}`, to add a passkey.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", default)]
pub struct PasskeyRegisterOptionsRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub name: Option<String>,
    /// Needed for a new account while registration is closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub invite: Option<String>,
}

/// The answer of `POST /auth/passkey/register/options`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct PasskeyRegisterOptions {
    /// Send it back with the answer to `verify`.
    pub challenge_id: String,
    /// Whether verifying creates an account.
    pub new_account: bool,
    pub name: String,
    /// Life of the challenge.
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub expires_in: u64,
    /// `PublicKeyCredentialCreationOptionsJSON`.
    #[cfg_attr(
        feature = "typescript",
        ts(type = "PublicKeyCredentialCreationOptionsJSON")
    )]
    pub public_key: serde_json::Value,
}

/// `POST /auth/passkey/register/verify`. The answer is [`SignedIn`](super::SignedIn) (201) for
/// a new account, else [`PasskeyAdded`] (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct PasskeyRegisterVerifyRequest {
    pub challenge_id: String,
    /// `PublicKeyCredential.toJSON()` of `navigator.credentials.create()`.
    #[cfg_attr(feature = "typescript", ts(type = "PublicKeyCredentialJSON"))]
    pub credential: serde_json::Value,
    /// A name for the passkey in the list ("phone", "laptop").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub label: Option<String>,
}

/// The answer of `POST /auth/passkey/register/verify` for a signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct PasskeyAdded {
    pub passkey: PasskeyInfo,
}

/// The answer of `POST /auth/passkey/login/options`: a discoverable sign-in (no user named,
/// `allowCredentials` empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct PasskeyLoginOptions {
    pub challenge_id: String,
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub expires_in: u64,
    /// `PublicKeyCredentialRequestOptionsJSON`.
    #[cfg_attr(
        feature = "typescript",
        ts(type = "PublicKeyCredentialRequestOptionsJSON")
    )]
    pub public_key: serde_json::Value,
}

/// `POST /auth/passkey/login/verify`; the answer is [`SignedIn`](super::SignedIn).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct PasskeyLoginVerifyRequest {
    pub challenge_id: String,
    /// `PublicKeyCredential.toJSON()` of `navigator.credentials.get()`.
    #[cfg_attr(feature = "typescript", ts(type = "PublicKeyCredentialJSON"))]
    pub credential: serde_json::Value,
}

/// `GET /auth/passkeys`: the caller's passkeys, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct PasskeyList {
    pub passkeys: Vec<PasskeyInfo>,
}

/// One passkey of the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct PasskeyInfo {
    /// Orbit's id (for `DELETE /auth/passkeys/{id}`).
    pub id: String,
    /// The authenticator's credential id, base64url.
    pub credential_id: String,
    pub label: Option<String>,
    /// Milliseconds since the epoch.
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub created_at: u64,
    #[cfg_attr(feature = "typescript", ts(type = "number | null"))]
    pub last_used_at: Option<u64>,
    /// May be synced to other devices.
    pub backup_eligible: bool,
    /// Is synced.
    pub backed_up: bool,
    /// Registered with user verification.
    pub user_verified: bool,
    /// `internal`, `hybrid`, `usb`, …
    pub transports: Vec<String>,
    /// The authenticator model, a UUID (all zeros when not disclosed).
    pub aaguid: String,
    /// COSE algorithm: -8 EdDSA, -7 ES256, -257 RS256.
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub algorithm: i64,
}

/// The answer of `DELETE /auth/passkeys/{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct PasskeyRemoved {
    /// Always `true`.
    pub removed: bool,
}

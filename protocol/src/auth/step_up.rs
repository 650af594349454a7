//! Step-up: a fresh proof of a way in before a sensitive change (docs/auth.md, Step-up).
//!
//! A session is *fresh* for a few minutes after it last proved a way in: at sign-in, or at one
//! of the step-up endpoints below. Adding or removing a way in, minting an invite and approving
//! a device code need a fresh session; a stale one is refused with 403 `step_up_required`, whose
//! body names the ways this account can prove itself with:
//!
//! ```
//! use orbit_protocol::auth::{ApiErrorBody, StepUpMethod};
//! use orbit_protocol::ErrorCode;
//!
//! let body = ApiErrorBody::step_up(
//!     "confirm it's you",
//!     vec![StepUpMethod::Passkey, StepUpMethod::Totp],
//! );
//! assert_eq!(
//!     serde_json::to_string(&body).unwrap(),
//!     r#"{"error":{"code":"step_up_required","message":"confirm it's you","methods":["passkey","totp"]}}"#
//! );
//! // Every other refusal keeps its two fields.
//! assert_eq!(
//!     serde_json::to_string(&ApiErrorBody::new(ErrorCode::NotFound, "no")).unwrap(),
//!     r#"{"error":{"code":"not_found","message":"no"}}"#
//! );
//! ```

use serde::{Deserialize, Serialize};

/// A way to prove oneself again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum StepUpMethod {
    /// An assertion of one of the account's passkeys
    /// (`POST /auth/step-up/passkey/options` then `…/verify`).
    Passkey,
    /// A current TOTP code (`POST /auth/step-up/totp`).
    Totp,
}

/// `POST /auth/step-up/totp`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct StepUpTotpRequest {
    pub code: String,
}

/// The answer of `POST /auth/step-up/passkey/options`: request options naming the account's
/// passkeys, over a challenge bound to this session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct StepUpPasskeyOptions {
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

/// `POST /auth/step-up/passkey/verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct StepUpPasskeyVerifyRequest {
    pub challenge_id: String,
    /// `PublicKeyCredential.toJSON()` of `navigator.credentials.get()`.
    #[cfg_attr(feature = "typescript", ts(type = "PublicKeyCredentialJSON"))]
    pub credential: serde_json::Value,
}

/// The answer of a successful step-up: the session is fresh until `freshUntil`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SteppedUp {
    /// Milliseconds since the epoch.
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub verified_at: u64,
    /// Seconds the session stays fresh.
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub fresh_for: u64,
}

crate::debug_without_secrets!(StepUpTotpRequest {  } secret { code });

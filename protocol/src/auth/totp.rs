//! TOTP (RFC 6238): enrolment, sign-in, turning it off; and invites.
//!
//! ```
//! use orbit_protocol::auth::{TotpEnrollStartRequest, TotpLoginRequest};
//!
//! let start: TotpEnrollStartRequest = serde_json::from_str(r#"{"name":"ada"}"#).unwrap();
//! assert_eq!(start.name.as_deref(), Some("ada"));
//! assert_eq!(start.code, None);
//! assert_eq!(
//!     serde_json::to_string(&TotpLoginRequest { name: "ada".into(), code: "123456".into() }).unwrap(),
//!     r#"{"name":"ada","code":"123456"}"#
//! );
//! ```

use serde::{Deserialize, Serialize};

/// `POST /auth/totp/enroll/start`. Not signed in: `{name, invite?}` starts a new account.
/// Signed in: `{code?}`, a current code when TOTP is on already (replacing the authenticator).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", default)]
pub struct TotpEnrollStartRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub name: Option<String>,
    /// Needed for a new account while registration is closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub invite: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub code: Option<String>,
}

/// The answer of `POST /auth/totp/enroll/start` (201): the secret to put in an authenticator.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct TotpEnrollment {
    pub enrollment_id: String,
    /// Whether confirming it creates an account.
    pub new_account: bool,
    pub name: String,
    /// The secret in base32, for typing in.
    pub secret: String,
    /// The `otpauth://totp/…` URI, for a QR code.
    pub uri: String,
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub expires_in: u64,
}

/// `POST /auth/totp/enroll/verify`: confirms an enrolment with a first code. A signed-in user
/// may leave out `enrollmentId` (their latest). The answer is
/// [`SignedIn`](super::SignedIn) (201) for a new account, else [`TotpStatus`].
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", default)]
pub struct TotpEnrollVerifyRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub enrollment_id: Option<String>,
    pub code: String,
}

/// `POST /auth/totp/login`; the answer is [`SignedIn`](super::SignedIn).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", default)]
pub struct TotpLoginRequest {
    /// The account name.
    pub name: String,
    pub code: String,
}

/// `POST /auth/totp/disable`: a current code.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", default)]
pub struct TotpDisableRequest {
    pub code: String,
}

/// Whether TOTP is now on: `POST /auth/totp/enroll/verify` (signed in) and
/// `POST /auth/totp/disable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct TotpStatus {
    pub totp: bool,
}

/// The answer of `POST /auth/invites` (201): a one-time invite to create an account.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Invite {
    /// `inv_…`; shown once, stored only as a hash.
    pub invite: String,
    /// Milliseconds since the epoch.
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub expires_at: u64,
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub expires_in: u64,
}

crate::debug_without_secrets!(TotpEnrollment { enrollment_id, new_account, name, expires_in } secret { secret, uri });

crate::debug_without_secrets!(TotpEnrollVerifyRequest { enrollment_id } secret { code });

crate::debug_without_secrets!(TotpLoginRequest { name } secret { code });

crate::debug_without_secrets!(TotpDisableRequest {  } secret { code });

crate::debug_without_secrets!(Invite { expires_at, expires_in } secret { invite });

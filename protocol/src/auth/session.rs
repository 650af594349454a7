//! Signed-in sessions: the answer of every sign-in, who the caller is, the session list and
//! revocations.
//!
//! ```
//! use orbit_protocol::auth::{Credentials, Revocation, SignedIn};
//!
//! let signed_in = SignedIn {
//!     user_id: "u1".into(),
//!     name: "ada".into(),
//!     passkey_id: None,
//!     credentials: Credentials {
//!         session_id: "s1".into(),
//!         access_token: "eyJ…".into(),
//!         refresh_token: "ort_…".into(),
//!         expires_in: 900,
//!         refresh_expires_in: 2_592_000,
//!     },
//! };
//! // The credentials sit beside the user's fields, not under a key of their own.
//! assert_eq!(
//!     serde_json::to_string(&signed_in).unwrap(),
//!     r#"{"userId":"u1","name":"ada","sessionId":"s1","accessToken":"eyJ…","refreshToken":"ort_…","expiresIn":900,"refreshExpiresIn":2592000}"#
//! );
//! assert_eq!(
//!     serde_json::to_string(&Revocation::new(None)).unwrap(),
//!     r#"{"revoked":true,"closedSockets":null}"#
//! );
//! ```

use serde::{Deserialize, Serialize};

use super::tokens::Credentials;

/// A new web session: TOTP and passkey sign-in, and sign-up once its first credential is
/// confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SignedIn {
    pub user_id: String,
    /// The account name.
    pub name: String,
    /// The passkey used (passkey sign-in) or created (passkey sign-up); absent for TOTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub passkey_id: Option<String>,
    #[serde(flatten)]
    pub credentials: Credentials,
}

/// `GET /auth/session`: who the caller is, this session, and the account's ways in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub user_id: String,
    /// `null` for users made by the development API.
    pub name: Option<String>,
    /// Milliseconds since the epoch, like every instant below.
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub created_at: u64,
    pub session_id: String,
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub session_created_at: u64,
    #[cfg_attr(feature = "typescript", ts(type = "number | null"))]
    pub session_expires_at: Option<u64>,
    pub methods: SignInMethods,
}

/// The ways an account can sign in; it must always keep one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SignInMethods {
    /// A confirmed TOTP secret.
    pub totp: bool,
    /// How many passkeys.
    pub passkeys: u32,
}

impl SignInMethods {
    /// How many ways in: TOTP (0 or 1) plus the passkeys.
    pub fn count(&self) -> u32 {
        u32::from(self.totp).saturating_add(self.passkeys)
    }
}

/// `GET /auth/sessions`: the caller's live web sessions, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct SessionList {
    pub sessions: Vec<SessionSummary>,
}

/// One live web session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SessionSummary {
    pub session_id: String,
    /// The session of the call that asked.
    pub current: bool,
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub created_at: u64,
    #[cfg_attr(feature = "typescript", ts(type = "number | null"))]
    pub last_used_at: Option<u64>,
    #[cfg_attr(feature = "typescript", ts(type = "number | null"))]
    pub expires_at: Option<u64>,
    /// The User-Agent the session started with.
    pub client: Option<String>,
}

/// `POST /auth/logout`, `DELETE /auth/sessions/{id}`, `DELETE /auth/anchors/{id}`: what was
/// revoked took its open sockets with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Revocation {
    /// Always `true`.
    pub revoked: bool,
    /// How many sockets were closed. (Never `null` now: when the user's hub cannot be told,
    /// the revocation answers 503 `sockets_not_closed` instead.)
    #[cfg_attr(feature = "typescript", ts(type = "number | null"))]
    pub closed_sockets: Option<u64>,
}

impl Revocation {
    pub fn new(closed_sockets: Option<u64>) -> Self {
        Revocation {
            revoked: true,
            closed_sockets,
        }
    }
}

//! Session credentials and their refresh.
//!
//! ```
//! use orbit_protocol::auth::{AnchorCredentials, RefreshRequest};
//!
//! let answer: AnchorCredentials = serde_json::from_str(
//!     r#"{"anchorId":"a1","accessToken":"eyJ…","refreshToken":"ora_…","expiresIn":900,"refreshExpiresIn":7776000}"#,
//! ).unwrap();
//! assert_eq!(answer.expires_in, 900);
//! assert_eq!(
//!     serde_json::to_string(&RefreshRequest { refresh_token: "ora_…".into() }).unwrap(),
//!     r#"{"refreshToken":"ora_…"}"#
//! );
//! ```

use serde::{Deserialize, Serialize};

/// A web session's credentials, answered by every sign-in and by `POST /auth/refresh`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    pub session_id: String,
    /// JWT, `aud` "orbit-web".
    pub access_token: String,
    /// Single use; rotated by every refresh.
    pub refresh_token: String,
    /// Life of the access token.
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub expires_in: u64,
    /// Life of the refresh token (and so of the session, unless refreshed).
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub refresh_expires_in: u64,
}

/// An anchor's credentials: `POST /auth/device/token` once approved, and
/// `POST /auth/device/refresh`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct AnchorCredentials {
    pub anchor_id: String,
    /// JWT, `aud` "orbit-anchor", with an `aid` claim.
    pub access_token: String,
    pub refresh_token: String,
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub expires_in: u64,
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub refresh_expires_in: u64,
    /// The account the anchor was paired with (its name, else its id), so the anchor can show
    /// whose it became: only in the device token answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub account: Option<String>,
}

/// `POST /auth/refresh` and `POST /auth/device/refresh`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", default)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

crate::debug_without_secrets!(Credentials { session_id, expires_in, refresh_expires_in } secret { access_token, refresh_token });

crate::debug_without_secrets!(AnchorCredentials { anchor_id, expires_in, refresh_expires_in, account } secret { access_token, refresh_token });

crate::debug_without_secrets!(RefreshRequest {  } secret { refresh_token });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_never_reach_a_log_line_through_debug() {
        let creds = AnchorCredentials {
            anchor_id: "a1".into(),
            access_token: "eyJhbGciOi.secret".into(),
            refresh_token: "ora_secret".into(),
            expires_in: 900,
            refresh_expires_in: 1,
            account: Some("alice".into()),
        };
        let printed = format!("{creds:?}");
        assert!(
            printed.contains("a1") && printed.contains("<redacted>"),
            "{printed}"
        );
        assert!(!printed.contains("secret"), "{printed}");
        let refresh = RefreshRequest {
            refresh_token: "ort_secret".into(),
        };
        assert!(!format!("{refresh:?}").contains("secret"));
    }
}

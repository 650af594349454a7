//! Pairing a machine: the device-code flow (RFC 8628 semantics).
//!
//! ```
//! use orbit_protocol::auth::{DeviceAuthorization, DeviceCodeRequest};
//!
//! let ask = DeviceCodeRequest { name: Some("laptop".into()), hostname: Some("laptop.local".into()), platform: Some("linux".into()) };
//! assert_eq!(
//!     serde_json::to_string(&ask).unwrap(),
//!     r#"{"name":"laptop","hostname":"laptop.local","platform":"linux"}"#
//! );
//! let answer: DeviceAuthorization = serde_json::from_str(
//!     r#"{"deviceCode":"d","userCode":"ABCD-EFGH","verificationUri":"https://o.example/device",
//!         "verificationUriComplete":"https://o.example/device?link=3q2-7w","expiresIn":600,"interval":5}"#,
//! ).unwrap();
//! assert_eq!(answer.user_code, "ABCD-EFGH");
//! ```

use serde::{Deserialize, Serialize};

/// `POST /auth/device/code`: what the anchor says about itself (the user may rename it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", default)]
pub struct DeviceCodeRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub platform: Option<String>,
}

/// The answer of `POST /auth/device/code`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct DeviceAuthorization {
    /// The anchor's secret handle on the grant; it polls with it.
    pub device_code: String,
    /// `XXXX-XXXX`, for the user to type or check.
    pub user_code: String,
    pub verification_uri: String,
    /// `verification_uri?link=<token>`, for a QR code or a clickable link. The token names the
    /// grant without carrying the user code, so approving from the link needs the code's first
    /// characters typed from the terminal.
    pub verification_uri_complete: String,
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub expires_in: u64,
    /// Seconds to wait between polls.
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub interval: u64,
}

/// `POST /auth/device/lookup` (signed in): which grant a user code names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", default)]
pub struct DeviceLookupRequest {
    /// The code the user typed. Empty when `link` names the grant instead.
    pub user_code: String,
    /// The token of a `verificationUriComplete` link (`?link=`): the page was opened from a
    /// link, so the answer withholds the code's first characters and an approval must type them.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub link: Option<String>,
}

/// Where a pairing request came from, as Cloudflare's edge saw it (`request.cf`) and as Orbit
/// recorded the address: nothing the requester could choose. Each field is `None` where the
/// platform did not say (self-hosted workerd, a local `wrangler dev`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", default)]
pub struct DeviceOrigin {
    /// ISO 3166-1 alpha-2, e.g. `US`.
    pub country: Option<String>,
    pub city: Option<String>,
    /// The network's owner (the AS organisation), e.g. `Example Telecom`.
    pub network: Option<String>,
    /// The autonomous system number of that network.
    pub asn: Option<u32>,
    /// The client address bucket Orbit rate-limits by (an IPv4 address, or an IPv6 /64).
    pub address: Option<String>,
}

/// The answer of `POST /auth/device/lookup`: what asked to be paired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct DeviceLookup {
    /// `XXXX-XXXX` when the user typed the code; `None` when the grant was named by a link:
    /// the user must then type the first [`CONFIRM_CHARS`] characters from their terminal.
    pub user_code: Option<String>,
    /// The code's last four characters, always: enough to recognise it, not to confirm it.
    pub code_end: String,
    pub name: Option<String>,
    pub hostname: Option<String>,
    pub platform: Option<String>,
    /// When the anchor asked, in milliseconds since the epoch.
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub requested_at: u64,
    /// Seconds left before the code expires.
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub expires_in: u64,
    /// Where the request came from (not what it says about itself).
    pub origin: DeviceOrigin,
}

/// How many of the code's first characters an approval from a link must type.
pub const CONFIRM_CHARS: usize = 4;

/// `POST /auth/device/authorise` (signed in): approve (with an optional name) or deny.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", default)]
pub struct DeviceAuthoriseRequest {
    /// The code the user typed. Empty when `link` names the grant instead.
    pub user_code: String,
    /// The link token the page was opened with (see [`DeviceLookupRequest::link`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub link: Option<String>,
    /// With `link`, to approve: the code's first [`CONFIRM_CHARS`] characters, typed by the user
    /// from their terminal (case, spaces and dashes do not matter).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub confirm: Option<String>,
    pub approve: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub name: Option<String>,
}

/// `POST /auth/device/token`: one poll. The answer is
/// [`AnchorCredentials`](super::AnchorCredentials) or a [`DeviceTokenError`](super::DeviceTokenError).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", default)]
pub struct DeviceTokenRequest {
    pub device_code: Option<String>,
}

/// The answer of `POST /auth/device/authorise`.
///
/// ```
/// use orbit_protocol::auth::DeviceAuthorised;
/// let approved = DeviceAuthorised::Approved { anchor_id: "a1".into(), name: "laptop".into() };
/// assert_eq!(
///     serde_json::to_string(&approved).unwrap(),
///     r#"{"status":"approved","anchorId":"a1","name":"laptop"}"#
/// );
/// assert_eq!(serde_json::to_string(&DeviceAuthorised::Denied).unwrap(), r#"{"status":"denied"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DeviceAuthorised {
    /// The anchor is created; its next poll collects its credentials.
    #[serde(rename_all = "camelCase")]
    Approved { anchor_id: String, name: String },
    /// Final: its next poll gets `access_denied`.
    Denied,
}

crate::debug_without_secrets!(DeviceAuthorization { user_code, verification_uri, verification_uri_complete, expires_in, interval } secret { device_code });

crate::debug_without_secrets!(DeviceTokenRequest {  } secret { device_code });

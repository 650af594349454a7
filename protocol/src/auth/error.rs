//! How `/auth/*` and `/ws/*` refuse: `{"error":{"code":…,"message":…}}` with an HTTP status,
//! except RFC 8628's `{"error":"<code>"}` for `POST /auth/device/token`.
//!
//! ```
//! use orbit_protocol::auth::ApiErrorBody;
//! use orbit_protocol::ErrorCode;
//!
//! let body = ApiErrorBody::new(ErrorCode::RateLimited, "too many attempts; try again in 30 s");
//! assert_eq!(
//!     serde_json::to_string(&body).unwrap(),
//!     r#"{"error":{"code":"rate_limited","message":"too many attempts; try again in 30 s"}}"#
//! );
//! ```

use serde::{Deserialize, Serialize};

use crate::error_code::ErrorCode;

/// An HTTP refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct ApiErrorBody {
    pub error: ApiError,
}

/// What was refused, and why in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiErrorBody {
            error: ApiError {
                code,
                message: message.into(),
            },
        }
    }
}

/// RFC 8628's error answer of `POST /auth/device/token`:
/// `authorization_pending`, `slow_down`, `access_denied`, `expired_token`, `invalid_grant` or
/// `invalid_request`.
///
/// ```
/// use orbit_protocol::auth::DeviceTokenError;
/// use orbit_protocol::ErrorCode;
/// let body = DeviceTokenError { error: ErrorCode::SlowDown };
/// assert_eq!(serde_json::to_string(&body).unwrap(), r#"{"error":"slow_down"}"#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct DeviceTokenError {
    pub error: ErrorCode,
}

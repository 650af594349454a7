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

use super::step_up::StepUpMethod;
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
    /// `step_up_required` only: the ways this account can prove itself with again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub methods: Option<Vec<StepUpMethod>>,
}

impl ApiErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiErrorBody {
            error: ApiError {
                code,
                message: message.into(),
                methods: None,
            },
        }
    }

    /// 403 `step_up_required`, naming the ways the account can step up with.
    pub fn step_up(message: impl Into<String>, methods: Vec<StepUpMethod>) -> Self {
        ApiErrorBody {
            error: ApiError {
                code: ErrorCode::StepUpRequired,
                message: message.into(),
                methods: Some(methods),
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

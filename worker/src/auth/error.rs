//! How `/auth/*` fails: a refusal for the client ([`ApiError`]), or a fault of ours.
//!
//! Every refusal is `{"error": {"code", "message"}}` ([`ApiErrorBody`]) with the status its
//! [`ErrorCode`] has ([`ErrorCode::http_status`]); the exceptions are the passkey ceremonies,
//! whose refusals are 400 while registering and 401 while signing in
//! ([`ApiError::with_status`]), and the device token endpoint, whose errors are RFC 8628's
//! `{"error": "<code>"}` ([`DeviceTokenError`]). A fault of ours (D1 down, a corrupt row, a bug)
//! is a bare 500 `internal_error` for the client, with the details in the log only.

use orbit_protocol::auth::{ApiErrorBody, DeviceTokenError, StepUpMethod};
use orbit_protocol::ErrorCode;
use orbit_shared::auth::device_code::{PollError, UserCodeError};
use orbit_shared::auth::names::InvalidName;
use orbit_shared::auth::rate_limit::RateLimited;
use orbit_shared::auth::refresh::RefreshError;
use orbit_shared::auth::sealed::SealError;
use orbit_shared::auth::totp::TotpError;
use orbit_shared::gate::GateError;
use orbit_shared::token::TokenError;
use worker::{Headers, Response};

use super::store::accounts::CreateAccountError;
use super::store::passkeys::RegisterError;
use super::store::StoreError;
use crate::http::status_of;

/// The shape of a refusal's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `{"error": {"code", "message"}}`.
    Orbit,
    /// RFC 8628's `{"error": "<code>"}`.
    Rfc8628,
}

/// A refusal: status, code, message, and a `Retry-After` for 429s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: u16,
    pub code: ErrorCode,
    pub message: String,
    /// The `Retry-After` header (seconds).
    retry_after: Option<String>,
    /// `step_up_required`: the ways the account can step up with.
    methods: Option<Vec<StepUpMethod>>,
    shape: Shape,
}

impl ApiError {
    /// The same refusal, telling the client when to come back (`Retry-After`, seconds).
    pub fn retry_after(self, seconds: String) -> Self {
        ApiError {
            retry_after: Some(seconds),
            ..self
        }
    }

    /// A refusal with the code's own status.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError::with_status(status_of(code), code, message)
    }

    /// A refusal whose status depends on where it happens (the passkey ceremonies).
    pub fn with_status(status: u16, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            methods: None,
            shape: Shape::Orbit,
        }
    }

    /// 403 `step_up_required`: the session must prove a way in again (one of `methods`).
    pub fn step_up(message: impl Into<String>, methods: Vec<StepUpMethod>) -> Self {
        ApiError {
            methods: Some(methods),
            ..ApiError::new(ErrorCode::StepUpRequired, message)
        }
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::BadRequest, message)
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Result<String> {
        match self.shape {
            Shape::Orbit => {
                let mut body = ApiErrorBody::new(self.code, &self.message);
                body.error.methods.clone_from(&self.methods);
                serde_json::to_string(&body)
            }
            Shape::Rfc8628 => serde_json::to_string(&DeviceTokenError { error: self.code }),
        }
    }

    /// The HTTP answer; no cache may keep it.
    pub fn response(&self) -> worker::Result<Response> {
        let headers = Headers::new();
        headers.set("Content-Type", "application/json")?;
        headers.set("Cache-Control", "no-store")?;
        if let Some(retry) = &self.retry_after {
            headers.set("Retry-After", retry)?;
        }
        Ok(Response::ok(self.body()?)?
            .with_status(self.status)
            .with_headers(headers))
    }
}

/// Refusals of the shared decisions, with their own code and message.
macro_rules! plain_refusal {
    ($($t:ty),*) => {$(
        impl From<$t> for ApiError {
            fn from(e: $t) -> Self {
                ApiError::new(e.code(), e.to_string())
            }
        }
    )*};
}

plain_refusal!(
    TotpError,
    RefreshError,
    UserCodeError,
    SealError,
    GateError,
    InvalidName
);

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        GateError::Token(e).into()
    }
}

impl From<PollError> for ApiError {
    fn from(e: PollError) -> Self {
        ApiError {
            shape: Shape::Rfc8628,
            ..ApiError::new(e.code(), e.to_string())
        }
    }
}

impl From<RateLimited> for ApiError {
    fn from(e: RateLimited) -> Self {
        ApiError {
            retry_after: Some(e.retry_after_header()),
            ..ApiError::new(e.code(), e.to_string())
        }
    }
}

/// Why a handler did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Refused, with an answer for the client.
    #[error("refused: {0}")]
    Refused(ApiError),
    /// Our fault from here down: logged, answered 500.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("runtime: {0}")]
    Runtime(#[from] worker::Error),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A broken invariant of ours.
    #[error("{0}")]
    Bug(&'static str),
}

impl Failure {
    /// The answer: the refusal, or a bare 500 (the details go to the log only).
    pub fn response(&self) -> worker::Result<Response> {
        match self {
            Failure::Refused(e) => e.response(),
            internal => {
                worker::console_error!("auth: internal error: {internal}");
                ApiError::new(ErrorCode::InternalError, "something went wrong on our side")
                    .response()
            }
        }
    }

    /// The refusal's code, if this is one.
    pub fn refusal_code(&self) -> Option<ErrorCode> {
        match self {
            Failure::Refused(e) => Some(e.code),
            _ => None,
        }
    }
}

macro_rules! refusal {
    ($($t:ty),*) => {$(
        impl From<$t> for Failure {
            fn from(e: $t) -> Self {
                Failure::Refused(e.into())
            }
        }
    )*};
}

refusal!(
    ApiError,
    TotpError,
    RefreshError,
    UserCodeError,
    PollError,
    RateLimited,
    SealError,
    GateError,
    TokenError,
    InvalidName
);

impl From<CreateAccountError> for Failure {
    fn from(e: CreateAccountError) -> Self {
        let message = e.to_string();
        let code = match e {
            CreateAccountError::NameTaken => ErrorCode::NameTaken,
            CreateAccountError::InviteInvalid => ErrorCode::InviteInvalid,
            CreateAccountError::RegistrationClosed => ErrorCode::RegistrationClosed,
            CreateAccountError::Store(e) => return Failure::Store(e),
        };
        ApiError::new(code, message).into()
    }
}

impl From<RegisterError> for Failure {
    fn from(e: RegisterError) -> Self {
        match e {
            RegisterError::CredentialExists => {
                ApiError::new(ErrorCode::CredentialExists, e.to_string()).into()
            }
            RegisterError::UserGone => Failure::Bug("the passkey's user is gone"),
            RegisterError::Account(e) => e.into(),
            RegisterError::Store(e) => Failure::Store(e),
        }
    }
}

/// What handlers return.
pub type AuthResult<T> = std::result::Result<T, Failure>;

#[cfg(test)]
mod tests {
    use super::*;
    use orbit_shared::auth::rate_limit::RateLimited;

    fn body(e: &ApiError) -> serde_json::Value {
        serde_json::from_str(&e.body().unwrap()).unwrap()
    }

    #[test]
    fn refusals_keep_their_codes_statuses_and_shape() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (TotpError::InvalidCode.into(), 401, "invalid_code"),
            (TotpError::Malformed.into(), 400, "malformed_code"),
            (RefreshError::Reused.into(), 401, "refresh_reused"),
            (UserCodeError::Expired.into(), 410, "user_code_expired"),
            (UserCodeError::AlreadyUsed.into(), 409, "user_code_used"),
            (SealError::WeakKey.into(), 500, "server_misconfigured"),
            (GateError::MissingToken.into(), 401, "token_missing"),
            (
                TokenError::WrongAudience.into(),
                401,
                "token_wrong_audience",
            ),
            (InvalidName.into(), 400, "invalid_name"),
            (ApiError::bad_request("x"), 400, "bad_request"),
        ];
        for (e, status, code) in cases {
            assert_eq!((e.status, e.code.as_str()), (status, code));
            let json = body(&e);
            assert_eq!(json["error"]["code"], code);
            assert_eq!(json["error"]["message"], e.message.as_str());
        }
    }

    #[test]
    fn device_token_errors_are_rfc_8628_shaped() {
        let e: ApiError = PollError::SlowDown.into();
        assert_eq!(e.status, 400);
        assert_eq!(e.body().unwrap(), r#"{"error":"slow_down"}"#);
    }

    #[test]
    fn rate_limits_say_when_to_retry() {
        let e: ApiError = RateLimited { retry_after_s: 0 }.into();
        assert_eq!((e.status, e.code), (429, ErrorCode::RateLimited));
        assert_eq!(e.retry_after.as_deref(), Some("1"));
    }

    #[test]
    fn failed_account_creations_are_refusals_or_faults() {
        let code = |e: CreateAccountError| Failure::from(e).refusal_code();
        assert_eq!(
            code(CreateAccountError::NameTaken),
            Some(ErrorCode::NameTaken)
        );
        assert_eq!(
            code(CreateAccountError::InviteInvalid),
            Some(ErrorCode::InviteInvalid)
        );
        assert_eq!(
            code(CreateAccountError::RegistrationClosed),
            Some(ErrorCode::RegistrationClosed)
        );
        assert_eq!(
            code(CreateAccountError::Store(StoreError::Corrupt("x"))),
            None
        );
        let refused = Failure::from(RegisterError::CredentialExists);
        assert_eq!(refused.refusal_code(), Some(ErrorCode::CredentialExists));
        assert!(matches!(
            Failure::from(RegisterError::UserGone),
            Failure::Bug(_)
        ));
    }
}

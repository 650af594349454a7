//! Answers of the `/auth/*` endpoints that are not successes.
//!
//! Every refusal is `{"error": {"code", "message"}}` with a proper status, built from the shared
//! error types' `code()` / `status()` / `body()` where one exists; the one exception is the
//! device token endpoint, whose errors are RFC 8628's `{"error": "<code>"}`
//! ([`PollError::body`]). A [`Failure::Internal`] is a fault of ours (D1 down, a bug): the client
//! gets a bare 500 and the details go to the log only.

use orbit_shared::auth::device_code::{PollError, UserCodeError};
use orbit_shared::auth::rate_limit::RateLimited;
use orbit_shared::auth::refresh::RefreshError;
use orbit_shared::auth::sealed::SealError;
use orbit_shared::auth::totp::TotpError;
use orbit_shared::gate::GateError;
use orbit_shared::token::TokenError;
use worker::{Headers, Response};

/// A refusal: status, JSON body, and a `Retry-After` for 429s.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    body: String,
    retry_after: Option<String>,
}

impl ApiError {
    /// A refusal with Orbit's error shape.
    pub fn new(status: u16, code: &'static str, message: &str) -> Self {
        ApiError {
            status,
            code,
            body: serde_json::json!({"error": {"code": code, "message": message}}).to_string(),
            retry_after: None,
        }
    }

    fn with_body(status: u16, code: &'static str, body: String) -> Self {
        ApiError {
            status,
            code,
            body,
            retry_after: None,
        }
    }

    pub fn bad_request(message: &str) -> Self {
        ApiError::new(400, "bad_request", message)
    }

    pub fn not_found(code: &'static str, message: &str) -> Self {
        ApiError::new(404, code, message)
    }

    /// The HTTP answer.
    pub fn response(&self) -> worker::Result<Response> {
        let headers = Headers::new();
        headers.set("Content-Type", "application/json")?;
        headers.set("Cache-Control", "no-store")?;
        if let Some(retry) = &self.retry_after {
            headers.set("Retry-After", retry)?;
        }
        Ok(Response::ok(self.body.clone())?
            .with_status(self.status)
            .with_headers(headers))
    }
}

impl From<TotpError> for ApiError {
    fn from(e: TotpError) -> Self {
        ApiError::with_body(e.status(), e.code(), e.body())
    }
}

impl From<RefreshError> for ApiError {
    fn from(e: RefreshError) -> Self {
        ApiError::with_body(e.status(), e.code(), e.body())
    }
}

impl From<UserCodeError> for ApiError {
    fn from(e: UserCodeError) -> Self {
        ApiError::with_body(e.status(), e.code(), e.body())
    }
}

impl From<PollError> for ApiError {
    fn from(e: PollError) -> Self {
        ApiError::with_body(e.status(), e.code(), e.body())
    }
}

impl From<RateLimited> for ApiError {
    fn from(e: RateLimited) -> Self {
        ApiError {
            retry_after: Some(e.retry_after_header()),
            ..ApiError::with_body(e.status(), e.code(), e.body())
        }
    }
}

impl From<SealError> for ApiError {
    fn from(e: SealError) -> Self {
        ApiError::new(e.status(), e.code(), &e.to_string())
    }
}

impl From<GateError> for ApiError {
    fn from(e: GateError) -> Self {
        ApiError::with_body(e.status(), e.code(), e.body())
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        GateError::Token(e).into()
    }
}

/// Why a handler did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// Refused, with an answer for the client.
    Api(ApiError),
    /// Our fault; logged, answered 500.
    Internal(worker::Error),
}

impl Failure {
    pub fn response(&self) -> worker::Result<Response> {
        match self {
            Failure::Api(e) => e.response(),
            Failure::Internal(e) => {
                worker::console_error!("auth: internal error: {e}");
                ApiError::new(500, "internal_error", "something went wrong on our side").response()
            }
        }
    }
}

impl From<worker::Error> for Failure {
    fn from(e: worker::Error) -> Self {
        Failure::Internal(e)
    }
}

impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Self {
        Failure::Internal(e.into())
    }
}

macro_rules! refusal {
    ($($t:ty),*) => {$(
        impl From<$t> for Failure {
            fn from(e: $t) -> Self {
                Failure::Api(e.into())
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
    TokenError
);

/// What handlers return.
pub type AuthResult<T> = std::result::Result<T, Failure>;

//! The one error type of the WebAuthn verifier.
//!
//! Each variant has a stable [`WebauthnError::code`] the Worker puts in its `{"error": {"code"}}`
//! answer and in security logs. The code has no fixed HTTP status: the Worker answers a refused
//! registration with 400 and a refused sign-in with 401. The `&'static str` reasons only say which structural check failed
//! (never a secret or a value from the request), to make a refused real-world passkey debuggable.

use orbit_protocol::ErrorCode;

/// Why a registration or an assertion was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebauthnError {
    /// `clientDataJSON` (or the response JSON around it) is not what a browser sends.
    #[error("client data is malformed: {0}")]
    BadClientData(&'static str),
    /// `clientDataJSON.type` is not the ceremony's (`webauthn.create` / `webauthn.get`), or the
    /// credential's `type` is not `public-key`.
    #[error("wrong ceremony or credential type")]
    WrongType,
    /// The challenge is not the one this ceremony issued.
    #[error("the challenge does not match")]
    ChallengeMismatch,
    /// The origin is not in the configured list, or the call came from a cross-origin iframe.
    #[error("the origin is not allowed")]
    OriginNotAllowed,
    /// The authenticator data is scoped to another RP ID.
    #[error("the RP ID hash does not match")]
    RpIdMismatch,
    /// The UP flag is clear.
    #[error("the user was not present")]
    UserNotPresent,
    /// The UV flag is clear although verification is required.
    #[error("the user was not verified")]
    UserNotVerified,
    /// The authenticator data is truncated, inconsistent or has trailing bytes.
    #[error("authenticator data is malformed: {0}")]
    BadAuthenticatorData(&'static str),
    /// The credential uses an algorithm Orbit does not accept.
    #[error("unsupported public key algorithm")]
    UnsupportedAlgorithm,
    /// The COSE public key is malformed or not a valid key.
    #[error("public key is malformed: {0}")]
    BadPublicKey(&'static str),
    /// The assertion signature does not verify with the stored key.
    #[error("the signature does not verify")]
    BadSignature,
    /// The signature counter did not increase: a possible cloned authenticator.
    #[error("the signature counter did not increase")]
    CounterRegressed,
    /// The response names a credential that is not the stored one (or not known at all).
    #[error("unknown credential")]
    UnknownCredential,
    /// The attestation object is malformed or its statement does not verify.
    #[error("attestation is malformed or invalid: {0}")]
    BadAttestation(&'static str),
}

impl WebauthnError {
    /// The stable machine-readable code of this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            WebauthnError::BadClientData(_) => ErrorCode::BadClientData,
            WebauthnError::WrongType => ErrorCode::WrongType,
            WebauthnError::ChallengeMismatch => ErrorCode::ChallengeMismatch,
            WebauthnError::OriginNotAllowed => ErrorCode::OriginNotAllowed,
            WebauthnError::RpIdMismatch => ErrorCode::RpIdMismatch,
            WebauthnError::UserNotPresent => ErrorCode::UserNotPresent,
            WebauthnError::UserNotVerified => ErrorCode::UserNotVerified,
            WebauthnError::BadAuthenticatorData(_) => ErrorCode::BadAuthenticatorData,
            WebauthnError::UnsupportedAlgorithm => ErrorCode::UnsupportedAlgorithm,
            WebauthnError::BadPublicKey(_) => ErrorCode::BadPublicKey,
            WebauthnError::BadSignature => ErrorCode::BadSignature,
            WebauthnError::CounterRegressed => ErrorCode::CounterRegressed,
            WebauthnError::UnknownCredential => ErrorCode::UnknownCredential,
            WebauthnError::BadAttestation(_) => ErrorCode::BadAttestation,
        }
    }
}

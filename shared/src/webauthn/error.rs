//! The one error type of the WebAuthn verifier.
//!
//! Each variant has a stable [`WebauthnError::code`] the Worker puts in its `{"error": {"code"}}`
//! answer and in security logs. The `&'static str` reasons only say which structural check failed
//! (never a secret or a value from the request), to make a refused real-world passkey debuggable.

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
    pub fn code(&self) -> &'static str {
        match self {
            WebauthnError::BadClientData(_) => "bad_client_data",
            WebauthnError::WrongType => "wrong_type",
            WebauthnError::ChallengeMismatch => "challenge_mismatch",
            WebauthnError::OriginNotAllowed => "origin_not_allowed",
            WebauthnError::RpIdMismatch => "rp_id_mismatch",
            WebauthnError::UserNotPresent => "user_not_present",
            WebauthnError::UserNotVerified => "user_not_verified",
            WebauthnError::BadAuthenticatorData(_) => "bad_authenticator_data",
            WebauthnError::UnsupportedAlgorithm => "unsupported_algorithm",
            WebauthnError::BadPublicKey(_) => "bad_public_key",
            WebauthnError::BadSignature => "bad_signature",
            WebauthnError::CounterRegressed => "counter_regressed",
            WebauthnError::UnknownCredential => "unknown_credential",
            WebauthnError::BadAttestation(_) => "bad_attestation",
        }
    }
}

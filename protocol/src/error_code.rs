//! Every machine-readable error code Orbit and the anchor put on the wire.
//!
//! One code appears in one of three places:
//! * a WebSocket control frame `{"type":"orbit.error","code":…,"message":…}`;
//! * a JSON-RPC error's `error.data.code` (routing refusals from Orbit, and the anchor's own
//!   answers: helpers, codex gone, busy);
//! * an HTTP refusal `{"error":{"code":…,"message":…}}` of the `/auth/*` and `/ws/*` endpoints
//!   (or RFC 8628's `{"error":"…"}` for the device token endpoint).
//!
//! The wire form is the snake_case name:
//!
//! ```
//! use orbit_protocol::ErrorCode;
//! assert_eq!(ErrorCode::AnchorOffline.as_str(), "anchor_offline");
//! assert_eq!(serde_json::to_string(&ErrorCode::FrameTooLarge).unwrap(), r#""frame_too_large""#);
//! assert_eq!("rate_limited".parse::<ErrorCode>(), Ok(ErrorCode::RateLimited));
//! assert_eq!(ErrorCode::RateLimited.http_status(), Some(429));
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($( $(#[doc = $doc:literal])* $variant:ident = $wire:literal, $status:expr; )*) => {
        /// A machine-readable error code: in `orbit.error` frames, in `error.data.code` of
        /// JSON-RPC errors, and in the `/auth/*` endpoints' refusals.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The wire name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $wire,)*
                }
            }

            /// The HTTP status Orbit answers with when this code refuses an HTTP request, for
            /// codes that have one fixed status. Codes only ever sent over a socket have none,
            /// and so do the passkey ceremony's refusals, whose status depends on the ceremony
            /// (400 while registering, 401 while signing in).
            pub const fn http_status(self) -> Option<u16> {
                match self {
                    $(ErrorCode::$variant => $status,)*
                }
            }
        }
    };
}

error_codes! {
    // --- WebSocket frames (`orbit.error`) ----------------------------------------------------
    /// A frame over the size limit ([`crate::limits::MAX_FRAME_BYTES`]).
    FrameTooLarge = "frame_too_large", None;
    /// Not valid JSON.
    MalformedJson = "malformed_json", None;
    /// Valid JSON that is not an object.
    NotAnObject = "not_an_object", None;
    /// A control frame whose `type` Orbit does not know.
    UnknownType = "unknown_type", None;
    /// A known control frame with a bad shape, or sent by the wrong side.
    BadFrame = "bad_frame", None;
    /// A JSON object that is neither a control frame nor a JSON-RPC message.
    InvalidMessage = "invalid_message", None;
    /// A binary WebSocket frame: Orbit speaks UTF-8 JSON text only.
    BinaryFrame = "binary_frame", None;
    /// A socket subscribed to more threads than allowed.
    TooManySubscriptions = "too_many_subscriptions", None;
    /// An anchor answered a request id Orbit never forwarded.
    UnknownResponseId = "unknown_response_id", None;

    // --- Routing (`error.data.code` of a JSON-RPC error from Orbit) ----------------------------
    /// Several anchors are online and the request names none (`params.anchorId`).
    AnchorRequired = "anchor_required", None;
    /// The named anchor is not paired with the account (also an HTTP 404 of `/auth/anchors/…`).
    AnchorNotFound = "anchor_not_found", Some(404);
    /// The anchor the request must go to is not connected.
    AnchorOffline = "anchor_offline", None;
    /// The request names an anchor other than the one its thread lives on.
    ThreadAnchorMismatch = "thread_anchor_mismatch", None;
    /// A client answered a server request that does not exist.
    UnknownRequest = "unknown_request", None;
    /// A client answered a server request that another answer already settled.
    AlreadyResolved = "already_resolved", None;

    // --- The anchor's own answers (`error.data.code`) -----------------------------------------
    /// codex exited while the request was in flight.
    CodexExited = "codex_exited", None;
    /// Too many helper calls are queued.
    AnchorBusy = "anchor_busy", None;
    /// A helper path outside the anchor's allowed roots.
    PathNotAllowed = "path_not_allowed", None;
    /// A helper path inside the roots but in a place the anchor never exposes (its own state
    /// directory, codex's home, a secret store of the deny-list).
    PathDenied = "path_denied", None;
    /// A helper path that is a FIFO, socket or device: never opened, as reading one can block.
    NotARegularFile = "not_a_regular_file", None;
    /// A helper's git call on a directory that is not in a repository.
    NotARepository = "not_a_repository", None;
    /// A helper method the anchor does not have.
    UnknownMethod = "unknown_method", None;
    /// Helper parameters of the wrong shape.
    InvalidParams = "invalid_params", None;
    /// A helper answer over its size cap.
    TooLarge = "too_large", None;
    /// A file system error in a helper.
    IoError = "io_error", None;

    // --- HTTP: general ------------------------------------------------------------------------
    /// A request body or query that cannot be read.
    BadRequest = "bad_request", Some(400);
    /// No such endpoint or object (also a helper's missing file).
    NotFound = "not_found", Some(404);
    /// The endpoint exists, the method does not.
    MethodNotAllowed = "method_not_allowed", Some(405);
    /// A request body over the limit.
    BodyTooLarge = "body_too_large", Some(413);
    /// Too many attempts; the answer carries `Retry-After`.
    RateLimited = "rate_limited", Some(429);
    /// The deployment lacks a setting it needs (a secret, the RP ID).
    ServerMisconfigured = "server_misconfigured", Some(500);
    /// A fault of Orbit's; details are in its log only.
    InternalError = "internal_error", Some(500);
    /// A transient failure; the same request may succeed when repeated.
    TryAgain = "try_again", Some(503);

    // --- HTTP: tokens and the WebSocket upgrade -----------------------------------------------
    /// A non-upgrade request to a `/ws/*` path.
    UpgradeRequired = "upgrade_required", Some(426);
    /// No access token where one is needed.
    TokenMissing = "token_missing", Some(401);
    /// An access token that is not a well-formed JWT.
    TokenMalformed = "token_malformed", Some(401);
    /// An access token with a wrong signature.
    TokenBadSignature = "token_bad_signature", Some(401);
    /// An access token for the other audience (web vs anchor).
    TokenWrongAudience = "token_wrong_audience", Some(401);
    /// An expired access token.
    TokenExpired = "token_expired", Some(401);
    /// The token's session was revoked.
    SessionRevoked = "session_revoked", Some(401);
    /// The token's anchor was revoked (unpaired).
    AnchorRevoked = "anchor_revoked", Some(401);
    /// A browser `Origin` that is not allowed (also a passkey ceremony from such an origin).
    OriginNotAllowed = "origin_not_allowed", Some(403);

    // --- HTTP: refresh tokens -----------------------------------------------------------------
    RefreshMalformed = "refresh_malformed", Some(401);
    RefreshUnknown = "refresh_unknown", Some(401);
    RefreshExpired = "refresh_expired", Some(401);
    /// An already used refresh token: the whole session is revoked (reuse detection).
    RefreshReused = "refresh_reused", Some(401);

    // --- HTTP: accounts -----------------------------------------------------------------------
    /// An account or anchor name that is empty, too long or unprintable.
    InvalidName = "invalid_name", Some(400);
    NameTaken = "name_taken", Some(409);
    /// New accounts need an invite (or open registration).
    RegistrationClosed = "registration_closed", Some(403);
    InviteInvalid = "invite_invalid", Some(403);
    SessionNotFound = "session_not_found", Some(404);
    /// A session or anchor was revoked, but its open sockets could not be closed now (the
    /// user's hub could not be told); the hub's own re-check cuts them off within seconds.
    SocketsNotClosed = "sockets_not_closed", Some(503);
    /// Removing this would leave the account without a way to sign in.
    LastSignInMethod = "last_sign_in_method", Some(409);
    /// A sensitive change (a way in added or removed, an invite, a device approval) needs a
    /// session that proved a way in within the last few minutes: step up, then retry.
    StepUpRequired = "step_up_required", Some(403);

    // --- HTTP: TOTP ---------------------------------------------------------------------------
    InvalidCode = "invalid_code", Some(401);
    /// A code that was already used once (replay).
    CodeReplayed = "code_replayed", Some(401);
    MalformedCode = "malformed_code", Some(400);
    /// A stored secret that cannot be used.
    TotpSecretInvalid = "totp_secret_invalid", Some(500);
    TotpNotEnabled = "totp_not_enabled", Some(409);
    TotpAlreadyEnabled = "totp_already_enabled", Some(409);
    EnrollmentNotFound = "enrollment_not_found", Some(404);

    // --- HTTP: passkeys (status by ceremony where none is given) -------------------------------
    PasskeyNotFound = "passkey_not_found", Some(404);
    TooManyPasskeys = "too_many_passkeys", Some(409);
    CredentialExists = "credential_exists", Some(409);
    ChallengeUnknown = "challenge_unknown", None;
    ChallengeUsed = "challenge_used", None;
    ChallengeExpired = "challenge_expired", None;
    BadClientData = "bad_client_data", None;
    WrongType = "wrong_type", None;
    ChallengeMismatch = "challenge_mismatch", None;
    RpIdMismatch = "rp_id_mismatch", None;
    UserNotPresent = "user_not_present", None;
    UserNotVerified = "user_not_verified", None;
    BadAuthenticatorData = "bad_authenticator_data", None;
    UnsupportedAlgorithm = "unsupported_algorithm", None;
    BadPublicKey = "bad_public_key", None;
    BadSignature = "bad_signature", None;
    CounterRegressed = "counter_regressed", None;
    UnknownCredential = "unknown_credential", None;
    BadAttestation = "bad_attestation", None;

    // --- HTTP: the device flow (RFC 8628 names where RFC 8628 has one) ------------------------
    AuthorizationPending = "authorization_pending", Some(400);
    SlowDown = "slow_down", Some(400);
    AccessDenied = "access_denied", Some(400);
    ExpiredToken = "expired_token", Some(400);
    InvalidGrant = "invalid_grant", Some(400);
    InvalidRequest = "invalid_request", Some(400);
    UserCodeMalformed = "user_code_malformed", Some(400);
    UserCodeUnknown = "user_code_unknown", Some(404);
    UserCodeExpired = "user_code_expired", Some(410);
    UserCodeUsed = "user_code_used", Some(409);
    /// An approval from a link without the code's first characters, or with others.
    UserCodeConfirmMismatch = "user_code_confirm_mismatch", Some(400);

    // --- Secrets at rest ----------------------------------------------------------------------
    SealedMalformed = "sealed_malformed", Some(500);
    SealedUnknownVersion = "sealed_unknown_version", Some(500);
    SealedUndecryptable = "sealed_undecryptable", Some(500);
    SealedTooLarge = "sealed_too_large", Some(500);
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A code that is not one of Orbit's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown error code {0:?}")]
pub struct UnknownErrorCode(pub String);

impl FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorCode::ALL
            .iter()
            .copied()
            .find(|code| code.as_str() == s)
            .ok_or_else(|| UnknownErrorCode(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn wire_names_are_unique_snake_case_and_match_serde() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            let name = code.as_str();
            assert!(seen.insert(name), "{name} twice");
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name}"
            );
            assert_eq!(serde_json::to_string(code).unwrap(), format!("\"{name}\""));
            assert_eq!(name.parse::<ErrorCode>(), Ok(*code));
        }
        assert!("nope".parse::<ErrorCode>().is_err());
    }

    #[test]
    fn http_statuses_are_client_or_server_errors() {
        for code in ErrorCode::ALL {
            if let Some(status) = code.http_status() {
                assert!((400..600).contains(&status), "{code}: {status}");
            }
        }
    }
}

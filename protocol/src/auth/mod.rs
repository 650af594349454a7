//! The bodies of the `/auth/*` endpoints (SPEC §2): what clients and anchors send and what
//! Orbit answers. Field names are camelCase on the wire; lifetimes are seconds, instants
//! milliseconds since the epoch.
//!
//! * [`tokens`] — session credentials and their refresh.
//! * [`session`] — the answer of every sign-in, `GET /auth/session`, the session list,
//!   revocations.
//! * [`totp`] — TOTP enrolment, sign-in and disabling; invites.
//! * [`passkey`] — the passkey ceremonies and the passkey list.
//! * [`device`] — the device-code flow that pairs anchors.
//! * [`anchors`] — the signed-in user's anchors.
//! * [`step_up`] — the fresh proof sensitive changes need.
//! * [`events`] — security events.
//! * [`error`] — refusals.

pub mod anchors;
pub mod device;
pub mod error;
pub mod events;
pub mod passkey;
pub mod session;
pub mod step_up;
pub mod tokens;
pub mod totp;

pub use anchors::*;
pub use device::*;
pub use error::*;
pub use events::*;
pub use passkey::*;
pub use session::*;
pub use step_up::*;
pub use tokens::*;
pub use totp::*;

/// Writes the TypeScript of the auth bodies not already named in
/// [`crate::typescript::export_all`] (add new body types here).
#[cfg(feature = "typescript")]
pub(crate) fn export_typescript(cfg: &ts_rs::Config) -> Result<(), ts_rs::ExportError> {
    use ts_rs::TS;
    macro_rules! export {
        ($($t:ty),* $(,)?) => { $( <$t>::export_all(cfg)?; )* };
    }
    export!(
        SignedIn,
        SessionInfo,
        SignInMethods,
        SessionList,
        SessionSummary,
        Revocation,
        SecurityEventList,
        SecurityEvent,
        SecurityEventKind,
        TotpEnrollStartRequest,
        TotpEnrollment,
        TotpEnrollVerifyRequest,
        TotpLoginRequest,
        TotpDisableRequest,
        TotpStatus,
        Invite,
        PasskeyRegisterOptionsRequest,
        PasskeyRegisterOptions,
        PasskeyRegisterVerifyRequest,
        PasskeyAdded,
        PasskeyLoginOptions,
        PasskeyLoginVerifyRequest,
        PasskeyList,
        PasskeyInfo,
        PasskeyRemoved,
        DeviceAuthorised,
        AnchorList,
        AnchorSummary,
        AnchorRenameRequest,
        AnchorRenamed,
        StepUpMethod,
        StepUpTotpRequest,
        StepUpPasskeyOptions,
        StepUpPasskeyVerifyRequest,
        SteppedUp,
    );
    Ok(())
}

//! `GET /auth/security-events`: what happened to the account (SPEC §2 "Abuse").
//!
//! ```
//! use orbit_protocol::auth::SecurityEventKind;
//! assert_eq!(SecurityEventKind::RefreshReuse.as_str(), "refresh_reuse");
//! assert_eq!(
//!     serde_json::to_string(&SecurityEventKind::SignInFailure).unwrap(),
//!     r#""sign_in_failure""#
//! );
//! ```

use serde::{Deserialize, Serialize};

/// The signed-in user's latest events, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct SecurityEventList {
    pub events: Vec<SecurityEvent>,
}

/// One event. It holds ids, the client address and a short reason, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SecurityEvent {
    /// Milliseconds since the epoch.
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub at: u64,
    pub kind: SecurityEventKind,
    pub session_id: Option<String>,
    pub anchor_id: Option<String>,
    pub address: Option<String>,
    /// A reason code (`passkey: counter_regressed`), a method or a name.
    pub detail: Option<String>,
}

macro_rules! kinds {
    ($( $(#[doc = $doc:literal])* $variant:ident = $wire:literal, )*) => {
        /// What happened.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
        #[serde(rename_all = "snake_case")]
        pub enum SecurityEventKind {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl SecurityEventKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [SecurityEventKind] = &[$(SecurityEventKind::$variant),*];

            /// The wire name (also the stored one, and the log line's `security` field).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(SecurityEventKind::$variant => $wire,)*
                }
            }
        }
    };
}

kinds! {
    SignIn = "sign_in",
    SignInFailure = "sign_in_failure",
    AccountCreated = "account_created",
    RegistrationRefused = "registration_refused",
    TotpEnabled = "totp_enabled",
    TotpDisabled = "totp_disabled",
    PasskeyAdded = "passkey_added",
    PasskeyRemoved = "passkey_removed",
    RefreshReuse = "refresh_reuse",
    SessionRevoked = "session_revoked",
    Logout = "logout",
    AnchorRevoked = "anchor_revoked",
    AnchorRenamed = "anchor_renamed",
    DevicePaired = "device_paired",
    DeviceApproved = "device_approved",
    DeviceDenied = "device_denied",
    UserCodeRefused = "user_code_refused",
    InviteCreated = "invite_created",
    RateLimited = "rate_limited",
    /// A session proved a way in again (detail: `passkey` or `totp`).
    SteppedUp = "stepped_up",
    /// A sensitive change refused because the session had not proved a way in recently (detail:
    /// what was asked); a stolen access token trying its luck shows up here.
    StepUpRequired = "step_up_required",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde() {
        for kind in SecurityEventKind::ALL {
            let json = serde_json::to_string(kind).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
    }
}

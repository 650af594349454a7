//! A clock-free WebAuthn (Level 2/3) relying party for passkeys (SPEC §2).
//!
//! webauthn-rs compiles for wasm32 but reads `SystemTime::now()` while finishing a
//! registration, which panics inside workerd; so the Worker verifies with this module, built on
//! small, well-kept primitives (`minicbor`, RustCrypto `p256` / `ed25519-dalek` / `rsa`,
//! `sha2`), and the tests check it against webauthn-rs natively
//! (`shared/tests/webauthn_vs_webauthn_rs.rs`).
//!
//! The flow, with the caller doing all storage, randomness and time:
//!
//! 1. Issue a random challenge (≥ 16 bytes), keep it 5 minutes for one use, and send
//!    [`creation_options`] or [`request_options`].
//! 2. Parse the browser's answer into [`RegistrationResponseJson`] /
//!    [`AuthenticationResponseJson`] and take the challenge back out of storage (refusing one
//!    that is unknown, expired or already used: that is replay protection).
//! 3. [`verify_registration`] → store the [`NewCredential`] ([`NewCredential::to_stored`]);
//!    or look the credential up by [`AuthenticationResponseJson::credential_id`] (the user by
//!    its [`user_handle`](AuthenticationResponseJson::user_handle)), [`verify_authentication`]
//!    → store the new [`AuthOutcome::sign_count`].
//!
//! The RP ID and the allowed origins come only from [`WebauthnConfig`], never from a request.
//!
//! * [`error`] — [`WebauthnError`] and its stable codes.
//! * [`base64url`] — the binary encoding of the JSON.
//! * [`json`] — the browser's answers.
//! * [`options`] — the options sent to the browser.
//! * [`client_data`] — `clientDataJSON` checks.
//! * [`auth_data`] — authenticator data.
//! * [`attestation`] — the attestation object and why only self-attestation is verified.
//! * [`cose`] — COSE keys and signature verification (ES256, EdDSA, RS256).
//! * [`registration`], [`authentication`] — the two ceremonies.

pub mod attestation;
pub mod auth_data;
pub mod authentication;
pub mod base64url;
pub mod client_data;
pub mod cose;
pub mod error;
pub mod json;
pub mod options;
pub mod registration;

/// A software authenticator for tests (`--features test-authenticator`; never in the Worker).
#[cfg(any(test, feature = "test-authenticator"))]
pub mod test_authenticator;
#[cfg(test)]
mod tests;

use sha2::{Digest, Sha256};

pub use authentication::{find_credential, verify_authentication, AuthOutcome, StoredCredential};
pub use cose::Algorithm;
pub use error::WebauthnError;
pub use json::{
    AssertionResponseJson, AttestationResponseJson, AuthenticationResponseJson,
    RegistrationResponseJson,
};
pub use options::{
    creation_options, request_options, CreationOptionsJson, CredentialDescriptorJson,
    RequestOptionsJson, UserInfo,
};
pub use registration::{verify_registration, NewCredential};

/// How long a ceremony may take, in milliseconds (also the challenge's life in SPEC §2).
pub const DEFAULT_TIMEOUT_MS: u32 = 300_000;

/// The relying party, from configuration.
///
/// ```
/// use orbit_shared::webauthn::WebauthnConfig;
/// let config = WebauthnConfig::new("orbit.example", "Orbit", ["https://orbit.example/"]);
/// assert!(config.origin_allowed("https://orbit.example"));
/// assert!(config.origin_allowed("https://orbit.example/"));
/// assert!(!config.origin_allowed("https://orbit.example/path"));
/// assert!(!config.origin_allowed("https://evil.example"));
/// assert!(!config.origin_allowed("http://orbit.example"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebauthnConfig {
    /// The RP ID: a registrable domain suffix of the origins (e.g. `orbit.example`).
    pub rp_id: String,
    /// Shown by some authenticators.
    pub rp_name: String,
    /// Exact origins (`scheme://host[:port]`) the browser may report, e.g.
    /// `https://orbit.example`; a trailing `/` is dropped.
    pub allowed_origins: Vec<String>,
    /// Refuse ceremonies without UV (default: UV is preferred, and required only for
    /// credentials that were registered with it).
    pub require_user_verification: bool,
    /// Algorithms offered and accepted (default: [`Algorithm::ALL`]).
    pub algorithms: Vec<Algorithm>,
    /// The `timeout` of the options (default [`DEFAULT_TIMEOUT_MS`]).
    pub timeout_ms: u32,
}

impl WebauthnConfig {
    /// A configuration with Orbit's defaults.
    pub fn new<I, S>(rp_id: &str, rp_name: &str, allowed_origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        WebauthnConfig {
            rp_id: rp_id.to_string(),
            rp_name: rp_name.to_string(),
            allowed_origins: allowed_origins
                .into_iter()
                .map(|o| o.as_ref().trim().trim_end_matches('/').to_string())
                .collect(),
            require_user_verification: false,
            algorithms: Algorithm::ALL.to_vec(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
        }
    }

    /// Whether `origin` (from `clientDataJSON`) is one of the configured origins. Browsers
    /// serialise origins canonically, so this is an exact comparison, except that one trailing
    /// `/` is tolerated: clients that write the origin as a URL (webauthn-authenticator-rs,
    /// some native apps) send `https://host/`, which is the same origin.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        let origin = origin.strip_suffix('/').unwrap_or(origin);
        self.allowed_origins.iter().any(|o| o == origin)
    }

    /// SHA-256 of the RP ID, as found at the start of authenticator data.
    pub fn rp_id_hash(&self) -> [u8; 32] {
        Sha256::digest(self.rp_id.as_bytes()).into()
    }
}

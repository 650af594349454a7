//! The browser's side of a passkey ceremony, for the suites that sign in with one
//! (auth_passkey.rs, step_up.rs): Orbit's software authenticator answering Orbit's options as
//! a browser at the allowed origin would.

use anyhow::{anyhow, Result};
use orbit_shared::webauthn::base64url;
use orbit_shared::webauthn::test_authenticator::{Ceremony, KeyKind, TestAuthenticator};
use orbit_tests::ALLOWED_ORIGIN;
use serde_json::Value;

/// The relying party the test Orbit names (the host of [`ALLOWED_ORIGIN`]).
pub const RP_ID: &str = "allowed.test";

/// A software passkey with a fresh random credential id (so tests sharing an Orbit never
/// collide on one).
pub fn authenticator(kind: KeyKind, seed: u8) -> TestAuthenticator {
    let mut auth = TestAuthenticator::new(kind, seed);
    auth.credential_id = rand::random::<[u8; 32]>().to_vec();
    auth
}

/// The base64url field at `pointer` of a ceremony's options, decoded.
pub fn b64_field(options: &Value, pointer: &str) -> Result<Vec<u8>> {
    options
        .pointer(pointer)
        .and_then(Value::as_str)
        .and_then(base64url::decode)
        .ok_or_else(|| anyhow!("options lack {pointer}: {options}"))
}

/// A well-formed ceremony for the challenge of `options`, as a browser at [`ALLOWED_ORIGIN`]
/// would run it.
pub fn ceremony(options: &Value) -> Result<Ceremony> {
    Ok(Ceremony::new(
        RP_ID,
        ALLOWED_ORIGIN,
        &b64_field(options, "/publicKey/challenge")?,
    ))
}

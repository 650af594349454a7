//! Orbit's fuzz targets, one pure function per target. Each reads its input as the part of Orbit
//! it aims at would (a WebSocket text frame, a bearer token, CBOR from an authenticator, a path
//! from a client, …), and panics when an invariant breaks — not only when the code under test
//! panics: a parse that accepts must agree with what a full reading of the input says, a token
//! that verifies must have been signed by the key under test, a resolved path must lie inside
//! its root, and so on (each module says what it checks).
//!
//! Two drivers run them:
//! * cargo-fuzz (`fuzz/libfuzzer`, nightly, `make fuzz`): `fuzz_targets/<name>.rs` calls the
//!   target's function with libFuzzer's input;
//! * `cargo test` (stable, in `make test`): `tests/corpus.rs` replays every committed file of
//!   `fuzz/corpus/<name>/` through the same function.
//!
//! The seed corpus is made by `cargo run -p orbit-fuzz --bin orbit-fuzz-seeds` ([`seeds`]).

// A broken invariant is reported by panicking: that is what libFuzzer and the replay test catch.
#![allow(clippy::panic)]

pub mod codes;
pub mod frame;
pub mod refresh;
pub mod router;
pub mod sandbox;
pub mod seeds;
pub mod token;
pub mod webauthn;

/// Every target, by the name of its `fuzz/libfuzzer/fuzz_targets/<name>.rs` and
/// `fuzz/corpus/<name>/`.
pub const TARGETS: &[&str] = &[
    "frame",
    "router",
    "cose",
    "auth_data",
    "attestation",
    "ceremony",
    "token",
    "refresh",
    "codes",
    "sandbox",
];

/// Runs the target `name` on `data`; `false` for a name that is not in [`TARGETS`].
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "frame" => frame::frame(data),
        "router" => router::router(data),
        "cose" => webauthn::cose(data),
        "auth_data" => webauthn::auth_data(data),
        "attestation" => webauthn::attestation(data),
        "ceremony" => webauthn::ceremony(data),
        "token" => token::token(data),
        "refresh" => refresh::refresh(data),
        "codes" => codes::codes(data),
        "sandbox" => sandbox::sandbox(data),
        _ => return false,
    }
    true
}

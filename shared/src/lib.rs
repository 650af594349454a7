//! Platform-free heart of Orbit.
//!
//! Everything here is plain data and pure functions: no I/O, no clock, no randomness. Time and
//! random values are passed in by the caller, so the same code runs inside the Cloudflare Worker
//! (wasm32) and natively, and is unit-tested natively.
//!
//! The wire contract itself (frames, error codes, request ids, limits) is the `orbit-protocol`
//! crate, below this one.
//!
//! * [`gate`] — token lookup, Origin policy and refusals for WebSocket upgrades.
//! * [`router`] — the per-user relay as a sans-IO state machine (events in, actions out).
//! * [`revocation`] — making a revocation hold: retrying the hub, and the hub's own re-check.
//! * [`token`] — access tokens (HS256 JWT) and their verification.
//! * [`auth`] — sign-in and pairing: TOTP, sealed secrets, refresh tokens, device codes, rate limits.
//! * [`web`] — the headers the web client is served with (Content-Security-Policy, caching).
//! * [`webauthn`] — passkeys: a clock-free WebAuthn relying-party verifier and its options.

pub mod auth;
pub mod gate;
pub mod revocation;
pub mod router;
pub mod token;
pub mod web;
pub mod webauthn;

//! Platform-free heart of Orbit.
//!
//! Everything here is plain data and pure functions: no I/O, no clock, no randomness. Time and
//! random values are passed in by the caller, so the same code runs inside the Cloudflare Worker
//! (wasm32) and natively, and is unit-tested natively.
//!
//! * [`limits`] — sizes and caps shared by every part.
//! * [`control`] — Orbit's own control frames (`orbit.*`, `anchor.hello`, `ping`).
//! * [`frame`] — classifying an inbound WebSocket text frame.
//! * [`gate`] — token lookup, Origin policy and refusals for WebSocket upgrades.
//! * [`rpc`] — the JSON-RPC dialect of `codex app-server`, and the fields routing looks at.
//! * [`request_id`] — stateless return addresses encoded into rewritten request ids.
//! * [`router`] — the per-user relay as a sans-IO state machine (events in, actions out).
//! * [`token`] — access tokens (HS256 JWT) and their verification.
//! * [`auth`] — sign-in and pairing: TOTP, sealed secrets, refresh tokens, device codes, rate limits.
//! * [`anchor`] — the anchor's sans-IO core: backoff, status-socket framing, the Orbit↔codex bridge.
//! * [`webauthn`] — passkeys: a clock-free WebAuthn relying-party verifier and its options.

pub mod anchor;
pub mod auth;
pub mod control;
pub mod frame;
pub mod gate;
pub mod limits;
pub mod request_id;
pub mod router;
pub mod rpc;
pub mod token;
pub mod webauthn;

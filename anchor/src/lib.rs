//! Orbit anchor library: the pieces of the anchor that are testable on their own.
//!
//! Decisions without I/O, unit-tested on their own:
//! * [`bridge`] — the Orbit↔codex bridge, a sans-IO state machine;
//! * [`connection`] — the Orbit socket's URL, the token refresh schedule, the final endings;
//! * [`backoff`] — exponential backoff with jitter for reconnects and codex restarts;
//! * [`deny`] — the places the helpers never expose, matched against canonical paths.
//!
//! Wire formats (JSON-RPC answers are `orbit_protocol::rpc`): [`lines`] (codex's stdio),
//! [`framing`] (the status socket).
//!
//! Carrying them out: [`run`] (the event loop), [`orbit`] (the socket), [`codex`] (the child
//! process), [`control`] (status and stop), [`helpers`] and [`sandbox`] (`anchor.*`),
//! [`login`], [`tokens`] and [`credentials`] (pairing), [`audit`], [`config`], [`cli`].

pub mod audit;
pub mod backoff;
pub mod bridge;
pub mod cli;
pub mod codex;
pub mod config;
pub mod connection;
pub mod control;
pub mod credentials;
pub mod deny;
pub mod framing;
pub mod helpers;
pub mod lines;
pub mod login;
pub mod orbit;
pub mod run;
pub mod sandbox;
pub mod tokens;

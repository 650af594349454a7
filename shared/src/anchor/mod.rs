//! The anchor's platform-free core: everything the `anchor` binary decides, without its I/O.
//!
//! The binary owns sockets, the codex child process, timers and the random source; these
//! modules own the decisions, so they are unit-tested natively and the binary stays thin.
//!
//! * [`backoff`] — exponential backoff with jitter for Orbit reconnects and codex restarts.
//! * [`framing`] — length-prefixed JSON frames for the local status socket (`anchor status`).
//! * [`bridge`] — the bridge between Orbit (WebSocket frames) and codex (stdio JSON lines).
//! * [`connection`] — the Orbit socket's URL, the token refresh schedule, the final endings.

pub mod backoff;
pub mod bridge;
pub mod connection;
pub mod framing;

//! Orbit's wire contract, and nothing else: what travels between browsers, Orbit and anchors.
//!
//! * [`control`]: Orbit's own control frames (`orbit.*`, `anchor.hello`, `ping`, `pong`).
//! * [`envelope`]: one zero-copy pass over a frame (control frame or JSON-RPC message) that
//!   finds the fields routing reads, and rewrites by splicing the text at their offsets.
//! * [`rpc`]: JSON-RPC error answers, with Orbit's [`ErrorCode`] in `error.data.code`.
//! * [`request_id`]: return addresses encoded into the request ids Orbit rewrites.
//! * [`error_code`]: every machine-readable error code on the wire, with its HTTP status.
//! * [`auth`]: the bodies of the `/auth/*` endpoints (SPEC §2); [`dev`]: the development API.
//! * [`limits`]: sizes and caps that every part must agree on.
//!
//! It compiles for wasm32 (the Worker) and natively (the anchor, tests, bench), with serde and
//! serde_json as its only real dependencies. With the `typescript` feature every type derives
//! `ts_rs::TS`; `cargo xtask protocol-ts` writes them to `web/src/lib/protocol/`.

/// `Debug` for a body that carries secrets: the listed secret fields print as `<redacted>`, so
/// a body that reaches a log line never leaks a token, a code or a TOTP secret.
macro_rules! debug_without_secrets {
    ($ty:ident { $($field:ident),* $(,)? } secret { $($secret:ident),* $(,)? }) => {
        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($field), &self.$field))*
                    $(.field(stringify!($secret), &"<redacted>"))*
                    .finish()
            }
        }
    };
}
pub(crate) use debug_without_secrets;

pub mod auth;
pub mod control;
#[cfg(any(test, feature = "count-parses"))]
pub mod count;
pub mod dev;
pub mod envelope;
pub mod error_code;
pub mod limits;
pub mod origin;
pub mod request_id;
pub mod rpc;
#[cfg(feature = "typescript")]
pub mod typescript;

pub use control::Control;
pub use envelope::{peek, Envelope};
pub use error_code::ErrorCode;

/// WebSocket close codes with a meaning of Orbit's own.
pub mod close {
    /// An anchor connection replaced by a newer one of the same anchor.
    pub const CLOSE_REPLACED: u16 = 4001;
    /// A socket whose session or anchor was revoked.
    pub const CLOSE_REVOKED: u16 = 4003;
    /// Orbit's storage failed and the hub reset: reconnect, and resubscribe with `sinceSeq`.
    pub const CLOSE_STORAGE_FAILED: u16 = 1011;
}

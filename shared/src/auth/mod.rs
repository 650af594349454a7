//! Sign-in and pairing logic with no platform in it (SPEC §2). The Worker stores rows in D1 and
//! rate-limit state in Durable Objects, reads the clock and draws random bytes; everything it
//! decides with them lives here, as pure functions tested natively.
//!
//! * [`totp`] — RFC 6238 codes: enrolment URI, verification with replay refusal.
//! * [`sealed`] — AES-256-GCM sealing of secrets at rest (TOTP secrets), bound to their user.
//! * [`refresh`] — refresh-token format, storage hash, successors, and the rotate / reissue
//!   (grace window) / reuse decision.
//! * [`device_code`] — RFC 8628 device and user codes, and the grant's poll state machine.
//! * [`rate_limit`] — per-address and per-account limits (GCRA), with the brute-force bounds.
//! * [`hash`] — storage hashes of bearer secrets and constant-time comparison.
//! * [`names`] — account names (canonical form) and display names.
//! * [`step_up`] — whether a session proved a way in recently enough for a sensitive change.
//!
//! Conventions: times are seconds since the Unix epoch (`now_s`), except the rate limiter's
//! milliseconds (`now_ms`); random inputs are fixed-size byte arrays the caller fills from a
//! CSPRNG (`crypto.getRandomValues` in the Worker); expiry instants are exclusive (`now >=
//! expires_at` is expired), as in [`crate::token`]. Each error type has a stable `code()`, an
//! [`orbit_protocol::ErrorCode`], whose `http_status()` is the status to answer with.

pub mod client_address;
pub mod device_code;
pub mod device_origin;
pub mod hash;
pub mod names;
pub mod rate_limit;
pub mod refresh;
pub mod sealed;
pub mod step_up;
pub mod totp;

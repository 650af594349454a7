//! What several routes share, over [`super::store`]: who is calling, rate limits, security
//! events, sessions and their refresh, who may create an account, housekeeping. Nothing here
//! answers HTTP; refusals are [`super::error::Failure`]s for the routes to return.
//!
//! * [`caller`] — bearer authentication of HTTP calls.
//! * [`audit`] — security events: a log line now, a row after the answer.
//! * [`limits`] — the rate-limit policy, enforced with its state in D1.
//! * [`sessions`] — drawing a session, its credentials, closing revoked sockets.
//! * [`refresh`] — refresh rotation with reuse detection (web and anchor).
//! * [`accounts`] — account names and the sign-up rule (bootstrap, open, invites).
//! * [`step_up`] — the fresh proof a sensitive change needs.
//! * [`housekeeping`] — the occasional sweep of expired rows.
//!
//! Arrows: [`refresh`] → [`sessions`], [`limits`], [`audit`]; [`limits`] → [`audit`];
//! [`accounts`] → [`audit`]; [`step_up`] → [`audit`]; the rest stand alone. None points back up into the routes.

pub mod accounts;
pub mod audit;
pub mod caller;
pub mod housekeeping;
pub mod limits;
pub mod refresh;
pub mod sessions;
pub mod step_up;

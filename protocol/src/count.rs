//! How many times frames were parsed in full, on this thread: the proof that a frame is read
//! once on its way through (SPEC §6 asks that relaying stay cheap). Only built for tests and
//! with the `count-parses` feature.
//!
//! ```
//! use orbit_protocol::{count, envelope::peek};
//! count::reset();
//! peek(r#"{"method":"m"}"#).unwrap();
//! assert_eq!(count::full_parses(), 1);
//! ```

use std::cell::Cell;

thread_local! {
    static FULL_PARSES: Cell<u64> = const { Cell::new(0) };
}

/// Called by every function of this crate that reads a whole frame.
pub(crate) fn full_parse() {
    FULL_PARSES.with(|n| n.set(n.get() + 1));
}

/// Full parses on this thread since the last [`reset`].
pub fn full_parses() -> u64 {
    FULL_PARSES.with(Cell::get)
}

pub fn reset() {
    FULL_PARSES.with(|n| n.set(0));
}

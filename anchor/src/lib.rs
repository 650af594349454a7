//! Orbit anchor library: the pieces of the anchor that are testable on their own.

pub mod audit;
pub mod cli;
pub mod codex;
pub mod config;
pub mod control;
pub mod credentials;
pub mod helpers;
pub mod login;
pub mod orbit;
pub mod run;
pub mod sandbox;
pub mod tokens;

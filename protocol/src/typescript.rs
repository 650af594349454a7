//! The protocol's TypeScript types, for the web client (`typescript` feature).
//!
//! `cargo xtask typescript` writes them to `web/src/lib/protocol/`, one file per type, and a
//! test fails when the committed copy differs from what the Rust types say.

use std::path::Path;

use ts_rs::{Config, ExportError, TS};

use crate::auth::*;
use crate::control::Control;
use crate::error_code::ErrorCode;
use crate::origin::Origin;

/// ts-rs's settings for Orbit: 64-bit integers are JSON numbers (every one Orbit sends is
/// below 2^53: milliseconds, sequence numbers, lifetimes).
pub fn config(out_dir: &Path) -> Config {
    Config::new().with_out_dir(out_dir).with_large_int("number")
}

/// Writes every protocol type, and every type it refers to, into `out_dir`.
pub fn export_all(out_dir: &Path) -> Result<(), ExportError> {
    let cfg = config(out_dir);
    macro_rules! export {
        ($($t:ty),* $(,)?) => { $( <$t>::export_all(&cfg)?; )* };
    }
    export!(
        Control,
        ErrorCode,
        Origin,
        ApiErrorBody,
        DeviceTokenError,
        Credentials,
        AnchorCredentials,
        RefreshRequest,
        DeviceCodeRequest,
        DeviceAuthorization,
        DeviceLookupRequest,
        DeviceLookup,
        DeviceAuthoriseRequest,
        DeviceTokenRequest,
    );
    crate::auth::export_typescript(&cfg)?;
    Ok(())
}

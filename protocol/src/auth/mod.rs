//! The bodies of the `/auth/*` endpoints (SPEC §2): what clients and anchors send and what
//! Orbit answers. Field names are camelCase on the wire; lifetimes are seconds.

pub mod device;
pub mod error;
pub mod tokens;

pub use device::*;
pub use error::*;
pub use tokens::*;

/// Writes the TypeScript of the auth bodies not already named in
/// [`crate::typescript::export_all`] (add new body types here).
#[cfg(feature = "typescript")]
pub(crate) fn export_typescript(_cfg: &ts_rs::Config) -> Result<(), ts_rs::ExportError> {
    Ok(())
}

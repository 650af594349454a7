//! The bodies of the `/auth/*` endpoints (SPEC §2): what clients and anchors send and what
//! Orbit answers. Field names are camelCase on the wire; lifetimes are seconds.

pub mod device;
pub mod error;
pub mod tokens;

pub use device::*;
pub use error::*;
pub use tokens::*;

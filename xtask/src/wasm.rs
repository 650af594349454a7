//! Step 1: the `orbit-worker` crate compiled for wasm32.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::toolchain::{WasmStd, TARGET};

const CRATE: &str = "orbit-worker";
const ARTIFACT: &str = "orbit_worker.wasm";

/// Builds the release cdylib and returns the path of the `.wasm`.
///
/// `target_dir` is kept apart from the native builds' `target/`: the wasm build sets
/// `RUSTC_BOOTSTRAP` and its own flags, and sharing one directory would make each build
/// invalidate the other's build scripts.
pub fn build(root: &Path, target_dir: &Path, std: &WasmStd) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(root)
        .args([
            "build",
            "--release",
            "--lib",
            "--package",
            CRATE,
            "--target",
            TARGET,
        ])
        .arg("--target-dir")
        .arg(target_dir);
    if std.builds_std() {
        // build-std is unstable; RUSTC_BOOTSTRAP lets the stable compiler build the very std
        // it was released with. It reaches every crate of this build, so a build script that
        // probes for nightly features finds them: one more reason for a target dir of its own.
        // panic_abort is the only panic runtime workerd can use.
        cmd.env("RUSTC_BOOTSTRAP", "1")
            .args(["-Z", "build-std=std,panic_abort"]);
    }
    let status = cmd
        .status()
        .with_context(|| format!("running {}", cargo.to_string_lossy()))?;
    if !status.success() {
        bail!("cargo build of {CRATE} for {TARGET} failed ({status})");
    }
    let wasm = target_dir.join(TARGET).join("release").join(ARTIFACT);
    if !wasm.is_file() {
        bail!("cargo reported success but {} is missing", wasm.display());
    }
    Ok(wasm)
}

//! Build tasks that need more than `cargo build`, run as `cargo xtask <task>`.
//!
//! `build-worker` turns the `orbit-worker` crate into what workerd loads
//! (`worker/build/index.js` + `index_bg.wasm`):
//!
//! 1. `cargo build --target wasm32-unknown-unknown` (std rebuilt from source when no prebuilt
//!    wasm32 std is installed, see [`toolchain`]);
//! 2. wasm-bindgen, as a library pinned in Cargo.lock ([`bindgen`]);
//! 3. the project's own JS entry module `worker/js/entry.js`, checked against what the wasm
//!    exports ([`exports`]), bundled by esbuild from npm ([`bundle`]).
//!
//! It replaces `worker-build`, which took minutes to install and wanted to download its helpers
//! from GitHub; docs/development.md has the reasoning.

mod bindgen;
mod bundle;
mod exports;
mod toolchain;
mod typescript;
mod wasm;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// Where workerd's bundle goes; `wrangler.toml`'s `main` names the file in it.
const OUT_DIR: &str = "worker/build";

#[derive(Parser)]
#[command(name = "xtask", about = "Orbit's build tasks (cargo xtask <task>)")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build the Worker for workerd: worker/build/index.js and index_bg.wasm (replaced only
    /// when every step succeeded).
    BuildWorker,
    /// Print which wasm32 standard library the build would use, and exit.
    WasmStd,
    /// Regenerate the web client's TypeScript types: web/src/lib/protocol (from orbit-protocol)
    /// and web/src/lib/codex (from the pinned codex).
    Typescript,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let root = repo_root();
    match cli.task {
        Task::BuildWorker => build_worker(&root, &root.join(OUT_DIR)),
        Task::Typescript => typescript::write(&root),
        Task::WasmStd => {
            println!("{}", toolchain::WasmStd::detect()?);
            Ok(())
        }
    }
}

fn build_worker(root: &Path, out_dir: &Path) -> Result<()> {
    let started = Instant::now();
    let std = toolchain::WasmStd::detect()?;
    eprintln!("build-worker: wasm32 std: {std}");

    let target_dir = root.join("target/wasm");
    let wasm = wasm::build(root, &target_dir, &std)?;

    let staging = target_dir.join("bundle");
    bindgen::generate(&wasm, &staging)?;
    exports::check_entry_wires_all(
        &staging.join(bindgen::JS_NAME),
        &root.join(bundle::ENTRY_SOURCE),
    )?;
    bundle::bundle(root, &staging)?;
    bundle::publish(&staging, out_dir)?;

    let wasm_out = out_dir.join(bindgen::WASM_NAME);
    let size = std::fs::metadata(&wasm_out)
        .with_context(|| format!("reading {}", wasm_out.display()))?
        .len();
    eprintln!(
        "build-worker: {} ({} bytes of wasm) in {:.1} s",
        out_dir.display(),
        size,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The workspace root: this crate lives one level below it.
pub(crate) fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

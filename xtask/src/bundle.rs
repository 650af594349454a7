//! Step 3: the entry module and the glue bundled into one ES module by esbuild (from npm), and
//! the result published to the output directory.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::bindgen::WASM_NAME;

/// The hand-written entry module workerd starts from (relative to the repository root).
pub const ENTRY_SOURCE: &str = "worker/js/entry.js";
const ESBUILD: &str = "node_modules/.bin/esbuild";
/// What `wrangler.toml`'s `main` names.
const BUNDLE_NAME: &str = "index.js";

/// Bundles `staging/entry.js` + glue into `staging/out/`, next to a copy of the wasm.
pub fn bundle(root: &Path, staging: &Path) -> Result<()> {
    let esbuild = root.join(ESBUILD);
    if !esbuild.is_file() {
        bail!(
            "{} is missing: run `make setup` (npm ci)",
            esbuild.display()
        );
    }
    std::fs::copy(root.join(ENTRY_SOURCE), staging.join("entry.js"))
        .with_context(|| format!("copying {ENTRY_SOURCE}"))?;
    let out = staging.join("out");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let status = Command::new(&esbuild)
        .current_dir(staging)
        .args([
            "entry.js",
            "--bundle",
            "--format=esm",
            "--minify",
            // workerd provides these; the wasm stays a module of its own next to the bundle.
            "--external:cloudflare:*",
            &format!("--external:./{WASM_NAME}"),
            "--log-level=warning",
            &format!("--outfile=out/{BUNDLE_NAME}"),
        ])
        .status()
        .with_context(|| format!("running {}", esbuild.display()))?;
    if !status.success() {
        bail!("esbuild failed ({status})");
    }
    std::fs::copy(staging.join(WASM_NAME), out.join(WASM_NAME))
        .with_context(|| format!("copying {WASM_NAME}"))?;
    Ok(())
}

/// Replaces `out_dir` (worker/build) with `staging/out`, so a failed build never leaves half a
/// bundle behind.
pub fn publish(staging: &Path, out_dir: &Path) -> Result<()> {
    let mut fresh_name = out_dir.file_name().unwrap_or_default().to_os_string();
    fresh_name.push(".new");
    let fresh = out_dir.with_file_name(fresh_name);
    if fresh.exists() {
        std::fs::remove_dir_all(&fresh).with_context(|| format!("removing {}", fresh.display()))?;
    }
    std::fs::create_dir_all(&fresh).with_context(|| format!("creating {}", fresh.display()))?;
    for name in [BUNDLE_NAME, WASM_NAME] {
        std::fs::copy(staging.join("out").join(name), fresh.join(name))
            .with_context(|| format!("copying {name} to {}", fresh.display()))?;
    }
    if out_dir.exists() {
        std::fs::remove_dir_all(out_dir)
            .with_context(|| format!("removing the old {}", out_dir.display()))?;
    }
    std::fs::rename(&fresh, out_dir)
        .with_context(|| format!("moving {} to {}", fresh.display(), out_dir.display()))?;
    Ok(())
}

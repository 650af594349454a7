//! Step 2: wasm-bindgen's JS glue for the module, in the form workerd imports.

use std::path::Path;

use anyhow::{Context, Result};
use wasm_bindgen_cli_support::Bindgen;

/// Base name of the outputs, as `wrangler.toml`'s `main` and the entry module expect.
const OUT_NAME: &str = "index";
/// The glue module wasm-bindgen writes.
pub const JS_NAME: &str = "index.js";
/// The processed wasm the glue imports.
pub const WASM_NAME: &str = "index_bg.wasm";

/// Writes `index.js`, `index_bg.wasm` and any inline-JS snippets into `out_dir` (emptied first).
pub fn generate(wasm: &Path, out_dir: &Path) -> Result<()> {
    if out_dir.exists() {
        std::fs::remove_dir_all(out_dir)
            .with_context(|| format!("emptying {}", out_dir.display()))?;
    }
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    Bindgen::new()
        .input_path(wasm)
        .out_name(OUT_NAME)
        // ES module that imports the compiled module from the .wasm file: what workerd loads.
        .module(true)?
        .typescript(false)
        // A panic with panic=abort leaves the instance unusable; these let the entry module
        // throw the instance away and start a fresh one (worker/js/entry.js).
        .reset_state_function(true)
        .force_enable_abort_handler(true)
        .generate(out_dir)
        .with_context(|| format!("wasm-bindgen on {}", wasm.display()))?;

    // wasm-bindgen writes the source-phase form `import source m from "x.wasm"`; workerd and
    // esbuild take the plain import of a .wasm file, which yields the same WebAssembly.Module.
    let js = out_dir.join(JS_NAME);
    let text = std::fs::read_to_string(&js).with_context(|| format!("reading {}", js.display()))?;
    std::fs::write(&js, plain_wasm_import(&text))
        .with_context(|| format!("writing {}", js.display()))?;
    Ok(())
}

fn plain_wasm_import(js: &str) -> String {
    js.split_inclusive('\n')
        .map(|line| match line.strip_prefix("import source ") {
            Some(rest) => format!("import {rest}"),
            None => line.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_source_phase_import_statement_changes() {
        let js = "import source wasmModule from \"./index_bg.wasm\";\n\
                  const s = \"import source in a string\";\n";
        assert_eq!(
            plain_wasm_import(js),
            "import wasmModule from \"./index_bg.wasm\";\n\
             const s = \"import source in a string\";\n"
        );
    }
}

#!/usr/bin/env bash
# Builds the Worker (worker/ → worker/build/index.js + index_bg.wasm) in release mode.
# Run scripts/setup.sh first (make does).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
load_tool_paths

[ -x "$WORKER_BUILD_BIN" ] && [ -x "$WASM_BINDGEN_BIN" ] || die "tools missing: run scripts/setup.sh"

# Use our pinned CLIs instead of worker-build downloading them from GitHub.
export WASM_BINDGEN_BIN
export ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild"
# Kept apart from target/ so the wasm toolchain (possibly another rustc) and the
# native builds never invalidate each other's artifacts.
export CARGO_TARGET_DIR="$ROOT/target/wasm"

case "$(wasm_toolchain)" in
rustup) ;;
debian)
    # Debian's rustc-web/cargo-web must win over the rustup proxies, and std is built
    # from rust-web-src, which needs the unstable build-std.
    export PATH="/usr/bin:$PATH" RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_abort
    # rustc-web's default `rust-lld` comes from rust-web-llvm (which drags in all of
    # LLVM); lld-22's wasm-ld is the same linker.
    export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-22
    ;;
*) die "no wasm32 toolchain: run scripts/setup.sh" ;;
esac

cd worker
# --no-opt: worker-build would fetch wasm-opt from GitHub (npm `binaryen` could supply it
# via WASM_OPT_BIN if size ever matters).
"$WORKER_BUILD_BIN" --release --no-opt

wasm="$ROOT/worker/build/index_bg.wasm"
[ -f "$wasm" ] || die "worker-build did not produce $wasm"
echo "worker: $(wc -c <"$wasm") bytes wasm, $(gzip -9 -c "$wasm" | wc -c) bytes gzipped"

# Shared by the scripts in this directory (sourced, not executed).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Debian's rustc-web looks for the wasm32 target here; worker-build insists it exists.
DEBIAN_WASM_LIBDIR=/usr/lib/rustlib/wasm32-unknown-unknown/lib

die() { echo "error: $*" >&2; exit 1; }

# Version of a package as resolved in Cargo.lock, so the CLIs always match the crates.
lock_version() {
    awk -v name="$1" '$1 == "name" && $3 == "\"" name "\"" { getline; gsub(/"/, "", $3); print $3; exit }' \
        "$ROOT/Cargo.lock"
}

# Sets the versions and paths of the project-local Rust CLIs (needs Cargo.lock).
load_tool_paths() {
    WASM_BINDGEN_VERSION="$(lock_version wasm-bindgen)"
    # worker-build is released in lockstep with the `worker` crate.
    WORKER_BUILD_VERSION="$(lock_version worker)"
    [ -n "$WASM_BINDGEN_VERSION" ] && [ -n "$WORKER_BUILD_VERSION" ] ||
        die "wasm-bindgen or worker not found in Cargo.lock"
    WASM_BINDGEN_BIN="$ROOT/.tools/wasm-bindgen-$WASM_BINDGEN_VERSION/bin/wasm-bindgen"
    WORKER_BUILD_BIN="$ROOT/.tools/worker-build-$WORKER_BUILD_VERSION/bin/worker-build"
}

# Which compiler builds the wasm: "rustup" when the standard target is installed,
# "debian" for Debian's rustc-web (std rebuilt from rust-web-src), else "none".
wasm_toolchain() {
    if command -v rustup >/dev/null 2>&1 &&
        rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
        echo rustup
    elif [ -f /etc/debian_version ]; then
        echo debian
    else
        echo none
    fi
}

# Shared by the scripts in this directory (sourced, not executed).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WASM_TARGET=wasm32-unknown-unknown
# Written next to a standard-library source that setup fetched from Debian: the `rustc -V` it
# was fetched for (first line) and the Debian package it came from.
RUST_SRC_MARKER=.orbit-rust-src

die() {
    echo "error: $*" >&2
    exit 1
}

# The workspace's minimum Rust version (Cargo.toml `rust-version`).
workspace_rust_version() {
    awk -F'"' '/^rust-version *=/ { print $2; exit }' "$ROOT/Cargo.toml"
}

# version_at_least A B: whether version A >= B.
version_at_least() {
    [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$2" ]
}

# "1.95.0" from "rustc 1.95.0 (59807616e 2026-04-14)"; pre-releases keep their suffix.
rustc_release() {
    rustc -V | awk '{ print $2 }'
}

rust_src_dir() {
    local sysroot
    sysroot="$(rustc --print sysroot)" || return 1
    echo "$sysroot/lib/rustlib/src/rust"
}

# Where the wasm32 standard library comes from, for the rustc that cargo uses:
#   prebuilt  rustup's target is installed
#   source    the compiler's own std source is in its sysroot (cargo -Z build-std)
#   stale     a std source fetched by setup for another rustc (after `rustup update`)
#   missing   neither
# cargo xtask build-worker (xtask/src/toolchain.rs) makes the same decision.
wasm_std() {
    local libdir src
    libdir="$(rustc --print target-libdir --target "$WASM_TARGET" 2>/dev/null || true)"
    if [ -n "$libdir" ] && compgen -G "$libdir/libcore-*.rlib" >/dev/null; then
        echo prebuilt
        return
    fi
    src="$(rust_src_dir)" || return 1
    if [ -f "$src/library/std/Cargo.toml" ]; then
        if [ -f "$src/$RUST_SRC_MARKER" ] && [ "$(head -n1 "$src/$RUST_SRC_MARKER")" != "$(rustc -V)" ]; then
            echo stale
        else
            echo source
        fi
        return
    fi
    echo missing
}

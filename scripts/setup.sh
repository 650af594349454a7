#!/usr/bin/env bash
# Installs everything the build and the tests need. Idempotent: each step is skipped
# when its result is already present, so it is cheap to run before every build.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs)"
command -v npm >/dev/null || die "npm not found: install Node.js >= 20.3"
[ -f Cargo.lock ] || cargo generate-lockfile
load_tool_paths

for component in fmt clippy; do
    cargo "$component" --version >/dev/null 2>&1 ||
        die "cargo $component is missing: rustup component add ${component/fmt/rustfmt}"
done

# --- Rust toolchain for wasm32 -------------------------------------------------------
# Where `rustup target add` cannot download, Debian ships a wasm-capable rustc
# (rustc-web) whose matching std source lets cargo build std for wasm32 itself.
# lld-22 provides the rust-lld that rustc-web links with but does not depend on.
DEBIAN_PACKAGES=(rustc-web cargo-web rust-web-src lld-22)
debian_packages_installed() {
    local p
    for p in "${DEBIAN_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || return 1
    done
}
case "$(wasm_toolchain)" in
rustup) ;;
debian)
    if debian_packages_installed; then
        :
    elif [ "$(id -u)" -eq 0 ]; then
        echo "setup: installing ${DEBIAN_PACKAGES[*]} (Debian's wasm-capable Rust)"
        if ! apt-cache show "${DEBIAN_PACKAGES[@]}" >/dev/null 2>&1; then
            apt-get update
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${DEBIAN_PACKAGES[@]}"
    else
        die "the wasm32-unknown-unknown Rust target is missing. Either run
    rustup target add wasm32-unknown-unknown
or (Debian, no rustup downloads) install Debian's wasm-capable Rust as root:
    apt-get install --no-install-recommends ${DEBIAN_PACKAGES[*]}"
    fi
    if [ ! -d "$DEBIAN_WASM_LIBDIR" ]; then
        [ "$(id -u)" -eq 0 ] || die "run as root once: mkdir -p $DEBIAN_WASM_LIBDIR"
        mkdir -p "$DEBIAN_WASM_LIBDIR"
    fi
    ;;
*)
    die "the wasm32-unknown-unknown Rust target is missing; run: rustup target add wasm32-unknown-unknown"
    ;;
esac

# --- npm: wrangler, miniflare/workerd, esbuild (exact versions from package-lock.json) --
# npm writes node_modules/.package-lock.json on every install; it is older than the
# lockfile exactly when the lockfile changed since.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
fi

# --- Rust CLIs, project-local and versioned (cacheable as .tools/) -----------------------
# They try to fetch prebuilt binaries from GitHub otherwise, which is not always reachable.
# No --locked for wasm-bindgen-cli: its lockfile names a crate version some registry
# mirrors lack.
if [ ! -x "$WASM_BINDGEN_BIN" ]; then
    echo "setup: building wasm-bindgen-cli $WASM_BINDGEN_VERSION (several minutes, once)"
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" \
        --root ".tools/wasm-bindgen-$WASM_BINDGEN_VERSION"
fi
if [ ! -x "$WORKER_BUILD_BIN" ]; then
    echo "setup: building worker-build $WORKER_BUILD_VERSION (several minutes, once)"
    cargo install --locked worker-build --version "$WORKER_BUILD_VERSION" \
        --root ".tools/worker-build-$WORKER_BUILD_VERSION"
fi

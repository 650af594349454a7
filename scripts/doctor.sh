#!/usr/bin/env bash
# `make doctor`: what the build would use and what is missing, with the command that fixes
# each. Installs nothing; exits 1 when something is missing.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

problems=()
row() { printf '  %-14s %s\n' "$1" "$2"; }
missing() {
    row "$1" "MISSING: $2"
    problems+=("$1: $3")
}

echo "Orbit build toolchain (make setup installs what is missing)"

if command -v rustc >/dev/null && command -v cargo >/dev/null; then
    toolchain=""
    if command -v rustup >/dev/null; then
        toolchain="  [rustup $(rustup show active-toolchain 2>/dev/null | awk '{ print $1 }')]"
    fi
    row rustc "$(rustc -V)$toolchain"
    row cargo "$(cargo -V)"
    needed="$(workspace_rust_version)"
    release="$(rustc_release)"
    if version_at_least "${release%%-*}" "$needed"; then
        row "minimum rust" "$needed (Cargo.toml rust-version): met"
    else
        missing "minimum rust" "$needed (Cargo.toml rust-version), rustc is $release" "rustup update stable"
    fi
    for component in fmt clippy; do
        if ! cargo "$component" --version >/dev/null 2>&1; then
            missing "cargo $component" "not installed" "rustup component add ${component/fmt/rustfmt}"
        fi
    done

    src="$(rust_src_dir)"
    case "$(wasm_std)" in
    prebuilt) row "wasm32 std" "prebuilt (rustup target $WASM_TARGET)" ;;
    source)
        origin="the toolchain's own rust-src"
        [ -f "$src/$RUST_SRC_MARKER" ] && origin="$(sed -n 2p "$src/$RUST_SRC_MARKER")"
        row "wasm32 std" "built by cargo from source (-Z build-std): $origin, in $src"
        ;;
    stale)
        missing "wasm32 std" "the source in $src is for $(head -n1 "$src/$RUST_SRC_MARKER")" \
            "make setup (fetches the std source matching $(rustc -V))"
        ;;
    missing)
        fix="make setup (fetches Debian's rust-src $release), or rustup target add $WASM_TARGET"
        if [ ! -f "$(rustc --print sysroot)/lib/rustlib/components" ]; then
            fix="install this rustc's std source with its package manager (Debian: apt-get install rust-src), or use rustup"
        fi
        case "$release" in
        *-*) fix="rustup target add $WASM_TARGET, or use a stable rustc (Debian packages only releases)" ;;
        esac
        missing "wasm32 std" "no prebuilt $WASM_TARGET std and no std source in $src" "$fix"
        ;;
    esac

    lld="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | awk '/^host:/ { print $2 }')/bin/rust-lld"
    if [ -x "$lld" ]; then
        row linker "rust-lld, $("$lld" -flavor wasm --version 2>/dev/null | awk '{ print $1, $2 }') ($lld)"
    else
        missing linker "rust-lld is not in the toolchain ($lld)" "rustup component add rust-std (or reinstall the toolchain)"
    fi
    row wasm-bindgen "$(awk '$1 == "name" && $3 == "\"wasm-bindgen-cli-support\"" { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock) (a library in Cargo.lock, run by cargo xtask build-worker)"
else
    missing rust "cargo/rustc not on PATH" "install Rust with rustup (https://rustup.rs)"
fi

if command -v node >/dev/null && command -v npm >/dev/null; then
    node_version="$(node --version)"
    if version_at_least "${node_version#v}" 20.3.0; then
        row node "$node_version, npm $(npm --version)"
    else
        missing node "$node_version is older than 20.3" "install Node.js 20.3 or newer"
    fi
    if [ -f node_modules/.package-lock.json ] && [ ! package-lock.json -nt node_modules/.package-lock.json ]; then
        versions=""
        for package in wrangler miniflare workerd esbuild @openai/codex; do
            v="$(node -p "require('./node_modules/$package/package.json').version" 2>/dev/null || echo '?')"
            versions+="${versions:+, }$package $v"
        done
        row "npm packages" "$versions"
    else
        missing "npm packages" "node_modules is missing or older than package-lock.json" "make setup (npm ci)"
    fi
else
    missing node "node/npm not on PATH" "install Node.js 20.3 or newer with npm"
fi

for tool in unshare ip; do
    if ! command -v "$tool" >/dev/null; then
        missing "$tool" "not on PATH (the codex suites run in a private network namespace)" \
            "make setup (as root), or apt-get install util-linux iproute2"
    fi
done

# The browser tests (web/e2e) drive Debian's Chromium through playwright-core.
if [ -x /usr/bin/chromium ]; then
    row chromium "$(/usr/bin/chromium --version 2>/dev/null | head -n1) (/usr/bin/chromium)"
else
    missing chromium "not installed (/usr/bin/chromium; the browser tests need it)" \
        "make setup (as root), or apt-get install chromium"
fi

if [ ${#problems[@]} -eq 0 ]; then
    echo "ready"
    exit 0
fi
echo "to fix:"
printf '  %s\n' "${problems[@]}"
exit 1

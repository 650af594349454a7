#!/usr/bin/env bash
# Installs what the build and the tests need. Idempotent: each step is skipped when its result
# is already present, so it is cheap to run before every build. `make doctor`
# (scripts/doctor.sh) reports the same things without installing anything.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/rust-src.sh"
cd "$ROOT"

command -v cargo >/dev/null && command -v rustc >/dev/null ||
    die "Rust not found: install it with rustup (https://rustup.rs)"
command -v npm >/dev/null || die "npm not found: install Node.js >= 20.3 with npm"

needed="$(workspace_rust_version)"
release="$(rustc_release)"
version_at_least "${release%%-*}" "$needed" ||
    die "rustc $release is older than the $needed Orbit needs: run  rustup update stable"

for component in fmt clippy; do
    cargo "$component" --version >/dev/null 2>&1 ||
        die "cargo $component is missing: run  rustup component add ${component/fmt/rustfmt}"
done

# --- Debian packages from the system's own suites -----------------------------------------
# Installs the packages not yet installed; refreshes the package lists first when any of them
# has no install candidate (lists missing or stale on a fresh machine).
debian_install() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    [ "$(id -u)" -eq 0 ] || die "missing Debian packages: run  sudo apt-get install ${missing[*]}"
    for p in "${missing[@]}"; do
        if ! apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [^(]'; then
            apt-get update -q
            break
        fi
    done
    echo "setup: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# The suites that start codex run it in a private network namespace (scripts/private-net.sh).
# Only they need these tools, so a build goes on without them.
if ! command -v unshare >/dev/null || ! command -v ip >/dev/null; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        debian_install util-linux iproute2
    else
        echo "setup: warning: \`unshare\` (util-linux) or \`ip\` (iproute2) is missing; make test needs them" >&2
    fi
fi

# --- The standard library for wasm32 ----------------------------------------------------------
# rustup's prebuilt target when it is installed; else the compiler's own std source from
# Debian's archive, built by cargo (scripts/rust-src.sh).
case "$(wasm_std)" in
prebuilt | source) ;;
missing | stale) fetch_rust_src ;;
esac

# --- npm: wrangler, miniflare/workerd, esbuild, codex (exact versions from package-lock.json) --
# npm writes node_modules/.package-lock.json on every install; it is older than the lockfile
# exactly when the lockfile changed since.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
fi

# --- Chromium, for the browser tests (web/e2e) -----------------------------------------------
# Debian's own package, driven by playwright-core; no browser is ever downloaded by a test tool.
# Installed when missing (as root). Only the browser tests need it, so without it a build goes on
# and `make test` stops at those tests, saying the same.
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        debian_install chromium
        [ -x /usr/bin/chromium ] || die "installing chromium left no /usr/bin/chromium"
    else
        echo "setup: warning: Chromium (/usr/bin/chromium) is missing; the browser tests need it: sudo apt-get install chromium" >&2
    fi
fi

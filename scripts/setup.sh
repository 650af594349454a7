#!/usr/bin/env bash
# Installs what the build and the tests need. Idempotent: each step is skipped when its result
# is already present, so it is cheap to run before every build. `make doctor`
# (scripts/doctor.sh) reports the same things without installing anything.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
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
if ! command -v unshare >/dev/null || ! command -v ip >/dev/null; then
    command -v apt-get >/dev/null || die "the tests need \`unshare\` (util-linux) and \`ip\` (iproute2)"
    debian_install util-linux iproute2
fi

# --- The standard library for wasm32 ----------------------------------------------------------
# rustup's prebuilt target when it is installed. Where rustup cannot download it, cargo builds
# std itself from the compiler's own std source, which Debian's archive carries as `rust-src`
# for each Rust release: the package whose upstream version equals `rustc -V`, never a near
# one, goes where rustup's rust-src component would (docs/development.md).
fetch_rust_src() {
    local src sysroot
    src="$(rust_src_dir)"
    sysroot="$(rustc --print sysroot)"
    local fix="or install the target:  rustup target add $WASM_TARGET"
    case "$release" in
    *-*) die "no wasm32 std for rustc $release: Debian packages only releases; use a stable rustc, $fix" ;;
    esac
    command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null ||
        die "no wasm32 std for rustc $release, and no apt to fetch its source with: $fix"
    if [ -e "$src" ] && [ ! -f "$src/$RUST_SRC_MARKER" ]; then
        die "$src exists but holds no usable std source; remove it, then run make setup again"
    fi
    mkdir -p "$(dirname "$src")" 2>/dev/null && [ -w "$(dirname "$src")" ] ||
        die "cannot write to $(dirname "$src"): run make setup as the owner of the Rust toolchain"

    local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    [ -f "$keyring" ] || die "$keyring is missing: run  apt-get install debian-archive-keyring"
    local mirror suite
    mirror="$(debian_mirror)"
    mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$APT_DIR/empty"
    # Suite aliases, not release names: they follow Debian's releases by themselves.
    for suite in stable stable-backports testing unstable; do
        echo "deb [signed-by=$keyring] $mirror $suite main"
    done >"$APT_DIR/sources.list"

    local version="" refreshed=""
    while :; do
        if compgen -G "$APT_DIR/lists/*_Packages*" >/dev/null; then
            version="$(debian_rust_src_versions | awk -v want="$release" '$1 == want { print $2; exit }')"
        fi
        [ -z "$version" ] && [ -z "$refreshed" ] || break
        echo "setup: reading Debian's rust-src versions from $mirror"
        # A suite the machine's keys cannot verify fails alone; apt still uses the others.
        private_apt apt-get update -q >"$APT_DIR/update.log" 2>&1 ||
            echo "setup: apt-get update reported problems (see $APT_DIR/update.log)" >&2
        refreshed=1
    done
    if [ -z "$version" ]; then
        local offered
        offered="$(debian_rust_src_versions | awk '{ printf "%s%s", sep, $1; sep = ", " }')"
        [ -n "$offered" ] || die "could not read Debian's archive at $mirror (see $APT_DIR/update.log): $fix"
        die "rustc is $release, and Debian's archive has rust-src for $offered only: switch to one of those (rustup toolchain install X && rustup default X), $fix"
    fi

    echo "setup: rustup has no $WASM_TARGET std here; fetching std's source for rustc $release (Debian rust-src $version)"
    local deb
    rm -f "$APT_DIR"/cache/rust-src_*.deb
    (cd "$APT_DIR/cache" && private_apt apt-get download -q "rust-src=$version" >/dev/null) ||
        die "downloading rust-src $version failed"
    deb="$(compgen -G "$APT_DIR/cache/rust-src_*.deb" | head -n1)"
    # The path of std's source inside the package: <prefix>/library/std/Cargo.toml.
    local prefix
    prefix="$(dpkg-deb -c "$deb" | awk '$NF ~ /\/library\/std\/Cargo.toml$/ && !found { print $NF; found = 1 }')"
    prefix="${prefix%/library/std/Cargo.toml}"
    [ -n "$prefix" ] || die "$deb holds no library/std: not a rust-src package this setup knows"
    local depth
    depth="$(awk -F/ '{ print NF }' <<<"$prefix")"

    # Built beside the destination and renamed into place, so it is never half there.
    local fresh="$src.orbit-new" old="$src.orbit-old"
    rm -rf "$fresh" "$old"
    mkdir -p "$fresh"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$fresh" --strip-components="$depth" "$prefix/library"
    printf '%s\nDebian rust-src %s from %s\n' "$(rustc -V)" "$version" "$mirror" >"$fresh/$RUST_SRC_MARKER"
    if [ -e "$src" ]; then mv "$src" "$old"; fi
    mv "$fresh" "$src"
    # The lists are only needed again for another rustc; they are 90 MB.
    rm -rf "$old" "$deb" "$APT_DIR/lists" "$APT_DIR/cache"
    echo "setup: std source for $WASM_TARGET installed in $src"
}

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

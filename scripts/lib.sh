# Shared by the scripts in this directory (sourced, not executed).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WASM_TARGET=wasm32-unknown-unknown
# Written next to a standard-library source that setup fetched from Debian: the `rustc -V` it
# was fetched for (first line) and the Debian package it came from.
RUST_SRC_MARKER=.orbit-rust-src
# The project-private apt state used to fetch it (never the system's).
APT_DIR="$ROOT/.tools/apt"

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
    echo "$(rustc --print sysroot)/lib/rustlib/src/rust"
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
    src="$(rust_src_dir)"
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

# Debian's own archive, as this machine's apt configuration names it (so a local mirror is
# used when there is one); ORBIT_DEBIAN_MIRROR overrides.
debian_mirror() {
    if [ -n "${ORBIT_DEBIAN_MIRROR:-}" ]; then
        echo "$ORBIT_DEBIAN_MIRROR"
        return
    fi
    local uri
    uri="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
        grep -v '^\s*#' | grep -oE '(https?|file)://[^ ]+/debian/?( |$)' | head -n1 | tr -d ' ' || true)"
    echo "${uri:-http://deb.debian.org/debian}"
}

# apt-get / apt-cache with the project-private configuration in $APT_DIR: its own sources,
# lists and cache, so nothing of another Debian release reaches the system, while apt still
# verifies every index against Debian's archive keys.
private_apt() {
    local tool="$1"
    shift
    local -a opts=(
        -o "Dir::Etc::SourceList=$APT_DIR/sources.list"
        -o "Dir::Etc::SourceParts=$APT_DIR/empty"
        -o "Dir::Etc::Preferences=$APT_DIR/empty/none"
        -o "Dir::Etc::PreferencesParts=$APT_DIR/empty"
        -o "Dir::State::Lists=$APT_DIR/lists"
        -o "Dir::Cache=$APT_DIR/cache"
        -o "APT::Architectures=$(dpkg --print-architecture)"
        -o "Acquire::Languages=none"
    )
    # As root apt downloads as the unprivileged _apt user, who cannot write into the project.
    [ "$(id -u)" -ne 0 ] || opts+=(-o "APT::Sandbox::User=root")
    "$tool" "${opts[@]}" "$@"
}

# The rust-src versions Debian's archive offers, as "upstream debian-version" lines, newest first
# (needs the private lists, see setup.sh).
debian_rust_src_versions() {
    private_apt apt-cache madison rust-src 2>/dev/null |
        awk -F'|' '{ gsub(/ /, "", $2); v = $2; u = v; sub(/^[0-9]+:/, "", u); sub(/[-+~].*/, "", u); print u, v }' |
        sort -u -k1,1V -r
}

# The wasm32 standard library's source, fetched from Debian's archive (sourced by setup.sh).
#
# cargo can build std for wasm32 itself (-Z build-std) from the compiler's own std source, which
# rustup cannot download here. Debian's archive carries it as `rust-src` for each Rust release;
# the package whose upstream version equals `rustc -V`, never a near one, goes where rustup's
# rust-src component would (docs/development.md). Needs lib.sh.

# The project-private apt state used to fetch it (never the system's).
APT_DIR="$ROOT/.tools/apt"

# Debian's own archive, as this machine's apt knows it (so a local mirror is used when there is
# one): the repository whose Release file says Origin and Label "Debian". ORBIT_DEBIAN_MIRROR
# overrides; without either, deb.debian.org.
debian_mirror() {
    if [ -n "${ORBIT_DEBIAN_MIRROR:-}" ]; then
        echo "$ORBIT_DEBIAN_MIRROR"
        return
    fi
    local uri
    uri="$(apt-get indextargets --format '$(ORIGIN)|$(LABEL)|$(REPO_URI)' 2>/dev/null |
        awk -F'|' '$1 == "Debian" && $2 == "Debian" { print $3; exit }')"
    uri="${uri%/}"
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

# The rust-src versions Debian's archive offers, as "upstream debian-version" lines, oldest first
# (reads the private lists that fetch_rust_src downloads).
debian_rust_src_versions() {
    private_apt apt-cache madison rust-src 2>/dev/null | awk -F'|' '
        {
            gsub(/ /, "", $2); v = $2; u = v
            sub(/^[0-9]+:/, "", u)   # epoch
            sub(/-[^-]*$/, "", u)    # Debian revision
            sub(/\+.*/, "", u)       # repack suffix (+dfsg1); a ~pre-release stays and never matches
            print u, v
        }' | sort -u -k1,1V
}

# Puts the std source of `rustc -V`'s release into the sysroot, or stops with one line naming
# what is missing and the command that fixes it.
fetch_rust_src() {
    local src release sysroot
    sysroot="$(rustc --print sysroot)" || die "rustc --print sysroot failed"
    src="$sysroot/lib/rustlib/src/rust"
    release="$(rustc_release)"
    local fix="or install the target:  rustup target add $WASM_TARGET"
    case "$release" in
    *-*) die "no wasm32 std for rustc $release: Debian packages only releases; use a stable rustc, $fix" ;;
    esac
    # Only a toolchain that rustup manages gets a source added; a system compiler's files
    # belong to its package manager.
    [ -f "$sysroot/lib/rustlib/components" ] ||
        die "rustc $release in $sysroot is not a rustup toolchain: install its std source with its package manager (Debian: apt-get install rust-src), $fix"
    command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null ||
        die "no wasm32 std for rustc $release, and no apt to fetch its source with: $fix"
    if [ -e "$src" ] && [ ! -f "$src/$RUST_SRC_MARKER" ]; then
        die "$src exists but holds no usable std source (rustup component remove rust-src, or remove it), then run make setup again"
    fi
    mkdir -p "$(dirname "$src")" 2>/dev/null && [ -w "$(dirname "$src")" ] ||
        die "cannot write to $(dirname "$src"): run make setup as the owner of the Rust toolchain"

    # One setup at a time per toolchain (two checkouts may share it); the one that waited finds
    # the work done.
    local lock
    exec {lock}>"$(dirname "$src")/.orbit-rust-src.lock"
    flock "$lock"
    if [ "$(wasm_std)" = source ]; then
        exec {lock}>&-
        return 0
    fi

    local keyring="${ORBIT_DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}"
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
            echo "setup: some suites could not be read (see $APT_DIR/update.log); using the others" >&2
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
    if ! (cd "$APT_DIR/cache" && private_apt apt-get download -q "rust-src=$version" >/dev/null); then
        # The lists may name a package the archive has dropped since: read them afresh next time.
        rm -rf "$APT_DIR/lists"
        die "downloading rust-src $version from $mirror failed: $fix"
    fi
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
    exec {lock}>&-
    echo "setup: std source for $WASM_TARGET installed in $src"
}

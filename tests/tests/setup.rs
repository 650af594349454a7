//! How setup gets the wasm32 standard library where rustup cannot download it
//! (scripts/rust-src.sh, scripts/doctor.sh), driven offline and fast: a fake `rustc` with its
//! own empty sysroot, and fake `apt-get`/`apt-cache` that serve a list of rust-src versions and
//! a real `.deb` built here with dpkg-deb. The real route is what `make test` itself builds the
//! Worker with on a fresh machine; these tests pin down the choices around it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{ensure, Context, Result};
use orbit_tests::{repo_root, TempDir};

const RELEASE_INDEX_LINE: &str =
    "http://deb.debian.org/debian stable-backports/main amd64 Packages";

/// A fake toolchain and archive in a temporary directory.
struct Fixture {
    dir: TempDir,
}

impl Fixture {
    /// `rustc -V` answers `rustc <release> (...)`; the archive offers `versions` once updated.
    fn new(release: &str, versions: &[&str]) -> Result<Self> {
        let fixture = Fixture {
            dir: TempDir::new("orbit-setup")?,
        };
        for sub in ["bin", "sysroot/lib/rustlib", "apt", "deb/DEBIAN"] {
            std::fs::create_dir_all(fixture.path(sub))?;
        }
        // What makes a sysroot a rustup toolchain; the keyring apt would verify with.
        std::fs::write(
            fixture.path("sysroot/lib/rustlib/components"),
            "rustc-x86_64\n",
        )?;
        std::fs::write(fixture.path("keyring.gpg"), "")?;
        fixture.set_release(release)?;
        fixture.offer(versions)?;
        write_script(
            &fixture.path("bin/rustc"),
            &format!(
                r#"case "$1" in
-V) echo "rustc $(cat {dir}/release) (0123456789 2026-04-14)" ;;
-vV) printf 'rustc %s\nhost: x86_64-unknown-linux-gnu\n' "$(cat {dir}/release)" ;;
--print)
    case "$2" in
    sysroot) echo {dir}/sysroot ;;
    target-libdir) echo {dir}/sysroot/lib/rustlib/wasm32-unknown-unknown/lib ;;
    esac ;;
*) exit 2 ;;
esac"#,
                dir = fixture.dir.path().display()
            ),
        )?;
        // apt's tools, minus the options: `update` publishes the offered versions as the
        // lists, `madison` reads the lists, `download` hands out the package. Every call is
        // logged in calls.
        let apt_common = format!(
            r#"dir={dir}
args=()
while [ $# -gt 0 ]; do
    case "$1" in -o) shift 2 ;; -q) shift ;; *) args+=("$1"); shift ;; esac
done
set -- "${{args[@]}}"
echo "$(basename "$0") $*" >>"$dir/calls""#,
            dir = fixture.dir.path().display()
        );
        write_script(
            &fixture.path("bin/apt-get"),
            &format!(
                r#"{apt_common}
case "$1" in
update) mkdir -p "$dir/apt/lists" && cp "$dir/offered" "$dir/apt/lists/archive_Packages" ;;
download) cp "$dir/rust-src.deb" "./rust-src_${{2#rust-src=}}_all.deb" ;;
*) exit 100 ;;
esac"#
            ),
        )?;
        write_script(
            &fixture.path("bin/apt-cache"),
            &format!(
                r#"{apt_common}
[ "$1 $2" = "madison rust-src" ] || exit 100
cat "$dir"/apt/lists/*_Packages 2>/dev/null || true"#
            ),
        )?;
        fixture.build_deb()?;
        Ok(fixture)
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    fn src(&self) -> PathBuf {
        self.path("sysroot/lib/rustlib/src/rust")
    }

    fn set_release(&self, release: &str) -> Result<()> {
        Ok(std::fs::write(self.path("release"), release)?)
    }

    /// What the archive will offer at the next `apt-get update`.
    fn offer(&self, versions: &[&str]) -> Result<()> {
        let lines: String = versions
            .iter()
            .map(|v| format!("  rust-src | {v} | {RELEASE_INDEX_LINE}\n"))
            .collect();
        Ok(std::fs::write(self.path("offered"), lines)?)
    }

    /// A rust-src package shaped like Debian's: the whole source tree under
    /// /usr/src/rustc-<version>, of which setup wants only library/.
    fn build_deb(&self) -> Result<()> {
        let tree = self.path("deb/usr/src/rustc-1.95.0");
        std::fs::create_dir_all(tree.join("library/std/src"))?;
        std::fs::create_dir_all(tree.join("library/core/src"))?;
        std::fs::create_dir_all(tree.join("src/tools"))?;
        std::fs::write(
            tree.join("library/std/Cargo.toml"),
            "[package]\nname = \"std\"\n",
        )?;
        std::fs::write(tree.join("library/core/src/lib.rs"), "// core\n")?;
        std::fs::write(tree.join("src/tools/big.rs"), "// not wanted\n")?;
        std::fs::write(
            self.path("deb/DEBIAN/control"),
            "Package: rust-src\nVersion: 1.95.0+dfsg1-2~bpo13+1\nArchitecture: all\n\
             Maintainer: Orbit tests <tests@example.invalid>\nDescription: fixture\n",
        )?;
        let out = Command::new("dpkg-deb")
            .args(["--build", "--root-owner-group"])
            .arg(self.path("deb"))
            .arg(self.path("rust-src.deb"))
            .output()
            .context("dpkg-deb (Debian's dpkg) builds the fixture package")?;
        ensure!(
            out.status.success(),
            "dpkg-deb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    /// Runs `snippet` in bash after sourcing the setup libraries, with the fakes first on PATH.
    fn run(&self, snippet: &str) -> Result<Output> {
        let path = format!(
            "{}:{}",
            self.path("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let script = format!(
            "set -euo pipefail\nsource scripts/lib.sh\nsource scripts/rust-src.sh\n\
             APT_DIR={}\n{snippet}",
            self.path("apt").display()
        );
        Ok(Command::new("bash")
            .arg("-c")
            .arg(script)
            .current_dir(repo_root())
            .env("PATH", path)
            .env("ORBIT_DEBIAN_MIRROR", "http://deb.debian.org/debian")
            .env("ORBIT_DEBIAN_KEYRING", self.path("keyring.gpg"))
            .output()?)
    }

    fn calls(&self) -> String {
        std::fs::read_to_string(self.path("calls")).unwrap_or_default()
    }

    fn wasm_std(&self) -> Result<String> {
        let out = self.run("wasm_std")?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

fn write_script(path: &Path, body: &str) -> Result<()> {
    std::fs::write(path, format!("#!/usr/bin/env bash\n{body}\n"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                found.push(rel.display().to_string());
            }
        }
    }
    found.sort();
    found
}

const OFFERED: [&str; 4] = [
    "1.94.1+dfsg1-1~bpo13+3",
    "1.95.0+dfsg1-2~bpo13+1",
    "1.95.1+dfsg1-1",
    "1.96.0~beta.2+dfsg1-1",
];

#[test]
fn fetches_the_rust_src_of_exactly_the_rustc_release_and_only_its_library() -> Result<()> {
    let f = Fixture::new("1.95.0", &OFFERED)?;
    assert_eq!(f.wasm_std()?, "missing");
    let out = f.run("fetch_rust_src")?;
    assert!(out.status.success(), "{}", stderr(&out));

    assert!(
        f.calls()
            .contains("apt-get download rust-src=1.95.0+dfsg1-2~bpo13+1"),
        "not the exact release: {}",
        f.calls()
    );
    assert_eq!(
        files_under(&f.src()),
        [
            ".orbit-rust-src",
            "library/core/src/lib.rs",
            "library/std/Cargo.toml"
        ]
    );
    let marker = std::fs::read_to_string(f.src().join(".orbit-rust-src"))?;
    assert_eq!(
        marker.lines().collect::<Vec<_>>(),
        [
            "rustc 1.95.0 (0123456789 2026-04-14)",
            "Debian rust-src 1.95.0+dfsg1-2~bpo13+1 from http://deb.debian.org/debian"
        ]
    );
    assert_eq!(f.wasm_std()?, "source");
    // The 90 MB of lists and the package are gone; the next release reads fresh lists anyway.
    assert!(!f.path("apt/lists").exists() && !f.path("apt/cache").exists());
    Ok(())
}

#[test]
fn a_release_debian_lacks_stops_with_the_releases_it_has_and_the_fix() -> Result<()> {
    let f = Fixture::new("1.92.0", &OFFERED)?;
    let out = f.run("fetch_rust_src")?;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("rustc is 1.92.0")
            && err.contains("1.94.1, 1.95.0, 1.95.1, 1.96.0~beta.2 only")
            && err.contains("rustup target add wasm32-unknown-unknown"),
        "{err}"
    );
    assert!(!f.calls().contains("download"), "{}", f.calls());
    assert_eq!(
        f.calls().matches("apt-get update").count(),
        1,
        "{}",
        f.calls()
    );
    assert!(!f.src().exists());
    Ok(())
}

#[test]
fn a_pre_release_package_is_never_taken_for_the_release() -> Result<()> {
    let f = Fixture::new("1.96.0", &OFFERED)?;
    let out = f.run("fetch_rust_src")?;
    assert!(!out.status.success(), "took 1.96.0~beta.2 for 1.96.0");
    assert!(stderr(&out).contains("rustc is 1.96.0"), "{}", stderr(&out));
    assert!(!f.calls().contains("download"));
    Ok(())
}

#[test]
fn package_lists_older_than_the_release_are_read_afresh() -> Result<()> {
    let f = Fixture::new("1.95.0", &["1.94.1+dfsg1-1~bpo13+3"])?;
    // Lists from an earlier run, older than the release.
    assert!(f.run("apt-get update")?.status.success());
    f.offer(&OFFERED)?;
    let out = f.run("fetch_rust_src")?;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        f.calls().matches("apt-get update").count(),
        2,
        "{}",
        f.calls()
    );
    assert!(f
        .calls()
        .contains("download rust-src=1.95.0+dfsg1-2~bpo13+1"));
    Ok(())
}

#[test]
fn after_a_rustup_update_the_source_of_the_old_release_is_replaced() -> Result<()> {
    let f = Fixture::new("1.95.0", &OFFERED)?;
    assert!(f.run("fetch_rust_src")?.status.success());
    f.set_release("1.95.1")?;
    assert_eq!(f.wasm_std()?, "stale");
    let out = f.run("fetch_rust_src")?;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(f.calls().contains("download rust-src=1.95.1+dfsg1-1"));
    let marker = std::fs::read_to_string(f.src().join(".orbit-rust-src"))?;
    assert!(marker.starts_with("rustc 1.95.1 "), "{marker}");
    assert_eq!(f.wasm_std()?, "source");
    Ok(())
}

#[test]
fn a_std_source_setup_did_not_put_there_is_never_overwritten() -> Result<()> {
    let f = Fixture::new("1.95.0", &OFFERED)?;
    std::fs::create_dir_all(f.src().join("library"))?;
    std::fs::write(f.src().join("library/README"), "someone else's")?;
    let out = f.run("fetch_rust_src")?;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("holds no usable std source"),
        "{}",
        stderr(&out)
    );
    assert_eq!(files_under(&f.src()), ["library/README"]);
    Ok(())
}

#[test]
fn a_compiler_that_rustup_does_not_manage_is_left_alone() -> Result<()> {
    // A system rustc (sysroot /usr): its files belong to the system's package manager.
    let f = Fixture::new("1.95.0", &OFFERED)?;
    std::fs::remove_file(f.path("sysroot/lib/rustlib/components"))?;
    let out = f.run("fetch_rust_src")?;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("is not a rustup toolchain") && err.contains("apt-get install rust-src"),
        "{err}"
    );
    assert!(f.calls().is_empty(), "{}", f.calls());
    assert!(!f.src().exists());
    Ok(())
}

#[test]
fn doctor_names_the_missing_std_and_its_fix_and_installs_nothing() -> Result<()> {
    let f = Fixture::new("1.95.0", &OFFERED)?;
    let out = f.run("scripts/doctor.sh")?;
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    let std_line = report
        .lines()
        .find(|l| l.trim_start().starts_with("wasm32 std"))
        .context("no wasm32 std line")?;
    assert!(std_line.contains("MISSING"), "{std_line}");
    assert!(
        report.contains("make setup (fetches Debian's rust-src 1.95.0)"),
        "{report}"
    );
    assert!(
        report.contains("rustc 1.95.0 (0123456789 2026-04-14)"),
        "{report}"
    );
    assert!(f.calls().is_empty(), "doctor ran apt: {}", f.calls());
    assert!(!f.src().exists());
    Ok(())
}

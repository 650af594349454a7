//! Where the wasm32 standard library comes from.
//!
//! With rustup's `wasm32-unknown-unknown` target installed, std is prebuilt and the build is
//! plain. Where that target cannot be downloaded, `scripts/setup.sh` puts the standard
//! library's source of the very same compiler into the sysroot (where rustup's `rust-src`
//! component would go) and cargo compiles std for wasm32 itself (`-Z build-std`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

pub const TARGET: &str = "wasm32-unknown-unknown";
/// Left by `scripts/setup.sh` next to a std source it fetched: the `rustc -V` it is for.
const SETUP_MARKER: &str = ".orbit-rust-src";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WasmStd {
    /// rustup's target is installed: std for wasm32 comes ready-built.
    Prebuilt { libdir: PathBuf },
    /// No prebuilt std, but the compiler's own std source is in its sysroot.
    FromSource { library: PathBuf },
}

impl WasmStd {
    /// Asks the `rustc` that cargo will use.
    pub fn detect() -> Result<Self> {
        // A rustc that does not know the target at all has no prebuilt std for it either.
        let libdir =
            rustc_print(&["--print", "target-libdir", "--target", TARGET]).unwrap_or_default();
        let sysroot = rustc_print(&["--print", "sysroot"])?;
        let version = rustc_print(&["-V"])?;
        Self::choose(Path::new(&libdir), Path::new(&sysroot), &version)
    }

    /// `rustc_version` is what `rustc -V` prints.
    fn choose(libdir: &Path, sysroot: &Path, rustc_version: &str) -> Result<Self> {
        if has_prebuilt_core(libdir) {
            return Ok(Self::Prebuilt {
                libdir: libdir.to_path_buf(),
            });
        }
        let library = sysroot.join("lib/rustlib/src/rust/library");
        if library.join("std/Cargo.toml").is_file() {
            // A std source of another release fails deep inside std ("unknown lang item").
            let marker = sysroot.join("lib/rustlib/src/rust").join(SETUP_MARKER);
            if let Ok(text) = std::fs::read_to_string(&marker) {
                let fetched_for = text.lines().next().unwrap_or_default();
                if fetched_for != rustc_version {
                    bail!(
                        "the std source in {} was fetched for {fetched_for}, but rustc is now \
                         {rustc_version}: run `make setup` to fetch the matching one",
                        library.display()
                    );
                }
            }
            return Ok(Self::FromSource { library });
        }
        bail!(
            "no standard library for {TARGET}: neither a prebuilt one in {} nor its source in {}; \
             run `make setup` (it fetches the source where rustup cannot), or \
             `rustup target add {TARGET}`",
            libdir.display(),
            library.display()
        )
    }

    pub fn builds_std(&self) -> bool {
        matches!(self, Self::FromSource { .. })
    }
}

impl fmt::Display for WasmStd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Prebuilt { libdir } => {
                write!(f, "prebuilt (rustup target, {})", libdir.display())
            }
            Self::FromSource { library } => {
                write!(
                    f,
                    "built from source ({}, cargo -Z build-std)",
                    library.display()
                )
            }
        }
    }
}

fn has_prebuilt_core(libdir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(libdir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        name.starts_with("libcore-") && name.ends_with(".rlib")
    })
}

fn rustc_print(args: &[&str]) -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(&rustc)
        .args(args)
        .output()
        .with_context(|| format!("running {} {}", rustc.to_string_lossy(), args.join(" ")))?;
    if !output.status.success() {
        bail!(
            "{} {} failed: {}",
            rustc.to_string_lossy(),
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: &str = "rustc 1.95.0 (59807616e 2026-04-14)";

    /// A temporary directory, removed when dropped.
    struct Scratch(PathBuf);

    impl std::ops::Deref for Scratch {
        type Target = PathBuf;
        fn deref(&self) -> &PathBuf {
            &self.0
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn scratch(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    #[test]
    fn a_prebuilt_core_wins_over_the_source() {
        let dir = scratch("prebuilt");
        let libdir = dir.join("lib/rustlib/wasm32-unknown-unknown/lib");
        std::fs::create_dir_all(&libdir).unwrap();
        std::fs::write(libdir.join("libcore-0123abcd.rlib"), b"").unwrap();
        std::fs::create_dir_all(dir.join("lib/rustlib/src/rust/library/std")).unwrap();
        std::fs::write(dir.join("lib/rustlib/src/rust/library/std/Cargo.toml"), b"").unwrap();
        assert_eq!(
            WasmStd::choose(&libdir, &dir, V).unwrap(),
            WasmStd::Prebuilt { libdir }
        );
    }

    #[test]
    fn an_empty_target_libdir_is_not_a_prebuilt_std() {
        // Tools used to demand this directory exist, so it may be there and empty.
        let dir = scratch("empty-libdir");
        let libdir = dir.join("lib/rustlib/wasm32-unknown-unknown/lib");
        std::fs::create_dir_all(&libdir).unwrap();
        let library = dir.join("lib/rustlib/src/rust/library");
        std::fs::create_dir_all(library.join("std")).unwrap();
        std::fs::write(library.join("std/Cargo.toml"), b"").unwrap();
        let std = WasmStd::choose(&libdir, &dir, V).unwrap();
        assert_eq!(std, WasmStd::FromSource { library });
        assert!(std.builds_std());
    }

    #[test]
    fn a_source_fetched_for_another_rustc_is_refused() {
        let dir = scratch("stale");
        let library = dir.join("lib/rustlib/src/rust/library");
        std::fs::create_dir_all(library.join("std")).unwrap();
        std::fs::write(library.join("std/Cargo.toml"), b"").unwrap();
        std::fs::write(
            dir.join("lib/rustlib/src/rust").join(SETUP_MARKER),
            "rustc 1.95.0 (59807616e 2026-04-14)\nDebian rust-src 1.95.0+dfsg1-2\n",
        )
        .unwrap();
        let libdir = dir.join("nope");
        let err = WasmStd::choose(&libdir, &dir, "rustc 1.96.0 (aaaaaaaaa 2026-05-28)")
            .unwrap_err()
            .to_string();
        assert!(err.contains("fetched for rustc 1.95.0"), "{err}");
        assert!(err.contains("make setup"), "{err}");
        assert_eq!(
            WasmStd::choose(&libdir, &dir, "rustc 1.95.0 (59807616e 2026-04-14)").unwrap(),
            WasmStd::FromSource { library }
        );
    }

    #[test]
    fn neither_gives_an_error_that_names_the_fix() {
        let dir = scratch("neither");
        let err = WasmStd::choose(&dir.join("nope"), &dir, V)
            .unwrap_err()
            .to_string();
        assert!(err.contains("make setup"), "{err}");
        assert!(
            err.contains("rustup target add wasm32-unknown-unknown"),
            "{err}"
        );
    }
}

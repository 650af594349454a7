//! Writes the seed corpus: `fuzz/corpus/<target>/seed-<name>` for every seed of
//! `orbit_fuzz::seeds`, replacing the `seed-*` files of before (found inputs are kept).
//! Run from anywhere: `cargo run -p orbit-fuzz --bin orbit-fuzz-seeds`.

use std::path::Path;

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus");
    for target in orbit_fuzz::TARGETS {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
            {
                std::fs::remove_file(&path)?;
            }
        }
    }
    let seeds = orbit_fuzz::seeds::all();
    for seed in &seeds {
        let path = corpus.join(seed.target).join(format!("seed-{}", seed.name));
        std::fs::write(&path, &seed.bytes)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!("{} seeds written under {}", seeds.len(), corpus.display());
    Ok(())
}

//! The committed corpus, replayed on stable by `cargo test` (and so by `make test`): every file
//! of `fuzz/corpus/<target>/` through its target, which panics on a broken invariant. A crash
//! the fuzzer found stays fixed once its input is committed there.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus for {target}");
    files
}

fn replay(target: &str) {
    let fixture = (target == "sandbox").then(|| orbit_fuzz::sandbox::Fixture::new().unwrap());
    for file in corpus(target) {
        let data = std::fs::read(&file).unwrap();
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match &fixture {
            Some(fixture) => orbit_fuzz::sandbox::sandbox_in(fixture, &data),
            None => assert!(orbit_fuzz::run(target, &data)),
        }));
        assert!(
            run.is_ok(),
            "{target}: {} broke an invariant",
            file.display()
        );
    }
}

#[test]
fn every_target_has_a_fuzz_target_and_a_corpus() {
    for target in orbit_fuzz::TARGETS {
        let wrapper = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../libfuzzer/fuzz_targets")
            .join(format!("{target}.rs"));
        assert!(wrapper.is_file(), "{} is missing", wrapper.display());
        corpus(target);
    }
}

#[test]
fn the_seed_corpus_is_committed_as_generated() {
    for seed in orbit_fuzz::seeds::all() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../corpus")
            .join(seed.target)
            .join(format!("seed-{}", seed.name));
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == seed.bytes,
            "{} differs from what orbit-fuzz-seeds makes: run `cargo run -p orbit-fuzz --bin orbit-fuzz-seeds`",
            path.display()
        );
    }
}

macro_rules! replay_tests {
    ($($name:ident => $target:literal),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                replay($target);
            }
        )*
    };
}

replay_tests! {
    frame_corpus_replays_without_a_broken_invariant => "frame",
    router_corpus_replays_without_a_broken_invariant => "router",
    cose_corpus_replays_without_a_broken_invariant => "cose",
    auth_data_corpus_replays_without_a_broken_invariant => "auth_data",
    attestation_corpus_replays_without_a_broken_invariant => "attestation",
    ceremony_corpus_replays_without_a_broken_invariant => "ceremony",
    token_corpus_replays_without_a_broken_invariant => "token",
    refresh_corpus_replays_without_a_broken_invariant => "refresh",
    codes_corpus_replays_without_a_broken_invariant => "codes",
    sandbox_corpus_replays_without_a_broken_invariant => "sandbox",
}

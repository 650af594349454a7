# `make dev` runs Orbit locally, `make test` runs every test; see scripts/ and docs/development.md.
SHELL := bash
CARGO ?= cargo
# Wrangler/Miniflare must not phone home (tests and dev run offline).
export WRANGLER_SEND_METRICS := false
export CLOUDFLARE_CF_FETCH_ENABLED := false

.PHONY: setup doctor build build-worker build-web dev test test-e2e fmt clean

setup:
	scripts/setup.sh

# What the build would use and what is missing; installs nothing.
doctor:
	scripts/doctor.sh

# worker/ → worker/build/index.js + index_bg.wasm (xtask/: cargo build, wasm-bindgen, esbuild).
build-worker: setup
	$(CARGO) xtask build-worker

# web/ → web/dist (Vite), served by the Worker (wrangler.toml [assets]).
build-web: setup
	npm run web:build

# The worker crate is only useful as wasm; natively it is just type-checked (make test).
build: build-worker build-web
	$(CARGO) build --workspace --release --exclude orbit-worker --exclude xtask

dev: build
	scripts/dev.sh

# The suites that start the real codex (feature `codex`) run in a private network namespace
# with only loopback (scripts/private-net.sh): nothing they start can reach another machine.
CODEX_SUITES := --test codex_mock --test anchor_codex --test anchor_faults --test anchor_secrets --test faults

# The browser tests (web/e2e/README.md): Debian's Chromium against one stack for the whole run
# (`orbit-stack`: Orbit under workerd, the mock model, the real anchor and codex), in the same
# kind of private network namespace. They need the anchor and orbit-stack built.
E2E_BUILD := $(CARGO) build -p orbit-tests --bin orbit-stack
E2E_RUN := scripts/private-net.sh npm run web:e2e

test: build-worker build-web
	$(CARGO) fmt --all -- --check
	npm run web:check
	npm run web:e2e:check
	npm run web:test
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p orbit-tests --features codex --all-targets -- -D warnings
	$(CARGO) test --workspace
	$(CARGO) build -p orbit-anchor
	scripts/private-net.sh $(CARGO) test --offline -p orbit-tests --features codex $(CODEX_SUITES)
	$(E2E_BUILD)
	$(E2E_RUN)

# The browser tests, writing the screenshots in docs/screenshots (commit them when screens change).
.PHONY: screenshots
screenshots: build-worker build-web
	$(CARGO) build -p orbit-anchor
	$(E2E_BUILD)
	ORBIT_SCREENSHOTS=1 $(E2E_RUN)

# The browser tests alone.
test-e2e: build-worker build-web
	npm run web:e2e:check
	$(CARGO) build -p orbit-anchor
	$(E2E_BUILD)
	$(E2E_RUN)

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf worker/build worker/build.new web/dist .wrangler fuzz/libfuzzer/target

# The load suite (tests/tests/load.rs, docs/benchmarks.md "Load") with the stream running 10
# minutes instead of make test's 60 s, printing its report: rate, deliveries, latency, workerd's
# RSS per round and the verdict. SOAK_SECS changes the duration.
SOAK_SECS ?= 600
.PHONY: soak
soak: build-worker build-web
	ORBIT_LOAD_SECS=$(SOAK_SECS) ORBIT_LOAD_RSS_TOLERANCE_MIB=8 $(CARGO) test -p orbit-tests --test load -- --nocapture --test-threads=1

# SPEC §6 benchmark (docs/benchmarks.md): starts its own Orbit; pass options with BENCH_ARGS.
# Then the web client's benchmark.
.PHONY: bench bench-web
bench: build-worker build-web
	$(CARGO) run --release -p orbit-bench -- $(BENCH_ARGS)
	$(MAKE) bench-web

# The web client's benchmark (docs/benchmarks.md, "Web client"; web/bench): Chromium against the
# browser tests' stack, the anchor running scripted-codex. Prints its figures and writes them to
# target/web-bench/.
bench-web: build-worker build-web
	npm run web:e2e:check
	$(CARGO) build -p orbit-anchor
	$(CARGO) build -p orbit-bench --bin scripted-codex
	$(E2E_BUILD)
	scripts/private-net.sh npm run web:bench

# Fuzzing (docs/development.md, "Fuzzing"): each target under libFuzzer (cargo-fuzz, nightly)
# for FUZZ_SECONDS, starting from the committed corpus. New inputs go to fuzz/found/<target>
# (ignored), crashes to fuzz/libfuzzer/artifacts/<target>/. make test replays fuzz/corpus on
# stable (the orbit-fuzz crate's tests) and needs none of this.
CARGO_FUZZ_VERSION := 0.13.2
FUZZ_TARGETS := frame router cose auth_data attestation ceremony token refresh codes sandbox
FUZZ_SECONDS ?= 60
FUZZ := PATH="$(CURDIR)/.tools/bin:$$PATH" $(CARGO) +nightly fuzz
FUZZ_DIR := --fuzz-dir fuzz/libfuzzer

.PHONY: fuzz fuzz-tools fuzz-cmin
# cargo-fuzz, pinned, into the project's ignored .tools/ (installed once).
fuzz-tools:
	@.tools/bin/cargo-fuzz --version 2>/dev/null | grep -qx 'cargo-fuzz $(CARGO_FUZZ_VERSION)' || \
		$(CARGO) install --locked --version $(CARGO_FUZZ_VERSION) --root .tools cargo-fuzz

fuzz: fuzz-tools
	$(FUZZ) build -a $(FUZZ_DIR)
	for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/found/$$t && \
		$(FUZZ) run -a $(FUZZ_DIR) $$t fuzz/found/$$t fuzz/corpus/$$t -- \
			-max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 || exit 1; \
	done

# Minimises what runs found (fuzz/found/<target>, in place), before picking inputs to commit.
fuzz-cmin: fuzz-tools
	for t in $(FUZZ_TARGETS); do \
		[ -d fuzz/found/$$t ] && $(FUZZ) cmin -a $(FUZZ_DIR) $$t fuzz/found/$$t || exit 1; \
	done

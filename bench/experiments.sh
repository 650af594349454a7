#!/usr/bin/env bash
# The experiments behind docs/benchmarks.md ("What limits it"): the same scenarios against
# Orbit through wrangler's dev port and directly, with its Durable Object storage on tmpfs,
# and against the minimal JavaScript relay in bench/baseline: a round trip answered by its
# Durable Object itself (workerd's floor), then relay and fan-out with per-frame, batched and
# no persistence; then 3 rounds of 1,000 idle sockets for Orbit and for the baseline.
# Usage: bench/experiments.sh [OUT_DIR]   (build first: make build-worker; ~6 minutes on an
# idle machine, far longer while other builds write to the disk)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/bench-experiments}"
mkdir -p "$out"
cargo build --release -p orbit-bench
bench=target/release/orbit-bench
small=(--rtt-samples 1000 --fanout-frames 5000 --fanout-max-deliveries 100000 --fanout-timeout 30)
run() { # name, args...
    local name=$1
    shift
    echo "== $name: orbit-bench $*" >&2
    "$bench" --json --json-out "$out/$name.json" "$@" >/dev/null || echo "   ($name: some scenario failed)" >&2
}
run orbit-proxy --only floor,relay,fanout --fanout-kind thread,threadless "${small[@]}"
run orbit-direct --direct --only floor,relay,fanout --fanout-kind thread,threadless "${small[@]}"
TMPDIR=/dev/shm run orbit-direct-tmpfs --direct --only fanout --fanout-kind thread,threadless \
    --fanout-clients 1 "${small[@]}"
run js-do-echo-direct --baseline 0 --direct --rtt-method bench/do-echo --only floor,relay \
    --rtt-samples 1000
for persist in 1 batch 0; do
    run "js-$persist-direct" --baseline "$persist" --direct --only floor,relay,fanout \
        --fanout-kind thread "${small[@]}"
done
run orbit-memory --only idle,memory --idle-rounds 3 --idle-hold 2 --settle-timeout 20
run js-memory --baseline 1 --only idle,memory --idle-rounds 3 --idle-hold 2 --settle-timeout 20

# One line per run and fan-out.
for f in "$out"/*.json; do
    jq -r --arg n "$(basename "$f" .json)" '
      "\($n): other CPU \(.machine.other_cpu_pct|floor)%"
      + (if .relay then "; RTT p50/p99 floor \(.floor.p50_us|floor)/\(.floor.p99_us|floor) µs (own thread \(.floor_own_thread.p50_us|floor)/\(.floor_own_thread.p99_us|floor)), relay \(.relay.p50_us|floor)/\(.relay.p99_us|floor) µs" else "" end),
      (.fanout[] | "  \(.kind) ×\(.clients): \(.per_client_fps_min|floor) frames/s/client, \(.aggregate_dps|floor) deliveries/s, lost \(.lost), workerd CPU \(.workerd_cpu_secs*100|floor/100) s over \(.elapsed_secs*100|floor/100) s"),
      (if .memory then "  RSS MiB: idle \(.memory.idle_warm_kib/1024|floor), peaks \([.memory.phase_peaks[] | "\(.phase) \(.peak_kib/1024|floor)"] | join(", ")), end \(.memory.final_kib/1024|floor)" else empty end)
    ' "$f"
done

// The web client's benchmark (docs/benchmarks.md, "Web client"): Node-mode vitest driving
// Debian's Chromium against the whole local stack, like the browser tests (web/e2e), whose
// global setup and helpers it reuses. The anchor runs `scripted-codex` (bench/src/bin) instead
// of codex. Run with `make bench-web` (or `scripts/private-net.sh npm run web:bench` once
// everything is built). It prints its figures and writes them to target/web-bench/.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  cacheDir: fileURLToPath(new URL("../../node_modules/.vite/bench", import.meta.url)),
  test: {
    environment: "node",
    include: ["**/*.bench.test.ts"],
    globalSetup: ["../e2e/global-setup.ts"],
    fileParallelism: false,
    maxWorkers: 1,
    sequence: { concurrent: false },
    testTimeout: 180_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
  },
});

// The browser tests: Node-mode vitest driving Debian's Chromium (playwright-core) against the
// whole local stack, which global-setup.ts starts once for the run (`orbit-stack`).
// Run with `scripts/private-net.sh npm run web:e2e` (see README.md here); `make test` does.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  // Vite's cache in the repository's (ignored) node_modules, not a new web/e2e/node_modules.
  cacheDir: fileURLToPath(new URL("../../node_modules/.vite/e2e", import.meta.url)),
  test: {
    environment: "node",
    include: ["**/*.test.ts"],
    globalSetup: ["./global-setup.ts"],
    // One stack, one browser at a time: files run one after another, tests in order.
    fileParallelism: false,
    maxWorkers: 1,
    sequence: { concurrent: false },
    // Real processes and a real browser on a 2-core machine that may be compiling meanwhile.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
  },
});

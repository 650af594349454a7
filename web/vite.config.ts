/// <reference types="vitest/config" />
// The web client: Svelte 5 + TypeScript, built by Vite into web/dist, which the Worker serves
// (wrangler.toml [assets]). `npm run web:build`, `npm run web:test`, `npm run web:check`.
import { fileURLToPath } from "node:url";
import { svelte } from "@sveltejs/vite-plugin-svelte";
import { defineConfig } from "vite";

const root = fileURLToPath(new URL(".", import.meta.url));

export default defineConfig({
  root,
  plugins: [svelte()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // No asset becomes a data: URL in a script: the Content-Security-Policy stays simple.
    assetsInlineLimit: 0,
  },
  server: {
    // `make dev` runs the Worker on 8787; the Vite dev server (npm run web:dev) proxies to it.
    proxy: {
      "/auth": "http://127.0.0.1:8787",
      "/health": "http://127.0.0.1:8787",
      "/ws": { target: "ws://127.0.0.1:8787", ws: true },
    },
  },
  test: {
    environment: "jsdom",
    include: ["test/**/*.test.ts"],
  },
});

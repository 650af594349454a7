// What `orbit-stack` prints once it is up (tests/src/bin/orbit-stack.rs, `Ready`), provided to
// every test as `inject("stack")` by global-setup.ts.

export interface Stack {
  /** Orbit for the browser: `http://localhost:PORT`, the allowed origin; passkeys use the RP ID
   * `localhost`. The web client is served at `/`, the dev API (`/__dev/*`) is on. */
  orbit: string;
  /** The same Orbit as `http://127.0.0.1:PORT`, for clients that are not browsers. */
  orbitIp: string;
  /** workerd's output (the Worker's own logs): worth showing when a test fails. */
  orbitLog: string;
  /** Orbit's state directory (D1 and Durable Objects in `state/`). */
  orbitStateDir: string;
  /** The mock model's base URL (`http://127.0.0.1:PORT/v1`). */
  mockModel: string;
  /** The anchor binary (`target/debug/anchor`, or under `$CARGO_TARGET_DIR`). */
  anchorBin: string;
  /** The native codex binary (npm `@openai/codex`). */
  codexBin: string;
  /** A CODEX_HOME whose `config.toml` points codex at the mock model. */
  codexHome: string;
  /** Environment for the anchor so that its codex uses the mock: `CODEX_HOME`, the mock's dummy
   * API key, a private `HOME`. */
  codexHomeEnv: Record<string, string>;
  /** A directory codex trusts: the anchor's `--root`, where threads run. Shared by the run. */
  workspace: string;
  /** Scratch space for the tests (anchor state directories, …); removed at the end. */
  stateDir: string;
  /** orbit-stack's process id. */
  pid: number;
  /** How long orbit-stack took to start, in milliseconds. */
  startupMs: number;
}

declare module "vitest" {
  export interface ProvidedContext {
    stack: Stack;
  }
}

// Starts the whole stack once for the run: `orbit-stack` (tests/src/bin/orbit-stack.rs) runs
// Orbit under workerd, the mock model and a CODEX_HOME, prints one line of JSON and stays up
// until its stdin closes. That line is handed to the tests as `inject("stack")`.
//
// Nothing is built here: `make test` builds orbit-stack and the anchor first (or by hand:
// `cargo build -p orbit-anchor -p orbit-tests --bin orbit-stack`).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";
import type { Stack } from "./stack";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** How long the stack may take to come up (workerd's first start, D1 migrations). */
const START_TIMEOUT_MS = 180_000;
/** How long it may take to stop once its stdin is closed, before SIGTERM and then SIGKILL. */
const STOP_TIMEOUT_MS = 20_000;

/** Where cargo put its binaries: `$CARGO_TARGET_DIR` (relative to the working directory, as
 * cargo reads it) or the repository's `target/`, then `debug/`. */
export function cargoBinary(name: string): string {
  const target = process.env.CARGO_TARGET_DIR
    ? resolve(process.cwd(), process.env.CARGO_TARGET_DIR)
    : resolve(ROOT, "target");
  return resolve(target, "debug", name);
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const bin = cargoBinary("orbit-stack");
  if (!existsSync(bin)) {
    throw new Error(
      `${bin} is missing: build it with \`cargo build -p orbit-anchor -p orbit-tests --bin orbit-stack\` (make test does)`,
    );
  }
  const started = Date.now();
  const child = spawn(bin, [], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
  const stderr: string[] = [];
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    stderr.push(chunk);
    if (process.env.ORBIT_E2E_VERBOSE) process.stderr.write(chunk);
  });
  let stack: Stack;
  try {
    stack = await firstLine(child, () => stderr.join(""));
  } catch (error) {
    await stop(child);
    throw error;
  }
  console.log(
    `orbit-stack up in ${((Date.now() - started) / 1000).toFixed(1)} s: ${stack.orbit} (Orbit's log: ${stack.orbitLog})`,
  );
  project.provide("stack", stack);
  return async () => {
    await stop(child);
  };
}

/** The JSON line orbit-stack prints once it is up; fails with its stderr if it exits first. */
function firstLine(child: ChildProcess, stderr: () => string): Promise<Stack> {
  return new Promise((resolveLine, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => {
      fail(new Error(`orbit-stack was not up within ${START_TIMEOUT_MS / 1000} s:\n${stderr()}`));
    }, START_TIMEOUT_MS);
    const onExit = (code: number | null, signal: string | null) => {
      fail(new Error(`orbit-stack exited (${signal ?? code}) before it was up:\n${stderr()}`));
    };
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.off("exit", onExit);
      lines.close();
      reject(error);
    };
    child.once("exit", onExit);
    child.once("error", (error) => fail(new Error(`cannot start orbit-stack: ${error.message}`)));
    lines.once("line", (line) => {
      clearTimeout(timer);
      child.off("exit", onExit);
      lines.close();
      try {
        resolveLine(JSON.parse(line) as Stack);
      } catch {
        reject(new Error(`orbit-stack printed something other than its JSON line: ${line}\n${stderr()}`));
      }
    });
  });
}

/** Closes orbit-stack's stdin (it then tears everything down); SIGTERM, then SIGKILL, if it
 * does not exit in time. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  const within = async (ms: number) => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), ms);
    });
    try {
      return await Promise.race([exited.then(() => true), late]);
    } finally {
      clearTimeout(timer);
    }
  };
  child.stdin?.end();
  if (await within(STOP_TIMEOUT_MS)) return;
  child.kill("SIGTERM");
  if (await within(10_000)) return;
  child.kill("SIGKILL");
  await exited;
}

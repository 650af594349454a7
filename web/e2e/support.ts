// Helpers for the browser tests: Debian's Chromium through playwright-core, a fresh context per
// test whose console errors, page errors and Content-Security-Policy violations fail the test,
// a virtual passkey authenticator, axe scans, screenshots for docs/screenshots/, and the real
// anchor (pairing and running it against the stack's codex and mock model).
//
// Use the `test` exported here instead of vitest's: its fixtures are `stack`, `browser` (one per
// file), `context` (fresh per test, watched), `problems`, `page` and `authenticator`.
// README.md in this directory explains how the tests run.
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import AxeBuilder from "@axe-core/playwright";
import {
  chromium,
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  type CDPSession,
  type Page,
} from "playwright-core";
import { test as base, inject, onTestFailed, onTestFinished } from "vitest";
import type { Stack } from "./stack";

export type { Stack } from "./stack";

/** The repository root. */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The stack this run's global setup started (`orbit-stack`). */
export function stack(): Stack {
  return inject("stack");
}

// --- Waiting --------------------------------------------------------------------------------

/** Polls `check` until it returns something other than `undefined`/`false`, and returns that;
 * fails after `timeoutMs` naming `what` (and the last error `check` threw, if any). */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// --- The browser ----------------------------------------------------------------------------

/** Debian's Chromium (`make setup` installs the `chromium` package). No browser is downloaded. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/** Headless, and quiet: without the background-networking flags Chromium keeps trying to reach
 * Google's hosts, which a private network namespace refuses. `--no-sandbox` because the tests
 * run as root in CI. */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}

/** The context options every test starts from: Orbit as base URL (so `page.goto("/")` works),
 * the desktop screenshot size, light colours, and a fixed locale and time zone. */
export function contextOptions(s: Stack, extra: BrowserContextOptions = {}): BrowserContextOptions {
  return {
    baseURL: s.orbit,
    viewport: { width: 1280, height: 800 },
    colorScheme: "light",
    locale: "en-US",
    timezoneId: "UTC",
    ...extra,
  };
}

// --- Problems: console errors, page errors, CSP violations ------------------------------------

/** What went wrong in a context's pages: `console.error` messages (Chromium also logs failed
 * loads and CSP refusals there), uncaught exceptions and `securitypolicyviolation` events. */
export class Problems {
  private seen: string[] = [];
  private allowed: RegExp[] = [];

  /** Records a problem unless it matches an allowed pattern. */
  add(problem: string): void {
    if (!this.allowed.some((p) => p.test(problem))) this.seen.push(problem);
  }

  /** Ignores problems matching `pattern` from now on, e.g. the console error Chromium logs for
   * an expected `401`. Prefer `take` when the problem must happen. */
  allow(pattern: RegExp | string): void {
    this.allowed.push(typeof pattern === "string" ? new RegExp(escapeRegExp(pattern)) : pattern);
  }

  /** The problems so far. */
  list(): string[] {
    return [...this.seen];
  }

  /** Removes and returns the problems matching `pattern`, to assert that an expected one
   * happened without failing the test. */
  take(pattern: RegExp): string[] {
    const taken = this.seen.filter((p) => pattern.test(p));
    this.seen = this.seen.filter((p) => !pattern.test(p));
    return taken;
  }

  /** Waits until a problem matches `pattern`, and takes it. */
  async waitFor(pattern: RegExp, timeoutMs = 5_000): Promise<string[]> {
    return waitFor(`a problem matching ${pattern}`, () => {
      const taken = this.take(pattern);
      return taken.length > 0 ? taken : undefined;
    }, timeoutMs);
  }

  /** Throws, listing every problem, if there was any. */
  assertNone(): void {
    const seen = this.seen;
    if (seen.length === 0) return;
    this.seen = [];
    const list = seen.map((p) => `  - ${p}`).join("\n");
    throw new Error(`the page had ${seen.length} problem(s):\n${list}`);
  }
}

const CSP_BINDING = "__orbitE2eCspViolation";

/** Watches every page of `context`, now and later, for problems. */
export async function watchContext(context: BrowserContext): Promise<Problems> {
  const problems = new Problems();
  context.on("console", (message) => {
    if (message.type() !== "error") return;
    const where = message.location();
    const at = where.url ? ` (${where.url}:${where.lineNumber})` : "";
    problems.add(`console.error: ${message.text()}${at}`);
  });
  context.on("weberror", (error) => {
    const e = error.error();
    problems.add(`uncaught ${e.name}: ${e.message}${e.stack ? `\n${e.stack}` : ""}`);
  });
  // The listener runs before any of the page's scripts; Playwright's bindings and init scripts
  // are not subject to the page's policy.
  await context.exposeBinding(CSP_BINDING, (_source, v: Record<string, unknown>) => {
    problems.add(
      `CSP violation: ${String(v.effectiveDirective)} blocked ${String(v.blockedURI) || "(inline)"}` +
        ` in ${String(v.sourceFile) || String(v.documentURI)}:${String(v.lineNumber)}` +
        (v.sample ? ` (sample: ${String(v.sample)})` : ""),
    );
  });
  await context.addInitScript((binding: string) => {
    document.addEventListener(
      "securitypolicyviolation",
      (e) => {
        const report = (window as unknown as Record<string, (v: unknown) => void>)[binding];
        report?.({
          effectiveDirective: e.effectiveDirective,
          blockedURI: e.blockedURI,
          documentURI: e.documentURI,
          sourceFile: e.sourceFile,
          lineNumber: e.lineNumber,
          sample: e.sample,
        });
      },
      true,
    );
  }, CSP_BINDING);
  return problems;
}

// --- Fixtures -------------------------------------------------------------------------------

export interface Fixtures {
  /** The stack of this run. */
  stack: Stack;
  /** One headless Chromium per test file. */
  browser: Browser;
  /** A fresh context per test ({@link contextOptions}), watched: any problem left in
   * `problems` when the test ends fails it. */
  context: BrowserContext;
  /** The problems of `context` so far; `allow` or `take` the expected ones. */
  problems: Problems;
  /** A page of `context`. */
  page: Page;
  /** A virtual passkey authenticator on `page`. */
  authenticator: VirtualAuthenticator;
}

interface ContextAndProblems {
  context: BrowserContext;
  problems: Problems;
}

export const test = base.extend<Fixtures & { watched: ContextAndProblems }>({
  stack: [
    async ({}, use) => {
      await use(inject("stack"));
    },
    { scope: "file" },
  ],
  browser: [
    async ({}, use) => {
      const browser = await launchBrowser();
      await use(browser);
      await browser.close();
    },
    { scope: "file" },
  ],
  watched: async ({ browser, stack, onTestFinished, onTestFailed }, use) => {
    const context = await browser.newContext(contextOptions(stack));
    const problems = await watchContext(context);
    // After the fixtures' cleanup (the context is closed by then): a throwing fixture cleanup
    // would be run, and reported, twice.
    onTestFinished(() => problems.assertNone());
    onTestFailed(() => {
      const rest = problems.list();
      if (rest.length > 0) console.error(`problems in the page:\n${rest.join("\n")}`);
      // What Orbit said last: the stack's log goes with its folder when the run ends.
      try {
        const tail = readFileSync(stack.orbitLog, "utf8").split("\n").slice(-60).join("\n");
        console.error(`the last lines of Orbit's log (${stack.orbitLog}):\n${tail}`);
      } catch {
        // no log to show
      }
    });
    await use({ context, problems });
    await context.close().catch(() => {});
  },
  context: async ({ watched }, use) => {
    await use(watched.context);
  },
  problems: async ({ watched }, use) => {
    await use(watched.problems);
  },
  page: async ({ watched }, use) => {
    await use(await watched.context.newPage());
  },
  authenticator: async ({ page }, use) => {
    const authenticator = await addVirtualAuthenticator(page);
    await use(authenticator);
    await authenticator.remove().catch(() => {});
  },
});

export { expect } from "vitest";

// --- Passkeys -------------------------------------------------------------------------------

/** A credential of the virtual authenticator (CDP `WebAuthn.Credential`). */
export interface VirtualCredential {
  credentialId: string;
  isResidentCredential: boolean;
  rpId?: string;
  privateKey: string;
  userHandle?: string;
  signCount: number;
}

export interface AuthenticatorOptions {
  /** Whether user verification (the PIN or fingerprint) succeeds. Default true. */
  isUserVerified?: boolean;
  /** Answer ceremonies without a "touch". Default true. */
  automaticPresenceSimulation?: boolean;
}

/** A platform passkey authenticator (CTAP2, internal transport, resident keys, user
 * verification) emulated by Chromium through the DevTools protocol, so that
 * `navigator.credentials.create()` and `.get()` complete without a real device. It belongs to
 * one page; copy `credentials()` into another's with `addCredential` to sign in there. */
export class VirtualAuthenticator {
  constructor(
    readonly cdp: CDPSession,
    readonly id: string,
  ) {}

  async credentials(): Promise<VirtualCredential[]> {
    const { credentials } = await this.cdp.send("WebAuthn.getCredentials", { authenticatorId: this.id });
    return credentials as VirtualCredential[];
  }

  async addCredential(credential: VirtualCredential): Promise<void> {
    await this.cdp.send("WebAuthn.addCredential", { authenticatorId: this.id, credential });
  }

  async clearCredentials(): Promise<void> {
    await this.cdp.send("WebAuthn.clearCredentials", { authenticatorId: this.id });
  }

  /** Makes user verification succeed or fail from now on. */
  async setUserVerified(isUserVerified: boolean): Promise<void> {
    await this.cdp.send("WebAuthn.setUserVerified", { authenticatorId: this.id, isUserVerified });
  }

  async remove(): Promise<void> {
    await this.cdp.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId: this.id });
    await this.cdp.detach();
  }
}

export async function addVirtualAuthenticator(
  page: Page,
  options: AuthenticatorOptions = {},
): Promise<VirtualAuthenticator> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable", { enableUI: false });
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      ctap2Version: "ctap2_1",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: options.isUserVerified ?? true,
      automaticPresenceSimulation: options.automaticPresenceSimulation ?? true,
    },
  });
  return new VirtualAuthenticator(cdp, authenticatorId);
}

// --- Accessibility --------------------------------------------------------------------------

export interface AxeOptions {
  /** CSS selectors of parts not to scan. */
  exclude?: string[];
  /** axe rule ids to skip, each with a reason in the test. */
  disableRules?: string[];
}

/** Scans the page with axe (WCAG 2.0/2.1 A and AA, and best practices) and fails on any
 * serious or critical violation, listing each rule, what it means and the elements. Returns
 * the full results (minor and moderate findings included). */
export async function axeScan(page: Page, options: AxeOptions = {}) {
  let builder = new AxeBuilder({ page }).withTags([
    "wcag2a",
    "wcag2aa",
    "wcag21a",
    "wcag21aa",
    "best-practice",
  ]);
  for (const selector of options.exclude ?? []) builder = builder.exclude(selector);
  if (options.disableRules?.length) builder = builder.disableRules(options.disableRules);
  const results = await builder.analyze();
  const blocking = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  if (blocking.length > 0) {
    const report = blocking
      .map((v) => {
        const nodes = v.nodes
          .slice(0, 5)
          .map((n) => `      ${n.target.join(" ")}\n        ${(n.failureSummary ?? "").replace(/\n/g, "\n        ")}`)
          .join("\n");
        const more = v.nodes.length > 5 ? `\n      … and ${v.nodes.length - 5} more` : "";
        return `  [${v.impact}] ${v.id}: ${v.help} (${v.helpUrl})\n${nodes}${more}`;
      })
      .join("\n");
    throw new Error(`axe found ${blocking.length} serious or critical violation(s) on ${page.url()}:\n${report}`);
  }
  return results;
}

// --- Screenshots ----------------------------------------------------------------------------

/** Where {@link screenshots} writes: the committed docs/screenshots when asked for
 * (`ORBIT_SCREENSHOTS=1`, which `make screenshots` sets), else a scratch folder, so an ordinary
 * test run still renders every screen in both schemes without touching the committed images. */
export const SCREENSHOT_DIR =
  process.env.ORBIT_SCREENSHOTS === "1"
    ? resolve(ROOT, "docs/screenshots")
    : resolve(ROOT, "target/e2e-screenshots");

/** A phone and a laptop. */
export const SCREENSHOT_VIEWPORTS = [
  { width: 390, height: 844 },
  { width: 1280, height: 800 },
] as const;

export const COLOR_SCHEMES = ["light", "dark"] as const;

/** Lets the page settle after a resize or a colour change: fonts loaded, two frames painted. */
export async function settle(page: Page): Promise<void> {
  await page.evaluate(async () => {
    await document.fonts.ready;
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  });
}

/** Screenshots of the page as it is, at each of {@link SCREENSHOT_VIEWPORTS} in light and dark:
 * `docs/screenshots/<name>-<width>x<height>-<light|dark>.png`. Restores the viewport and the
 * colour scheme afterwards. Returns the files written. */
export async function screenshots(
  page: Page,
  name: string,
  options: { fullPage?: boolean } = {},
): Promise<string[]> {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) {
    throw new Error(`screenshot name ${JSON.stringify(name)}: use lowercase letters, digits and dashes`);
  }
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const before = page.viewportSize();
  const scheme = await page.evaluate(() =>
    matchMedia("(prefers-color-scheme: dark)").matches ? ("dark" as const) : ("light" as const),
  );
  const written: string[] = [];
  try {
    for (const viewport of SCREENSHOT_VIEWPORTS) {
      await page.setViewportSize(viewport);
      for (const colorScheme of COLOR_SCHEMES) {
        await page.emulateMedia({ colorScheme });
        await settle(page);
        const path = join(SCREENSHOT_DIR, `${name}-${viewport.width}x${viewport.height}-${colorScheme}.png`);
        await page.screenshot({ path, fullPage: options.fullPage ?? false, animations: "disabled", caret: "hide" });
        written.push(path);
      }
    }
  } finally {
    if (before) await page.setViewportSize(before);
    await page.emulateMedia({ colorScheme: scheme });
  }
  return written;
}

// --- Orbit's HTTP API -----------------------------------------------------------------------

/** A session made by the development API (`POST /__dev/session`). */
export interface DevSession {
  userId: string;
  sessionId: string;
  anchorId?: string | null;
  accessToken: string;
}

/** `POST /__dev/session`: a new user with a web session (no body), another session of `userId`,
 * or an anchor paired with `userId` (`anchorName`) without the device flow. */
export async function devSession(
  s: Stack,
  body: { userId?: string; anchorName?: string; anchorId?: string } = {},
): Promise<DevSession> {
  return postJson<DevSession>(s, "/__dev/session", body);
}

/**
 * Makes the session signed in on `page` stale for step-up (`POST /__dev/stale`): its last proof
 * of a way in is forgotten, as if it were older than the 5-minute window, so the next sensitive
 * change asks "Confirm it's you" without the test waiting minutes.
 */
export async function makeStale(s: Stack, page: Page): Promise<void> {
  const sessionId = await page.evaluate(() => {
    const stored = localStorage.getItem("orbit.session.v1");
    return stored ? (JSON.parse(stored) as { sessionId?: string }).sessionId ?? null : null;
  });
  if (!sessionId) throw new Error("no signed-in session on the page");
  await postJson(s, "/__dev/stale", { sessionId });
}

/** `POST /auth/device/authorise` as the user of `webToken`: approves (or denies) a pairing code,
 * as the device page would. Returns Orbit's answer (`anchorId` when approved). */
export async function approveDevice(
  s: Stack,
  webToken: string,
  userCode: string,
  approve = true,
): Promise<Record<string, unknown>> {
  return postJson(s, "/auth/device/authorise", { userCode, approve }, webToken);
}

async function postJson<T = Record<string, unknown>>(
  s: Stack,
  path: string,
  body: unknown,
  bearer?: string,
): Promise<T> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  const response = await fetch(new URL(path, s.orbitIp), {
    method: "POST",
    headers,
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`POST ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

// --- The anchor -----------------------------------------------------------------------------

/** The environment for anchor processes: this one's, without `CODEX_*`/`OPENAI_*` (so nothing
 * of the developer's codex leaks in), plus `extra`. */
function anchorEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("CODEX_") && !k.startsWith("OPENAI_")) env[k] = v;
  }
  return { ...env, NO_COLOR: "1", ...extra };
}

/** A fresh directory under the stack's scratch space. */
export function scratchDir(s: Stack, prefix: string): string {
  const safe = prefix.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 40) || "dir";
  return mkdtempSync(join(s.stateDir, `${safe}-`));
}

/** A child process whose output is kept, with bounded waits. */
class Proc {
  private out = "";
  private readonly exit: Promise<{ code: number | null; signal: string | null }>;

  constructor(readonly child: ChildProcess) {
    child.stdout?.setEncoding("utf8");
    child.stderr?.setEncoding("utf8");
    child.stdout?.on("data", (c: string) => (this.out += c));
    child.stderr?.on("data", (c: string) => (this.out += c));
    this.exit = new Promise((done) => {
      child.once("exit", (code, signal) => done({ code, signal }));
      child.once("error", (error) => {
        this.out += `\n(cannot start: ${error.message})`;
        done({ code: null, signal: null });
      });
    });
  }

  output(): string {
    return this.out;
  }

  running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits for the exit; undefined if it did not come within `ms`. */
  async exited(ms: number): Promise<{ code: number | null; signal: string | null } | undefined> {
    return within(this.exit, ms);
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running()) return;
    this.child.kill("SIGTERM");
    if (await this.exited(graceMs)) return;
    this.child.kill("SIGKILL");
    await this.exit;
  }
}

/** A running `anchor login`, once it has printed its code. */
export interface AnchorLogin {
  /** The state directory the credentials are saved to; give it to {@link anchorRun}. */
  stateDir: string;
  /** `XXXX-XXXX`. */
  userCode: string;
  /** The device page (`…/device`). */
  verificationUri: string;
  /** The device page naming the request by a token (`…/device?link=…`), not by its code. */
  verificationUriComplete: string;
  /** Resolves when `anchor login` exits successfully, once the code was approved (with the
   * anchor id it printed); rejects with its output if it fails or runs past `timeoutMs`. */
  done(timeoutMs?: number): Promise<{ anchorId: string; output: string }>;
  /** Everything it printed so far. */
  output(): string;
}

/** Runs `anchor login --orbit <stack.orbit> --state-dir <new dir> --no-browser --name <name>`
 * and resolves once it has printed the code to approve (the device page is where a browser
 * approves it; {@link approveDevice} approves it without one). Killed when the test ends. */
export async function anchorLogin(
  s: Stack,
  name: string,
  options: { stateDir?: string } = {},
): Promise<AnchorLogin> {
  const stateDir = options.stateDir ?? scratchDir(s, `anchor-${name}`);
  const proc = new Proc(
    spawn(s.anchorBin, ["login", "--orbit", s.orbit, "--state-dir", stateDir, "--no-browser", "--name", name], {
      env: anchorEnv(),
      stdio: ["ignore", "pipe", "pipe"],
    }),
  );
  onTestFinished(() => proc.stop());
  onTestFailed(() => console.error(`anchor login printed:\n${proc.output()}`));
  const parsed = await waitFor(
    "`anchor login` to print its code",
    () => {
      const out = proc.output();
      const code = /Your code is ([A-Z0-9]{4}-[A-Z0-9]{4}): .*\(or go to (\S+) and enter it all\)/.exec(out);
      const complete = /^\s+(https?:\/\/\S+)\s*$/m.exec(out);
      if (code && complete) return { userCode: code[1]!, verificationUri: code[2]!, complete: complete[1]! };
      if (!proc.running()) throw new Error(`\`anchor login\` exited without a code:\n${out}`);
      return undefined;
    },
    20_000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}\noutput:\n${proc.output()}`);
  });
  return {
    stateDir,
    userCode: parsed.userCode,
    verificationUri: parsed.verificationUri,
    verificationUriComplete: parsed.complete,
    output: () => proc.output(),
    async done(timeoutMs = 30_000) {
      const exit = await proc.exited(timeoutMs);
      const out = proc.output();
      if (!exit) throw new Error(`\`anchor login\` still waiting after ${timeoutMs} ms:\n${out}`);
      const paired = /Paired as anchor (\S+?)\./.exec(out);
      if (exit.code !== 0 || !paired) {
        throw new Error(`\`anchor login\` failed (${exit.signal ?? exit.code}):\n${out}`);
      }
      return { anchorId: paired[1]!, output: out };
    },
  };
}

/** `anchor status --log-format json` of a running anchor (see anchor/src/status). */
export type AnchorStatus = Record<string, any>;

export interface AnchorRun {
  stateDir: string;
  /** The CODEX_HOME its codex uses. */
  codexHome: string;
  /** Everything it logged so far (RUST_LOG=info). */
  log(): string;
  /** `anchor status` through its control socket. */
  status(): Promise<AnchorStatus>;
  /** Polls `anchor status` until `check` holds. */
  waitStatus(what: string, check: (s: AnchorStatus) => boolean, timeoutMs?: number): Promise<AnchorStatus>;
  /** Until it is connected to Orbit with codex ready. */
  waitReady(timeoutMs?: number): Promise<AnchorStatus>;
  /** SIGTERM, then SIGKILL. Also done when the test ends. */
  stop(): Promise<void>;
  running(): boolean;
}

export interface AnchorRunOptions {
  /** `--root`s; default the stack's workspace. */
  roots?: string[];
  /** `fresh` (default): a CODEX_HOME of its own (a copy of the stack's `config.toml`), so the
   * threads of other tests don't show; `shared`: the stack's. */
  codexHome?: "fresh" | "shared";
  /** More environment. */
  env?: Record<string, string>;
  /** The codex binary (`--codex`); default the stack's real codex. The web benchmark runs the
   * anchor with `target/debug/scripted-codex` instead. */
  codexBin?: string;
}

/** Runs `anchor run --codex <codex> --state-dir <stateDir> --root <workspace>` (`codex`: the
 * stack's, or `options.codexBin`) with the
 * environment that points codex at the mock model. Stopped when the test ends; its log is
 * printed if the test fails. */
export async function anchorRun(s: Stack, stateDir: string, options: AnchorRunOptions = {}): Promise<AnchorRun> {
  let codexEnv = s.codexHomeEnv;
  let codexHome = s.codexHome;
  if ((options.codexHome ?? "fresh") === "fresh") {
    codexHome = join(stateDir, "codex-home");
    mkdirSync(join(codexHome, "home"), { recursive: true });
    copyFileSync(join(s.codexHome, "config.toml"), join(codexHome, "config.toml"));
    codexEnv = { ...s.codexHomeEnv, CODEX_HOME: codexHome, HOME: join(codexHome, "home") };
  }
  const args = ["run", "--codex", options.codexBin ?? s.codexBin, "--state-dir", stateDir];
  for (const root of options.roots ?? [s.workspace]) args.push("--root", root);
  const proc = new Proc(
    spawn(s.anchorBin, args, {
      env: anchorEnv({ ...codexEnv, RUST_LOG: "info", ...options.env }),
      stdio: ["ignore", "pipe", "pipe"],
    }),
  );
  onTestFinished(() => proc.stop());
  onTestFailed(() => console.error(`anchor run (${stateDir}) logged:\n${proc.output()}`));

  const status = async (): Promise<AnchorStatus> => {
    const cli = new Proc(
      spawn(s.anchorBin, ["status", "--log-format", "json", "--state-dir", stateDir], {
        env: anchorEnv(),
        stdio: ["ignore", "pipe", "pipe"],
      }),
    );
    const exit = await cli.exited(10_000);
    if (!exit) {
      await cli.stop();
      throw new Error("`anchor status` did not answer within 10 s");
    }
    if (exit.code !== 0) throw new Error(`\`anchor status\` failed: ${cli.output()}`);
    return JSON.parse(cli.output()) as AnchorStatus;
  };
  const waitStatus = async (what: string, check: (s: AnchorStatus) => boolean, timeoutMs = 30_000) => {
    let last: AnchorStatus | undefined;
    try {
      return await waitFor(
        what,
        async () => {
          if (!proc.running()) throw new Error(`the anchor exited:\n${proc.output()}`);
          last = await status();
          return check(last) ? last : undefined;
        },
        timeoutMs,
        100,
      );
    } catch (error) {
      throw new Error(
        `anchor status never showed ${what}: ${(error as Error).message}\nlast status: ${JSON.stringify(last)}\nlog:\n${proc.output()}`,
      );
    }
  };
  return {
    stateDir,
    codexHome,
    log: () => proc.output(),
    status,
    waitStatus,
    waitReady: (timeoutMs?: number) =>
      waitStatus(
        "connected to Orbit with codex ready",
        (st) => st.orbit?.connected === true && st.codex?.state === "ready",
        timeoutMs,
      ),
    stop: () => proc.stop(),
    running: () => proc.running(),
  };
}

/** An anchor paired with the user of `webToken` without a browser (`anchor login`, approved
 * through the API), ready to {@link anchorRun}. */
export async function pairAnchor(s: Stack, webToken: string, name: string): Promise<{ stateDir: string; anchorId: string }> {
  const login = await anchorLogin(s, name);
  await approveDevice(s, webToken, login.userCode);
  const { anchorId } = await login.done();
  return { stateDir: login.stateDir, anchorId };
}

/** `promise`'s value, or undefined if it takes over `ms`. The timer is cleared either way: a
 * pending one would keep vitest's worker alive until it fires. */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((r) => {
    timer = setTimeout(() => r(undefined), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// The web client's benchmark (docs/benchmarks.md, "Web client"). It measures, prints, and writes
// to target/web-bench/ (results.json, results.md); it asserts only that each figure was taken,
// never how good it is.
//
// 1. Bundle: the JavaScript Chromium fetches to show /signin, and the whole app (every script
//    and style sheet in web/dist/assets), gzip-compressed (level 9) from web/dist.
// 2. Delta → DOM: the anchor runs `scripted-codex` (bench/src/bin) with a 5,000-item thread; the
//    page shows the thread and also holds a raw WebSocket to Orbit subscribed to it; a turn
//    streams 200 deltas ("w0001 " …) 5 ms apart. For each delta: when the raw socket got it and
//    when its word appeared in the transcript (a MutationObserver), both `performance.now()` of
//    the same page.
// 3. The long thread: from navigation to the first transcript items painted; the time to load
//    every older page ("Load earlier"); then frame times (requestAnimationFrame intervals,
//    `long-animation-frame` and `longtask` entries) while 600 deltas stream at 200 a second and
//    the transcript is scrolled up and down with the mouse wheel.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { execFileSync } from "node:child_process";
import type { Page } from "playwright-core";
import { afterAll } from "vitest";

import { cargoBinary } from "../e2e/global-setup";
import { anchorRun, CHROMIUM_PATH, expect, pairAnchor, ROOT, test, waitFor, type Stack } from "../e2e/support";
import { online, signUp } from "../e2e/thread-support";

const THREAD_ID = "01a1fc8b-0000-7000-8000-00000000be9c";
const DIST = resolve(ROOT, "web/dist");
const OUT = resolve(ROOT, "target/web-bench");
const LATENCY_DELTAS = 200;
const FRAME_DELTAS = 600;

const results: Record<string, unknown> = {};

// ---- Helpers ------------------------------------------------------------------------------------

const gzip = (path: string) => gzipSync(readFileSync(path), { level: 9 }).length;
const kb = (bytes: number) => Math.round((bytes / 1024) * 10) / 10;

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

function summary(values: number[]) {
  const s = [...values].sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 100) / 100;
  return { n: s.length, min: r(s[0] ?? NaN), median: r(quantile(s, 0.5)), p99: r(quantile(s, 0.99)), max: r(s.at(-1) ?? NaN) };
}

function chromiumVersion(): string {
  try {
    return execFileSync(CHROMIUM_PATH, ["--version"], { encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

/** In the page: starts a turn on the thread through a raw socket of its own, subscribed to the
 * thread, and records when each delta's frame arrived there. `window.__benchTurn` resolves with
 * those times once the turn completed. */
async function startTurn(page: Page, s: Stack, token: string, anchorId: string, deltas: number): Promise<void> {
  const url = `${s.orbit.replace(/^http/, "ws")}/ws/client`;
  await page.evaluate(
    ({ url, token, anchorId, threadId, deltas }) => {
      const w = window as unknown as Record<string, unknown>;
      const received: [number, number][] = [];
      const ws = new WebSocket(url, ["orbit.v1", `orbit.bearer.${token}`]);
      w.__benchTurn = new Promise<[number, number][]>((done, fail) => {
        const timer = setTimeout(() => fail(new Error("no turn/completed within 90 s")), 90_000);
        ws.onmessage = (e) => {
          const at = performance.now();
          const f = JSON.parse(String(e.data)) as {
            type?: string;
            id?: number;
            method?: string;
            error?: unknown;
            params?: { delta?: string };
          };
          if (f.type === "orbit.hello") {
            ws.send(JSON.stringify({ type: "orbit.subscribe", threadId }));
          } else if (f.type === "orbit.subscribed") {
            const input = [{ type: "text", text: `bench deltas=${deltas}`, text_elements: [] }];
            ws.send(JSON.stringify({ id: 1, method: "turn/start", params: { threadId, anchorId, input } }));
          } else if (f.method === "item/agentMessage/delta") {
            const m = /w(\d{4})/.exec(f.params?.delta ?? "");
            if (m) received.push([Number(m[1]), at]);
          } else if (f.method === "turn/completed") {
            clearTimeout(timer);
            ws.close();
            done(received);
          } else if (f.id === 1 && f.error) {
            clearTimeout(timer);
            fail(new Error(`turn/start: ${JSON.stringify(f.error)}`));
          }
        };
      });
    },
    { url, token, anchorId, threadId: THREAD_ID, deltas },
  );
}

async function turnDone(page: Page): Promise<[number, number][]> {
  return page.evaluate(() => (window as unknown as { __benchTurn: Promise<[number, number][]> }).__benchTurn);
}

// ---- 1. Bundle ---------------------------------------------------------------------------------

test("bundle: what /signin fetches, and the whole app, gzip", async ({ page }) => {
  const fetched = new Set<string>();
  page.on("response", (r) => {
    const path = new URL(r.url()).pathname;
    if (path.endsWith(".js")) fetched.add(path);
  });
  await online(page);
  await page.goto("/signin");
  await page.getByRole("button", { name: "Create an account" }).waitFor();
  await page.waitForLoadState("networkidle");

  const signin = [...fetched].sort().map((path) => ({ file: path, gzipBytes: gzip(join(DIST, path)) }));
  const assets = readdirSync(join(DIST, "assets")).filter((f) => f.endsWith(".js") || f.endsWith(".css"));
  const app = assets.map((f) => ({ file: `/assets/${f}`, gzipBytes: gzip(join(DIST, "assets", f)) }));
  const sum = (list: { gzipBytes: number }[]) => list.reduce((a, b) => a + b.gzipBytes, 0);
  results.bundle = {
    signinJs: { files: signin, totalGzipKB: kb(sum(signin)), targetKB: 120 },
    app: {
      jsGzipKB: kb(sum(app.filter((a) => a.file.endsWith(".js")))),
      cssGzipKB: kb(sum(app.filter((a) => a.file.endsWith(".css")))),
      totalGzipKB: kb(sum(app)),
      files: app.length,
      targetKB: 250,
    },
  };
  console.log(`bundle: /signin fetches ${signin.length} scripts, ${kb(sum(signin))} KB gzip; the app ${kb(sum(app))} KB gzip`);
  expect(signin.length).toBeGreaterThan(0);
  expect(app.length).toBeGreaterThan(0);
});

// ---- 2 and 3. The long thread ------------------------------------------------------------------

test("the 5,000-item thread: first paint, delta → DOM, frames while streaming and scrolling", async ({
  page,
  authenticator,
  stack,
}) => {
  expect(authenticator.id).toBeTruthy();
  const token = await signUp(page, "bench");
  const { stateDir, anchorId } = await pairAnchor(stack, token, "bench-web");
  const anchor = await anchorRun(stack, stateDir, {
    codexBin: cargoBinary("scripted-codex"),
    env: { ORBIT_SCRIPTED_ITEMS: "5000", ORBIT_SCRIPTED_DELTAS: String(LATENCY_DELTAS), ORBIT_SCRIPTED_DELTA_INTERVAL_US: "5000" },
  });
  await anchor.waitReady(60_000);

  // -- First paint: from navigation to the first transcript item in a painted frame.
  await page.addInitScript(() => {
    const w = window as unknown as Record<string, unknown>;
    // Until then, the client's requests and their answers (time, method, how it ended, size).
    const log: { method: string; sentMs: number; answeredMs?: number; outcome?: string; bytes?: number }[] = [];
    const byId = new Map<unknown, (typeof log)[number]>();
    w.__loadLog = log;
    const Native = window.WebSocket;
    window.WebSocket = class extends Native {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols);
        this.addEventListener("message", (e) => {
          if (w.__firstItems !== undefined || typeof e.data !== "string" || !e.data.startsWith('{"id"')) return;
          const f = JSON.parse(e.data) as { id?: unknown; error?: { data?: { code?: string } } };
          const entry = byId.get(f.id);
          if (!entry) return;
          entry.answeredMs = Math.round(performance.now());
          entry.outcome = f.error ? (f.error.data?.code ?? "error") : "ok";
          entry.bytes = e.data.length;
        });
      }
      override send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
        if (w.__firstItems === undefined && typeof data === "string") {
          const f = JSON.parse(data) as { id?: unknown; method?: string; params?: { excludeTurns?: boolean } };
          if (f.method?.startsWith("thread/")) {
            const entry = { method: f.method + (f.params?.excludeTurns ? " (excludeTurns)" : ""), sentMs: Math.round(performance.now()) };
            log.push(entry);
            byId.set(f.id, entry);
          }
        }
        super.send(data);
      }
    };
    const poll = () => {
      if (document.querySelector('[role="region"][aria-label="Transcript"] article')) w.__firstItems = performance.now();
      else requestAnimationFrame(poll);
    };
    requestAnimationFrame(poll);
  });
  const path = `/thread/${encodeURIComponent(anchorId)}/${encodeURIComponent(THREAD_ID)}`;
  await page.goto(path);
  const firstItemsMs = await waitFor(
    "the first transcript items",
    () => page.evaluate(() => (window as unknown as { __firstItems?: number }).__firstItems),
    60_000,
  );
  await page.getByRole("textbox", { name: "Message" }).waitFor();
  const transcript = page.getByRole("region", { name: "Transcript" });
  const loadLog = await page.evaluate(() => (window as unknown as { __loadLog: unknown[] }).__loadLog);
  console.log(`first transcript items painted ${firstItemsMs.toFixed(0)} ms after navigation: ${JSON.stringify(loadLog)}`);

  // -- Delta → DOM.
  await transcript.evaluate((region) => {
    const w = window as unknown as Record<string, unknown>;
    const seen = new Map<number, number>();
    const observer = new MutationObserver(() => {
      const at = performance.now();
      for (const m of (region.textContent ?? "").matchAll(/w(\d{4})/g)) {
        const n = Number(m[1]);
        if (!seen.has(n)) seen.set(n, at);
      }
    });
    observer.observe(region, { subtree: true, childList: true, characterData: true });
    // When animation frames ran: a delta cannot be on screen before the next one.
    const frames: number[] = [];
    const state = { seen, observer, frames, recording: true };
    const loop = () => {
      frames.push(performance.now());
      if (state.recording) requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
    w.__benchDom = state;
  });
  await startTurn(page, stack, token, anchorId, LATENCY_DELTAS);
  const received = await turnDone(page);
  await waitFor(
    `word w${String(LATENCY_DELTAS).padStart(4, "0")} in the transcript`,
    () => page.evaluate((n) => (window as unknown as { __benchDom: { seen: Map<number, number> } }).__benchDom.seen.has(n), LATENCY_DELTAS),
    15_000,
  );
  const { shown, rafTimes } = await page.evaluate(() => {
    const dom = (window as unknown as {
      __benchDom: { seen: Map<number, number>; observer: MutationObserver; frames: number[]; recording: boolean };
    }).__benchDom;
    dom.observer.disconnect();
    dom.recording = false;
    return { shown: [...dom.seen.entries()], rafTimes: dom.frames };
  });
  const shownAt = new Map(shown);
  const latencies = received.filter(([n]) => shownAt.has(n)).map(([n, at]) => shownAt.get(n)! - at);
  const latency = summary(latencies);
  // For reference: from each arrival to the next animation frame, when the screen can show it.
  const toNextFrame = summary(
    received.map(([, at]) => (rafTimes.find((t) => t >= at) ?? NaN) - at).filter((d) => !Number.isNaN(d)),
  );
  console.log(
    `delta → DOM over ${latency.n} deltas: median ${latency.median} ms, p99 ${latency.p99} ms, max ${latency.max} ms ` +
      `(arrival → next animation frame: median ${toNextFrame.median} ms, p99 ${toNextFrame.p99} ms)`,
  );
  expect(received.length).toBe(LATENCY_DELTAS);
  expect(latencies.length).toBeGreaterThan(LATENCY_DELTAS * 0.9);
  await page.getByRole("button", { name: "Send", exact: true }).waitFor({ timeout: 60_000 });

  // -- Every older page, one "Load earlier" at a time (the whole thread is then in the list).
  const loadStarted = performance.now();
  let pages = 0;
  /** From the click to the page in the list (as Playwright sees it: add its round trips). */
  const pageMs: number[] = [];
  // Scrolled by the reader (the mouse wheel), so that the list stops following the newest output.
  const box = (await transcript.boundingBox())!;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  const button = page.getByRole("button", { name: /^(Load earlier messages|Could not load: try again)$/ });
  let topSince = 0;
  for (;;) {
    await page.mouse.wheel(0, -20_000);
    if (await button.isVisible()) {
      topSince = 0;
    } else {
      // At the top with no button for a second: everything is loaded.
      const atTop = await transcript.evaluate((el) => el.scrollTop === 0);
      if (!atTop) topSince = 0;
      else if (!topSince) topSince = Date.now();
      else if (Date.now() - topSince > 1_000) break;
      await page.waitForTimeout(50);
      continue;
    }
    const clicked = performance.now();
    await button.click();
    await page.getByRole("button", { name: "Loading earlier messages…" }).waitFor({ state: "hidden", timeout: 30_000 });
    pageMs.push(performance.now() - clicked);
    pages++;
  }
  const loadAllMs = performance.now() - loadStarted - 1_000; // the last second found no button
  await page.getByText("Step 1: look at module_1.rs", { exact: false }).waitFor();
  const perPage = summary(pageMs);
  console.log(
    `${pages} older pages loaded in ${(loadAllMs / 1000).toFixed(1)} s with the scrolling; ` +
      `click → page in the list: median ${perPage.median.toFixed(0)} ms, max ${perPage.max.toFixed(0)} ms`,
  );

  // -- Frames while streaming and scrolling.
  await page.getByRole("button", { name: /^Jump to latest/ }).click();
  await page.evaluate(() => {
    const w = window as unknown as Record<string, unknown>;
    const frames: number[] = [];
    const loaf: number[] = [];
    const longtasks: number[] = [];
    const observers: PerformanceObserver[] = [];
    for (const [type, into] of [
      ["long-animation-frame", loaf],
      ["longtask", longtasks],
    ] as const) {
      try {
        const o = new PerformanceObserver((list) => into.push(...list.getEntries().map((e) => e.duration)));
        o.observe({ type, buffered: false });
        observers.push(o);
      } catch {
        // Not supported: the list stays empty.
      }
    }
    const state = { frames, loaf, longtasks, observers, recording: true };
    let last = 0;
    const loop = (t: number) => {
      if (last) frames.push(t - last);
      last = t;
      if (state.recording) requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
    w.__benchFrames = state;
  });
  await startTurn(page, stack, token, anchorId, FRAME_DELTAS);
  const streamStarted = Date.now();
  // Up and down through the list while the turn streams (3 s at 200 deltas a second).
  for (const direction of [-1, 1, -1, 1]) {
    for (let i = 0; i < 20; i++) {
      await page.mouse.wheel(0, direction * 600);
      await page.waitForTimeout(30);
    }
  }
  const scrolledMs = Date.now() - streamStarted;
  const streamed = await turnDone(page);
  const frames = await page.evaluate(() => {
    const st = (window as unknown as {
      __benchFrames: { frames: number[]; loaf: number[]; longtasks: number[]; observers: PerformanceObserver[]; recording: boolean };
    }).__benchFrames;
    st.recording = false;
    for (const o of st.observers) o.disconnect();
    return { frames: st.frames, loaf: st.loaf, longtasks: st.longtasks };
  });
  const frameStats = summary(frames.frames);
  const over50 = frames.frames.filter((f) => f > 50).length;
  console.log(
    `frames while streaming ${streamed.length} deltas and scrolling ${(scrolledMs / 1000).toFixed(1)} s: ${frameStats.n} frames, ` +
      `p99 ${frameStats.p99} ms, max ${frameStats.max} ms, ${over50} over 50 ms; ` +
      `${frames.loaf.length} long animation frames (max ${Math.max(0, ...frames.loaf).toFixed(0)} ms), ` +
      `${frames.longtasks.length} long tasks (max ${Math.max(0, ...frames.longtasks).toFixed(0)} ms)`,
  );
  expect(frames.frames.length).toBeGreaterThan(10);
  expect(streamed.length).toBe(FRAME_DELTAS);

  results.longThread = {
    items: 5000,
    turns: 1250,
    firstItemsPaintedMs: Math.round(firstItemsMs),
    firstItemsRequests: loadLog,
    olderPages: pages,
    loadAllOlderPagesMs: Math.round(loadAllMs),
    olderPageMs: perPage,
    deltaToDom: { deltas: LATENCY_DELTAS, intervalMs: 5, ...latency, goalMedianMs: 5 },
    deltaToNextAnimationFrame: toNextFrame,
    framesWhileStreamingAndScrolling: {
      deltas: streamed.length,
      scrollingMs: scrolledMs,
      rafIntervalsMs: frameStats,
      over50ms: over50,
      longAnimationFrames: { count: frames.loaf.length, maxMs: Math.round(Math.max(0, ...frames.loaf)) },
      longTasks: { count: frames.longtasks.length, maxMs: Math.round(Math.max(0, ...frames.longtasks)) },
    },
  };
});

afterAll(() => {
  results.machine = {
    when: new Date().toISOString(),
    cpus: (() => {
      try {
        return Number(execFileSync("nproc", { encoding: "utf8" }).trim());
      } catch {
        return null;
      }
    })(),
    chromium: chromiumVersion(),
    headless: true,
    node: process.version,
  };
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(OUT, "results.md"), markdown(results));
  console.log(`\n${markdown(results)}\n(written to target/web-bench/results.json and results.md)`);
});

function markdown(r: Record<string, unknown>): string {
  const b = r.bundle as
    | { signinJs: { files: unknown[]; totalGzipKB: number }; app: { totalGzipKB: number; jsGzipKB: number; cssGzipKB: number } }
    | undefined;
  const t = r.longThread as
    | {
        firstItemsPaintedMs: number;
        olderPages: number;
        loadAllOlderPagesMs: number;
        olderPageMs: { median: number; max: number };
        deltaToDom: { n: number; median: number; p99: number; max: number };
        deltaToNextAnimationFrame: { median: number; p99: number };
        framesWhileStreamingAndScrolling: {
          deltas: number;
          rafIntervalsMs: { n: number; p99: number; max: number };
          over50ms: number;
          longAnimationFrames: { count: number; maxMs: number };
          longTasks: { count: number; maxMs: number };
        };
      }
    | undefined;
  const m = r.machine as { when: string; cpus: number | null; chromium: string } | undefined;
  const lines = ["| measure | result | target |", "|---|---|---|"];
  if (b) {
    lines.push(`| JS fetched by /signin, gzip | ${b.signinJs.totalGzipKB} KB (${b.signinJs.files.length} files) | ≤ 120 KB |`);
    lines.push(`| whole app (JS + CSS), gzip | ${b.app.totalGzipKB} KB (JS ${b.app.jsGzipKB}, CSS ${b.app.cssGzipKB}) | ≤ 250 KB |`);
  }
  if (t) {
    const f = t.framesWhileStreamingAndScrolling;
    lines.push(`| 5,000-item thread: navigation → first items painted | ${t.firstItemsPaintedMs} ms | |`);
    lines.push(
      `| "Load earlier": click → older page in the list | median ${Math.round(t.olderPageMs.median)} ms, max ${Math.round(t.olderPageMs.max)} ms | |`,
    );
    lines.push(`| all ${t.olderPages} older pages, scrolling up to each | ${(t.loadAllOlderPagesMs / 1000).toFixed(1)} s | |`);
    lines.push(`| delta → DOM (${t.deltaToDom.n} deltas, 200/s) | median ${t.deltaToDom.median} ms, p99 ${t.deltaToDom.p99} ms, max ${t.deltaToDom.max} ms | median ≤ 5 ms |`);
    lines.push(
      `| delta arrival → next animation frame | median ${t.deltaToNextAnimationFrame.median} ms, p99 ${t.deltaToNextAnimationFrame.p99} ms | |`,
    );
    lines.push(
      `| frames, ${f.deltas} deltas at 200/s + scrolling | ${f.rafIntervalsMs.n} frames: p99 ${f.rafIntervalsMs.p99} ms, max ${f.rafIntervalsMs.max} ms, ${f.over50ms} over 50 ms | |`,
    );
    lines.push(
      `| long animation frames / long tasks | ${f.longAnimationFrames.count} (max ${f.longAnimationFrames.maxMs} ms) / ${f.longTasks.count} (max ${f.longTasks.maxMs} ms) | |`,
    );
  }
  if (m) lines.push("", `${m.when}, ${m.cpus ?? "?"} CPUs, ${m.chromium}, headless.`);
  return `${lines.join("\n")}\n`;
}

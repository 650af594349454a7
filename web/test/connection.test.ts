import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { STORAGE_KEY } from "../src/lib/auth/tokens";

/** A WebSocket the test drives: it records what the client sends. */
class FakeSocket {
  static readonly OPEN = 1;
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: Record<string, unknown>[] = [];
  onmessage: ((e: { data: string }) => void) | null = null;
  onclose: ((e: { code: number; reason: string }) => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {
    FakeSocket.all.push(this);
  }
  send(text: string) {
    this.sent.push(JSON.parse(text));
  }
  close() {
    this.readyState = 3;
  }
  /** The upgrade succeeded and Orbit said hello. */
  hello() {
    this.readyState = FakeSocket.OPEN;
    this.deliver({ type: "orbit.hello", role: "client", userId: "u1", connectionId: "c", serverTime: 1 });
  }
  deliver(frame: unknown) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  drop(code = 1006, reason = "") {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  subscribes() {
    return this.sent.filter((f) => f.type === "orbit.subscribe");
  }
}

const note = (seq: number) => ({
  seq,
  method: "item/agentMessage/delta",
  params: { threadId: "t1", delta: `d${seq}` },
});

let live: { stop(): void }[] = [];

async function fresh() {
  vi.resetModules();
  localStorage.setItem(
    STORAGE_KEY,
    JSON.stringify({
      userId: "u1",
      name: "ada",
      sessionId: "s1",
      accessToken: "tok",
      refreshToken: "ort_x",
      accessExpiresAt: Date.now() + 3_600_000,
    }),
  );
  const mod = await import("../src/lib/conn/connection");
  const session = await import("../src/lib/auth/session");
  const c = new mod.Connection("ws://orbit.test/ws/client");
  c.start();
  live.push(c);
  await vi.advanceTimersByTimeAsync(0);
  return { c, mod, session };
}

describe("Connection", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeSocket.all = [];
    vi.stubGlobal("WebSocket", FakeSocket);
  });
  afterEach(() => {
    for (const c of live) c.stop();
    live = [];
    vi.useRealTimers();
    vi.unstubAllGlobals();
    localStorage.clear();
  });

  it("presents the token as a subprotocol, never in the URL", async () => {
    await fresh();
    const ws = FakeSocket.all[0]!;
    expect(ws.url).toBe("ws://orbit.test/ws/client");
    expect(ws.protocols).toEqual(["orbit.v1", "orbit.bearer.tok"]);
  });

  it("after a reconnect replays from the last seq it applied and applies nothing twice", async () => {
    const { c } = await fresh();
    const first = FakeSocket.all[0]!;
    first.hello();
    const seen: number[] = [];
    c.follow("t1", (m) => seen.push(m.seq!), () => seen.push(-1));
    expect(first.subscribes()).toEqual([{ type: "orbit.subscribe", threadId: "t1" }]);
    first.deliver({ type: "orbit.subscribed", threadId: "t1", seq: 0 });
    first.deliver(note(1));
    first.deliver(note(2));
    first.drop();
    await vi.advanceTimersByTimeAsync(1_000);
    const second = FakeSocket.all.at(-1)!;
    expect(second).not.toBe(first);
    second.hello();
    expect(second.subscribes()).toEqual([{ type: "orbit.subscribe", threadId: "t1", sinceSeq: 2 }]);
    // The replay overlaps what was seen; then live frames follow.
    second.deliver(note(2));
    second.deliver(note(3));
    second.deliver({ type: "orbit.subscribed", threadId: "t1", seq: 3 });
    second.deliver(note(4));
    expect(seen).toEqual([1, 2, 3, 4]);
  });

  it("reloads a thread when Orbit says the replay was truncated", async () => {
    const { c } = await fresh();
    const ws = FakeSocket.all[0]!;
    ws.hello();
    let reloads = 0;
    c.follow("t1", () => {}, () => reloads++);
    ws.deliver({ type: "orbit.subscribed", threadId: "t1", seq: 9, truncated: true });
    expect(reloads).toBe(1);
  });

  it("fails requests in flight when the link drops, instead of leaving them hanging", async () => {
    const { c } = await fresh();
    const ws = FakeSocket.all[0]!;
    ws.hello();
    const answered = c.request("thread/list", {});
    const failed = c.request("thread/read", { threadId: "t1" });
    const sent = ws.sent.filter((f) => "method" in f);
    ws.deliver({ id: sent[0]!.id, result: { data: [] } });
    ws.drop();
    await expect(answered).resolves.toEqual({ data: [] });
    await expect(failed).rejects.toMatchObject({ code: "connection_lost" });
  });

  it("turns Orbit's and the anchor's errors into RequestErrors with their code", async () => {
    const { c } = await fresh();
    const ws = FakeSocket.all[0]!;
    ws.hello();
    const r = c.request("turn/start", { threadId: "t1" }, { anchorId: "a1" });
    const sent = ws.sent.find((f) => f.method === "turn/start")!;
    expect(sent.params).toEqual({ threadId: "t1", anchorId: "a1" });
    ws.deliver({ id: sent.id, error: { code: -32000, message: "anchor a1 is offline", data: { code: "anchor_offline" } } });
    await expect(r).rejects.toMatchObject({ code: "anchor_offline", message: "anchor a1 is offline" });
  });

  it("says reconnecting only after the link has been down for three seconds", async () => {
    const { c } = await fresh();
    const ws = FakeSocket.all[0]!;
    ws.hello();
    const states: boolean[] = [];
    c.link.subscribe((s) => states.push(s.visiblyDown));
    ws.drop();
    expect(states.at(-1)).toBe(false);
    await vi.advanceTimersByTimeAsync(2_900);
    expect(states.at(-1)).toBe(false);
    await vi.advanceTimersByTimeAsync(200);
    // Still down (the retry may be under way): now it shows.
    expect(FakeSocket.all.at(-1)!.readyState).not.toBe(FakeSocket.OPEN);
    expect(states.at(-1)).toBe(true);
  });

  it("keeps a link that answers the wake-up ping", async () => {
    const { c } = await fresh();
    const ws = FakeSocket.all[0]!;
    ws.hello();
    await vi.advanceTimersByTimeAsync(6_000);
    window.dispatchEvent(new Event("online"));
    ws.deliver({ type: "pong" });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(c.isOpen()).toBe(true);
    expect(FakeSocket.all.length).toBe(1);
  });

  it("checks a silent link at once when the page comes back, and replaces a dead one", async () => {
    const { c } = await fresh();
    const ws = FakeSocket.all[0]!;
    ws.hello();
    // The phone slept: nothing arrived for a while, and the page is shown again.
    await vi.advanceTimersByTimeAsync(6_000);
    expect(ws.sent.filter((f) => f.type === "ping")).toHaveLength(0);
    window.dispatchEvent(new Event("pageshow"));
    expect(ws.sent.filter((f) => f.type === "ping")).toHaveLength(1);
    // No answer within the wake deadline (1 s, so a phone catches up within 2 s): the link is
    // dead, and a new one is made at once.
    await vi.advanceTimersByTimeAsync(900);
    expect(c.isOpen()).toBe(true);
    await vi.advanceTimersByTimeAsync(200);
    expect(c.isOpen()).toBe(false);
    await vi.advanceTimersByTimeAsync(600);
    expect(FakeSocket.all.length).toBe(2);
  });

  it("does not ping while the page is hidden; shown after a long silence, it replaces the link at once", async () => {
    let hidden = false;
    const spy = vi.spyOn(document, "visibilityState", "get").mockImplementation(() => (hidden ? "hidden" : "visible"));
    const show = (value: boolean) => {
      hidden = !value;
      document.dispatchEvent(new Event("visibilitychange", { bubbles: true }));
    };
    try {
      const { c } = await fresh();
      const ws = FakeSocket.all[0]!;
      ws.hello();
      c.follow("t1", () => {}, () => {});
      ws.deliver(note(7));
      // Hidden briefly: shown again, the link is checked with a ping, not replaced.
      show(false);
      await vi.advanceTimersByTimeAsync(10_000);
      show(true);
      expect(ws.sent.filter((f) => f.type === "ping")).toHaveLength(1);
      ws.deliver({ type: "pong" });
      // Hidden for a minute (a phone in a pocket): no ping meanwhile.
      show(false);
      await vi.advanceTimersByTimeAsync(60_000);
      expect(ws.sent.filter((f) => f.type === "ping")).toHaveLength(1);
      expect(FakeSocket.all.length).toBe(1);
      // Shown: a new link at once, no backoff, no ping deadline waited out, and the thread is
      // followed again from the last frame seen.
      show(true);
      await vi.advanceTimersByTimeAsync(0);
      expect(FakeSocket.all.length).toBe(2);
      const fresh2 = FakeSocket.all[1]!;
      fresh2.hello();
      expect(fresh2.subscribes()).toEqual([{ type: "orbit.subscribe", threadId: "t1", sinceSeq: 7 }]);
    } finally {
      spy.mockRestore();
    }
  });

  it("ends the session here when Orbit closes with 4003 (revoked), and stops reconnecting", async () => {
    const { c, session } = await fresh();
    const ws = FakeSocket.all[0]!;
    ws.hello();
    let ended: string | null = null;
    session.endedReason.subscribe((r) => (ended = r));
    ws.drop(4003, "session revoked");
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.all.length).toBe(1);
    expect(localStorage.getItem(STORAGE_KEY)).toBeNull();
    expect(ended).toMatch(/signed out/);
    c.stop();
  });
});

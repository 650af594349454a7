// A thread too long for one Orbit frame: its full `thread/resume` answers `frame_too_large`, so
// it is resumed without turns and paged with `thread/turns/list`, newest page first, older pages
// on demand, each page halved until it fits.
import { describe, expect, it } from "vitest";

import type { Thread } from "../src/lib/codex/v2/Thread";
import type { Turn } from "../src/lib/codex/v2/Turn";
import { RequestError, type RequestOptions, type RpcMessage } from "../src/lib/conn/connection";
import { turnPage, TURN_PAGE, type Requester } from "../src/lib/rpc/turns";
import { emptyTranscript, type Transcript } from "../src/lib/state/transcript";
import type { FrameClock } from "../src/lib/thread/batcher";
import { ThreadFeed, type FeedConnection } from "../src/lib/thread/feed";
import { applyLive, prependTurns, transcriptOf } from "../src/lib/thread/live";

const immediate: FrameClock = { soon: (run) => run(), nextFrame: () => () => {} };

function turn(n: number, itemBytes = 40): Turn {
  return {
    id: `t${n}`,
    rootTurnId: null,
    itemsView: "full",
    status: "completed",
    error: null,
    startedAt: null,
    completedAt: null,
    durationMs: null,
    items: [
      { type: "userMessage", id: `u${n}`, clientId: null, content: [{ type: "text", text: `ask ${n}`, text_elements: [] }] },
      { type: "agentMessage", id: `a${n}`, text: `answer ${n} ${"x".repeat(itemBytes)}`, phase: null, memoryCitation: null },
    ],
  } as unknown as Turn;
}

function threadOf(turns: Turn[]): Thread {
  return { id: "t1", cwd: "/p", model: null, name: null, preview: "", status: { type: "idle" }, turns } as unknown as Thread;
}

interface Sent {
  method: string;
  params: Record<string, unknown>;
}

/**
 * A codex (behind the anchor) holding `turns`, whose answers over `budget` bytes become
 * `frame_too_large`, as the anchor does. Cursors are indexes from the newest turn.
 */
class FakeCodex implements FeedConnection {
  sent: Sent[] = [];
  listener: ((m: RpcMessage) => void) | null = null;
  truncated: (() => void) | null = null;
  /** Holds answers back until released (to interleave with a reload). */
  hold: Promise<void> | null = null;
  /** Refuse `thread/turns/list` as codex 0.169 does for some threads. */
  noTurnsList = false;

  constructor(
    public turns: Turn[],
    public budget = 4_000,
  ) {}

  follow(_threadId: string, listener: (m: RpcMessage) => void, truncated: () => void) {
    this.listener = listener;
    this.truncated = truncated;
    return () => {};
  }
  isOpen() {
    return true;
  }
  onOpen() {
    return () => {};
  }

  async request<T>(method: string, params: Record<string, unknown>, _options?: RequestOptions): Promise<T> {
    this.sent.push({ method, params });
    if (this.hold) await this.hold;
    const result = this.answer(method, params);
    if (JSON.stringify(result).length > this.budget) {
      throw new RequestError("frame_too_large", "the answer is more than Orbit relays");
    }
    return result as T;
  }

  private answer(method: string, params: Record<string, unknown>): unknown {
    switch (method) {
      case "thread/resume":
        return { thread: threadOf(params.excludeTurns ? [] : this.turns), cwd: "/p", model: "m" };
      case "thread/turns/list": {
        if (this.noTurnsList) throw new RequestError("rpc_error", "list_turns is not supported yet");
        const newestFirst = [...this.turns].reverse();
        const start = Number(params.cursor ?? 0);
        const limit = Number(params.limit ?? 25);
        const page = newestFirst.slice(start, start + limit);
        const data = params.itemsView === "summary" ? page.map((t) => ({ ...t, items: t.items.slice(0, 1), itemsView: "summary" })) : page;
        const next = start + page.length;
        return { data, nextCursor: next < newestFirst.length ? String(next) : null, backwardsCursor: String(start) };
      }
      default:
        throw new RequestError("rpc_error", `unexpected ${method}`);
    }
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0));

/** Each test's feed on an anchor of its own: the feed remembers which threads are long. */
let anchors = 0;

function setup(codex: FakeCodex) {
  let transcript: Transcript = emptyTranscript("t1");
  const log: string[] = [];
  let more = false;
  const feed = new ThreadFeed(
    codex,
    `anchor-${++anchors}`,
    "t1",
    {
      snapshot: (t, _meta, earlier) => {
        transcript = transcriptOf(t);
        more = earlier;
        log.push(`snapshot ${t.turns.length} turns`);
      },
      earlier: (turns, earlier) => {
        prependTurns(transcript, turns);
        more = earlier;
        log.push(`earlier ${turns.length} turns`);
      },
      frames: (frames) => frames.forEach((f) => applyLive(transcript, f)),
      state: (s) => log.push(s.phase),
    },
    immediate,
  );
  return { feed, log, ids: () => transcript.entries.map((e) => e.id), more: () => more, transcript: () => transcript };
}

const allIds = (n: number) => Array.from({ length: n }, (_, i) => [`u${i + 1}`, `a${i + 1}`]).flat();

describe("turnPage", () => {
  it("asks for a page newest first with full items, and returns it oldest first", async () => {
    const codex = new FakeCodex(Array.from({ length: 10 }, (_, i) => turn(i + 1)), 1e9);
    const page = await turnPage(codex, "anchor-1", "t1", null, 4);
    expect(codex.sent).toEqual([
      { method: "thread/turns/list", params: { threadId: "t1", cursor: null, limit: 4, sortDirection: "desc", itemsView: "full" } },
    ]);
    expect(page.turns.map((t) => t.id)).toEqual(["t7", "t8", "t9", "t10"]);
    expect(page.cursor).toBe("4");
    expect(page.limit).toBe(4);
  });

  it("halves the page until its answer fits in a frame", async () => {
    // Each turn is ~1 KB in JSON: 3 KB of budget fits 2 turns, not 4 or 8.
    const codex = new FakeCodex(Array.from({ length: 20 }, (_, i) => turn(i + 1, 800)), 3_000);
    const page = await turnPage(codex, "anchor-1", "t1", null, 8);
    expect(codex.sent.map((s) => s.params.limit)).toEqual([8, 4, 2]);
    expect(page.turns.map((t) => t.id)).toEqual(["t19", "t20"]);
    expect(page.limit).toBe(2);
  });

  it("takes a turn too large even alone in codex's summary view", async () => {
    const codex = new FakeCodex([turn(1), turn(2, 5_000)], 2_000);
    const page = await turnPage(codex, "anchor-1", "t1", null, 2);
    expect(codex.sent.map((s) => [s.params.limit, s.params.itemsView])).toEqual([
      [2, "full"],
      [1, "full"],
      [1, "summary"],
    ]);
    expect(page.turns[0]?.itemsView).toBe("summary");
  });

  it("passes other errors through", async () => {
    const codex = new FakeCodex([turn(1)]);
    codex.noTurnsList = true;
    await expect(turnPage(codex, "anchor-1", "t1", null)).rejects.toMatchObject({ code: "rpc_error" });
  });
});

describe("a thread too long for one frame", () => {
  it("keeps the full resume for a thread that fits", async () => {
    const codex = new FakeCodex([turn(1), turn(2)], 1e9);
    const { feed, log, ids, more } = setup(codex);
    feed.start();
    await tick();
    expect(codex.sent.map((s) => s.method)).toEqual(["thread/resume"]);
    expect(log).toEqual(["loading", "snapshot 2 turns", "ready"]);
    expect(ids()).toEqual(allIds(2));
    expect(more()).toBe(false);
    expect(feed.hasEarlier).toBe(false);
  });

  it("resumes without turns, shows the newest page, and loads older pages on demand, oldest first", async () => {
    const n = TURN_PAGE * 2 + 7;
    const codex = new FakeCodex(Array.from({ length: n }, (_, i) => turn(i + 1)), 40_000);
    const { feed, log, ids, more } = setup(codex);
    feed.start();
    await tick();
    await tick();
    expect(codex.sent.map((s) => [s.method, s.params.excludeTurns ?? s.params.cursor ?? null])).toEqual([
      ["thread/resume", null],
      ["thread/resume", true],
      ["thread/turns/list", null],
    ]);
    expect(log).toEqual(["loading", `snapshot ${TURN_PAGE} turns`, "ready"]);
    expect(ids()).toEqual(allIds(n).slice(-TURN_PAGE * 2));
    expect(more()).toBe(true);

    await expect(feed.loadEarlier()).resolves.toBe(true);
    expect(codex.sent.at(-1)?.params.cursor).toBe(String(TURN_PAGE));
    await expect(feed.loadEarlier()).resolves.toBe(false);
    expect(log.slice(-2)).toEqual([`earlier ${TURN_PAGE} turns`, "earlier 7 turns"]);
    expect(ids()).toEqual(allIds(n));
    expect(more()).toBe(false);
    // Nothing more to load: no request.
    const before = codex.sent.length;
    await expect(feed.loadEarlier()).resolves.toBe(false);
    expect(codex.sent.length).toBe(before);
  });

  it("once a thread was found too long, loads it page by page straight away", async () => {
    const codex = new FakeCodex(Array.from({ length: 120 }, (_, i) => turn(i + 1)), 40_000);
    const { feed, log } = setup(codex);
    feed.start();
    await tick();
    await tick();
    codex.sent = [];
    codex.truncated!();
    await tick();
    await tick();
    expect(codex.sent.map((s) => [s.method, s.params.excludeTurns ?? null])).toEqual([
      ["thread/resume", true],
      ["thread/turns/list", null],
    ]);
    expect(log.at(-1)).toBe("ready");
    expect(feed.hasEarlier).toBe(true);
  });

  it("keeps the smaller page size that fitted for the next pages", async () => {
    const codex = new FakeCodex(Array.from({ length: 40 }, (_, i) => turn(i + 1, 800)), 12_000);
    const { feed, ids } = setup(codex);
    feed.start();
    await tick();
    await tick();
    const lists = () => codex.sent.filter((s) => s.method === "thread/turns/list").map((s) => s.params.limit);
    expect(lists()).toEqual([50, 25, 12, 6]);
    while (await feed.loadEarlier());
    expect(new Set(lists().slice(4))).toEqual(new Set([6]));
    expect(ids()).toEqual(allIds(40));
  });

  it("one request for older turns at a time", async () => {
    const codex = new FakeCodex(Array.from({ length: 120 }, (_, i) => turn(i + 1)), 40_000);
    const { feed, ids } = setup(codex);
    feed.start();
    await tick();
    await tick();
    const a = feed.loadEarlier();
    const b = feed.loadEarlier();
    expect(a).toBe(b);
    await a;
    expect(ids()).toHaveLength(200);
  });

  it("live frames still apply after the newest page, and older pages go before them", async () => {
    const codex = new FakeCodex(Array.from({ length: 120 }, (_, i) => turn(i + 1)), 40_000);
    const { feed, ids, transcript } = setup(codex);
    feed.start();
    await tick();
    await tick();
    codex.listener!({ seq: 1, method: "item/agentMessage/delta", params: { threadId: "t1", turnId: "t121", itemId: "a121", delta: "live" } });
    while (await feed.loadEarlier());
    expect(ids()).toEqual([...allIds(120), "a121"]);
    expect(transcript().entries.at(-1)).toMatchObject({ kind: "agent", text: "live" });
  });

  it("drops an older page that arrives after the thread was read afresh", async () => {
    const codex = new FakeCodex(Array.from({ length: 120 }, (_, i) => turn(i + 1)), 40_000);
    const { feed, log } = setup(codex);
    feed.start();
    await tick();
    await tick();
    let release!: () => void;
    codex.hold = new Promise((r) => (release = r));
    const older = feed.loadEarlier();
    codex.truncated!();
    codex.hold = null;
    release();
    await older;
    await tick();
    await tick();
    expect(log.filter((l) => l.startsWith("earlier"))).toEqual([]);
    expect(log.at(-1)).toBe("ready");
    expect(feed.hasEarlier).toBe(true);
  });

  it("says so when codex cannot list the turns of a thread too long to resume whole", async () => {
    const codex = new FakeCodex(Array.from({ length: 120 }, (_, i) => turn(i + 1)), 40_000);
    codex.noTurnsList = true;
    const { feed, log } = setup(codex);
    feed.start();
    await tick();
    await tick();
    expect(log.at(-1)).toBe("error");
  });

  it("a failed older page can be tried again", async () => {
    const codex = new FakeCodex(Array.from({ length: 120 }, (_, i) => turn(i + 1)), 40_000);
    const { feed, ids } = setup(codex);
    feed.start();
    await tick();
    await tick();
    codex.noTurnsList = true;
    await expect(feed.loadEarlier()).rejects.toMatchObject({ code: "rpc_error" });
    expect(feed.hasEarlier).toBe(true);
    codex.noTurnsList = false;
    await expect(feed.loadEarlier()).resolves.toBe(true);
    await expect(feed.loadEarlier()).resolves.toBe(false);
    expect(ids()).toEqual(allIds(120));
  });
});

describe("prependTurns", () => {
  it("does not add an item twice", () => {
    const t = transcriptOf(threadOf([turn(2), turn(3)]));
    expect(prependTurns(t, [turn(1), turn(2)])).toBe(2);
    expect(t.entries.map((e) => e.id)).toEqual(allIds(3));
  });
});

import { describe, expect, it } from "vitest";

import type { Thread } from "../src/lib/codex/v2/Thread";
import { RequestError, type RequestOptions, type RpcMessage } from "../src/lib/conn/connection";
import { emptyTranscript, type Transcript } from "../src/lib/state/transcript";
import { applyLive, transcriptOf } from "../src/lib/thread/live";
import type { FrameClock } from "../src/lib/thread/batcher";
import { ThreadFeed, type FeedConnection, type FeedState } from "../src/lib/thread/feed";

/** Frames applied as soon as they are pushed (the batching is tested on its own). */
const immediate: FrameClock = { soon: (run) => run(), nextFrame: () => () => {} };

interface Call {
  method: string;
  params: Record<string, unknown>;
  options?: RequestOptions;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

class FakeConnection implements FeedConnection {
  calls: Call[] = [];
  log: string[] = [];
  listener: ((m: RpcMessage) => void) | null = null;
  truncated: (() => void) | null = null;
  open = true;
  openListeners: (() => void)[] = [];

  follow(threadId: string, listener: (m: RpcMessage) => void, truncated: () => void) {
    this.log.push(`follow ${threadId}`);
    this.listener = listener;
    this.truncated = truncated;
    return () => this.log.push("unfollow");
  }
  request<T>(method: string, params: Record<string, unknown>, options?: RequestOptions): Promise<T> {
    this.log.push(method);
    return new Promise<T>((resolve, reject) => this.calls.push({ method, params, options, resolve: resolve as (v: unknown) => void, reject }));
  }
  isOpen() {
    return this.open;
  }
  onOpen(l: () => void) {
    this.openListeners.push(l);
    return () => {};
  }
  last(): Call {
    return this.calls.at(-1)!;
  }
}

function thread(text: string): Thread {
  return {
    id: "t1",
    cwd: "/home/ada/project",
    model: null,
    name: null,
    preview: "hi",
    status: { type: "active", activeFlags: [] },
    turns: [
      {
        id: "u1",
        status: "inProgress",
        error: null,
        items: [{ type: "agentMessage", id: "m1", text, phase: null, memoryCitation: null }],
      },
    ],
  } as unknown as Thread;
}

const delta = (seq: number, text: string): RpcMessage => ({
  seq,
  method: "item/agentMessage/delta",
  params: { threadId: "t1", turnId: "u1", itemId: "m1", delta: text },
});

function setup() {
  const conn = new FakeConnection();
  let transcript: Transcript = emptyTranscript("t1");
  const states: FeedState["phase"][] = [];
  const feed = new ThreadFeed(
    conn,
    "anchor-1",
    "t1",
    {
      snapshot: (t, meta) => {
        transcript = transcriptOf(t);
        states.push(`snapshot ${meta.cwd}` as never);
      },
      frames: (frames) => frames.forEach((f) => applyLive(transcript, f)),
      state: (s) => states.push(s.phase),
    },
    immediate,
  );
  return { conn, feed, states, text: () => (transcript.entries[0]?.kind === "agent" ? transcript.entries[0].text : null) };
}

describe("loading a thread", () => {
  it("follows the thread first, then resumes it on its anchor", () => {
    const { conn, feed } = setup();
    feed.start();
    expect(conn.log).toEqual(["follow t1", "thread/resume"]);
    expect(conn.last().params).toEqual({ threadId: "t1" });
    expect(conn.last().options?.anchorId).toBe("anchor-1");
  });

  it("buffers frames that arrive while the snapshot loads and applies them after it", () => {
    const { conn, feed, text, states } = setup();
    feed.start();
    conn.listener!(delta(1, " world"));
    expect(text()).toBeNull();
    conn.last().resolve({ thread: thread("hello"), cwd: "/home/ada/project", model: "m" });
    return Promise.resolve().then(async () => {
      await new Promise((r) => setTimeout(r, 0));
      expect(text()).toBe("hello world");
      expect(states).toEqual(["loading", "snapshot /home/ada/project", "ready"]);
      conn.listener!(delta(2, "!"));
      expect(text()).toBe("hello world!");
    });
  });

  it("falls back to thread/read when codex cannot resume the thread", async () => {
    const { conn, feed, text } = setup();
    feed.start();
    conn.last().reject(new RequestError("rpc_error", "cannot resume"));
    await new Promise((r) => setTimeout(r, 0));
    expect(conn.last().method).toBe("thread/read");
    expect(conn.last().params).toEqual({ threadId: "t1", includeTurns: true });
    conn.last().resolve({ thread: thread("stored") });
    await new Promise((r) => setTimeout(r, 0));
    expect(text()).toBe("stored");
  });

  it("reads a new thread (nothing to resume, no turns to list) without its turns", async () => {
    const { conn, feed, states } = setup();
    feed.start();
    conn.last().reject(new RequestError("rpc_error", "no rollout found for thread id t1"));
    await new Promise((r) => setTimeout(r, 0));
    conn.last().reject(new RequestError("rpc_error", "list_turns is not supported yet"));
    await new Promise((r) => setTimeout(r, 0));
    expect(conn.last().method).toBe("thread/read");
    expect(conn.last().params).toEqual({ threadId: "t1", includeTurns: false });
    conn.last().resolve({ thread: { ...thread(""), turns: [] } });
    await new Promise((r) => setTimeout(r, 0));
    expect(states.at(-1)).toBe("ready");
  });

  it("says when the anchor is offline (no fallback read), and loads again on retry", async () => {
    const { conn, feed, states } = setup();
    feed.start();
    conn.last().reject(new RequestError("anchor_offline", "offline"));
    await new Promise((r) => setTimeout(r, 0));
    expect(conn.calls.map((c) => c.method)).toEqual(["thread/resume"]);
    expect(states.at(-1)).toBe("error");
    void feed.load();
    expect(conn.last().method).toBe("thread/resume");
    expect(states.at(-1)).toBe("loading");
  });

  it("reads the thread afresh when Orbit could not replay a gap", async () => {
    const { conn, feed, text } = setup();
    feed.start();
    conn.last().resolve({ thread: thread("v1"), cwd: "/p", model: null });
    await new Promise((r) => setTimeout(r, 0));
    conn.truncated!();
    expect(conn.last().method).toBe("thread/resume");
    conn.listener!(delta(9, " + live"));
    conn.last().resolve({ thread: thread("v2"), cwd: "/p", model: null });
    await new Promise((r) => setTimeout(r, 0));
    expect(text()).toBe("v2 + live");
  });

  it("waits for the link before loading, and unfollows when stopped", () => {
    const { conn, feed, states } = setup();
    conn.open = false;
    feed.start();
    expect(states).toEqual(["connecting"]);
    expect(conn.calls).toHaveLength(0);
    conn.open = true;
    conn.openListeners.forEach((l) => l());
    expect(conn.last().method).toBe("thread/resume");
    feed.stop();
    expect(conn.log.at(-1)).toBe("unfollow");
  });
});

describe("joining a running turn", () => {
  it("keeps streaming into the snapshot's open message", () => {
    const t = transcriptOf(thread("Hello"));
    applyLive(t, delta(1, ", world"));
    expect(t.entries[0]).toMatchObject({ kind: "agent", text: "Hello, world", done: false });
  });

  it("leaves a finished turn's items closed", () => {
    const done = thread("Final");
    (done.turns[0] as { status: string }).status = "completed";
    const t = transcriptOf(done);
    applyLive(t, delta(1, " again"));
    expect(t.entries[0]).toMatchObject({ text: "Final", done: true });
  });

  it("starts an entry for output whose item started before the view followed", () => {
    const t = emptyTranscript("t1");
    applyLive(t, { method: "item/commandExecution/outputDelta", params: { threadId: "t1", turnId: "u1", itemId: "c9", delta: "building…\n" } });
    applyLive(t, delta(2, "partial"));
    expect(t.entries.map((e) => e.kind)).toEqual(["command", "agent"]);
    expect(t.entries[0]).toMatchObject({ output: "building…\n", done: false });
    expect(t.entries[1]).toMatchObject({ id: "m1", text: "partial" });
    // Other threads' frames start nothing.
    applyLive(t, { method: "item/agentMessage/delta", params: { threadId: "other", itemId: "z", delta: "x" } });
    expect(t.entries).toHaveLength(2);
  });
});

import { describe, expect, it } from "vitest";

import { SeqTracker } from "../src/lib/conn/threads";
import { backoffDelay } from "../src/lib/conn/backoff";

describe("SeqTracker", () => {
  it("applies each numbered frame once, in order, across a replay that overlaps", () => {
    const t = new SeqTracker();
    t.follow("t1");
    expect(t.subscribed("t1", 3, false)).toBe(false);
    expect([4, 5].map((s) => t.accept("t1", s))).toEqual([true, true]);
    // Reconnect: the client asks to replay after 5; a replay overlapping what it saw is dropped.
    expect(t.subscriptions()).toEqual([{ threadId: "t1", lastSeq: 5 }]);
    expect([5, 6, 7].map((s) => t.accept("t1", s))).toEqual([false, true, true]);
    expect(t.subscribed("t1", 7, false)).toBe(false);
    expect(t.accept("t1", 8)).toBe(true);
  });

  it("asks for a reload when Orbit could not replay, and when frames went missing", () => {
    const t = new SeqTracker();
    t.follow("t1");
    t.subscribed("t1", 10, false);
    expect(t.subscribed("t1", 40, true)).toBe(true);
    expect(t.subscriptions()).toEqual([{ threadId: "t1", lastSeq: 40 }]);
    // A complete replay would have delivered 41..45 before `subscribed {seq: 45}`.
    expect(t.subscribed("t1", 45, false)).toBe(true);
  });

  it("ignores frames of threads it does not follow, and forgets on request", () => {
    const t = new SeqTracker();
    expect(t.accept("x", 1)).toBe(false);
    t.follow("x");
    t.forget("x");
    expect(t.accept("x", 1)).toBe(false);
    expect(t.subscriptions()).toEqual([]);
  });
});

describe("backoffDelay", () => {
  it("grows exponentially up to the cap, scaled by the jitter", () => {
    expect(backoffDelay(0, 0.999)).toBe(499);
    expect(backoffDelay(3, 0.5)).toBe(2000);
    expect(backoffDelay(30, 0.999)).toBe(29970);
    expect(backoffDelay(5, 0)).toBe(0);
  });
});

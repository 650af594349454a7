import { describe, expect, it } from "vitest";

import { FrameBatcher, type FrameClock } from "../src/lib/thread/batcher";

/** A clock the test advances by hand: microtasks and animation frames. */
function manualClock() {
  let micro: (() => void)[] = [];
  let frames: (() => void)[] = [];
  const clock: FrameClock = {
    soon: (run) => void micro.push(run),
    nextFrame: (run) => {
      frames.push(run);
      return () => {
        frames = frames.filter((f) => f !== run);
      };
    },
  };
  return {
    clock,
    microtasks() {
      const run = micro;
      micro = [];
      run.forEach((f) => f());
    },
    frame() {
      const run = frames;
      frames = [];
      run.forEach((f) => f());
    },
    get framesPending() {
      return frames.length;
    },
  };
}

describe("per-frame batching of thread frames", () => {
  it("applies a lone frame at once, without waiting for a frame", () => {
    const t = manualClock();
    const flushed: number[][] = [];
    const b = new FrameBatcher<number>((items) => flushed.push(items), t.clock);
    b.push(1);
    t.microtasks();
    expect(flushed).toEqual([[1]]);
  });

  it("batches a burst into at most one flush per animation frame", () => {
    const t = manualClock();
    const flushed: number[][] = [];
    const b = new FrameBatcher<number>((items) => flushed.push(items), t.clock);
    b.push(1);
    t.microtasks();
    for (let i = 2; i <= 50; i++) b.push(i);
    // The frame in which the leading flush happened only waits.
    t.frame();
    expect(flushed).toEqual([[1]]);
    for (let i = 51; i <= 60; i++) b.push(i);
    t.frame();
    expect(flushed).toHaveLength(2);
    expect(flushed[1]).toEqual(Array.from({ length: 59 }, (_, i) => i + 2));
    b.push(61);
    t.frame();
    expect(flushed[2]).toEqual([61]);
    // Quiet again: the next frame finds nothing and the batcher goes idle.
    t.frame();
    expect(t.framesPending).toBe(0);
    b.push(62);
    t.microtasks();
    expect(flushed[3]).toEqual([62]);
  });

  it("keeps order across flushes and loses nothing", () => {
    const t = manualClock();
    const seen: number[] = [];
    const b = new FrameBatcher<number>((items) => seen.push(...items), t.clock);
    let n = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < round % 4; i++) b.push(n++);
      if (round % 3 === 0) t.microtasks();
      t.frame();
    }
    t.microtasks();
    t.frame();
    t.frame();
    expect(seen).toEqual(Array.from({ length: n }, (_, i) => i));
  });

  it("drops what is queued on clear (a fresh snapshot covers it) and stops cleanly", () => {
    const t = manualClock();
    const flushed: number[][] = [];
    const b = new FrameBatcher<number>((items) => flushed.push(items), t.clock);
    b.push(1);
    t.microtasks();
    b.push(2);
    b.clear();
    t.frame();
    t.frame();
    expect(flushed).toEqual([[1]]);
    b.push(3);
    b.stop();
    t.microtasks();
    t.frame();
    expect(flushed).toEqual([[1]]);
  });
});

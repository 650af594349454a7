import { describe, expect, it } from "vitest";

import { FrameBatcher, IMMEDIATE_PER_FRAME, type FrameClock } from "../src/lib/thread/batcher";

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

  it("applies a steady stream as it comes, and a burst past the budget once per animation frame", () => {
    const t = manualClock();
    const flushed: number[][] = [];
    const b = new FrameBatcher<number>((items) => flushed.push(items), t.clock);
    // Frames delivered one task after another: each applied right after its task, up to the budget.
    for (let i = 1; i <= IMMEDIATE_PER_FRAME; i++) {
      b.push(i);
      t.microtasks();
    }
    expect(flushed).toEqual(Array.from({ length: IMMEDIATE_PER_FRAME }, (_, i) => [i + 1]));
    // Past it (a replay): queued until the animation frame, then applied together.
    for (let i = 1; i <= 50; i++) {
      b.push(100 + i);
      t.microtasks();
    }
    expect(flushed).toHaveLength(IMMEDIATE_PER_FRAME);
    t.frame();
    expect(flushed).toHaveLength(IMMEDIATE_PER_FRAME + 1);
    expect(flushed.at(-1)).toEqual(Array.from({ length: 50 }, (_, i) => 101 + i));
    // The new frame has its own budget, less the flush it just made.
    for (let i = 1; i < IMMEDIATE_PER_FRAME; i++) {
      b.push(200 + i);
      t.microtasks();
    }
    expect(flushed).toHaveLength(2 * IMMEDIATE_PER_FRAME);
    b.push(300);
    t.microtasks();
    expect(flushed).toHaveLength(2 * IMMEDIATE_PER_FRAME);
    t.frame();
    expect(flushed.at(-1)).toEqual([300]);
    // Quiet: the next frame finds nothing, and the batcher stops asking for frames.
    t.frame();
    expect(t.framesPending).toBe(0);
    b.push(400);
    t.microtasks();
    expect(flushed.at(-1)).toEqual([400]);
  });

  it("applies the frames of one task in one flush", () => {
    const t = manualClock();
    const flushed: number[][] = [];
    const b = new FrameBatcher<number>((items) => flushed.push(items), t.clock);
    for (let i = 1; i <= 30; i++) b.push(i);
    t.microtasks();
    expect(flushed).toEqual([Array.from({ length: 30 }, (_, i) => i + 1)]);
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

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { Cooldown } from "../src/components/auth/cooldown.svelte";
import { clock, waitWords } from "../src/components/auth/wait";

describe("rate-limit countdown", () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => vi.useRealTimers());

  it("counts down from Retry-After to zero, then lets go", () => {
    const c = new Cooldown();
    expect(c.active).toBe(false);
    c.start(3);
    expect(c.left).toBe(3);
    expect(c.active).toBe(true);
    vi.advanceTimersByTime(1_000);
    expect(c.left).toBe(2);
    vi.advanceTimersByTime(1_500);
    expect(c.left).toBe(1);
    vi.advanceTimersByTime(500);
    expect(c.left).toBe(0);
    expect(c.active).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("keeps the later deadline when hit again, and stops on demand", () => {
    const c = new Cooldown();
    c.start(10);
    vi.advanceTimersByTime(2_000);
    c.start(3);
    expect(c.left).toBe(8);
    c.start(20);
    expect(c.left).toBe(20);
    c.stop();
    expect(c.active).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("shows the right time after the tab slept through the ticks", () => {
    const c = new Cooldown();
    c.start(60);
    vi.setSystemTime(1_000_000 + 45_000); // timers did not run meanwhile
    vi.advanceTimersByTime(250);
    expect(c.left).toBe(15);
  });

  it("ignores a zero or negative wait", () => {
    const c = new Cooldown();
    c.start(0);
    expect(c.active).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("says the wait as a clock and in words", () => {
    expect(clock(0)).toBe("0:00");
    expect(clock(42)).toBe("0:42");
    expect(clock(125)).toBe("2:05");
    expect(clock(41.2)).toBe("0:42");
    expect(waitWords(1)).toBe("1 second");
    expect(waitWords(42)).toBe("42 seconds");
    expect(waitWords(60)).toBe("1 minute");
    expect(waitWords(120)).toBe("2 minutes");
    expect(waitWords(725)).toBe("about 12 minutes");
    expect(waitWords(0)).toBe("1 second");
  });
});

import { describe, expect, it } from "vitest";

import { isoTime, relativeTime } from "../src/components/home/time";

const MIN = 60_000;
const HOUR = 60 * MIN;

describe("relative times", () => {
  // Local time, so the calendar-day rules hold in any time zone the tests run in.
  const now = new Date(2026, 5, 15, 15, 0, 0).getTime();

  it("counts minutes and hours", () => {
    expect(relativeTime(now, now)).toBe("just now");
    expect(relativeTime(now - 30_000, now)).toBe("just now");
    expect(relativeTime(now - 60_000, now)).toBe("1 min ago");
    expect(relativeTime(now - 5 * MIN, now)).toBe("5 min ago");
    expect(relativeTime(now - 59 * MIN, now)).toBe("59 min ago");
    expect(relativeTime(now - HOUR, now)).toBe("1 h ago");
    expect(relativeTime(now - 14 * HOUR, now)).toBe("14 h ago");
  });

  it("treats a little of the future (clock skew) as now", () => {
    expect(relativeTime(now + 5 * MIN, now)).toBe("just now");
  });

  it("names days by the calendar, then dates", () => {
    expect(relativeTime(new Date(2026, 5, 14, 9, 0).getTime(), now)).toBe("yesterday");
    expect(relativeTime(new Date(2026, 5, 12, 23, 0).getTime(), now)).toBe("3 days ago");
    expect(relativeTime(new Date(2026, 2, 3, 12, 0).getTime(), now)).toBe("3 Mar");
    expect(relativeTime(new Date(2024, 11, 25, 12, 0).getTime(), now)).toBe("25 Dec 2024");
  });

  it("gives the exact instant for <time datetime>", () => {
    expect(isoTime(Date.UTC(2026, 0, 2, 3, 4, 5))).toBe("2026-01-02T03:04:05.000Z");
  });
});

import { describe, expect, it } from "vitest";

import { cancel, enqueue, markFailed, markSending, markSent, nextToSend, retry, type Outgoing } from "../src/lib/thread/outbox";

describe("the follow-up queue", () => {
  it("sends at once when idle, and holds follow-ups while a turn runs", () => {
    const list: Outgoing[] = [];
    const first = enqueue(list, "first", []);
    expect(nextToSend(list, false)).toBe(first);
    markSending(list, first.id);
    // Typed while sending / while the turn runs: queued.
    enqueue(list, "second", []);
    expect(nextToSend(list, false)).toBeNull();
    markSent(list, first.id);
    expect(nextToSend(list, true)).toBeNull();
    // The turn completed.
    expect(nextToSend(list, false)?.text).toBe("second");
  });

  it("keeps a failed message with its reason until Retry, holding back the ones behind it", () => {
    const list: Outgoing[] = [];
    const a = enqueue(list, "a", []);
    enqueue(list, "b", []);
    markSending(list, a.id);
    markFailed(list, a.id, "Orbit cannot be reached");
    expect(list[0]).toMatchObject({ state: "failed", error: "Orbit cannot be reached" });
    expect(nextToSend(list, false)).toBeNull();
    retry(list, a.id);
    expect(nextToSend(list, false)).toMatchObject({ text: "a", state: "queued", error: null });
  });

  it("can cancel queued or failed messages, not one being sent", () => {
    const list: Outgoing[] = [];
    const a = enqueue(list, "a", []);
    const b = enqueue(list, "b", []);
    markSending(list, a.id);
    expect(cancel(list, a.id)).toBeNull();
    expect(cancel(list, b.id)?.text).toBe("b");
    expect(list.map((m) => m.text)).toEqual(["a"]);
  });
});

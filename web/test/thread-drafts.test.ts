import { describe, expect, it } from "vitest";

import { DRAFT_MAX_AGE_MS, Drafts } from "../src/lib/thread/drafts";

class MemoryStorage implements Storage {
  private map = new Map<string, string>();
  get length() {
    return this.map.size;
  }
  clear() {
    this.map.clear();
  }
  getItem(key: string) {
    return this.map.get(key) ?? null;
  }
  key(i: number) {
    return [...this.map.keys()][i] ?? null;
  }
  removeItem(key: string) {
    this.map.delete(key);
  }
  setItem(key: string, value: string) {
    this.map.set(key, value);
  }
}

describe("drafts", () => {
  it("keeps each thread's draft apart and survives a new page (a new Drafts on the same storage)", () => {
    const storage = new MemoryStorage();
    new Drafts(storage).set("t1", "hello\nworld");
    new Drafts(storage).set("t2", "other");
    const reloaded = new Drafts(storage);
    expect(reloaded.get("t1")).toBe("hello\nworld");
    expect(reloaded.get("t2")).toBe("other");
    expect(reloaded.get("t3")).toBe("");
  });

  it("is cleared when sent, and an empty draft is not stored", () => {
    const storage = new MemoryStorage();
    const d = new Drafts(storage);
    d.set("t1", "text");
    d.clear("t1");
    expect(d.get("t1")).toBe("");
    d.set("t1", "   ");
    expect(storage.length).toBe(0);
  });

  it("forgets old drafts and ignores broken entries", () => {
    const storage = new MemoryStorage();
    let now = 1_000;
    const d = new Drafts(storage, () => now);
    d.set("old", "x");
    now += DRAFT_MAX_AGE_MS + 1;
    d.set("new", "y");
    storage.setItem("orbit.draft.broken", "{not json");
    storage.setItem("unrelated", "keep");
    d.prune();
    expect(d.get("old")).toBe("");
    expect(d.get("new")).toBe("y");
    expect(storage.getItem("orbit.draft.broken")).toBeNull();
    expect(storage.getItem("unrelated")).toBe("keep");
  });

  it("carries on without storage (private mode, quota)", () => {
    const failing = new MemoryStorage();
    failing.setItem = () => {
      throw new DOMException("full", "QuotaExceededError");
    };
    const d = new Drafts(failing);
    expect(() => d.set("t", "x")).not.toThrow();
    const none = new Drafts(null);
    none.set("t", "x");
    expect(none.get("t")).toBe("");
  });
});

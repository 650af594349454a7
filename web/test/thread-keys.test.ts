import { describe, expect, it } from "vitest";

import { isTypingTarget, sendsOnEnter, type EnterEvent } from "../src/lib/thread/keys";
import { placePrompts, settledText, visiblePrompts, SETTLED_NOTICE_MS } from "../src/lib/thread/prompts";
import type { Prompt } from "../src/lib/state/approvals";

const key = (k: Partial<EnterEvent>): EnterEvent => ({
  key: "Enter",
  shiftKey: false,
  altKey: false,
  ctrlKey: false,
  metaKey: false,
  isComposing: false,
  ...k,
});

describe("Enter in the composer", () => {
  it("sends from a hardware keyboard; Shift+Enter is a new line", () => {
    expect(sendsOnEnter(key({}), false)).toBe(true);
    expect(sendsOnEnter(key({ shiftKey: true }), false)).toBe(false);
  });

  it("is a new line on a touch keyboard (the Send button sends), Ctrl/Cmd+Enter sends anywhere", () => {
    expect(sendsOnEnter(key({}), true)).toBe(false);
    expect(sendsOnEnter(key({ metaKey: true }), true)).toBe(true);
  });

  it("never sends while an input method is composing", () => {
    expect(sendsOnEnter(key({ isComposing: true }), false)).toBe(false);
    expect(sendsOnEnter(key({ keyCode: 229 }), false)).toBe(false);
    expect(sendsOnEnter(key({ key: "a" }), false)).toBe(false);
  });

  it("tells typing places from others (approval shortcuts stay out of them)", () => {
    expect(isTypingTarget(document.createElement("textarea"))).toBe(true);
    const text = document.createElement("input");
    expect(isTypingTarget(text)).toBe(true);
    const radio = document.createElement("input");
    radio.type = "radio";
    expect(isTypingTarget(radio)).toBe(false);
    expect(isTypingTarget(document.createElement("button"))).toBe(false);
  });
});

describe("prompts in the thread view", () => {
  const prompt = (id: string, itemId: string | null, settled: Prompt["settled"] = null, settledAt: number | null = null): Prompt => ({
    id,
    method: "item/commandExecution/requestApproval",
    params: itemId ? { threadId: "t", itemId } : { threadId: "t" },
    threadId: "t",
    origin: null,
    answering: undefined,
    settled,
    settledAt,
    settledBy: null,
  });

  it("sits at the item it concerns, or after the transcript when that item is not there", () => {
    const placed = placePrompts([prompt("a", "call_3"), prompt("b", "missing"), prompt("c", null)], (id) => id === "call_3");
    expect(placed.byItem.get("call_3")?.map((p) => p.id)).toEqual(["a"]);
    expect(placed.loose.map((p) => p.id)).toEqual(["b", "c"]);
  });

  it("shows open prompts and, for a few seconds, settled ones with how they were settled", () => {
    const now = 100_000;
    const all = [
      prompt("open", "x"),
      prompt("recent", "x", "answered-elsewhere", now - 1000),
      prompt("old", "x", "answered-here", now - SETTLED_NOTICE_MS - 1),
      { ...prompt("other", "x"), threadId: "other" },
    ];
    expect(visiblePrompts(all, "t", now).map((p) => p.id)).toEqual(["open", "recent"]);
    expect(settledText("answered-elsewhere")).toBe("Answered on another device");
    expect(settledText("answered-elsewhere", "Firefox on Android")).toBe("Answered on another device (Firefox on Android)");
    expect(settledText("answered-here")).toBe("Answered here");
    expect(settledText("withdrawn")).toBe("Withdrawn");
  });
});

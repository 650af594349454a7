import { describe, expect, it } from "vitest";

import { promptThread, Prompts } from "../src/lib/state/approvals";
import { applyPresence } from "../src/lib/state/anchors";
import { promptAsker, settledText } from "../src/lib/thread/prompts";

const approval = (n: number, turnId = "u1") => ({
  id: `orbit-srv:${n}`,
  method: "item/commandExecution/requestApproval",
  params: { threadId: "t1", turnId, itemId: `c${n}`, command: "touch x" },
});

describe("prompts", () => {
  it("name the machine that asks, as Orbit stamped it, never a name the prompt gives itself", () => {
    const p = new Prompts();
    const asked = p.add({
      id: "orbit-srv:7",
      method: "item/tool/requestUserInput",
      params: { threadId: "t1", questions: [{ id: "q", question: "Your password?" }], origin: "laptop" },
      origin: { anchorId: "a-rogue", name: "Build box" },
    });
    expect(asked?.origin).toEqual({ anchorId: "a-rogue", name: "Build box" });
    expect(asked && promptAsker(asked)).toBe("Asked by Build box");
    // A prompt without Orbit's stamp (logged before Orbit stamped them) names nobody.
    const old = p.add(approval(8));
    expect(old?.origin).toBeNull();
    expect(old && promptAsker(old)).toBeNull();
    for (const bad of ["Laptop", { name: "Laptop" }, { anchorId: 3, name: "x" }, null]) {
      expect(p.add({ ...approval(9), id: `orbit-srv:bad-${JSON.stringify(bad)}`, origin: bad })?.origin).toBeNull();
    }
  });

  it("places codex's older approvals, which name the thread conversationId, in their thread", () => {
    const p = new Prompts();
    p.add({
      id: "orbit-srv:20",
      method: "applyPatchApproval",
      params: { conversationId: "t2", callId: "c1", fileChanges: {}, reason: null, grantRoot: null },
    });
    p.add({
      id: "orbit-srv:21",
      method: "execCommandApproval",
      params: { conversationId: "t2", callId: "c2", command: ["ls"], cwd: "/", reason: null, parsedCmd: [] },
    });
    expect(p.open("t2").map((x) => x.id)).toEqual(["orbit-srv:20", "orbit-srv:21"]);
    // threadId wins where both are given.
    expect(promptThread({ threadId: "t1", conversationId: "t2" })).toBe("t1");
    expect(promptThread({ conversationId: "" })).toBeNull();
    expect(promptThread({})).toBeNull();
  });

  it("shows a prompt once however often it is delivered", () => {
    const p = new Prompts();
    expect(p.add(approval(0))).not.toBeNull();
    p.add(approval(0));
    expect(p.open("t1")).toHaveLength(1);
    expect(p.add({ id: "orbit-srv:9", method: "item/tool/call", params: {} })).toBeNull();
  });

  it("sends one answer, and the settlement says this device answered", () => {
    const p = new Prompts();
    p.add(approval(0));
    expect(p.answer("orbit-srv:0", { decision: "accept" })).toBe(true);
    expect(p.answer("orbit-srv:0", { decision: "decline" })).toBe(false);
    expect(p.resolved("orbit-srv:0", 5)).toMatchObject({ settled: "answered-here", settledAt: 5 });
    expect(p.open()).toHaveLength(0);
  });

  it("a prompt answered on another device goes away saying so", () => {
    const p = new Prompts();
    p.add(approval(1));
    expect(p.resolved("orbit-srv:1", 7)).toMatchObject({ settled: "answered-elsewhere" });
    // The same race seen from the losing device: Orbit refuses its late answer.
    p.add(approval(2));
    p.answer("orbit-srv:2", { decision: "accept" });
    expect(p.refused("orbit-srv:2", "already_resolved", 9)).toMatchObject({ settled: "answered-elsewhere" });
  });

  it("a refusal for another reason leaves the prompt open to answer again", () => {
    const p = new Prompts();
    p.add(approval(3));
    p.answer("orbit-srv:3", { decision: "accept" });
    expect(p.refused("orbit-srv:3", "anchor_offline", 1)).toMatchObject({ settled: null, answering: undefined });
    expect(p.answer("orbit-srv:3", { decision: "accept" })).toBe(true);
  });

  it("a finished turn withdraws its prompts, and settled ones are forgotten later", () => {
    const p = new Prompts();
    p.add(approval(4, "u1"));
    p.add(approval(5, "u2"));
    p.withdrawTurn("t1", "u1", 10);
    expect(p.open().map((x) => x.id)).toEqual(["orbit-srv:5"]);
    p.prune(10 + 60_000, 30_000);
    expect(p.get("orbit-srv:4")).toBeUndefined();
  });
});

describe("anchor presence", () => {
  const a = (id: string, online: boolean, name = id) => ({
    anchorId: id, name, hostname: null, platform: null, version: null, codexVersion: null,
    online, connectedAt: null, lastSeenAt: null,
  });

  it("keeps the list current through connects and disconnects, online first", () => {
    let list = applyPresence([], { type: "orbit.anchors", anchors: [a("b", false), a("a", true)] })!;
    expect(list.map((x) => x.anchorId)).toEqual(["a", "b"]);
    list = applyPresence(list, { type: "orbit.anchor-connected", anchor: a("b", true) })!;
    expect(list.map((x) => [x.anchorId, x.online])).toEqual([["a", true], ["b", true]]);
    list = applyPresence(list, { type: "orbit.anchor-disconnected", anchorId: "a" })!;
    expect(list.find((x) => x.anchorId === "a")?.online).toBe(false);
    expect(applyPresence(list, { type: "pong" })).toBeNull();
  });
});

describe("who answered", () => {
  it("names the device that answered first, and recognises this tab's own answer", () => {
    const p = new Prompts();
    p.add(approval(7));
    p.answer("orbit-srv:7", { decision: "accept" });
    // Another device was quicker: its answer reached the anchor, ours will be refused.
    expect(p.answered("orbit-srv:7", { connectionId: "c2", device: "Firefox on Android", at: 42 }, "c1")).toMatchObject({
      settled: "answered-elsewhere",
      settledBy: "Firefox on Android",
      settledAt: 42,
    });
    // codex's own notice that follows keeps who answered.
    expect(p.resolved("orbit-srv:7", 50)).toBeNull();
    expect(p.get("orbit-srv:7")).toMatchObject({ settledBy: "Firefox on Android" });
    p.add(approval(8));
    expect(p.answered("orbit-srv:8", { connectionId: "c1", device: "Chrome on Linux", at: 1 }, "c1")).toMatchObject({
      settled: "answered-here",
      settledBy: "this device",
    });
  });
});

describe("prompts withdrawn by Orbit (issue 12)", () => {
  it("a prompt of a codex that stopped goes away saying so", () => {
    const p = new Prompts();
    p.add(approval(0));
    p.add(approval(1));
    expect(p.answer("orbit-srv:1", { decision: "accept" })).toBe(true);
    // Orbit withdraws both: codex exited before either answer reached it.
    expect(p.resolved("orbit-srv:0", 7, "codex_exited")).toMatchObject({
      settled: "withdrawn",
      settledAt: 7,
      settledBy: "codex stopped before it was answered",
    });
    expect(p.resolved("orbit-srv:1", 7, "codex_exited")).toMatchObject({ settled: "withdrawn", answering: undefined });
    expect(p.open()).toHaveLength(0);
    expect(settledText("withdrawn", p.get("orbit-srv:0")?.settledBy ?? null)).toBe(
      "Withdrawn: codex stopped before it was answered",
    );
    // Replayed later, it is not shown again.
    p.add(approval(0));
    expect(p.open()).toHaveLength(0);
  });

  it("an expired prompt and a late answer refused with codex_exited are withdrawn", () => {
    const p = new Prompts();
    p.add(approval(0));
    p.add(approval(1));
    expect(p.resolved("orbit-srv:0", 3, "expired")).toMatchObject({ settled: "withdrawn" });
    p.answer("orbit-srv:1", { decision: "accept" });
    expect(p.refused("orbit-srv:1", "codex_exited", 4)).toMatchObject({
      settled: "withdrawn",
      settledBy: "codex stopped before it was answered",
    });
    expect(p.open()).toHaveLength(0);
  });

  it("a prompt of an anchor process that was restarted is withdrawn, not shown as answered elsewhere", () => {
    const p = new Prompts();
    p.add(approval(0));
    expect(p.resolved("orbit-srv:0", 5, "anchor_restarted")).toMatchObject({
      settled: "withdrawn",
      settledBy: "the anchor restarted before it was answered",
    });
    expect(p.open()).toHaveLength(0);
  });
});

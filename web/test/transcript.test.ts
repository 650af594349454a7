import { describe, expect, it } from "vitest";

import { apply, emptyTranscript, fromThread, type Notification } from "../src/lib/state/transcript";
import turn from "./fixtures/turn-with-file-change.json";

const notes = turn as Notification[];
const threadId = (notes.find((n) => n.method === "turn/started")!.params as { threadId: string }).threadId;

describe("transcript reducer", () => {
  it("folds a real turn (message, file change, message) into its entries", () => {
    const t = emptyTranscript(threadId);
    for (const n of notes) apply(t, n);
    expect(t.entries.map((e) => e.kind)).toEqual(["user", "agent", "fileChange", "agent"]);
    const [user, first, change, last] = t.entries;
    expect(user).toMatchObject({ kind: "user", text: "Please create a file called spike_created.txt" });
    expect(first).toMatchObject({ kind: "agent", text: "Hello from the mock. I will run a command.", done: true });
    expect(change).toMatchObject({
      kind: "fileChange",
      status: "completed",
      changes: [{ path: "/home/ada/project/patched.txt", change: "add", diff: "hello from apply_patch\n" }],
    });
    expect(last).toMatchObject({ kind: "agent", text: "Done. Tool output was received." });
    expect(t.turn).toMatchObject({ status: "completed" });
    expect(t.tokenUsage?.total.totalTokens).toBe(30);
    expect(t.diff).toContain("diff --git a/patched.txt b/patched.txt");
  });

  it("streams deltas into the open message, and the completed item is the final word", () => {
    const t = emptyTranscript(threadId);
    const started = notes.findIndex((n) => n.method === "item/agentMessage/delta");
    for (const n of notes.slice(0, started + 2)) apply(t, n);
    const agent = t.entries.at(-1)!;
    expect(agent).toMatchObject({ kind: "agent", text: "Hello from the mock. ", done: false });
    // A delta delivered twice (a replay overlapping what was seen) would be caught by seq
    // upstream; here the completed item replaces the text whatever the deltas did.
    apply(t, notes[started]!);
    expect(agent.kind === "agent" && agent.text).toBe("Hello from the mock. Hello ");
    for (const n of notes.slice(started + 2)) apply(t, n);
    expect(t.entries[1]).toMatchObject({ text: "Hello from the mock. I will run a command.", done: true });
  });

  it("applies nothing twice when live notifications overlap the snapshot", () => {
    const live = emptyTranscript(threadId);
    for (const n of notes) apply(live, n);
    // The same thread as thread/read answers it afterwards: the turn with every item.
    const turnDone = (notes.find((n) => n.method === "turn/completed")!.params as { turn: Record<string, unknown> }).turn;
    const items = notes.filter((n) => n.method === "item/completed").map((n) => (n.params as { item: unknown }).item);
    const thread = { id: threadId, status: { type: "idle" }, turns: [{ ...turnDone, items }] };
    const snapshot = fromThread(thread as never);
    expect(snapshot.entries).toHaveLength(live.entries.length);
    for (const n of notes) apply(snapshot, n);
    expect(snapshot.entries).toHaveLength(live.entries.length);
    const texts = (x: typeof live) => x.entries.map((e) => (e.kind === "agent" ? e.text : e.kind));
    expect(texts(snapshot)).toEqual(texts(live));
  });

  it("keeps other threads' notifications out, and shows errors that end a turn", () => {
    const t = emptyTranscript("mine");
    expect(apply(t, { method: "item/agentMessage/delta", params: { threadId: "other", itemId: "x", delta: "no" } })).toBe(false);
    apply(t, { method: "error", params: { threadId: "mine", turnId: "u", willRetry: true, error: { message: "retrying" } } });
    expect(t.entries).toHaveLength(0);
    apply(t, { method: "error", params: { threadId: "mine", turnId: "u", willRetry: false, error: { message: "model said 500" } } });
    expect(t.entries).toEqual([expect.objectContaining({ kind: "error", message: "model said 500" })]);
  });

  it("streams command output and reasoning parts", () => {
    const t = emptyTranscript("t");
    apply(t, { method: "item/started", params: { threadId: "t", turnId: "u", item: { type: "commandExecution", id: "c", command: "ls", cwd: "/w", status: "inProgress", aggregatedOutput: null, exitCode: null, commandActions: [], processId: null, source: "agent", pluginId: null, scriptPath: null, durationMs: null } } });
    apply(t, { method: "item/commandExecution/outputDelta", params: { threadId: "t", itemId: "c", delta: "a\n" } });
    apply(t, { method: "item/commandExecution/outputDelta", params: { threadId: "t", itemId: "c", delta: "b\n" } });
    expect(t.entries[0]).toMatchObject({ kind: "command", output: "a\nb\n", done: false });
    apply(t, { method: "item/started", params: { threadId: "t", turnId: "u", item: { type: "reasoning", id: "r", summary: [], content: [] } } });
    apply(t, { method: "item/reasoning/summaryTextDelta", params: { threadId: "t", itemId: "r", summaryIndex: 1, delta: "second" } });
    expect(t.entries[1]).toMatchObject({ kind: "reasoning", summary: ["", "second"] });
  });
});

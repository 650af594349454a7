// A thread's transcript as the thread view shows it: codex's items, folded from the snapshot of
// `thread/read` / `thread/resume` and the live notifications that follow. No I/O: unit-tested.
//
// The reducer mutates the transcript in place (the Svelte view holds it in `$state`, whose
// proxies turn each mutation into the smallest update), and is idempotent per item: an
// `item/completed` carries the whole item and replaces whatever deltas built up, so a
// notification that overlaps the snapshot does no harm.
import type { Thread } from "../codex/v2/Thread";
import type { ThreadItem } from "../codex/v2/ThreadItem";
import type { ThreadStatus } from "../codex/v2/ThreadStatus";
import type { ThreadTokenUsage } from "../codex/v2/ThreadTokenUsage";
import type { Turn } from "../codex/v2/Turn";
import type { TurnPlanStep } from "../codex/v2/TurnPlanStep";
import type { TurnStatus } from "../codex/v2/TurnStatus";

/** One line of the transcript. */
export type Entry = { id: string; turnId: string | null; done: boolean } & (
  | { kind: "user"; text: string; images: number }
  | { kind: "agent"; text: string }
  | { kind: "reasoning"; summary: string[]; content: string[] }
  | {
      kind: "command";
      command: string;
      cwd: string;
      output: string;
      exitCode: number | null;
      status: string;
    }
  | { kind: "fileChange"; changes: FileChange[]; status: string }
  | { kind: "plan"; text: string }
  | { kind: "error"; message: string }
  | { kind: "tool"; name: string; status: string; detail: string }
  | { kind: "other"; type: string; detail: string }
);

export interface FileChange {
  path: string;
  /** "add", "delete" or "update" (with `movePath` for a move). */
  change: string;
  movePath: string | null;
  /** Unified diff (for an added file: its content). */
  diff: string;
}

export interface TurnState {
  id: string;
  status: TurnStatus;
  error: string | null;
}

export interface Transcript {
  threadId: string;
  entries: Entry[];
  /** The latest turn: while it is in progress the composer offers to interrupt it. */
  turn: TurnState | null;
  status: ThreadStatus | null;
  tokenUsage: ThreadTokenUsage | null;
  plan: { explanation: string | null; steps: TurnPlanStep[] } | null;
  /** The latest turn's aggregated diff. */
  diff: string | null;
}

/** A JSON-RPC notification as it arrives (only the fields read here). */
export interface Notification {
  method?: string;
  params?: Record<string, unknown>;
}

export function emptyTranscript(threadId: string): Transcript {
  return { threadId, entries: [], turn: null, status: null, tokenUsage: null, plan: null, diff: null };
}

/** The transcript of a thread as read (`thread/read {includeTurns}` or `thread/resume`). */
export function fromThread(thread: Thread): Transcript {
  const t = emptyTranscript(thread.id);
  t.status = thread.status ?? null;
  for (const turn of thread.turns ?? []) {
    for (const item of turn.items) upsert(t, entryOf(item, turn.id, true));
    setTurn(t, turn);
  }
  return t;
}

function setTurn(t: Transcript, turn: Turn): void {
  t.turn = { id: turn.id, status: turn.status, error: turn.error?.message ?? null };
}

/** Folds one notification into the transcript. Returns whether anything changed. */
export function apply(t: Transcript, msg: Notification): boolean {
  const p = msg.params ?? {};
  if (typeof p.threadId === "string" && p.threadId !== t.threadId) return false;
  switch (msg.method) {
    case "item/started":
    case "item/completed": {
      const item = p.item as ThreadItem | undefined;
      if (!item) return false;
      const done = msg.method === "item/completed";
      const entry = entryOf(item, str(p.turnId), done);
      const existing = find(t, entry.id);
      if (!done && existing) {
        // A start after deltas (or after the snapshot) adds nothing new.
        return false;
      }
      upsert(t, entry);
      return true;
    }
    case "item/agentMessage/delta":
      return appendTo(t, p, "agent", (e, d) => (e.text += d));
    case "item/plan/delta":
      return appendTo(t, p, "plan", (e, d) => (e.text += d));
    case "item/commandExecution/outputDelta":
      return appendTo(t, p, "command", (e, d) => (e.output += d));
    case "item/reasoning/summaryTextDelta":
      return appendTo(t, p, "reasoning", (e, d) => appendAt(e.summary, num(p.summaryIndex), d));
    case "item/reasoning/textDelta":
      return appendTo(t, p, "reasoning", (e, d) => appendAt(e.content, num(p.contentIndex), d));
    case "item/reasoning/summaryPartAdded": {
      const e = find(t, str(p.itemId));
      if (e?.kind !== "reasoning") return false;
      e.summary.push("");
      return true;
    }
    case "turn/started":
    case "turn/completed": {
      const turn = p.turn as Turn | undefined;
      if (!turn) return false;
      setTurn(t, turn);
      if (msg.method === "turn/started") {
        t.plan = null;
        t.diff = null;
      } else {
        // Whatever was still streaming when the turn ended stays as it is.
        for (const e of t.entries) if (e.turnId === turn.id) e.done = true;
      }
      return true;
    }
    case "turn/plan/updated":
      t.plan = {
        explanation: (p.explanation as string | null) ?? null,
        steps: (p.plan as TurnPlanStep[]) ?? [],
      };
      return true;
    case "turn/diff/updated":
      t.diff = str(p.diff);
      return true;
    case "thread/tokenUsage/updated":
      t.tokenUsage = (p.tokenUsage as ThreadTokenUsage) ?? null;
      return true;
    case "thread/status/changed":
      t.status = (p.status as ThreadStatus) ?? null;
      return true;
    case "error": {
      const error = p.error as { message?: string } | undefined;
      if (p.willRetry === true) return false;
      const id = `error:${str(p.turnId)}:${t.entries.length}`;
      upsert(t, {
        id,
        turnId: str(p.turnId) || null,
        done: true,
        kind: "error",
        message: error?.message ?? "codex reported an error",
      });
      return true;
    }
    default:
      return false;
  }
}

/** An item as a transcript entry. */
export function entryOf(item: ThreadItem, turnId: string | null, done: boolean): Entry {
  const base = { id: item.id, turnId: turnId || null, done };
  switch (item.type) {
    case "userMessage": {
      const text = item.content
        .map((c) => (c.type === "text" ? c.text : ""))
        .filter(Boolean)
        .join("\n");
      const images = item.content.filter((c) => c.type === "image" || c.type === "localImage").length;
      return { ...base, kind: "user", text, images };
    }
    case "agentMessage":
      return { ...base, kind: "agent", text: item.text };
    case "reasoning":
      return { ...base, kind: "reasoning", summary: [...item.summary], content: [...item.content] };
    case "commandExecution":
      return {
        ...base,
        done: done || item.status !== "inProgress",
        kind: "command",
        command: item.command,
        cwd: String(item.cwd),
        output: item.aggregatedOutput ?? "",
        exitCode: item.exitCode ?? null,
        status: item.status,
      };
    case "fileChange":
      return {
        ...base,
        done: done || item.status !== "inProgress",
        kind: "fileChange",
        status: item.status,
        changes: item.changes.map((c) => ({
          path: c.path,
          change: c.kind.type,
          movePath: c.kind.type === "update" ? c.kind.move_path : null,
          diff: c.diff,
        })),
      };
    case "plan":
      return { ...base, kind: "plan", text: item.text };
    case "mcpToolCall":
      return { ...base, kind: "tool", name: `${item.server}.${item.tool}`, status: item.status, detail: "" };
    case "dynamicToolCall":
      return { ...base, kind: "tool", name: item.tool, status: item.status, detail: "" };
    case "webSearch":
      return { ...base, kind: "tool", name: "web search", status: done ? "completed" : "inProgress", detail: item.query };
    default:
      return { ...base, kind: "other", type: item.type, detail: "" };
  }
}

function find(t: Transcript, id: string): Entry | undefined {
  // Streams append to the newest entries: look from the end.
  for (let i = t.entries.length - 1; i >= 0; i--) {
    const e = t.entries[i];
    if (e && e.id === id) return e;
  }
  return undefined;
}

function upsert(t: Transcript, entry: Entry): void {
  for (let i = t.entries.length - 1; i >= 0; i--) {
    if (t.entries[i]?.id === entry.id) {
      t.entries[i] = entry;
      return;
    }
  }
  t.entries.push(entry);
}

type Of<K extends Entry["kind"]> = Extract<Entry, { kind: K }>;

function appendTo<K extends Entry["kind"]>(
  t: Transcript,
  p: Record<string, unknown>,
  kind: K,
  add: (e: Of<K>, delta: string) => void,
): boolean {
  const delta = str(p.delta);
  if (!delta) return false;
  const e = find(t, str(p.itemId));
  // A delta for an item already complete (the snapshot holds all of it) is not applied again.
  if (!e || e.kind !== kind || e.done) return false;
  add(e as Of<K>, delta);
  return true;
}

function appendAt(parts: string[], index: number, delta: string): void {
  while (parts.length <= index) parts.push("");
  parts[index] += delta;
}

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

function num(v: unknown): number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v < 1000 ? v : 0;
}

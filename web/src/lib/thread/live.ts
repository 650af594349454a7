// An adapter around the transcript reducer (lib/state/transcript.ts) for joining a thread while
// a turn runs. The reducer marks every item of a snapshot done (so a delta the snapshot already
// holds is not applied twice) and drops deltas for items it has not seen start. Both lose live
// output when the view opens, or reloads, in the middle of a turn: the message being written or
// the command running would stand still until its `item/completed`. Here:
//
// * the items of the snapshot's running turn that can still grow (the last message or
//   reasoning, a command still in progress) are reopened;
// * a delta for an item not seen yet (its `item/started` came before we followed) starts an
//   entry for it, which its `item/completed` then replaces whole.
//
// The cost is rare and transient: a delta both in the snapshot and buffered after it shows twice
// until the item completes. (The lasting fix belongs in the reducer, which would need to know
// how much of each item the snapshot held; codex does not say.)
import type { Thread } from "../codex/v2/Thread";
import type { Turn } from "../codex/v2/Turn";
import { apply, entryOf, type Entry, fromThread, type Notification, type Transcript } from "../state/transcript";

const GROWING = new Set(["agent", "reasoning", "plan"]);

/** `fromThread`, with the running turn's growing items left open. */
export function transcriptOf(thread: Thread): Transcript {
  const t = fromThread(thread);
  const turn = t.turn;
  if (turn?.status !== "inProgress") return t;
  const ofTurn = t.entries.filter((e) => e.turnId === turn.id);
  for (const e of ofTurn) if ((e.kind === "command" || e.kind === "fileChange") && e.status === "inProgress") e.done = false;
  const last = ofTurn.at(-1);
  if (last && GROWING.has(last.kind)) last.done = false;
  return t;
}

/**
 * Puts older turns (oldest first, a page of a long thread) before the transcript's entries. An
 * item already there (pages that overlap, a turn added meanwhile) is not added twice. Returns
 * how many entries were added.
 */
export function prependTurns(t: Transcript, turns: Turn[]): number {
  const known = new Set(t.entries.map((e) => e.id));
  const older: Entry[] = [];
  for (const turn of turns) {
    for (const item of turn.items ?? []) {
      if (known.has(item.id)) continue;
      known.add(item.id);
      older.push(entryOf(item, turn.id, true));
    }
  }
  if (older.length) t.entries.unshift(...older);
  return older.length;
}

const DELTA_KIND: Record<string, Entry["kind"]> = {
  "item/agentMessage/delta": "agent",
  "item/plan/delta": "plan",
  "item/commandExecution/outputDelta": "command",
  "item/reasoning/summaryTextDelta": "reasoning",
  "item/reasoning/textDelta": "reasoning",
  "item/reasoning/summaryPartAdded": "reasoning",
};

/** `apply`, starting an entry for a streamed item whose start was missed. */
export function applyLive(t: Transcript, msg: Notification): boolean {
  const kind = msg.method ? DELTA_KIND[msg.method] : undefined;
  const p = msg.params ?? {};
  if (kind && typeof p.itemId === "string" && (p.threadId === undefined || p.threadId === t.threadId)) {
    if (!hasEntry(t, p.itemId)) t.entries.push(placeholder(kind, p.itemId, typeof p.turnId === "string" ? p.turnId : null));
  }
  return apply(t, msg);
}

function hasEntry(t: Transcript, id: string): boolean {
  for (let i = t.entries.length - 1; i >= 0; i--) if (t.entries[i]?.id === id) return true;
  return false;
}

function placeholder(kind: Entry["kind"], id: string, turnId: string | null): Entry {
  const base = { id, turnId, done: false };
  switch (kind) {
    case "agent":
      return { ...base, kind: "agent", text: "" };
    case "plan":
      return { ...base, kind: "plan", text: "" };
    case "reasoning":
      return { ...base, kind: "reasoning", summary: [], content: [] };
    default:
      // The command itself arrives with its item/completed.
      return { ...base, kind: "command", command: "…", cwd: "", output: "", exitCode: null, status: "inProgress" };
  }
}

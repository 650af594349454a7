// Prompts (approvals, questions) as the thread view places them: each next to the transcript
// item it concerns (`params.itemId`), the rest after the transcript. A prompt settled elsewhere
// stays a few seconds as a note saying how it was settled, then goes.
import type { Prompt, Settlement } from "../state/approvals";

/** How long the note of a settled prompt stays. */
export const SETTLED_NOTICE_MS = 5_000;
/** An answer with no confirmation after this long offers to be sent again. */
export const ANSWER_CONFIRM_MS = 10_000;

export interface PlacedPrompts {
  /** Prompts by the id of the item they concern. */
  byItem: Map<string, Prompt[]>;
  /** Prompts whose item is not (yet) in the transcript, or that concern none. */
  loose: Prompt[];
}

/** The thread's prompts worth showing at `now`: open ones, and recently settled ones. */
export function visiblePrompts(all: Prompt[], threadId: string, now: number): Prompt[] {
  return all.filter(
    (p) => p.threadId === threadId && (p.settled === null || (p.settledAt !== null && now - p.settledAt < SETTLED_NOTICE_MS)),
  );
}

export function placePrompts(prompts: Prompt[], hasItem: (id: string) => boolean): PlacedPrompts {
  const byItem = new Map<string, Prompt[]>();
  const loose: Prompt[] = [];
  for (const p of prompts) {
    const itemId = typeof p.params.itemId === "string" ? p.params.itemId : null;
    if (itemId && hasItem(itemId)) {
      const list = byItem.get(itemId);
      if (list) list.push(p);
      else byItem.set(itemId, [p]);
    } else {
      loose.push(p);
    }
  }
  return { byItem, loose };
}

/**
 * What became of a settled prompt. Orbit names the device that answered first (`orbit.answered`,
 * e.g. "Firefox on Android") when it can.
 */
export function settledText(settled: Settlement, by: string | null = null): string {
  switch (settled) {
    case "answered-here":
      return "Answered here";
    case "answered-elsewhere":
      return by && by !== "another device" && by !== "this device"
        ? `Answered on another device (${by})`
        : "Answered on another device";
    case "withdrawn":
      return by ? `Withdrawn: ${by}` : "Withdrawn";
  }
}

/**
 * Which machine asks, as Orbit names it: every anchor of the account can send prompts, and one
 * that asks for a secret must not pass for the machine the thread runs on. Null when Orbit did
 * not say (a prompt logged before Orbit stamped them).
 */
export function promptAsker(p: Prompt): string | null {
  return p.origin ? `Asked by ${p.origin.name}` : null;
}

/** A short name of what a prompt asks, for headings and announcements. */
export function promptTitle(p: Prompt): string {
  switch (p.method) {
    case "item/commandExecution/requestApproval":
    case "execCommandApproval":
      return "Run this command?";
    case "item/fileChange/requestApproval":
    case "applyPatchApproval":
      return "Apply these changes?";
    case "item/permissions/requestApproval":
      return "Grant more permissions?";
    case "item/tool/requestUserInput":
      return "Codex has a question";
    case "mcpServer/elicitation/request":
      return "A tool asks for input";
    default:
      return "Codex is waiting for you";
  }
}

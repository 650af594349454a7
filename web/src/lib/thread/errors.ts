// Why something failed, in words a person can act on. "The computer is offline" and "Orbit
// cannot be reached" need different actions (start the anchor there / check this device's
// network), so they are different messages.
import { RequestError } from "../conn/connection";

export type ProblemKind = "anchor-offline" | "unreachable" | "timeout" | "anchor-unknown" | "codex" | "other";

export interface Problem {
  kind: ProblemKind;
  title: string;
  detail: string;
}

export function describeProblem(error: unknown, anchorName = "The computer running this thread"): Problem {
  if (error instanceof RequestError) {
    switch (error.code) {
      case "anchor_offline":
        return {
          kind: "anchor-offline",
          title: `${anchorName} is offline`,
          detail: "Start the anchor on it (or wake it up). This page carries on when it connects.",
        };
      case "connection_lost":
        return {
          kind: "unreachable",
          title: "Orbit cannot be reached",
          detail: "Check this device's network. Orbit reconnects by itself; you can also try again now.",
        };
      case "timeout":
        return {
          kind: "timeout",
          title: `${anchorName} did not answer in time`,
          detail: "It may be busy or asleep. Try again.",
        };
      case "anchor_not_found":
        return {
          kind: "anchor-unknown",
          title: "This computer is not paired with your account",
          detail: "It may have been removed in Settings.",
        };
      case "thread_anchor_mismatch":
        return { kind: "anchor-unknown", title: "This thread belongs to another computer", detail: error.message };
      case "codex_exited":
        return { kind: "codex", title: "Codex restarted on that computer", detail: "Try again in a moment." };
      default:
        return { kind: "codex", title: "Codex refused", detail: error.message };
    }
  }
  return { kind: "other", title: "Something went wrong", detail: error instanceof Error ? error.message : String(error) };
}

/** A one-line reason, for a message that could not be sent or an answer that did not arrive. */
export function shortReason(error: unknown): string {
  const p = describeProblem(error);
  return p.kind === "codex" || p.kind === "other" ? `${p.title}: ${p.detail}` : p.title;
}

// Requests from codex that wait for a person: approvals of commands and file changes, and
// questions. One prompt everywhere: the first answer from any device settles it, and every other
// device's copy goes away saying so. No I/O: unit-tested.

import type { Origin } from "../protocol/Origin";

/** A server request as Orbit delivers it (its id is Orbit's `orbit-srv:N`). */
export interface ServerRequest {
  id: string;
  method: string;
  params: Record<string, unknown>;
  seq?: number;
  /** The anchor that asks, as Orbit stamped it. */
  origin?: unknown;
}

export type Settlement = "answered-here" | "answered-elsewhere" | "withdrawn";

export interface Prompt {
  id: string;
  method: string;
  params: Record<string, unknown>;
  threadId: string | null;
  /** The machine that asks (Orbit's stamp), so a prompt never hides who wants an answer. */
  origin: Origin | null;
  /** The answer this device sent and is waiting on, if any. */
  answering: unknown;
  settled: Settlement | null;
  settledAt: number | null;
  /** Which device answered, when Orbit said (`orbit.answered`); null when unknown. */
  settledBy: string | null;
}

/** The methods this client shows as prompts. */
export const PROMPT_METHODS = new Set([
  "item/commandExecution/requestApproval",
  "item/fileChange/requestApproval",
  "item/permissions/requestApproval",
  "item/tool/requestUserInput",
  "mcpServer/elicitation/request",
  "applyPatchApproval",
  "execCommandApproval",
]);

/** Orbit's `origin` stamp, if the frame carries a well-formed one. */
export function originOf(value: unknown): Origin | null {
  if (typeof value !== "object" || value === null) return null;
  const { anchorId, name } = value as Record<string, unknown>;
  if (typeof anchorId !== "string" || typeof name !== "string" || !anchorId) return null;
  return { anchorId, name: name || anchorId };
}

/**
 * The thread a prompt belongs to: `threadId`, or for codex's older approvals
 * (`applyPatchApproval`, `execCommandApproval`) `conversationId`, its name for the same id.
 * Without either the prompt has no thread, and no thread view would show it.
 */
export function promptThread(params: Record<string, unknown>): string | null {
  for (const key of ["threadId", "conversationId"]) {
    const value = params[key];
    if (typeof value === "string" && value) return value;
  }
  return null;
}

export class Prompts {
  private readonly byId = new Map<string, Prompt>();

  /** A server request arrived (live, replayed, or re-sent on reconnect): shown once. */
  add(request: ServerRequest): Prompt | null {
    if (!PROMPT_METHODS.has(request.method)) return null;
    const existing = this.byId.get(request.id);
    if (existing) return existing;
    const prompt: Prompt = {
      id: request.id,
      method: request.method,
      params: request.params,
      threadId: promptThread(request.params),
      origin: originOf(request.origin),
      answering: undefined,
      settled: null,
      settledAt: null,
      settledBy: null,
    };
    this.byId.set(request.id, prompt);
    return prompt;
  }

  /** This device answers; the answer is sent once. */
  answer(id: string, result: unknown): boolean {
    const prompt = this.byId.get(id);
    if (!prompt || prompt.settled || prompt.answering !== undefined) return false;
    prompt.answering = result;
    return true;
  }

  /**
   * codex's `serverRequest/resolved`: the request is settled. By this device when it had
   * answered, else elsewhere (another tab or device). Orbit sends it with a `reason` when it
   * withdrew the request itself (the codex that asked stopped, or it waited too long): the
   * prompt goes away saying why.
   */
  resolved(id: string, now: number, reason?: unknown): Prompt | null {
    const prompt = this.byId.get(id);
    // Already settled, possibly with who answered (orbit.answered comes first): keep that.
    if (!prompt || prompt.settled) return null;
    const why = typeof reason === "string" ? withdrawnBecause(reason) : null;
    if (why) {
      prompt.settled = "withdrawn";
      prompt.settledBy = why;
      prompt.answering = undefined;
    } else {
      prompt.settled = prompt.answering !== undefined ? "answered-here" : "answered-elsewhere";
    }
    prompt.settledAt = now;
    return prompt;
  }

  /**
   * Orbit's `orbit.answered`: a client answered first. `mine` is this tab's connection id, so
   * an answer from this tab is told apart from one from another tab or device.
   */
  answered(
    id: string,
    by: { connectionId: string; device: string | null; at: number },
    mine: string | null,
  ): Prompt | null {
    const prompt = this.byId.get(id);
    if (!prompt) return null;
    const here = by.connectionId === mine;
    prompt.settled = here ? "answered-here" : "answered-elsewhere";
    prompt.settledAt = by.at;
    prompt.settledBy = here ? "this device" : (by.device ?? "another device");
    if (!here) prompt.answering = undefined;
    return prompt;
  }

  /** Orbit refused this device's answer: `already_resolved` (someone was first) or gone. */
  refused(id: string, code: string, now: number): Prompt | null {
    const prompt = this.byId.get(id);
    if (!prompt) return null;
    prompt.answering = undefined;
    if (prompt.settled) return prompt;
    if (code === "already_resolved" || code === "unknown_request") {
      prompt.settled = code === "already_resolved" ? "answered-elsewhere" : "withdrawn";
      prompt.settledAt = now;
    } else if (code === "codex_exited") {
      // The answer reached the anchor after the codex that asked had stopped.
      prompt.settled = "withdrawn";
      prompt.settledBy = withdrawnBecause(code);
      prompt.settledAt = now;
    }
    return prompt;
  }

  /** The turn ended: its prompts can no longer be answered. */
  withdrawTurn(threadId: string, turnId: string, now: number): void {
    for (const p of this.byId.values()) {
      if (p.threadId === threadId && p.params.turnId === turnId && !p.settled) {
        p.settled = "withdrawn";
        p.settledAt = now;
      }
    }
  }

  open(threadId?: string | null): Prompt[] {
    return [...this.byId.values()].filter(
      (p) => !p.settled && (threadId === undefined || p.threadId === threadId),
    );
  }

  get(id: string): Prompt | undefined {
    return this.byId.get(id);
  }

  all(): Prompt[] {
    return [...this.byId.values()];
  }

  /** Forgets prompts settled longer ago than `ms` (their notice has been seen). */
  prune(now: number, ms: number): void {
    for (const [id, p] of this.byId) if (p.settledAt !== null && now - p.settledAt > ms) this.byId.delete(id);
  }
}

/**
 * Why Orbit withdrew a request (`params.reason` of its `serverRequest/resolved`, or the error
 * code of a refused answer), in words; null for a reason this client does not know.
 */
export function withdrawnBecause(reason: string): string | null {
  switch (reason) {
    case "codex_exited":
      return "codex stopped before it was answered";
    case "expired":
      return "it waited too long for an answer";
    case "anchor_restarted":
      return "the anchor restarted before it was answered";
    default:
      return null;
  }
}

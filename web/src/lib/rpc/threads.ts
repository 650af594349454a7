// codex's thread and model methods as Home uses them (typed by the generated codex types), and the
// pure logic around them: a thread's title and preview, searching, paging.
import type { Model } from "../codex/v2/Model";
import type { ModelListParams } from "../codex/v2/ModelListParams";
import type { ModelListResponse } from "../codex/v2/ModelListResponse";
import type { AskForApproval } from "../codex/v2/AskForApproval";
import type { SandboxMode } from "../codex/v2/SandboxMode";
import type { Thread } from "../codex/v2/Thread";
import type { ThreadListParams } from "../codex/v2/ThreadListParams";
import type { ThreadListResponse } from "../codex/v2/ThreadListResponse";
import type { ThreadStartParams } from "../codex/v2/ThreadStartParams";
import type { ThreadStartResponse } from "../codex/v2/ThreadStartResponse";
import type { Requester } from "./helpers";

/** Threads per page of the list. */
export const THREAD_PAGE_SIZE = 25;

/**
 * One page of an anchor's threads, most recently active first. codex's default order is by
 * creation; by update time a thread someone just worked in comes to the top, which is what a
 * person coming back to Orbit looks for.
 */
export function listThreads(
  rq: Requester,
  anchorId: string,
  cursor: string | null = null,
  limit = THREAD_PAGE_SIZE,
): Promise<ThreadListResponse> {
  const params: ThreadListParams = { limit, sortKey: "updated_at", sortDirection: "desc" };
  if (cursor) params.cursor = cursor;
  return rq.request<ThreadListResponse>("thread/list", params, { anchorId });
}

/** What "New thread" asks codex for. */
export interface StartChoices {
  cwd: string;
  /** null: codex's configured default. */
  model: string | null;
  approvalPolicy: ApprovalChoice;
  sandbox: SandboxMode;
}

/** The `thread/start` parameters for the choices (no `model` when codex's default is wanted). */
export function startParams(choices: StartChoices): ThreadStartParams {
  const params: ThreadStartParams = {
    cwd: choices.cwd,
    approvalPolicy: choices.approvalPolicy,
    sandbox: choices.sandbox,
  };
  if (choices.model) params.model = choices.model;
  return params;
}

// Starting a thread may wait for codex to load MCP servers and instructions: be patient.
const START_TIMEOUT_MS = 90_000;

export function startThread(rq: Requester, anchorId: string, choices: StartChoices): Promise<ThreadStartResponse> {
  return rq.request<ThreadStartResponse>("thread/start", startParams(choices), {
    anchorId,
    timeoutMs: START_TIMEOUT_MS,
  });
}

/** At most this many pages of models are read (codex lists a handful). */
const MODEL_PAGES = 5;

/** The models codex offers in its picker (hidden ones left out), following the cursor. */
export async function listModels(rq: Requester, anchorId: string): Promise<Model[]> {
  const models: Model[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < MODEL_PAGES; page++) {
    const params: ModelListParams = { limit: 100, includeHidden: false };
    if (cursor) params.cursor = cursor;
    const answer: ModelListResponse = await rq.request<ModelListResponse>("model/list", params, { anchorId });
    models.push(...answer.data.filter((m) => !m.hidden));
    cursor = answer.nextCursor;
    if (!cursor) break;
  }
  return models;
}

// ---- Approval policies and sandbox modes -------------------------------------------------------

/** The approval policies offered: codex's named ones (the granular object form is for experts). */
export type ApprovalChoice = Extract<AskForApproval, string>;

export interface Choice<T extends string> {
  value: T;
  label: string;
  hint: string;
}

// Records keyed by the generated unions: a policy or mode added to codex fails the type check
// here until it is described.
const APPROVALS: Record<ApprovalChoice, Omit<Choice<ApprovalChoice>, "value">> = {
  "on-request": {
    label: "On request",
    hint: "Codex works inside the sandbox and asks you before it steps outside it.",
  },
  untrusted: {
    label: "Untrusted",
    hint: "Codex asks before running any command that is not known to be read-only.",
  },
  never: {
    label: "Never ask",
    hint: "Codex never asks; what the sandbox refuses fails and Codex carries on.",
  },
};

const SANDBOXES: Record<SandboxMode, Omit<Choice<SandboxMode>, "value">> = {
  "workspace-write": {
    label: "Workspace write",
    hint: "Codex may change files in the chosen folder; the network and other folders are off limits.",
  },
  "read-only": {
    label: "Read only",
    hint: "Codex may read files and run read-only commands, and change nothing.",
  },
  "danger-full-access": {
    label: "Full access (no sandbox)",
    hint: "Codex runs with your full rights on that machine, network included. Use with care.",
  },
};

function choices<T extends string>(table: Record<T, Omit<Choice<T>, "value">>, order: readonly T[]): Choice<T>[] {
  return order.map((value) => ({ value, ...table[value] }));
}

/** The default first. */
export const APPROVAL_CHOICES: Choice<ApprovalChoice>[] = choices(APPROVALS, ["on-request", "untrusted", "never"]);
export const SANDBOX_CHOICES: Choice<SandboxMode>[] = choices(SANDBOXES, [
  "workspace-write",
  "read-only",
  "danger-full-access",
]);
export const DEFAULT_APPROVAL: ApprovalChoice = "on-request";
export const DEFAULT_SANDBOX: SandboxMode = "workspace-write";

// ---- Titles, previews, searching ---------------------------------------------------------------

/** The part of a thread the list shows and searches. */
export type ThreadSummary = Pick<Thread, "id" | "name" | "preview" | "cwd" | "updatedAt" | "createdAt">;

const PREVIEW_MAX = 280;

function firstLine(text: string): { line: string; rest: string } {
  const lines = text.split(/\r?\n/);
  const i = lines.findIndex((l) => l.trim() !== "");
  if (i < 0) return { line: "", rest: "" };
  return { line: (lines[i] ?? "").trim(), rest: lines.slice(i + 1).join("\n") };
}

function squash(text: string, max: number): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1).trimEnd()}…` : flat;
}

/** The thread's name if it has one, else the first line of its preview (its first message). */
export function threadTitle(t: Pick<Thread, "name" | "preview">): string {
  const name = t.name?.trim();
  if (name) return squash(name, 120);
  const { line } = firstLine(t.preview);
  return line ? squash(line, 120) : "Untitled thread";
}

/**
 * The text under the title: the preview, without the line already shown as the title, on one
 * line and cut to a length a list row can hold.
 */
export function threadPreview(t: Pick<Thread, "name" | "preview">): string {
  if (t.name?.trim()) return squash(t.preview, PREVIEW_MAX);
  return squash(firstLine(t.preview).rest, PREVIEW_MAX);
}

/** When the thread was last active, in ms since the epoch (codex counts seconds). */
export function threadTime(t: Pick<Thread, "updatedAt" | "createdAt">): number {
  return (t.updatedAt || t.createdAt) * 1000;
}

/** Whether every word of `query` occurs in the thread's title, preview or working directory. */
export function matchesQuery(t: ThreadSummary, query: string): boolean {
  const words = query.toLocaleLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const haystack = `${threadTitle(t)}\n${t.preview}\n${t.cwd}`.toLocaleLowerCase();
  return words.every((w) => haystack.includes(w));
}

export function filterThreads<T extends ThreadSummary>(threads: readonly T[], query: string): T[] {
  return threads.filter((t) => matchesQuery(t, query));
}

/**
 * Appends a page to the threads already shown. A thread that moved up between two page reads (it
 * was updated meanwhile) would come twice; it keeps its first place.
 */
export function mergePage<T extends Pick<Thread, "id">>(shown: readonly T[], page: readonly T[]): T[] {
  const seen = new Set(shown.map((t) => t.id));
  return [...shown, ...page.filter((t) => !seen.has(t.id) && seen.add(t.id))];
}

/** The working directories of recent threads, newest first, each once: quick picks for a new thread. */
export function recentFolders(threads: readonly Pick<Thread, "cwd">[], max = 5): string[] {
  const out: string[] = [];
  for (const t of threads) {
    if (t.cwd && !out.includes(t.cwd)) out.push(t.cwd);
    if (out.length >= max) break;
  }
  return out;
}

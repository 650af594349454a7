// Typed calls for the thread view: read or rejoin a thread, start a turn, interrupt it. Each is
// one JSON-RPC request to the thread's anchor; each rejects with `RequestError` rather than hang.
import type { ThreadReadParams } from "../codex/v2/ThreadReadParams";
import type { ThreadReadResponse } from "../codex/v2/ThreadReadResponse";
import type { ThreadResumeParams } from "../codex/v2/ThreadResumeParams";
import type { ThreadResumeResponse } from "../codex/v2/ThreadResumeResponse";
import type { ThreadTurnsListParams } from "../codex/v2/ThreadTurnsListParams";
import type { ThreadTurnsListResponse } from "../codex/v2/ThreadTurnsListResponse";
import type { Turn } from "../codex/v2/Turn";
import type { TurnInterruptParams } from "../codex/v2/TurnInterruptParams";
import type { TurnInterruptResponse } from "../codex/v2/TurnInterruptResponse";
import type { TurnStartParams } from "../codex/v2/TurnStartParams";
import type { TurnStartResponse } from "../codex/v2/TurnStartResponse";
import type { UserInput } from "../codex/v2/UserInput";
import { RequestError, type RequestOptions } from "../conn/connection";

/** What these calls need of the connection (the real `Connection`, or a test double). */
export interface Requester {
  request<T>(method: string, params: Record<string, unknown>, options?: RequestOptions): Promise<T>;
}

/** Reading a long thread can take a while on a slow machine. */
const LOAD_TIMEOUT_MS = 60_000;

/**
 * `thread/resume`: loads the thread into codex (rejoining it when it runs) with its turns, or
 * without them (`excludeTurns`, for a thread too long for one frame: then page them with
 * {@link listTurns}).
 */
export function resumeThread(conn: Requester, anchorId: string, threadId: string, excludeTurns = false): Promise<ThreadResumeResponse> {
  const params: ThreadResumeParams = excludeTurns ? { threadId, excludeTurns: true } : { threadId };
  return conn.request<ThreadResumeResponse>("thread/resume", { ...params }, { anchorId, timeoutMs: LOAD_TIMEOUT_MS });
}

/** `thread/turns/list`: one page of turns with their items, newest first, from `cursor`. */
export function listTurns(
  conn: Requester,
  anchorId: string,
  threadId: string,
  cursor: string | null,
  limit: number,
  itemsView: "full" | "summary" = "full",
): Promise<ThreadTurnsListResponse> {
  const params: ThreadTurnsListParams = { threadId, cursor, limit, sortDirection: "desc", itemsView };
  return conn.request<ThreadTurnsListResponse>("thread/turns/list", { ...params }, { anchorId, timeoutMs: LOAD_TIMEOUT_MS });
}

/** Turns per `thread/turns/list` page: small enough that a page of ordinary turns is far under
 * Orbit's 1 MiB frame, big enough to fill a screen (and then some) at first paint. */
export const TURN_PAGE = 50;

/** One page of older turns, oldest first, and the cursor to the page before it (null: none). */
export interface TurnPage {
  turns: Turn[];
  cursor: string | null;
  /** The page size that fitted (for the next page). */
  limit: number;
}

/**
 * A page of turns newest-first from `cursor`, returned oldest first. A page whose answer is too
 * large for one frame (`frame_too_large`) is asked again with half as many turns; a single turn
 * too large in full comes in codex's summary view instead. Other errors are thrown.
 */
export async function turnPage(
  conn: Requester,
  anchorId: string,
  threadId: string,
  cursor: string | null,
  limit = TURN_PAGE,
): Promise<TurnPage> {
  let size = Math.max(1, Math.floor(limit));
  let view: "full" | "summary" = "full";
  for (;;) {
    try {
      const page = await listTurns(conn, anchorId, threadId, cursor, size, view);
      return { turns: [...(page.data ?? [])].reverse(), cursor: page.nextCursor ?? null, limit: size };
    } catch (e) {
      if (!tooLarge(e)) throw e;
      if (size > 1) size = Math.floor(size / 2);
      else if (view === "full") view = "summary";
      else throw e;
    }
  }
}

/** The answer would not fit in one Orbit frame (the anchor answered `frame_too_large`). */
export function tooLarge(e: unknown): boolean {
  return e instanceof RequestError && e.code === "frame_too_large";
}

/**
 * `thread/read`: the thread as stored, without loading it into codex; with its turns, or (for a
 * thread with no turn yet, whose turns codex 0.169 cannot list) only its metadata.
 */
export function readThread(conn: Requester, anchorId: string, threadId: string, includeTurns = true): Promise<ThreadReadResponse> {
  const params: ThreadReadParams = { threadId, includeTurns };
  return conn.request<ThreadReadResponse>("thread/read", { ...params }, { anchorId, timeoutMs: LOAD_TIMEOUT_MS });
}

/** `turn/start` with a message and images. */
export function startTurn(
  conn: Requester,
  anchorId: string,
  threadId: string,
  input: UserInput[],
): Promise<TurnStartResponse> {
  const params: TurnStartParams = { threadId, input };
  return conn.request<TurnStartResponse>("turn/start", { ...params }, { anchorId });
}

/** `turn/interrupt`: codex answers `{}` and then completes the turn as "interrupted". */
export function interruptTurn(
  conn: Requester,
  anchorId: string,
  threadId: string,
  turnId: string,
): Promise<TurnInterruptResponse> {
  const params: TurnInterruptParams = { threadId, turnId };
  return conn.request<TurnInterruptResponse>("turn/interrupt", { ...params }, { anchorId });
}

/** The `input` of a `turn/start`: the text (when any) and then the images as data URLs. */
export function userInput(text: string, imageUrls: string[]): UserInput[] {
  const input: UserInput[] = [];
  if (text.trim()) input.push({ type: "text", text, text_elements: [] });
  for (const url of imageUrls) input.push({ type: "image", url });
  return input;
}

// Typed calls for the thread view: read or rejoin a thread, start a turn, interrupt it. Each is
// one JSON-RPC request to the thread's anchor; each rejects with `RequestError` rather than hang.
import type { ThreadReadParams } from "../codex/v2/ThreadReadParams";
import type { ThreadReadResponse } from "../codex/v2/ThreadReadResponse";
import type { ThreadResumeParams } from "../codex/v2/ThreadResumeParams";
import type { ThreadResumeResponse } from "../codex/v2/ThreadResumeResponse";
import type { TurnInterruptParams } from "../codex/v2/TurnInterruptParams";
import type { TurnInterruptResponse } from "../codex/v2/TurnInterruptResponse";
import type { TurnStartParams } from "../codex/v2/TurnStartParams";
import type { TurnStartResponse } from "../codex/v2/TurnStartResponse";
import type { UserInput } from "../codex/v2/UserInput";
import type { RequestOptions } from "../conn/connection";

/** What these calls need of the connection (the real `Connection`, or a test double). */
export interface Requester {
  request<T>(method: string, params: Record<string, unknown>, options?: RequestOptions): Promise<T>;
}

/** Reading a long thread can take a while on a slow machine. */
const LOAD_TIMEOUT_MS = 60_000;

/** `thread/resume`: loads the thread into codex (rejoining it when it runs) with its turns. */
export function resumeThread(conn: Requester, anchorId: string, threadId: string): Promise<ThreadResumeResponse> {
  const params: ThreadResumeParams = { threadId };
  return conn.request<ThreadResumeResponse>("thread/resume", { ...params }, { anchorId, timeoutMs: LOAD_TIMEOUT_MS });
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

// Loads a thread and keeps it live. The order matters (docs/protocol.md, Replay):
//
// 1. follow the thread on the connection FIRST, so no frame emitted from now on is missed;
// 2. then ask for the snapshot: `thread/resume` (loads the thread into codex, rejoining it when
//    it runs), falling back to `thread/read` when codex cannot resume it;
// 3. frames that arrive while the snapshot loads are buffered, and applied right after it (the
//    reducer is idempotent per item, so an overlap does no harm);
// 4. when Orbit cannot replay a gap (`truncated`), read the thread afresh the same way.
//
// A thread too long for one frame (its full `thread/resume` answers `frame_too_large`, Orbit
// relaying at most 1 MiB) is resumed without its turns (`excludeTurns`) and its turns are paged
// with `thread/turns/list`, newest first: the newest page is the snapshot, shown at once, and
// older pages come on demand (`loadEarlier`, the transcript's "Load earlier"), prepended.
//
// Live frames reach the view through a FrameBatcher: at most one update per animation frame.
import type { Thread } from "../codex/v2/Thread";
import type { Turn } from "../codex/v2/Turn";
import { RequestError, type RpcMessage } from "../conn/connection";
import { readThread, resumeThread, tooLarge, turnPage, TURN_PAGE, type Requester } from "../rpc/turns";
import { FrameBatcher, type FrameClock } from "./batcher";
import { describeProblem, type Problem } from "./errors";

/** What the feed needs of the connection. */
export interface FeedConnection extends Requester {
  follow(threadId: string, listener: (msg: RpcMessage) => void, truncated: () => void): () => void;
  isOpen(): boolean;
  onOpen(listener: () => void): () => void;
}

/** What the header shows about a thread. */
export interface ThreadMeta {
  cwd: string;
  model: string | null;
  name: string | null;
  preview: string;
}

export type FeedState =
  | { phase: "connecting" }
  | { phase: "loading" }
  | { phase: "ready" }
  | { phase: "error"; problem: Problem };

export interface FeedHandlers {
  /** A fresh snapshot: replace the transcript. `earlier`: older turns can still be loaded
   * ({@link ThreadFeed.loadEarlier}); the snapshot then holds only the newest turns. */
  snapshot(thread: Thread, meta: ThreadMeta, earlier: boolean): void;
  /** Older turns (oldest first), to put before the transcript; `earlier`: more remain. */
  earlier?(turns: Turn[], earlier: boolean): void;
  /** Live frames, in order, each once. */
  frames(frames: RpcMessage[]): void;
  state(state: FeedState): void;
}

/** Threads (`anchorId threadId`) found too long for one frame while the app runs: loaded page by
 * page straight away next time (a reload, Orbit's `truncated`, coming back to the thread),
 * without first asking for the whole thread only to be refused. */
const PAGED = new Set<string>();

/** Transport problems: a fallback read would fail the same way. */
const TRANSPORT = new Set(["connection_lost", "anchor_offline", "anchor_not_found", "thread_anchor_mismatch", "timeout"]);

export class ThreadFeed {
  /** Frames held back while a snapshot loads; null when live. */
  private buffer: RpcMessage[] | null = [];
  private loadSeq = 0;
  /** Where the next older page of a paged thread starts; null when everything is loaded. */
  private earlierCursor: string | null = null;
  private pageLimit = TURN_PAGE;
  private loadingEarlier: Promise<boolean> | null = null;
  private stopped = false;
  private state: FeedState = { phase: "connecting" };
  private readonly batcher: FrameBatcher<RpcMessage>;
  private readonly cleanups: (() => void)[] = [];

  constructor(
    private readonly conn: FeedConnection,
    private readonly anchorId: string,
    private readonly threadId: string,
    private readonly handlers: FeedHandlers,
    clock?: FrameClock,
  ) {
    this.batcher = new FrameBatcher((frames) => this.handlers.frames(frames), clock);
  }

  start(): void {
    this.cleanups.push(this.conn.follow(this.threadId, (msg) => this.frame(msg), () => void this.load()));
    // Back online after failing for want of a link: try again by itself.
    this.cleanups.push(
      this.conn.onOpen(() => {
        if (this.state.phase === "connecting" || (this.state.phase === "error" && this.state.problem.kind === "unreachable")) {
          void this.load();
        }
      }),
    );
    if (this.conn.isOpen()) void this.load();
    else this.setState({ phase: "connecting" });
  }

  /** Loads the snapshot again (the Retry button; Orbit's `truncated`; the anchor came back). */
  async load(): Promise<void> {
    if (this.stopped) return;
    const seq = ++this.loadSeq;
    // What is queued predates the snapshot about to be taken: it is in there.
    this.batcher.clear();
    this.buffer ??= [];
    this.setState({ phase: "loading" });
    this.earlierCursor = null;
    try {
      const { thread, meta, cursor } = await this.fetch();
      if (seq !== this.loadSeq || this.stopped) return;
      this.earlierCursor = cursor;
      this.handlers.snapshot(thread, meta, cursor !== null);
      const buffered = this.buffer ?? [];
      this.buffer = null;
      if (buffered.length) this.handlers.frames(buffered);
      this.setState({ phase: "ready" });
    } catch (e) {
      if (seq !== this.loadSeq || this.stopped) return;
      // Frames are dropped while failed: the next load takes a fresh snapshot anyway.
      this.buffer = [];
      this.setState({ phase: "error", problem: describeProblem(e) });
    }
  }

  /** Whether older turns remain to be loaded (a long thread loaded page by page). */
  get hasEarlier(): boolean {
    return this.earlierCursor !== null;
  }

  /**
   * Loads the next older page of a paged thread and hands it to `earlier`. Resolves whether
   * more remain; one page at a time (a second call while one loads waits for it). A failure
   * rejects and leaves the cursor as it was, so it can be tried again.
   */
  loadEarlier(): Promise<boolean> {
    this.loadingEarlier ??= this.fetchEarlier().finally(() => (this.loadingEarlier = null));
    return this.loadingEarlier;
  }

  private async fetchEarlier(): Promise<boolean> {
    const cursor = this.earlierCursor;
    if (cursor === null || this.stopped || this.state.phase !== "ready") return this.hasEarlier;
    const seq = this.loadSeq;
    const page = await turnPage(this.conn, this.anchorId, this.threadId, cursor, this.pageLimit);
    // A fresh snapshot was taken meanwhile: this page belongs to the old one.
    if (seq !== this.loadSeq || this.stopped) return this.hasEarlier;
    this.pageLimit = page.limit;
    this.earlierCursor = page.cursor;
    this.handlers.earlier?.(page.turns, page.cursor !== null);
    return page.cursor !== null;
  }

  stop(): void {
    this.stopped = true;
    this.batcher.stop();
    for (const c of this.cleanups.splice(0)) c();
  }

  get phase(): FeedState["phase"] {
    return this.state.phase;
  }

  private frame(msg: RpcMessage): void {
    if (this.stopped) return;
    if (this.buffer) {
      if (this.state.phase === "loading" || this.state.phase === "connecting") this.buffer.push(msg);
      return;
    }
    this.batcher.push(msg);
  }

  private async fetch(): Promise<{ thread: Thread; meta: ThreadMeta; cursor: string | null }> {
    const key = `${this.anchorId} ${this.threadId}`;
    if (PAGED.has(key)) return this.fetchPaged();
    try {
      const r = await resumeThread(this.conn, this.anchorId, this.threadId);
      return { thread: r.thread, meta: metaOf(r.thread, r.cwd, r.model), cursor: null };
    } catch (e) {
      if (tooLarge(e)) {
        PAGED.add(key);
        return this.fetchPaged();
      }
      if (!codexRefused(e)) throw e;
    }
    // codex could not resume it: a thread with no turn yet has nothing on disk to resume from
    // ("no rollout found"), or it was archived. Read it as stored; a new thread's turns cannot
    // be listed either (codex 0.169: "list_turns is not supported yet"), so then without them.
    let r;
    try {
      r = await readThread(this.conn, this.anchorId, this.threadId, true);
    } catch (e) {
      if (!codexRefused(e)) throw e;
      r = await readThread(this.conn, this.anchorId, this.threadId, false);
    }
    return { thread: r.thread, meta: metaOf(r.thread, r.thread.cwd, r.thread.model), cursor: null };
  }

  /** A thread too long for one frame: resumed without its turns, then its newest page. */
  private async fetchPaged(): Promise<{ thread: Thread; meta: ThreadMeta; cursor: string | null }> {
    const r = await resumeThread(this.conn, this.anchorId, this.threadId, true);
    this.pageLimit = TURN_PAGE;
    const page = await turnPage(this.conn, this.anchorId, this.threadId, null, this.pageLimit);
    this.pageLimit = page.limit;
    const thread: Thread = { ...r.thread, turns: page.turns };
    return { thread, meta: metaOf(r.thread, r.cwd, r.model), cursor: page.cursor };
  }

  private setState(state: FeedState): void {
    this.state = state;
    this.handlers.state(state);
  }
}

/** codex answered with an error (as opposed to the request not reaching it). */
function codexRefused(e: unknown): boolean {
  return !(e instanceof RequestError) || !TRANSPORT.has(e.code);
}

function metaOf(thread: Thread, cwd: string, model: string | null): ThreadMeta {
  return { cwd: String(cwd || thread.cwd || ""), model: model ?? thread.model ?? null, name: thread.name ?? null, preview: thread.preview ?? "" };
}

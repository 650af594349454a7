// Loads a thread and keeps it live. The order matters (docs/protocol.md, Replay):
//
// 1. follow the thread on the connection FIRST, so no frame emitted from now on is missed;
// 2. then ask for the snapshot: `thread/resume` (loads the thread into codex, rejoining it when
//    it runs), falling back to `thread/read` when codex cannot resume it;
// 3. frames that arrive while the snapshot loads are buffered, and applied right after it (the
//    reducer is idempotent per item, so an overlap does no harm);
// 4. when Orbit cannot replay a gap (`truncated`), read the thread afresh the same way.
//
// Live frames reach the view through a FrameBatcher: at most one update per animation frame.
import type { Thread } from "../codex/v2/Thread";
import { RequestError, type RpcMessage } from "../conn/connection";
import { readThread, resumeThread, type Requester } from "../rpc/turns";
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
  /** A fresh snapshot: replace the transcript. */
  snapshot(thread: Thread, meta: ThreadMeta): void;
  /** Live frames, in order, each once. */
  frames(frames: RpcMessage[]): void;
  state(state: FeedState): void;
}

/** Transport problems: a fallback read would fail the same way. */
const TRANSPORT = new Set(["connection_lost", "anchor_offline", "anchor_not_found", "thread_anchor_mismatch", "timeout"]);

export class ThreadFeed {
  /** Frames held back while a snapshot loads; null when live. */
  private buffer: RpcMessage[] | null = [];
  private loadSeq = 0;
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
    try {
      const { thread, meta } = await this.fetch();
      if (seq !== this.loadSeq || this.stopped) return;
      this.handlers.snapshot(thread, meta);
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

  private async fetch(): Promise<{ thread: Thread; meta: ThreadMeta }> {
    try {
      const r = await resumeThread(this.conn, this.anchorId, this.threadId);
      return { thread: r.thread, meta: metaOf(r.thread, r.cwd, r.model) };
    } catch (e) {
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
    return { thread: r.thread, meta: metaOf(r.thread, r.thread.cwd, r.thread.model) };
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

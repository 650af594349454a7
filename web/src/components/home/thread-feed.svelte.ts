// One anchor's threads as Home shows them: the first page, more pages on request, and whether
// the last load failed. Kept by the anchor's card so "New thread" can offer recent folders.
import type { Thread } from "../../lib/codex/v2/Thread";
import { describeError, errorCode, type Requester } from "../../lib/rpc/helpers";
import { listThreads, mergePage } from "../../lib/rpc/threads";

export class ThreadFeed {
  threads = $state.raw<Thread[]>([]);
  nextCursor = $state<string | null>(null);
  /** True once a first page has arrived. */
  loaded = $state(false);
  loading = $state(false);
  loadingMore = $state(false);
  error = $state<string | null>(null);
  code = $state<string | null>(null);
  /** What failed last, so Retry does it again. */
  private failed: "reload" | "more" | null = null;
  private generation = 0;

  constructor(
    private readonly rq: Requester,
    readonly anchorId: string,
  ) {}

  /** Reads the first page again (the list may have changed anywhere). */
  async reload(): Promise<void> {
    const mine = ++this.generation;
    this.loading = true;
    this.loadingMore = false;
    this.error = this.code = null;
    try {
      const page = await listThreads(this.rq, this.anchorId);
      if (mine !== this.generation) return;
      this.threads = page.data;
      this.nextCursor = page.nextCursor;
      this.loaded = true;
    } catch (e) {
      if (mine === this.generation) this.fail(e, "reload");
    } finally {
      if (mine === this.generation) this.loading = false;
    }
  }

  /** Reads the next page and appends it. */
  async more(): Promise<void> {
    const cursor = this.nextCursor;
    if (!cursor || this.loading || this.loadingMore) return;
    const mine = this.generation;
    this.loadingMore = true;
    this.error = this.code = null;
    try {
      const page = await listThreads(this.rq, this.anchorId, cursor);
      if (mine !== this.generation) return;
      this.threads = mergePage(this.threads, page.data);
      this.nextCursor = page.nextCursor;
    } catch (e) {
      if (mine === this.generation) this.fail(e, "more");
    } finally {
      if (mine === this.generation) this.loadingMore = false;
    }
  }

  /** Does again what failed last. */
  retry(): Promise<void> {
    return this.failed === "more" && this.loaded ? this.more() : this.reload();
  }

  private fail(e: unknown, what: "reload" | "more"): void {
    this.failed = what;
    this.error = describeError(e);
    this.code = errorCode(e);
  }
}

// Which threads this client follows and the last `seq` it applied of each: what it asks Orbit to
// replay after a reconnect, and what it drops as already seen. No I/O: unit-tested.

export interface Subscription {
  threadId: string;
  /** The last `seq` applied, or null before the first `orbit.subscribed`. */
  lastSeq: number | null;
}

export class SeqTracker {
  private readonly threads = new Map<string, number | null>();

  /** Starts following a thread (no-op when already followed). */
  follow(threadId: string): void {
    if (!this.threads.has(threadId)) this.threads.set(threadId, null);
  }

  forget(threadId: string): void {
    this.threads.delete(threadId);
  }

  following(threadId: string): boolean {
    return this.threads.has(threadId);
  }

  /** What to send after (re)connecting: each thread, with the `seq` to replay after. */
  subscriptions(): Subscription[] {
    return [...this.threads].map(([threadId, lastSeq]) => ({ threadId, lastSeq }));
  }

  /**
   * A numbered frame of `threadId` arrived. True when it is new and should be applied; false
   * for a frame already applied (a replay overlapping what was seen) or a thread not followed.
   */
  accept(threadId: string, seq: number): boolean {
    if (!this.threads.has(threadId)) return false;
    const last = this.threads.get(threadId) ?? null;
    if (last !== null && seq <= last) return false;
    this.threads.set(threadId, seq);
    return true;
  }

  /**
   * `orbit.subscribed {seq, truncated}`: live delivery starts after `seq`. Returns true when
   * the client must reload the thread (the replay could not cover the gap).
   */
  subscribed(threadId: string, seq: number, truncated: boolean): boolean {
    if (!this.threads.has(threadId)) return false;
    const last = this.threads.get(threadId) ?? null;
    if (truncated || last === null || last < seq) {
      // Nothing missed can be replayed any more (or this is the first subscription): start
      // from Orbit's latest and let the caller read the thread afresh.
      this.threads.set(threadId, seq);
      return truncated || (last !== null && last < seq);
    }
    return false;
  }
}

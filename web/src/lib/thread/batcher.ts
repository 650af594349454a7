// Applies a thread's frames to the view at most once per animation frame. A model streams
// dozens of deltas a second and a replay after a reconnect can deliver thousands at once:
// applying each on arrival would re-render (and re-measure the list) each time.
//
// The first frame after a quiet spell is applied at once (in a microtask), so a lone delta
// reaches the screen without waiting up to a frame; frames that follow within the same frame
// are queued and applied together when the next animation frame comes. When the page is
// hidden the browser stops animation frames: a timer flushes instead, so the queue stays short.

export interface FrameClock {
  /** Runs `run` before the next paint (or soon, when there is none); returns a canceller. */
  nextFrame(run: () => void): () => void;
  /** Runs `run` after the current task. */
  soon(run: () => void): void;
}

/** Longest wait for an animation frame before flushing anyway (a hidden tab has none). */
export const HIDDEN_FLUSH_MS = 250;

export const browserClock: FrameClock = {
  nextFrame(run) {
    let done = false;
    const once = () => {
      if (done) return;
      done = true;
      cancelAnimationFrame(raf);
      clearTimeout(timer);
      run();
    };
    const raf = requestAnimationFrame(once);
    const timer = setTimeout(once, HIDDEN_FLUSH_MS);
    return () => {
      done = true;
      cancelAnimationFrame(raf);
      clearTimeout(timer);
    };
  },
  soon(run) {
    queueMicrotask(run);
  },
};

type Phase = "idle" | "leading" | "cooling";

export class FrameBatcher<T> {
  private queue: T[] = [];
  private phase: Phase = "idle";
  private cancel: (() => void) | null = null;

  constructor(
    private readonly flush: (items: T[]) => void,
    private readonly clock: FrameClock = browserClock,
  ) {}

  push(item: T): void {
    this.queue.push(item);
    if (this.phase !== "idle") return;
    // Quiet until now: apply right after this task, then hold further frames until the next
    // animation frame.
    this.phase = "leading";
    this.clock.soon(() => {
      if (this.phase !== "leading") return;
      this.drain();
      this.phase = "cooling";
      this.cancel = this.clock.nextFrame(() => this.frame(true));
    });
  }

  /** Frames waiting to be applied. */
  get pending(): number {
    return this.queue.length;
  }

  /** Applies what is queued now (e.g. before the view is torn down or reloaded). */
  flushNow(): void {
    this.drain();
  }

  /** Drops what is queued (a fresh snapshot replaces it). */
  clear(): void {
    this.queue = [];
  }

  stop(): void {
    this.cancel?.();
    this.cancel = null;
    this.queue = [];
    this.phase = "idle";
  }

  /** An animation frame. `afterLeading`: the frame in which the leading flush happened. */
  private frame(afterLeading: boolean): void {
    this.cancel = null;
    if (this.queue.length === 0) {
      this.phase = "idle";
      return;
    }
    // Right after a leading flush the queue waits one more frame: at most one flush per frame.
    if (!afterLeading) this.drain();
    this.cancel = this.clock.nextFrame(() => this.frame(false));
  }

  private drain(): void {
    if (this.queue.length === 0) return;
    const items = this.queue;
    this.queue = [];
    this.flush(items);
  }
}

// Applies a thread's frames to the view, a bounded number of times per animation frame. A model
// streams dozens of deltas a second and a replay after a reconnect can deliver thousands at
// once: applying each on arrival would re-render (and re-measure the list) each time.
//
// Frames are applied right after the task that delivered them, a few times per animation frame
// (IMMEDIATE_PER_FRAME), so a streamed delta reaches the DOM without waiting for a frame; past
// that budget they are queued and applied together at the next animation frame. When the page
// is hidden the browser stops animation frames: a timer stands in, so the queue stays short.

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

/**
 * Flushes applied as frames arrive between two animation frames; past this, frames wait for the
 * next animation frame and go in together. A model's steady stream (200 deltas/s is about three
 * per frame at 60 Hz) stays within it and reaches the DOM with no added delay; a replay of
 * thousands after a reconnect exceeds it at once and costs one update per frame.
 */
export const IMMEDIATE_PER_FRAME = 4;

export class FrameBatcher<T> {
  private queue: T[] = [];
  /** Flushes since the last animation frame. */
  private flushesThisFrame = 0;
  /** A flush is due after the current task. */
  private micro = false;
  /** The queue waits for the next animation frame. */
  private deferred = false;
  /** The next animation frame is awaited (to flush, or to reset the count). */
  private cancel: (() => void) | null = null;

  constructor(
    private readonly flush: (items: T[]) => void,
    private readonly clock: FrameClock = browserClock,
  ) {}

  push(item: T): void {
    this.queue.push(item);
    if (this.micro || this.deferred) return;
    if (this.flushesThisFrame < IMMEDIATE_PER_FRAME) {
      // Right after this task, so frames delivered in one task go in one flush.
      this.micro = true;
      this.clock.soon(() => {
        if (!this.micro) return;
        this.micro = false;
        this.flushesThisFrame++;
        this.drain();
        this.awaitFrame();
      });
    } else {
      this.deferred = true;
      this.awaitFrame();
    }
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
    this.micro = false;
    this.deferred = false;
    this.flushesThisFrame = 0;
  }

  private awaitFrame(): void {
    this.cancel ??= this.clock.nextFrame(() => this.frame());
  }

  private frame(): void {
    this.cancel = null;
    this.flushesThisFrame = 0;
    if (!this.deferred) return;
    this.deferred = false;
    this.flushesThisFrame = 1;
    this.drain();
    this.awaitFrame();
  }

  private drain(): void {
    if (this.queue.length === 0) return;
    const items = this.queue;
    this.queue = [];
    this.flush(items);
  }
}

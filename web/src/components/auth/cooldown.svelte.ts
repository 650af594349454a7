// A live countdown to the end of a rate limit (429 with Retry-After): buttons stay disabled
// while it runs. It counts from a deadline, not by decrementing, so a throttled background tab
// shows the right time when it comes back.

export class Cooldown {
  /** Whole seconds left; 0 once it is over. */
  left = $state(0);
  #until = 0;
  #timer: ReturnType<typeof setInterval> | null = null;

  /** Whether the wait is still on. */
  get active(): boolean {
    return this.left > 0;
  }

  /** Starts (or extends) a wait of `seconds`. */
  start(seconds: number): void {
    this.#until = Math.max(this.#until, Date.now() + Math.max(0, seconds) * 1000);
    this.#tick();
    if (this.left > 0 && !this.#timer) this.#timer = setInterval(() => this.#tick(), 250);
  }

  /** Ends the wait now (and its timer: call it when the component goes away). */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#until = 0;
    this.left = 0;
  }

  #tick(): void {
    const left = Math.max(0, Math.ceil((this.#until - Date.now()) / 1000));
    if (left !== this.left) this.left = left;
    if (left === 0) this.stop();
  }
}

// One value loaded from an anchor, with its error and a way to load it again. Only the latest
// load counts: an answer to an older one (the user moved on) is dropped.
import { describeError, errorCode } from "../../lib/rpc/helpers";

export class Loader<T> {
  /** Replaced whole, never mutated: no deep proxy over possibly large answers. */
  value = $state.raw<T | null>(null);
  loading = $state(false);
  /** What went wrong, in words. */
  error = $state<string | null>(null);
  /** The request's error code (`anchor_offline`, `not_a_repository`, …), if any. */
  code = $state<string | null>(null);
  private generation = 0;

  /** Loads with `fetch`; keeps the old value while loading unless `clear`. */
  async run(fetch: () => Promise<T>, clear = false): Promise<boolean> {
    const mine = ++this.generation;
    this.loading = true;
    this.error = null;
    this.code = null;
    if (clear) this.value = null;
    try {
      const value = await fetch();
      if (mine !== this.generation) return false;
      this.value = value;
      return true;
    } catch (e) {
      if (mine !== this.generation) return false;
      this.error = describeError(e);
      this.code = errorCode(e);
      return false;
    } finally {
      if (mine === this.generation) this.loading = false;
    }
  }

  /** Forgets everything; a load in flight is ignored when it ends. */
  reset(): void {
    this.generation++;
    this.value = null;
    this.loading = false;
    this.error = null;
    this.code = null;
  }
}

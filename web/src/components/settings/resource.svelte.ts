// What a settings section loads: its data, or why it could not, and a way to load it again
// after a change. Each section has its own, so one failing does not blank the page.

export class Resource<T> {
  data: T | null = $state.raw(null);
  error: unknown = $state.raw(null);
  loading = $state(false);
  #fetch: () => Promise<T>;
  #generation = 0;

  constructor(fetch: () => Promise<T>) {
    this.#fetch = fetch;
  }

  /** Loads (again); a later call wins over an earlier one still under way. */
  async load(): Promise<void> {
    const mine = ++this.#generation;
    this.loading = true;
    try {
      const data = await this.#fetch();
      if (mine === this.#generation) {
        this.data = data;
        this.error = null;
      }
    } catch (e) {
      if (mine === this.#generation) this.error = e;
    } finally {
      if (mine === this.#generation) this.loading = false;
    }
  }
}

// The unsent message of each thread, kept in localStorage so that a reload, a crash or a phone
// that dropped the tab does not lose it. Keyed by thread id; cleared once the message is sent.
// Images are not kept (too large for localStorage, and cheap to attach again).

const PREFIX = "orbit.draft.";
/** Drafts untouched this long are forgotten, so storage does not fill with old threads. */
export const DRAFT_MAX_AGE_MS = 30 * 24 * 60 * 60 * 1000;
/** Longest draft kept (localStorage holds about 5 MB per origin, shared by every thread). */
export const DRAFT_MAX_CHARS = 100_000;

interface Stored {
  text: string;
  at: number;
}

export class Drafts {
  constructor(
    private readonly storage: Storage | null = defaultStorage(),
    private readonly now: () => number = Date.now,
  ) {}

  get(threadId: string): string {
    const raw = this.read(PREFIX + threadId);
    if (!raw) return "";
    try {
      const stored = JSON.parse(raw) as Partial<Stored>;
      return typeof stored.text === "string" ? stored.text : "";
    } catch {
      return "";
    }
  }

  /** Saves the draft (an empty one is removed). */
  set(threadId: string, text: string): void {
    if (!text.trim()) {
      this.clear(threadId);
      return;
    }
    const stored: Stored = { text: text.slice(0, DRAFT_MAX_CHARS), at: this.now() };
    try {
      this.storage?.setItem(PREFIX + threadId, JSON.stringify(stored));
    } catch {
      // Storage full or forbidden (private mode): the draft lives only in the page.
    }
  }

  clear(threadId: string): void {
    try {
      this.storage?.removeItem(PREFIX + threadId);
    } catch {
      // as above
    }
  }

  /** Forgets drafts older than DRAFT_MAX_AGE_MS. */
  prune(): void {
    if (!this.storage) return;
    const old: string[] = [];
    try {
      for (let i = 0; i < this.storage.length; i++) {
        const key = this.storage.key(i);
        if (!key?.startsWith(PREFIX)) continue;
        if (this.expired(this.read(key))) old.push(key);
      }
    } catch {
      return;
    }
    for (const key of old) this.storage.removeItem(key);
  }

  private expired(raw: string | null): boolean {
    try {
      const at = (JSON.parse(raw ?? "{}") as Partial<Stored>).at;
      return typeof at !== "number" || this.now() - at > DRAFT_MAX_AGE_MS;
    } catch {
      return true;
    }
  }

  private read(key: string): string | null {
    try {
      return this.storage?.getItem(key) ?? null;
    } catch {
      return null;
    }
  }
}

function defaultStorage(): Storage | null {
  try {
    return typeof localStorage === "undefined" ? null : localStorage;
  } catch {
    return null;
  }
}

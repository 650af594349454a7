// Code highlighting, loaded lazily: the first code block asks for highlight.js; until it has
// arrived, code shows plain, and every renderer that showed plain code is told to render it
// again once (see `onHighlighter`).

/** The part of highlight.js used here. */
export interface Highlighter {
  getLanguage(name: string): unknown;
  highlight(code: string, options: { language: string; ignoreIllegals?: boolean }): { value: string };
}

let loaded: Highlighter | null = null;
let loading: Promise<Highlighter | null> | null = null;
const waiting = new Set<() => void>();

/** highlight.js when it has been loaded, else null (and loading starts). */
export function highlighter(): Highlighter | null {
  if (!loaded) void loadHighlighter();
  return loaded;
}

export function loadHighlighter(): Promise<Highlighter | null> {
  loading ??= import("./languages")
    .then((m) => {
      loaded = m.default;
      for (const ready of [...waiting]) ready();
      waiting.clear();
      return loaded;
    })
    .catch(() => {
      // Offline or the chunk is gone (a new deployment): code stays plain, and a later block
      // tries again.
      loading = null;
      return null;
    });
  return loading;
}

/** Calls `ready` once highlight.js has arrived (never, if it already had). */
export function onHighlighter(ready: () => void): () => void {
  if (loaded) return () => {};
  waiting.add(ready);
  return () => waiting.delete(ready);
}

/** For tests: use this highlighter (or none) from now on. */
export function setHighlighterForTests(h: Highlighter | null): void {
  loaded = h;
  loading = h ? Promise.resolve(h) : null;
}

/** The highlighted HTML of `code` in `lang`, or null when the language is not known (yet). */
export function highlightCode(code: string, lang: string): string | null {
  const name = lang.trim().split(/\s+/)[0]?.toLowerCase() ?? "";
  if (!name) return null;
  const h = highlighter();
  if (!h || !h.getLanguage(name)) return null;
  return h.highlight(code, { language: name, ignoreIllegals: true }).value;
}

// A file change as a unified diff diff2html can read. codex's `changes[].diff` is not always one:
// for an added file it is the new content, for a deleted file the old content, for an update the
// hunks (`@@ … @@`) without the `---`/`+++` header. Pure; diff2html itself loads lazily
// (diffHtml.ts).
import type { FileChange } from "../state/transcript";

/** A complete unified diff (with headers) for one file change. */
export function toUnifiedDiff(change: FileChange): string {
  const diff = change.diff;
  if (/^(?:diff --git |--- )/m.test(diff)) return diff;
  const path = relative(change.path);
  const to = relative(change.movePath ?? change.path);
  if (change.change === "add") return `--- /dev/null\n+++ b/${path}\n${hunkOf(diff, "+")}`;
  if (change.change === "delete") return `--- a/${path}\n+++ /dev/null\n${hunkOf(diff, "-")}`;
  const header = `--- a/${path}\n+++ b/${to}\n`;
  if (/^@@ /m.test(diff)) return header + diff.slice(diff.search(/^@@ /m));
  // An update without hunks (a pure move, or a shape this client does not know): nothing to show
  // as lines.
  return header;
}

/** Lines added and removed. */
export function diffStats(unified: string): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const line of unified.split("\n")) {
    if (line.startsWith("+++") || line.startsWith("---")) continue;
    if (line.startsWith("+")) added++;
    else if (line.startsWith("-")) removed++;
  }
  return { added, removed };
}

/** How many lines a diff has: large ones start folded. */
export function lineCount(text: string): number {
  if (!text) return 0;
  let n = 1;
  for (let i = text.indexOf("\n"); i >= 0 && i < text.length - 1; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

function hunkOf(content: string, sign: "+" | "-"): string {
  if (!content) return "";
  const lines = content.endsWith("\n") ? content.slice(0, -1).split("\n") : content.split("\n");
  const range = `${sign === "+" ? "-0,0 +1" : "-1"},${lines.length}${sign === "+" ? "" : " +0,0"}`;
  const noNewline = content.endsWith("\n") ? "" : "\n\\ No newline at end of file";
  return `@@ ${range} @@\n${lines.map((l) => sign + l).join("\n")}${noNewline}\n`;
}

/** A path for the diff header: as it is, without a leading slash (diff2html strips `a/`, `b/`). */
function relative(path: string): string {
  return path.replace(/^\/+/, "");
}

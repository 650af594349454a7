// A command's output as the transcript shows it: the last lines while it is long (with "show
// all"), ANSI colours as classes (ansi_up; the Content-Security-Policy forbids inline styles,
// and the sanitizer drops what ansi_up would put there: bold, 24-bit colours), or as plain text.
import { AnsiUp } from "ansi_up";

import { sanitizeHtml } from "../markdown/sanitize";

/** Lines shown of a long output until "show all". */
export const FOLDED_LINES = 40;
/** Most characters ever put on screen for one output (the rest stays in the item). */
export const MAX_SHOWN_CHARS = 256 * 1024;

export interface Folded {
  text: string;
  /** Lines left out above. */
  hidden: number;
  total: number;
}

/** The last `keep` lines of `output` (a trailing newline does not count as a line). */
export function foldOutput(output: string, keep: number = FOLDED_LINES): Folded {
  const body = output.endsWith("\n") ? output.slice(0, -1) : output;
  if (!body) return { text: "", hidden: 0, total: 0 };
  // Count from the end: a huge output is not split whole on every update.
  let cut = body.length;
  let seen = 0;
  while (seen < keep) {
    const i = body.lastIndexOf("\n", cut - 1);
    if (i < 0) {
      cut = 0;
      break;
    }
    cut = i;
    seen++;
  }
  const text = cut === 0 ? body : body.slice(cut + 1);
  const total = countLines(body);
  return { text: capStart(text), hidden: total - countLines(text), total };
}

/** The whole output, capped (from the start) at MAX_SHOWN_CHARS. */
export function fullOutput(output: string): string {
  return capStart(output.endsWith("\n") ? output.slice(0, -1) : output);
}

// Control Sequence Introducer and Operating System Command sequences (colours, titles, links).
const ANSI = /\u001b(?:\[[0-?]*[ -/]*[@-~]|\][^\u0007\u001b]*(?:\u0007|\u001b\\)|[@-Z\\-_])/g;

export function hasAnsi(text: string): boolean {
  return text.includes("\u001b");
}

export function stripAnsi(text: string): string {
  return text.replace(ANSI, "");
}

/** HTML with the colours as `ansi-*` classes; safe to insert. */
export function ansiToHtml(text: string): string {
  const au = new AnsiUp();
  au.use_classes = true;
  au.escape_html = true;
  // No links from a program's output.
  au.url_allowlist = {};
  return sanitizeHtml(au.ansi_to_html(text), "ansi");
}

function countLines(text: string): number {
  if (!text) return 0;
  let n = 1;
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

function capStart(text: string): string {
  if (text.length <= MAX_SHOWN_CHARS) return text;
  const cut = text.indexOf("\n", text.length - MAX_SHOWN_CHARS);
  return text.slice(cut < 0 ? text.length - MAX_SHOWN_CHARS : cut + 1);
}

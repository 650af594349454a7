// diff2html, loaded on demand (its own chunk, with its stylesheet) the first time a diff is
// shown. Class-based output only — the Content-Security-Policy forbids inline styles — and
// sanitized like everything else that comes from a model.
import type { ColorSchemeType } from "diff2html/lib/types";

import { sanitizeHtml } from "../markdown/sanitize";

type Diff2Html = typeof import("diff2html");

let module: Promise<Diff2Html> | null = null;

function load(): Promise<Diff2Html> {
  module ??= Promise.all([import("diff2html"), import("diff2html/bundles/css/diff2html.min.css")])
    .then(([m]) => m)
    .catch((e: unknown) => {
      module = null;
      throw e;
    });
  return module;
}

/** Diffs longer than this are shown only on request (diff2html's table gets slow to lay out). */
export const LARGE_DIFF_LINES = 3000;

/** The HTML of a unified diff: line by line (phones are narrow), colours following the system. */
export async function renderDiff(unified: string): Promise<string> {
  const { html } = await load();
  const out = html(unified, {
    outputFormat: "line-by-line",
    drawFileList: false,
    matching: "lines",
    diffStyle: "word",
    // A string enum in diff2html's types; the value is the string.
    colorScheme: "auto" as unknown as ColorSchemeType,
    renderNothingWhenEmpty: false,
  });
  return sanitizeHtml(out, "diff");
}

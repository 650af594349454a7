// Unified diff → HTML, by diff2html, sanitised. Loaded on demand (it and its CSS are a chunk of
// their own). The page's Content-Security-Policy forbids inline styles: diff2html's line-by-line
// output is class-based and its stylesheet comes as a file; the sanitiser also drops any `style`
// attribute or element, so even a change to diff2html could not restyle the page, and nothing
// from the diff (file names, lines) can become markup or script.
import { html } from "diff2html";
import { ColorSchemeType } from "diff2html/lib-esm/types";
import DOMPurify from "dompurify";
import "diff2html/bundles/css/diff2html.min.css";

export function renderDiffHtml(diff: string): string {
  const raw = html(diff, {
    // One column: side by side does not fit a phone.
    outputFormat: "line-by-line",
    drawFileList: false,
    matching: "lines",
    diffStyle: "word",
    // Follows the system's light or dark mode, as the rest of the page does.
    colorScheme: ColorSchemeType.AUTO,
    renderNothingWhenEmpty: false,
  });
  return DOMPurify.sanitize(raw, {
    FORBID_ATTR: ["style"],
    // The "Viewed" checkbox only works with diff2html's UI script, which is not loaded.
    FORBID_TAGS: ["style", "input", "form"],
  });
}

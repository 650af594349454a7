// Markdown to safe HTML: marked (GFM) with the model's raw HTML shown as text, code highlighted
// once highlight.js has loaded, images as links (the Content-Security-Policy would block them
// anyway), then DOMPurify. `lexBlocks` + `renderBlocks` are the two halves the streaming
// renderer uses to render one top-level block at a time.
import { Marked, type Links, type Token, type Tokens } from "marked";

import { highlightCode } from "./highlight";
import { sanitizeHtml } from "./sanitize";

export interface MarkdownOptions {
  /** A single newline is a line break (what people typing a message expect); off for the model. */
  breaks?: boolean;
}

const instances = new Map<boolean, Marked>();

function instance(breaks: boolean): Marked {
  let m = instances.get(breaks);
  if (m) return m;
  m = new Marked({ gfm: true, breaks, async: false });
  m.use({
    renderer: {
      // Raw HTML from the model (or a person) is shown, never interpreted.
      html(token: Tokens.HTML | Tokens.Tag): string {
        const text = escapeHtml(token.text);
        return "block" in token && token.block ? `<p>${text.replace(/\n+$/, "")}</p>\n` : text;
      },
      code(token: Tokens.Code): string | false {
        const highlighted = token.lang ? highlightCode(token.text, token.lang) : null;
        if (highlighted === null) return false;
        const lang = escapeHtml(token.lang?.trim().split(/\s+/)[0] ?? "");
        return `<pre><code class="hljs language-${lang}">${highlighted}</code></pre>\n`;
      },
      image(token: Tokens.Image): string {
        const label = escapeHtml(token.text || token.href);
        return `<a href="${escapeHtml(token.href)}">[image: ${label}]</a>`;
      },
      checkbox(token: Tokens.Checkbox): string {
        return token.checked ? "☑ " : "☐ ";
      },
    },
  });
  instances.set(breaks, m);
  return m;
}

/**
 * The top-level blocks of `src`, with reference definitions already known (`links`, from
 * earlier blocks) resolved. New definitions found in `src` are added to `links`.
 */
export function lexBlocks(src: string, links: Links, options: MarkdownOptions = {}): Token[] {
  const m = instance(options.breaks ?? false);
  const lexer = new m.Lexer(m.defaults);
  Object.assign(lexer.tokens.links, links);
  const tokens = lexer.lex(src);
  Object.assign(links, tokens.links);
  return tokens;
}

/** Sanitized HTML of some top-level blocks. */
export function renderBlocks(tokens: Token[], options: MarkdownOptions = {}): string {
  if (tokens.every((t) => t.type === "space" || t.type === "def")) return "";
  return sanitizeHtml(instance(options.breaks ?? false).parser(tokens));
}

/** Sanitized HTML of a whole Markdown text, at once. */
export function renderMarkdown(text: string, options: MarkdownOptions = {}): string {
  return renderBlocks(lexBlocks(normalizeNewlines(text), {}, options), options);
}

/** marked reads `\r\n` and `\r` as `\n`; doing it first keeps token lengths true to the text. */
export function normalizeNewlines(text: string): string {
  return text.includes("\r") ? text.replace(/\r\n?/g, "\n") : text;
}

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

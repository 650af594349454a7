import type { Token } from "marked";
import { afterEach, describe, expect, it } from "vitest";

import { setHighlighterForTests, type Highlighter } from "../src/lib/markdown/highlight";
import { renderBlocks, renderMarkdown } from "../src/lib/markdown/render";
import { StreamingMarkdown } from "../src/lib/markdown/stream";

const html = (s: StreamingMarkdown, text: string, done = false) =>
  s
    .update(text, done)
    .map((b) => b.html)
    .join("");

/** Documents with the block kinds whose extent depends on what follows them. */
const DOCS = [
  "# Title\n\nSome *text* here.\n\n1. one\n\n2. two\n3. three\n\nAfter the list.\n\n```ts\nconst x = 1;\n\nconst y = 2;\n```\n\nDone.",
  "para line one\nline two\n===\n\n- a\n- b\n\n  continued\n- c\n\n> quote\n> more\n\n> second quote\n\n    indented code\n\n    more code\n\ntext",
  "- [ ] task\n- [x] done\n\n***\n\nfoo\n---\n\nbar\n\n~~~\nfence\n~~~\n\n1) a\n2) b\n\n10. ten",
  "* a\n\n  * nested\n\n    deeper\n\n* b\n\nplain\n\n```\nunclosed fence\nstill",
  "Line with trailing spaces  \nnext\n\n\n\nmultiple blanks\n\n# h1 #\n## h2\ntext right after\n> bq\nlazy\n\n- x\n1. y",
  "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n\ntext after the table\r\nwith a CRLF",
];

/** Splits into deltas of varying size, like a model's. */
function deltas(text: string, seed: number): string[] {
  const out: string[] = [];
  let i = 0;
  let x = seed;
  while (i < text.length) {
    x = (x * 1103515245 + 12345) % 2147483648;
    const n = 1 + (x % 9);
    out.push(text.slice(i, i + n));
    i += n;
  }
  return out;
}

describe("block-wise streaming Markdown", () => {
  afterEach(() => setHighlighterForTests(null));

  // Hundreds of whole renders for comparison: slow under jsdom, fast in a browser.
  it("equals rendering the whole text at once, after every delta and at the end", { timeout: 30_000 }, () => {
    for (const doc of DOCS) {
      for (const seed of [1, 7, 42]) {
        const s = new StreamingMarkdown();
        let text = "";
        for (const d of deltas(doc, seed)) {
          text += d;
          expect(html(s, text), JSON.stringify(text)).toBe(renderMarkdown(text));
        }
        expect(html(s, text, true)).toBe(renderMarkdown(doc));
      }
    }
  });

  it("resolves reference links defined after their use once complete", () => {
    const doc = "See [the docs][d] and [x].\n\nMore text.\n\nAnd more.\n\n[d]: https://example.com/docs\n[x]: https://x.test \"T\"\n";
    const s = new StreamingMarkdown();
    let text = "";
    for (const d of deltas(doc, 3)) html(s, (text += d));
    const out = html(s, text, true);
    expect(out).toBe(renderMarkdown(doc));
    expect(out).toContain('href="https://example.com/docs"');
  });

  it("renders completed blocks once and only the open tail again", () => {
    const rendered: string[] = [];
    const s = new StreamingMarkdown({}, (tokens: Token[]) => {
      rendered.push(tokens.map((t) => t.raw).join(""));
      return renderBlocks(tokens);
    });
    s.update("First paragraph.\n\nSecond", false);
    s.update("First paragraph.\n\nSecond paragraph.\n\nThird", false);
    rendered.length = 0;
    // Three more deltas into the third paragraph: the first (frozen) is never rendered again,
    // the second (still open, unchanged) is not either; only the growing tail is.
    s.update("First paragraph.\n\nSecond paragraph.\n\nThird p", false);
    s.update("First paragraph.\n\nSecond paragraph.\n\nThird para", false);
    s.update("First paragraph.\n\nSecond paragraph.\n\nThird paragraph.", false);
    expect(rendered).toEqual(["Third p", "Third para", "Third paragraph."]);
    expect(rendered.some((r) => r.startsWith("First"))).toBe(false);
  });

  it("keeps the block objects of unchanged blocks, so the DOM is left alone", () => {
    const s = new StreamingMarkdown();
    const a = s.update("One.\n\nTwo.\n\nThree", false);
    const b = s.update("One.\n\nTwo.\n\nThree four", false);
    expect(b[0]).toBe(a[0]);
    expect(b[1]).toBe(a[1]);
    expect(b[2]).not.toBe(a[2]);
    expect(b.map((x) => x.key)).toEqual(a.map((x) => x.key));
  });

  it("starts over when the text is replaced rather than extended", () => {
    const s = new StreamingMarkdown();
    s.update("Alpha.\n\nBeta.\n\nGamma.\n\nDelta", false);
    expect(html(s, "Something else entirely.", true)).toBe(renderMarkdown("Something else entirely."));
  });

  it("renders code blocks again once highlight.js has loaded, and only those", () => {
    const s = new StreamingMarkdown();
    const text = "Intro.\n\n```js\nconst a = 1;\n```\n\nOutro.";
    const before = s.update(text, true);
    expect(before.map((b) => b.html).join("")).toContain('<code class="language-js">');
    const fake: Highlighter = {
      getLanguage: (name) => (name === "js" ? {} : undefined),
      highlight: (code) => ({ value: `<span class="hljs-keyword">${code.slice(0, 5)}</span>${code.slice(5)}` }),
    };
    setHighlighterForTests(fake);
    const after = s.highlightReady();
    expect(after[0]).toBe(before[0]);
    expect(after[1]?.html).toContain('<code class="hljs language-js"><span class="hljs-keyword">const</span>');
    expect(after[2]).toBe(before[2]);
  });
});

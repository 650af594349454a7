// Streaming Markdown, block by block. A message grows by deltas many times a second; rendering
// it whole on every delta costs O(length) per update and O(length²) per message, and replaces
// DOM the reader may be selecting. Instead the text is split into top-level blocks (marked's
// lexer tokens and their `raw` lengths): blocks that can no longer change are frozen — rendered
// once, their HTML kept — and only the open tail is lexed and rendered again on each update.
//
// When is a block final? Text is only ever appended, but a block's extent can depend on what
// follows it: a list continues after a blank line when the next line is another item
// (`1. a\n\n2` becomes `1. a\n\n2. b`), a paragraph turns into a heading when `===` follows,
// indented code swallows blank lines. A block followed by at least one other complete block is
// past all of these, so the last two blocks stay open and everything before them is frozen.
// When the message completes, its block boundaries are checked once against a lex of the whole
// text, so the final HTML always equals rendering the text at once.
import type { Links, Token } from "marked";

import { onHighlighter } from "./highlight";
import { lexBlocks, normalizeNewlines, renderBlocks, type MarkdownOptions } from "./render";

/** One top-level block as the view shows it. `key` is its position: stable while it grows. */
export interface Block {
  key: number;
  html: string;
}

interface Held {
  raw: string;
  html: string;
}

/** How many trailing content blocks stay open while the text is still growing. */
const OPEN_BLOCKS = 2;

export class StreamingMarkdown {
  /** Frozen blocks, in order; their HTML is final. */
  private frozen: Held[] = [];
  /** Length of the text the frozen blocks cover. */
  private frozenLength = 0;
  /** The open blocks as last rendered, by position after the frozen ones (to skip re-renders). */
  private open: Held[] = [];
  private text = "";
  private complete = false;
  private links: Links = {};
  private out: Block[] = [];
  private readonly render: (tokens: Token[]) => string;

  constructor(
    private readonly options: MarkdownOptions = {},
    render?: (tokens: Token[]) => string,
  ) {
    this.render = render ?? ((tokens) => renderBlocks(tokens, options));
  }

  /** The blocks of `text`; `complete` when no more will be appended. */
  update(input: string, complete: boolean): Block[] {
    const text = normalizeNewlines(input);
    if (text === this.text && complete === this.complete) return this.out;
    if (!text.startsWith(this.text.slice(0, this.frozenLength))) this.reset();
    const frozenBefore = this.frozen.length;
    this.text = text;
    this.complete = complete;

    const linkCount = Object.keys(this.links).length;
    // The open text's own definitions are used for it but remembered only once frozen: a
    // definition still being typed (`[x]: https://exa…`) must not stick.
    const tokens = lexBlocks(text.slice(this.frozenLength), { ...this.links }, this.options);
    const freeze = complete ? tokens.length : freezable(tokens);
    const open: Held[] = [];
    for (let i = 0; i < tokens.length; i++) {
      const token = tokens[i] as Token;
      // An open block whose text has not changed keeps its HTML: render it only when it did.
      const before = this.open[i];
      const held = before && before.raw === token.raw ? before : { raw: token.raw, html: this.render([token]) };
      if (i < freeze) {
        this.frozen.push(held);
        this.frozenLength += token.raw.length;
        if (token.type === "def") this.links[token.tag] ??= { href: token.href, title: token.title };
      } else {
        open.push(held);
      }
    }
    this.open = open;

    // A reference definition (`[x]: https://…`) in the new text changes how earlier blocks
    // render their `[x]` links (rare): render the frozen ones again.
    if (Object.keys(this.links).length !== linkCount && frozenBefore > 0) this.rerenderFrozen(frozenBefore);
    if (complete && frozenBefore > 0) this.verify();
    return this.publish();
  }

  /** Renders again the blocks holding code, once highlight.js has arrived. */
  highlightReady(): Block[] {
    const rerender = (h: Held) => {
      if (h.html.includes('<code class="language-')) h.html = this.renderRaw(h.raw);
    };
    this.frozen.forEach(rerender);
    this.open.forEach(rerender);
    return this.publish();
  }

  /** Calls `ready` when highlighting becomes available and this text has code to highlight. */
  whenHighlighterLoads(ready: () => void): () => void {
    return onHighlighter(ready);
  }

  private publish(): Block[] {
    const all = [...this.frozen, ...this.open];
    const before = new Map(this.out.map((b) => [b.key, b]));
    const out: Block[] = [];
    for (let i = 0; i < all.length; i++) {
      const h = all[i] as Held;
      if (!h.html) continue;
      // Keep the same object for an unchanged block, so a keyed list leaves its DOM alone.
      const prev = before.get(i);
      out.push(prev && prev.html === h.html ? prev : { key: i, html: h.html });
    }
    this.out = out;
    return out;
  }

  private renderRaw(raw: string): string {
    return this.render(lexBlocks(raw, { ...this.links }, this.options));
  }

  private rerenderFrozen(count: number): void {
    for (const h of this.frozen.slice(0, count)) if (h.raw.includes("[")) h.html = this.renderRaw(h.raw);
  }

  /**
   * The message is complete: check the frozen boundaries against the whole text's blocks and
   * rebuild from the first that differs. The heuristic makes this a no-op in practice; it is
   * what guarantees the end result.
   */
  private verify(): void {
    const whole = lexBlocks(this.text, {}, this.options);
    let i = 0;
    while (i < whole.length && i < this.frozen.length && whole[i]?.raw === this.frozen[i]?.raw) i++;
    if (i === whole.length && i === this.frozen.length) return;
    this.frozen = this.frozen.slice(0, i);
    for (const token of whole.slice(i)) this.frozen.push({ raw: token.raw, html: this.render([token]) });
    this.frozenLength = this.text.length;
    this.open = [];
  }

  private reset(): void {
    this.frozen = [];
    this.frozenLength = 0;
    this.open = [];
    this.links = {};
    this.out = [];
  }
}

/** How many leading tokens can be frozen while the text still grows. */
function freezable(tokens: Token[]): number {
  let content = 0;
  for (let i = tokens.length - 1; i >= 0; i--) {
    if (tokens[i]?.type === "space") continue;
    content++;
    if (content === OPEN_BLOCKS) return i;
  }
  return 0;
}

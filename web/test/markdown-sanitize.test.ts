import { describe, expect, it } from "vitest";

import { renderMarkdown } from "../src/lib/markdown/render";
import { sanitizeHtml } from "../src/lib/markdown/sanitize";
import { ansiToHtml } from "../src/lib/thread/output";

/** Parses HTML the way the view inserts it, to look at what would exist in the page. */
function dom(html: string): HTMLElement {
  const div = document.createElement("div");
  div.innerHTML = html;
  return div;
}

function inert(root: HTMLElement): void {
  expect(root.querySelector("script, iframe, object, embed, img, style, form")).toBeNull();
  for (const el of root.querySelectorAll("*")) {
    for (const attr of el.attributes) {
      expect(attr.name.startsWith("on"), `${el.tagName} ${attr.name}`).toBe(false);
      expect(attr.name).not.toBe("style");
    }
    const href = el.getAttribute("href");
    if (href !== null) expect(href).toMatch(/^(https?:|mailto:)/i);
  }
}

describe("model output is inert", () => {
  const payloads = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    '<p style="position:fixed;inset:0">cover</p>',
    '<svg onload="alert(1)"><circle r=1 /></svg>',
    "<iframe src=https://evil.test></iframe>",
    '<form action="https://evil.test"><input name=x></form>',
    "![tracker](https://evil.test/pixel.png)",
    '<div onclick="alert(1)" class="error">fake Orbit UI</div>',
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
  ];

  it.each(payloads)("Markdown %s renders as nothing that runs, loads or restyles", (payload) => {
    const root = dom(renderMarkdown(`Here: ${payload}\n\n${payload}\n`));
    inert(root);
  });

  it("shows the model's raw HTML as text", () => {
    const root = dom(renderMarkdown("<script>alert(1)</script>\n\nand <img src=x onerror=alert(1)> inline"));
    expect(root.textContent).toContain("<script>alert(1)</script>");
    expect(root.textContent).toContain("<img src=x onerror=alert(1)>");
  });

  it("also cleans HTML handed to the sanitizer directly", () => {
    const root = dom(
      sanitizeHtml('<p style="color:red" onmouseover="x()">a<script>b()</script><a href="javascript:c()">l</a><img src=x onerror=d()></p>'),
    );
    inert(root);
    expect(root.querySelector("p")?.textContent).toBe("al");
  });

  it("opens links in a new tab that cannot reach back", () => {
    const a = dom(renderMarkdown("[site](https://example.com)")).querySelector("a");
    expect(a?.getAttribute("href")).toBe("https://example.com");
    expect(a?.getAttribute("target")).toBe("_blank");
    expect(a?.getAttribute("rel")).toBe("noopener noreferrer");
  });

  it("keeps only Orbit's own class names", () => {
    const root = dom(sanitizeHtml('<code class="language-ts hljs error visually-hidden">x</code>'));
    expect(root.querySelector("code")?.className).toBe("language-ts hljs");
  });

  it("turns ANSI colours into classes, never inline styles", () => {
    const html = ansiToHtml("\u001b[31mred\u001b[0m \u001b[1mbold\u001b[0m \u001b[38;2;1;2;3mtrue\u001b[0m <b>x</b>");
    const root = dom(html);
    inert(root);
    expect(root.querySelector(".ansi-red-fg")?.textContent).toBe("red");
    expect(root.querySelector("b")).toBeNull();
    expect(root.textContent).toContain("<b>x</b>");
  });

  it("cleans diff2html output of anything but its own markup", () => {
    const root = dom(
      sanitizeHtml('<div class="d2h-wrapper" style="x"><table><tr><td class="d2h-code-line evil">a<img src=x onerror=y()></td></tr></table></div>', "diff"),
    );
    inert(root);
    expect(root.querySelector("td")?.className).toBe("d2h-code-line");
  });
});

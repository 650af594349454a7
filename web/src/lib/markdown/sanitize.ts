// Everything a model, a tool or a file puts on screen as HTML goes through here. Model output is
// untrusted: a `<script>`, an `onerror=`, a `javascript:` link or a `style` attribute must come out
// inert. The Content-Security-Policy (no inline script or style) is the second wall, not the first.
import DOMPurify, { type Config } from "dompurify";

/** What kind of HTML is being cleaned: each allows only the tags its renderer produces. */
export type Profile = "markdown" | "diff" | "ansi";

const MARKDOWN_TAGS = [
  "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "code", "span", "em",
  "strong", "del", "s", "a", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "sup",
  "sub", "kbd",
];

// diff2html's line-by-line output: tables and spans, plus the file icon (an inline SVG).
const DIFF_TAGS = [
  "div", "span", "table", "tbody", "tr", "td", "del", "ins", "svg", "path", "label", "input",
];

const CONFIGS: Record<Profile, Config> = {
  markdown: {
    ALLOWED_TAGS: MARKDOWN_TAGS,
    ALLOWED_ATTR: ["href", "title", "class", "start", "align"],
    // Only absolute web and mail links: no `javascript:`, `data:`, `vbscript:`, and no relative
    // links that would land inside Orbit.
    ALLOWED_URI_REGEXP: /^(?:https?:|mailto:)/i,
  },
  diff: {
    ALLOWED_TAGS: DIFF_TAGS,
    ALLOWED_ATTR: ["class", "viewBox", "d", "fill-rule", "width", "height", "version", "aria-hidden", "type", "title"],
    ALLOWED_URI_REGEXP: /^$/,
  },
  ansi: {
    ALLOWED_TAGS: ["span"],
    ALLOWED_ATTR: ["class"],
    ALLOWED_URI_REGEXP: /^$/,
  },
};

for (const config of Object.values(CONFIGS)) {
  Object.assign(config, {
    FORBID_ATTR: ["style"],
    FORBID_TAGS: ["style", "script", "iframe", "object", "embed", "form", "img", "math", "template"],
    ALLOW_DATA_ATTR: false,
    ALLOW_ARIA_ATTR: false,
    // Nothing from the content may name a form or window property (DOM clobbering).
    SANITIZE_DOM: true,
    SANITIZE_NAMED_PROPS: true,
    KEEP_CONTENT: true,
  } satisfies Config);
}

// Class names we produce ourselves; anything else in a `class` is dropped so content cannot dress
// itself up as Orbit's own interface.
const CLASS_ALLOWED: Record<Profile, RegExp> = {
  // highlight.js: `hljs`, `hljs-keyword`, and sub-scopes such as `function_`.
  markdown: /^(?:hljs(?:-[\w-]+)?|language-[\w+#.-]+|[a-z]+_)$/,
  diff: /^(?:d2h-[\w-]+|hljs(?:-[\w-]+)?)$/,
  ansi: /^ansi-[\w-]+$/,
};

type Purifier = ReturnType<typeof DOMPurify>;
const purifiers = new Map<Profile, Purifier>();

function purifier(profile: Profile): Purifier {
  let p = purifiers.get(profile);
  if (p) return p;
  // One instance per profile: hooks are per instance, and each profile has its own.
  p = DOMPurify(window);
  const allowed = CLASS_ALLOWED[profile];
  p.addHook("uponSanitizeAttribute", (_node, event) => {
    if (event.attrName === "class") {
      event.attrValue = event.attrValue.split(/\s+/).filter((c) => allowed.test(c)).join(" ");
      if (!event.attrValue) event.keepAttr = false;
    }
  });
  if (profile === "markdown") {
    p.addHook("afterSanitizeAttributes", (node) => {
      // Links leave Orbit in a new tab that cannot reach back to this one.
      if (node.tagName === "A" && node.hasAttribute("href")) {
        node.setAttribute("target", "_blank");
        node.setAttribute("rel", "noopener noreferrer");
      }
    });
  }
  purifiers.set(profile, p);
  return p;
}

/** `html`, with everything that could run, load or restyle removed. */
export function sanitizeHtml(html: string, profile: Profile = "markdown"): string {
  if (!html) return "";
  return purifier(profile).sanitize(html, CONFIGS[profile]);
}

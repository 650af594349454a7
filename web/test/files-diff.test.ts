import { describe, expect, it } from "vitest";

import { renderDiffHtml } from "../src/components/files/diff-render";

const DIFF = `diff --git a/src/a.ts b/src/a.ts
index 1111111..2222222 100644
--- a/src/a.ts
+++ b/src/a.ts
@@ -1,3 +1,4 @@
 const a = 1;
-const b = 2;
+const b = 3;
+const c = "<img src=x onerror=alert(1)>";
 export { a };
`;

function parse(html: string): HTMLElement {
  const div = document.createElement("div");
  div.innerHTML = html;
  return div;
}

describe("diff rendering", () => {
  it("renders a unified diff as class-based HTML, with no inline style anywhere", () => {
    const root = parse(renderDiffHtml(DIFF));
    expect(root.querySelector(".d2h-file-wrapper")).not.toBeNull();
    expect(root.querySelectorAll(".d2h-ins").length).toBeGreaterThan(0);
    expect(root.querySelectorAll(".d2h-del").length).toBeGreaterThan(0);
    expect(root.querySelectorAll("[style]")).toHaveLength(0);
    expect(root.querySelectorAll("style, script, input")).toHaveLength(0);
    expect(root.textContent).toContain("src/a.ts");
  });

  it("shows diff text as text, never as markup", () => {
    const root = parse(renderDiffHtml(DIFF));
    expect(root.querySelector("img")).toBeNull();
    expect(root.querySelectorAll("[onerror]")).toHaveLength(0);
    expect(root.textContent).toContain("<img src=x onerror=alert(1)>");
  });

  it("neutralises hostile file names", () => {
    const hostile = DIFF.replaceAll("src/a.ts", 'x"><svg onload=alert(1) style="color:red">.ts');
    const html = renderDiffHtml(hostile);
    const root = parse(html);
    expect(root.querySelectorAll("[onload]")).toHaveLength(0);
    expect(root.querySelectorAll("[style]")).toHaveLength(0);
  });

  it("follows the system's colour scheme", () => {
    expect(renderDiffHtml(DIFF)).toContain("d2h-auto-color-scheme");
  });
});

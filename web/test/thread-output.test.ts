import { describe, expect, it } from "vitest";

import { foldOutput, fullOutput, hasAnsi, MAX_SHOWN_CHARS, stripAnsi } from "../src/lib/thread/output";

describe("command output", () => {
  it("shows the last lines of a long output and says how many are hidden", () => {
    const output = Array.from({ length: 100 }, (_, i) => `line ${i + 1}`).join("\n") + "\n";
    const f = foldOutput(output, 40);
    expect(f.total).toBe(100);
    expect(f.hidden).toBe(60);
    expect(f.text.split("\n")).toHaveLength(40);
    expect(f.text.startsWith("line 61\n")).toBe(true);
    expect(f.text.endsWith("line 100")).toBe(true);
  });

  it("shows a short output whole", () => {
    expect(foldOutput("created\n")).toEqual({ text: "created", hidden: 0, total: 1 });
    expect(foldOutput("")).toEqual({ text: "", hidden: 0, total: 0 });
  });

  it("caps what is put on screen, keeping the end", () => {
    const huge = "x".repeat(MAX_SHOWN_CHARS) + "\nthe end";
    const shown = fullOutput(huge);
    expect(shown.length).toBeLessThanOrEqual(MAX_SHOWN_CHARS);
    expect(shown.endsWith("the end")).toBe(true);
  });

  it("knows and strips ANSI sequences", () => {
    expect(hasAnsi("\u001b[32mok\u001b[0m")).toBe(true);
    expect(stripAnsi("\u001b[1;32mok\u001b[0m \u001b]0;title\u0007done")).toBe("ok done");
  });
});

import { describe, expect, it } from "vitest";

import { diffStats, lineCount, toUnifiedDiff } from "../src/lib/thread/diff";

describe("file changes as unified diffs", () => {
  it("turns an added file's content (what codex sends) into a diff", () => {
    const d = toUnifiedDiff({ path: "/srv/project/patched.txt", change: "add", movePath: null, diff: "hello from apply_patch\n" });
    expect(d).toBe("--- /dev/null\n+++ b/srv/project/patched.txt\n@@ -0,0 +1,1 @@\n+hello from apply_patch\n");
    expect(diffStats(d)).toEqual({ added: 1, removed: 0 });
  });

  it("turns a deleted file's content into removed lines, marking a missing final newline", () => {
    const d = toUnifiedDiff({ path: "a.txt", change: "delete", movePath: null, diff: "one\ntwo" });
    expect(d).toBe("--- a/a.txt\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-one\n-two\n\\ No newline at end of file\n");
    expect(diffStats(d)).toEqual({ added: 0, removed: 2 });
  });

  it("adds headers to an update's hunks, and names a move's new path", () => {
    const hunks = "@@ -1,2 +1,2 @@\n a\n-b\n+c\n";
    expect(toUnifiedDiff({ path: "x.ts", change: "update", movePath: null, diff: hunks })).toBe(`--- a/x.ts\n+++ b/x.ts\n${hunks}`);
    expect(toUnifiedDiff({ path: "x.ts", change: "update", movePath: "y.ts", diff: hunks })).toContain("+++ b/y.ts\n@@");
  });

  it("leaves a diff that already has headers alone", () => {
    const git = "diff --git a/p b/p\n--- a/p\n+++ b/p\n@@ -1 +1 @@\n-x\n+y\n";
    expect(toUnifiedDiff({ path: "p", change: "update", movePath: null, diff: git })).toBe(git);
  });

  it("counts lines", () => {
    expect(lineCount("")).toBe(0);
    expect(lineCount("a")).toBe(1);
    expect(lineCount("a\nb\n")).toBe(2);
  });
});

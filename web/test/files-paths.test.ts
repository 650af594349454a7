import { describe, expect, it } from "vitest";

import {
  baseName,
  breadcrumbs,
  isUnder,
  joinPath,
  parentPath,
  relativeTo,
  trimSeparator,
} from "../src/lib/rpc/helpers";

describe("breadcrumbs", () => {
  it("starts at the root holding the path, one step per folder below it", () => {
    expect(breadcrumbs("/home/ada/src/orbit/web", ["/home/ada"])).toEqual([
      { label: "ada", path: "/home/ada" },
      { label: "src", path: "/home/ada/src" },
      { label: "orbit", path: "/home/ada/src/orbit" },
      { label: "web", path: "/home/ada/src/orbit/web" },
    ]);
  });

  it("is the root alone at the root, trailing separators or not", () => {
    expect(breadcrumbs("/home/ada/", ["/home/ada"])).toEqual([{ label: "ada", path: "/home/ada" }]);
    expect(breadcrumbs("/home/ada", ["/home/ada/"])).toEqual([{ label: "ada", path: "/home/ada" }]);
  });

  it("picks the innermost of several roots, and never a sibling with a longer name", () => {
    const roots = ["/srv", "/home/al", "/home/alice", "/home/alice/work"];
    expect(breadcrumbs("/home/alice/work/x", roots).map((c) => c.path)).toEqual(["/home/alice/work", "/home/alice/work/x"]);
    expect(breadcrumbs("/home/alice/docs", roots).map((c) => c.path)).toEqual(["/home/alice", "/home/alice/docs"]);
    expect(breadcrumbs("/srv/data", roots)[0]?.path).toBe("/srv");
  });

  it("has a root of / work", () => {
    expect(breadcrumbs("/etc/nginx", ["/"])).toEqual([
      { label: "/", path: "/" },
      { label: "etc", path: "/etc" },
      { label: "nginx", path: "/etc/nginx" },
    ]);
  });

  it("shows a path under no root as one step", () => {
    expect(breadcrumbs("/tmp/x", ["/home/ada"])).toEqual([{ label: "/tmp/x", path: "/tmp/x" }]);
    expect(breadcrumbs("", ["/home/ada"])).toEqual([]);
  });

  it("keeps Windows paths in their own form", () => {
    expect(breadcrumbs("C:\\Users\\ada\\code", ["C:\\Users\\ada"])).toEqual([
      { label: "ada", path: "C:\\Users\\ada" },
      { label: "code", path: "C:\\Users\\ada\\code" },
    ]);
  });
});

describe("path arithmetic", () => {
  it("joins, keeping absolute paths whole", () => {
    expect(joinPath("/home/ada", "src/main.rs")).toBe("/home/ada/src/main.rs");
    expect(joinPath("/home/ada/", "/etc/hosts")).toBe("/etc/hosts");
    expect(joinPath("/", "etc")).toBe("/etc");
    expect(joinPath("/home/ada", "")).toBe("/home/ada");
    expect(joinPath("C:\\Users\\ada", "notes.txt")).toBe("C:\\Users\\ada\\notes.txt");
    expect(joinPath("/a", "b/")).toBe("/a/b/");
  });

  it("compares by whole names", () => {
    expect(isUnder("/home/alice", "/home/al")).toBe(false);
    expect(isUnder("/home/al/x", "/home/al")).toBe(true);
    expect(isUnder("/home/al", "/home/al/")).toBe(true);
    expect(isUnder("/anything", "/")).toBe(true);
  });

  it("finds names, parents and relative paths", () => {
    expect(baseName("/home/ada/src/")).toBe("src");
    expect(baseName("/")).toBe("/");
    expect(parentPath("/home/ada/src")).toBe("/home/ada");
    expect(parentPath("/home")).toBe("/");
    expect(parentPath("/")).toBe("/");
    expect(parentPath("C:\\Users")).toBe("C:\\");
    expect(relativeTo("/repo/src/a.ts", "/repo")).toBe("src/a.ts");
    expect(relativeTo("/repo", "/repo")).toBe("");
    expect(relativeTo("/repository/a", "/repo")).toBeNull();
    expect(trimSeparator("/a/b//")).toBe("/a/b");
    expect(trimSeparator("/")).toBe("/");
  });
});

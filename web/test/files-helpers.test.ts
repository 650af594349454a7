import { describe, expect, it } from "vitest";

import { RequestError } from "../src/lib/conn/connection";
import {
  AnswerShapeError,
  changeLabel,
  changeLetter,
  describeError,
  fileView,
  gitDiff,
  gitLog,
  hasDiff,
  listDirs,
  parseAnchorInfo,
  parseFileRead,
  parseGitBranches,
  parseGitDiff,
  parseGitLog,
  parseGitStatus,
  parseListDirs,
  type GitStatusFile,
  type Requester,
} from "../src/lib/rpc/helpers";

// Answers as the anchor writes them (anchor/src/helpers/fs.rs, git.rs, info.rs).
const LIST_DIRS = {
  path: "/home/ada",
  parent: null,
  roots: ["/home/ada"],
  entries: [
    { name: ".config", path: "/home/ada/.config", hidden: true, isSymlink: false, isGitRepo: false },
    { name: "orbit", path: "/home/ada/orbit", hidden: false, isSymlink: false, isGitRepo: true },
  ],
  truncated: false,
};

const STATUS = {
  path: "/home/ada/orbit",
  root: "/home/ada/orbit",
  branch: "main",
  detached: false,
  upstream: "origin/main",
  ahead: 2,
  behind: 0,
  noCommits: false,
  files: [
    { path: "new.txt", origPath: "old.txt", index: "R", worktree: " ", kind: "tracked" },
    { path: "a b.txt", origPath: null, index: " ", worktree: "M", kind: "tracked" },
    { path: "u.txt", origPath: null, index: "?", worktree: "?", kind: "untracked" },
    { path: "c.txt", origPath: null, index: "U", worktree: "U", kind: "conflicted" },
    { path: "gone.txt", origPath: null, index: "D", worktree: " ", kind: "tracked" },
    { path: "added.txt", origPath: null, index: "A", worktree: "M", kind: "tracked" },
  ],
  clean: false,
  truncated: false,
};

describe("reading helper answers", () => {
  it("reads anchor.listDirs", () => {
    const r = parseListDirs(LIST_DIRS);
    expect(r.path).toBe("/home/ada");
    expect(r.parent).toBeNull();
    expect(r.entries[1]).toEqual(LIST_DIRS.entries[1]);
    expect(r.entries[0]?.hidden).toBe(true);
  });

  it("reads anchor.git.status", () => {
    const r = parseGitStatus(STATUS);
    expect(r).toMatchObject({ root: "/home/ada/orbit", branch: "main", upstream: "origin/main", ahead: 2 });
    expect(r.files).toHaveLength(6);
    expect(r.files[0]).toEqual(STATUS.files[0]);
    // Detached, no upstream: nulls stay nulls.
    const d = parseGitStatus({ ...STATUS, branch: null, detached: true, upstream: null, files: [] });
    expect(d.branch).toBeNull();
    expect(d.detached).toBe(true);
  });

  it("reads anchor.git.diff, log and branches", () => {
    expect(parseGitDiff({ path: "/r", root: "/r", file: null, base: "HEAD", diff: "", truncated: false })).toEqual({
      root: "/r",
      file: null,
      base: "HEAD",
      diff: "",
      truncated: false,
    });
    const log = parseGitLog({
      path: "/r",
      root: "/r",
      commits: [
        {
          hash: "a".repeat(40),
          shortHash: "aaaaaaa",
          author: "Ada",
          email: "ada@example.com",
          date: "2026-01-02T03:04:05+01:00",
          timestamp: 1767319445,
          parents: [],
          subject: "first commit",
        },
      ],
      truncated: true,
    });
    expect(log.commits[0]).toMatchObject({ subject: "first commit", timestamp: 1767319445, parents: [] });
    expect(log.truncated).toBe(true);
    const branches = parseGitBranches({
      path: "/r",
      root: "/r",
      current: "main",
      local: [
        { name: "feature", commit: "b".repeat(40), current: false, upstream: null, timestamp: 1 },
        { name: "main", commit: "c".repeat(40), current: true, upstream: "origin/main", timestamp: 2 },
      ],
      remote: [],
      truncated: false,
    });
    expect(branches.local.map((b) => b.name)).toEqual(["feature", "main"]);
    expect(branches.local[1]?.current).toBe(true);
  });

  it("reads anchor.file.read and anchor.info", () => {
    const f = parseFileRead({ path: "/r/a.txt", size: 6, encoding: "utf8", content: "hello\n", truncated: false });
    expect(f.content).toBe("hello\n");
    expect(() => parseFileRead({ ...f, encoding: "latin1" })).toThrow(AnswerShapeError);
    const info = parseAnchorInfo({
      anchorVersion: "0.1.0",
      codexVersion: null,
      uptimeSecs: 12,
      roots: ["/home/ada"],
      codexHome: "/home/ada/.codex",
      os: "linux",
      arch: "x86_64",
    });
    expect(info).toMatchObject({ codexVersion: null, roots: ["/home/ada"], os: "linux" });
  });

  it("refuses answers of another shape with a readable error", () => {
    expect(() => parseListDirs(null)).toThrow(/anchor.listDirs/);
    expect(() => parseListDirs({ ...LIST_DIRS, entries: "nope" })).toThrow(AnswerShapeError);
    expect(() => parseListDirs({ ...LIST_DIRS, entries: [{ path: "/x" }] })).toThrow(/`name`/);
    expect(() => parseGitStatus([])).toThrow(AnswerShapeError);
    expect(describeError(new AnswerShapeError("anchor.git.log", "x"))).toMatch(/may need updating/);
  });

  it("tolerates missing optional fields (older or newer anchors)", () => {
    const r = parseListDirs({ path: "/x", entries: [{ name: "a", path: "/x/a" }] });
    expect(r).toEqual({
      path: "/x",
      parent: null,
      roots: [],
      entries: [{ name: "a", path: "/x/a", hidden: false, isSymlink: false, isGitRepo: false }],
      truncated: false,
    });
    const s = parseGitStatus({ root: "/r", files: [{ path: "x", kind: "weird" }] });
    expect(s.files[0]).toMatchObject({ kind: "tracked", index: " ", worktree: " " });
  });
});

describe("calls", () => {
  function fake(answer: unknown): Requester & { calls: unknown[][] } {
    const calls: unknown[][] = [];
    return {
      calls,
      request<T>(method: string, params: Record<string, unknown>, options?: unknown): Promise<T> {
        calls.push([method, params, options]);
        return Promise.resolve(answer as T);
      },
    };
  }

  it("sends the helper's parameters to the chosen anchor", async () => {
    const rq = fake(LIST_DIRS);
    await listDirs(rq, "anc", null);
    await listDirs(rq, "anc", "/home/ada/orbit");
    expect(rq.calls[0]).toEqual(["anchor.listDirs", {}, { anchorId: "anc", timeoutMs: undefined }]);
    expect(rq.calls[1]?.[1]).toEqual({ path: "/home/ada/orbit" });

    const d = fake({ root: "/r", diff: "" });
    await gitDiff(d, "anc", "/r", "src/a.ts");
    await gitDiff(d, "anc", "/r");
    expect(d.calls.map((c) => c[1])).toEqual([{ path: "/r", file: "src/a.ts" }, { path: "/r" }]);

    const l = fake({ root: "/r", commits: [] });
    await gitLog(l, "anc", "/r", 20);
    expect(l.calls[0]?.[1]).toEqual({ path: "/r", limit: 20 });
  });

  it("rejects with the anchor's error as it came", async () => {
    const rq: Requester = {
      request: () => Promise.reject(new RequestError("not_a_repository", "not a git repository")),
    };
    await expect(listDirs(rq, "anc", "/x")).rejects.toMatchObject({ code: "not_a_repository" });
  });
});

describe("files and changes", () => {
  it("splits text into lines, a final newline ending the last one", () => {
    const base = { path: "/a", size: 10, encoding: "utf8" as const, truncated: false };
    expect(fileView({ ...base, content: "one\ntwo\n" })).toEqual({
      kind: "text",
      lines: ["one", "two"],
      truncated: false,
      size: 10,
    });
    expect(fileView({ ...base, content: "a\r\nb" })).toMatchObject({ lines: ["a", "b"] });
    expect(fileView({ ...base, size: 0, content: "" })).toMatchObject({ kind: "text", lines: [] });
    expect(fileView({ ...base, content: "\n" })).toMatchObject({ lines: [""] });
  });

  it("calls base64 and NUL-bearing files binary", () => {
    const base = { path: "/a", size: 4, truncated: false };
    expect(fileView({ ...base, encoding: "base64", content: "AAEC" })).toEqual({ kind: "binary", size: 4 });
    expect(fileView({ ...base, encoding: "utf8", content: "a\u0000b" })).toEqual({ kind: "binary", size: 4 });
  });

  it("keeps the truncated flag", () => {
    const v = fileView({ path: "/a", size: 1_000_000, encoding: "utf8", content: "x\ny", truncated: true });
    expect(v).toMatchObject({ kind: "text", truncated: true, size: 1_000_000 });
  });

  it("names each change", () => {
    const files = parseGitStatus(STATUS).files;
    expect(files.map(changeLabel)).toEqual(["renamed", "modified", "untracked", "conflicted", "deleted", "added"]);
    expect(files.map(changeLetter)).toEqual(["R", "M", "?", "!", "D", "A"]);
    expect(files.map(hasDiff)).toEqual([true, true, false, true, true, true]);
    const ignored: GitStatusFile = { path: "x", origPath: null, index: "!", worktree: "!", kind: "ignored" };
    expect(changeLabel(ignored)).toBe("ignored");
    expect(hasDiff(ignored)).toBe(false);
  });
});

describe("errors in words", () => {
  it("explains the codes a helper or Orbit answers with", () => {
    expect(describeError(new RequestError("anchor_offline", "x"))).toMatch(/offline/);
    expect(describeError(new RequestError("codex_exited", "x"))).toMatch(/Codex stopped/);
    expect(describeError(new RequestError("timeout", "x"))).toMatch(/in time/);
    expect(describeError(new RequestError("path_not_allowed", "x"))).toMatch(/outside/);
    expect(describeError(new RequestError("path_denied", "x"))).toMatch(/credentials or keys/);
    expect(describeError(new RequestError("not_a_regular_file", "x"))).toMatch(/not a regular file/);
    expect(describeError(new RequestError("connection_lost", "x"))).toMatch(/connection/);
    // Unknown codes fall back to the message the anchor or codex wrote.
    expect(describeError(new RequestError("rpc_error", "Invalid request: bad cwd"))).toBe("Invalid request: bad cwd");
    expect(describeError(new Error("boom"))).toBe("boom");
  });
});

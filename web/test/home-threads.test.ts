import { describe, expect, it } from "vitest";

import type { Requester } from "../src/lib/rpc/helpers";
import {
  APPROVAL_CHOICES,
  DEFAULT_APPROVAL,
  DEFAULT_SANDBOX,
  SANDBOX_CHOICES,
  filterThreads,
  listModels,
  listThreads,
  matchesQuery,
  mergePage,
  recentFolders,
  startParams,
  threadPreview,
  threadTime,
  threadTitle,
  type ThreadSummary,
} from "../src/lib/rpc/threads";

function t(over: Partial<ThreadSummary>): ThreadSummary {
  return { id: "t1", name: null, preview: "", cwd: "/home/ada/proj", updatedAt: 0, createdAt: 0, ...over };
}

/** A requester that records calls and answers from a queue. */
function fake(answers: unknown[]): Requester & { calls: [string, Record<string, unknown>, unknown][] } {
  const calls: [string, Record<string, unknown>, unknown][] = [];
  return {
    calls,
    request<T>(method: string, params: Record<string, unknown>, options?: unknown): Promise<T> {
      calls.push([method, params, options]);
      return Promise.resolve(answers.shift() as T);
    },
  };
}

describe("thread titles and previews", () => {
  it("uses the name when there is one, and the whole preview under it", () => {
    const th = t({ name: "  Fix the login bug ", preview: "Please look at\nthe login page" });
    expect(threadTitle(th)).toBe("Fix the login bug");
    expect(threadPreview(th)).toBe("Please look at the login page");
  });

  it("uses the preview's first non-empty line otherwise, and the rest as the preview", () => {
    const th = t({ preview: "\n  \nRefactor the parser  \nIt is too slow.\r\nAnd untested." });
    expect(threadTitle(th)).toBe("Refactor the parser");
    expect(threadPreview(th)).toBe("It is too slow. And untested.");
  });

  it("says untitled for an empty thread, and a blank name does not count", () => {
    expect(threadTitle(t({ name: "   ", preview: "" }))).toBe("Untitled thread");
    expect(threadPreview(t({ preview: "" }))).toBe("");
    expect(threadTitle(t({ name: "", preview: "hello" }))).toBe("hello");
  });

  it("cuts long text with an ellipsis", () => {
    const long = "word ".repeat(200);
    const title = threadTitle(t({ preview: long }));
    expect(title.length).toBeLessThanOrEqual(120);
    expect(title.endsWith("…")).toBe(true);
    const preview = threadPreview(t({ name: "n", preview: long }));
    expect(preview.length).toBeLessThanOrEqual(280);
    expect(preview.endsWith("…")).toBe(true);
  });

  it("dates a thread by its last update, in ms", () => {
    expect(threadTime(t({ updatedAt: 1_700_000_100, createdAt: 1_700_000_000 }))).toBe(1_700_000_100_000);
    expect(threadTime(t({ updatedAt: 0, createdAt: 1_700_000_000 }))).toBe(1_700_000_000_000);
  });
});

describe("searching threads", () => {
  const threads = [
    t({ id: "a", name: "Login bug", preview: "The form rejects passkeys", cwd: "/home/ada/web" }),
    t({ id: "b", preview: "Write the README\nfor the anchor", cwd: "/home/ada/orbit" }),
    t({ id: "c", preview: "Speed up the parser", cwd: "/srv/Parser" }),
  ];

  it("matches title, preview and working directory, case-insensitively", () => {
    expect(filterThreads(threads, "login").map((x) => x.id)).toEqual(["a"]);
    expect(filterThreads(threads, "PASSKEYS").map((x) => x.id)).toEqual(["a"]);
    expect(filterThreads(threads, "anchor").map((x) => x.id)).toEqual(["b"]);
    expect(filterThreads(threads, "orbit").map((x) => x.id)).toEqual(["b"]);
    expect(filterThreads(threads, "parser").map((x) => x.id)).toEqual(["c"]);
  });

  it("needs every word, in any order; an empty query matches all", () => {
    expect(filterThreads(threads, "  readme   orbit ").map((x) => x.id)).toEqual(["b"]);
    expect(filterThreads(threads, "readme web")).toEqual([]);
    expect(filterThreads(threads, "   ")).toHaveLength(3);
    expect(matchesQuery(threads[0]!, "")).toBe(true);
  });
});

describe("paging", () => {
  it("appends a page, keeping a thread that moved up in its first place", () => {
    const merged = mergePage([{ id: "1" }, { id: "2" }], [{ id: "2" }, { id: "3" }, { id: "3" }]);
    expect(merged.map((x) => x.id)).toEqual(["1", "2", "3"]);
  });

  it("asks codex for the most recently updated first, with the cursor", async () => {
    const rq = fake([{ data: [], nextCursor: null, backwardsCursor: null }, { data: [], nextCursor: null }]);
    await listThreads(rq, "anc", null);
    await listThreads(rq, "anc", "cur-2");
    expect(rq.calls[0]).toEqual([
      "thread/list",
      { limit: 25, sortKey: "updated_at", sortDirection: "desc" },
      { anchorId: "anc" },
    ]);
    expect(rq.calls[1]?.[1]).toMatchObject({ cursor: "cur-2" });
  });

  it("offers the folders of recent threads, each once", () => {
    const list = [{ cwd: "/a" }, { cwd: "/b" }, { cwd: "/a" }, { cwd: "" }, { cwd: "/c" }];
    expect(recentFolders(list)).toEqual(["/a", "/b", "/c"]);
    expect(recentFolders(list, 2)).toEqual(["/a", "/b"]);
  });
});

describe("starting a thread", () => {
  it("defaults to on-request and workspace-write, listed first", () => {
    expect(DEFAULT_APPROVAL).toBe("on-request");
    expect(DEFAULT_SANDBOX).toBe("workspace-write");
    expect(APPROVAL_CHOICES.map((c) => c.value)).toEqual(["on-request", "untrusted", "never"]);
    expect(SANDBOX_CHOICES.map((c) => c.value)).toEqual(["workspace-write", "read-only", "danger-full-access"]);
    for (const c of [...APPROVAL_CHOICES, ...SANDBOX_CHOICES]) {
      expect(c.label).not.toBe("");
      expect(c.hint).not.toBe("");
    }
  });

  it("leaves the model out when codex's default is chosen", () => {
    expect(
      startParams({ cwd: "/p", model: null, approvalPolicy: "on-request", sandbox: "workspace-write" }),
    ).toEqual({ cwd: "/p", approvalPolicy: "on-request", sandbox: "workspace-write" });
    expect(startParams({ cwd: "/p", model: "gpt-x", approvalPolicy: "never", sandbox: "read-only" })).toEqual({
      cwd: "/p",
      model: "gpt-x",
      approvalPolicy: "never",
      sandbox: "read-only",
    });
  });

  it("lists the models codex shows, following the cursor", async () => {
    const m = (id: string, hidden = false) => ({ id, model: id, displayName: id.toUpperCase(), hidden });
    const rq = fake([
      { data: [m("a"), m("secret", true)], nextCursor: "n1" },
      { data: [m("b")], nextCursor: null },
    ]);
    const models = await listModels(rq, "anc");
    expect(models.map((x) => x.id)).toEqual(["a", "b"]);
    expect(rq.calls.map((c) => c[0])).toEqual(["model/list", "model/list"]);
    expect(rq.calls[1]?.[1]).toMatchObject({ cursor: "n1" });
    expect(rq.calls[0]?.[2]).toEqual({ anchorId: "anc" });
  });
});

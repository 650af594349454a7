// The anchor's own helper methods (`anchor.*`, docs/anchor.md): typed calls, the shapes of their
// answers (anchor/src/helpers/fs.rs, git.rs, info.rs), and the path arithmetic the screens need
// to walk the anchor's directories. Answers are checked as they arrive, because an anchor may be
// of another version than this page: a surprise becomes one readable error, not a broken screen.
import { RequestError, type RequestOptions } from "../conn/connection";

/** Anything that can send a JSON-RPC request to an anchor (the Orbit connection, or a fake). */
export interface Requester {
  request<T>(method: string, params: Record<string, unknown>, options?: RequestOptions): Promise<T>;
}

// ---- Answer shapes -----------------------------------------------------------------------------

/** One sub-directory in `anchor.listDirs`. */
export interface DirEntry {
  name: string;
  /** Its path as the anchor names it (not canonicalised: a symlink keeps its own name). */
  path: string;
  hidden: boolean;
  isSymlink: boolean;
  isGitRepo: boolean;
}

/** `anchor.listDirs {path?}`: the sub-directories of `path` (default: the first root). */
export interface ListDirsResult {
  /** The directory listed, canonical. */
  path: string;
  /** Its parent, when that is still inside a root. */
  parent: string | null;
  roots: string[];
  /** Sorted by name, case-insensitively; at most 1000. */
  entries: DirEntry[];
  truncated: boolean;
}

/** `kind` of a changed file in `anchor.git.status`. */
export type GitFileKind = "tracked" | "untracked" | "ignored" | "conflicted";

/** One line of `git status --porcelain=v1`; paths are relative to the repository's root. */
export interface GitStatusFile {
  path: string;
  /** The old path of a rename or copy. */
  origPath: string | null;
  /** The index (staged) column: one of ` MADRCU?!`. */
  index: string;
  /** The work-tree column. */
  worktree: string;
  kind: GitFileKind;
}

/** `anchor.git.status {path}`, for the repository that holds `path`. */
export interface GitStatusResult {
  root: string;
  /** null when detached. */
  branch: string | null;
  detached: boolean;
  upstream: string | null;
  ahead: number;
  behind: number;
  noCommits: boolean;
  files: GitStatusFile[];
  clean: boolean;
  truncated: boolean;
}

/** `anchor.git.diff {path, file?}`: staged and unstaged changes against `HEAD`. */
export interface GitDiffResult {
  root: string;
  /** The file asked for, canonical, or null for the whole repository. */
  file: string | null;
  /** `HEAD`, or the empty tree's hash in a repository without commits. */
  base: string;
  /** Unified diff text. */
  diff: string;
  truncated: boolean;
}

export interface GitCommit {
  hash: string;
  shortHash: string;
  author: string;
  email: string;
  /** ISO 8601, the author's own offset. */
  date: string;
  /** Seconds since the epoch. */
  timestamp: number | null;
  parents: string[];
  subject: string;
}

/** `anchor.git.log {path, limit?}`: newest first. */
export interface GitLogResult {
  root: string;
  commits: GitCommit[];
  /** More commits exist than `limit`. */
  truncated: boolean;
}

export interface GitBranch {
  name: string;
  commit: string;
  current: boolean;
  upstream: string | null;
  /** Committer date of its tip, seconds since the epoch. */
  timestamp: number | null;
}

/** `anchor.git.branches {path}`. */
export interface GitBranchesResult {
  root: string;
  current: string | null;
  local: GitBranch[];
  remote: GitBranch[];
  truncated: boolean;
}

/** `anchor.file.read {path, maxBytes?}`: UTF-8 text as is, anything else as base64. */
export interface FileReadResult {
  path: string;
  /** The whole file's size in bytes (the content may be shorter: `truncated`). */
  size: number;
  encoding: "utf8" | "base64";
  content: string;
  truncated: boolean;
}

/** `anchor.info`. */
export interface AnchorInfoResult {
  anchorVersion: string;
  codexVersion: string | null;
  uptimeSecs: number;
  roots: string[];
  codexHome: string;
  os: string;
  arch: string;
}

// ---- Reading answers ---------------------------------------------------------------------------

/** An answer that does not have the shape this page expects (an anchor of another version). */
export class AnswerShapeError extends Error {
  constructor(method: string, what: string) {
    super(`The anchor's answer to ${method} is not understood (${what}).`);
    this.name = "AnswerShapeError";
  }
}

type Obj = Record<string, unknown>;

/** Reads fields of one object, naming the method in every complaint. */
class Reader {
  constructor(
    private readonly method: string,
    private readonly o: Obj,
  ) {}

  static of(method: string, value: unknown, what = "answer"): Reader {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new AnswerShapeError(method, `${what} is not an object`);
    }
    return new Reader(method, value as Obj);
  }

  str(key: string): string {
    const v = this.o[key];
    if (typeof v !== "string") throw new AnswerShapeError(this.method, `\`${key}\` is not a string`);
    return v;
  }

  optStr(key: string): string | null {
    const v = this.o[key];
    return typeof v === "string" ? v : null;
  }

  /** Missing booleans read as false: newer fields may be absent from older anchors. */
  bool(key: string): boolean {
    return this.o[key] === true;
  }

  num(key: string, fallback = 0): number {
    const v = this.o[key];
    return typeof v === "number" && Number.isFinite(v) ? v : fallback;
  }

  optNum(key: string): number | null {
    const v = this.o[key];
    return typeof v === "number" && Number.isFinite(v) ? v : null;
  }

  strings(key: string): string[] {
    const v = this.o[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw new AnswerShapeError(this.method, `\`${key}\` is not a list`);
    return v.filter((s): s is string => typeof s === "string");
  }

  list<T>(key: string, item: (r: Reader) => T): T[] {
    const v = this.o[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw new AnswerShapeError(this.method, `\`${key}\` is not a list`);
    return v.map((x) => item(Reader.of(this.method, x, `an item of \`${key}\``)));
  }
}

export function parseListDirs(value: unknown): ListDirsResult {
  const r = Reader.of("anchor.listDirs", value);
  return {
    path: r.str("path"),
    parent: r.optStr("parent"),
    roots: r.strings("roots"),
    entries: r.list("entries", (e) => ({
      name: e.str("name"),
      path: e.str("path"),
      hidden: e.bool("hidden"),
      isSymlink: e.bool("isSymlink"),
      isGitRepo: e.bool("isGitRepo"),
    })),
    truncated: r.bool("truncated"),
  };
}

const FILE_KINDS: readonly GitFileKind[] = ["tracked", "untracked", "ignored", "conflicted"];

export function parseGitStatus(value: unknown): GitStatusResult {
  const r = Reader.of("anchor.git.status", value);
  return {
    root: r.str("root"),
    branch: r.optStr("branch"),
    detached: r.bool("detached"),
    upstream: r.optStr("upstream"),
    ahead: r.num("ahead"),
    behind: r.num("behind"),
    noCommits: r.bool("noCommits"),
    files: r.list("files", (f) => {
      const kind = f.optStr("kind");
      return {
        path: f.str("path"),
        origPath: f.optStr("origPath"),
        index: f.optStr("index") ?? " ",
        worktree: f.optStr("worktree") ?? " ",
        kind: FILE_KINDS.find((k) => k === kind) ?? "tracked",
      };
    }),
    clean: r.bool("clean"),
    truncated: r.bool("truncated"),
  };
}

export function parseGitDiff(value: unknown): GitDiffResult {
  const r = Reader.of("anchor.git.diff", value);
  return {
    root: r.str("root"),
    file: r.optStr("file"),
    base: r.optStr("base") ?? "HEAD",
    diff: r.str("diff"),
    truncated: r.bool("truncated"),
  };
}

export function parseGitLog(value: unknown): GitLogResult {
  const r = Reader.of("anchor.git.log", value);
  return {
    root: r.str("root"),
    commits: r.list("commits", (c) => ({
      hash: c.str("hash"),
      shortHash: c.optStr("shortHash") ?? c.str("hash").slice(0, 7),
      author: c.optStr("author") ?? "",
      email: c.optStr("email") ?? "",
      date: c.optStr("date") ?? "",
      timestamp: c.optNum("timestamp"),
      parents: c.strings("parents"),
      subject: c.optStr("subject") ?? "",
    })),
    truncated: r.bool("truncated"),
  };
}

function parseBranch(b: Reader): GitBranch {
  return {
    name: b.str("name"),
    commit: b.optStr("commit") ?? "",
    current: b.bool("current"),
    upstream: b.optStr("upstream"),
    timestamp: b.optNum("timestamp"),
  };
}

export function parseGitBranches(value: unknown): GitBranchesResult {
  const r = Reader.of("anchor.git.branches", value);
  return {
    root: r.str("root"),
    current: r.optStr("current"),
    local: r.list("local", parseBranch),
    remote: r.list("remote", parseBranch),
    truncated: r.bool("truncated"),
  };
}

export function parseFileRead(value: unknown): FileReadResult {
  const r = Reader.of("anchor.file.read", value);
  const encoding = r.str("encoding");
  if (encoding !== "utf8" && encoding !== "base64") {
    throw new AnswerShapeError("anchor.file.read", `unknown encoding ${JSON.stringify(encoding)}`);
  }
  return {
    path: r.str("path"),
    size: r.num("size"),
    encoding,
    content: r.str("content"),
    truncated: r.bool("truncated"),
  };
}

export function parseAnchorInfo(value: unknown): AnchorInfoResult {
  const r = Reader.of("anchor.info", value);
  return {
    anchorVersion: r.optStr("anchorVersion") ?? "",
    codexVersion: r.optStr("codexVersion"),
    uptimeSecs: r.num("uptimeSecs"),
    roots: r.strings("roots"),
    codexHome: r.optStr("codexHome") ?? "",
    os: r.optStr("os") ?? "",
    arch: r.optStr("arch") ?? "",
  };
}

// ---- Calls -------------------------------------------------------------------------------------

// git can take a while on a big repository (the anchor allows it 20 s); the rest is quick.
const GIT_TIMEOUT_MS = 45_000;

async function call<T>(
  rq: Requester,
  anchorId: string,
  method: string,
  params: Record<string, unknown>,
  parse: (v: unknown) => T,
  timeoutMs?: number,
): Promise<T> {
  return parse(await rq.request<unknown>(method, params, { anchorId, timeoutMs }));
}

/** Sub-directories of `path`, or of the anchor's first root when `path` is empty. */
export function listDirs(rq: Requester, anchorId: string, path?: string | null): Promise<ListDirsResult> {
  return call(rq, anchorId, "anchor.listDirs", path ? { path } : {}, parseListDirs);
}

export function gitStatus(rq: Requester, anchorId: string, path: string): Promise<GitStatusResult> {
  return call(rq, anchorId, "anchor.git.status", { path }, parseGitStatus, GIT_TIMEOUT_MS);
}

/** The diff of the repository holding `path`, or of one `file` (relative to the repository root). */
export function gitDiff(
  rq: Requester,
  anchorId: string,
  path: string,
  file?: string | null,
): Promise<GitDiffResult> {
  return call(rq, anchorId, "anchor.git.diff", file ? { path, file } : { path }, parseGitDiff, GIT_TIMEOUT_MS);
}

export function gitLog(rq: Requester, anchorId: string, path: string, limit?: number): Promise<GitLogResult> {
  const params = limit === undefined ? { path } : { path, limit };
  return call(rq, anchorId, "anchor.git.log", params, parseGitLog, GIT_TIMEOUT_MS);
}

export function gitBranches(rq: Requester, anchorId: string, path: string): Promise<GitBranchesResult> {
  return call(rq, anchorId, "anchor.git.branches", { path }, parseGitBranches, GIT_TIMEOUT_MS);
}

export function readFile(
  rq: Requester,
  anchorId: string,
  path: string,
  maxBytes?: number,
): Promise<FileReadResult> {
  const params = maxBytes === undefined ? { path } : { path, maxBytes };
  return call(rq, anchorId, "anchor.file.read", params, parseFileRead);
}

export function anchorInfo(rq: Requester, anchorId: string): Promise<AnchorInfoResult> {
  return call(rq, anchorId, "anchor.info", {}, parseAnchorInfo);
}

// ---- What a file holds ---------------------------------------------------------------------------

/** How to show a read file. */
export type FileView =
  | { kind: "text"; lines: string[]; truncated: boolean; size: number }
  | { kind: "binary"; size: number };

/**
 * Text becomes lines; base64 (not UTF-8) and text with NUL bytes (UTF-8, but not meant to be
 * read: object files, databases) are binary and not shown.
 */
export function fileView(file: FileReadResult): FileView {
  if (file.encoding !== "utf8" || file.content.includes("\u0000")) return { kind: "binary", size: file.size };
  let text = file.content;
  // A final newline ends the last line; it does not start another one.
  if (text.endsWith("\n")) text = text.slice(0, -1);
  const lines = text === "" && file.size === 0 ? [] : text.split(/\r?\n/);
  return { kind: "text", lines, truncated: file.truncated, size: file.size };
}

/** A change's status in words, from git's two columns. */
export function changeLabel(f: GitStatusFile): string {
  if (f.kind === "untracked") return "untracked";
  if (f.kind === "ignored") return "ignored";
  if (f.kind === "conflicted") return "conflicted";
  const codes = `${f.index}${f.worktree}`;
  if (codes.includes("R")) return "renamed";
  if (codes.includes("C")) return "copied";
  if (codes.includes("A")) return "added";
  if (codes.includes("D")) return "deleted";
  if (codes.includes("T")) return "type changed";
  return "modified";
}

/** One letter for a change (as `git status -s` shows), for the badge beside the file. */
export function changeLetter(f: GitStatusFile): string {
  if (f.kind === "untracked") return "?";
  if (f.kind === "conflicted") return "!";
  const code = f.index !== " " && f.index !== "?" ? f.index : f.worktree;
  return code.trim() || "M";
}

/** Whether the change has a diff against HEAD (an untracked file has none). */
export function hasDiff(f: GitStatusFile): boolean {
  return f.kind !== "untracked" && f.kind !== "ignored";
}

// ---- Paths on the anchor -------------------------------------------------------------------------
// The anchor sends canonical paths in its own platform's form: `/` on Unix, `\` on Windows. These
// helpers keep to whichever separator a path uses and never touch the file system.

/** The separator a path uses. */
export function separatorOf(path: string): "/" | "\\" {
  return path.includes("\\") && !path.includes("/") ? "\\" : "/";
}

function isRootPath(path: string): boolean {
  return path === "/" || /^[A-Za-z]:\\?$/.test(path) || /^\\\\\?\\[A-Za-z]:\\?$/.test(path);
}

/** A path without a trailing separator (except a file system root, which keeps it). */
export function trimSeparator(path: string): string {
  if (isRootPath(path)) return path;
  let p = path;
  while (p.length > 1 && (p.endsWith("/") || p.endsWith("\\"))) p = p.slice(0, -1);
  return p;
}

/** Whether a path is absolute, on Unix or Windows. */
export function isAbsolute(path: string): boolean {
  return path.startsWith("/") || path.startsWith("\\\\") || /^[A-Za-z]:[\\/]/.test(path);
}

/** `rel` inside `dir`; an absolute `rel` stands alone. `..` and `.` are left to the anchor. */
export function joinPath(dir: string, rel: string): string {
  if (isAbsolute(rel)) return trimSeparator(rel);
  const sep = separatorOf(dir);
  const base = trimSeparator(dir);
  const tail = rel.replace(/^[\\/]+/, "");
  if (!tail) return base;
  return base.endsWith(sep) ? `${base}${tail}` : `${base}${sep}${tail}`;
}

/** Whether `path` is `root` or lies below it (by whole names: `/home/al` is not under `/home/a`). */
export function isUnder(path: string, root: string): boolean {
  const p = trimSeparator(path);
  const r = trimSeparator(root);
  if (p === r) return true;
  const sep = separatorOf(r);
  return p.startsWith(r.endsWith(sep) ? r : r + sep);
}

/** The last name of a path. */
export function baseName(path: string): string {
  const p = trimSeparator(path);
  if (isRootPath(p)) return p;
  const i = Math.max(p.lastIndexOf("/"), p.lastIndexOf("\\"));
  return i < 0 ? p : p.slice(i + 1);
}

/** The directory holding `path` (a root is its own parent). */
export function parentPath(path: string): string {
  const p = trimSeparator(path);
  if (isRootPath(p)) return p;
  const i = Math.max(p.lastIndexOf("/"), p.lastIndexOf("\\"));
  if (i < 0) return p;
  if (i === 0) return p.slice(0, 1);
  const parent = p.slice(0, i);
  // `C:` alone is the current directory of drive C, not its root.
  return /^[A-Za-z]:$/.test(parent) ? `${parent}\\` : parent;
}

/** `path` relative to `root`, or null when it is not inside. */
export function relativeTo(path: string, root: string): string | null {
  if (!isUnder(path, root)) return null;
  const p = trimSeparator(path);
  const r = trimSeparator(root);
  return p.slice(r.length).replace(/^[\\/]+/, "");
}

/** One step of a breadcrumb trail. */
export interface Crumb {
  label: string;
  path: string;
}

/**
 * The trail from the anchor's root that holds `path` down to `path`, one step per name. The trail
 * starts at the root because nothing above it can be opened; the root's step is labelled by its
 * last name, like the others (its whole path is `path`, for a tooltip). With several roots the
 * innermost one that holds `path` is used. A path under no root (the anchor would refuse it) is a
 * single step.
 */
export function breadcrumbs(path: string, roots: readonly string[]): Crumb[] {
  const target = trimSeparator(path);
  if (!target) return [];
  const root = roots
    .map(trimSeparator)
    .filter((r) => r && isUnder(target, r))
    .sort((a, b) => b.length - a.length)[0];
  if (!root) return [{ label: target, path: target }];
  const crumbs: Crumb[] = [{ label: baseName(root), path: root }];
  let acc = root;
  for (const name of target.slice(root.length).split(/[\\/]/).filter(Boolean)) {
    acc = joinPath(acc, name);
    crumbs.push({ label: name, path: acc });
  }
  return crumbs;
}

// ---- Errors in words -----------------------------------------------------------------------------

/** The code of a failed request, or null for other errors. */
export function errorCode(e: unknown): string | null {
  return e instanceof RequestError ? e.code : null;
}

/** What went wrong, for a person, from any error a request can end with. */
export function describeError(e: unknown): string {
  if (e instanceof AnswerShapeError) return `${e.message} The anchor may need updating.`;
  if (!(e instanceof RequestError)) return e instanceof Error ? e.message : String(e);
  switch (e.code) {
    case "connection_lost":
      return "The connection to Orbit dropped before the answer came. It reconnects by itself.";
    case "timeout":
      return "The anchor did not answer in time.";
    case "anchor_offline":
      return "This anchor is offline: the machine is asleep, off the network, or `anchor` is not running.";
    case "anchor_not_found":
      return "This anchor is no longer paired with your account.";
    case "anchor_required":
      return "Orbit could not tell which anchor to ask.";
    case "anchor_busy":
      return "The anchor is busy. Try again in a moment.";
    case "codex_exited":
      return "Codex stopped on that machine before it answered. The anchor restarts it; try again shortly.";
    case "path_not_allowed":
      return "That path is outside the folders this anchor allows.";
    case "path_denied":
      return "The anchor never shows that place: it holds credentials or keys.";
    case "not_a_regular_file":
      return "That is not a regular file (a pipe, socket or device), so it is not read.";
    case "not_found":
      return "That path does not exist (any more).";
    case "not_a_repository":
      return "This folder is not in a git repository.";
    case "too_large":
      return "That is too large to send.";
    case "unknown_method":
      return "This anchor does not know that request: it may need updating.";
    case "frame_too_large":
      return "The answer was too large for Orbit to carry.";
    default:
      return e.message || "The request failed.";
  }
}

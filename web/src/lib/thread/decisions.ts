// What a person can answer to each kind of prompt, and the JSON-RPC result each answer is. Pure:
// the prompt components render the options and send `result` with `answerPrompt`.
import type { CommandExecutionApprovalDecision } from "../codex/v2/CommandExecutionApprovalDecision";
import type { FileChangeApprovalDecision } from "../codex/v2/FileChangeApprovalDecision";
import type { McpServerElicitationRequestResponse } from "../codex/v2/McpServerElicitationRequestResponse";
import type { PermissionsRequestApprovalResponse } from "../codex/v2/PermissionsRequestApprovalResponse";
import type { RequestPermissionProfile } from "../codex/v2/RequestPermissionProfile";
import type { ToolRequestUserInputQuestion } from "../codex/v2/ToolRequestUserInputQuestion";
import type { ToolRequestUserInputResponse } from "../codex/v2/ToolRequestUserInputResponse";
import type { ReviewDecision } from "../codex/ReviewDecision";

export type Tone = "accept" | "decline" | "neutral";

/** One button of an approval. */
export interface DecisionOption {
  /** Stable key (and test id). */
  key: string;
  label: string;
  /** What it does, when the label does not say it all. */
  hint: string | null;
  tone: Tone;
  /** The key that chooses it ("a", "s", "d"), announced next to the buttons. */
  shortcut: string | null;
  /** The JSON-RPC result to answer with. */
  result: unknown;
}

const COMMAND_DEFAULT: CommandExecutionApprovalDecision[] = ["accept", "acceptForSession", "decline"];
const FILE_DEFAULT: FileChangeApprovalDecision[] = ["accept", "acceptForSession", "decline"];

/**
 * The options of a command approval: codex's `availableDecisions` when it sends them (it does
 * in 0.169: `["accept", {acceptWithExecpolicyAmendment…}, "cancel"]`), else accept, accept for
 * the session, decline.
 */
export function commandDecisions(params: Record<string, unknown>): DecisionOption[] {
  const offered = Array.isArray(params.availableDecisions)
    ? (params.availableDecisions as unknown[]).filter(isCommandDecision)
    : [];
  return options(offered.length ? offered : COMMAND_DEFAULT);
}

/** The options of a file-change approval (codex offers no list for these). */
export function fileChangeDecisions(): DecisionOption[] {
  return options(FILE_DEFAULT);
}

function options(decisions: CommandExecutionApprovalDecision[]): DecisionOption[] {
  const canDecline = decisions.includes("decline");
  const out: DecisionOption[] = [];
  for (const d of decisions) {
    const o = option(d, canDecline);
    if (o && !out.some((x) => x.key === o.key)) out.push(o);
  }
  // Shortcuts go to the first option of each kind.
  const taken = new Set<string>();
  for (const o of out) {
    if (o.shortcut && taken.has(o.shortcut)) o.shortcut = null;
    if (o.shortcut) taken.add(o.shortcut);
  }
  return out;
}

function option(d: CommandExecutionApprovalDecision, canDecline: boolean): DecisionOption | null {
  const result = { decision: d };
  if (d === "accept") return { key: "accept", label: "Accept", hint: null, tone: "accept", shortcut: "a", result };
  if (d === "acceptForSession") {
    return {
      key: "acceptForSession",
      label: "Accept for session",
      hint: "Don't ask again for this in this session",
      tone: "neutral",
      shortcut: "s",
      result,
    };
  }
  if (d === "decline") {
    return { key: "decline", label: "Decline", hint: "Codex carries on without it", tone: "decline", shortcut: "d", result };
  }
  if (d === "cancel") {
    // codex's "cancel" declines and stops the turn. With no plain decline on offer it is the
    // decline button; next to one, it is the stronger choice.
    return canDecline
      ? { key: "cancel", label: "Stop the turn", hint: "Decline and interrupt the turn", tone: "decline", shortcut: null, result }
      : { key: "cancel", label: "Decline", hint: "Declines and stops the turn", tone: "decline", shortcut: "d", result };
  }
  if ("acceptWithExecpolicyAmendment" in d) {
    const prefix = d.acceptWithExecpolicyAmendment.execpolicy_amendment.join(" ");
    return {
      key: "acceptWithExecpolicyAmendment",
      label: `Always allow “${prefix}”`,
      hint: "Accept, and run commands starting like this without asking",
      tone: "neutral",
      shortcut: null,
      result,
    };
  }
  if ("applyNetworkPolicyAmendment" in d) {
    const { host, action } = d.applyNetworkPolicyAmendment.network_policy_amendment;
    return {
      key: `network:${host}:${action}`,
      label: action === "allow" ? `Always allow ${host}` : `Always block ${host}`,
      hint: null,
      tone: action === "allow" ? "neutral" : "decline",
      shortcut: null,
      result,
    };
  }
  return null;
}

function isCommandDecision(v: unknown): v is CommandExecutionApprovalDecision {
  if (typeof v === "string") return ["accept", "acceptForSession", "decline", "cancel"].includes(v);
  if (typeof v !== "object" || v === null) return false;
  const o = v as Record<string, unknown>;
  const amendment = o.acceptWithExecpolicyAmendment as { execpolicy_amendment?: unknown } | undefined;
  if (amendment) return Array.isArray(amendment.execpolicy_amendment);
  const network = o.applyNetworkPolicyAmendment as { network_policy_amendment?: { host?: unknown } } | undefined;
  return typeof network?.network_policy_amendment?.host === "string";
}

/** `item/permissions/requestApproval`: grant what was asked for this turn, or nothing. */
export function permissionDecisions(params: Record<string, unknown>): DecisionOption[] {
  const asked = (params.permissions ?? {}) as Partial<RequestPermissionProfile>;
  const granted: PermissionsRequestApprovalResponse["permissions"] = {};
  if (asked.network) granted.network = asked.network;
  if (asked.fileSystem) granted.fileSystem = asked.fileSystem;
  const grant = (scope: "turn" | "session"): PermissionsRequestApprovalResponse => ({ permissions: granted, scope });
  const deny: PermissionsRequestApprovalResponse = { permissions: {}, scope: "turn" };
  return [
    { key: "accept", label: "Accept", hint: "For this turn", tone: "accept", shortcut: "a", result: grant("turn") },
    { key: "acceptForSession", label: "Accept for session", hint: null, tone: "neutral", shortcut: "s", result: grant("session") },
    { key: "decline", label: "Decline", hint: null, tone: "decline", shortcut: "d", result: deny },
  ];
}

/** `mcpServer/elicitation/request`: a link to open can be accepted; forms are declined here. */
export function elicitationDecisions(params: Record<string, unknown>): DecisionOption[] {
  const answer = (action: McpServerElicitationRequestResponse["action"]): McpServerElicitationRequestResponse => ({
    action,
    content: null,
    _meta: null,
  });
  const out: DecisionOption[] = [];
  if (params.mode === "url") {
    out.push({ key: "accept", label: "Accept", hint: "After opening the link", tone: "accept", shortcut: "a", result: answer("accept") });
  }
  out.push({ key: "decline", label: "Decline", hint: null, tone: "decline", shortcut: "d", result: answer("decline") });
  out.push({ key: "cancel", label: "Cancel", hint: null, tone: "neutral", shortcut: null, result: answer("cancel") });
  return out;
}

/** The older (v1) `execCommandApproval` / `applyPatchApproval`. */
export function legacyDecisions(): DecisionOption[] {
  const d = (decision: ReviewDecision) => ({ decision });
  return [
    { key: "accept", label: "Accept", hint: null, tone: "accept", shortcut: "a", result: d("approved") },
    { key: "acceptForSession", label: "Accept for session", hint: null, tone: "neutral", shortcut: "s", result: d("approved_for_session") },
    { key: "decline", label: "Decline", hint: null, tone: "decline", shortcut: "d", result: d("abort") },
  ];
}

/** The option a key press chooses (Enter accepts), or null. */
export function optionForKey(options: DecisionOption[], key: string): DecisionOption | null {
  const k = key === "Enter" ? "a" : key.toLowerCase();
  return options.find((o) => o.shortcut === k) ?? null;
}

// ---- item/tool/requestUserInput ---------------------------------------------------------------

/** The value typed or chosen for each question id. */
export type Answers = Record<string, string>;

/** The questions still unanswered (each needs a value). */
export function missingAnswers(questions: ToolRequestUserInputQuestion[], answers: Answers): string[] {
  return questions.filter((q) => !(answers[q.id] ?? "").trim()).map((q) => q.id);
}

/** The result of `item/tool/requestUserInput`: one answer per question. */
export function userInputResult(questions: ToolRequestUserInputQuestion[], answers: Answers): ToolRequestUserInputResponse {
  const out: ToolRequestUserInputResponse = { answers: {} };
  for (const q of questions) {
    const value = (answers[q.id] ?? "").trim();
    out.answers[q.id] = { answers: value ? [value] : [] };
  }
  return out;
}

/** The buttons of a prompt that is answered by one choice (null for questions, answered by a form). */
export function promptOptions(method: string, params: Record<string, unknown>): DecisionOption[] | null {
  switch (method) {
    case "item/commandExecution/requestApproval":
      return commandDecisions(params);
    case "item/fileChange/requestApproval":
      return fileChangeDecisions();
    case "item/permissions/requestApproval":
      return permissionDecisions(params);
    case "mcpServer/elicitation/request":
      return elicitationDecisions(params);
    case "execCommandApproval":
    case "applyPatchApproval":
      return legacyDecisions();
    default:
      return null;
  }
}

import { describe, expect, it } from "vitest";

import type { ToolRequestUserInputQuestion } from "../src/lib/codex/v2/ToolRequestUserInputQuestion";
import {
  commandDecisions,
  elicitationDecisions,
  fileChangeDecisions,
  missingAnswers,
  optionForKey,
  permissionDecisions,
  promptOptions,
  userInputResult,
} from "../src/lib/thread/decisions";

// `item/commandExecution/requestApproval` params as codex 0.169 sends them
// (reference/codex-app-server/tx_full_accept.wire.log).
const wireParams = {
  kind: "command",
  threadId: "t",
  turnId: "u",
  itemId: "call_3",
  command: "/bin/bash -lc 'touch spike_created.txt && echo created'",
  cwd: "/srv/codex-test/project",
  proposedExecpolicyAmendment: ["touch", "spike_created.txt"],
  availableDecisions: ["accept", { acceptWithExecpolicyAmendment: { execpolicy_amendment: ["touch", "spike_created.txt"] } }, "cancel"],
};

describe("approval decisions", () => {
  it("offers what codex lists in availableDecisions, in its order, with the answers it expects", () => {
    const options = commandDecisions(wireParams);
    expect(options.map((o) => o.label)).toEqual(["Accept", "Always allow “touch spike_created.txt”", "Decline"]);
    expect(options.map((o) => o.result)).toEqual([
      { decision: "accept" },
      { decision: { acceptWithExecpolicyAmendment: { execpolicy_amendment: ["touch", "spike_created.txt"] } } },
      // With no plain decline on offer, "cancel" is the decline button (it also stops the turn).
      { decision: "cancel" },
    ]);
  });

  it("falls back to accept / accept for session / decline, and ignores decisions it does not know", () => {
    expect(commandDecisions({}).map((o) => [o.label, o.result])).toEqual([
      ["Accept", { decision: "accept" }],
      ["Accept for session", { decision: "acceptForSession" }],
      ["Decline", { decision: "decline" }],
    ]);
    expect(commandDecisions({ availableDecisions: ["somethingNew", 3, null] }).map((o) => o.key)).toEqual([
      "accept",
      "acceptForSession",
      "decline",
    ]);
  });

  it("names cancel apart from decline when both are offered, with one key per choice", () => {
    const options = commandDecisions({ availableDecisions: ["accept", "decline", "cancel"] });
    expect(options.map((o) => o.label)).toEqual(["Accept", "Decline", "Stop the turn"]);
    expect(options.map((o) => o.shortcut)).toEqual(["a", "d", null]);
  });

  it("maps keys to choices: Enter and A accept, S for the session, D declines", () => {
    const options = fileChangeDecisions();
    expect(optionForKey(options, "Enter")?.result).toEqual({ decision: "accept" });
    expect(optionForKey(options, "A")?.result).toEqual({ decision: "accept" });
    expect(optionForKey(options, "s")?.result).toEqual({ decision: "acceptForSession" });
    expect(optionForKey(options, "d")?.result).toEqual({ decision: "decline" });
    expect(optionForKey(options, "x")).toBeNull();
  });

  it("grants exactly the permissions asked, or none", () => {
    const asked = { network: { enabled: true }, fileSystem: null };
    const [accept, session, decline] = permissionDecisions({ permissions: asked });
    expect(accept?.result).toEqual({ permissions: { network: { enabled: true } }, scope: "turn" });
    expect(session?.result).toEqual({ permissions: { network: { enabled: true } }, scope: "session" });
    expect(decline?.result).toEqual({ permissions: {}, scope: "turn" });
  });

  it("accepts an elicitation only when it is a link, and otherwise declines or cancels", () => {
    expect(elicitationDecisions({ mode: "url", url: "https://x.test" }).map((o) => o.key)).toEqual(["accept", "decline", "cancel"]);
    expect(elicitationDecisions({ mode: "form" }).map((o) => o.result)).toEqual([
      { action: "decline", content: null, _meta: null },
      { action: "cancel", content: null, _meta: null },
    ]);
  });

  it("knows which prompts are answered by buttons", () => {
    expect(promptOptions("item/fileChange/requestApproval", {})?.[0]?.label).toBe("Accept");
    expect(promptOptions("item/tool/requestUserInput", {})).toBeNull();
  });
});

describe("answers to item/tool/requestUserInput", () => {
  const questions: ToolRequestUserInputQuestion[] = [
    { id: "color", header: "Colour", question: "Which colour?", isOther: true, isSecret: false, options: [{ label: "Red", description: "" }] },
    { id: "token", header: "", question: "Token?", isOther: false, isSecret: true, options: null },
  ];

  it("needs every question answered", () => {
    expect(missingAnswers(questions, { color: "Red", token: " " })).toEqual(["token"]);
    expect(missingAnswers(questions, { color: "Red", token: "s3cret" })).toEqual([]);
  });

  it("answers each question id with its value", () => {
    expect(userInputResult(questions, { color: " Blue ", token: "s3cret" })).toEqual({
      answers: { color: { answers: ["Blue"] }, token: { answers: ["s3cret"] } },
    });
  });
});

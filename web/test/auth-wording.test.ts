import { describe, expect, it } from "vitest";

import { ApiError } from "../src/lib/api/http";
import {
  CURRENT_CODE_WORDS,
  ENROL_WORDS,
  cleanCode,
  codeProblem,
  explain,
  nameProblem,
} from "../src/components/auth/wording";
import type { ErrorCode } from "../src/lib/protocol/ErrorCode";

const refusal = (code: ErrorCode, status = 400, retryAfter: number | null = null) =>
  new ApiError(status, code, `orbit said ${code}`, retryAfter);

/** A DOMException as browsers throw it from navigator.credentials (and @simplewebauthn passes on). */
const dom = (name: string) => Object.assign(new Error("The operation either timed out or was not allowed."), { name });

describe("refusals in words", () => {
  it("says a cancelled or timed-out passkey prompt was cancelled", () => {
    const said = explain(dom("NotAllowedError"));
    expect(said.kind).toBe("cancelled");
    expect(said.message).toMatch(/cancelled or timed out/);
    expect(explain(dom("AbortError")).kind).toBe("cancelled");
  });

  it("tells browsers without passkeys apart", () => {
    expect(explain(new Error("WebAuthn is not supported in this browser")).kind).toBe("unsupported");
    expect(explain(dom("InvalidStateError")).message).toMatch(/already has a passkey/);
  });

  it("explains wrong, replayed and malformed codes", () => {
    expect(explain(refusal("invalid_code", 401)).message).toMatch(/not right.*account name/);
    expect(explain(refusal("invalid_code", 401), ENROL_WORDS).message).not.toMatch(/account name/);
    expect(explain(refusal("invalid_code", 401), CURRENT_CODE_WORDS).message).toMatch(/^That code is not right/);
    expect(explain(refusal("code_replayed", 401)).message).toMatch(/used already.*next one/);
    expect(explain(refusal("malformed_code")).message).toBe("A code is 6 digits.");
  });

  it("explains names and invites", () => {
    expect(explain(refusal("name_taken", 409)).message).toMatch(/taken/);
    expect(explain(refusal("invalid_name")).message).toMatch(/3 to 32/);
    expect(explain(refusal("registration_closed", 403)).message).toMatch(/need an invite/);
    expect(explain(refusal("invite_invalid", 403)).message).toMatch(/used already, or it expired/);
  });

  it("gives a rate limit its wait, in words and in seconds", () => {
    const said = explain(refusal("rate_limited", 429, 125));
    expect(said.kind).toBe("rate_limited");
    expect(said.retryAfter).toBe(125);
    expect(said.message).toBe("Too many attempts. You can try again in about 2 minutes.");
    expect(explain(refusal("rate_limited", 429)).message).toMatch(/Wait a few minutes/);
  });

  it("explains every user-code refusal", () => {
    expect(explain(refusal("user_code_unknown", 404)).message).toMatch(/No machine is waiting/);
    expect(explain(refusal("user_code_expired", 410)).message).toMatch(/expired.*anchor login/);
    expect(explain(refusal("user_code_used", 409)).message).toMatch(/used already/);
    expect(explain(refusal("user_code_malformed")).message).toMatch(/8 letters/);
  });

  it("explains the last way in, passkey verdicts, and a network failure", () => {
    expect(explain(refusal("last_sign_in_method", 409)).message).toMatch(/only way to sign in/);
    expect(explain(refusal("unknown_credential", 401)).message).toMatch(/does not know this passkey/);
    expect(explain(refusal("challenge_expired", 401)).message).toMatch(/expired/);
    expect(explain(refusal("bad_signature", 401)).message).toMatch(/could not be verified/);
    expect(explain(new ApiError(0, "network", "fetch failed")).message).toMatch(/could not be reached/);
  });

  it("falls back to Orbit's message for a code it has no words for", () => {
    expect(explain(refusal("frame_too_large")).message).toBe("orbit said frame_too_large");
    expect(explain("odd").message).toBe("odd");
  });
});

describe("what is typed", () => {
  it("checks account names as Orbit does", () => {
    expect(nameProblem("ada")).toBeNull();
    expect(nameProblem(" Ada.Lovelace_1 ")).toBeNull();
    expect(nameProblem("")).toMatch(/Enter/);
    expect(nameProblem("ab")).toMatch(/3 to 32/);
    expect(nameProblem("-ada")).toMatch(/3 to 32/);
    expect(nameProblem("ada lovelace")).toMatch(/3 to 32/);
    expect(nameProblem("a".repeat(33))).toMatch(/3 to 32/);
  });

  it("checks codes, allowing the space apps show in the middle", () => {
    expect(cleanCode("123 456")).toBe("123456");
    expect(codeProblem("123456")).toBeNull();
    expect(codeProblem("")).toMatch(/Enter/);
    expect(codeProblem("12345")).toBe("A code is 6 digits.");
    expect(codeProblem("12345a")).toBe("A code is 6 digits.");
  });
});

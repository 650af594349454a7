import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";

// A signed-in session, stored before the session module loads (it reads storage at import).
const stored = {
  userId: "u1",
  name: "ada",
  sessionId: "s1",
  accessToken: "eyJ.access",
  refreshToken: "ort_x",
  accessExpiresAt: Date.now() + 600_000,
};
localStorage.setItem("orbit.session.v1", JSON.stringify(stored));

type Api = typeof import("../src/lib/api/auth");
let api: Api;
beforeAll(async () => {
  api = await import("../src/lib/api/auth");
});

interface Sent {
  method: string;
  path: string;
  body: unknown;
  auth: string | null;
}

/** Answers every call with `answer` and records what was sent. */
function answering(answer: unknown, status = 200): Sent[] {
  const sent: Sent[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (path: string, init: RequestInit) => {
      const headers = new Headers(init.headers);
      sent.push({
        method: init.method ?? "GET",
        path,
        body: typeof init.body === "string" ? JSON.parse(init.body) : undefined,
        auth: headers.get("Authorization"),
      });
      return new Response(JSON.stringify(answer), { status, headers: { "Content-Type": "application/json" } });
    }),
  );
  return sent;
}

afterEach(() => vi.unstubAllGlobals());

describe("the /auth wrappers", () => {
  it("sign in and sign up without a token, leaving out an empty invite", async () => {
    const sent = answering({});
    await api.totp.login(" ada ", "123456");
    await api.totp.signUpStart({ name: "ada", invite: "" });
    await api.passkey.signUpOptions({ name: "ada", invite: " inv_abc " });
    expect(sent).toEqual([
      { method: "POST", path: "/auth/totp/login", body: { name: "ada", code: "123456" }, auth: null },
      { method: "POST", path: "/auth/totp/enroll/start", body: { name: "ada" }, auth: null },
      { method: "POST", path: "/auth/passkey/register/options", body: { name: "ada", invite: "inv_abc" }, auth: null },
    ]);
  });

  it("send the session's token for the signed-in calls, with ids in the path escaped", async () => {
    const sent = answering({});
    await api.account.sessions();
    await api.account.revokeSession("s/2");
    await api.account.renameAnchor("a1", "laptop");
    await api.passkey.remove("p1");
    await api.totp.enableStart();
    await api.totp.enableStart("123456");
    expect(sent.map((s) => [s.method, s.path, s.body])).toEqual([
      ["GET", "/auth/sessions", undefined],
      ["DELETE", "/auth/sessions/s%2F2", undefined],
      ["PATCH", "/auth/anchors/a1", { name: "laptop" }],
      ["DELETE", "/auth/passkeys/p1", undefined],
      ["POST", "/auth/totp/enroll/start", {}],
      ["POST", "/auth/totp/enroll/start", { code: "123456" }],
    ]);
    expect(new Set(sent.map((s) => s.auth))).toEqual(new Set(["Bearer eyJ.access"]));
  });

  it("name the machine only when approving with a name", async () => {
    const sent = answering({ status: "denied" });
    await api.device.authorise({ userCode: "BCDF-GHJK" }, true, "laptop");
    await api.device.authorise({ userCode: "BCDF-GHJK" }, true);
    await api.device.authorise({ userCode: "BCDF-GHJK" }, false);
    await api.device.authorise({ link: "t0k" }, true, undefined, "bcdf");
    expect(sent.map((s) => s.body)).toEqual([
      { userCode: "BCDF-GHJK", approve: true, name: "laptop" },
      { userCode: "BCDF-GHJK", approve: true },
      { userCode: "BCDF-GHJK", approve: false },
      { link: "t0k", confirm: "bcdf", approve: true },
    ]);
  });

  it("turn a refusal into Orbit's code and Retry-After", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(
        async () =>
          new Response(JSON.stringify({ error: { code: "rate_limited", message: "slow down" } }), {
            status: 429,
            headers: { "Retry-After": "42" },
          }),
      ),
    );
    await expect(api.device.lookup({ userCode: "BCDF-GHJK" })).rejects.toMatchObject({ code: "rate_limited", retryAfter: 42 });
  });
});

import { describe, expect, it } from "vitest";

import {
  REFRESH_MARGIN_MS,
  accessUsable,
  endedBecause,
  fromSignedIn,
  parseStored,
  refreshDelay,
} from "../src/lib/auth/tokens";

const signedIn = {
  userId: "u1",
  name: "ada",
  sessionId: "s1",
  accessToken: "eyJ.a.b",
  refreshToken: "ort_x",
  expiresIn: 900,
  refreshExpiresIn: 2_592_000,
};

describe("session tokens", () => {
  it("refreshes a minute before the access token expires, never late", () => {
    const s = fromSignedIn(signedIn, 1_000_000);
    expect(s.accessExpiresAt).toBe(1_000_000 + 900_000);
    expect(refreshDelay(s, 1_000_000)).toBe(900_000 - REFRESH_MARGIN_MS);
    expect(refreshDelay(s, s.accessExpiresAt + 5)).toBe(0);
    expect(accessUsable(s, s.accessExpiresAt - 60_000)).toBe(true);
    expect(accessUsable(s, s.accessExpiresAt - 5_000)).toBe(false);
  });

  it("reads back what it stored and nothing malformed", () => {
    const s = fromSignedIn(signedIn, 5);
    expect(parseStored(JSON.stringify(s))).toEqual(s);
    expect(parseStored(null)).toBeNull();
    expect(parseStored("{")).toBeNull();
    expect(parseStored(JSON.stringify({ ...s, accessToken: 1 }))).toBeNull();
  });

  it("says why a session ended", () => {
    expect(endedBecause("session_revoked")).toMatch(/another device/);
    expect(endedBecause("refresh_reused")).toMatch(/used twice/);
  });
});

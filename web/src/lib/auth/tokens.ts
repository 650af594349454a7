// What the client keeps of a web session, and when to refresh it. No I/O here: unit-tested.
import type { Credentials } from "../protocol/Credentials";
import type { SignedIn } from "../protocol/SignedIn";

/** A signed-in session as stored (localStorage; see docs/web.md for why there). */
export interface StoredSession {
  userId: string;
  name: string;
  sessionId: string;
  accessToken: string;
  refreshToken: string;
  /** Milliseconds since the epoch when the access token expires. */
  accessExpiresAt: number;
}

export const STORAGE_KEY = "orbit.session.v1";

/** Refresh this long before the access token expires (it lives 15 minutes). */
export const REFRESH_MARGIN_MS = 60_000;

export function fromSignedIn(s: SignedIn, nowMs: number): StoredSession {
  return {
    userId: s.userId,
    name: s.name,
    ...fromCredentials(s, nowMs),
  };
}

/** The token half of a session, from a sign-in or refresh answer. */
export function fromCredentials(
  c: Credentials,
  nowMs: number,
): Pick<StoredSession, "sessionId" | "accessToken" | "refreshToken" | "accessExpiresAt"> {
  return {
    sessionId: c.sessionId,
    accessToken: c.accessToken,
    refreshToken: c.refreshToken,
    accessExpiresAt: nowMs + c.expiresIn * 1000,
  };
}

/** Milliseconds from now until the refresh is due (0: now). */
export function refreshDelay(s: Pick<StoredSession, "accessExpiresAt">, nowMs: number): number {
  return Math.max(0, s.accessExpiresAt - REFRESH_MARGIN_MS - nowMs);
}

/** Whether the access token is still good for a call made now. */
export function accessUsable(s: Pick<StoredSession, "accessExpiresAt">, nowMs: number): boolean {
  return s.accessExpiresAt - nowMs > 10_000;
}

/** Reads a stored session; anything malformed counts as none. */
export function parseStored(text: string | null): StoredSession | null {
  if (!text) return null;
  try {
    const v = JSON.parse(text) as Partial<StoredSession>;
    if (
      typeof v.userId === "string" &&
      typeof v.name === "string" &&
      typeof v.sessionId === "string" &&
      typeof v.accessToken === "string" &&
      typeof v.refreshToken === "string" &&
      typeof v.accessExpiresAt === "number"
    ) {
      return v as StoredSession;
    }
  } catch {
    // fall through
  }
  return null;
}

/** Why a session ended, in words for the sign-in page. */
export function endedBecause(code: string): string {
  switch (code) {
    case "session_revoked":
      return "This session was signed out, from here or from another device.";
    case "refresh_reused":
      return "This session was ended because its credentials were used twice. Sign in again.";
    case "refresh_expired":
      return "Your session expired. Sign in again.";
    case "anchor_revoked":
      return "This session was revoked.";
    default:
      return "Your session ended. Sign in again.";
  }
}

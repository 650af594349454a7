// The signed-in session: stored for reloads, shared by every tab, refreshed before it expires
// (one tab at a time, under a Web Lock), and ended when Orbit says it was revoked.
import { get, writable, type Readable } from "svelte/store";

import { ApiError, call } from "../api/http";
import type { Credentials } from "../protocol/Credentials";
import type { SignedIn } from "../protocol/SignedIn";
import { withStepUp } from "./stepUp";
import {
  STORAGE_KEY,
  accessUsable,
  endedBecause,
  fromCredentials,
  fromSignedIn,
  parseStored,
  refreshDelay,
  type StoredSession,
} from "./tokens";

const current = writable<StoredSession | null>(load());
/** The session, or null when signed out. */
export const session: Readable<StoredSession | null> = { subscribe: current.subscribe };
/** Why the last session ended without the user signing out (shown on the sign-in page). */
export const endedReason = writable<string | null>(null);

let timer: ReturnType<typeof setTimeout> | null = null;

function load(): StoredSession | null {
  try {
    return parseStored(localStorage.getItem(STORAGE_KEY));
  } catch {
    return null;
  }
}

function save(s: StoredSession | null): void {
  try {
    if (s) localStorage.setItem(STORAGE_KEY, JSON.stringify(s));
    else localStorage.removeItem(STORAGE_KEY);
  } catch {
    // Private browsing without storage: the session lives as long as the page.
  }
  current.set(s);
  schedule();
}

/** Starts using a session a sign-in produced. */
export function adopt(signedIn: SignedIn): void {
  endedReason.set(null);
  save(fromSignedIn(signedIn, Date.now()));
}

/** Ends the session here only (it is already over at Orbit), saying why. */
export function endSession(code: string): void {
  if (get(current)) endedReason.set(endedBecause(code));
  save(null);
}

/** Signs out: Orbit revokes the session and closes its sockets, then it is forgotten here. */
export async function signOut(): Promise<void> {
  const s = get(current);
  if (s) {
    try {
      await call("POST", "/auth/logout", { token: s.accessToken, body: {} });
    } catch {
      // Signed out here whatever Orbit says: the tokens are forgotten either way.
    }
  }
  endedReason.set(null);
  save(null);
}

/** An access token good for a call now, refreshed first if it is about to expire. */
export async function accessToken(): Promise<string> {
  const s = get(current);
  if (!s) throw new ApiError(401, "token_missing", "You are signed out.");
  if (accessUsable(s, Date.now())) return s.accessToken;
  return (await refresh()).accessToken;
}

/**
 * A call with the session's token. A token Orbit no longer accepts is refreshed once; a change
 * Orbit wants a fresh proof for is confirmed in the step-up dialog and tried once more.
 */
export function authed<T>(method: string, path: string, body?: unknown): Promise<T> {
  return withStepUp(() => authedOnce<T>(method, path, body));
}

async function authedOnce<T>(method: string, path: string, body?: unknown): Promise<T> {
  try {
    return await call<T>(method, path, { body, token: await accessToken() });
  } catch (e) {
    if (e instanceof ApiError && (e.code === "token_expired" || e.code === "token_bad_signature")) {
      const fresh = await refresh(true);
      return call<T>(method, path, { body, token: fresh.accessToken });
    }
    if (e instanceof ApiError && e.code === "session_revoked") endSession(e.code);
    throw e;
  }
}

let inFlight: Promise<StoredSession> | null = null;

/**
 * Refreshes the tokens. Refresh tokens are single use and reuse revokes the session, so tabs
 * take turns under a Web Lock, and a tab that finds another one already refreshed adopts its
 * tokens instead of spending the old one.
 */
export function refresh(force = false): Promise<StoredSession> {
  inFlight ??= (async () => {
    try {
      const run = () => refreshOnce(force);
      const locks = typeof navigator !== "undefined" ? navigator.locks : undefined;
      return locks ? await locks.request("orbit-token-refresh", run) : await run();
    } finally {
      inFlight = null;
    }
  })();
  return inFlight;
}

async function refreshOnce(force: boolean): Promise<StoredSession> {
  const mine = get(current);
  const stored = load();
  if (!mine || !stored || stored.sessionId !== mine.sessionId) {
    // Signed out (or into another account) in another tab meanwhile.
    save(stored);
    if (!stored) throw new ApiError(401, "session_revoked", "You are signed out.");
    return stored;
  }
  if (stored.refreshToken !== mine.refreshToken || (!force && accessUsable(stored, Date.now() + 60_000))) {
    save(stored);
    return stored;
  }
  try {
    const answer = await call<Credentials>("POST", "/auth/refresh", {
      body: { refreshToken: stored.refreshToken },
    });
    const next = { ...stored, ...fromCredentials(answer, Date.now()) };
    save(next);
    return next;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) endSession(e.code);
    throw e;
  }
}

function schedule(): void {
  if (timer) clearTimeout(timer);
  timer = null;
  const s = get(current);
  if (!s || typeof window === "undefined") return;
  timer = setTimeout(() => {
    refresh().catch(() => {
      // Offline: try again shortly; a revoked session was ended by refresh itself.
      if (get(current)) timer = setTimeout(schedule, 10_000);
    });
  }, refreshDelay(s, Date.now()));
}

if (typeof window !== "undefined") {
  // Another tab signed in, refreshed or signed out.
  window.addEventListener("storage", (event) => {
    if (event.key !== STORAGE_KEY) return;
    const next = parseStored(event.newValue);
    if (!next && get(current)) endedReason.set(null);
    current.set(next);
    schedule();
  });
  schedule();
}

// When a machine asked to be paired. Lookup answers only how long its code has left, and codes
// live 10 minutes (docs/auth.md), so it asked about (600 − expiresIn) seconds ago. A deployment
// that shortens ORBIT_DEVICE_CODE_LIFETIME makes this an overestimate, never an underestimate.

/** The life of a user code, in seconds. */
export const USER_CODE_LIFETIME_S = 600;

/** Seconds since the machine asked, from lookup's `expiresIn`. */
export function askedSecondsAgo(expiresIn: number, lifetime = USER_CODE_LIFETIME_S): number {
  return Math.max(0, Math.round(lifetime - expiresIn));
}

/** "just now", "about a minute ago", "about 7 minutes ago". */
export function agoWords(seconds: number): string {
  if (seconds < 45) return "just now";
  const minutes = Math.max(1, Math.round(seconds / 60));
  return minutes === 1 ? "about a minute ago" : `about ${minutes} minutes ago`;
}

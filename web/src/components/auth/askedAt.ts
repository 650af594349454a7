// When a machine asked to be paired, in words. Lookup answers the grant's creation time
// (`requestedAt`, Orbit's clock); the browser's clock may be a little off, so a time in the
// future reads as "just now" rather than a negative age.

/** Whole seconds from `requestedAt` to `now` (both ms since the epoch), never negative. */
export function askedSecondsAgo(requestedAt: number, now: number): number {
  return Math.max(0, Math.round((now - requestedAt) / 1000));
}

/** "just now", "about a minute ago", "about 7 minutes ago". */
export function agoWords(seconds: number): string {
  if (seconds < 45) return "just now";
  const minutes = Math.max(1, Math.round(seconds / 60));
  return minutes === 1 ? "about a minute ago" : `about ${minutes} minutes ago`;
}

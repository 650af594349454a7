// Waiting out a rate limit: words for the announcement, digits for the live countdown.

/** "0:42", "2:05", "61:00" — the live countdown (mm:ss). */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** "42 seconds", "1 minute", "about 12 minutes" — said once, when the limit is hit. */
export function waitWords(seconds: number): string {
  const s = Math.max(1, Math.ceil(seconds));
  if (s < 60) return s === 1 ? "1 second" : `${s} seconds`;
  const minutes = Math.round(s / 60);
  if (s % 60 === 0) return minutes === 1 ? "1 minute" : `${minutes} minutes`;
  return `about ${minutes} minute${minutes === 1 ? "" : "s"}`;
}

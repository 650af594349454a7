// Instants as people read them in lists: "3 minutes ago" for the recent past, a date otherwise.

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const dated = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

const UNITS: Array<[Intl.RelativeTimeFormatUnit, number]> = [
  ["minute", 60],
  ["hour", 3_600],
  ["day", 86_400],
];

/** "just now", "5 minutes ago", "yesterday", "3 days ago", then the date (within a week). */
export function ago(ms: number, nowMs = Date.now()): string {
  const s = Math.round((nowMs - ms) / 1000);
  if (s < 45) return "just now";
  if (s >= 7 * 86_400) return dated.format(ms);
  let unit: Intl.RelativeTimeFormatUnit = "minute";
  let size = 60;
  for (const [u, n] of UNITS) if (s >= n || u === "minute") [unit, size] = [u, n];
  return relative.format(-Math.max(1, Math.round(s / size)), unit);
}

/** A full date and time. */
export function date(ms: number): string {
  return dated.format(ms);
}

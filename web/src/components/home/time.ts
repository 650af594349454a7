// Times as people read them in a list ("3 min ago", "yesterday", "12 Mar"), with the exact time
// kept for a tooltip and `<time datetime>`. Pure but for `clock`.
import { readable, type Readable } from "svelte/store";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** `then` relative to `now` (both ms since the epoch), in the viewer's time zone for dates. */
export function relativeTime(then: number, now: number): string {
  const ago = now - then;
  // A little in the future is clock skew between the machine and this device: call it now.
  if (ago < 45_000) return "just now";
  if (ago < 90_000) return "1 min ago";
  if (ago < HOUR) return `${Math.round(ago / MINUTE)} min ago`;
  if (ago < DAY) return `${Math.floor(ago / HOUR)} h ago`;
  const days = calendarDaysBetween(then, now);
  if (days <= 1) return "yesterday";
  if (days < 7) return `${days} days ago`;
  const d = new Date(then);
  const date = `${d.getDate()} ${MONTHS[d.getMonth()]}`;
  return d.getFullYear() === new Date(now).getFullYear() ? date : `${date} ${d.getFullYear()}`;
}

/** Whole calendar days from `then`'s date to `now`'s date, locally. */
function calendarDaysBetween(then: number, now: number): number {
  const a = new Date(then);
  const b = new Date(now);
  const start = Date.UTC(a.getFullYear(), a.getMonth(), a.getDate());
  const end = Date.UTC(b.getFullYear(), b.getMonth(), b.getDate());
  return Math.round((end - start) / DAY);
}

/** The exact time, for a tooltip, in the viewer's locale. */
export function exactTime(ms: number): string {
  return new Date(ms).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** The `datetime` attribute of a `<time>`. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** The current time, every 30 s while anything shows a relative time. */
export const clock: Readable<number> = readable(Date.now(), (set) => {
  set(Date.now());
  const timer = setInterval(() => set(Date.now()), 30_000);
  return () => clearInterval(timer);
});

// The confirmation a page opened from a link asks for (docs/web.md, Device approval): the
// code's first characters, typed from the terminal that shows it. A link can come from anyone
// (RFC 8628 §5.4); the code on the person's own screen cannot. Typing is checked the way
// Orbit checks it: any case, dashes and spaces ignored.
import { USER_CODE_ALPHABET } from "./userCode";

/** How many of the code's first characters are typed (Orbit's CONFIRM_CHARS). */
export const CONFIRM_CHARS = 4;

/** What was typed, as Orbit compares it. */
export function normaliseConfirm(typed: string): string {
  return typed.replace(/[\s\-‐‑–—]/g, "").toUpperCase();
}

/** Why `typed` cannot confirm the code, or null. `codeStart` is the code's beginning when the
 * page knows it (a code put in the URL); for a link only Orbit knows, and checks it. */
export function confirmProblem(typed: string, codeStart?: string): string | null {
  const kept = normaliseConfirm(typed);
  const shaped =
    kept.length === CONFIRM_CHARS && [...kept].every((c) => USER_CODE_ALPHABET.includes(c));
  if (!shaped) return `Type the first ${CONFIRM_CHARS} letters of the code your terminal shows.`;
  if (codeStart !== undefined && kept !== normaliseConfirm(codeStart).slice(0, CONFIRM_CHARS)) {
    return "Those are not the first letters of this code. Approve only a code your own terminal shows.";
  }
  return null;
}

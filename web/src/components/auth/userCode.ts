// User codes as people type them (docs/auth.md, Device flow): 8 letters from an alphabet with
// no vowels and no look-alikes, shown as XXXX-XXXX, typed in any case, with or without the
// dash or spaces. Checking them here saves a rate-limited round trip for an obvious typo.

/** The letters Orbit draws user codes from. */
export const USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ";
const LENGTH = 8;

export type UserCodeCheck = { ok: true; code: string } | { ok: false; problem: string };

/** The code as Orbit shows it (`XXXX-XXXX`), or what is wrong with what was typed. */
export function checkUserCode(input: string): UserCodeCheck {
  const letters = input.replace(/[\s\-‐‑–—]/g, "").toUpperCase();
  if (!letters) return { ok: false, problem: "Enter the code your terminal shows, like BCDF-GHJK." };
  const foreign = [...new Set([...letters].filter((c) => !USER_CODE_ALPHABET.includes(c)))];
  if (foreign.length > 0) {
    return {
      ok: false,
      problem:
        `A code never contains ${foreign.map((c) => `“${c}”`).join(", ")}: ` +
        "it is 8 consonants (no vowels, no digits), like BCDF-GHJK.",
    };
  }
  if (letters.length !== LENGTH) {
    return {
      ok: false,
      problem: `A code has 8 letters, like BCDF-GHJK; this has ${letters.length}.`,
    };
  }
  return { ok: true, code: `${letters.slice(0, 4)}-${letters.slice(4)}` };
}

import { describe, expect, it } from "vitest";

import { USER_CODE_ALPHABET, checkUserCode } from "../src/components/auth/userCode";

describe("user codes as typed", () => {
  it("accepts any case, with or without the dash or spaces, and shows XXXX-XXXX", () => {
    for (const typed of ["BCDF-GHJK", "bcdf-ghjk", "bcdfghjk", " bcdf ghjk ", "BcDf–gHjK", "b c d f g h j k"]) {
      expect(checkUserCode(typed)).toEqual({ ok: true, code: "BCDF-GHJK" });
    }
  });

  it("says what is wrong: empty, too short or long, letters Orbit never uses", () => {
    const problem = (typed: string) => {
      const r = checkUserCode(typed);
      return r.ok ? null : r.problem;
    };
    expect(problem("")).toMatch(/Enter the code/);
    expect(problem(" - ")).toMatch(/Enter the code/);
    expect(problem("BCDF-GHJ")).toMatch(/8 letters.*has 7/);
    expect(problem("BCDF-GHJKL")).toMatch(/8 letters.*has 9/);
    expect(problem("BCDF-GH0K")).toMatch(/never contains “0”/);
    expect(problem("ABCD-EFGH")).toMatch(/never contains “A”, “E”/);
    expect(problem("bcdf_ghjk")).toMatch(/“_”/);
  });

  it("knows Orbit's alphabet: 20 consonants, no vowels, no digits", () => {
    expect(USER_CODE_ALPHABET).toHaveLength(20);
    expect(USER_CODE_ALPHABET).not.toMatch(/[AEIOUY0-9]/);
  });
});

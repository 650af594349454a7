import { describe, expect, it } from "vitest";

import { confirmProblem, normaliseConfirm } from "../src/components/auth/confirmCode";
import { networkWords, originLine, placeWords } from "../src/components/auth/origin";

describe("where a pairing request came from", () => {
  it("names the place and network the edge saw, and says unknown for what it did not", () => {
    const full = { country: "DE", city: "Berlin", network: "Example Telecom", asn: 64500, address: "203.0.113.7" };
    expect(originLine(full, "about 2 minutes ago")).toBe(
      "Requested about 2 minutes ago from Berlin, DE, on Example Telecom (AS64500), address 203.0.113.7.",
    );
    const none = { country: null, city: null, network: null, asn: null, address: null };
    expect(originLine(none, "just now")).toBe("Requested just now from an unknown place, on an unknown network.");
    expect(placeWords({ ...none, country: "US" })).toBe("US");
    expect(networkWords({ ...none, asn: 395747 })).toBe("AS395747");
    expect(networkWords({ ...none, network: "Example" })).toBe("Example");
  });
});

describe("confirming a code opened from a link", () => {
  it("a_code_opened_from_a_link_is_confirmed_only_by_its_first_four_letters", () => {
    expect(normaliseConfirm(" bc-df ")).toBe("BCDF");
    expect(confirmProblem("bcdf", "BCDF-GHJK")).toBeNull();
    expect(confirmProblem("b c d f")).toBeNull();
    expect(confirmProblem("GHJK", "BCDF-GHJK")).toMatch(/not the first letters/);
    expect(confirmProblem("", "BCDF-GHJK")).toMatch(/first 4 letters/);
    expect(confirmProblem("BCD")).toMatch(/first 4 letters/);
    expect(confirmProblem("BCDFG")).toMatch(/first 4 letters/);
    expect(confirmProblem("AEIO")).toMatch(/first 4 letters/);
  });
});

import { describe, expect, it } from "vitest";

import { agoWords, askedSecondsAgo } from "../src/components/auth/askedAt";
import { platformName } from "../src/components/auth/platform";

describe("when a machine asked to be paired", () => {
  it("is the time since Orbit recorded the request", () => {
    const at = 1_800_000_000_000;
    expect(askedSecondsAgo(at, at)).toBe(0);
    expect(askedSecondsAgo(at, at + 180_000)).toBe(180);
    expect(askedSecondsAgo(at, at + 1_499)).toBe(1);
    // A browser clock a little behind Orbit's never makes it ask in the future.
    expect(askedSecondsAgo(at, at - 5_000)).toBe(0);
  });

  it("is said in rounded minutes", () => {
    expect(agoWords(0)).toBe("just now");
    expect(agoWords(44)).toBe("just now");
    expect(agoWords(45)).toBe("about a minute ago");
    expect(agoWords(89)).toBe("about a minute ago");
    expect(agoWords(90)).toBe("about 2 minutes ago");
    expect(agoWords(420)).toBe("about 7 minutes ago");
    expect(agoWords(600)).toBe("about 10 minutes ago");
  });
});

describe("an anchor's platform", () => {
  it("is named as people name it, keeping the architecture", () => {
    expect(platformName("linux")).toBe("Linux");
    expect(platformName("macos")).toBe("macOS");
    expect(platformName("windows-x86_64")).toBe("Windows (x86_64)");
    expect(platformName("macos-aarch64")).toBe("macOS (aarch64)");
    expect(platformName("haiku")).toBe("haiku");
    expect(platformName("")).toBeNull();
    expect(platformName(null)).toBeNull();
  });
});

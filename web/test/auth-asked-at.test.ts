import { describe, expect, it } from "vitest";

import { USER_CODE_LIFETIME_S, agoWords, askedSecondsAgo } from "../src/components/auth/askedAt";
import { platformName } from "../src/components/auth/platform";

describe("when a machine asked to be paired", () => {
  it("is the code's life minus what it has left", () => {
    expect(USER_CODE_LIFETIME_S).toBe(600);
    expect(askedSecondsAgo(600)).toBe(0);
    expect(askedSecondsAgo(420)).toBe(180);
    expect(askedSecondsAgo(0)).toBe(600);
    // A clock a little ahead of Orbit's never makes it ask in the future.
    expect(askedSecondsAgo(605)).toBe(0);
    expect(askedSecondsAgo(50, 120)).toBe(70);
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

import { describe, expect, it } from "vitest";

import { clientName } from "../src/components/settings/clientName";
import { ago } from "../src/components/settings/time";

const UA = {
  chromeLinux:
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  chromeAndroid:
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
  safariIphone:
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
  chromeIphone:
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
  safariMac:
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
  safariIpad:
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
  firefoxWindows: "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
  firefoxAndroid: "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
  edgeWindows:
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
  operaMac:
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0",
  samsung:
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
  chromebook:
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  headless:
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
};

describe("a session's client in a few words", () => {
  it("names the browser and the system", () => {
    expect(clientName(UA.chromeLinux)).toBe("Chrome on Linux");
    expect(clientName(UA.chromeAndroid)).toBe("Chrome on Android");
    expect(clientName(UA.safariIphone)).toBe("Safari on iOS");
    expect(clientName(UA.chromeIphone)).toBe("Chrome on iOS");
    expect(clientName(UA.safariMac)).toBe("Safari on macOS");
    expect(clientName(UA.safariIpad)).toBe("Safari on iPadOS");
    expect(clientName(UA.firefoxWindows)).toBe("Firefox on Windows");
    expect(clientName(UA.firefoxAndroid)).toBe("Firefox on Android");
    expect(clientName(UA.edgeWindows)).toBe("Edge on Windows");
    expect(clientName(UA.operaMac)).toBe("Opera on macOS");
    expect(clientName(UA.samsung)).toBe("Samsung Internet on Android");
    expect(clientName(UA.chromebook)).toBe("Chrome on ChromeOS");
    expect(clientName(UA.headless)).toBe("Headless Chrome on Linux");
  });

  it("copes with the unknown, the odd and the missing", () => {
    expect(clientName(null)).toBe("Unknown browser");
    expect(clientName("")).toBe("Unknown browser");
    expect(clientName("curl/8.5.0")).toBe("curl");
    expect(clientName("node")).toBe("Node.js");
    expect(clientName("Mozilla/5.0 (Windows NT 10.0)")).toBe("A browser on Windows");
    expect(clientName("SomeBot/1.0 (+https://example.com)")).toBe("SomeBot");
    expect(clientName("x".repeat(300))).toHaveLength(40);
  });
});

describe("times in lists", () => {
  const now = Date.UTC(2026, 0, 15, 12, 0, 0);
  it("are relative for the last week, dated before", () => {
    expect(ago(now - 10_000, now)).toBe("just now");
    expect(ago(now - 5 * 60_000, now)).toMatch(/5 minutes ago/);
    expect(ago(now - 3 * 3_600_000, now)).toMatch(/3 hours ago/);
    expect(ago(now - 30 * 3_600_000, now)).toMatch(/yesterday/);
    expect(ago(now - 3 * 86_400_000, now)).toMatch(/3 days ago/);
    expect(ago(now - 30 * 86_400_000, now)).toMatch(/2025/);
  });
});

// The smoke test of the browser-test setup, on whatever web client Orbit serves now: the page
// loads under Orbit's Content-Security-Policy with no error, passes axe, and is photographed.
import { axeScan, expect, screenshots, test } from "./support";

test("the app loads under its Content-Security-Policy with no error and passes axe", async ({ page, problems }) => {
  const response = await page.goto("/");
  expect(response?.status()).toBe(200);
  const csp = response?.headers()["content-security-policy"] ?? "";
  expect(csp).toContain("script-src 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  // The client mounted something into its root.
  await page.locator("#app > *").first().waitFor({ state: "attached", timeout: 10_000 });
  await axeScan(page);
  const files = await screenshots(page, "start");
  expect(files).toHaveLength(4);
  expect(problems.list()).toEqual([]);
});

// The watcher itself: what it must catch, it catches (then the test takes those problems, so
// they don't fail it).
test("the page watcher catches a CSP violation, a console error and an uncaught error", async ({ page, problems }) => {
  await page.goto("/");
  await page.locator("#app > *").first().waitFor({ state: "attached", timeout: 10_000 });

  await page.evaluate(() => {
    const script = document.createElement("script");
    script.textContent = "window.__e2eInjected = true";
    document.body.append(script);
  });
  await problems.waitFor(/^CSP violation: script-src/);
  await problems.waitFor(/^console\.error: .*Content Security Policy/);
  expect(await page.evaluate(() => "__e2eInjected" in window)).toBe(false);

  await page.evaluate(() => console.error("e2e: a deliberate console error"));
  await problems.waitFor(/^console\.error: e2e: a deliberate console error/);

  await page.evaluate(() => {
    setTimeout(() => {
      throw new Error("e2e: a deliberate uncaught error");
    });
  });
  await problems.waitFor(/^uncaught Error: e2e: a deliberate uncaught error/);
  expect(problems.list()).toEqual([]);
});

// Pairing a machine through the device page: `anchor login` prints a code and a link, the
// signed-in person opens it, checks what asks, names it and approves (or denies); then the
// machine shows in Settings, where it is renamed and revoked.
import type { Page } from "playwright-core";

import { anchorLogin, anchorRun, axeScan, expect, screenshots, test } from "./support";

/**
 * The private network namespace the tests run in has only loopback, so Chromium reports
 * `navigator.onLine === false` and the client shows its offline banner (in the screenshots
 * too). Say online, as a real device with a network would.
 */
async function online(page: Page): Promise<void> {
  await page.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, "onLine", { configurable: true, get: () => true });
  });
}

const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;

async function signedIn(page: Page): Promise<void> {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Settings" }).waitFor();
}

/** A new account with a passkey, through the sign-up screen, from wherever the page is (the
 * sign-in page is shown for any screen while signed out, and returns there afterwards). */
async function signUpHere(page: Page): Promise<void> {
  await page.getByRole("button", { name: "Create an account" }).click();
  await page.getByRole("textbox", { name: "Account name" }).fill(unique("dev"));
  await page.getByRole("button", { name: "Create with a passkey" }).click();
  await signedIn(page);
}

test("the link of anchor login leads through sign-in to the request, which is approved under a new name", async ({
  page,
  authenticator,
  stack,
}) => {
  expect(authenticator.id).toBeTruthy();
  await online(page);
  const login = await anchorLogin(stack, "e2e-laptop");

  // Signed out: the link asks to sign in first, then comes back to the request.
  await page.goto(login.verificationUriComplete);
  await page.getByRole("heading", { name: "Sign in to Orbit" }).waitFor();
  await signUpHere(page);
  await page.getByRole("heading", { name: "Pair a machine" }).waitFor();
  expect(new URL(page.url()).search).toBe(`?code=${login.userCode}`);

  const request = page.getByRole("region", { name: "Pairing request" });
  await request.getByText(login.userCode, { exact: true }).waitFor();
  await request.getByText("e2e-laptop", { exact: true }).waitFor();
  await request.getByText("Linux", { exact: true }).waitFor();
  await request.getByText("just now").waitFor();
  await request.getByText(/Approve only if your own terminal shows this code/).waitFor();
  const rename = request.getByRole("textbox", { name: "Name for this machine" });
  expect(await rename.inputValue()).toBe("e2e-laptop");
  await axeScan(page);
  await screenshots(page, "device-approval");

  await rename.fill("laptop");
  await request.getByRole("button", { name: "Approve" }).click();
  await page
    .getByRole("status")
    .filter({ hasText: "laptop is paired — it will show online on the home screen in a moment." })
    .waitFor();
  const { anchorId } = await login.done();
  expect(anchorId).toBeTruthy();

  // The machine runs: Home shows it online, under the name it was approved with.
  const anchor = await anchorRun(stack, login.stateDir);
  await anchor.waitReady();
  await page.goto("/");
  await page.getByRole("region", { name: "laptop" }).getByText("Online", { exact: true }).waitFor();

  // Settings lists it; it is renamed in place, then revoked after a confirmation.
  await page.goto("/settings");
  const anchors = page.getByRole("region", { name: "Anchors" });
  const machines = anchors.getByRole("list", { name: "Paired machines" });
  await machines.getByRole("button", { name: "Rename laptop" }).waitFor();
  await axeScan(page);
  await screenshots(page, "settings", { fullPage: true });

  await machines.getByRole("button", { name: "Rename laptop" }).click();
  const newName = machines.getByRole("textbox", { name: "New name for laptop" });
  await newName.fill("workstation");
  await newName.press("Enter");
  await machines.getByRole("button", { name: "Rename workstation" }).waitFor();
  await anchors.getByRole("status").filter({ hasText: "Renamed to “workstation”." }).waitFor();

  await machines.getByRole("button", { name: "Revoke workstation" }).click();
  await machines.getByRole("button", { name: "Revoke machine" }).click();
  await anchors.getByRole("status").filter({ hasText: "“workstation” is revoked" }).waitFor();
  await anchors.getByText(/No machine is paired yet/).waitFor();
});

test("a code typed by hand, in any case, is denied; the machine gets no credentials", async ({
  page,
  authenticator,
  stack,
}) => {
  expect(authenticator.id).toBeTruthy();
  const login = await anchorLogin(stack, "e2e-stranger");
  await page.goto("/signin");
  await signUpHere(page);

  await page.goto("/device");
  await page.getByRole("textbox", { name: "Code" }).fill(login.userCode.replace("-", " ").toLowerCase());
  await page.getByRole("button", { name: "Continue" }).click();
  const request = page.getByRole("region", { name: "Pairing request" });
  await request.getByText("e2e-stranger", { exact: true }).waitFor();
  await request.getByRole("button", { name: "Deny" }).click();
  await page.getByRole("status").filter({ hasText: /^Denied\./ }).waitFor();
  await expect(login.done(20_000)).rejects.toThrow(/denied/i);
});

test("codes that are malformed, unknown or already used are explained", async ({
  page,
  authenticator,
  problems,
  stack,
}) => {
  expect(authenticator.id).toBeTruthy();
  // The refusals below are 404s and 409s, which Chromium logs as failed loads.
  problems.allow(/Failed to load resource: the server responded with a status of 40[49]/);
  await page.goto("/signin");
  await signUpHere(page);
  const alert = page.getByRole("alert").filter({ hasText: /\S/ });

  // Malformed: caught before asking Orbit.
  await page.goto("/device?code=ABCD-123");
  await expect(alert.textContent()).resolves.toMatch(/never contains “A”/);

  // Unknown (a well-formed code nobody is waiting with; 20⁸ codes make a clash unlikely).
  await page.goto("/device?code=BBBB-BBBB");
  await expect(alert.textContent()).resolves.toMatch(/No machine is waiting with this code/);
  // The form is there to type another one.
  await page.getByRole("textbox", { name: "Code" }).waitFor();

  // Used: approved once, then opened again.
  const login = await anchorLogin(stack, "e2e-once");
  await page.goto(`/device?code=${login.userCode}`);
  await page.getByRole("button", { name: "Approve" }).click();
  await page.getByRole("status").filter({ hasText: "is paired" }).waitFor();
  await login.done();
  await page.goto(`/device?code=${login.userCode}`);
  await expect(alert.textContent()).resolves.toMatch(/used already|No machine is waiting/);
});

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

test("the link of anchor login leads through sign-in to the request, which is approved under a new name once its first letters are typed", async ({
  page,
  authenticator,
  problems,
  stack,
}) => {
  expect(authenticator.id).toBeTruthy();
  // Orbit refuses the wrong first letters with a 400, which Chromium logs as a failed load.
  problems.allow(/Failed to load resource: the server responded with a status of 400/);
  await online(page);
  const login = await anchorLogin(stack, "e2e-laptop");

  // Signed out: the link asks to sign in first, then comes back to the request.
  await page.goto(login.verificationUriComplete);
  await page.getByRole("heading", { name: "Sign in to Orbit" }).waitFor();
  await signUpHere(page);
  await page.getByRole("heading", { name: "Pair a machine" }).waitFor();
  expect(new URL(page.url()).search).toBe(new URL(login.verificationUriComplete).search);

  const request = page.getByRole("region", { name: "Pairing request" });
  // Opened from a link, the page shows only the code's end: its start is on the terminal.
  await request.getByText(`····-${login.userCode.slice(5)}`, { exact: true }).waitFor();
  await expect(request.getByText(login.userCode, { exact: true }).count()).resolves.toBe(0);
  await request.getByText("e2e-laptop", { exact: true }).waitFor();
  await request.getByText("Linux", { exact: true }).waitFor();
  // Where it asked from, which the machine cannot choose (Miniflare's stand-in for
  // Cloudflare's view: Austin, US, AS395747; the stack's address).
  await request.getByText(/^Requested just now from Austin, US, on AS395747(, address \S+)?\.$/).waitFor();
  await request.getByText(/Approve only a code that your own terminal shows you right now/).waitFor();
  const rename = request.getByRole("textbox", { name: "Name for this machine" });
  expect(await rename.inputValue()).toBe("e2e-laptop");
  await axeScan(page);
  await screenshots(page, "device-approval");

  await rename.fill("laptop");
  // Approving takes the code's first letters: none, then wrong ones, are refused.
  const confirm = request.getByRole("textbox", { name: "First 4 letters of the code in your terminal" });
  const alert = request.getByRole("alert").filter({ hasText: /\S/ });
  await request.getByRole("button", { name: "Approve" }).click();
  await expect(alert.textContent()).resolves.toMatch(/Type the first 4 letters of the code your terminal shows/);
  const wrong = [...login.userCode.slice(0, 4)].map((c) => (c === "B" ? "C" : "B")).join("");
  await confirm.fill(wrong);
  await request.getByRole("button", { name: "Approve" }).click();
  await expect(alert.textContent()).resolves.toMatch(/not the first letters of this code/);
  await expect(login.done(1_000)).rejects.toThrow(/still waiting/);
  await confirm.fill(login.userCode.slice(0, 4).toLowerCase());
  await request.getByRole("button", { name: "Approve" }).click();
  await page
    .getByRole("status")
    .filter({ hasText: "laptop is paired — it will show online on the home screen in a moment." })
    .waitFor();
  const { anchorId, output } = await login.done();
  expect(anchorId).toBeTruthy();
  // The terminal says which account it now belongs to.
  expect(output).toMatch(/Approved for the Orbit account "dev-[^"]+"\./);

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
  // A code put in the URL came from whoever wrote the URL: its first letters are asked too,
  // and checked by the page.
  await page.goto(`/device?code=${login.userCode}`);
  const confirm = page.getByRole("textbox", { name: "First 4 letters of the code in your terminal" });
  await confirm.fill(login.userCode.slice(5));
  await page.getByRole("button", { name: "Approve" }).click();
  await expect(alert.textContent()).resolves.toMatch(/not the first letters of this code/);
  await confirm.fill(login.userCode.slice(0, 4));
  await page.getByRole("button", { name: "Approve" }).click();
  await page.getByRole("status").filter({ hasText: "is paired" }).waitFor();
  await login.done();
  await page.goto(`/device?code=${login.userCode}`);
  await expect(alert.textContent()).resolves.toMatch(/used already|No machine is waiting/);
});

// Signing in and creating accounts through the web client's own screens: a passkey made by
// Chromium's virtual authenticator, TOTP with codes computed here (RFC 6238), the refusals a
// person can meet (cancelled prompt, wrong and replayed codes, a rate limit), and a session
// revoked from another browser.
import { createHmac } from "node:crypto";
import type { BrowserContext, Page } from "playwright-core";

import {
  addVirtualAuthenticator,
  axeScan,
  contextOptions,
  expect,
  makeStale,
  screenshots,
  test,
  waitFor,
  watchContext,
} from "./support";

// --- TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30 s), as an authenticator app computes it ----------

function base32(secret: string): Buffer {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of secret.replace(/[\s=]/g, "").toUpperCase()) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error(`not base32: ${c}`);
    bits += v.toString(2).padStart(5, "0");
  }
  const bytes: number[] = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** The code of time step `step` (default: now's). */
function totpCode(secret: string, step = Math.floor(Date.now() / 30_000)): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", base32(secret)).update(counter).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(value).padStart(6, "0");
}

/** The TOTP secret of the enrolment on screen, read from its otpauth:// link. */
async function shownSecret(page: Page): Promise<string> {
  const link = page.getByRole("link", { name: "Open the setup link in your authenticator app" });
  const uri = await link.getAttribute("href");
  expect(uri).toMatch(/^otpauth:\/\/totp\//);
  const secret = new URL(uri!).searchParams.get("secret");
  expect(secret).toBeTruthy();
  return secret!;
}

// --- The screens -----------------------------------------------------------------------------

/**
 * The private network namespace the tests run in has only loopback, so Chromium reports
 * `navigator.onLine === false` and the client, believing the device offline, neither opens its
 * socket (which carries the revocation) nor hides its offline banner. Say online, as a real
 * device with a network would.
 */
async function online(page: Page): Promise<void> {
  await page.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, "onLine", { configurable: true, get: () => true });
  });
}

const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;

/** Waits until the app shows the signed-in shell. */
async function signedIn(page: Page): Promise<void> {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Settings" }).waitFor();
}

/** Waits until the sign-in page is shown (signed out). */
async function signedOut(page: Page): Promise<void> {
  await page.getByRole("heading", { name: "Sign in to Orbit" }).waitFor();
}

async function signOutFromHeader(page: Page): Promise<void> {
  await page.getByRole("navigation", { name: "Main" }).getByRole("button", { name: "Sign out", exact: true }).click();
  await signedOut(page);
}

/** Creates an account with a passkey through the sign-up screen (the page must have a virtual
 * authenticator). */
async function signUpWithPasskey(page: Page, name: string): Promise<void> {
  await page.goto("/signin");
  await page.getByRole("button", { name: "Create an account" }).click();
  await page.getByRole("textbox", { name: "Account name" }).fill(name);
  await page.getByRole("button", { name: "Create with a passkey" }).click();
  await signedIn(page);
}

// --- Tests -----------------------------------------------------------------------------------

test("a passkey creates an account, and signs in again after signing out", async ({ page, authenticator }) => {
  await page.goto("/");
  // Signed out, every screen is the sign-in page: it passes axe and is photographed.
  await signedOut(page);
  await expect(page.getByRole("button", { name: "Sign in with a passkey" }).isEnabled()).resolves.toBe(true);
  await axeScan(page);
  await screenshots(page, "signin");

  await page.getByRole("button", { name: "Create an account" }).click();
  await page.getByRole("heading", { name: "Create your Orbit account" }).waitFor();
  await axeScan(page);
  await screenshots(page, "signup");

  const name = unique("pk");
  await page.getByRole("textbox", { name: "Account name" }).fill(name);
  await page.getByRole("button", { name: "Create with a passkey" }).click();
  await signedIn(page);
  const made = await authenticator.credentials();
  expect(made).toHaveLength(1);
  expect(made[0]).toMatchObject({ rpId: "localhost", isResidentCredential: true });

  await signOutFromHeader(page);
  await page.getByRole("button", { name: "Sign in with a passkey" }).click();
  await signedIn(page);
  expect(new URL(page.url()).pathname).toBe("/");

  // The passkey is listed in Settings, labelled with where it was made.
  await page.goto("/settings");
  await page.getByRole("list", { name: "Passkeys" }).getByText("Headless Chrome on Linux", { exact: true }).waitFor();
});

test("TOTP creates an account; wrong and replayed codes are explained; a fresh code signs in", async ({
  page,
  problems,
}) => {
  // The refusals below are 401s, which Chromium logs as failed loads.
  problems.allow(/Failed to load resource: the server responded with a status of 401/);
  const name = unique("totp");
  await page.goto("/signin");
  await page.getByRole("button", { name: "Create an account" }).click();
  await page.getByRole("textbox", { name: "Account name" }).fill(name);
  await page.getByRole("button", { name: "Use an authenticator app (TOTP)" }).click();
  const qr = page.getByRole("img", { name: /QR code to add/ });
  await qr.waitFor();
  expect(await qr.getAttribute("src")).toMatch(/^data:image\/svg\+xml/);
  await expect(page.getByText(/^otpauth:\/\/totp\/Orbit:/).count()).resolves.toBe(1);
  await axeScan(page);
  await screenshots(page, "signup-totp");

  const secret = await shownSecret(page);
  const step = Math.floor(Date.now() / 30_000);
  await page.getByRole("textbox", { name: "Code" }).fill(totpCode(secret, step));
  await page.getByRole("button", { name: "Create account" }).click();
  await signedIn(page);
  await signOutFromHeader(page);

  const nameBox = page.getByRole("textbox", { name: "Account name" });
  const codeBox = page.getByRole("textbox", { name: "Code" });
  const submit = page.getByRole("button", { name: "Sign in with code" });
  const alert = page.getByRole("alert").filter({ hasText: /\S/ });

  // A code of none of the accepted steps.
  const accepted = new Set([step - 1, step, step + 1, step + 2].map((s) => totpCode(secret, s)));
  const wrong = ["000000", "111111", "222222", "333333"].find((c) => !accepted.has(c))!;
  await nameBox.fill(name);
  await codeBox.fill(wrong);
  await submit.click();
  await expect(alert.textContent()).resolves.toMatch(/That code is not right/);

  // The code that confirmed the enrolment is spent.
  await codeBox.fill(totpCode(secret, step));
  await submit.click();
  await waitFor("the replay to be explained", async () => /used already/.test((await alert.textContent()) ?? ""));

  // The next step's code is within Orbit's ±1 window and unused.
  await codeBox.fill(totpCode(secret, step + 1));
  await submit.click();
  await signedIn(page);
});

test("a cancelled passkey prompt says so and offers the code", async ({ page }) => {
  // What browsers throw when the person dismisses the prompt or it times out.
  await page.addInitScript(() => {
    navigator.credentials.get = () =>
      Promise.reject(new DOMException("The operation either timed out or was not allowed.", "NotAllowedError"));
  });
  await page.goto("/signin");
  await page.getByRole("button", { name: "Sign in with a passkey" }).click();
  const alert = page.getByRole("alert").filter({ hasText: /\S/ });
  await expect(alert.textContent()).resolves.toMatch(/cancelled or timed out.*code from your authenticator app/);
  // The code form has the focus, ready to type.
  await waitFor("the account name to have the focus", () =>
    page.evaluate(() => document.activeElement?.id === "signin-name"),
  );
});

test("a rate limit shows a live countdown and holds the button until it ends", async ({ page, problems }) => {
  problems.allow(/Failed to load resource: the server responded with a status of (401|429)/);
  await page.goto("/signin");
  // Per-account limits hold on the stack (5 TOTP tries an hour); an unknown name is its own key.
  const name = unique("nobody");
  await page.getByRole("textbox", { name: "Account name" }).fill(name);
  const submit = page.getByRole("button", { name: "Sign in with code" });
  const timer = page.getByRole("timer");
  for (let i = 0; i < 8 && !(await timer.isVisible()); i++) {
    await page.getByRole("textbox", { name: "Code" }).fill("123456");
    await submit.click();
    await waitFor("an answer", async () => (await submit.isEnabled()) || (await timer.isVisible()));
  }
  await timer.waitFor();
  const alert = page.getByRole("alert").filter({ hasText: /\S/ });
  await expect(alert.textContent()).resolves.toMatch(/Too many attempts\. You can try again in/);
  expect(await submit.isDisabled()).toBe(true);
  const first = (await timer.textContent()) ?? "";
  expect(first).toMatch(/^\d+:\d\d$/);
  // It counts down.
  await waitFor("the countdown to move", async () => ((await timer.textContent()) ?? first) !== first, 5_000);
});

test("revoking a session from another browser signs it out there, saying why", async ({
  page,
  authenticator,
  browser,
  stack,
}) => {
  const name = unique("two");
  await online(page);
  await signUpWithPasskey(page, name);

  // A second browser (its own storage) with the same passkey.
  const other: BrowserContext = await browser.newContext(contextOptions(stack));
  const otherProblems = await watchContext(other);
  try {
    const second = await other.newPage();
    await online(second);
    const secondKey = await addVirtualAuthenticator(second);
    for (const credential of await authenticator.credentials()) await secondKey.addCredential(credential);
    await second.goto("/signin");
    await second.getByRole("button", { name: "Sign in with a passkey" }).click();
    await signedIn(second);

    await second.goto("/settings");
    const sessions = second.getByRole("list", { name: "Signed-in browsers" });
    await sessions.getByText("this device", { exact: true }).waitFor();
    // The first browser's session is the one not marked "this device".
    await sessions.getByRole("button", { name: /^Revoke/ }).click();
    await second.getByRole("status").filter({ hasText: "is signed out" }).waitFor();

    // The first browser hears it on its socket (close 4003) and shows why it is signed out.
    await signedOut(page);
    await page.getByText("This session was signed out, from here or from another device.").waitFor();
    await secondKey.remove();
  } finally {
    await other.close();
    otherProblems.assertNone();
  }
});

// `authenticator` is asked for to give `page` its virtual authenticator.
/** The console errors Chromium logs for Orbit's `403 step_up_required` answers to `path`. */
const refusedStale = (path: string) => new RegExp(`status of 403 \\(Forbidden\\) \\(http[^)]*${path}:`);

/** Answers the "Confirm it's you" dialog with the page's passkey; waits until it is gone. */
async function confirmWithPasskey(page: Page): Promise<void> {
  const dialog = page.getByRole("dialog", { name: "Confirm it's you" });
  await dialog.getByRole("button", { name: "Use a passkey" }).click();
  await dialog.waitFor({ state: "hidden" });
}

test("an invite link opens account creation with the invite", async ({ page, authenticator, browser, stack, problems }) => {
  expect(authenticator.id).toBeTruthy();
  await signUpWithPasskey(page, unique("host"));
  await page.goto("/settings");
  // Signed in more than the step-up window ago: the invite waits for "Confirm it's you".
  await page.getByRole("button", { name: "Make an invite" }).waitFor();
  await makeStale(stack, page);
  await page.getByRole("button", { name: "Make an invite" }).click();
  await confirmWithPasskey(page);
  expect(problems.take(refusedStale("/auth/invites"))).toHaveLength(1);
  const link = await page.getByRole("textbox", { name: "Invite link" }).inputValue();
  expect(link).toMatch(new RegExp(`^${stack.orbit}/signin\\?invite=inv_`));

  const guest = await browser.newContext(contextOptions(stack));
  const guestProblems = await watchContext(guest);
  try {
    const page2 = await guest.newPage();
    const key = await addVirtualAuthenticator(page2);
    await page2.goto(link);
    await page2.getByRole("heading", { name: "Create your Orbit account" }).waitFor();
    await page2.getByText("You were invited").waitFor();
    await page2.getByRole("textbox", { name: "Account name" }).fill(unique("guest"));
    await page2.getByRole("button", { name: "Create with a passkey" }).click();
    await signedIn(page2);
    await key.remove();
  } finally {
    await guest.close();
    guestProblems.assertNone();
  }
});

test("Settings turns TOTP on with a first code and off with a current one", async ({
  page,
  authenticator,
  stack,
  problems,
}) => {
  expect(authenticator.id).toBeTruthy();
  await signUpWithPasskey(page, unique("both"));
  await page.goto("/settings");
  const totp = page.getByRole("region", { name: "Authenticator app" });
  // A new way in from a session that signed in more than the window ago: confirmed first.
  await totp.getByRole("button", { name: "Set up an authenticator app" }).waitFor();
  await makeStale(stack, page);
  await totp.getByRole("button", { name: "Set up an authenticator app" }).click();
  await confirmWithPasskey(page);
  expect(problems.take(refusedStale("/auth/totp/enroll/start"))).toHaveLength(1);
  await totp.getByRole("img", { name: /QR code to add/ }).waitFor();
  const secret = await shownSecret(page);
  const step = Math.floor(Date.now() / 30_000);
  await totp.getByRole("textbox", { name: "Code" }).fill(totpCode(secret, step));
  await totp.getByRole("button", { name: "Turn on" }).click();
  await totp.getByRole("status").filter({ hasText: "is set up" }).waitFor();
  await page.getByRole("region", { name: "Account" }).getByText("1 passkey and an authenticator app").waitFor();

  // Off, with the next code (the first one is spent).
  await totp.getByRole("textbox", { name: "Current code" }).fill(totpCode(secret, step + 1));
  await totp.getByRole("button", { name: "Turn off" }).click();
  await totp.getByRole("status").filter({ hasText: "is off" }).waitFor();
  await totp.getByRole("button", { name: "Set up an authenticator app" }).waitFor();
});

test("a stale session is asked to confirm it's you; a cancel changes nothing, a passkey lets the change through", async ({
  page,
  authenticator,
  stack,
  problems,
}) => {
  expect(authenticator.id).toBeTruthy();
  await signUpWithPasskey(page, unique("stepup"));
  await page.goto("/settings");
  const invites = page.getByRole("button", { name: "Make an invite" });
  await invites.waitFor();
  await makeStale(stack, page);

  // Cancelled: no invite, and the page says nothing was changed.
  await invites.click();
  const dialog = page.getByRole("dialog", { name: "Confirm it's you" });
  await dialog.getByText("one of your passkeys").waitFor();
  // A passkey-only account is offered the passkey, not a code.
  await expect(dialog.getByRole("textbox", { name: "Code" }).count()).resolves.toBe(0);
  await axeScan(page);
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await dialog.waitFor({ state: "hidden" });
  await page.getByText(/Nothing was changed/).waitFor();
  await expect(page.getByRole("textbox", { name: "Invite link" }).count()).resolves.toBe(0);

  // Escape cancels too.
  await invites.click();
  await dialog.waitFor();
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "hidden" });
  await expect(page.getByRole("textbox", { name: "Invite link" }).count()).resolves.toBe(0);

  // Confirmed with the passkey: the invite is made, and the session stays fresh for the next one.
  await invites.click();
  await confirmWithPasskey(page);
  const first = await page.getByRole("textbox", { name: "Invite link" }).inputValue();
  expect(first).toMatch(/invite=inv_/);
  // Orbit refused each of the three attempts once; the confirmed one went through on its retry.
  expect(problems.take(refusedStale("/auth/invites"))).toHaveLength(3);
});

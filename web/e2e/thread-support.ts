// What the thread tests share: an account with a passkey, an anchor running codex with the mock
// model, a thread started in a folder of its own and opened in the page, and the thread view's
// landmarks.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Locator, Page } from "playwright-core";

import { anchorRun, expect, pairAnchor, type Stack } from "./support";

export const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;

/** The private network namespace has only loopback, so Chromium reports `navigator.onLine ===
 * false` and the client would not even try to connect: say online, as a real device would. */
export async function online(page: Page): Promise<void> {
  await page.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, "onLine", { configurable: true, get: () => true });
  });
}

/** A new account with a passkey, through the sign-up screen; returns its web access token. */
export async function signUp(page: Page, prefix = "thread"): Promise<string> {
  await online(page);
  await page.goto("/signin");
  await page.getByRole("button", { name: "Create an account" }).click();
  await page.getByRole("textbox", { name: "Account name" }).fill(unique(prefix));
  await page.getByRole("button", { name: "Create with a passkey" }).click();
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Settings" }).waitFor();
  const token = await page.evaluate(
    () => (JSON.parse(localStorage.getItem("orbit.session.v1") ?? "{}") as { accessToken?: string }).accessToken,
  );
  expect(token).toBeTruthy();
  return token ?? "";
}

/** `thread/start` through Orbit, as any client would (starting threads is Home's job). */
export async function startThread(page: Page, s: Stack, token: string, anchorId: string, cwd: string): Promise<string> {
  const url = `${s.orbit.replace(/^http/, "ws")}/ws/client`;
  return page.evaluate(
    async ({ url, token, anchorId, cwd }) => {
      const ws = new WebSocket(url, ["orbit.v1", `orbit.bearer.${token}`]);
      const answer = new Promise<Record<string, unknown>>((done, fail) => {
        ws.onmessage = (e) => {
          const frame = JSON.parse(String(e.data)) as Record<string, unknown>;
          if (frame.type === "orbit.hello") {
            const params = { anchorId, cwd, approvalPolicy: "on-request", sandbox: "workspace-write" };
            ws.send(JSON.stringify({ id: 1, method: "thread/start", params }));
          } else if (frame.id === 1) {
            done(frame);
          }
        };
        setTimeout(() => fail(new Error("thread/start: no answer within 60 s")), 60_000);
      });
      const frame = await answer;
      ws.close();
      const id = (frame.result as { thread?: { id?: string } } | undefined)?.thread?.id;
      if (!id) throw new Error(`thread/start: ${JSON.stringify(frame)}`);
      return id;
    },
    { url, token, anchorId, cwd },
  );
}

export interface Opened {
  anchorId: string;
  threadId: string;
  cwd: string;
  path: string;
}

/** Signs up, pairs and runs an anchor, starts a thread in a folder of its own and opens it. */
export async function openThread(page: Page, s: Stack, name: string): Promise<Opened> {
  const token = await signUp(page);
  const { stateDir, anchorId } = await pairAnchor(s, token, name);
  const anchor = await anchorRun(s, stateDir);
  await anchor.waitReady();
  const cwd = join(s.workspace, unique(name));
  mkdirSync(cwd, { recursive: true });
  const threadId = await startThread(page, s, token, anchorId, cwd);
  const path = `/thread/${encodeURIComponent(anchorId)}/${encodeURIComponent(threadId)}`;
  await page.goto(path);
  await composer(page).waitFor();
  return { anchorId, threadId, cwd, path };
}

export const composer = (page: Page) => page.getByRole("textbox", { name: "Message" });
export const transcript = (page: Page) => page.getByRole("region", { name: "Transcript" });
export const lastReply = (page: Page) => transcript(page).getByRole("article", { name: "Codex said" }).last();
export const button = (scope: Page | Locator, name: string) => scope.getByRole("button", { name, exact: true });

/** Types a message and sends it with Enter (a hardware keyboard: Enter sends). */
export async function say(page: Page, text: string): Promise<void> {
  await composer(page).fill(text);
  await composer(page).press("Enter");
}

/** The turn is over: the composer offers Send again. */
export async function idle(page: Page): Promise<void> {
  await button(page, "Send").waitFor({ timeout: 60_000 });
}

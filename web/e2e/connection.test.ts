// The link under stress, against the real stack: a socket cut in the middle of a streamed reply,
// and a page hidden for a minute while its socket silently died (a phone put away). In both the
// reply ends with every delta exactly once, in order, and the page catches up by itself.
import type { Page } from "playwright-core";

import { expect, test } from "./support";
import { idle, lastReply, openThread, say, transcript } from "./thread-support";

/**
 * Test controls installed before the app runs:
 * - `__orbitSockets`: every WebSocket the page opened;
 * - `__orbitSever(ws)`: the socket goes silent both ways without closing, as a TCP connection
 *   does when the OS of a sleeping phone drops it (nothing in, nothing out, no close event);
 * - `__orbitShow(visible)`: `document.visibilityState` as the test says, with the event.
 */
async function controls(page: Page): Promise<void> {
  await page.addInitScript(() => {
    type Severable = WebSocket & { severed?: boolean };
    const w = window as unknown as {
      __orbitSockets: Severable[];
      __orbitSever: (ws: Severable) => void;
      __orbitShow: (visible: boolean) => void;
    };
    const Native = window.WebSocket;
    w.__orbitSockets = [];
    class Watched extends Native {
      severed = false;
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols);
        w.__orbitSockets.push(this);
        // Registered before the app's `onmessage`, so it runs first and can swallow the event.
        this.addEventListener("message", (e) => {
          if (this.severed) e.stopImmediatePropagation();
        });
      }
      override send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
        if (!this.severed) super.send(data);
      }
    }
    window.WebSocket = Watched;
    w.__orbitSever = (ws) => {
      ws.severed = true;
    };
    let hidden = false;
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => (hidden ? "hidden" : "visible") });
    Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
    w.__orbitShow = (visible) => {
      hidden = !visible;
      document.dispatchEvent(new Event("visibilitychange", { bubbles: true }));
    };
  });
}

/** What `[mock:slow N MS]` says, whole. */
const slowText = (n: number) => Array.from({ length: n }, (_, i) => `chunk ${i + 1}`).join(" ");

/** The subscriptions the page sent, in order, on every socket. */
function subscriptions(page: Page): Record<string, unknown>[] {
  const sent: Record<string, unknown>[] = [];
  page.on("websocket", (ws) =>
    ws.on("framesent", (f) => {
      const frame = JSON.parse(String(f.payload)) as Record<string, unknown>;
      if (frame.type === "orbit.subscribe") sent.push(frame);
    }),
  );
  return sent;
}

/** The reply's words, each chunk once and in order, and only one reply for the turn. */
async function expectWholeReply(page: Page, n: number): Promise<void> {
  await idle(page);
  const replies = transcript(page).getByRole("article", { name: "Codex said" });
  expect(await replies.count()).toBe(1);
  // The article starts with its visually hidden speaker, "Codex".
  const text = (await lastReply(page).innerText()).replace(/\s+/g, " ").trim().replace(/^Codex /, "");
  expect(text).toBe(slowText(n));
}

test("a socket cut mid-stream reconnects from its last seq: no delta missing, none twice", async ({
  page,
  authenticator,
  stack,
}) => {
  expect(authenticator.id).toBeTruthy();
  await controls(page);
  const subscribed = subscriptions(page);
  const { threadId } = await openThread(page, stack, "e2e-cut");

  const n = 40;
  await say(page, `[mock:slow ${n} 100]`);
  await lastReply(page).getByText(/chunk 5\b/).waitFor({ timeout: 60_000 });
  const before = subscribed.length;
  // The browser's end of the link closes under the app mid-stream.
  await page.evaluate(() => (window as unknown as { __orbitSockets: WebSocket[] }).__orbitSockets.at(-1)?.close());

  await expectWholeReply(page, n);
  // It came back by itself and asked for what followed the last frame it had.
  const again = subscribed.slice(before).filter((f) => f.threadId === threadId);
  expect(again.length).toBeGreaterThan(0);
  expect(typeof again[0]?.sinceSeq).toBe("number");
});

test("a page hidden for a minute while its socket silently died catches up within 2 s of being shown", async ({
  page,
  authenticator,
  stack,
}) => {
  expect(authenticator.id).toBeTruthy();
  await controls(page);
  await openThread(page, stack, "e2e-wake");

  const n = 20;
  await say(page, `[mock:slow ${n} 100]`);
  await lastReply(page).getByText(/chunk 2\b/).waitFor({ timeout: 60_000 });
  await page.evaluate(() => {
    const w = window as unknown as { __orbitSockets: WebSocket[]; __orbitSever: (ws: WebSocket) => void; __orbitShow: (v: boolean) => void };
    w.__orbitShow(false);
    const ws = w.__orbitSockets.at(-1);
    if (ws) w.__orbitSever(ws);
  });
  // The phone is in a pocket for a minute; the turn finishes meanwhile.
  await page.waitForTimeout(60_000);
  expect(await lastReply(page).innerText()).not.toContain(`chunk ${n}`);

  const shownAt = Date.now();
  await page.evaluate(() => (window as unknown as { __orbitShow: (v: boolean) => void }).__orbitShow(true));
  await lastReply(page).getByText(new RegExp(`chunk ${n}\\b`)).waitFor({ timeout: 2_000 });
  const caughtUpMs = Date.now() - shownAt;
  console.log(`caught up ${caughtUpMs} ms after the page was shown`);
  await expectWholeReply(page, n);
  // The "reconnecting" banner waits 3 s: a catch-up this quick never shows it.
  expect(await page.getByText(/Reconnecting/i).count()).toBe(0);
});

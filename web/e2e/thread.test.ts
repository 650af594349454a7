// The thread view against a real anchor and codex, driven by the mock model: a reply streams in
// and renders as Markdown; commands are approved or declined from the approval shown at the
// command; a stalled turn is interrupted and the follow-up queued meanwhile goes out; a file
// change is approved from the diff shown in the approval itself; a second tab on the thread sees
// the same stream and its copy of the approval goes once the first tab answered; a script
// payload from the model stays text. Every page is watched: a console error or a
// Content-Security-Policy violation fails the test.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { axeScan, expect, screenshots, test, waitFor } from "./support";
import { button, composer, idle, lastReply, online, openThread, say, transcript } from "./thread-support";

test("a reply streams in and renders as Markdown, with highlighted code", async ({ page, authenticator, stack }) => {
  expect(authenticator.id).toBeTruthy();
  const { cwd, anchorId } = await openThread(page, stack, "e2e-md");

  // The header names the folder, with a link to it in Files.
  const files = page.getByRole("link", { name: `Files in ${cwd}` });
  expect(await files.getAttribute("href")).toBe(`/files/${encodeURIComponent(anchorId)}?path=${encodeURIComponent(cwd)}`);

  // A draft survives a reload.
  await composer(page).fill("draft that must survive");
  await page.waitForTimeout(400);
  await page.reload();
  await expect(composer(page).inputValue()).resolves.toBe("draft that must survive");

  const markdown = [
    "# Plan of attack",
    "",
    "Some **bold** words and `inline code`, and [a link](https://example.com/docs).",
    "",
    "```js",
    "const answer = 42;",
    "```",
    "",
    "- first",
    "- second",
  ].join("\n");
  await say(page, `[mock:say ${markdown}]`);
  // Sent: the draft is gone, the message is in the transcript.
  await expect(composer(page).inputValue()).resolves.toBe("");
  await transcript(page).getByRole("article", { name: "You said" }).waitFor();

  const reply = lastReply(page);
  await reply.getByRole("heading", { name: "Plan of attack" }).waitFor();
  await reply.locator("strong", { hasText: "bold" }).waitFor();
  await reply.getByRole("listitem").filter({ hasText: "second" }).waitFor();
  const link = reply.getByRole("link", { name: "a link" });
  expect(await link.getAttribute("target")).toBe("_blank");
  expect(await link.getAttribute("rel")).toBe("noopener noreferrer");
  // highlight.js arrives on demand and the code block is drawn again, highlighted.
  await reply.locator("pre code.hljs .hljs-keyword", { hasText: "const" }).waitFor();
  await idle(page);
  await page.getByText(/^Tokens: /).waitFor();
  expect(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("orbit.draft.")))).toEqual([]);

  await axeScan(page);
  await screenshots(page, "thread");
});

test("a command needs approval: accepted, it runs and its output shows; declined, it does not run", async ({
  page,
  authenticator,
  stack,
}) => {
  expect(authenticator.id).toBeTruthy();
  await openThread(page, stack, "e2e-cmd");

  await say(page, "[mock:command echo approved-$((40+2))]");
  const approval = page.getByRole("group", { name: "Run this command?" });
  await approval.waitFor({ timeout: 60_000 });
  await approval.locator("code", { hasText: "echo approved-$((40+2))" }).waitFor();
  // Orbit names the machine that asks: the name the anchor was paired under.
  await approval.getByText("Asked by e2e-cmd", { exact: true }).waitFor();
  await approval.getByText(/Keys, while this box has focus/).waitFor();
  await axeScan(page);
  await screenshots(page, "thread-approval");
  await button(approval, "Accept").click();
  await page.getByText("Answered here").waitFor();
  const command = transcript(page).getByRole("article", { name: /^Command: .*approved-/ });
  await command.getByLabel(/^Output of /).getByText("approved-42").waitFor({ timeout: 60_000 });
  await command.getByText("Exit 0").waitFor();
  await idle(page);

  // Declined with the keyboard: D, with focus in the approval.
  await say(page, "[mock:command echo should-never-run]");
  const second = page.getByRole("group", { name: "Run this command?" });
  await second.waitFor({ timeout: 60_000 });
  await button(second, "Decline").focus();
  await page.keyboard.press("d");
  await idle(page);
  const declined = transcript(page).getByRole("article", { name: /^Command: .*should-never-run/ });
  // codex offers "cancel" as its way to say no (it also stops the turn): the command never ran.
  await declined.getByText(/^(Declined|Stopped)$/).waitFor();
  expect(await declined.getByLabel(/^Output of /).count()).toBe(0);
});

test("a stalled turn is interrupted, and the follow-up queued meanwhile goes out after it", async ({
  page,
  authenticator,
  stack,
}) => {
  expect(authenticator.id).toBeTruthy();
  await openThread(page, stack, "e2e-stall");

  await say(page, "[mock:stall]");
  const interrupt = button(page, "Interrupt");
  await interrupt.waitFor({ timeout: 60_000 });

  // Typed while the turn runs: queued, shown, not sent.
  await say(page, "follow-up after the stall");
  const queue = page.getByRole("list", { name: "Messages waiting to be sent" });
  await queue.getByText("Queued").waitFor();
  await queue.getByText("follow-up after the stall").waitFor();
  await screenshots(page, "thread-queued");

  await interrupt.click();
  // The turn ends as interrupted; the queued message is sent and answered.
  await transcript(page).getByRole("article", { name: "You said" }).filter({ hasText: "follow-up after the stall" }).waitFor({
    timeout: 60_000,
  });
  await lastReply(page).getByText("mock reply to: follow-up after the stall").waitFor({ timeout: 60_000 });
  await idle(page);
  expect(await queue.count()).toBe(0);
});

test("a file change is approved from the diff shown in the approval", async ({ page, authenticator, stack }) => {
  expect(authenticator.id).toBeTruthy();
  const { cwd } = await openThread(page, stack, "e2e-patch");

  const patch = [
    "[mock:command apply_patch <<'EOF'",
    "*** Begin Patch",
    "*** Add File: .codex/e2e-patched.txt",
    "+patched by the mock",
    "*** End Patch",
    "EOF]",
  ].join("\n");
  await say(page, patch);
  const approval = page.getByRole("group", { name: "Apply these changes?" });
  await approval.waitFor({ timeout: 60_000 });
  // The diff is in the approval itself, drawn by diff2html, before anything is decided.
  await approval.getByText(/e2e-patched\.txt/).first().waitFor();
  await approval.locator(".d2h-ins", { hasText: "patched by the mock" }).first().waitFor();
  expect(await approval.locator("[style]").count()).toBe(0);
  expect(existsSync(join(cwd, ".codex", "e2e-patched.txt"))).toBe(false);
  await axeScan(page, { exclude: [".d2h-file-wrapper"] });
  await screenshots(page, "thread-file-approval");

  await button(approval, "Accept").click();
  await page.getByText("Answered here").waitFor();
  await waitFor("the patched file", () => existsSync(join(cwd, ".codex", "e2e-patched.txt")), 60_000);
  expect(readFileSync(join(cwd, ".codex", "e2e-patched.txt"), "utf8")).toBe("patched by the mock\n");
  await transcript(page).getByRole("article", { name: /e2e-patched\.txt/ }).getByText("Applied").waitFor({ timeout: 60_000 });
  await idle(page);
});

test("a second tab sees the same stream, and its copy of the approval goes once the first answers", async ({
  page,
  context,
  authenticator,
  stack,
}) => {
  expect(authenticator.id).toBeTruthy();
  const { path } = await openThread(page, stack, "e2e-two");
  const other = await context.newPage();
  await online(other);
  await other.goto(path);
  await composer(other).waitFor();

  await say(page, "[mock:slow 8 150]");
  const expected = Array.from({ length: 8 }, (_, i) => `chunk ${i + 1}`).join(" ");
  for (const p of [page, other]) await lastReply(p).getByText(expected).waitFor({ timeout: 60_000 });
  for (const p of [page, other]) await idle(p);

  await say(page, "[mock:command echo from-two-tabs]");
  const mine = page.getByRole("group", { name: "Run this command?" });
  const theirs = other.getByRole("group", { name: "Run this command?" });
  await mine.waitFor({ timeout: 60_000 });
  await theirs.waitFor({ timeout: 60_000 });
  await button(mine, "Accept").click();
  await other.getByText("Answered on another device").waitFor();
  expect(await theirs.count()).toBe(0);
  await page.getByText("Answered here").waitFor();
  for (const p of [page, other]) {
    await transcript(p).getByRole("article", { name: /^Command: .*from-two-tabs/ }).getByText("Exit 0").waitFor({ timeout: 60_000 });
  }
  await other.close();
});

test("a script payload from the model stays text and runs nothing", async ({ page, authenticator, stack }) => {
  expect(authenticator.id).toBeTruthy();
  await openThread(page, stack, "e2e-xss");

  const payload =
    '<script>window.__orbitXss = 1</script> <img src=x onerror="window.__orbitXss = 2"> ' +
    '[click me](javascript:window.__orbitXss=3) <b style="position:fixed;inset:0">styled</b>';
  await say(page, `[mock:say ${payload}]`);
  const reply = lastReply(page);
  await reply.getByText("<script>window.__orbitXss = 1</script>", { exact: false }).waitFor({ timeout: 60_000 });
  await idle(page);
  expect(await reply.locator("script, img, [style], [onerror]").count()).toBe(0);
  const link = reply.getByText("click me");
  expect(await link.getAttribute("href")).toBeNull();
  await link.click();
  expect(await page.evaluate(() => (window as unknown as { __orbitXss?: number }).__orbitXss)).toBeUndefined();
});

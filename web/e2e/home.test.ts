// Home and Files against a real anchor and codex: the anchor shows online with its threads
// (seeded through Orbit as any client would), the list searches, a new thread starts in a folder
// picked without typing; Files shows a repository's changes, a diff, a file and the history.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";

import { anchorRun, axeScan, expect, pairAnchor, screenshots, test, type Stack } from "./support";
import { signUp, unique } from "./thread-support";

/** axe in light and in dark mode: each has its own colours to get right. */
async function axeBothSchemes(page: Page): Promise<void> {
  await axeScan(page);
  await page.emulateMedia({ colorScheme: "dark" });
  try {
    await axeScan(page);
  } finally {
    await page.emulateMedia({ colorScheme: "light" });
  }
}

function git(dir: string, ...args: string[]): void {
  execFileSync("git", ["-C", dir, "-c", "user.name=Ada", "-c", "user.email=ada@example.com", ...args], {
    env: { ...process.env, GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1" },
    stdio: "ignore",
  });
}

/** `<workspace>/<name>/{proj (a git repository with changes), notes}`. */
function makeFolders(s: Stack, name: string): { base: string; proj: string } {
  const base = join(s.workspace, name);
  const proj = join(base, "proj");
  mkdirSync(join(proj, "src"), { recursive: true });
  mkdirSync(join(base, "notes"));
  writeFileSync(join(proj, "README.md"), "# Demo\n\nA project for the browser tests.\n");
  writeFileSync(join(proj, "src", "main.rs"), 'fn main() {\n    println!("hello");\n}\n');
  git(proj, "init", "-q", "-b", "main");
  git(proj, "add", ".");
  git(proj, "commit", "-q", "-m", "first commit");
  writeFileSync(join(proj, "src", "main.rs"), 'fn main() {\n    println!("bye");\n}\n');
  writeFileSync(join(proj, "new.txt"), "not yet tracked\n");
  writeFileSync(join(proj, "data.bin"), Buffer.from([0, 1, 2, 3, 255, 254, 0, 7]));
  return { base, proj };
}

/** A thread with one finished turn, made through Orbit as any client would (the thread screen
 * is not this test's subject). Returns its id. */
async function seedThread(page: Page, s: Stack, token: string, anchorId: string, cwd: string, text: string) {
  const url = `${s.orbit.replace(/^http/, "ws")}/ws/client`;
  return page.evaluate(
    async ({ url, token, anchorId, cwd, text }) => {
      type Frame = Record<string, unknown> & { result?: { thread?: { id: string } } };
      const ws = new WebSocket(url, ["orbit.v1", `orbit.bearer.${token}`]);
      const seen: Frame[] = [];
      const waiting: { match: (f: Frame) => boolean; done: (f: Frame) => void }[] = [];
      ws.onmessage = (e) => {
        const frame = JSON.parse(String(e.data)) as Frame;
        const i = waiting.findIndex((w) => w.match(frame));
        if (i >= 0) waiting.splice(i, 1)[0]?.done(frame);
        else seen.push(frame);
      };
      const next = (match: (f: Frame) => boolean): Promise<Frame> =>
        new Promise((done, fail) => {
          const early = seen.findIndex(match);
          if (early >= 0) return done(seen.splice(early, 1)[0] as Frame);
          waiting.push({ match, done });
          setTimeout(() => fail(new Error("no answer within 60 s")), 60_000);
        });
      await next((f) => f.type === "orbit.hello");
      const params = { anchorId, cwd, approvalPolicy: "never", sandbox: "read-only" };
      ws.send(JSON.stringify({ id: 1, method: "thread/start", params }));
      const started = await next((f) => f.id === 1);
      const threadId = started.result?.thread?.id;
      if (!threadId) throw new Error(`thread/start: ${JSON.stringify(started)}`);
      ws.send(JSON.stringify({ type: "orbit.subscribe", threadId }));
      await next((f) => f.type === "orbit.subscribed");
      ws.send(JSON.stringify({ id: 2, method: "turn/start", params: { threadId, input: [{ type: "text", text }] } }));
      await next((f) => f.id === 2);
      await next((f) => f.method === "turn/completed");
      ws.close();
      return threadId;
    },
    { url, token, anchorId, cwd, text },
  );
}

test("home shows the anchor online with its threads, searches them, and starts a thread in a picked folder", async ({
  page,
  authenticator,
  stack,
}) => {
  expect(authenticator.id).toBeTruthy();
  const token = await signUp(page, "home");
  const name = unique("e2e-home");
  const { proj } = makeFolders(stack, name);

  // Signed in, nothing paired: the way to pair a machine.
  await page.goto("/");
  await page.getByRole("heading", { name: "Anchors", level: 1 }).waitFor();
  await page.getByText("No machine is paired with your account yet.").waitFor();
  await page.getByText(`anchor login --orbit ${stack.orbit}`).waitFor();
  await axeBothSchemes(page);
  await screenshots(page, "home-empty");

  const { stateDir, anchorId } = await pairAnchor(stack, token, "e2e-home");
  const anchor = await anchorRun(stack, stateDir);
  await anchor.waitReady();

  // It appears live, online, under the name it was paired with.
  await page.getByRole("button", { name: "New thread" }).waitFor();
  await page.getByText("1 of 1 online").waitFor();
  const card = page.getByRole("region", { name: "e2e-home" });
  await card.getByText("Online", { exact: true }).waitFor();
  await card.getByText("No threads yet on this machine.", { exact: false }).waitFor();

  const threadId = await seedThread(page, stack, token, anchorId, proj, "Refactor the parser\nIt is far too slow.");
  await card.getByRole("button", { name: "Refresh" }).click();
  const row = card.getByRole("link", { name: /Refactor the parser/ });
  await row.waitFor();
  expect(await row.getAttribute("href")).toBe(`/thread/${encodeURIComponent(anchorId)}/${encodeURIComponent(threadId)}`);
  await card.getByText("It is far too slow.").waitFor();
  await card.getByText("just now").first().waitFor();
  expect(await card.getByRole("link", { name: `Files in ${proj}` }).getAttribute("href")).toContain(
    encodeURIComponent(proj),
  );

  // Search: by title, by folder, and nothing.
  const search = card.getByRole("textbox", { name: "Search threads" });
  await search.fill("parser");
  await row.waitFor();
  await search.fill(name);
  await row.waitFor();
  await search.fill("no such words");
  await card.getByText("0 of 1 loaded threads match.").waitFor();
  expect(await row.count()).toBe(0);
  await search.fill("");
  await row.waitFor();
  await axeBothSchemes(page);
  await screenshots(page, "home");

  // New thread: into <name>, then proj (a git repository), by clicking only.
  await card.getByRole("button", { name: "New thread" }).click();
  const dialog = page.getByRole("dialog", { name: "New thread on e2e-home" });
  await dialog.getByRole("button", { name, exact: true }).click();
  const projButton = dialog.getByRole("button", { name: "proj", exact: true });
  await projButton.waitFor();
  expect(await projButton.getAttribute("aria-describedby")).toBeTruthy(); // "Git repository"
  await dialog.getByRole("button", { name: "notes", exact: true }).waitFor();
  await projButton.click();
  await dialog.getByText(`Codex will work in ${proj}.`).waitFor();
  await dialog.getByRole("navigation", { name: "Folder path" }).getByRole("button", { name }).waitFor();

  const model = dialog.getByRole("combobox", { name: "Model" });
  expect(await model.inputValue()).toBe("");
  expect(await dialog.getByRole("combobox", { name: "Approval policy" }).inputValue()).toBe("on-request");
  expect(await dialog.getByRole("combobox", { name: "Sandbox" }).inputValue()).toBe("workspace-write");
  await axeBothSchemes(page);
  await screenshots(page, "new-thread");

  await dialog.getByRole("button", { name: "Start thread" }).click();
  await page.waitForURL(new RegExp(`/thread/${encodeURIComponent(anchorId)}/[^/]+$`));
  expect(page.url()).not.toContain(threadId);

  // The anchor goes away: it shows offline, with when it was last seen.
  await page.goto("/");
  await card.getByText("Online", { exact: true }).waitFor();
  await anchor.stop();
  await card.getByText(/Offline, last seen just now/).waitFor();
  await expect(card.getByRole("button", { name: "New thread" }).count()).resolves.toBe(0);
});

test("files shows a repository's changes, a diff, a file and the history, read-only", async ({
  page,
  authenticator,
  stack,
}) => {
  expect(authenticator.id).toBeTruthy();
  const token = await signUp(page, "home");
  const name = unique("e2e-files");
  const { proj } = makeFolders(stack, name);
  const { stateDir, anchorId } = await pairAnchor(stack, token, "e2e-files");
  const anchor = await anchorRun(stack, stateDir);
  await anchor.waitReady();

  // From home to the anchor's root, then down by the folder links.
  await page.goto("/");
  await page.getByRole("region", { name: "e2e-files" }).getByRole("link", { name: "Files on e2e-files" }).click();
  await page.getByRole("heading", { name: "Files", level: 1 }).waitFor();
  await page.getByRole("link", { name, exact: true }).click();
  await page.getByRole("link", { name: "proj git repository" }).click();
  const crumbs = page.getByRole("navigation", { name: "Folder path" });
  await crumbs.getByRole("link", { name }).waitFor();
  await crumbs.getByText("proj", { exact: true }).waitFor();

  const changes = page.getByRole("region", { name: "Changes" });
  await changes.getByText("On main").waitFor();
  await changes.getByText("3 changed files").waitFor();
  const mainRs = changes.getByRole("button", { name: /src\/main\.rs/ });
  await mainRs.waitFor();
  await changes.getByRole("button", { name: /new\.txt untracked/ }).waitFor();
  const history = page.getByRole("region", { name: "History" });
  await history.getByText("first commit").waitFor();
  await page.getByRole("link", { name: "src", exact: true }).waitFor();
  await axeBothSchemes(page);
  await screenshots(page, "files", { fullPage: true });

  // A changed file opens on its diff, rendered by diff2html (class-based: the CSP would report
  // any inline style), and shows its contents with line numbers on request.
  await mainRs.click();
  const viewer = page.getByRole("region", { name: "main.rs" });
  await viewer.locator(".d2h-file-wrapper").waitFor();
  await viewer.locator(".d2h-ins", { hasText: "bye" }).first().waitFor();
  // The sanitised diff2html output carries no style attribute (the watcher also fails the test
  // on any CSP violation; tools that drive the page may leave empty `style=""` elsewhere).
  expect(await viewer.locator("[style]").count()).toBe(0);
  await axeBothSchemes(page);
  await screenshots(page, "files-diff");
  await viewer.getByRole("button", { name: "Contents" }).click();
  await viewer.getByText('println!("bye");').waitFor();
  await viewer.getByRole("button", { name: "Close" }).click();

  // A file by name, and a binary one.
  const open = page.getByRole("textbox", { name: "Open a file" });
  await open.fill("README.md");
  await open.press("Enter");
  await page.getByRole("region", { name: "README.md" }).getByText("A project for the browser tests.").waitFor();
  await open.fill("data.bin");
  await open.press("Enter");
  await page.getByRole("region", { name: "data.bin" }).getByText(/This is a binary file/).waitFor();

  // A folder outside git says so instead of failing.
  const notes = join(stack.workspace, name, "notes");
  await page.goto(`/files/${encodeURIComponent(anchorId)}?path=${encodeURIComponent(notes)}`);
  await page.getByText("This folder is not in a git repository.").waitFor();

  // A link to a file opens its folder with the file shown.
  await page.goto(`/files/${encodeURIComponent(anchorId)}?path=${encodeURIComponent(join(proj, "README.md"))}`);
  await page.getByRole("region", { name: "README.md" }).getByText("A project for the browser tests.").waitFor();
  await page.getByRole("region", { name: "Changes" }).getByText("On main").waitFor();
});

// Pairs an anchor with the local Orbit of `make dev`, the way a person would: runs
// `anchor login` and approves its code as the development user (made with the dev API).
// Usage: node scripts/dev-pair.mjs ORBIT_URL ANCHOR_BIN STATE_DIR USER_ID
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

const [orbit, anchorBin, stateDir, userId] = process.argv.slice(2);

async function post(path, body, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(orbit + path, { method: "POST", headers, body: JSON.stringify(body) });
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${JSON.stringify(answer)}`);
  return answer;
}

const web = await post("/__dev/session", { userId });
const login = spawn(
  anchorBin,
  ["login", "--no-browser", "--name", "dev anchor", "--orbit", orbit, "--state-dir", stateDir],
  { stdio: ["ignore", "pipe", "inherit"] },
);
let approved = false;
for await (const line of createInterface({ input: login.stdout })) {
  const code = line.match(/\b[A-Z0-9]{4}-[A-Z0-9]{4}\b/);
  if (code && !approved) {
    approved = true;
    await post("/auth/device/authorise", { userCode: code[0], approve: true }, web.accessToken);
  }
}
const status = await new Promise((resolve) => login.on("close", resolve));
if (status !== 0) {
  console.error(`anchor login failed (exit ${status})`);
  process.exit(1);
}
console.log(`dev: anchor paired with the development user "${userId}"`);

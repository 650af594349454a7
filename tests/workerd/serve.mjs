// Runs the built Orbit Worker under workerd through Miniflare's API: the runtime the test
// harness (tests/src/lib.rs `Orbit`) starts. `make dev` keeps using `wrangler dev`.
//
// Why not `wrangler dev` here: its dev proxy forwards every request to the runtime over a
// kj connection pool whose 5 s idle timeout is the same as the runtime's, so a request sent
// on a pooled connection the runtime is closing at that instant is lost before the Worker
// sees it, and a POST is answered 503 "Your worker restarted mid-request" (workers-sdk
// issue 14641). Under Miniflare workerd listens on the port itself: no hop, no pool.
//
// The bindings, compatibility settings, module rules and [assets] come from wrangler.toml
// through wrangler's own translation (`unstable_getMiniflareWorkerOptions`), so this stays
// what `wrangler dev` would run. The flags are the subset of `wrangler dev`'s the harness
// uses, with the same meaning:
//
//   node tests/workerd/serve.mjs --config wrangler.toml --script DIR/index.js --assets DIR
//     --ip 127.0.0.1 --port N --persist-to DIR [--var NAME:VALUE]...
//
// It prints "Ready on http://IP:PORT" once workerd listens, the Worker's console output
// and one line per request, and stops workerd on SIGTERM, SIGINT or SIGHUP.
import path from "node:path";
import { parseArgs } from "node:util";
import { Log, LogLevel, Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

function fail(message) {
  console.error(`serve.mjs: ${message}`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      config: { type: "string" },
      script: { type: "string" },
      assets: { type: "string" },
      ip: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      "persist-to": { type: "string" },
      var: { type: "string", multiple: true, default: [] },
    },
    strict: true,
  }));
} catch (error) {
  fail(error.message);
}
for (const name of ["config", "script", "assets", "port", "persist-to"]) {
  if (values[name] === undefined) fail(`--${name} is required`);
}
const port = Number(values.port);
if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`--port ${values.port} is not a port`);

const { workerOptions } = unstable_getMiniflareWorkerOptions(values.config, undefined, {
  overrides: { assets: { directory: path.resolve(values.assets) } },
});
// As with `wrangler dev --var`, the last value given for a name wins over wrangler.toml's.
const bindings = { ...(workerOptions.bindings ?? {}) };
for (const pair of values.var) {
  const colon = pair.indexOf(":");
  if (colon <= 0) fail(`--var ${pair.split(":")[0]}: expected NAME:VALUE`);
  bindings[pair.slice(0, colon)] = pair.slice(colon + 1);
}

const mf = new Miniflare({
  ...workerOptions,
  bindings,
  name: "orbit",
  modules: true,
  scriptPath: path.resolve(values.script),
  // Module names are paths relative to this; the default (the working directory) would turn
  // a script outside it into "../…", which workerd refuses.
  modulesRoot: path.dirname(path.resolve(values.script)),
  host: values.ip,
  port,
  defaultPersistRoot: path.join(path.resolve(values["persist-to"]), "v3"),
  log: new Log(LogLevel.INFO),
  logRequests: true,
});

let stopping = false;
async function stop(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`serve.mjs: ${signal}; stopping workerd`);
  try {
    await mf.dispose();
  } finally {
    process.exit(0);
  }
}
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(signal, () => void stop(signal));

try {
  const url = await mf.ready;
  console.log(`Ready on ${url.origin}`);
} catch (error) {
  fail(`workerd did not start: ${error.stack ?? error}`);
}

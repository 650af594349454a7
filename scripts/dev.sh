#!/usr/bin/env bash
# Runs the built Worker under local workerd (`wrangler dev`) with D1 and Durable Objects
# persisted in .dev/state, and an anchor paired with it (state in .dev/state/anchor) bridging codex
# when codex can be found. Every ORBIT_* variable in the environment reaches the Worker.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
PORT="${ORBIT_PORT:-8787}"
# 9229 is often taken (any Node debugger); ask the OS for a free port instead.
INSPECTOR_PORT="${ORBIT_INSPECTOR_PORT:-$(node -e '
  const s = require("net").createServer();
  s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')}"

mkdir -p .dev
umask 077  # the secret stays private to this user
if [ ! -s .dev/jwt_secret ]; then
    node -e 'console.log(require("crypto").randomBytes(32).toString("hex"))' >.dev/jwt_secret
fi
export ORBIT_JWT_SECRET="${ORBIT_JWT_SECRET:-$(cat .dev/jwt_secret)}"
# Key for secrets at rest (TOTP); changing it makes stored secrets unreadable.
if [ ! -s .dev/seal_key ]; then
    node -e 'console.log(require("crypto").randomBytes(32).toString("hex"))' >.dev/seal_key
fi
export ORBIT_SEAL_KEY="${ORBIT_SEAL_KEY:-$(cat .dev/seal_key)}"
export ORBIT_DEV_API="${ORBIT_DEV_API:-1}"

# stdin from /dev/null: wrangler then applies without the interactive confirmation.
npx wrangler d1 migrations apply DB --local --persist-to .dev/state </dev/null

vars=()
while IFS= read -r name; do
    vars+=(--var "$name:${!name}")
done < <(compgen -e | grep '^ORBIT_' | sort)

ORIGIN="http://127.0.0.1:$PORT"
echo "orbit: http://localhost:$PORT  (inspector on port $INSPECTOR_PORT)"
npx wrangler dev --port "$PORT" --inspector-port "$INSPECTOR_PORT" \
    --persist-to .dev/state "${vars[@]}" &
children=($!)
trap 'kill "${children[@]}" 2>/dev/null; wait' EXIT
trap 'exit 130' INT TERM

until node -e 'fetch(process.argv[1] + "/health").then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$ORIGIN"; do
    kill -0 "${children[0]}" 2>/dev/null || { echo "dev: wrangler dev exited" >&2; exit 1; }
    sleep 0.5
done

# The anchor: codex from ORBIT_CODEX, else `codex` on PATH, else the pinned npm package.
ANCHOR_BIN="${ANCHOR_BIN:-target/release/anchor}"
NPM_CODEX="node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex"
codex="${ORBIT_CODEX:-}"
if [ -z "$codex" ]; then
    if command -v codex >/dev/null; then codex="$(command -v codex)";
    elif [ -x "$NPM_CODEX" ]; then codex="$ROOT/$NPM_CODEX"; fi
fi
if [ -z "$codex" ]; then
    echo "dev: no codex found, so no anchor runs. Install it with \`npm install -g @openai/codex\`" >&2
    echo "dev: (or \`npm ci\` here on x86-64 Linux), or set ORBIT_CODEX=/path/to/codex." >&2
elif [ ! -x "$ANCHOR_BIN" ]; then
    echo "dev: $ANCHOR_BIN is missing; \`make dev\` builds it (or set ANCHOR_BIN)." >&2
else
    if [ ! -s .dev/state/anchor/credentials.json ]; then
        if [ -n "${ORBIT_DEV_USER:-}" ]; then
            # Scripted: approved as that user through the dev API (no browser needed).
            node scripts/dev-pair.mjs "$ORIGIN" "$ANCHOR_BIN" .dev/state/anchor "$ORBIT_DEV_USER"
        else
            # The way a person pairs a machine: open the link, create the first account (it
            # needs no invite), approve. Passkeys want the `localhost` name, not 127.0.0.1.
            echo "dev: pair this machine from the browser: open the link below, create your account, approve."
            "$ANCHOR_BIN" login --no-browser --name "$(hostname) (make dev)" \
                --orbit "http://localhost:$PORT" --state-dir .dev/state/anchor ||
                echo "dev: not paired (run \`make dev\` again for a new code)" >&2
        fi
    fi
    if [ -s .dev/state/anchor/credentials.json ]; then
        "$ANCHOR_BIN" run --state-dir .dev/state/anchor --orbit "$ORIGIN" --codex "$codex" \
            --root "${ORBIT_DEV_ROOT:-$ROOT}" &
        children+=($!)
        echo "dev: anchor running (status: $ANCHOR_BIN status --state-dir .dev/state/anchor)"
    fi
fi
wait -n "${children[@]}"

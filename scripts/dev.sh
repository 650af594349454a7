#!/usr/bin/env bash
# Runs the built Worker under local workerd (`wrangler dev`) with D1 and Durable Objects
# persisted in .dev/state. Every ORBIT_* variable in the environment reaches the Worker.
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

echo "orbit: http://localhost:$PORT  (inspector on port $INSPECTOR_PORT)"
exec npx wrangler dev --port "$PORT" --inspector-port "$INSPECTOR_PORT" \
    --persist-to .dev/state "${vars[@]}"

#!/usr/bin/env bash
# Runs a command in a private network namespace whose only interface is loopback, so nothing
# it starts (codex included) can reach another machine. Root uses `unshare -n`; other users
# get a user namespace too (`unshare -rn`), which most Linux distributions allow.
set -euo pipefail
if [ "$(id -u)" = 0 ]; then
    flags=(-n)
else
    flags=(-r -n)
fi
exec unshare "${flags[@]}" -- bash -c 'ip link set lo up && exec "$@"' private-net "$@"

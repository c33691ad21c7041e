# Shared helpers for Runyard's scripts. Source it; do not run it.
# shellcheck shell=bash

RUNYARD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${RUNYARD_STATE_DIR:-$RUNYARD_ROOT/.runyard}"
VENV="$RUNYARD_ROOT/.venv"
PG_DB="${RUNYARD_PG_DB:-runyard}"
PG_USER="${RUNYARD_PG_USER:-runyard}"
PG_PASSWORD="${RUNYARD_PG_PASSWORD:-runyard}"

# Addresses no sandbox may reach, run or persistent: private, shared, link-local, loopback, multicast, reserved.
BLOCKED_NETS=(10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 169.254.0.0/16 100.64.0.0/10 127.0.0.0/8 0.0.0.0/8 224.0.0.0/4 240.0.0.0/4)

say() { printf '\033[1m[runyard]\033[0m %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root for: $*"; fi
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local secs="$1" what="$2"; shift 2
  for _ in $(seq 1 "$((secs * 4))"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  die "$what did not come up within ${secs}s"
}

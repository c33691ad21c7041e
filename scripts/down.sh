#!/usr/bin/env bash
# `make down`: stop Runyard's own processes (Redis, Postgres and Docker stay up).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

RUN_DIR="$STATE_DIR/run"
[ -d "$RUN_DIR" ] || { say "nothing to stop"; exit 0; }
for pidfile in "$RUN_DIR"/*.pid; do
  [ -e "$pidfile" ] || continue
  name="$(basename "$pidfile" .pid)"
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    # Each service leads its own session: TERM the whole group, so Celery's pool children go too.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    say "stopped $name"
  fi
  rm -f "$pidfile"
done

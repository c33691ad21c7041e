#!/usr/bin/env bash
# `make up`: install and start everything on this machine, then print the URL and the key.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

bash "$RUNYARD_ROOT/scripts/bootstrap.sh" --services

API_HOST="${RUNYARD_API__HOST:-127.0.0.1}"
API_PORT="${RUNYARD_API__PORT:-8000}"
FLOWER_PORT="${RUNYARD_FLOWER__PORT:-5555}"
WORKERS="${RUNYARD_WORKERS:-1}"
RUN_DIR="$STATE_DIR/run"
LOG_DIR="$STATE_DIR/logs"
mkdir -p "$RUN_DIR" "$LOG_DIR"

# Our services never run as root: a system user does, in the docker group for the worker.
SERVICE_USER="$(id -un)"
if [ "$(id -u)" -eq 0 ]; then
  id runyard >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin runyard
  getent group docker >/dev/null && usermod -aG docker runyard
  if runuser -u runyard -- test -r "$RUNYARD_ROOT/pyproject.toml" -a -x "$VENV/bin/python"; then
    SERVICE_USER=runyard
    chown -R runyard: "$STATE_DIR"
  else
    say "warning: user 'runyard' cannot read $RUNYARD_ROOT; services will run as root"
  fi
fi
run_as() { if [ "$SERVICE_USER" = "$(id -un)" ]; then "$@"; else setpriv --reuid="$SERVICE_USER" --regid="$SERVICE_USER" --init-groups -- "$@"; fi; }

export RUNYARD_STATE_DIR="$STATE_DIR"
if [ -z "${RUNYARD_FLOWER__PASSWORD:-}" ]; then
  [ -s "$STATE_DIR/flower.password" ] || (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$STATE_DIR/flower.password")
  RUNYARD_FLOWER__PASSWORD="$(cat "$STATE_DIR/flower.password")"
fi
[ "$SERVICE_USER" = runyard ] && chown -R runyard: "$STATE_DIR"

KEY="$(run_as env RUNYARD_STATE_DIR="$STATE_DIR" "$VENV/bin/runyardctl" bootstrap --quiet)"

start() { # start NAME COMMAND...
  local name="$1"; shift
  local pidfile="$RUN_DIR/$name.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    say "$name already running (pid $(cat "$pidfile"))"
    return
  fi
  (cd "$RUNYARD_ROOT" && HOME="$STATE_DIR" RUNYARD_STATE_DIR="$STATE_DIR" /usr/bin/python3 scripts/daemon.py \
    --pidfile "$pidfile" --log "$LOG_DIR/$name.log" --user "$SERVICE_USER" -- "$@")
  say "started $name (pid $(cat "$pidfile"), log: $LOG_DIR/$name.log)"
}

QUEUES="runyard.runs,runyard.callbacks,runyard.maintenance"
start api "$VENV/bin/uvicorn" --factory api.main:app_factory --host "$API_HOST" --port "$API_PORT" --no-access-log
for i in $(seq 1 "$WORKERS"); do
  start "worker$i" env RUNYARD_WORKER__NAME="$(hostname)-w$i" "$VENV/bin/celery" -A workers.celery_app worker \
    -Q "$QUEUES" -n "w$i@%h" --loglevel INFO
done
start beat "$VENV/bin/celery" -A workers.celery_app beat --schedule "$STATE_DIR/beat-schedule" --loglevel INFO
start ssh "$VENV/bin/runyard-ssh"
# Flower turns task events on in every worker unless told not to: it follows the workers' own setting
# (Flower reads "false", "0" and "f", in any case, as off).
start flower "$VENV/bin/celery" -A workers.celery_app flower --address=127.0.0.1 --port="$FLOWER_PORT" \
  --enable_events="${RUNYARD_WORKER__TASK_EVENTS:-true}" \
  --basic-auth="${RUNYARD_FLOWER__USER:-admin}:$RUNYARD_FLOWER__PASSWORD"

URL="http://$API_HOST:$API_PORT"
wait_for 120 "Runyard (GET $URL/health)" curl -fsS "$URL/health"
cat <<MSG

  Runyard is ready.
    API:     $URL   (Judge0-compatible at the root, native API under /v1, docs at $URL/docs)
    API key: $KEY
             (also in $STATE_DIR/admin.key; send it as X-Auth-Token)
    SSH:     port ${RUNYARD_SSH__PORT:-2222} on ${RUNYARD_SSH__HOST:-127.0.0.1} (tokens from Daytona's create_ssh_access)
    Flower:  http://127.0.0.1:$FLOWER_PORT   user ${RUNYARD_FLOWER__USER:-admin}, password in $STATE_DIR/flower.password
    Logs:    $LOG_DIR/
    Stop:    make down

  Try it:
    curl -s -H "X-Auth-Token: $KEY" -H 'Content-Type: application/json' \\
      -d '{"source_code": "print(6*7)", "language_id": 71}' "$URL/submissions?wait=true"

MSG

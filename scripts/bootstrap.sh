#!/usr/bin/env bash
# Installs and starts everything Runyard needs on this machine, idempotently:
# Debian packages, the Docker engine and the sandbox engine beside it (scripts/sandbox-engine.sh),
# the Python venv and the sandbox images;
# with --services (`make up`) also the machine's Redis and PostgreSQL. `make test`
# needs only their binaries: the suite starts a Redis and a PostgreSQL of its own.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

install_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v mkfs.btrfs >/dev/null || missing+=(btrfs-progs)
  command -v unzip >/dev/null || missing+=(unzip)
  command -v curl >/dev/null || missing+=(curl)
  /usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# Debian's registry, for the suite's test of snapshots pushed to an operator's registry: the binary only,
# unpacked into the state directory (the package would install a system service).
fetch_registry() {
  local target="$STATE_DIR/bin/docker-registry"
  [ -x "$target" ] && return
  say "fetching Debian's docker-registry (for the test suite)"
  local tmp
  tmp="$(mktemp -d)"
  if (cd "$tmp" && apt-get download docker-registry >/dev/null 2>&1) \
    || { as_root apt-get update -qq && (cd "$tmp" && apt-get download docker-registry >/dev/null); }; then
    dpkg-deb -x "$tmp"/docker-registry_*.deb "$tmp/root"
    mkdir -p "$STATE_DIR/bin"
    install -m 0755 "$tmp/root/usr/bin/docker-registry" "$target"
  fi
  rm -rf "$tmp"
}

# What only the test suite needs: Debian's Chromium, in which it opens noVNC through the preview proxy.
install_test_packages() {
  command -v chromium >/dev/null && return
  say "installing Debian's chromium (for the test suite)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null \
    || { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
}

start_docker() {
  docker info >/dev/null 2>&1 && return
  say "starting the Docker engine"
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    as_root systemctl start docker
  else
    as_root bash -c 'nohup dockerd >/var/log/runyard-dockerd.log 2>&1 &'
  fi
  wait_for 60 "the Docker engine" docker info
}

start_redis() {
  redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && return
  say "starting Redis"
  as_root redis-server --daemonize yes --bind 127.0.0.1 --port 6379 \
    --save "" --appendonly no --logfile /var/log/runyard-redis.log
  wait_for 20 "Redis" redis-cli -h 127.0.0.1 ping
}

start_postgres() {
  local version
  version="$(ls /usr/lib/postgresql | sort -n | tail -1)"
  if ! pg_lsclusters -h 2>/dev/null | grep -q .; then
    as_root pg_createcluster "$version" main >/dev/null
  fi
  if ! pg_lsclusters -h | awk '{print $4}' | grep -q online; then
    say "starting PostgreSQL $version"
    as_root pg_ctlcluster "$version" main start
  fi
  wait_for 30 "PostgreSQL" as_root runuser -u postgres -- psql -qtAc 'select 1'
  psql_admin() { as_root runuser -u postgres -- psql -qtAc "$1"; }
  if [ -z "$(psql_admin "select 1 from pg_roles where rolname='$PG_USER'")" ]; then
    psql_admin "create role $PG_USER login password '$PG_PASSWORD'"
  fi
  if [ -z "$(psql_admin "select 1 from pg_database where datname='$PG_DB'")" ]; then
    psql_admin "create database $PG_DB owner $PG_USER"
  fi
}

make_venv() {
  [ -x "$VENV/bin/python" ] || /usr/bin/python3 -m venv "$VENV"
  local stamp="$VENV/.runyard-installed"
  local want
  want="$(cat "$RUNYARD_ROOT/pyproject.toml" "$RUNYARD_ROOT/client/pyproject.toml" | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    say "installing Python dependencies into .venv"
    "$VENV/bin/pip" install -q --upgrade pip >/dev/null
    "$VENV/bin/pip" install -q -e "$RUNYARD_ROOT[test]" -e "$RUNYARD_ROOT/client[cli]"
    echo "$want" >"$stamp"
  fi
}

install_packages
start_docker
bash "$RUNYARD_ROOT/scripts/sandbox-engine.sh"
if [ "${1:-}" = "--services" ]; then
  start_redis
  start_postgres
fi
make_venv
if [ "${1:-}" != "--services" ]; then
  fetch_registry
  install_test_packages
fi
say "building sandbox images"
bash "$RUNYARD_ROOT/sandbox_images/build.sh"
bash "$RUNYARD_ROOT/scripts/egress.sh"

#!/usr/bin/env bash
# Builds every sandbox image. Works offline: when no registry answers, the
# Debian base that the Dockerfiles start FROM is made locally with debootstrap
# and `docker import`, under the same name, so the Dockerfiles stay unchanged.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
base_ref="debian:bookworm-slim"
prefix="runyard"
mirror="${RUNYARD_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

log() { printf '[images] %s\n' "$*" >&2; }

ensure_debian_base() {
  if docker image inspect "$base_ref" >/dev/null 2>&1; then
    return
  fi
  if timeout 60 docker pull "$base_ref" >/dev/null 2>&1; then
    log "pulled $base_ref"
    return
  fi
  log "no registry answered; bootstrapping $base_ref with debootstrap"
  command -v debootstrap >/dev/null || { log "debootstrap is missing (apt-get install debootstrap)"; exit 1; }
  local root
  root="$(mktemp -d /tmp/runyard-rootfs.XXXXXX)"
  trap 'rm -rf "$root"' RETURN
  debootstrap --variant=minbase bookworm "$root" "$mirror" >/tmp/runyard-debootstrap.log 2>&1 \
    || { log "debootstrap failed; see /tmp/runyard-debootstrap.log"; exit 1; }
  # The same trimming the official slim image does: no apt caches or docs.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
  tar -C "$root" -c . | docker import \
    --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$base_ref" >/dev/null
  log "imported $base_ref"
}

build() {
  local name="$1" out
  log "building $prefix/$name"
  if ! out="$(DOCKER_BUILDKIT=0 docker build -t "$prefix/$name:latest" "$here/$name" 2>&1)"; then
    printf '%s\n' "$out" >&2
    log "building $prefix/$name failed"
    exit 1
  fi
}

ensure_debian_base
# Order matters: later images start FROM the earlier ones.
build base
build runner
build agent
log "done: $(docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep "^$prefix/" | tr '\n' ' ')"

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

# Bumped when the locally made base changes: an older import is made again.
base_revision=2

ensure_debian_base() {
  if docker image inspect "$base_ref" >/dev/null 2>&1; then
    local revision pulled
    revision="$(docker image inspect -f '{{index .Config.Labels "org.runyard.base-revision"}}' "$base_ref")"
    pulled="$(docker image inspect -f '{{len .RepoDigests}}' "$base_ref")"
    if [ "$revision" = "$base_revision" ] || [ "$pulled" != 0 ]; then
      return
    fi
    log "$base_ref was made by an older version of this script; making it again"
  elif timeout 60 docker pull "$base_ref" >/dev/null 2>&1; then
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
  chmod 0755 "$root"  # mktemp made it 0700, and the root directory's mode is the image's / on btrfs
  tar -C "$root" -c . | docker import \
    --change "LABEL org.runyard.base-revision=$base_revision" \
    --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$base_ref" >/dev/null
  log "imported $base_ref"
}

build() {
  local name="$1" out started=$SECONDS
  log "building $prefix/$name"
  if ! out="$(DOCKER_BUILDKIT=0 docker build -t "$prefix/$name:latest" "$here/$name" 2>&1)"; then
    printf '%s\n' "$out" >&2
    log "building $prefix/$name failed"
    exit 1
  fi
  log "built $prefix/$name in $((SECONDS - started)) s"
}

# The language families start FROM base and not from each other: they build side by side (most of
# their time is apt's download and unpack), and the first failure fails the whole build.
build_families() {
  local name pids=() failed=0
  for name in "$@"; do
    build "$name" &
    pids+=("$!")
  done
  for pid in "${pids[@]}"; do
    wait "$pid" || failed=1
  done
  [ "$failed" = 0 ] || { log "a language family failed to build"; exit 1; }
}

# Kotlin is JetBrains' compiler from npm's registry (Debian's is years old), fetched on the host, where
# the registry answers, into the JVM family's build context, and checked against the registry's digest.
kotlin_version=2.2.21
# The registry's sha512 integrity for that tarball, in hex.
kotlin_sha512=9d8ee27d766c01f0932456a01e60d0b894494abd56fd6054ac99cb4dfabbf3f83cbbe2cc33dee902ab2983700d0c52c11fcf9d7b55dd46da1fa5a2c4af791989
kotlin_intact() { [ -f "$1" ] && [ "$(sha512sum <"$1" | cut -d" " -f1)" = "$kotlin_sha512" ]; }
fetch_kotlin() {
  local dest="$here/jvm/vendor/kotlin-compiler.tgz" registry="${RUNYARD_NPM_REGISTRY:-https://registry.npmjs.org}"
  mkdir -p "$(dirname "$dest")"
  kotlin_intact "$dest" && return
  log "fetching kotlin-compiler $kotlin_version from $registry"
  curl -fsSL --retry 3 -o "$dest.part" "$registry/kotlin-compiler/-/kotlin-compiler-$kotlin_version.tgz" \
    || { log "could not fetch kotlin-compiler from $registry"; exit 1; }
  kotlin_intact "$dest.part" \
    || { rm -f "$dest.part"; log "kotlin-compiler's digest does not match the registry's"; exit 1; }
  mv "$dest.part" "$dest"
}

# The sandbox engine (scripts/sandbox-engine.sh) runs persistent sandboxes; it gets the images they
# start from, and the runtime volume, by copy, and only those whose id it does not have yet.
SANDBOX_DOCKER_HOST="${RUNYARD_SANDBOX_DOCKER_HOST:-unix:///run/runyard-sandboxes/docker.sock}"
copy_to_sandbox_engine() {
  local ref id
  DOCKER_HOST="$SANDBOX_DOCKER_HOST" docker info >/dev/null 2>&1 || { log "no sandbox engine at $SANDBOX_DOCKER_HOST; skipping the copy"; return; }
  for ref in "$@"; do
    id="$(docker image inspect -f '{{.Id}}' "$ref")"
    if [ "$(DOCKER_HOST="$SANDBOX_DOCKER_HOST" docker image inspect -f '{{.Id}}' "$ref" 2>/dev/null)" != "$id" ]; then
      log "copying $ref to the sandbox engine"
      docker save "$ref" | DOCKER_HOST="$SANDBOX_DOCKER_HOST" docker load -q >/dev/null
    fi
  done
}

# The desktop template is only ever a sandbox: built straight on the sandbox engine, from the agent
# image copied there (its RUN steps run as that engine's remapped root, on its fenced bridge). The
# host's CA bundle goes into the build context for pip and npm (TLS may be intercepted); only the
# build step that installs from them reads it.
build_desktop() {
  DOCKER_HOST="$SANDBOX_DOCKER_HOST" docker info >/dev/null 2>&1 || { log "no sandbox engine; the desktop template is not built"; return; }
  local ca="${RUNYARD_HOST_CA:-/etc/ssl/certs/ca-certificates.crt}" out
  cp "$ca" "$here/desktop/host-ca.pem" 2>/dev/null || : >"$here/desktop/host-ca.pem"
  log "building $prefix/desktop (on the sandbox engine)"
  if ! out="$(DOCKER_HOST="$SANDBOX_DOCKER_HOST" DOCKER_BUILDKIT=0 docker build -t "$prefix/desktop:latest" "$here/desktop" 2>&1)"; then
    printf '%s\n' "$out" >&2
    log "building $prefix/desktop failed"
    exit 1
  fi
}

ensure_debian_base
# Order matters: later images start FROM the earlier ones.
build base
fetch_kotlin
build_families runner scripting native jvm dotnet systems functional
build agent
build runtime
copy_to_sandbox_engine "$prefix/runtime:latest" "$prefix/agent:latest" "$base_ref"
[ "${RUNYARD_DESKTOP:-1}" = 0 ] || build_desktop
log "done in $SECONDS s: $(docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep "^$prefix/" | tr '\n' ' ')"

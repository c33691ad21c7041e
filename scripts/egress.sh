#!/usr/bin/env bash
# The network runs get when they ask for it (and the operator allows it): a Docker bridge whose
# containers reach the internet, but neither this host (Redis, Postgres, the API, dockerd) nor any
# private, link-local or loopback address, nor each other. Idempotent; needs root (iptables).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

NETWORK="${RUNYARD_WORKER__EGRESS_NETWORK:-runyard-egress}"
BRIDGE="${RUNYARD_EGRESS_BRIDGE:-ry-egress}"
SUBNET="${RUNYARD_EGRESS_SUBNET:-172.30.255.0/24}"

[ -n "$NETWORK" ] || exit 0
if ! docker network inspect "$NETWORK" >/dev/null 2>&1; then
  docker network create --driver bridge --subnet "$SUBNET" \
    --opt "com.docker.network.bridge.name=$BRIDGE" \
    --opt com.docker.network.bridge.enable_icc=false \
    --opt com.docker.network.bridge.enable_ip_masquerade=true \
    --label org.runyard.managed=1 "$NETWORK" >/dev/null
  say "created Docker network $NETWORK ($SUBNET on $BRIDGE)"
fi

rule() { # rule TABLE-ARGS...: insert once
  as_root iptables -C "$@" 2>/dev/null || as_root iptables -I "$@"
}
# Nothing from the bridge reaches this host itself, whatever address it aims at; only answers
# to connections the host opened come back.
rule INPUT -i "$BRIDGE" -j DROP
rule INPUT -i "$BRIDGE" -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
# Forwarded traffic (DOCKER-USER is consulted first for everything Docker forwards).
as_root iptables -N DOCKER-USER 2>/dev/null || true
for net in "${BLOCKED_NETS[@]}"; do
  rule DOCKER-USER -i "$BRIDGE" -d "$net" -j DROP
done
if command -v ip6tables >/dev/null; then
  as_root ip6tables -C INPUT -i "$BRIDGE" -j DROP 2>/dev/null || as_root ip6tables -I INPUT -i "$BRIDGE" -j DROP
fi

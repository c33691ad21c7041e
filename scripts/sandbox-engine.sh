#!/usr/bin/env bash
# The Docker engine persistent sandboxes run on: a second dockerd beside the machine's own, which it
# never touches. It differs from the machine's engine in three ways:
#   * --userns-remap: root inside a sandbox is an unprivileged uid range on the host;
#   * btrfs on a loop-mounted file with quotas: `--storage-opt size` is a hard disk quota that covers
#     everything a sandbox writes (ext4 + overlay2 has none);
#   * its own bridge (never --bridge none, which deletes the machine's docker0) and no iptables of its
#     own (two engines rewriting one ruleset fight); the fence below is ours.
# Idempotent; needs root. `--stop` stops the engine (its containers stop; their filesystems stay).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ROOT="${RUNYARD_SANDBOX_ENGINE_ROOT:-/var/lib/runyard-sandboxes}"
RUN="${RUNYARD_SANDBOX_ENGINE_RUN:-/run/runyard-sandboxes}"
SOCKET="$RUN/docker.sock"
DISK_SIZE="${RUNYARD_SANDBOX_DISK_SIZE:-64G}"   # sparse: the host's disk is used only as sandboxes write
BRIDGE="${RUNYARD_SANDBOX_BRIDGE:-ry-sandbox}"
SUBNET_CIDR="${RUNYARD_SANDBOX_SUBNET:-172.31.252.1/22}"  # the bridge's own address, then the prefix
CHAIN=RUNYARD-SANDBOXES
DOCKER_ENV=(env DOCKER_HOST="unix://$SOCKET")

engine_up() { "${DOCKER_ENV[@]}" docker info >/dev/null 2>&1; }

stop_engine() {
  [ -f "$RUN/dockerd.pid" ] || return 0
  local pid
  pid="$(cat "$RUN/dockerd.pid")"
  as_root kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 600); do as_root kill -0 "$pid" 2>/dev/null || return 0; sleep 0.25; done
  die "the sandbox engine (pid $pid) did not stop"
}

mount_disk() {
  local image="$ROOT/disk.btrfs" data="$ROOT/data"
  as_root mkdir -p "$ROOT" "$data"
  mountpoint -q "$data" && return
  if [ ! -f "$image" ]; then
    say "making the sandboxes' disk: a sparse $DISK_SIZE btrfs file at $image"
    as_root truncate -s "$DISK_SIZE" "$image"
    as_root mkfs.btrfs -q "$image" >/dev/null
  fi
  as_root mount -o loop,noatime "$image" "$data"
  enable_quotas "$data"
}

# Simple quotas (Linux 6.7+) count what each subvolume writes, without the full qgroup accounting
# that makes every snapshot, so every container create, take seconds once a few dozen exist.
# btrfs-progs before 6.7 cannot ask for them, so the ioctl is made directly.
enable_quotas() {
  local data="$1" mode_file
  mode_file="/sys/fs/btrfs/$(findmnt -no UUID "$data")/qgroups/mode"
  if [ -r "$mode_file" ]; then
    case "$(cat "$mode_file")" in
      squota) return ;;
      qgroup) say "warning: $data has full btrfs quotas (slow container creates); remove $ROOT to start over"; return ;;
    esac
  fi
  if as_root python3 - "$data" <<'PY'
import fcntl, os, struct, sys
BTRFS_IOC_QUOTA_CTL = (3 << 30) | (16 << 16) | (0x94 << 8) | 40  # _IOWR(0x94, 40, {u64 cmd; u64 status})
ENABLE_SIMPLE_QUOTA = 4
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
fcntl.ioctl(fd, BTRFS_IOC_QUOTA_CTL, struct.pack("QQ", ENABLE_SIMPLE_QUOTA, 0))
PY
  then
    return
  fi
  say "warning: this kernel has no btrfs simple quotas (Linux 6.7+); full quotas make creates slower"
  as_root btrfs quota enable "$data"
}

fence() { # the sandboxes' egress: the internet, but neither this host nor any private address
  local subnet
  subnet="$(python3 -c 'import ipaddress,sys; print(ipaddress.ip_interface(sys.argv[1]).network)' "$SUBNET_CIDR")"
  as_root sysctl -qw net.ipv4.ip_forward=1
  as_root modprobe br_netfilter 2>/dev/null || true
  [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] && as_root sysctl -qw net.bridge.bridge-nf-call-iptables=1
  as_root iptables -N "$CHAIN" 2>/dev/null || as_root iptables -F "$CHAIN"
  as_root iptables -A "$CHAIN" -o "$BRIDGE" -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  # DNS to the resolvers this host uses (they are often on a private address), and nothing else of theirs.
  local ns
  for ns in $(awk '$1 == "nameserver" && $2 ~ /^[0-9.]+$/ {print $2}' /etc/resolv.conf); do
    as_root iptables -A "$CHAIN" -i "$BRIDGE" -d "$ns" -p udp --dport 53 -j ACCEPT
    as_root iptables -A "$CHAIN" -i "$BRIDGE" -d "$ns" -p tcp --dport 53 -j ACCEPT
  done
  local net
  for net in "${BLOCKED_NETS[@]}"; do as_root iptables -A "$CHAIN" -i "$BRIDGE" -d "$net" -j DROP; done
  as_root iptables -A "$CHAIN" -i "$BRIDGE" -j ACCEPT
  as_root iptables -C FORWARD -j "$CHAIN" 2>/dev/null || as_root iptables -I FORWARD 1 -j "$CHAIN"
  # Nothing from the bridge reaches this host itself (the API, Redis, Postgres, dockerd, ssh ...).
  as_root iptables -C INPUT -i "$BRIDGE" -j DROP 2>/dev/null || as_root iptables -I INPUT 1 -i "$BRIDGE" -j DROP
  as_root iptables -C INPUT -i "$BRIDGE" -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT 2>/dev/null \
    || as_root iptables -I INPUT 1 -i "$BRIDGE" -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  as_root iptables -t nat -C POSTROUTING -s "$subnet" ! -o "$BRIDGE" -j MASQUERADE 2>/dev/null \
    || as_root iptables -t nat -A POSTROUTING -s "$subnet" ! -o "$BRIDGE" -j MASQUERADE
  if command -v ip6tables >/dev/null; then
    as_root ip6tables -C INPUT -i "$BRIDGE" -j DROP 2>/dev/null || as_root ip6tables -I INPUT -i "$BRIDGE" -j DROP
    as_root ip6tables -C FORWARD -i "$BRIDGE" -j DROP 2>/dev/null || as_root ip6tables -I FORWARD -i "$BRIDGE" -j DROP
  fi
}

bridge() {
  ip link show "$BRIDGE" >/dev/null 2>&1 || as_root ip link add "$BRIDGE" type bridge
  ip -4 addr show dev "$BRIDGE" | grep -q "inet $SUBNET_CIDR" || as_root ip addr add "$SUBNET_CIDR" dev "$BRIDGE"
  as_root ip link set "$BRIDGE" up
}

start_engine() {
  engine_up && return
  stop_engine
  as_root mkdir -p "$RUN"
  say "starting the sandbox engine (dockerd on $SOCKET)"
  # The sandbox engine's socket is the docker group's, like the machine engine's: our worker is in it.
  as_root bash -c "nohup dockerd \
    --host 'unix://$SOCKET' --group docker \
    --data-root '$ROOT/data' --exec-root '$RUN/exec' --pidfile '$RUN/dockerd.pid' \
    --userns-remap default --storage-driver btrfs \
    --bridge '$BRIDGE' --iptables=false --ip-masq=false --ip6tables=false \
    >>/var/log/runyard-sandbox-engine.log 2>&1 &"
  wait_for 90 "the sandbox engine (see /var/log/runyard-sandbox-engine.log)" "${DOCKER_ENV[@]}" docker info
}

if [ "${1:-}" = "--stop" ]; then
  stop_engine
  exit 0
fi
command -v mkfs.btrfs >/dev/null || die "btrfs-progs is missing (apt-get install btrfs-progs)"
mount_disk
bridge
fence
start_engine

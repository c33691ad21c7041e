#!/usr/bin/env bash
# Prove (or disprove) that Runyard's sandbox limits hold on a cgroup v2 host.
#
# This host may well be on cgroup v1, so the check runs in a throwaway Debian
# bookworm VM (systemd there boots on the unified v2 hierarchy): the runner
# image and scripts/cgroup2/check.py ride into it on a second disk, a systemd
# unit runs the check at boot, writes its output to a second serial port and
# powers the VM off. This script then prints the PASS/FAIL lines and fails if
# any check failed or the VM did not finish in time. KVM is used when it can
# actually boot a guest; otherwise qemu falls back to TCG emulation (about
# 8 minutes end to end on a 2-core machine once the VM image is cached).
#
# Usage:  sudo bash scripts/cgroup2-check.sh
# Env:    RUNYARD_CG2_CACHE   (default /var/cache/runyard-cgroup2) VM image, kernel, saved image, logs
#         RUNYARD_CG2_IMAGE   (default runyard/runner:latest)      the sandbox image to test
#         RUNYARD_CG2_TIMEOUT (default 900)                         seconds the VM may run
#         RUNYARD_CG2_MIRROR  (default http://deb.debian.org/debian)
#         RUNYARD_CG2_UNIFIED (default 1) 0 boots the same VM on the legacy v1 hierarchy: a control
#                             run that tells v2 problems from VM/emulation artefacts (checks a,
#                             a2 and h then fail by design: they insist on v2)
#
# Idempotent: the debootstrapped root and its disk image are cached and only
# rebuilt when their recipe changes; the image tar is cached by image id. The
# VM's root disk is opened with snapshot=on, so every run boots the same
# pristine system. Nothing on this host is touched beyond the cache directory
# (and installing qemu-system-x86/debootstrap if they are missing).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

CACHE="${RUNYARD_CG2_CACHE:-/var/cache/runyard-cgroup2}"
IMAGE="${RUNYARD_CG2_IMAGE:-runyard/runner:latest}"
TIMEOUT="${RUNYARD_CG2_TIMEOUT:-900}"
MIRROR="${RUNYARD_CG2_MIRROR:-http://deb.debian.org/debian}"
UNIFIED="${RUNYARD_CG2_UNIFIED:-1}"
SUITE=bookworm
DISK_SIZE=4G
# dbus: dockerd on v2 defaults to the systemd cgroup driver, which talks to systemd over D-Bus.
# apparmor: the Debian kernel enables AppArmor, and dockerd wants to load its docker-default profile.
PACKAGES=linux-image-amd64,systemd-sysv,docker.io,python3,ca-certificates,iproute2,udev,kmod,dbus,apparmor
CHECK_PY="$RUNYARD_ROOT/scripts/cgroup2/check.py"
ROOTFS="$CACHE/rootfs"
RUN="$CACHE/run"

[ "$(id -u)" -eq 0 ] || die "run as root: sudo bash scripts/cgroup2-check.sh"
[ -f "$CHECK_PY" ] || die "missing $CHECK_PY"
mkdir -p "$CACHE"
exec 9>"$CACHE/lock"
flock -n 9 || die "another cgroup2 check holds $CACHE/lock"

# A failed debootstrap can leave proc/sys mounted inside its target: unmount before deleting,
# and never let rm cross into another filesystem.
remove_tree() {
  local dir="$1" mnt
  [ -e "$dir" ] || return 0
  while read -r mnt; do
    umount -l "$mnt" || true
  done < <(findmnt -rn -o TARGET | grep -F "$dir/" | sort -r)
  rm -rf --one-file-system "$dir"
}

# ---------------------------------------------------------------- tools

missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
docker image inspect "$IMAGE" >/dev/null 2>&1 || die "image $IMAGE not found (make images)"

# ---------------------------------------------------------------- root filesystem

rootfs_recipe="$SUITE $MIRROR $PACKAGES"
if [ "$(cat "$CACHE/rootfs.stamp" 2>/dev/null)" != "$rootfs_recipe" ]; then
  say "debootstrapping $SUITE into $ROOTFS (several minutes; log: $CACHE/debootstrap.log)"
  rm -f "$CACHE/rootfs.stamp" "$CACHE/base.stamp"
  remove_tree "$ROOTFS"
  remove_tree "$ROOTFS.tmp"
  if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS.tmp" "$MIRROR" \
    >"$CACHE/debootstrap.log" 2>&1; then
    tail -n 20 "$CACHE/debootstrap.log" >&2
    die "debootstrap failed"
  fi
  mv "$ROOTFS.tmp" "$ROOTFS"
  printf '%s' "$rootfs_recipe" >"$CACHE/rootfs.stamp"
fi

# What turns the bare debootstrap into a VM that runs the check and powers off. The check
# itself lives on the payload disk (below), so editing check.py never rebuilds this image.
provision() {
  echo runyard-cg2 >"$ROOTFS/etc/hostname"
  # pass 0: a snapshot-backed root that is thrown away needs no boot-time fsck
  echo '/dev/vda / ext4 rw,errors=remount-ro 0 0' >"$ROOTFS/etc/fstab"
  cat >"$ROOTFS/etc/systemd/system/runyard-check.service" <<'EOF'
[Unit]
Description=Runyard cgroup v2 sandbox check (payload on /dev/vdb)
Wants=docker.service
After=docker.service
SuccessAction=poweroff
FailureAction=poweroff

[Service]
Type=oneshot
ExecStartPre=/bin/mkdir -p /mnt/runyard
ExecStartPre=/bin/mount -o ro /dev/vdb /mnt/runyard
ExecStart=/bin/bash /mnt/runyard/boot.sh
# The second serial port carries only the check's output; the console (ttyS0) has the boot noise.
StandardOutput=tty
StandardError=inherit
TTYPath=/dev/ttyS1
TimeoutStartSec=14min

[Install]
WantedBy=multi-user.target
EOF
  mkdir -p "$ROOTFS/etc/systemd/system/multi-user.target.wants"
  ln -sf /etc/systemd/system/runyard-check.service \
    "$ROOTFS/etc/systemd/system/multi-user.target.wants/runyard-check.service"
  # Nothing periodic should compete with the check for the VM's single CPU.
  local unit
  for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer dpkg-db-backup.timer; do
    ln -sf /dev/null "$ROOTFS/etc/systemd/system/$unit"
  done
}
provision

base_recipe="$(
  cat "$CACHE/rootfs.stamp"
  cat "$ROOTFS/etc/fstab" "$ROOTFS/etc/systemd/system/runyard-check.service"
  echo "$DISK_SIZE"
)"
base_recipe="$(sha256sum <<<"$base_recipe" | cut -d' ' -f1)"
if [ "$(cat "$CACHE/base.stamp" 2>/dev/null)" != "$base_recipe" ] || [ ! -f "$CACHE/base.raw" ]; then
  say "building the VM's root disk $CACHE/base.raw ($DISK_SIZE ext4)"
  rm -f "$CACHE/base.raw.tmp"
  # -d copies the tree (owners, modes, xattrs, device nodes) into the new filesystem: no loop mount
  mkfs.ext4 -q -F -L runyard-root -d "$ROOTFS" "$CACHE/base.raw.tmp" "$DISK_SIZE" >/dev/null
  mv "$CACHE/base.raw.tmp" "$CACHE/base.raw"
  # Booted directly with -kernel/-initrd: the disk needs no bootloader.
  kernel="$(find "$ROOTFS/boot" -maxdepth 1 -name 'vmlinuz-*' | sort -V | tail -n 1)"
  [ -n "$kernel" ] || die "no kernel in $ROOTFS/boot"
  initrd="$ROOTFS/boot/initrd.img-${kernel##*/vmlinuz-}"
  [ -f "$initrd" ] || die "no initrd for $kernel"
  cp "$kernel" "$CACHE/vmlinuz"
  cp "$initrd" "$CACHE/initrd.img"
  printf '%s' "$base_recipe" >"$CACHE/base.stamp"
fi

# ---------------------------------------------------------------- payload disk

image_id="$(docker image inspect --format '{{.Id}}' "$IMAGE")"
image_tar="$CACHE/image-${image_id#sha256:}.tar"
if [ ! -f "$image_tar" ]; then
  say "saving $IMAGE ($image_id)"
  find "$CACHE" -maxdepth 1 -name 'image-*.tar*' -delete  # older images: one cached tar is enough
  docker save -o "$image_tar.tmp" "$IMAGE"
  mv "$image_tar.tmp" "$image_tar"
fi

remove_tree "$RUN"
mkdir -p "$RUN/payload"
ln "$image_tar" "$RUN/payload/runner.tar"
cp "$RUNYARD_ROOT/scripts/cgroup2/"*.py "$RUN/payload/"
printf '%s\n' "$IMAGE" >"$RUN/payload/image.txt"
cat >"$RUN/payload/boot.sh" <<'EOF'
#!/bin/bash
# Runs inside the VM from runyard-check.service; stdout is the VM's second serial port.
set -uo pipefail
image="$(cat /mnt/runyard/image.txt)"
echo "RUNYARD-BOOT $(uname -r)"
for _ in $(seq 180); do docker info >/dev/null 2>&1 && break; sleep 1; done
echo "INFO vm: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); cpus $(nproc);" \
  "$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) MiB"
echo "INFO vm: /sys/fs/cgroup is $(findmnt -n -o FSTYPE,OPTIONS /sys/fs/cgroup)"
echo "INFO vm: $(docker --version)"
if ! docker load -i /mnt/runyard/runner.tar >/tmp/load.log 2>&1; then
  echo "FAIL load: docker load failed: $(tail -c 500 /tmp/load.log)"
  echo "RUNYARD-RESULT rc=1"
  exit 1
fi
python3 /mnt/runyard/check.py --image "$image"
rc=$?
echo "RUNYARD-RESULT rc=$rc"
exit $rc
EOF
payload_mb=$(($(du -sm --apparent-size "$RUN/payload" | cut -f1) * 11 / 10 + 64))
mkfs.ext4 -q -F -L runyard-payload -d "$RUN/payload" "$RUN/payload.raw" "${payload_mb}M" >/dev/null
rm -rf "$RUN/payload"  # only a hard link and two small files; the disk holds the copy

# ---------------------------------------------------------------- the VM

# /dev/kvm existing is no proof that KVM works. Seen on the machine this was written on (itself a VM): `-cpu host`
# aborts on an MSR the outer hypervisor does not emulate ("failed to set MSR 0x10a"), and with any
# other CPU model qemu starts but the guest never runs an instruction (the CPU flags show no
# svm/vmx: no nested virtualization). So demand proof: the kernel must print its banner on the
# serial port. Without a root disk it then panics, and panic=-1 with -no-reboot ends qemu.
kvm_boots() { # kvm_boots CPU-MODEL
  local log="$RUN/kvm-probe.log" pid
  : >"$log"
  qemu-system-x86_64 -enable-kvm -cpu "$1" -m 256 -smp 1 -nodefaults -display none -no-reboot \
    -kernel "$CACHE/vmlinuz" -append 'console=ttyS0 panic=-1' -serial "file:$log" </dev/null >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 60); do
    grep -q 'Linux version' "$log" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" || true
  grep -q 'Linux version' "$log"
}
accel=(-accel tcg -cpu max)
if [ -w /dev/kvm ]; then
  for cpu in host host,-arch-capabilities; do
    # a subshell, so bash's "Aborted" notice for a crashing probe goes to /dev/null too
    if (kvm_boots "$cpu") 2>/dev/null; then
      accel=(-enable-kvm -cpu "$cpu")
      break
    fi
  done
fi
if [ "${accel[0]}" = -enable-kvm ]; then
  say "booting the VM with KVM (${accel[*]}; 1 vCPU, 2 GiB; up to ${TIMEOUT}s)"
else
  say "KVM does not work here: falling back to TCG emulation (much slower; up to ${TIMEOUT}s)"
fi

: >"$RUN/check.log"
# panic=-1 with -no-reboot: a kernel panic ends qemu at once instead of idling until the timeout.
# snapshot=on: the VM writes (docker load, container layers) go to a temporary overlay in $RUN.
TMPDIR="$RUN" timeout --kill-after=30 "$TIMEOUT" qemu-system-x86_64 "${accel[@]}" \
  -m 2048 -smp 1 -nographic -no-reboot -monitor none -nic none \
  -kernel "$CACHE/vmlinuz" -initrd "$CACHE/initrd.img" \
  -append "root=/dev/vda rw console=ttyS0 systemd.unified_cgroup_hierarchy=$UNIFIED panic=-1" \
  -drive "file=$CACHE/base.raw,format=raw,if=virtio,snapshot=on" \
  -drive "file=$RUN/payload.raw,format=raw,if=virtio,readonly=on" \
  -serial "file:$RUN/console.log" -serial "file:$RUN/check.log" \
  </dev/null >"$RUN/qemu.log" 2>&1 &
vm=$!
trap 'kill "$vm" 2>/dev/null || true' EXIT
# Show the check's lines as they arrive (the serial port adds carriage returns).
tail --pid="$vm" -n +1 -f "$RUN/check.log" | tr -d '\r' >&2 &
follower=$!
vm_rc=0
wait "$vm" || vm_rc=$?
trap - EXIT
wait "$follower" || true

# ---------------------------------------------------------------- verdict

tr -d '\r' <"$RUN/check.log" >"$RUN/check.txt"
echo
echo "== cgroup v2 check: $IMAGE ($image_id), accel ${accel[*]}; console log $RUN/console.log"
grep -E '^(INFO|PASS|FAIL|SUMMARY|RUNYARD-)' "$RUN/check.txt" || true
failed=0
if [ "$vm_rc" -eq 124 ] || [ "$vm_rc" -eq 137 ]; then
  say "the VM did not finish within ${TIMEOUT}s"
  failed=1
elif [ "$vm_rc" -ne 0 ]; then
  say "qemu exited with status $vm_rc: $(tail -c 500 "$RUN/qemu.log")"
  failed=1
elif ! grep -q 'reboot: Power down' "$RUN/console.log"; then
  # qemu also exits 0 when someone else sends it SIGTERM: only a clean poweroff means the VM finished
  say "the VM did not power off by itself"
  failed=1
fi
if ! grep -q '^RUNYARD-RESULT rc=0$' "$RUN/check.txt" || grep -q '^FAIL' "$RUN/check.txt"; then
  failed=1
fi
if ((failed)); then
  grep -q '^RUNYARD-RESULT' "$RUN/check.txt" || {
    say "the check never reported; last console lines:"
    tail -n 40 "$RUN/console.log" | tr -d '\r' >&2
  }
  die "cgroup v2 check FAILED"
fi
say "cgroup v2 check passed"

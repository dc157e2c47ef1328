#!/bin/bash
# Runs inside a matrix guest as its init (after test/kernels/guest-init.sh): sets up what a host
# has (bpffs, tracefs, cgroup2, modprobe, loopback), then runs the job in /fovea-results/job.env —
#   fovea doctor --json, fovea reasons, and vitest on the chosen e2e files (CI=true: nothing skips) —
# writing each output into /fovea-results/, then `exit-code` and `done`, and powers off.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
R=/fovea-results
# shellcheck disable=SC1091
source "$R/job.env"   # REPO, TESTS (space-separated test files), GUEST_RUN
step() { echo "guest-run: $*"; echo "$(date +%s) $*" >>"$R/steps.log"; }
off() { sync; echo o >/proc/sysrq-trigger; sleep 10; }
trap off EXIT

mount -t tmpfs tmpfs /run && mkdir -p /run/netns /run/lock
# /tmp stays the overlay's: the checkout may live there (the upper layer is tmpfs anyway)
mount -t devpts devpts /dev/pts 2>/dev/null
mkdir -p /dev/shm && mount -t tmpfs tmpfs /dev/shm
mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || mount -t debugfs debugfs /sys/kernel/debug
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
# The host's root may have no kmod: modprobe (also the kernel's, for nft's module autoload) is the
# kmod fetched with the tools, reading this kernel's modules.dep.
ln -sf "$REPO/.cache/kernels/tools/bin/kmod" /usr/sbin/modprobe
echo /usr/sbin/modprobe >/proc/sys/kernel/modprobe
# /dev/net/tun appears only once tun is loaded (no udev, no kmod static nodes here): the lab's delay line needs it
modprobe tun 2>/dev/null
ip link set lo up
echo "fovea-guest" >/proc/sys/kernel/hostname
ulimit -l unlimited  # kernels < 5.11 charge BPF maps to RLIMIT_MEMLOCK
cd "$REPO" || exit 1

step "kernel $(uname -r), $(nproc) vCPU, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB"
step "doctor"
node bin/fovea.js doctor --json >"$R/doctor.json" 2>"$R/doctor.err"
echo $? >"$R/doctor.rc"
step "reasons"
node bin/fovea.js reasons >"$R/reasons.txt" 2>&1
echo $? >"$R/reasons.rc"
if [[ -z "${TESTS// }" ]]; then step "no tests chosen"; touch "$R/done"; exit 0; fi
step "vitest: $TESTS"
# shellcheck disable=SC2086
CI=true FOVEA_SKIP_BUILD=1 node node_modules/vitest/vitest.mjs run --reporter=default --reporter=json \
  --outputFile.json="$R/vitest.json" $TESTS >"$R/vitest.log" 2>&1
echo $? >"$R/vitest.rc"
step "done"
touch "$R/done"

#!/bin/sh
# /init of the kernel matrix's initramfs (scripts/kernels/initramfs.sh), run by busybox in the guest.
# Loads the modules to reach the host over 9p, builds the guest's root — the host's root
# (share "hostroot", read-only) under a tmpfs overlay, this kernel's modules (share "modules") on
# /lib/modules/<release>, the run's folder (share "results", writable) on /fovea-results — and
# hands over to test/kernels/guest-run.sh, named in /fovea-results/job.env.
/bin/busybox --install -s /bin
export PATH=/bin
say() { echo "guest-init: $*"; }
fail() { say "error: $*"; echo o >/proc/sysrq-trigger; sleep 5; poweroff -f; }

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules/order); do
  insmod "/modules/$m" || say "insmod $m failed"
done
# ~1 MiB messages: a read-only share read mostly in big files (node, node_modules)
P9="trans=virtio,version=9p2000.L,msize=1048576"
mount -t 9p -o "$P9,ro,cache=loose" hostroot /mnt || fail "cannot mount the host's root (9p share hostroot)"
mkdir -p /rw && mount -t tmpfs -o size=75% tmpfs /rw && mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/mnt,upperdir=/rw/upper,workdir=/rw/work /newroot \
  || fail "cannot mount the overlay (lower: 9p hostroot, upper: tmpfs)"
rel="$(uname -r)"
mkdir -p "/newroot/lib/modules/$rel" /newroot/fovea-results
mount -t 9p -o "$P9,ro,cache=loose" modules "/newroot/lib/modules/$rel" || fail "cannot mount share modules"
mount -t 9p -o "$P9,cache=none" results /newroot/fovea-results || fail "cannot mount share results"
[ -f /newroot/fovea-results/job.env ] || fail "no job.env in the results share"
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
mount --move /dev /newroot/dev
GUEST_RUN="$(sed -n 's/^GUEST_RUN=//p' /newroot/fovea-results/job.env)"
say "switching root; running $GUEST_RUN"
exec switch_root /newroot /bin/bash "$GUEST_RUN"

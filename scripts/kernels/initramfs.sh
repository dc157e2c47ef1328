#!/usr/bin/env bash
# Builds the initramfs of one matrix kernel: busybox, test/kernels/guest-init.sh as /init, and the
# few modules needed to reach the host's root over 9p (virtio_pci, 9pnet_virtio, 9p, overlay and
# whatever modules.dep says they need), decompressed (busybox insmod reads no .ko.xz) and listed
# in load order in /modules/order. Output: .cache/kernels/<name>/initramfs.cpio.gz
# Usage: scripts/kernels/initramfs.sh <name>   (after scripts/kernels/fetch.sh <name>)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BASE="$REPO/.cache/kernels"
name=${1:?usage: initramfs.sh <kernel name>}
dir="$BASE/$name"
log() { printf 'kernels-initramfs: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ -f "$dir/release" ]] || die "kernel $name not fetched (run scripts/kernels/fetch.sh $name)"
release="$(cat "$dir/release")"
moddir="$dir/root/lib/modules/$release"
busybox="$BASE/tools/bin/busybox"
[[ -x "$busybox" ]] || die "no busybox in $BASE/tools (run scripts/kernels/fetch.sh)"
out="$dir/initramfs.cpio.gz"
init="$REPO/test/kernels/guest-init.sh"
if [[ -f "$out" && "$out" -nt "$init" && "$out" -nt "$moddir/modules.dep" && "$out" -nt "${BASH_SOURCE[0]}" ]]; then
  exit 0
fi

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,dev,proc,sys,mnt,modules,newroot}
cp "$busybox" "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
cp "$init" "$stage/init"
chmod +x "$stage/init"

# Module dependencies, depth first, each once: modules.dep lines are "path: dep dep ...".
declare -A seen=()
order=()
add() {
  local want=$1 line deps dep
  line="$(grep -E "(^|/)${want}\.ko(\.xz|\.zst|\.gz)?:" "$moddir/modules.dep" || true)"
  if [[ -z "$line" ]]; then
    # built into this kernel: nothing to load
    grep -qE "(^|/)${want}\.ko" "$moddir/modules.builtin" 2>/dev/null || [[ -f "$moddir/modules.builtin.bin" ]] \
      || die "module $want is neither in modules.dep nor built in ($moddir)"
    return
  fi
  local path="${line%%:*}"
  [[ -n "${seen[$path]:-}" ]] && return
  seen[$path]=1
  deps="${line#*:}"
  for dep in $deps; do
    dep="$(basename "$dep")"; dep="${dep%%.ko*}"
    add "$dep"
  done
  order+=("$path")
}
for m in virtio_pci 9pnet_virtio 9p overlay; do add "$m"; done

for path in "${order[@]}"; do
  base="$(basename "$path")"; base="${base%%.ko*}.ko"
  case "$path" in
    *.ko.xz) xz -dc "$moddir/$path" >"$stage/modules/$base" ;;
    *.ko.zst) zstd -qdc "$moddir/$path" >"$stage/modules/$base" ;;
    *.ko.gz) gzip -dc "$moddir/$path" >"$stage/modules/$base" ;;
    *) cp "$moddir/$path" "$stage/modules/$base" ;;
  esac
  echo "$base" >>"$stage/modules/order"
done
touch "$stage/modules/order"

(cd "$stage" && find . | "$busybox" cpio -o -H newc 2>/dev/null | gzip -1) >"$out.tmp"
mv "$out.tmp" "$out"
log "$name: $out ($(wc -l <"$stage/modules/order") modules: $(tr '\n' ' ' <"$stage/modules/order"))"

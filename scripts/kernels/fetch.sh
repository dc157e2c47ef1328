#!/usr/bin/env bash
# Fetches what the kernel matrix (npm run test:kernels) boots, from Debian's archive, without
# touching the system's apt configuration (private sources, lists and cache under .cache/kernels/):
#   - one kernel image package per matrix kernel (test/kernels/kernels.json: suite + package),
#     extracted to .cache/kernels/<name>/ (vmlinuz and /lib/modules)
#   - qemu-system-x86 10 from bookworm-backports (Debian 12's qemu 7.2 corrupts memory running
#     6.12 with 2 vCPUs), its firmware (seabios, qemu-system-data) and busybox-static for the
#     initramfs, extracted to .cache/kernels/tools/
# Idempotent: a kernel or the tools already extracted are not fetched again.
# Usage: scripts/kernels/fetch.sh [kernel names...]   (default: every kernel in kernels.json)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BASE="$REPO/.cache/kernels"
LIST="$REPO/test/kernels/kernels.json"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
TOOLS_PKGS=(qemu-system-x86/bookworm-backports qemu-system-data/bookworm-backports seabios/bookworm-backports
  ipxe-qemu/bookworm busybox-static/bookworm
  # depmod for the extracted modules, modprobe in the guest (the host's root may have no kmod)
  kmod/bookworm
  # libraries qemu 10 links that a Debian 12 host may lack (run with LD_LIBRARY_PATH=tools/usr/lib/x86_64-linux-gnu)
  libcapstone4/bookworm libpmem1/bookworm libndctl6/bookworm libdaxctl1/bookworm libfdt1/bookworm
  librdmacm1/bookworm libibverbs1/bookworm libnl-3-200/bookworm libnl-route-3-200/bookworm libslirp0/bookworm
  libvdeplug2/bookworm libfuse3-3/bookworm libaio1/bookworm liburing2/bookworm)

log() { printf 'kernels-fetch: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in apt-get apt-cache dpkg-deb node; do
  command -v "$tool" >/dev/null || die "missing $tool (a Debian/Ubuntu host is needed)"
done
[[ -r "$KEYRING" ]] || die "missing $KEYRING (apt-get install debian-archive-keyring)"
[[ -r "$LIST" ]] || die "missing $LIST"

mkdir -p "$BASE/sources" "$BASE/lists/partial" "$BASE/cache/archives/partial" "$BASE/debs"
{
  for suite in bullseye bookworm bookworm-backports trixie trixie-backports; do
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: main\nSigned-By: %s\n\n' "$suite" "$KEYRING"
  done
} >"$BASE/sources/kernels.sources"

APT_OPTS=(
  -o "Dir::Etc::SourceList=/dev/null"
  -o "Dir::Etc::SourceParts=$BASE/sources"
  -o "Dir::State::Lists=$BASE/lists"
  -o "Dir::Cache=$BASE/cache"
  -o "Dir::Cache::pkgcache="
  -o "Dir::Cache::srcpkgcache="
  -o "APT::Architecture=amd64"
  -o "APT::Default-Release="
)

updated=0
apt_update() {
  (( updated )) && return
  if [[ -n "$(find "$BASE/lists" -maxdepth 1 -name '*_InRelease' -mmin -1440 2>/dev/null | head -1)" ]]; then updated=1; return; fi
  log "apt-get update (private lists in $BASE/lists)"
  apt-get "${APT_OPTS[@]}" -q update >"$BASE/apt-update.log" 2>&1 || { cat "$BASE/apt-update.log"; die "apt-get update failed (log: $BASE/apt-update.log)"; }
  updated=1
}

# download <package> <suite>: the newest version of <package> in <suite> into $BASE/debs; prints the .deb path
download() {
  local pkg=$1 suite=$2 version deb
  version="$(apt-cache "${APT_OPTS[@]}" madison "$pkg" | awk -F'|' -v s="$suite" '$3 ~ ("[ /]" s "/main") || $3 ~ (" " s "/") {gsub(/ /,"",$2); print $2; exit}')"
  [[ -n "$version" ]] || die "no package $pkg in $suite (apt-cache madison $pkg found: $(apt-cache "${APT_OPTS[@]}" madison "$pkg" | tr '\n' ';'))"
  deb="$(ls "$BASE/debs/${pkg}_${version//:/%3a}_"*.deb 2>/dev/null | head -1 || true)"
  if [[ -z "$deb" ]]; then
    log "downloading $pkg $version ($suite)"
    (cd "$BASE/debs" && apt-get "${APT_OPTS[@]}" -q download "$pkg=$version" >/dev/null 2>&1) || die "apt-get download $pkg=$version failed"
    deb="$(ls "$BASE/debs/${pkg}_${version//:/%3a}_"*.deb | head -1)"
  fi
  printf '%s\n' "$deb"
}

# The image package a metapackage (linux-image-amd64) points at in a suite.
resolve_image() {
  local pkg=$1 suite=$2 deb
  if [[ "$pkg" != linux-image-amd64 && "$pkg" != linux-image-cloud-amd64 ]]; then
    printf '%s\n' "$pkg"; return
  fi
  deb="$(download "$pkg" "$suite")"
  dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -n 's/^ *\(linux-image-[0-9][^ ]*\).*/\1/p' | head -1
}

fetch_kernel() {
  local name=$1 suite pkg dir image deb
  suite="$(node -e 'const k=require(process.argv[1]).find(k=>k.name===process.argv[2]); if(!k) process.exit(2); console.log(k.suite)' "$LIST" "$name")" || die "no kernel named $name in $LIST"
  pkg="$(node -e 'console.log(require(process.argv[1]).find(k=>k.name===process.argv[2]).package)' "$LIST" "$name")"
  dir="$BASE/$name"
  if [[ -f "$dir/.extracted" ]]; then
    log "$name: already extracted in $dir ($(cat "$dir/.extracted"))"
    return
  fi
  apt_update
  image="$(resolve_image "$pkg" "$suite")"
  [[ -n "$image" ]] || die "$name: $pkg in $suite names no linux-image package"
  deb="$(download "$image" "$suite")"
  rm -rf "$dir" && mkdir -p "$dir/root"
  log "$name: extracting $(basename "$deb")"
  dpkg-deb -x "$deb" "$dir/root"
  # Since 7.x Debian ships the image in linux-binary-* and the modules in linux-modules-*, which
  # linux-image-* depends on with the same version: take those too.
  local part
  for part in $(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -n 's/^ *\(linux-\(binary\|modules\)-[0-9][^ ]*\).*/\1/p'); do
    log "$name: extracting $part"
    dpkg-deb -x "$(download "$part" "$suite")" "$dir/root"
  done
  # The image: /boot/vmlinuz-<release> (up to 6.x), /usr/lib/modules/<release>/vmlinuz (7.x on).
  local vmlinuz release
  vmlinuz="$( (ls "$dir"/root/boot/vmlinuz-* "$dir"/root/usr/lib/modules/*/vmlinuz 2>/dev/null || true) | head -1)"
  [[ -n "$vmlinuz" ]] || die "$name: no vmlinuz in $deb or its linux-binary/linux-modules packages"
  if [[ "$vmlinuz" == */boot/vmlinuz-* ]]; then release="${vmlinuz##*/vmlinuz-}"; else release="$(basename "$(dirname "$vmlinuz")")"; fi
  cp "$vmlinuz" "$dir/vmlinuz"
  # Modules live in /lib/modules (bullseye, bookworm) or /usr/lib/modules (trixie on): one place,
  # $dir/root/lib/modules/<release>, with the modules.dep that the package's postinst would make.
  if [[ ! -d "$dir/root/lib/modules/$release" ]]; then
    [[ -d "$dir/root/usr/lib/modules/$release" ]] || die "$name: no modules for $release in the packages"
    mkdir -p "$dir/root/lib/modules"
    mv "$dir/root/usr/lib/modules/$release" "$dir/root/lib/modules/$release"
  fi
  "$BASE/tools/bin/kmod" --version >/dev/null || die "tools: $BASE/tools/bin/kmod does not run here (libkmod.so.2 missing? apt-get install libkmod2)"
  ln -sf kmod "$BASE/tools/bin/depmod"
  "$BASE/tools/bin/depmod" -b "$dir/root" "$release" || die "$name: depmod failed"
  echo "$release" >"$dir/release"
  basename "$deb" >"$dir/.extracted"
}

fetch_tools() {
  local dir="$BASE/tools" want="${TOOLS_PKGS[*]}" spec
  if [[ -f "$dir/.extracted" && "$(cat "$dir/.extracted")" == "$want" ]]; then
    log "tools: already extracted in $dir"
    return
  fi
  apt_update
  rm -rf "$dir" && mkdir -p "$dir"
  for spec in "${TOOLS_PKGS[@]}"; do
    deb="$(download "${spec%%/*}" "${spec#*/}")"
    dpkg-deb -x "$deb" "$dir"
  done
  find "$dir/usr/lib/x86_64-linux-gnu" -name '*.so*' >/dev/null 2>&1 || true
  [[ -x "$dir/usr/bin/qemu-system-x86_64" ]] || die "tools: qemu-system-x86_64 missing after extraction"
  [[ -x "$dir/bin/busybox" ]] || die "tools: busybox missing after extraction"
  [[ -x "$dir/bin/kmod" ]] || die "tools: kmod missing after extraction"
  LD_LIBRARY_PATH="$dir/usr/lib/x86_64-linux-gnu:$dir/lib/x86_64-linux-gnu" "$dir/usr/bin/qemu-system-x86_64" --version >/dev/null 2>"$BASE/qemu-version.err" \
    || die "tools: the extracted qemu does not run on this host (missing libraries? see $BASE/qemu-version.err; ldd $dir/usr/bin/qemu-system-x86_64)"
  echo "$want" >"$dir/.extracted"
}

fetch_tools
if (( $# )); then
  names=("$@")
else
  mapfile -t names < <(node -e 'for (const k of require(process.argv[1])) console.log(k.name)' "$LIST")
fi
for name in "${names[@]}"; do fetch_kernel "$name"; done
log "done"

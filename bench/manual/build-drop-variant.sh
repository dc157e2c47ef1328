#!/usr/bin/env bash
# Builds one variant of the drop probe into a directory the agent can load (--bpf-dir), for
# bench/manual/drop-variants.mjs:  bash bench/manual/build-drop-variant.sh <outdir> [source.bpf.c] [clang flags...]
# The other probes' objects are copied from bpf/build (run `bash scripts/build.sh` first).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$1; shift
src=bpf/drop.bpf.c
if [[ $# -gt 0 && $1 == *.c ]]; then src=$1; shift; fi
ARCH=$(uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
mkdir -p "$out"
cp bpf/build/traffic.bpf.o bpf/build/tcp.bpf.o "$out"/
for v in drop drop-noevents; do
  extra=(); [[ $v == drop-noevents ]] && extra=(-DFOVEA_NO_EVENTS)
  clang -g -O2 -target bpf -D__TARGET_ARCH_"$ARCH" -Wall -Werror "${extra[@]}" "$@" \
    -I bpf -I bpf/include -c "$src" -o "$out/$v.bpf.o"
done
echo "$out: $src $*"

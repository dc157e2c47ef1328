#!/usr/bin/env bash
# Builds the CO-RE eBPF objects bpf/*.bpf.c -> bpf/build/*.bpf.o.
# Needs clang (Debian: clang) and libbpf headers (Debian: libbpf-dev). The Dockerfile's builder
# stage runs this same script.
set -euo pipefail
cd "$(dirname "$0")/.."
CLANG=${CLANG:-clang}
ARCH=$(uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
mkdir -p bpf/build

# build <source> <object> [extra clang flags...]
build() {
  local src=$1 obj=$2
  shift 2
  if [[ "$obj" -nt "$src" && "$obj" -nt bpf/include/fovea.h && "$obj" -nt "${src%.bpf.c}.h" ]]; then
    return
  fi
  echo "build-bpf: $src -> $obj"
  # -g: keep BTF (CO-RE relocations and the ABI test need it). -O2: the verifier needs optimised code.
  "$CLANG" -g -O2 -target bpf -D__TARGET_ARCH_"$ARCH" -Wall -Werror "$@" \
    -I bpf -I bpf/include -c "$src" -o "$obj"
}

for src in bpf/*.bpf.c; do
  build "$src" "bpf/build/$(basename "${src%.c}").o"
done
# The drop probe without events (no ring buffer): kernels < 5.8, and agents with events off.
build bpf/drop.bpf.c bpf/build/drop-noevents.bpf.o -DFOVEA_NO_EVENTS

#!/usr/bin/env bash
# Builds the CO-RE eBPF objects bpf/*.bpf.c -> bpf/build/*.bpf.o.
# Needs clang (Debian: clang) and libbpf headers (Debian: libbpf-dev). The Dockerfile's builder
# stage runs this same script.
set -euo pipefail
cd "$(dirname "$0")/.."
CLANG=${CLANG:-clang}
ARCH=$(uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
mkdir -p bpf/build
for src in bpf/*.bpf.c; do
  obj="bpf/build/$(basename "${src%.c}").o"
  if [[ "$obj" -nt "$src" && "$obj" -nt bpf/include/fovea.h && "$obj" -nt "${src%.bpf.c}.h" ]]; then
    continue
  fi
  echo "build-bpf: $src -> $obj"
  # -g: keep BTF (CO-RE relocations and the ABI test need it). -O2: the verifier needs optimised code.
  "$CLANG" -g -O2 -target bpf -D__TARGET_ARCH_"$ARCH" -Wall -Werror \
    -I bpf -I bpf/include -c "$src" -o "$obj"
done

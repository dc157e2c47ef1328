#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for Fovea and builds it. Idempotent and quick when done.
#   bash scripts/setup.sh          what `npm run demo` needs: toolchain + runtime, npm packages,
#                                  the OTLP protos (demo receiver), eBPF objects and TypeScript
#   bash scripts/setup.sh --test   also what the tests and the benchmark need (iperf3, python3,
#                                  VictoriaMetrics from Debian 13)
# Debian packages come from the distribution's mirrors; npm packages from the npm registry.
# Nothing is downloaded at run time.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup: %s\n' "$*"; }

TEST=0
[[ "${1:-}" == "--test" ]] && TEST=1

# clang/llvm + libbpf-dev: build the CO-RE objects; libbpf1: the agent's runtime library;
# iproute2 + nftables: the demo's lab and the tests' ground truth.
PKGS=(clang llvm libbpf-dev libbpf1 iproute2 nftables ca-certificates debian-archive-keyring)
(( TEST )) && PKGS+=(iperf3 python3 procps openssl bpftool git)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if (( ${#missing[@]} )); then
  if [[ $(id -u) -ne 0 ]]; then
    log "missing Debian packages: ${missing[*]} — run as root or: sudo apt-get install ${missing[*]}"
    exit 1
  fi
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages, exactly as locked. Re-run when the lockfile changed since the last install.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  log "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# The official OTLP protos (demo and tests) and VictoriaMetrics (tests) from Debian 13.
bash scripts/fetch-deb13.sh

bash scripts/build.sh
log "ready"

#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for Fovea and builds it. Idempotent and quick when done.
#   bash scripts/setup.sh          what `npm run demo` needs: toolchain + runtime, npm packages,
#                                  the OTLP protos (demo receiver), eBPF objects and TypeScript
#   bash scripts/setup.sh --test   also what the tests and the benchmark need (iperf3, python3,
#                                  trafgen from netsniff-ng; VictoriaMetrics, kubectl, promtool,
#                                  prometheus and containers-common's seccomp profile from Debian 13,
#                                  extracted, never installed; podman, runc and mmdebstrap for the
#                                  image test: scripts/image.sh)
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
(( TEST )) && PKGS+=(iperf3 python3 procps openssl bpftool git netsniff-ng dnsmasq-base bind9-dnsutils)
# test/e2e/image.test.ts builds the image (scripts/image.sh) and runs it like the DaemonSet.
(( TEST )) && PKGS+=(podman runc mmdebstrap)

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

# The deployment tests (test/deploy) render the kustomize overlays with kubectl and check the alert
# rules with promtool; the Prometheus-mode test (test/e2e/prometheus.test.ts) has a real Prometheus
# scrape the agent. All from Debian 13, extracted (not installed) under .cache/deb13-tools/:
# Debian 12's kubectl (1.20) predates kustomize components, and installing Debian's `prometheus`
# package would also start a Prometheus server (the tests run the extracted binary themselves, on
# loopback). The image test takes the container runtimes' current default seccomp profile from
# Debian 13's containers-common (usr/share/containers/seccomp.json: bpf(2) with CAP_BPF, as
# containerd >= 1.7); Debian 12's predates it. Idempotent: does nothing when already extracted.
fetch_deb13_tools() {
  local base=.cache/deb13-tools pkgs=(kubectl promtool prometheus golang-github-containers-common) keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  local root="$base/root" stamp="$base/root/.extracted"
  [[ -f "$stamp" && "$(cat "$stamp")" == "${pkgs[*]}" ]] && return 0
  mkdir -p "$base/sources" "$base/lists/partial" "$base/cache/archives/partial" "$base/debs"
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\nSigned-By: %s\n' \
    "$keyring" >"$base/sources/trixie.sources"
  local apt_opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$PWD/$base/sources"
    -o "Dir::State::Lists=$PWD/$base/lists" -o "Dir::Cache=$PWD/$base/cache" -o "Dir::Cache::pkgcache="
    -o "Dir::Cache::srcpkgcache=" -o "APT::Architecture=$(dpkg --print-architecture)")
  log "fetching ${pkgs[*]} from Debian 13 into $base"
  apt-get "${apt_opts[@]}" -qq update
  rm -f "$base"/debs/*.deb
  (cd "$base/debs" && apt-get "${apt_opts[@]}" -qq download "${pkgs[@]/%//trixie}")
  rm -rf "$root" && mkdir -p "$root"
  for deb in "$base"/debs/*.deb; do dpkg-deb -x "$deb" "$root"; done
  "$root/usr/bin/kubectl" version --client >/dev/null && "$root/usr/bin/promtool" --version >/dev/null \
    && "$root/usr/bin/prometheus" --version >/dev/null
  [[ -f "$root/usr/share/containers/seccomp.json" ]]
  echo "${pkgs[*]}" >"$stamp"
}
(( TEST )) && fetch_deb13_tools

bash scripts/build.sh
log "ready"

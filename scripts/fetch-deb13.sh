#!/usr/bin/env bash
# Fetch test backends from Debian 13 ("trixie") without touching the system's apt configuration:
#   victoria-metrics     — an OTLP/HTTP metrics backend answering PromQL (its binary runs on Debian 12)
#   opentelemetry-proto  — the official OTLP .proto files (for the test OTLP/gRPC receiver)
# Everything lands under .cache/deb13/ in the repository (private apt lists, cache, .debs and the
# extracted tree in .cache/deb13/root/). Idempotent: does nothing when already extracted.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BASE="$REPO/.cache/deb13"
ROOT="$BASE/root"
PACKAGES=(victoria-metrics opentelemetry-proto)
STAMP="$ROOT/.extracted"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

log() { printf 'fetch-deb13: %s\n' "$*"; }

if [[ -f "$STAMP" ]] && [[ "$(cat "$STAMP")" == "${PACKAGES[*]}" ]]; then
  log "already extracted in $ROOT (delete $BASE to fetch again)"
  exit 0
fi

for tool in apt-get dpkg-deb; do
  command -v "$tool" >/dev/null || { log "missing $tool (a Debian/Ubuntu host is needed)"; exit 1; }
done
[[ -r "$KEYRING" ]] || { log "missing $KEYRING (apt-get install debian-archive-keyring)"; exit 1; }

mkdir -p "$BASE/sources" "$BASE/lists/partial" "$BASE/cache/archives/partial" "$BASE/debs"
cat >"$BASE/sources/trixie.sources" <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: $KEYRING
EOF

# Private sources, lists and cache: the host's /etc/apt and /var/lib/apt are neither read nor written.
APT_OPTS=(
  -o "Dir::Etc::SourceList=/dev/null"
  -o "Dir::Etc::SourceParts=$BASE/sources"
  -o "Dir::State::Lists=$BASE/lists"
  -o "Dir::Cache=$BASE/cache"
  -o "Dir::Cache::pkgcache="
  -o "Dir::Cache::srcpkgcache="
  -o "APT::Architecture=$(dpkg --print-architecture)"
)

log "apt-get update (trixie main, private lists in $BASE/lists)"
apt-get "${APT_OPTS[@]}" -q update

for pkg in "${PACKAGES[@]}"; do
  version="$(apt-cache "${APT_OPTS[@]}" policy "$pkg" | awk '/Candidate:/ {print $2}')"
  [[ -n "$version" && "$version" != "(none)" ]] || { log "no candidate for $pkg in trixie"; exit 1; }
  log "downloading $pkg $version"
  # apt-get download writes into the current directory; it runs unprivileged-safe as root too.
  (cd "$BASE/debs" && apt-get "${APT_OPTS[@]}" -q download "$pkg=$version")
done

rm -rf "$ROOT"
mkdir -p "$ROOT"
for deb in "$BASE"/debs/*.deb; do
  log "extracting $(basename "$deb") into $ROOT"
  dpkg-deb -x "$deb" "$ROOT"
done

VM_BIN="$ROOT/usr/bin/victoria-metrics"
PROTO_DIR="$ROOT/usr/include"  # Debian ships the .proto files as include files: usr/include/opentelemetry/proto/...
PROTO="$PROTO_DIR/opentelemetry/proto/collector/metrics/v1/metrics_service.proto"
[[ -x "$VM_BIN" ]] || { log "victoria-metrics binary not found at $VM_BIN"; exit 1; }
[[ -f "$PROTO" ]] || { log "OTLP proto not found at $PROTO"; exit 1; }
# Debian's build leaves -version empty: report the package version, and prove the binary runs here.
"$VM_BIN" -help >/dev/null 2>&1 || { log "$VM_BIN does not run on this host"; exit 1; }
log "victoria-metrics: $VM_BIN ($(dpkg-deb -f "$BASE"/debs/victoria-metrics_*.deb Version), runs on this host)"
log "OTLP proto dir:   $PROTO_DIR"

echo "${PACKAGES[*]}" >"$STAMP"
log "done"

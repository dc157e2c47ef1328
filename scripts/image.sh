#!/usr/bin/env bash
# Builds Fovea's container image from the Dockerfile with podman, on a base image made here from
# Debian packages — no image registry needed; only the Debian mirror (and, for the build stage's
# `npm ci`, the npm registry).
#
#   bash scripts/image.sh                 build localhost/fovea:<package.json version>; prints its size
#   bash scripts/image.sh --tag NAME      build as NAME
#   bash scripts/image.sh --print-base    only make (or find) the base image and print its name
#
# The base: Debian 13 (trixie) minbase + Debian's `nodejs` (20.19) + ca-certificates, made with
# mmdebstrap and `podman import`ed as localhost/fovea-base:trixie-node20-<recipe hash>, then passed
# as the Dockerfile's NODE_IMAGE (both stages). Debian 13, because Debian's Node 20 is there:
# Debian 12 ships Node 18, and trixie's nodejs needs trixie's glibc, so it cannot go on a bookworm
# base. The docs, man pages and locales are left out as in Debian's -slim images. The base is made
# once per recipe (its hash is in the tag) and kept in podman's storage; podman's layer cache then
# keeps the build stage's packages and `npm ci` until the lockfile changes.
#
# Podman is run the way this kind of host needs: runc (crun refuses hybrid cgroup v1/v2 hosts),
# cgroupfs (no systemd session), and explicit rlimits no higher than the caller's own (podman's
# defaults exceed them, and root here cannot raise them without CAP_SYS_RESOURCE). The build's RUN
# steps see the host's CA bundle (a read-only bind mount, not part of any layer), so `npm ci`
# works behind a TLS-intercepting proxy the host trusts.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'image: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

TAG="localhost/fovea:$(node -p 'require("./package.json").version')"
PRINT_BASE=0
while (( $# )); do
  case "$1" in
    --tag) TAG=$2; shift 2 ;;
    --print-base) PRINT_BASE=1; shift ;;
    *) die "unknown argument: $1" ;;
  esac
done

# ---- tools (Debian 12 packages), installed only when missing
PKGS=(podman runc mmdebstrap)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if (( ${#missing[@]} )); then
  [[ $(id -u) -eq 0 ]] || die "missing Debian packages: ${missing[*]} — run as root or: sudo apt-get install ${missing[*]}"
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[[ $(id -u) -eq 0 ]] || die "podman builds and runs the image as root here (rootful storage); run as root"

# ---- podman, as this host needs it
hard() { local v; v=$(ulimit -H "$1"); [[ $v == unlimited ]] && v=1048576; echo "$v"; }
NOFILE=$(hard -n)
NPROC=$(hard -u)
PID_MAX=$(cat /proc/sys/kernel/pid_max)
(( NPROC > PID_MAX )) && NPROC=$PID_MAX   # podman lowers its own RLIMIT_NPROC to pid_max
PODMAN=(podman --runtime runc --cgroup-manager cgroupfs)
ULIMITS=(--ulimit "nofile=$NOFILE:$NOFILE" --ulimit "nproc=$NPROC:$NPROC")

# ---- the base image: Debian 13 minbase + nodejs, cached by recipe
SUITE=trixie
MIRROR=http://deb.debian.org/debian
SOURCES=(
  "deb $MIRROR $SUITE main"
  "deb $MIRROR $SUITE-updates main"
  "deb http://deb.debian.org/debian-security $SUITE-security main"
)
INCLUDE=nodejs,ca-certificates
# As Debian's -slim images: no docs (but the copyright files), man pages, info or translations.
# In /etc/dpkg/dpkg.cfg.d/, so the packages the Dockerfile installs on top leave them out too.
DPKG_OPTS=(
  'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright'
  'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/info/*' 'path-exclude=/usr/share/groff/*'
  'path-exclude=/usr/share/lintian/*' 'path-exclude=/usr/share/locale/*'
  # glibc's iconv modules (8 MB): nothing here converts charsets with iconv (Node has ICU; UTF-8
  # and ASCII are built into glibc) — the image's size stays within its 250 MB target with them out
  'path-exclude=/usr/lib/*/gconv/*'
  # and as their docker-apt-speedup: no fsync per file (a crashed build is rebuilt anyway)
  'force-unsafe-io'
)
# For the Dockerfile's apt-get, as Debian's images' docker-clean: downloaded .debs deleted after
# installation, no package caches (/var/cache/apt/*.bin: 90 MB after an `apt-get update`), no
# translations.
APT_CONF='APT::Keep-Downloaded-Packages "false"; Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache ""; Acquire::Languages "none";'
MMDEBSTRAP=(mmdebstrap --variant=minbase --include="$INCLUDE" --keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
for o in "${DPKG_OPTS[@]}"; do MMDEBSTRAP+=(--dpkgopt="$o"); done
# (after mmdebstrap's own apt runs, whose caches it leaves: removed here)
MMDEBSTRAP+=(--customize-hook="echo '$APT_CONF' >\"\$1/etc/apt/apt.conf.d/90fovea-slim\" && rm -f \"\$1\"/var/cache/apt/*.bin")
# The tag names the recipe: a changed recipe makes a new base (and the old one is removed).
HASH=$(printf '%s\n' "${MMDEBSTRAP[@]}" "$SUITE" "${SOURCES[@]}" | sha256sum | cut -c1-12)
BASE="localhost/fovea-base:$SUITE-node20-$HASH"

if "${PODMAN[@]}" image exists "$BASE"; then
  log "base $BASE: cached"
else
  log "base $BASE: mmdebstrap $SUITE minbase + $INCLUDE (about a minute)"
  t0=$SECONDS
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  "${MMDEBSTRAP[@]}" --quiet "$SUITE" "$tmp/base.tar" "${SOURCES[@]}"
  "${PODMAN[@]}" import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["node"]' \
    --change "LABEL org.opencontainers.image.description=\"Debian $SUITE minbase + $INCLUDE, for Fovea's Dockerfile (scripts/image.sh)\"" \
    "$tmp/base.tar" "$BASE" >/dev/null
  rm -rf "$tmp"
  node_v=$("${PODMAN[@]}" run --rm "${ULIMITS[@]}" --network none "$BASE" node --version)
  [[ $node_v == v20.* ]] || die "the base's node is $node_v, not 20.x"
  log "base $BASE: made in $((SECONDS - t0)) s, node $node_v, $(( $("${PODMAN[@]}" image inspect --format '{{.Size}}' "$BASE") / 1000000 )) MB"
  # bases of older recipes
  for old in $("${PODMAN[@]}" images --format '{{.Repository}}:{{.Tag}}' localhost/fovea-base); do
    [[ $old == "$BASE" ]] || "${PODMAN[@]}" rmi "$old" >/dev/null 2>&1 || true
  done
fi
if (( PRINT_BASE )); then echo "$BASE"; exit 0; fi

# ---- the image
build=("${PODMAN[@]}" build --layers --network host "${ULIMITS[@]}"
  --build-arg "NODE_IMAGE=$BASE" --build-arg "REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)")
ca=/etc/ssl/certs/ca-certificates.crt
[[ -f $ca ]] && build+=(--volume "$ca:$ca:ro")
# `npm ci` in the build stage reads the host's npm cache through an overlay (the build's writes go
# to a scratch layer, never to the host's cache or the image): the tarballs scripts/setup.sh's own
# `npm ci` fetched are not fetched again. The lockfile's integrity hashes are checked either way.
npm_cache=$(npm config get cache 2>/dev/null || true)
[[ -n $npm_cache && -d $npm_cache/_cacache ]] && build+=(--volume "$npm_cache:/root/.npm:O")
log "podman build $TAG (Dockerfile, NODE_IMAGE=$BASE)"
t0=$SECONDS
stamp() { while IFS= read -r l; do printf '[%4ds] %s\n' $((SECONDS - t0)) "$l"; done; }
# The build stage is tagged too, so that its cached layers are not dangling images: the prune
# below then removes only what earlier builds left (the layers after each stage's first LABEL
# carry the Dockerfile's image.title; no other image is touched).
"${build[@]}" --target build -t localhost/fovea-build:cache . 2>&1 | stamp >&2
"${build[@]}" -t "$TAG" . 2>&1 | stamp >&2
for title in fovea fovea-build; do
  "${PODMAN[@]}" image prune -f --filter "label=org.opencontainers.image.title=$title" >/dev/null
done
size=$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$TAG")
log "built $TAG in $((SECONDS - t0)) s: $((size / 1000000)) MB ($size bytes)"
echo "$TAG"

# Fovea node agent image. Multi-stage: build the CO-RE eBPF objects and the TypeScript with the
# same script CI and scripts/setup.sh run (scripts/build.sh); then ship a slim Node runtime with the
# system libbpf and production dependencies only. No compiler in the runtime image: the objects are
# built here. test/deploy/dockerfile.test.ts reads this file; test/e2e/image.test.ts builds the
# image with podman (scripts/image.sh), checks its layout and runs it as
# deploy/base/fovea-agent.yaml does.
#
#   docker build --build-arg REVISION=$(git rev-parse HEAD) -t fovea:0.1.0 .
#   docker run --rm --cap-drop ALL --cap-add BPF --cap-add PERFMON --cap-add NET_ADMIN --network host \
#     --read-only --tmpfs /run/fovea fovea:0.1.0 agent --endpoint http://127.0.0.1:4317
#
# NODE_IMAGE, the base of both stages: the official Node 20 image on Debian 12 by default; any
# Debian-based image with Node 20 works. scripts/image.sh makes one from Debian packages alone
# (Debian 13 with Debian's nodejs 20), for hosts that reach no image registry, and builds on it.
#
# Layout: everything under /opt/fovea, owned by root, readable by every user, writable by none but
# root, and never written at run time — so the image runs with a read-only root filesystem and
# under any UID (`docker run --user 65534 fovea:0.1.0 reasons` works). Loading eBPF programs needs
# capabilities, which in Kubernetes means root in the container (deploy/base/fovea-agent.yaml).
# The only writable path the agent uses is /run/fovea (`fovea observe`'s socket): a tmpfs or
# emptyDir there.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
# (a label on every layer of both stages: scripts/image.sh prunes earlier builds' layers by it)
LABEL org.opencontainers.image.title="fovea-build"
# clang/llvm: compile bpf/*.bpf.c to BPF; libbpf-dev: bpf_helpers.h & co (as in scripts/setup.sh)
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang llvm libbpf-dev \
 && rm -rf /var/lib/apt/lists/*
# npm: bundled with the official node images. A base of Debian's nodejs package (scripts/image.sh)
# has none: corepack, which Debian's nodejs comes with, fetches it from the npm registry — the
# release Node 20's own builds bundle. The build stage only: the runtime runs no npm.
ARG NPM_VERSION=10.8.2
RUN command -v npm >/dev/null || { corepack enable npm && corepack prepare "npm@${NPM_VERSION}" --activate; }
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/ scripts/
COPY bpf/ bpf/
COPY src/ src/
COPY bin/ bin/
COPY bench/ bench/
# Build as CI does, drop dev dependencies and what Node never loads from the rest (type
# declarations, source maps, bundler builds, other platforms' koffi binaries:
# scripts/slim-node-modules.mjs), then make the files the runtime stage takes readable by all and
# writable only by their owner (COPY --from keeps these modes) — changing only those not so yet:
# a `chmod -R` would copy every file of node_modules into this layer.
RUN bash scripts/build.sh \
 && npm prune --omit=dev --no-audit --no-fund --loglevel=error \
 && node scripts/slim-node-modules.mjs node_modules \
 && find package.json node_modules dist/src bin bpf/build ! -type l \
      \( -perm /022 -o ! -perm -644 -o \( -perm /111 ! -perm -111 \) \) -exec chmod u=rwX,go=rX {} +

FROM ${NODE_IMAGE}
ARG NODE_IMAGE
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="fovea" \
      org.opencontainers.image.description="OpenTelemetry-native Kubernetes network observability agent: kernel drop reasons, pod traffic and workload flows from eBPF, as OTLP" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"
# libbpf1: the agent loads its programs through the system libbpf (koffi FFI)
# iproute2: pod-interface discovery reads routes, bridge ports and netns peers with `ip -j`/`bridge -j`
# (nsenter, for netns mounts outside /var/run/netns, comes with util-linux, part of every Debian image)
# /run/fovea: where `fovea observe`'s socket lives (mount a tmpfs/emptyDir there when read-only)
RUN apt-get update \
 && apt-get install -y --no-install-recommends libbpf1 iproute2 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /run/fovea
WORKDIR /opt/fovea
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules/ node_modules/
COPY --from=build /src/dist/src/ dist/src/
COPY --from=build /src/bin/ bin/
COPY --from=build /src/bpf/build/ bpf/build/
# `fovea` on the PATH, for `kubectl exec … -- fovea doctor | observe | reasons`
RUN ln -s /opt/fovea/bin/fovea.js /usr/local/bin/fovea
ENV NODE_ENV=production
# V8 flags: src/runtime.ts (AGENT_NODE_FLAGS) says why
ENTRYPOINT ["node", "--max-semi-space-size=64", "/opt/fovea/bin/fovea.js"]
CMD ["agent"]
# The commit, last: a new revision changes only this layer (a rebuild after a commit reuses the rest).
ARG REVISION=unknown
LABEL org.opencontainers.image.revision="${REVISION}"

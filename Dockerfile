# Fovea node agent image. Multi-stage: build the CO-RE eBPF objects and the TypeScript with the
# same script CI runs (scripts/build.sh), then ship a slim Node runtime with the system libbpf
# and production dependencies only. No compiler in the runtime image: objects are built here.
#
#   docker build -t fovea:dev .
#   docker run --rm --cap-add BPF --cap-add PERFMON --cap-add NET_ADMIN --network host \
#     -v /sys/kernel/btf:/sys/kernel/btf:ro fovea:dev agent --endpoint http://collector:4317

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
# clang/llvm: compile bpf/*.bpf.c to BPF; libbpf-dev: bpf_helpers.h & co (same packages as scripts/setup.sh)
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang llvm libbpf-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/ scripts/
COPY bpf/ bpf/
COPY src/ src/
COPY bin/ bin/
COPY bench/ bench/
RUN bash scripts/build.sh \
 && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="fovea" \
      org.opencontainers.image.description="eBPF network observability agent: kernel drop reasons and traffic as OTLP" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# libbpf1: the agent loads its programs through the system libbpf (koffi FFI)
# iproute2: pod-interface discovery reads routes, bridge ports and netns peers with `ip -j`/`bridge -j`
# (nsenter, for netns mounts outside /var/run/netns, comes with util-linux, part of every Debian image)
RUN apt-get update \
 && apt-get install -y --no-install-recommends libbpf1 iproute2 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/fovea
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules/ node_modules/
COPY --from=build /src/dist/ dist/
COPY --from=build /src/bin/ bin/
COPY --from=build /src/bpf/build/ bpf/build/
# Everything is read-only at run time: the image works with readOnlyRootFilesystem.
ENV NODE_ENV=production
ENTRYPOINT ["node", "/opt/fovea/bin/fovea.js"]
CMD ["agent"]

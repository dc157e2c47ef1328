#!/usr/bin/env bash
# Builds everything the agent runs: the eBPF objects and the TypeScript. The Dockerfile's builder
# stage and scripts/setup.sh run this same script.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-bpf.sh
echo "build: tsc (npm run build:ts; it also copies the Hubble API's .proto files, read at run time beside the compiled modules)"
npm run --silent build:ts

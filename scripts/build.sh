#!/usr/bin/env bash
# Builds everything the agent runs: the eBPF objects and the TypeScript. The Dockerfile's builder
# stage and scripts/setup.sh run this same script.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-bpf.sh
echo "build: tsc"
npx tsc -p tsconfig.build.json
# the Hubble API's .proto files are read at run time beside the compiled modules
rm -rf dist/src/hubble/proto && cp -r src/hubble/proto dist/src/hubble/proto

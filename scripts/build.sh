#!/usr/bin/env bash
# Builds everything the agent runs: the eBPF objects and the TypeScript. The Dockerfile's builder
# stage and scripts/setup.sh run this same script.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-bpf.sh
echo "build: tsc"
npx tsc -p tsconfig.build.json

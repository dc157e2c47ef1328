#!/usr/bin/env bash
# Hand measurement behind src/runtime.ts: the idle agent's VmHWM after 20 s (Hubble on, no traffic,
# no collector), with Node's default young generation and with the image's --max-semi-space-size=64.
# As root, after `bash scripts/build.sh`:   bash bench/manual/semi-space-idle.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
for flags in "" "--max-semi-space-size=64"; do
  node $flags bin/fovea.js agent --no-event-export --endpoint http://127.0.0.1:1 --log-level warn \
    --observe-socket "/tmp/fovea-idle-$$.sock" --hubble --hubble-address '' --hubble-socket "/tmp/fovea-idle-hubble-$$.sock" \
    >/dev/null 2>&1 &
  pid=$!
  sleep 20
  echo "node ${flags:-(defaults)}: $(grep -E 'VmHWM' /proc/$pid/status | tr -s ' \t' ' ')"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done

#!/usr/bin/env bash
# Hand check behind docs/benchmark.md's part j ("j.flows-recorded missed"): does a connect/close loop
# reuse a client port for the same server port within an agent's life (3.5 s)? With tcp_tw_reuse=1 a
# 4-tuple can come back after ~1 s (one flow record for two connections); with 0 it cannot for 60 s.
# As root:  bash bench/manual/tw-reuse-ports.sh [connections] [per second]
set -euo pipefail
N=${1:-3000} RATE=${2:-500}
A=fvtwr-a B=fvtwr-b
cleanup() { [ -n "${SRV:-}" ] && kill "$SRV" 2>/dev/null || true; ip netns del "$A" 2>/dev/null || true; ip netns del "$B" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$A"; ip netns add "$B"
ip link add fvtwra type veth peer name fvtwrb
ip link set fvtwra netns "$A"; ip link set fvtwrb netns "$B"
ip -n "$A" addr add 10.99.7.1/24 dev fvtwra; ip -n "$B" addr add 10.99.7.2/24 dev fvtwrb
ip -n "$A" link set fvtwra up; ip -n "$B" link set fvtwrb up
ip netns exec "$B" python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 7000)); s.listen(4096)
while True:
    c, _ = s.accept(); c.close()' &
SRV=$!
sleep 0.5
ip netns exec "$A" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
for reuse in 1 0; do
  ip netns exec "$A" sysctl -qw net.ipv4.tcp_tw_reuse=$reuse
  printf 'tcp_tw_reuse=%s: ' "$reuse"
  ip netns exec "$A" python3 - "$N" "$RATE" <<'PY'
import socket, sys, time
n, rate = int(sys.argv[1]), float(sys.argv[2])
seen, gaps, t0 = {}, [], time.time()
for i in range(n):
    d = t0 + i / rate - time.time()
    if d > 0: time.sleep(d)
    s = socket.socket(); s.connect(("10.99.7.2", 7000)); p = s.getsockname()[1]; s.close()
    now = time.time()
    if p in seen and now - seen[p] < 3.5: gaps.append(now - seen[p])
    seen[p] = now
print(f"{n} connections, {len(seen)} distinct client ports, {len(gaps)} reused within 3.5 s" + (f" (after {min(gaps):.2f}-{max(gaps):.2f} s)" if gaps else ""))
PY
  sleep 61 # let the TIME_WAIT sockets of this pass expire before the next
done

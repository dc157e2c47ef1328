#!/usr/bin/env bash
# Hand measurement behind docs/benchmark.md's "ns per drop": the drop program's own run time per drop
# (kernel.bpf_stats_enabled) during a 4 s trafgen storm into an nft netdev drop, for each hook.
# As root, after `bash scripts/setup.sh --test`:  bash bench/manual/drop-program-cost.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
A=fvdpc0 B=fvdpc1 T=fovea_dpc
CFG=$(mktemp) SOCK=$(mktemp -u)
cleanup() { sysctl -qw kernel.bpf_stats_enabled=0; ip link del "$A" 2>/dev/null || true; nft delete table netdev "$T" 2>/dev/null || true; rm -f "$CFG"; }
trap cleanup EXIT
ip link add "$A" address 02:00:00:00:5d:01 type veth peer name "$B" address 02:00:00:00:5d:02
ip link set "$A" up; ip link set "$B" up
nft -f - <<NFT
table netdev $T {
  chain in {
    type filter hook ingress device "$B" priority 0;
    udp dport 7777 counter drop
  }
}
NFT
cat > "$CFG" <<'TG'
{ eth(da=02:00:00:00:5d:02, sa=02:00:00:00:5d:01, type=0x0800), ipv4(saddr=198.19.252.1, daddr=198.19.252.2, ttl=64, proto=17), udp(sp=40000, dp=7777), "fovea-storm-0000" }
TG
sysctl -qw kernel.bpf_stats_enabled=1
for hook in tp_btf raw_tp; do
  node bin/fovea.js agent --interfaces "fvdpc*" --drop-hook "$hook" --observe-socket "$SOCK" \
    --endpoint http://127.0.0.1:9 --log-level error & pid=$!
  sleep 3
  timeout -s INT 4 trafgen -o "$A" -i "$CFG" -P 2 -q >/dev/null 2>&1 || true
  bpftool -j prog show | node -e '
    const progs = JSON.parse(require("fs").readFileSync(0, "utf8"));
    for (const p of progs) if (/^(drop_|traffic_)/.test(p.name ?? "") && p.run_cnt)
      console.log(p.name, p.run_cnt, "runs,", (p.run_time_ns / p.run_cnt).toFixed(1), "ns/run");'
  kill "$pid"; wait "$pid" || true
done

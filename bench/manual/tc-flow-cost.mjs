// Hand measurement behind the flow-path notes in docs/benchmark.md: ns per run of traffic_ingress with
// flow records on (TRAFFIC_F_FLOWS on the test-run device's slot), through BPF_PROG_TEST_RUN, for
// several builds of the traffic probe side by side, next to the same program with flow records off
// and an empty tc program. Rounds interleave every program (order rotated each round); the figure is
// the median of the rounds' kernel-reported ns/run, with the rounds' min–max. Every run is checked:
// after the rounds, the flow record's packets and bytes (summed over CPUs for a per-CPU map) must equal
// what the runs sent.
//
// As root, after `bash scripts/build.sh`:
//   node bench/manual/tc-flow-cost.mjs [label=object.bpf.o ...]
// With no arguments it measures bpf/build/traffic.bpf.o. To compare against an older revision:
//   git show <rev>:bpf/traffic.bpf.c > /tmp/old.bpf.c && clang -g -O2 -target bpf -D__TARGET_ARCH_x86 \
//     -I bpf -I bpf/include -c /tmp/old.bpf.c -o /tmp/old.bpf.o
//   node bench/manual/tc-flow-cost.mjs old=/tmp/old.bpf.o new=bpf/build/traffic.bpf.o
// Environment: ROUNDS (default 15), REPEAT (default 1000000), FRAMES (bytes, default "66,1514").
import { join } from 'node:path';
import { BpfObject } from '../../dist/src/kernel/object.js';
import { testRun } from '../../dist/src/kernel/test-run.js';
import { buildBaseline, ipv4TcpFrame } from '../../dist/bench/tc-cost.js';
import { encodeTrafficKey, encodeTrafficSlot, slotOf, TRAFFIC_F_FLOWS, FLOW_VALUE } from '../../dist/src/probes/traffic/layout.js';

const ROOT = join(import.meta.dirname, '..', '..');
const ROUNDS = Number(process.env.ROUNDS ?? 15);
const REPEAT = Number(process.env.REPEAT ?? 1_000_000);
const FRAMES = (process.env.FRAMES ?? '66,1514').split(',').map(Number);
const args = process.argv.slice(2);
const specs = args.length ? args.map((a) => { const i = a.indexOf('='); return i < 0 ? [a, a] : [a.slice(0, i), a.slice(i + 1)]; })
  : [['traffic', join(ROOT, 'bpf', 'build', 'traffic.bpf.o')]];

const LO = 1; // a test run's skb device is lo
const objs = [];
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

try {
  const empty = BpfObject.open(await buildBaseline(ROOT));
  empty.load();
  objs.push(empty);
  const progs = [{ label: 'empty tc program', prog: empty.program('empty_tc') }];
  for (const [label, path] of specs) {
    for (const flows of [false, true]) {
      const o = BpfObject.open(path);
      o.load();
      objs.push(o);
      const slots = o.map('traffic_slots');
      slots.update(encodeTrafficKey(slotOf(LO)), encodeTrafficSlot(LO, slots.cpus, slots.valueStride, flows ? TRAFFIC_F_FLOWS : 0));
      progs.push({ label: `${label}${flows ? '' : ' (flow records off)'}`, prog: o.program('traffic_ingress'), flowMap: flows ? o.map('traffic_flows') : undefined, sent: new Map() });
    }
  }
  for (const len of FRAMES) {
    const data = ipv4TcpFrame(len);
    const samples = progs.map(() => []);
    for (const p of progs) { testRun(p.prog, { data, repeat: 1000 }); if (p.sent) p.sent.set(len, (p.sent.get(len) ?? 0) + 1000); } // warm-up, inserts the flow
    for (let r = 0; r < ROUNDS; r++) {
      for (let j = 0; j < progs.length; j++) {
        const k = (j + r) % progs.length;
        const p = progs[k];
        const res = testRun(p.prog, { data, repeat: REPEAT });
        if (res.retval !== -1) throw new Error(`${p.label} returned ${res.retval}`);
        samples[k].push(res.durationNs);
        if (p.sent) p.sent.set(len, p.sent.get(len) + REPEAT);
      }
    }
    console.log(`\n${len}-byte IPv4 TCP frame, ${ROUNDS} rounds × ${REPEAT} runs (kernel ns/run: median [min–max])`);
    const base = median(samples[0]);
    progs.forEach((p, i) => console.log(`  ${p.label.padEnd(40)} ${String(median(samples[i])).padStart(4)} [${Math.min(...samples[i])}–${Math.max(...samples[i])}]  net of empty ${median(samples[i]) - base}`));
  }
  // exactness: every run of a flows-on program is in its one flow record (a record per frame size: sport/dport equal, lengths differ — same key)
  for (const p of progs.filter((x) => x.flowMap)) {
    const s = p.flowMap.readAll();
    const want = [...p.sent].reduce((a, [len, n]) => ({ packets: a.packets + n, bytes: a.bytes + n * len }), { packets: 0, bytes: 0 });
    let packets = 0n, bytes = 0n;
    const per = s.valueStride / s.cpus;
    for (let i = 0; i < s.count; i++) for (let c = 0; c < s.cpus; c++) {
      packets += s.values.readBigUInt64LE(i * s.valueStride + c * per + FLOW_VALUE.packets);
      bytes += s.values.readBigUInt64LE(i * s.valueStride + c * per + FLOW_VALUE.bytes);
    }
    const ok = packets === BigInt(want.packets) && bytes === BigInt(want.bytes);
    console.log(`${p.label}: ${s.count} record(s), packets ${packets} (sent ${want.packets}), bytes ${bytes} (sent ${want.bytes}) — ${ok ? 'exact' : 'MISMATCH'}`);
    if (!ok) process.exitCode = 1;
  }
} finally {
  for (const o of objs) o.close();
}

// Hand measurement behind "Throughput: why part a's pairs spread" in docs/benchmark.md: the noise of
// one iperf3 stream between two lab pods with no agent at all (A/A), by where sender and receiver run.
//   1. pairs of consecutive 5 s runs per placement — unpinned, both on one core (-A 1,1), the same with
//      1 MiB writes (-l 1M, part g's setting), on two cores (-A 0,1): coefficient of variation of the runs, sd of the pair ratios, retransmits,
//      machine busy share (what else ran meanwhile)
//   2. one 240 s run on one core (iperf3's default writes) with 0.5 s intervals: how the spread of block means and of the
//      ratio of consecutive blocks shrinks with the block length (longer runs vs more pairs)
// As root, after `bash scripts/build.sh`: node bench/manual/throughput-noise.mjs [pairs] [long seconds]
import { readFileSync } from 'node:fs';
import { Lab } from '../../dist/src/lab/lab.js';
import { iperf3Server } from '../../dist/src/lab/traffic.js';

const pairs = Number(process.argv[2] ?? 6);
const longSeconds = Number(process.argv[3] ?? 240);
const lab = await Lab.create({ name: 'tnoi', pods: 2 });
const srv = await iperf3Server(lab, 1);

const busy = () => {
  const v = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - v[3] - v[4], total };
};
const stats = (xs) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1));
  return { mean, sd };
};
async function iperf(seconds, [affinity, length] = [], interval) {
  const b0 = busy();
  const { stdout } = await lab.exec(0, ['iperf3', '-c', lab.pod(1).ip, '-p', String(srv.port), '-t', String(seconds), '--json',
    ...(affinity ? ['-A', affinity] : []), ...(length ? ['-l', length] : []), ...(interval ? ['-i', String(interval)] : [])], { allowFail: true, timeoutMs: seconds * 1000 + 30_000 });
  const b1 = busy();
  const d = JSON.parse(stdout);
  return { gbps: d.end.sum_received.bits_per_second / 1e9, retransmits: d.end.sum_sent.retransmits,
    busyPct: ((b1.busy - b0.busy) / (b1.total - b0.total)) * 100, intervals: d.intervals.map((i) => i.sum.bits_per_second / 1e9) };
}

try {
  await iperf(2);
  const placements = {
    unpinned: [], 'one core (-A 1,1)': ['1,1'], 'one core, 1 MiB writes (-A 1,1 -l 1M)': ['1,1', '1M'], 'two cores (-A 0,1)': ['0,1'],
  };
  const res = Object.fromEntries(Object.keys(placements).map((k) => [k, []]));
  for (let i = 0; i < pairs; i++) {
    for (const [name, aff] of Object.entries(placements)) res[name].push([await iperf(5, aff), await iperf(5, aff)]);
  }
  for (const [name, ps] of Object.entries(res)) {
    const runs = ps.flat();
    const g = stats(runs.map((r) => r.gbps));
    const ratio = stats(ps.map(([a, b]) => (b.gbps / a.gbps) * 100));
    console.log(`${name}: ${runs.length} runs × 5 s, mean ${g.mean.toFixed(2)} Gbit/s, cv ${((g.sd / g.mean) * 100).toFixed(1)}%, ` +
      `A/A pair ratio sd ${ratio.sd.toFixed(1)} points; retransmits ${runs.map((r) => r.retransmits).join(' ')}; machine busy % ${runs.map((r) => r.busyPct.toFixed(0)).join(' ')}`);
  }
  const long = await iperf(longSeconds, ['1,1'], 0.5);
  console.log(`one core, ${longSeconds} s in 0.5 s intervals: mean ${long.gbps.toFixed(2)} Gbit/s, machine busy ${long.busyPct.toFixed(0)}%`);
  for (const k of [2, 4, 6, 10, 20]) {
    const blocks = [];
    for (let i = 0; i + k <= long.intervals.length; i += k) blocks.push(long.intervals.slice(i, i + k).reduce((a, b) => a + b, 0) / k);
    const b = stats(blocks);
    const ratios = [];
    for (let i = 1; i < blocks.length; i += 2) ratios.push((blocks[i] / blocks[i - 1]) * 100);
    console.log(`  blocks of ${k / 2} s: ${blocks.length}, cv ${((b.sd / b.mean) * 100).toFixed(1)}%, ratio of consecutive blocks: sd ${stats(ratios).sd.toFixed(1)} points (${ratios.length} pairs)`);
  }
} finally {
  await srv.stop();
  await lab.destroy();
}

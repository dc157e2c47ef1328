// Hand measurement behind part g's throughput design (docs/benchmark.md, "Throughput: ..."): one
// iperf3 stream between two lab pods (both ends on core 1, 1 MiB writes — part g's setting), no
// agent, for S seconds; the bytes through pod 1's host veth are sampled every 0.25 s. Then, for
// windows of L seconds, the sd of the ratio of two windows G seconds apart (G = the gap between the
// end of the first and the start of the second): how the noise of an A/A pair depends on the window
// length and on the time between the two windows (an agent start or stop sits in that gap).
// As root, after `bash scripts/build.sh`: node bench/manual/throughput-variogram.mjs [seconds] [out.json]
import { readFileSync, writeFileSync } from 'node:fs';
import { Lab } from '../../dist/src/lab/lab.js';
import { iperf3Server } from '../../dist/src/lab/traffic.js';

const seconds = Number(process.argv[2] ?? 120);
const out = process.argv[3];
const lab = await Lab.create({ name: 'tvar', pods: 2 });
// NICE=-20: both iperf3 ends at that nice level (other work on the machine then rarely preempts them)
const nice = process.env.NICE ? ['nice', '-n', process.env.NICE] : [];
const srv = await iperf3Server(lab, 1);
if (nice.length) {
  const { stdout } = await lab.exec(1, ['pgrep', '-f', `iperf3 -s -p ${srv.port}`], { allowFail: true });
  for (const pid of stdout.trim().split(/\s+/).filter(Boolean)) await lab.exec(1, ['renice', '-n', process.env.NICE, '-p', pid]);
}
const dev = lab.pod(1).hostIfname;
const bytes = () => Number(readFileSync(`/sys/class/net/${dev}/statistics/tx_bytes`, 'utf8'));
const now = () => Number(process.hrtime.bigint()) / 1e6;
const samples = [];
try {
  const client = lab.exec(0, [...nice, 'iperf3', '-c', lab.pod(1).ip, '-p', String(srv.port), '-t', String(seconds + 3), '-A', '1,1', '-l', '1M', '--json'],
    { allowFail: true, timeoutMs: seconds * 1000 + 60_000 });
  await new Promise((r) => setTimeout(r, 2000));
  const t0 = now();
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      samples.push([now() - t0, bytes()]);
      if (now() - t0 > seconds * 1000) { clearInterval(timer); resolve(); }
    }, 250);
  });
  await client;
} finally {
  await srv.stop();
  await lab.destroy();
}
if (out) writeFileSync(out, JSON.stringify(samples));
// rate over [a, b) seconds from the nearest samples
const at = (t) => samples.reduce((best, s) => (Math.abs(s[0] - t * 1000) < Math.abs(best[0] - t * 1000) ? s : best));
const rate = (a, b) => { const x = at(a), y = at(b); return ((y[1] - x[1]) * 8) / ((y[0] - x[0]) / 1000) / 1e9; };
const sd = (xs) => { const m = xs.reduce((a, b) => a + b, 0) / xs.length; return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1)); };
const all = rate(0, seconds);
console.log(`${seconds} s: ${all.toFixed(2)} Gbit/s`);
for (const L of [0.5, 1, 2, 3, 5]) {
  const wins = [];
  for (let t = 0; t + L <= seconds; t += L) wins.push(rate(t, t + L));
  const m = wins.reduce((a, b) => a + b, 0) / wins.length;
  const row = [`L=${L}s: cv ${((sd(wins) / m) * 100).toFixed(1)}%`];
  for (const G of [0, 1, 2, 4, 6, 10, 20]) {
    const r = [];
    for (let t = 0; t + 2 * L + G <= seconds; t += L) r.push((rate(t + L + G, t + 2 * L + G) / rate(t, t + L)) * 100);
    if (r.length > 3) row.push(`G=${G}: ${sd(r).toFixed(1)} (${r.length})`);
  }
  console.log(row.join('  '));
}

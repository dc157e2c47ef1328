// Hand measurement behind the throughput notes in docs/benchmark.md: iperf3 between two lab pods, 5 × 4 s
// without the agent, 5 × 4 s with it (started once, 6 s before), 5 × 4 s without again; prints the
// medians and with ÷ mean(without). As root, after `bash scripts/build.sh`:
//   node bench/manual/throughput-by-probe.mjs [all|nodrop|notraffic|clsact]
// nodrop: traffic probe only (tcx); notraffic: drop probe only; clsact: traffic probe only, over clsact.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Lab } from '../../dist/src/lab/lab.js';
import { iperf3Client, iperf3Server } from '../../dist/src/lab/traffic.js';

const ROOT = join(import.meta.dirname, '..', '..');
const MODES = { all: [], nodrop: ['--no-drop'], notraffic: ['--no-traffic'], clsact: ['--no-drop', '--attach-mode', 'clsact'] };
const mode = process.argv[2] ?? 'all';
if (!(mode in MODES)) {
  process.stderr.write(`usage: node bench/manual/throughput-by-probe.mjs [${Object.keys(MODES).join('|')}]\n`);
  process.exit(2);
}
const lab = await Lab.create({ name: 'tput', pods: 2 });
const srv = await iperf3Server(lab, 1);
const runs = async (label, n) => {
  const r = [];
  for (let i = 0; i < n; i++) r.push((await iperf3Client(lab, 0, lab.pod(1).ip, { seconds: 4, port: srv.port })).bitsPerSecond / 1e9);
  r.sort((a, b) => a - b);
  const median = r[Math.floor(n / 2)];
  console.log(label, r.map((x) => x.toFixed(2)).join(' '), 'Gbit/s, median', median.toFixed(2));
  return median;
};
try {
  await iperf3Client(lab, 0, lab.pod(1).ip, { seconds: 2, port: srv.port }); // warm-up
  const before = await runs('without', 5);
  const agent = spawn(process.execPath, [join(ROOT, 'bin', 'fovea.js'), 'agent', '--interfaces', 'fvtput-*',
    '--endpoint', 'http://127.0.0.1:9', '--observe-socket', '/tmp/fovea-tput.sock', '--log-level', 'error', ...MODES[mode]], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 6000));
  const withAgent = await runs(`with (${mode})`, 5);
  agent.kill('SIGTERM');
  await new Promise((r) => agent.on('exit', r));
  const after = await runs('without', 5);
  console.log('ratio', ((withAgent / ((before + after) / 2)) * 100).toFixed(1), '%');
} finally {
  await srv.stop();
  await lab.destroy();
}

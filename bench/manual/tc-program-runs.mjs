// Hand measurement behind the throughput notes in docs/benchmark.md: how often and how long the traffic
// probe's tc programs run during one 4 s iperf3 between two lab pods (kernel.bpf_stats_enabled,
// which itself adds a little per run). As root, after `bash scripts/build.sh`:
//   node bench/manual/tc-program-runs.mjs
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { Lab } from '../../dist/src/lab/lab.js';
import { iperf3Client, iperf3Server } from '../../dist/src/lab/traffic.js';

const ROOT = join(import.meta.dirname, '..', '..');
const lab = await Lab.create({ name: 'tput', pods: 2 });
const srv = await iperf3Server(lab, 1);
const agent = spawn(process.execPath, [join(ROOT, 'bin', 'fovea.js'), 'agent', '--interfaces', 'fvtput-*', '--no-drop',
  '--endpoint', 'http://127.0.0.1:9', '--observe-socket', '/tmp/fovea-tput.sock', '--log-level', 'error'], { stdio: 'ignore' });
try {
  await new Promise((r) => setTimeout(r, 5000));
  execFileSync('sysctl', ['-qw', 'kernel.bpf_stats_enabled=1']);
  const r = await iperf3Client(lab, 0, lab.pod(1).ip, { seconds: 4, port: srv.port });
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show']).toString()).filter((p) => /^traffic_/.test(p.name ?? ''));
  for (const p of progs) console.log(p.name, p.run_cnt, 'runs,', (p.run_time_ns / p.run_cnt).toFixed(1), 'ns/run');
  console.log('iperf3', (r.bitsPerSecond / 1e9).toFixed(2), 'Gbit/s,', r.bytes, 'bytes');
} finally {
  execFileSync('sysctl', ['-qw', 'kernel.bpf_stats_enabled=0']);
  agent.kill('SIGTERM');
  await new Promise((r) => agent.on('exit', r));
  await srv.stop();
  await lab.destroy();
}

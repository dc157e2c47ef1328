// Hand measurement behind docs/benchmark.md "Profiling the agent": the agent's CPU per drop event. A UDP
// flood at <pps> to the lab's nft-denied port with the event rate limit lifted, agent CPU over the flood
// ÷ events, and a CPU profile (FOVEA_CPU_PROFILE). As root, after bash scripts/build.sh:
//   node bench/manual/agent-events-profile.mjs [pps=2000] [seconds=20] [out.cpuprofile] [agent flags…]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Lab } from '../../dist/src/lab/lab.js';
import { udpFlood } from '../../dist/src/lab/traffic.js';
import { OtlpReceiver } from '../../dist/src/otlp/receiver.js';
const pps = Number(process.argv[2] ?? 2000), secs = Number(process.argv[3] ?? 20), out = process.argv[4] ?? '/tmp/prof/ev.cpuprofile';
const extra = process.argv.slice(5);
const lab = await Lab.create({ name: 'prev', pods: 2 });
const rx = await OtlpReceiver.start({});
const agent = spawn(process.execPath, ['--max-semi-space-size=64', new URL('../../bin/fovea.js', import.meta.url).pathname, 'agent', '--endpoint', rx.endpoint,
  '--interfaces', 'fvprev-*', '--netns', 'fovea-prev-*', '--export-interval', '10s', '--log-level', 'warn', '--drop-event-rate', '1000000', ...extra],
  { env: { ...process.env, FOVEA_CPU_PROFILE: out }, stdio: ['ignore', 'inherit', 'inherit'] });
const stat = () => { const f = readFileSync(`/proc/${agent.pid}/stat`, 'utf8').split(') ')[1].split(' '); return Number(f[11]) + Number(f[12]); };
await new Promise((r) => setTimeout(r, 8000));
const t0 = stat(), w0 = Date.now();
const fl = await udpFlood(lab, 0, lab.pod(1).ip, lab.denyPort ?? 7777, { pps, durationMs: secs * 1000 });
const t1 = stat(), w1 = Date.now();
const cpu = ((t1 - t0) / 100) / ((w1 - w0) / 1000) * 100;
console.log(`flood ${fl.pps} pps for ${secs}s: agent ${cpu.toFixed(2)}% of a core → ${(cpu / 100 / fl.pps * 1e6).toFixed(1)} µs per event`);
await new Promise((r) => setTimeout(r, 2000));
agent.kill('SIGTERM');
await new Promise((r) => agent.on('exit', r));
console.log(`log records received ${rx.logRecords().length}`);
await rx.stop();
await lab.destroy();

// Hand measurement behind docs/benchmark.md "Profiling the agent": the agent idle in pod mode with N lab
// pods (standalone, 10 s export interval), its CPU over a window (utime+stime), VmHWM, and a CPU profile
// (FOVEA_CPU_PROFILE) and heap snapshot (FOVEA_HEAP_SNAPSHOT) written when it stops. As root, after
// bash scripts/build.sh (env NODE_LEVEL=1: without --netns):  node bench/manual/agent-idle-profile.mjs [pods=50] [seconds=60] [out.cpuprofile] [agent flags…]
// then: node bench/manual/cpuprofile-top.mjs out.cpuprofile. out '-': no profile (the profiler's own sampling
// signals cost CPU: measure the figure without it). Also printed: what each source's collection took per
// export in the window, from the agent's own fovea.agent.map.read.duration (by fovea.probe). env LAB=<name> (default 'prof').
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Lab } from '../../dist/src/lab/lab.js';
import { OtlpReceiver } from '../../dist/src/otlp/receiver.js';
const pods = Number(process.argv[2] ?? 50), secs = Number(process.argv[3] ?? 60), out = process.argv[4] ?? '/tmp/prof/idle.cpuprofile';
const extra = process.argv.slice(5);
const name = process.env.LAB ?? 'prof';
const lab = await Lab.create({ name, pods });
const rx = await OtlpReceiver.start({});
const nodeFlags = process.env.NODE_FLAGS !== undefined ? process.env.NODE_FLAGS.split(' ').filter(Boolean) : ['--max-semi-space-size=64']; // the image's (src/runtime.ts)
const agent = spawn(process.execPath, [...nodeFlags, new URL('../../bin/fovea.js', import.meta.url).pathname, 'agent', '--endpoint', rx.endpoint,
  '--interfaces', `fv${name}-*`, ...(process.env.NODE_LEVEL ? [] : ['--netns', `fovea-${name}-*`]), '--export-interval', '10s', '--log-level', 'info', ...extra],
  { env: out === '-' ? process.env : { ...process.env, FOVEA_CPU_PROFILE: out, FOVEA_HEAP_SNAPSHOT: out.replace('.cpuprofile', '.heapsnapshot') }, stdio: ['ignore', 'inherit', 'inherit'] });
const stat = () => { const f = readFileSync(`/proc/${agent.pid}/stat`, 'utf8').split(') ')[1].split(' '); return Number(f[11]) + Number(f[12]); };
const hwm = () => /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${agent.pid}/status`, 'utf8'))[1];
/** cumulative seconds of reading, by source, as of the newest export, and how many exports that is */
const reads = () => ({ n: rx.requestCount, s: new Map(rx.series('fovea.agent.map.read.duration').map((x) => [x.attrs['fovea.probe'], x.value])) });
await new Promise((r) => setTimeout(r, 15000));
const t0 = stat(), w0 = Date.now(), r0 = reads();
await new Promise((r) => setTimeout(r, secs * 1000));
const t1 = stat(), w1 = Date.now(), r1 = reads();
console.log(`pods ${pods}: agent CPU ${(((t1 - t0) / 100) / ((w1 - w0) / 1000) * 100).toFixed(2)}% of a core over ${(w1 - w0) / 1000}s; VmHWM ${(hwm() / 1024).toFixed(1)} MB; exports ${rx.requestCount}`);
const perExport = [...r1.s].map(([k, v]) => [k, ((v - (r0.s.get(k) ?? 0)) / Math.max(1, r1.n - r0.n)) * 1e3]).sort((a, b) => b[1] - a[1]);
console.log(`reads per export over ${r1.n - r0.n} exports (ms): ${perExport.map(([k, ms]) => `${k} ${ms.toFixed(2)}`).join(', ')}`);
agent.kill('SIGTERM');
await new Promise((r) => agent.on('exit', r));
await rx.stop();
await lab.destroy();

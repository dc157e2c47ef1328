// Hand measurement for issue 12 (idle CPU): what the agent does between exports, counted rather than
// timed. The agent idle in pod mode (or node level with NODE_LEVEL=1) with N lab pods, 10 s exports;
// over a window, per thread: CPU (utime+stime), voluntary and involuntary context switches per second
// (each voluntary switch is a sleep, so the next one is a wakeup). With STRACE=1 a second window
// follows under `strace -f -c` (syscall counts per second by name; strace slows every syscall, so its
// window's CPU is not a figure). As root, after bash scripts/build.sh:
//   node bench/manual/agent-idle-wakeups.mjs [pods=50] [seconds=60] [agent flags…]
// env LAB=<name> (default 'idw'): the lab's name, so parallel runs do not collide; NODE_FLAGS: the agent's
// Node flags (default the image's, src/runtime.ts), e.g. '--max-semi-space-size=64 --trace-gc' with
// OUT=<file> (the agent's stdout, otherwise discarded); PROFILE=<file.cpuprofile>: FOVEA_CPU_PROFILE (the
// profiler's sampling costs ~3 % of a core itself: read such a run for shares, not for its CPU figure);
// ALLOC=<file.heapprofile>: FOVEA_ALLOC_PROFILE (what the agent allocates, garbage included); PROMOTED=<file.heapprofile>:
// FOVEA_PROMOTED_PROFILE (what it allocated that outlived a scavenge: what fills the old generation).
import { spawn, spawnSync } from 'node:child_process';
import { openSync, readFileSync, readdirSync } from 'node:fs';
import { Lab } from '../../dist/src/lab/lab.js';
import { OtlpReceiver } from '../../dist/src/otlp/receiver.js';
const pods = Number(process.argv[2] ?? 50), secs = Number(process.argv[3] ?? 60);
const extra = process.argv.slice(4);
const name = process.env.LAB ?? 'idw';
const lab = await Lab.create({ name, pods });
const rx = await OtlpReceiver.start({});
const nodeFlags = process.env.NODE_FLAGS !== undefined ? process.env.NODE_FLAGS.split(' ').filter(Boolean) : ['--max-semi-space-size=64'];
const agent = spawn(process.execPath, [...nodeFlags, new URL('../../bin/fovea.js', import.meta.url).pathname, 'agent', '--endpoint', rx.endpoint,
  '--interfaces', `fv${name}-*`, ...(process.env.NODE_LEVEL ? [] : ['--netns', `fovea-${name}-*`]), '--export-interval', '10s', '--log-level', 'info', ...extra],
  { env: { ...process.env, ...(process.env.PROFILE ? { FOVEA_CPU_PROFILE: process.env.PROFILE } : {}), ...(process.env.ALLOC ? { FOVEA_ALLOC_PROFILE: process.env.ALLOC } : {}),
    ...(process.env.PROMOTED ? { FOVEA_PROMOTED_PROFILE: process.env.PROMOTED } : {}) }, stdio: ['ignore', process.env.OUT ? openSync(process.env.OUT, 'w') : 'ignore', 'inherit'] });
const HZ = 100;
/** per thread: name, cpu ticks, voluntary and involuntary switches */
const threads = () => {
  const out = new Map();
  for (const tid of readdirSync(`/proc/${agent.pid}/task`)) {
    try {
      const st = readFileSync(`/proc/${agent.pid}/task/${tid}/stat`, 'utf8');
      const comm = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
      const f = st.slice(st.lastIndexOf(') ') + 2).split(' ');
      const status = readFileSync(`/proc/${agent.pid}/task/${tid}/status`, 'utf8');
      const vol = Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)[1]);
      const invol = Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)[1]);
      out.set(tid, { comm, ticks: Number(f[11]) + Number(f[12]), vol, invol });
    } catch { /* thread ended */ }
  }
  return out;
};
await new Promise((r) => setTimeout(r, 20000));
const t0 = threads(), w0 = Date.now(), n0 = rx.requestCount;
await new Promise((r) => setTimeout(r, secs * 1000));
const t1 = threads(), w1 = Date.now(), n1 = rx.requestCount;
const wall = (w1 - w0) / 1000;
let cpu = 0, vol = 0, invol = 0;
const rows = [];
for (const [tid, b] of t1) {
  const a = t0.get(tid) ?? { ticks: 0, vol: 0, invol: 0 };
  const d = { tid, comm: b.comm, cpu: (b.ticks - a.ticks) / HZ / wall * 100, vol: (b.vol - a.vol) / wall, invol: (b.invol - a.invol) / wall };
  cpu += d.cpu; vol += d.vol; invol += d.invol;
  rows.push(d);
}
console.log(`${process.env.NODE_LEVEL ? 'node level' : 'pod mode'}, ${pods} pods, ${wall.toFixed(1)} s, ${n1 - n0} exports: agent CPU ${cpu.toFixed(3)}% of a core; ` +
  `context switches ${vol.toFixed(1)}/s voluntary, ${invol.toFixed(1)}/s involuntary (${t1.size} threads)`);
for (const r of rows.sort((x, y) => y.vol - x.vol)) {
  if (r.vol + r.invol + r.cpu > 0) console.log(`  ${r.tid.padStart(7)} ${r.comm.padEnd(16)} cpu ${r.cpu.toFixed(3).padStart(6)}%  vol ${r.vol.toFixed(2).padStart(7)}/s  invol ${r.invol.toFixed(2).padStart(6)}/s`);
}
if (process.env.STRACE) {
  const r = spawnSync('timeout', ['-s', 'INT', String(secs), 'strace', '-f', '-c', '-p', String(agent.pid)], { encoding: 'utf8' });
  const lines = r.stderr.split('\n').filter((l) => /^\s*\d/.test(l));
  console.log(`strace -f -c over ${secs} s (calls/s by syscall):`);
  const parsed = lines.map((l) => l.trim().split(/\s+/)).filter((f) => f.length >= 5).map((f) => ({ name: f[f.length - 1], calls: Number(f[3]) }))
    .filter((x) => Number.isFinite(x.calls) && x.name !== 'total').sort((a, b) => b.calls - a.calls);
  let total = 0;
  for (const x of parsed) total += x.calls;
  for (const x of parsed) console.log(`  ${(x.calls / secs).toFixed(2).padStart(9)}/s ${x.name}`);
  console.log(`  ${(total / secs).toFixed(2).padStart(9)}/s total`);
}
agent.kill('SIGTERM');
await new Promise((r) => agent.on('exit', r));
await rx.stop();
await lab.destroy();

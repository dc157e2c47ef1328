// Hand measurement for issue 12 (idle CPU): two builds of the agent side by side on one lab of N
// pods, in pairs of windows whose order flips every pair (A B, B A, …), each agent alone on the lab:
// started, left to settle (attached and exported), then its CPU (utime+stime ÷ wall, all threads,
// /proc/<pid>/stat) and voluntary context switches over the window, idle (no traffic), 10 s exports.
// A and B are checkouts with their own `bash scripts/build.sh` (their bin/fovea.js is run). As root:
//   node bench/manual/agent-idle-ab.mjs <dirA> <dirB> [pods=50] [seconds=60] [pairs=2] [agent flags…]
// env LAB=<name> (default 'iab'); NODE_LEVEL=1: without --netns; SETTLE=<s> (default 20); NODE_FLAGS_A, NODE_FLAGS_B:
// each arm's Node flags (default the image's, '--max-semi-space-size=64'), e.g. the same build twice with a V8 flag in B.
// Each window also prints the host's drop events the agent exported in it and the drop locations new to that agent
// (a new one costs 30–180 ms: kallsyms, docs/benchmark.md), and the end prints the paired differences B − A with a 95 % CI,
// over all pairs and over the pairs where neither window had a new drop location.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { Lab } from '../../dist/src/lab/lab.js';
import { OtlpReceiver } from '../../dist/src/otlp/receiver.js';
import { dropsInWindow } from '../../dist/bench/idle-cost.js';
import { meanCi } from '../../dist/bench/util.js';

const [dirA, dirB] = [process.argv[2], process.argv[3]].map((d) => resolve(d ?? '.'));
const pods = Number(process.argv[4] ?? 50), secs = Number(process.argv[5] ?? 60), pairs = Number(process.argv[6] ?? 2);
const extra = process.argv.slice(7);
const name = process.env.LAB ?? 'iab';
const settle = Number(process.env.SETTLE ?? 20);
const HZ = 100;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function sample(pid) {
  let ticks = 0, vol = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(') ') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
      vol += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))[1]);
    } catch { /* thread ended */ }
  }
  return { ticks, vol, at: Date.now() };
}

const lab = await Lab.create({ name, pods });
const rx = await OtlpReceiver.start({});
const results = { A: [], B: [] };
try {
  for (let p = 0; p < pairs; p++) {
    for (const which of p % 2 ? ['B', 'A'] : ['A', 'B']) {
      const dir = which === 'A' ? dirA : dirB;
      const flags = (process.env[`NODE_FLAGS_${which}`] ?? '--max-semi-space-size=64').split(' ').filter(Boolean);
      const agent = spawn(process.execPath, [...flags, `${dir}/bin/fovea.js`, 'agent', '--endpoint', rx.endpoint,
        '--interfaces', `fv${name}-*`, ...(process.env.NODE_LEVEL ? [] : ['--netns', `fovea-${name}-*`]), '--export-interval', '10s', '--log-level', 'warn', ...extra],
      { stdio: ['ignore', 'ignore', 'inherit'] });
      rx.clear(); // this agent's requests and events only
      await sleep(settle * 1000);
      const a = sample(agent.pid);
      await sleep(secs * 1000);
      const b = sample(agent.pid);
      const wall = (b.at - a.at) / 1000;
      const drops = dropsInWindow(rx.logRecords(), a.at, b.at);
      const r = { cpu: (b.ticks - a.ticks) / HZ / wall * 100, vol: (b.vol - a.vol) / wall, exports: rx.requestCount, ...drops };
      results[which].push(r);
      console.log(`pair ${p + 1} ${which} (${dir}${flags.length ? ` ${flags.join(' ')}` : ''}): CPU ${r.cpu.toFixed(3)} % of a core, ${r.vol.toFixed(2)} voluntary switches/s, ${r.exports} requests since start, ` +
        `${r.dropEvents} drop events in the window (new locations: ${r.newDropSites.join(', ') || 'none'})`);
      agent.kill('SIGTERM');
      await new Promise((r) => agent.on('exit', r));
    }
  }
} finally {
  await rx.stop();
  await lab.destroy();
}
for (const w of ['A', 'B']) {
  const c = results[w].map((r) => r.cpu);
  console.log(`${w}: CPU ${c.map((x) => x.toFixed(3)).join(', ')} — mean ${(c.reduce((s, x) => s + x, 0) / c.length).toFixed(3)} % of a core`);
}
const paired = (keep) => {
  const d = results.A.map((a, i) => [a, results.B[i]]).filter(keep).map(([a, b]) => b.cpu - a.cpu);
  const c = meanCi(d);
  return `${d.length} pairs, mean ${c.mean.toFixed(3)}${Number.isFinite(c.lo) ? `, 95 % CI ${c.lo.toFixed(3)} to ${c.hi.toFixed(3)}` : ''} % of a core`;
};
console.log(`B − A: ${paired(() => true)}; without a new drop location in either window: ${paired(([a, b]) => !a.newDropSites.length && !b.newDropSites.length)}`);

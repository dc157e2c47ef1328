// Hand measurement behind docs/benchmark.md "What the agent's peak memory is made of": where in its
// life the agent reaches its VmHWM. The agent in pod mode with N lab pods (standalone, 10 s exports,
// the image's V8 flags), its RSS sampled every 5 ms from start through an idle window, each log line
// placed on that timeline. Prints the RSS at each log line, the peak (time, and the log line before
// it), and VmHWM / VmRSS / RssAnon / RssFile at the end. As root, after bash scripts/build.sh:
//   node bench/manual/agent-memory-timeline.mjs [pods=50] [seconds=40] [agent flags…]
// env PEAK_SMAPS=1: the RSS by kind of mapping at each new maximum (0.5 MB above the last), read from outside.
// env ENTRY=<script>: run it instead of bin/fovea.js (it must run dist/src/cli.js's main); NODE_FLAGS='…' replaces the V8 flags (default: src/runtime.ts's); NODE_LEVEL=1: without --netns.
// env LAB=<name> (default memt; 1–4 of [a-z0-9], a letter first): the lab's name, so two timelines can run side by side
// (pods fovea-<LAB>-<i>, veths fv<LAB>-<i>, the /24 derived from the name).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Lab } from '../../dist/src/lab/lab.js';
import { OtlpReceiver } from '../../dist/src/otlp/receiver.js';
import { AGENT_NODE_FLAGS } from '../../dist/src/runtime.js';
import { rssByKind } from './smaps-kinds.mjs';

const pods = Number(process.argv[2] ?? 50), secs = Number(process.argv[3] ?? 40);
const extra = process.argv.slice(4);
const LAB = process.env.LAB ?? 'memt';
const lab = await Lab.create({ name: LAB, pods });
const rx = await OtlpReceiver.start({});
const nodeFlags = process.env.NODE_FLAGS !== undefined ? process.env.NODE_FLAGS.split(' ').filter(Boolean) : [...AGENT_NODE_FLAGS];
const t0 = performance.now();
const events = [];
const agent = spawn(process.execPath, [...nodeFlags, process.env.ENTRY ?? new URL('../../bin/fovea.js', import.meta.url).pathname, 'agent', '--endpoint', rx.endpoint,
  '--interfaces', `fv${LAB}-*`, ...(process.env.NODE_LEVEL ? [] : ['--netns', `fovea-${LAB}-*`]), '--export-interval', '10s', '--log-level', 'info',
  '--observe-socket', `/tmp/fovea-${LAB}-${process.pid}.sock`, ...extra],
  { stdio: ['ignore', 'pipe', 'pipe'] });
const status = () => {
  try {
    const s = readFileSync(`/proc/${agent.pid}/status`, 'utf8');
    const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN);
    return { rss: kb('VmRSS'), hwm: kb('VmHWM'), anon: kb('RssAnon'), file: kb('RssFile') };
  } catch { return undefined; }
};
/** RSS by kind of mapping, MB (smaps-kinds.mjs); '' once the agent is gone */
const mappings = () => { try { return rssByKind(agent.pid); } catch { return ''; } };
let peak = { rss: 0, t: 0 };
let last;
const sampler = setInterval(() => {
  const s = status();
  if (!s) return;
  last = s;
  if (s.rss > peak.rss) {
    // PEAK_SMAPS=1: what the RSS is made of at each new maximum (read from outside: the agent allocates nothing for it)
    const grew = s.rss > peak.rss + 512;
    peak = { rss: s.rss, t: performance.now() - t0, maps: process.env.PEAK_SMAPS && grew ? mappings() : peak.maps };
    if (process.env.PEAK_SMAPS && grew) events.push({ t: peak.t, rss: s.rss, msg: `(new maximum: ${peak.maps})` });
  }
}, 5);
for (const stream of [agent.stdout, agent.stderr]) {
  createInterface({ input: stream }).on('line', (line) => {
    const t = performance.now() - t0;
    let msg = line;
    try { const j = JSON.parse(line); msg = j.msg + (j.component ? ` [${j.component}]` : ''); } catch { /* not JSON (e.g. --trace-gc) */ }
    events.push({ t, rss: status()?.rss ?? NaN, msg: msg.slice(0, 150) });
  });
}
await new Promise((r) => setTimeout(r, secs * 1000));
clearInterval(sampler);
const end = status() ?? last;
const mb = (kb) => (kb / 1024).toFixed(1);
// consecutive lines with the same message print once, with their count
for (let i = 0; i < events.length;) {
  let j = i;
  while (j + 1 < events.length && events[j + 1].msg === events[i].msg) j++;
  const e = events[j];
  console.log(`${(e.t / 1000).toFixed(3).padStart(8)} s  RSS ${mb(e.rss).padStart(6)} MB  ${e.msg}${j > i ? ` (×${j - i + 1})` : ''}`);
  i = j + 1;
}
const before = events.filter((e) => e.t <= peak.t).at(-1);
console.log(`peak RSS ${mb(peak.rss)} MB at ${(peak.t / 1000).toFixed(3)} s, after: ${before?.msg ?? '(start)'}${peak.maps ? ` (${peak.maps}, read at the last maximum 0.5 MB above the one before)` : ''}`);
console.log(`end (${secs} s): VmHWM ${mb(end.hwm)} MB, VmRSS ${mb(end.rss)} MB (anon ${mb(end.anon)}, file ${mb(end.file)}); exports ${rx.requestCount}`);
if (process.env.SMAPS) {
  // the largest mappings by RSS (file-backed ones by file name; anonymous ones summed)
  const by = new Map();
  let name = '';
  for (const line of readFileSync(`/proc/${agent.pid}/smaps`, 'utf8').split('\n')) {
    const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) { name = m[1] || '[anon]'; continue; }
    const r = /^Rss:\s+(\d+)/.exec(line);
    if (r) by.set(name, (by.get(name) ?? 0) + Number(r[1]));
  }
  for (const [n, kb] of [...by].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${mb(kb).padStart(6)} MB  ${n}`);
}
agent.kill('SIGTERM');
await new Promise((r) => agent.on('exit', r));
await rx.stop();
await lab.destroy();

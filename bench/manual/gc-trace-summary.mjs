// Summary of an agent's `--trace-gc --trace-gc-nvp --trace-opt --trace-deopt` output (e.g. OUT=<file> of
// agent-idle-wakeups.mjs with NODE_FLAGS='--max-semi-space-size=64 --trace-gc --trace-gc-nvp --trace-opt --trace-deopt'):
// every collection (V8 ms since start, kind s = scavenge / mc = full, main-thread pause, heap before → after, bytes
// allocated since the last one, promoted to the old generation), then every TurboFan compilation (its three phases'
// ms: prepare and finalize on the main thread, execute on a worker), bailout and code discarded ("weak objects"),
// each placed between the collections it fell between, and the totals from <from-ms> on.
//   node bench/manual/gc-trace-summary.mjs <file> [from-ms=0]
import { readFileSync } from 'node:fs';
const from = Number(process.argv[3] ?? 0);
const mb = (b) => (Number(b) / 1e6).toFixed(2);
let prev = 0, promoted = 0, pauses = { s: 0, mc: 0 }, counts = { s: 0, mc: 0 };
const pending = [], jit = [];
for (const l of readFileSync(process.argv[2], 'utf8').split('\n')) {
  const g = /^\[\d+:0x[0-9a-f]+\]\s+(\d+) ms: pause=(\S+) .*gc=(\S+)/.exec(l);
  if (g) {
    const t = Number(g[1]), kv = Object.fromEntries([...l.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]]));
    console.log(`${String(t).padStart(7)} ${g[3].padEnd(2)} pause ${g[2].padStart(5)} ms  ${mb(kv.total_size_before)} → ${mb(kv.total_size_after)} MB  allocated ${mb(kv.allocated)}  promoted ${mb(kv.promoted)}${kv.reduce_memory === '1' ? '  (memory reducing)' : ''}`);
    if (t >= from) { promoted += Number(kv.promoted); pauses[g[3]] = (pauses[g[3]] ?? 0) + Number(g[2]); counts[g[3]] = (counts[g[3]] ?? 0) + 1; }
    for (const p of pending) jit.push({ lo: prev, hi: t, ...p });
    pending.length = 0; prev = t;
    continue;
  }
  let m;
  if ((m = /completed compiling .*JSFunction (\S*) .*took ([\d.]+), ([\d.]+), ([\d.]+) ms/.exec(l))) pending.push({ k: 'compiled', fn: m[1], ms: Number(m[2]) + Number(m[3]) + Number(m[4]) });
  else if ((m = /SharedFunctionInfo (\S+)>\).*for deoptimization, reason: ([^\]]*)/.exec(l))) pending.push({ k: 'discarded', fn: m[1], why: m[2] });
  else if ((m = /bailout \(kind: [^,]+, reason: ([^)]+)\).*deoptimizing \S+ <JSFunction (\S*)/.exec(l))) pending.push({ k: 'bailout', fn: m[2], why: m[1] });
}
for (const p of pending) jit.push({ lo: prev, hi: Infinity, ...p });
for (const j of jit) console.log(`${j.lo}–${j.hi} ms: ${j.k} ${j.fn} ${j.ms !== undefined ? `${j.ms.toFixed(1)} ms` : j.why}`);
const c = jit.filter((j) => j.lo >= from);
const compiled = c.filter((j) => j.k === 'compiled');
console.log(`from ${from} ms: scavenges ${counts.s} (pauses ${pauses.s.toFixed(1)} ms), full collections ${counts.mc} (pauses ${pauses.mc.toFixed(1)} ms), ` +
  `promoted ${mb(promoted)} MB; TurboFan compilations ${compiled.length} (${compiled.reduce((s, j) => s + j.ms, 0).toFixed(1)} ms), ` +
  `bailouts ${c.filter((j) => j.k === 'bailout').length}, code discarded ${c.filter((j) => j.k === 'discarded').length}`);

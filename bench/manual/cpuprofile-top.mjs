// Self and inclusive time by function of a .cpuprofile (V8 / Chrome DevTools format):
//   node bench/manual/cpuprofile-top.mjs <file.cpuprofile> [skip-first-s=0] [skip-last-s=0]
// (the optional window drops the samples of start-up and shutdown, e.g. a storm's window only)
import { readFileSync } from 'node:fs';
const p = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const self = new Map();
const skipFirst = Number(process.argv[3] ?? 0) * 1e6, skipLast = Number(process.argv[4] ?? 0) * 1e6;
{ // zero the deltas outside the window [start + skipFirst, end - skipLast]
  let t = 0; const end = p.timeDeltas.reduce((a, b) => a + b, 0);
  p.timeDeltas = p.timeDeltas.map((d) => { t += d; return t < skipFirst || t > end - skipLast ? 0 : d; });
}
const dt = p.timeDeltas; let total = 0;
for (let i = 0; i < p.samples.length; i++) { const n = byId.get(p.samples[i]); const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${n.callFrame.lineNumber}`; self.set(k, (self.get(k) ?? 0) + (dt[i] ?? 0)); total += dt[i] ?? 0; }
// inclusive by function
const parent = new Map(); for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const incl = new Map();
for (let i = 0; i < p.samples.length; i++) { const seen = new Set(); let id = p.samples[i]; while (id !== undefined) { const n = byId.get(id); const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${n.callFrame.lineNumber}`; if (!seen.has(k)) { incl.set(k, (incl.get(k) ?? 0) + (dt[i] ?? 0)); seen.add(k); } id = parent.get(id); } }
console.log(`total sampled ${(total / 1e6).toFixed(2)} s (incl idle)`);
console.log('--- self'); for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log((v / 1e3).toFixed(0).padStart(8), 'ms', k);
console.log('--- inclusive'); for (const [k, v] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.TOP ?? 45))) console.log((v / 1e3).toFixed(0).padStart(8), 'ms', k);

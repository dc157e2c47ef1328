// Hand measurement behind docs/benchmark.md "After start-up: what the exports leave behind": which
// call sites allocate Buffers in the running agent, and how many bytes. An entry to run the agent
// through (ENTRY= of agent-memory-timeline.mjs): wraps Buffer.alloc, allocUnsafe, allocUnsafeSlow,
// from and concat (the public statics: Node's own internal allocations are not seen), and every 5 s
// writes the 40 largest sites by bytes (count, largest, five frames of stack) to $SITES (default
// /tmp/fovea-buffer-sites.txt). Allocations before FROM_S seconds (default 15: start-up) are left
// out; MIN_BYTES (default 0) leaves out smaller ones. As root, after bash scripts/build.sh:
//   ENTRY=bench/manual/buffer-sites.mjs node bench/manual/agent-memory-timeline.mjs 50 75
import { writeFileSync } from 'node:fs';
import { holdYoungGeneration } from '../../dist/src/agent/young-generation.js';

if (process.argv[2] === 'agent') holdYoungGeneration(); // as bin/fovea.js does
const out = process.env.SITES ?? '/tmp/fovea-buffer-sites.txt';
const fromMs = Number(process.env.FROM_S ?? 15) * 1000;
const minBytes = Number(process.env.MIN_BYTES ?? 0);
const root = new URL('../..', import.meta.url).pathname;
const t0 = Date.now();
const sites = new Map();
const record = (kind, n) => {
  if (Date.now() - t0 < fromMs || n < minBytes) return;
  const stack = new Error().stack.split('\n').slice(3, 8).map((l) => l.trim().replace(/^at /, '').replaceAll(`file://${root}`, '').replaceAll(root, '')).join(' < ');
  const key = `${kind} ${stack}`;
  const e = sites.get(key) ?? { n: 0, bytes: 0, max: 0 };
  e.n++; e.bytes += n; e.max = Math.max(e.max, n);
  sites.set(key, e);
};
for (const f of ['alloc', 'allocUnsafe', 'allocUnsafeSlow']) {
  const orig = Buffer[f];
  Buffer[f] = function (size, ...rest) { record(f, size); return orig.call(this, size, ...rest); };
}
const concat = Buffer.concat;
Buffer.concat = function (list, len) { const r = concat.call(this, list, len); record('concat', r.length); return r; };
const from = Buffer.from;
Buffer.from = function (...a) { const r = from.apply(this, a); record('from', r.length); return r; };
setInterval(() => {
  const rows = [...sites].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, 40);
  writeFileSync(out, `after ${((Date.now() - t0) / 1000).toFixed(0)} s\n` +
    rows.map(([k, e]) => `${(e.bytes / 1024).toFixed(0).padStart(8)} KB ${String(e.n).padStart(6)}x max ${e.max} ${k}`).join('\n') + '\n');
}, 5000).unref();
const { main } = await import('../../dist/src/cli.js');
main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err) => { process.stderr.write(`fovea: ${err?.stack ?? err}\n`); process.exitCode = 1; });

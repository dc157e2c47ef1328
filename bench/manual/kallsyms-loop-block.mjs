// Hand measurement behind docs/benchmark.md "kallsyms lookups and the event loop": how long naming
// kernel addresses from /proc/kallsyms holds the event loop. N addresses inside random text symbols of
// the running kernel (seeded) come in one at a time, GAP ms apart — the first drop event of N new drop
// sites — and each is named by the KernelSymbols of a build (dist/src/events/kallsyms.js of ROOT): a
// synchronous `lookup` (before) or `resolve` then `known` (after). The event loop's delay is sampled
// by perf_hooks.monitorEventLoopDelay (10 ms resolution is too coarse: 1 ms), and a 1 ms interval
// timer records every gap between its runs; prints the worst gap, the delay histogram's max/p99/mean,
// and how long each name took to arrive. Every name is checked against an independent reading of the
// file. ROOT=none: the same timeline without naming anything (the machine's own floor). As root
// (addresses are hidden otherwise), after bash scripts/build.sh in ROOT:
//   node bench/manual/kallsyms-loop-block.mjs [ROOT=.] [N=50] [GAP=20]
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = process.argv[2] === 'none' ? 'none' : resolve(process.argv[2] ?? '.');
const n = Number(process.argv[3] ?? 50), gap = Number(process.argv[4] ?? 20);
/** ROOT=none: names nothing */
class NoSymbols {
  known() { return null; }
  async resolve() {}
}
const { KernelSymbols } = root === 'none' ? { KernelSymbols: NoSymbols }
  : await import(pathToFileURL(`${root}/dist/src/events/kallsyms.js`).href);

// independent reading: the kernel's own text symbols (no modules or BPF programs, which come and go),
// each with an address of its own, and an address inside each
const text = readFileSync('/proc/kallsyms', 'latin1').split('\n').map((l) => l.split(/[ \t]/))
  .filter((f) => (f[1] === 't' || f[1] === 'T') && f.length === 3).map((f) => ({ addr: BigInt(`0x${f[0]}`), name: f[2] }));
text.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
const unique = text.map((s, i) => ({ ...s, size: (text[i + 1]?.addr ?? 0n) - s.addr }))
  .filter((s, i) => text[i - 1]?.addr !== s.addr && s.size > 0n && s.size < 1n << 20n);
if (unique.length === 0 || unique[0].addr === 0n) throw new Error('/proc/kallsyms shows no addresses: run as root');
let seed = 20261203;
const rnd = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
const want = new Map();
while (want.size < n) {
  const s = unique[Math.floor(rnd() * unique.length)];
  const off = BigInt(Math.floor(rnd() * Number(s.size)));
  want.set(s.addr + off, `${s.name}+0x${off.toString(16)}`);
}
const addrs = [...want.keys()];

const k = new KernelSymbols();
const asynchronous = typeof k.known === 'function';
const api = root === 'none' ? 'none' : asynchronous ? 'resolve' : 'lookup';
const h = monitorEventLoopDelay({ resolution: 1 });
let last = performance.now();
let worstGap = 0;
const ticker = setInterval(() => {
  const now = performance.now();
  worstGap = Math.max(worstGap, now - last);
  last = now;
}, 1);
await new Promise((r) => setTimeout(r, 200));
h.enable();
worstGap = 0;
last = performance.now();
const took = [];
const wrong = [];
for (const a of addrs) {
  const t0 = performance.now();
  let name;
  if (asynchronous) {
    await k.resolve([a]);
    name = k.known(a);
  } else {
    name = k.lookup(a);
  }
  took.push(performance.now() - t0);
  if (root !== 'none' && name !== want.get(a)) wrong.push([a.toString(16), name, want.get(a)]);
  await new Promise((r) => setTimeout(r, gap));
}
h.disable();
clearInterval(ticker);
const ms = (ns) => +(ns / 1e6).toFixed(1);
const first = took[0]; // with reading the addresses
took.sort((a, b) => a - b);
console.log(JSON.stringify({
  root, api, n, gapMs: gap,
  worstTimerGapMs: +worstGap.toFixed(1),
  loopDelayMs: { max: ms(h.max), p99: ms(h.percentile(99)), mean: ms(h.mean) },
  nameMs: { first: +first.toFixed(1), min: +took[0].toFixed(1), median: +took[Math.floor(took.length / 2)].toFixed(1), max: +took.at(-1).toFixed(1) },
  wrong: wrong.length,
}));
if (wrong.length) { console.error('wrong names:', wrong.slice(0, 5)); process.exitCode = 1; }

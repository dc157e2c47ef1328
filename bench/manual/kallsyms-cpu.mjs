// Hand measurement behind docs/benchmark.md "kallsyms lookups and the event loop" (the CPU part): the CPU
// (user+system of this process, all threads) and wall time a fresh KernelSymbols of a build takes to name one
// address of the running kernel's text (its first resolve also reads the addresses), then five more, one at a
// time; the first name is printed to check. As root, after bash scripts/build.sh in ROOT:
//   node bench/manual/kallsyms-cpu.mjs ROOT [file|bpf]
// bpf: the names from the kernel's symboliser program (ROOT/bpf/build/symbol.bpf.o, builds from 2026-12-03 evening
// on), as the agent takes them; file (default): from /proc/kallsyms.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
const root = process.argv[2];
const { KernelSymbols } = await import(pathToFileURL(`${root}/dist/src/events/kallsyms.js`).href);
const text = readFileSync('/proc/kallsyms', 'latin1').split('\n').map((l) => l.split(/[ \t]/)).filter((f) => (f[1] === 't' || f[1] === 'T') && f.length === 3);
const pick = (i) => BigInt(`0x${text[Math.floor(text.length * i)][0]}`) + 4n;
const mode = process.argv[3] ?? 'file';
const ks = mode === 'bpf' ? new KernelSymbols({ bpfObject: `${root}/bpf/build/symbol.bpf.o` }) : new KernelSymbols();
const c0 = process.cpuUsage(), t0 = performance.now();
await ks.resolve([pick(0.7)]);
const c1 = process.cpuUsage(c0), t1 = performance.now();
for (const f of [0.1, 0.3, 0.5, 0.8, 0.95]) await ks.resolve([pick(f)]);
const c2 = process.cpuUsage(), t2 = performance.now();
const ms = (c) => (c.user + c.system) / 1000;
console.log(JSON.stringify({ root, mode, source: ks.source, firstCpuMs: +ms(c1).toFixed(1), firstWallMs: +(t1 - t0).toFixed(1), next5CpuMs: +(ms(c2) - ms(c0) - ms(c1)).toFixed(1), next5WallMs: +(t2 - t1).toFixed(1), name: ks.known(pick(0.7)) }));

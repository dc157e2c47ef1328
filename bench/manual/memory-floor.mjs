// Hand measurement behind the memory figures of the closing note and docs/benchmark.md: peak memory
// (VmHWM) of an empty Node process, and after each of: importing @kubernetes/client-node, importing
// the agent command's module graph, loading /proc/kallsyms the agent's way. Each in its own process.
// After bash scripts/build.sh:  node bench/manual/memory-floor.mjs
import { execFileSync } from 'node:child_process';

const dist = new URL('../../dist/src/', import.meta.url).href;
const cases = {
  'empty node process': '',
  '@kubernetes/client-node': "await import('@kubernetes/client-node');",
  'dist/src/commands/agent.js': `await import('${dist}commands/agent.js');`,
  // the addresses loaded and one name read, as at the agent's first drop event (src/events/kallsyms.ts)
  'kallsyms loaded': `const { KernelSymbols } = await import('${dist}events/kallsyms.js'); const k = new KernelSymbols();
const a = 0xffffffff81000000n; await k.resolve([a]); if (k.known(a) === null) throw new Error('kallsyms: not resolved');`,
};
for (const [name, code] of Object.entries(cases)) {
  const script = `const { readFileSync } = await import('node:fs');
const hwm = () => (Number(/VmHWM:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024).toFixed(1);
const before = hwm(); ${code} console.log(before + ' -> ' + hwm());`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: new URL('../..', import.meta.url).pathname }).toString().trim();
  console.log(`${name.padEnd(28)} VmHWM MB ${out}`);
}

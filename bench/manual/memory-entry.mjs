// An entry to run the agent through (ENTRY= of agent-memory-timeline.mjs, "entry" of agent-hwm-ab.mjs):
// runs dist/src/cli.js like bin/fovea.js, and at each new RSS maximum (sampled every 20 ms, in the agent's
// own thread: it cannot see inside synchronous work such as loading the BPF programs) appends to $MEM_LOG
// (default /tmp/fovea-memory-entry.log) what the RSS is made of: mappings (the node binary, anonymous,
// glibc's heap, BPF maps, other files) and V8's spaces (physical), its malloced memory, external and
// ArrayBuffer memory. The sampling allocates a little itself.
import v8 from 'node:v8';
import { readFileSync, appendFileSync } from 'node:fs';
import { holdYoungGeneration } from '../../dist/src/agent/young-generation.js';
if (process.argv[2] === 'agent') holdYoungGeneration(); // as bin/fovea.js does
const { main } = await import('../../dist/src/cli.js');
const out = process.env.MEM_LOG ?? '/tmp/fovea-memory-entry.log';
const t0 = performance.now();
let max = 0;
const smaps = () => {
  const by = { node: 0, anon: 0, heap: 0, bpf: 0, other: 0 };
  let name = '';
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) { name = m[1]; continue; }
    const r = /^Rss:\s+(\d+)/.exec(line);
    if (!r) continue;
    const k = name === '' ? 'anon' : name === '[heap]' ? 'heap' : name.endsWith('/node') ? 'node' : name.includes('bpf') ? 'bpf' : 'other';
    by[k] += Number(r[1]) / 1024;
  }
  return Object.entries(by).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(' ');
};
const sample = () => {
  const s = readFileSync('/proc/self/status', 'utf8');
  const rss = Number(/VmRSS:\s+(\d+)/.exec(s)[1]) / 1024;
  if (rss <= max + 0.5) return;
  max = rss;
  const sp = Object.fromEntries(v8.getHeapSpaceStatistics().map((x) => [x.space_name, x.physical_space_size / 1048576]));
  const h = v8.getHeapStatistics();
  const m = process.memoryUsage();
  appendFileSync(out, `${((performance.now() - t0) / 1000).toFixed(2)}s rss ${rss.toFixed(1)} | ${smaps()} | new ${sp.new_space.toFixed(1)} old ${sp.old_space.toFixed(1)} code ${sp.code_space.toFixed(1)} lo ${(sp.large_object_space + sp.new_large_object_space).toFixed(1)} v8malloc ${(h.malloced_memory / 1048576).toFixed(1)} ext ${(m.external / 1048576).toFixed(1)} ab ${(m.arrayBuffers / 1048576).toFixed(1)}\n`);
};
setInterval(sample, 20).unref();
sample();
main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err) => { process.stderr.write(`fovea: ${err?.stack ?? err}\n`); process.exitCode = 1; });

// RSS of a process by kind of mapping, for the hand memory measurements (agent-hwm-ab.mjs,
// agent-memory-timeline.mjs): the node binary, anonymous (V8's heap among them), glibc's heap (brk),
// BPF maps, other files, as "node N, anon N, brk N, bpf N, files N" (MB). Throws when
// /proc/<pid>/smaps cannot be read.
import { readFileSync } from 'node:fs';

export function rssByKind(pid) {
  const by = { node: 0, anon: 0, brk: 0, bpf: 0, files: 0 };
  let name = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) { name = m[1]; continue; }
    const r = /^Rss:\s+(\d+)/.exec(line);
    if (!r) continue;
    const k = name === '' || name.startsWith('[anon') ? 'anon' : name === '[heap]' ? 'brk' : name.endsWith('/node') ? 'node' : name.includes('bpf-map') ? 'bpf' : 'files';
    by[k] += Number(r[1]) / 1024;
  }
  return Object.entries(by).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ');
}

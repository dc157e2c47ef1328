// Counts the entries of a running agent's eBPF maps over time: the maps are found through the agent's own fds
// (bench/agent-process.ts bpfFdsOf: /proc/<pid>/fdinfo map_id), so two agents side by side are told apart; names are the kernel's (15 characters:
// tcp_state_counts shows as tcp_state_count). Each sample dumps the map with bpftool and counts its entries.
// Used beside bench/manual/churn-memory.mjs (its header prints the agent's pid) to show that a table stays bounded
// under pod churn (docs/benchmark.md, "An hour of pod churn").
//   node bench/manual/agent-map-entries.mjs <pid> [interval s=300] [map names=tcp_state_count,tcp_stats]
// As root, after the build (it imports dist/); stops when the agent exits. One line per map and sample: time, map
// name, id, entries.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { bpfFdsOf } from '../../dist/bench/agent-process.js';

const [pidArg, intervalArg = '300', namesArg = 'tcp_state_count,tcp_stats'] = process.argv.slice(2);
const pid = Number(pidArg);
if (!Number.isInteger(pid) || pid <= 0) throw new Error('usage: agent-map-entries.mjs <pid> [interval s] [map names]');
const intervalMs = Number(intervalArg) * 1000;
if (!(intervalMs > 0)) throw new Error(`interval: a number of seconds, not ${intervalArg}`);
const names = namesArg.split(',').filter(Boolean);

function sample() {
  const held = new Set(bpfFdsOf(pid).filter((f) => f.kind === 'map').map((f) => f.fields['map_id']));
  const maps = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'show'], { encoding: 'utf8' }));
  const time = new Date().toISOString().slice(11, 19);
  for (const name of names) {
    const found = maps.filter((m) => m.name === name && held.has(m.id));
    if (found.length === 0) { console.log(`${time} ${name} not held by ${pid}`); continue; }
    for (const m of found) {
      const entries = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'dump', 'id', String(m.id)], { encoding: 'utf8', maxBuffer: 1 << 28 })).length;
      console.log(`${time} ${name} id=${m.id} entries=${entries}`);
    }
  }
}

while (existsSync(`/proc/${pid}`)) {
  sample();
  await new Promise((r) => setTimeout(r, intervalMs));
}
console.log(`agent ${pid} gone`);

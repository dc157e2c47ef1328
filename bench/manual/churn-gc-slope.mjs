// Refits churn-memory.mjs's slopes over another window: reads a CSV it writes — `CSV=<file>` (every 30 s sample:
// t_s, rss_mb, hwm_mb, …) or `<file>.gc.csv` (every memory report after a full collection: t_s, heap objects, heap
// used, external, malloc in use, RSS after GC, fds) — and prints each column's least-squares slope per hour with its
// 95% CI (bench/util.ts olsSlopeCi) over the rows with from ≤ t_s ≤ to (seconds since the run's start).
//   node bench/manual/churn-gc-slope.mjs <file.csv> [from=600] [to=∞]
import { readFileSync } from 'node:fs';
import { olsSlopeCi } from '../../dist/bench/util.js';

const [file, from = '600', to = 'Infinity'] = process.argv.slice(2);
if (!file) throw new Error('usage: churn-gc-slope.mjs <file.csv> [from s] [to s]');
const [header, ...lines] = readFileSync(file, 'utf8').trim().split('\n');
const cols = header.split(',');
const rows = lines.map((l) => l.split(',').map(Number)).filter((r) => r[0] >= Number(from) && r[0] <= Number(to));
const ts = rows.map((r) => r[0]);
console.log(`${file}: ${rows.length} rows with ${from} ≤ t_s ≤ ${to}; per hour, 95% CI (OLS; autocorrelated rows make it optimistic)`);
for (let c = 1; c < cols.length; c++) {
  const ys = rows.map((r) => r[c]);
  if (ys.some((y) => !Number.isFinite(y))) continue; // e.g. pods with series before the first collection
  const s = olsSlopeCi(ts, ys);
  console.log(`  ${cols[c].padEnd(16)} ${ys[0]} → ${ys.at(-1)}  slope ${(s.slope * 3600).toFixed(2)} /h [${(s.lo * 3600).toFixed(2)}, ${(s.hi * 3600).toFixed(2)}]`);
}

// Refits churn-memory.mjs's after-GC slopes over another window: reads the <CSV>.gc.csv it writes (one row per memory
// report: t_s, heap objects, heap used, external, malloc in use, RSS after GC, fds) and prints each figure's OLS slope
// in MB/hour with its 95% CI over the reports with from ≤ t ≤ to (seconds since the run's start).
//   node bench/manual/churn-gc-slope.mjs <file.gc.csv> [from=600] [to=∞]
import { readFileSync } from 'node:fs';
const [file, from = 600, to = 1e9] = process.argv.slice(2);
const rows = readFileSync(file, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',').map(Number)).filter((r) => r[0] >= Number(from) && r[0] <= Number(to));
const names = ['heap objects', 'heap used', 'external', 'malloc', 'RSS after GC', 'fds'];
for (let c = 1; c <= 5; c++) {
  const ts = rows.map((r) => r[0]), ys = rows.map((r) => r[c]); const n = ts.length;
  const mx = ts.reduce((a, x) => a + x, 0) / n, my = ys.reduce((a, y) => a + y, 0) / n;
  const sxx = ts.reduce((a, x) => a + (x - mx) ** 2, 0), sxy = ts.reduce((a, x, i) => a + (x - mx) * (ys[i] - my), 0);
  const b = sxy / sxx, ssr = ts.reduce((a, x, i) => a + (ys[i] - my - b * (x - mx)) ** 2, 0);
  const se = Math.sqrt(ssr / (n - 2) / sxx), df = n - 2, z = 1.959964;
  const tq = z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2);
  console.log(`${names[c - 1].padEnd(13)} n=${n} ${ys[0]} → ${ys[n - 1]}  slope ${(b * 3600).toFixed(2)} MB/h [${((b - tq * se) * 3600).toFixed(2)}, ${((b + tq * se) * 3600).toFixed(2)}]`);
}

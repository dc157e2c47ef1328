// Where the live objects of V8 heap snapshots are held, by structure: each object counted once, under the first of
// ROOTS (in order) that reaches it by data edges — properties, elements and internal edges, not through closures,
// contexts, compiled code, shapes or objects of another named class (which are structures of their own). A root is
// <Class>.<field> (every object of that class, that field) or <Class>.* (all its fields); *.* is every named class.
// What no root reaches is summed by node type ("(not reached) code" is V8's compiled code). Beside each root's bytes
// and objects: its entries — elements of the arrays and values of the maps it starts from, and of the maps those hold
// (e.g. the series producer's state: instruments → series), or of the arrays and maps a plain object it starts from holds
// (the tcp probe's last reading: connection records + state entries).
// Unlike heapsnapshot-diff.mjs's OWNERS (first retainer of each object), an object shared by two structures goes
// to the first in ROOTS, the same in every snapshot: a difference between snapshots is growth, not a change of owner.
//   node --max-old-space-size=8000 bench/manual/heapsnapshot-parts.mjs <a.heapsnapshot> [b.heapsnapshot …]
//   env ROOTS=<comma-separated> (default: the agent's structures that grow with pods, series and events)
import { loadSnapshot } from './heapsnapshot-graph.mjs';

const files = process.argv.slice(2);
if (!files.length) throw new Error('usage: heapsnapshot-parts.mjs <a.heapsnapshot> [b.heapsnapshot …]');
const ROOTS = (process.env.ROOTS ?? [
  'History.ring', 'SeriesProducer.state', 'VectorAccumulator.series', 'VectorAccumulator.recordSeries', 'FlowSeries.states',
  'DropFlowSeries.records', 'PodNetstack.attrs', 'TcpProbe.latest', 'TcpProbe.lastChange', 'TcpProbe.zeroStatesSince',
  'SharedCollection.*', 'PodMetrics.*', 'Agent.*', '*.*',
].join(',')).split(',');

function analyse(file) {
  const g = loadSnapshot(file);
  const { E, nodeCount, first, name, type, etype, ename, eto } = g;
  const stop = (n) => { const k = type(n); return k === 'closure' || k === 'code' || k === 'synthetic' || k === 'object shape' || (k === 'object' && name(n).startsWith('system / Context')) || g.namedClass(n) !== undefined; };
  // a Map's values that are objects (its table holds keys and values); an Array's elements
  const mapValues = (m) => { for (let e = first[m]; e < first[m + 1]; e += E) if (ename(e) === 'table' && etype(e) !== 'element') { const t = eto(e), out = []; for (let f = first[t]; f < first[t + 1]; f += E) if ((etype(f) === 'element' || etype(f) === 'internal') && type(eto(f)) === 'object') out.push(eto(f)); return out; } return []; };
  const entries = (n, depth = 0) => {
    if (type(n) !== 'object') return 0;
    if (name(n) === 'Array') { let c = 0; for (let e = first[n]; e < first[n + 1]; e += E) if (etype(e) === 'element') c++; return c; }
    if (name(n) === 'Map') { const v = mapValues(n); const inner = v.filter((x) => name(x) === 'Map'); return inner.length ? inner.reduce((a, x) => a + mapValues(x).length, 0) : v.length; }
    if (name(n) === 'Object' && depth === 0) { let c = 0; for (let e = first[n]; e < first[n + 1]; e += E) if (etype(e) === 'property' && ename(e) !== '__proto__') c += entries(eto(e), 1); return c; }
    return 0;
  };
  const owner = new Int32Array(nodeCount).fill(-1);
  const out = new Map();
  const add = (k, size, count, ent) => { const o = out.get(k) ?? { size: 0, count: 0, entries: 0 }; o.size += size; o.count += count; o.entries += ent; out.set(k, o); };
  ROOTS.forEach((root, r) => {
    const [cls, field] = root.split('.');
    for (let n = 0; n < nodeCount; n++) {
      if (type(n) !== 'object' || !(cls === '*' ? g.namedClass(n) !== undefined : name(n) === cls)) continue;
      for (let e = first[n]; e < first[n + 1]; e += E) {
        const t = etype(e);
        if (t === 'weak' || t === 'shortcut') continue;
        const f = t === 'element' || t === 'hidden' ? '' : ename(e);
        if ((field !== '*' && f !== field) || f === '__proto__' || f === 'map' || f === 'constructor') continue;
        const start = eto(e);
        if (stop(start) || owner[start] !== -1) continue;
        let size = 0, count = 0;
        const stack = [start];
        owner[start] = r;
        while (stack.length) {
          const c = stack.pop();
          size += g.selfSize(c); count++;
          for (let x = first[c]; x < first[c + 1]; x += E) {
            const xt = etype(x);
            if (xt === 'weak' || xt === 'shortcut' || (xt === 'internal' && ename(x) === 'map') || (xt === 'property' && ename(x) === '__proto__')) continue;
            const to = eto(x);
            if (owner[to] !== -1 || stop(to)) continue;
            owner[to] = r; stack.push(to);
          }
        }
        add(root, size, count, entries(start));
      }
    }
  });
  let total = 0;
  for (let n = 0; n < nodeCount; n++) {
    const size = g.selfSize(n);
    total += size;
    if (owner[n] === -1) add(`(not reached) ${type(n)}`, size, 1, 0);
  }
  add('(all live objects)', total, nodeCount, 0);
  return out;
}

const res = files.map((f) => { console.error(`reading ${f}`); return analyse(f); });
const keys = [...new Set(res.flatMap((r) => [...r.keys()]))];
const mb = (x) => (x / 1e6).toFixed(3);
console.log(`${'structure'.padEnd(34)} ${files.map((_, i) => `snapshot ${i + 1}: MB (objects; entries)`.padEnd(36)).join(' ')} Δ MB last − first`);
for (const k of keys) {
  const cells = res.map((r) => { const o = r.get(k) ?? { size: 0, count: 0, entries: 0 }; return `${mb(o.size).padStart(8)} (${o.count}${o.entries ? `; ${o.entries}` : ''})`.padEnd(36); });
  const d = (res.at(-1).get(k)?.size ?? 0) - (res[0].get(k)?.size ?? 0);
  console.log(`${k.padEnd(34)} ${cells.join(' ')} ${(d >= 0 ? '+' : '') + mb(d)}`);
}

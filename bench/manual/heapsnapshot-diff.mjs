// What grew between two V8 heap snapshots of the same process (e.g. churn-memory.mjs's SNAPSHOT_MIN): the live
// objects of each snapshot summed by kind — node type and, for objects and closures, constructor or function name;
// strings, arrays, code and the like by type alone — and the kinds whose self size grew or shrank most, with counts.
// A snapshot holds only what was reachable after the full collection V8 runs before writing it.
//   node bench/manual/heapsnapshot-diff.mjs <before.heapsnapshot> <after.heapsnapshot> [top=25]
// OWNERS=1: also the self size of every live object summed by its owner — the first object up its chain of first
// retainers (weak edges skipped) whose constructor is a named class (not Object, Array, Map, Set or V8's own) —
// and the owners whose share grew most: where the growth is held. FIELDS=1 (with OWNERS=1): the same split further by
// the owner's field (its edge) each object is held through, e.g. `PodNetstack.attrs`.
// With SAMPLES=<n> (default 0): for each of the top kinds that grew, up to n of the objects present only in the
// second snapshot (by V8's object id) and the chain of retainers from each towards a root (first retainer at each
// step, weak edges skipped), to see what holds them.
import { loadSnapshot } from './heapsnapshot-graph.mjs';

const [fa, fb] = process.argv.slice(2);
const top = Number(process.argv[4] ?? 25), samples = Number(process.env.SAMPLES ?? 0);
if (!fa || !fb) throw new Error('usage: heapsnapshot-diff.mjs <before.heapsnapshot> <after.heapsnapshot> [top]');

function totals(h) {
  const by = new Map();
  for (let n = 0; n < h.nodeCount; n++) {
    const k = h.kindOf(n);
    const e = by.get(k) ?? { size: 0, count: 0 };
    e.size += h.selfSize(n); e.count++;
    by.set(k, e);
  }
  return by;
}

const A = loadSnapshot(fa), B = loadSnapshot(fb);
const ta = totals(A), tb = totals(B);
const sum = (t) => [...t.values()].reduce((a, e) => a + e.size, 0);
const rows = [...new Set([...ta.keys(), ...tb.keys()])].map((k) => {
  const a = ta.get(k) ?? { size: 0, count: 0 }, b = tb.get(k) ?? { size: 0, count: 0 };
  return { k, ds: b.size - a.size, dc: b.count - a.count, a, b };
});
const mb = (x) => (x / 1e6).toFixed(3);
console.log(`self size of every live object: ${mb(sum(ta))} MB → ${mb(sum(tb))} MB (${(sum(tb) - sum(ta) >= 0 ? '+' : '')}${mb(sum(tb) - sum(ta))})`);
console.log(`\ngrew most (Δ self MB, Δ count, before → after count):`);
const grew = rows.filter((r) => r.ds > 0).sort((x, y) => y.ds - x.ds).slice(0, top);
for (const r of grew) console.log(`  ${('+' + mb(r.ds)).padStart(9)}  ${(r.dc >= 0 ? '+' : '') + r.dc}`.padEnd(24) + ` ${r.a.count} → ${r.b.count}  ${r.k}`);
console.log(`\nshrank most:`);
for (const r of rows.filter((r) => r.ds < 0).sort((x, y) => x.ds - y.ds).slice(0, Math.ceil(top / 3))) console.log(`  ${mb(r.ds).padStart(9)}  ${r.dc}`.padEnd(24) + ` ${r.a.count} → ${r.b.count}  ${r.k}`);

/** For each node of `h`, its first non-weak retainer (node index) and that edge, or -1. */
function retainers(h) {
  const retainer = new Int32Array(h.nodeCount).fill(-1), retEdge = new Int32Array(h.nodeCount).fill(-1);
  for (let n = 0; n < h.nodeCount; n++) {
    for (let e = h.first[n]; e < h.first[n + 1]; e += h.E) {
      if (h.etype(e) === 'weak') continue;
      const to = h.eto(e);
      if (retainer[to] === -1) { retainer[to] = n; retEdge[to] = e; }
    }
  }
  return { retainer, retEdge };
}
function byOwner(h) {
  const { retainer, retEdge } = retainers(h);
  const owner = new Array(h.nodeCount); // undefined: not known yet; null: no named owner; else the owner's class
  const field = new Array(h.nodeCount); // the owner's edge (field) the node is held through
  const out = new Map(), fields = new Map();
  for (let n = 0; n < h.nodeCount; n++) {
    let cur = n, name = null, via = '(itself)';
    const path = [];
    for (let d = 0; d < 40 && cur !== -1; d++) {
      const nm = h.namedClass(cur); // checked first: a named owner's own entry says '(itself)'
      if (nm) { name = nm; via = path.length ? h.edgeLabel(retEdge[path[path.length - 1]]) : '(itself)'; break; }
      if (owner[cur] !== undefined) { name = owner[cur]; via = field[cur]; break; }
      path.push(cur);
      cur = retainer[cur];
    }
    for (const p of path) { owner[p] = name; field[p] = via; }
    const key = name ?? '(no named owner)', size = h.selfSize(n);
    out.set(key, (out.get(key) ?? 0) + size);
    const fk = `${key}.${via}`;
    fields.set(fk, (fields.get(fk) ?? 0) + size);
  }
  return { owners: out, fields };
}
if (process.env.OWNERS) {
  const oa = byOwner(A), ob = byOwner(B);
  const diff = (a, b) => [...new Set([...a.keys(), ...b.keys()])].map((k) => ({ k, a: a.get(k) ?? 0, b: b.get(k) ?? 0 })).map((r) => ({ ...r, d: r.b - r.a }));
  const keys = diff(oa.owners, ob.owners);
  console.log(`\nheld by (self size of what each named owner holds, first retainers; Δ MB, before → after MB):`);
  for (const r of keys.sort((x, y) => y.d - x.d).slice(0, top)) console.log(`  ${((r.d >= 0 ? '+' : '') + mb(r.d)).padStart(9)}  ${mb(r.a)} → ${mb(r.b)}  ${r.k}`);
  if (process.env.FIELDS) {
    console.log(`\nby the owner's field it is held through (the ${top} that grew most; <owner>.(itself): the owner object's own size):`);
    for (const r of diff(oa.fields, ob.fields).sort((x, y) => y.d - x.d).slice(0, top)) console.log(`  ${((r.d >= 0 ? '+' : '') + mb(r.d)).padStart(9)}  ${mb(r.a)} → ${mb(r.b)}  ${r.k}`);
  }
}

if (samples > 0) {
  // retainers of the second snapshot: for each node, the first (non-weak) edge pointing at it
  const h = B;
  const { retainer, retEdge } = retainers(h);
  const idsA = new Set();
  for (let n = 0; n < A.nodeCount; n++) idsA.add(A.id(n));
  for (const r of grew.slice(0, 8)) {
    console.log(`\n${r.k}: up to ${samples} objects new in the second snapshot, and what retains them`);
    let shown = 0;
    for (let n = 0; n < h.nodeCount && shown < samples; n++) {
      if (h.kindOf(n) !== r.k || idsA.has(h.id(n))) continue;
      shown++;
      const chain = [];
      let cur = n;
      for (let d = 0; d < 12 && retainer[cur] !== -1; d++) {
        chain.push(`${h.edgeLabel(retEdge[cur])} ← ${h.kindOf(retainer[cur])}`);
        cur = retainer[cur];
      }
      console.log(`  @${h.id(n)} (${h.selfSize(n)} B): ${chain.join(' · ')}`);
    }
  }
}

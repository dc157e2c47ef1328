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
import { readFileSync } from 'node:fs';

const [fa, fb] = process.argv.slice(2);
const top = Number(process.argv[4] ?? 25), samples = Number(process.env.SAMPLES ?? 0);
if (!fa || !fb) throw new Error('usage: heapsnapshot-diff.mjs <before.heapsnapshot> <after.heapsnapshot> [top]');

function load(file) {
  const s = JSON.parse(readFileSync(file, 'utf8'));
  const nf = s.snapshot.meta.node_fields, types = s.snapshot.meta.node_types[0];
  const ef = s.snapshot.meta.edge_fields, etypes = s.snapshot.meta.edge_types[0];
  const N = nf.length, E = ef.length;
  const iType = nf.indexOf('type'), iName = nf.indexOf('name'), iId = nf.indexOf('id'), iSize = nf.indexOf('self_size'), iEdges = nf.indexOf('edge_count');
  const eType = ef.indexOf('type'), eName = ef.indexOf('name_or_index'), eTo = ef.indexOf('to_node');
  const kindOf = (i) => {
    const t = types[s.nodes[i + iType]];
    return t === 'object' || t === 'closure' || t === 'native' ? `${t} ${s.strings[s.nodes[i + iName]]}` : t;
  };
  return { s, N, E, types, etypes, iId, iSize, iEdges, iName, eType, eName, eTo, kindOf };
}

function totals(h) {
  const by = new Map();
  for (let i = 0; i < h.s.nodes.length; i += h.N) {
    const k = h.kindOf(i);
    const e = by.get(k) ?? { size: 0, count: 0 };
    e.size += h.s.nodes[i + h.iSize]; e.count++;
    by.set(k, e);
  }
  return by;
}

const A = load(fa), B = load(fb);
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

/** For each node of `h`, its first non-weak retainer (node index) and that edge (index into edges), or -1. */
function retainers(h) {
  const nodes = h.s.nodes, edges = h.s.edges, nodeCount = nodes.length / h.N;
  const retainer = new Int32Array(nodeCount).fill(-1), retEdge = new Int32Array(nodeCount).fill(-1);
  for (let n = 0, e = 0; n < nodeCount; n++) {
    const ec = nodes[n * h.N + h.iEdges];
    for (let j = 0; j < ec; j++, e += h.E) {
      if (h.etypes[edges[e + h.eType]] === 'weak') continue;
      const to = edges[e + h.eTo] / h.N;
      if (retainer[to] === -1) { retainer[to] = n; retEdge[to] = e; }
    }
  }
  return { retainer, retEdge };
}
const GENERIC = new Set(['Object', 'Array', 'Map', 'Set', 'WeakMap', 'Buffer', 'Uint8Array', 'ArrayBuffer', 'Float64Array', 'Function', 'Promise']);
function byOwner(h) {
  const { retainer, retEdge } = retainers(h);
  const nodes = h.s.nodes, edges = h.s.edges, nodeCount = nodes.length / h.N;
  const owner = new Array(nodeCount); // undefined: not known yet; null: no named owner; else the owner's class
  const field = new Array(nodeCount); // the owner's edge (field) the node is held through
  const named = (n) => { const k = h.kindOf(n * h.N); if (!k.startsWith('object ')) return undefined; const c = k.slice(7); return /^[A-Z]/.test(c) && !GENERIC.has(c) && !c.startsWith('system') ? c : undefined; };
  const label = (e) => { const t = h.etypes[edges[e + h.eType]]; const v = edges[e + h.eName]; return t === 'element' || t === 'hidden' ? `[${v}]` : String(h.s.strings[v]); };
  const out = new Map(), fields = new Map();
  for (let n = 0; n < nodeCount; n++) {
    let cur = n, name = null, via = '(itself)';
    const path = [];
    for (let d = 0; d < 40 && cur !== -1; d++) {
      const nm = named(cur); // checked first: a named owner's own entry says '(itself)'
      if (nm) { name = nm; via = path.length ? label(retEdge[path[path.length - 1]]) : '(itself)'; break; }
      if (owner[cur] !== undefined) { name = owner[cur]; via = field[cur]; break; }
      path.push(cur);
      cur = retainer[cur];
    }
    for (const p of path) { owner[p] = name; field[p] = via; }
    const key = name ?? '(no named owner)', size = nodes[n * h.N + h.iSize];
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
  const h = B, nodes = h.s.nodes, edges = h.s.edges;
  const nodeCount = nodes.length / h.N;
  const { retainer, retEdge } = retainers(h);
  const idsA = new Set();
  for (let i = 0; i < A.s.nodes.length; i += A.N) idsA.add(A.s.nodes[i + A.iId]);
  const edgeLabel = (e) => { const t = h.etypes[edges[e + h.eType]]; const v = edges[e + h.eName]; return t === 'element' || t === 'hidden' ? `[${v}]` : String(h.s.strings[v]); };
  for (const r of grew.slice(0, 8)) {
    console.log(`\n${r.k}: up to ${samples} objects new in the second snapshot, and what retains them`);
    let shown = 0;
    for (let n = 0; n < nodeCount && shown < samples; n++) {
      const i = n * h.N;
      if (h.kindOf(i) !== r.k || idsA.has(nodes[i + h.iId])) continue;
      shown++;
      const chain = [];
      let cur = n;
      for (let d = 0; d < 12 && retainer[cur] !== -1; d++) {
        chain.push(`${edgeLabel(retEdge[cur])} ← ${h.kindOf(retainer[cur] * h.N)}`);
        cur = retainer[cur];
      }
      console.log(`  @${nodes[i + h.iId]} (${nodes[i + h.iSize]} B): ${chain.join(' · ')}`);
    }
  }
}

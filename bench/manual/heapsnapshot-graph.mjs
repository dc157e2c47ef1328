// A V8 heap snapshot (.heapsnapshot, JSON) as a graph for the hand analyses heapsnapshot-diff.mjs and
// heapsnapshot-parts.mjs: nodes and edges by index, with their fields read through the snapshot's own meta.
import { readFileSync } from 'node:fs';

/** Constructors that are containers, not structures of the agent: never an owner or a root of their own. */
export const GENERIC = new Set(['Object', 'Array', 'Map', 'Set', 'WeakMap', 'Buffer', 'Uint8Array', 'ArrayBuffer', 'Float64Array', 'Function', 'Promise']);

/**
 * Loads a snapshot. Nodes are numbered 0 … nodeCount − 1; edges are offsets into `edges`, node n's edges
 * from first[n] to first[n + 1] (step E).
 */
export function loadSnapshot(file) {
  const s = JSON.parse(readFileSync(file, 'utf8'));
  const nf = s.snapshot.meta.node_fields, ef = s.snapshot.meta.edge_fields;
  const types = s.snapshot.meta.node_types[0], etypes = s.snapshot.meta.edge_types[0];
  const { nodes, edges, strings } = s;
  const N = nf.length, E = ef.length;
  const iType = nf.indexOf('type'), iName = nf.indexOf('name'), iId = nf.indexOf('id'), iSize = nf.indexOf('self_size'), iEdges = nf.indexOf('edge_count');
  const eType = ef.indexOf('type'), eName = ef.indexOf('name_or_index'), eTo = ef.indexOf('to_node');
  const nodeCount = nodes.length / N;
  const first = new Int32Array(nodeCount + 1);
  for (let n = 0, e = 0; n < nodeCount; n++) { first[n] = e; e += nodes[n * N + iEdges] * E; }
  first[nodeCount] = edges.length;
  const type = (n) => types[nodes[n * N + iType]];
  const name = (n) => strings[nodes[n * N + iName]];
  const etype = (e) => etypes[edges[e + eType]];
  const g = {
    E, nodeCount, first, type, name, etype,
    id: (n) => nodes[n * N + iId],
    selfSize: (n) => nodes[n * N + iSize],
    /** the edge's name (meaningless for element and hidden edges, whose name_or_index is an index) */
    ename: (e) => strings[edges[e + eName]],
    eto: (e) => edges[e + eTo] / N,
    /** an edge as a field name, or [index] for elements */
    edgeLabel: (e) => { const t = etype(e), v = edges[e + eName]; return t === 'element' || t === 'hidden' ? `[${v}]` : String(strings[v]); },
    /** node type and, for objects, closures and natives, constructor or function name */
    kindOf: (n) => { const t = type(n); return t === 'object' || t === 'closure' || t === 'native' ? `${t} ${name(n)}` : t; },
    /** the class name of an object of a named class (not a GENERIC container, not V8's own), else undefined */
    namedClass: (n) => { if (type(n) !== 'object') return undefined; const c = name(n); return /^[A-Z]/.test(c) && !GENERIC.has(c) && !c.startsWith('system') ? c : undefined; },
  };
  return g;
}

/**
 * The identity stage of the tcp probe (TcpSeries): hand-made tcp_stats records and state counts
 * through a static identity → pod series (`fovea.pod.tcp.*`) and workload-pair series
 * (`fovea.flow.tcp.*`): own vs towards retransmits, resets per direction, pair orientation,
 * connections counted once, the state gauge, and series of ended records (retired, then TTL).
 */
import type { Attributes } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { StaticIdentity } from '../../src/k8s/static.js';
import type { PodInfo } from '../../src/k8s/types.js';
import type { HistogramPoint } from '../../src/export/series-producer.js';
import { TcpSeries, type TcpReadings } from '../../src/pods/tcp-series.js';
import type { LatencyHistogram, TcpConnRecord, TcpStateCount } from '../../src/probes/tcp/layout.js';
import type { MetricFamily } from '../../src/probes/types.js';

const pod = (name: string, ip: string, workload: string, ns = 'shop'): PodInfo => ({
  uid: `uid-${name}`, name, namespace: ns, nodeName: 'n1', ips: [ip], hostNetwork: false,
  workload: { kind: 'Deployment', name: workload }, phase: 'Running',
});
const web = pod('web-1', '10.0.0.10', 'web');
const db = pod('db-1', '10.0.0.11', 'db');
const api = { ...pod('api-1', '10.1.0.5', 'api', 'backend'), nodeName: 'n2' }; // another node
const NODE_IP = '192.168.1.5';
const agent = { ...pod('agent-x', NODE_IP, 'agent', 'kube-system'), hostNetwork: true, workload: { kind: 'DaemonSet', name: 'agent' } };
const EXTERNAL = '8.8.8.8';
const [WEB, DB, API] = [web.ips[0]!, db.ips[0]!, api.ips[0]!];

const CLIENT = 1;
const SERVER = 2;
const UNKNOWN = 0;
const BOUNDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

function h(sumNs: number, at: Record<number, number> = {}): LatencyHistogram {
  const buckets = Array<number>(17).fill(0);
  for (const [i, n] of Object.entries(at)) buckets[Number(i)] = n;
  return { count: buckets.reduce((a, b) => a + b, 0), sumNs, buckets };
}

function rec(p: Partial<TcpConnRecord> & Pick<TcpConnRecord, 'local' | 'remote' | 'side'>): TcpConnRecord {
  const serverPort = p.serverPort ?? 5432;
  return {
    netns: 1, serverPort, ipVersion: 4, retransSegs: 0, resetsSent: 0, resetsReceived: 0, opened: 0,
    failed: [0, 0, 0, 0], closed: 0, handshake: h(0), rtt: h(0),
    recordKey: `${p.local}|${p.remote}|${serverPort}|${p.side}|${p.netns ?? 1}`, ...p,
  };
}

class FakeTcp implements TcpReadings {
  conns: TcpConnRecord[] = [];
  states: TcpStateCount[] = [];
  connections() { return { conns: this.conns, states: this.states }; }
}

function setup(ttl = 60_000) {
  let now = 1_000;
  const identity = new StaticIdentity({ nodeName: 'n1', pods: [web, db, api, agent], nodes: [{ name: 'n1', ips: [NODE_IP] }] });
  const tcp = new FakeTcp();
  const s = new TcpSeries({ identity, tcp, settings: { seriesTtlMs: ttl, podNames: false, addresses: false }, now: () => now });
  return { s, tcp, at: (t: number) => { now = t; } };
}

const POD_KEYS = new Set(['k8s.pod.uid', 'k8s.pod.name', 'k8s.namespace.name', 'fovea.workload.kind', 'fovea.workload.name']);
const PAIR_KEYS = new Set([
  'fovea.source.namespace', 'fovea.source.workload.kind', 'fovea.source.workload.name',
  'fovea.destination.namespace', 'fovea.destination.workload.kind', 'fovea.destination.workload.name',
  'network.transport', 'fovea.server.port',
]);

/** A short name of a series: `web-1 transmit` (pod) or `web→db:5432` (pair), the other attributes' values appended. */
function label(a: Attributes): string {
  const keys = Object.keys(a);
  let base: string;
  let known: Set<string>;
  if (keys.includes('k8s.pod.name')) {
    base = String(a['k8s.pod.name']);
    known = POD_KEYS;
  } else {
    expect(a['network.transport']).toBe('tcp');
    base = `${String(a['fovea.source.workload.name'])}→${String(a['fovea.destination.workload.name'])}:${String(a['fovea.server.port'])}`;
    known = PAIR_KEYS;
  }
  const rest = keys.filter((k) => !known.has(k)).sort().map((k) => String(a[k]));
  return [base, ...rest].join(' ');
}

/** label → value of every series of one instrument (each label once). */
function view(fams: MetricFamily[], name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of fams.find((f) => f.instrument.name === name)?.series ?? []) {
    const l = label(s.attributes);
    expect(out, `two series labelled ${l} in ${name}`).not.toHaveProperty([l]);
    out[l] = s.value;
  }
  return out;
}

function histograms(fams: MetricFamily[], name: string): Record<string, { value: number; histogram?: HistogramPoint }> {
  return Object.fromEntries((fams.find((f) => f.instrument.name === name)?.series ?? [])
    .map((s) => [label(s.attributes), { value: s.value, histogram: s.histogram }]));
}

const zeros17 = (at: Record<number, number>): number[] => [...h(0, at).buckets];

// both ends on this node: web (client) → db:5432 (server)
const A = rec({
  local: WEB, remote: DB, side: CLIENT, retransSegs: 3, resetsSent: 1, opened: 4, failed: [2, 0, 0, 0], closed: 1,
  handshake: h(3_000_000, { 3: 4 }), rtt: h(800_000, { 2: 2, 3: 2 }),
});
const B = rec({
  local: DB, remote: WEB, side: SERVER, retransSegs: 2, resetsReceived: 1, opened: 4, failed: [0, 0, 0, 1], closed: 1,
  rtt: h(900_000, { 2: 1, 3: 3 }),
});

describe('TcpSeries: pod series', () => {
  it('own sockets: retransmits transmit, resets both ways, opened active/passive, failed, closed, handshake; towards a pod: receive', () => {
    const { s, tcp } = setup();
    tcp.conns = [A, B];
    const f = s.collect();
    // web retransmitted 3 (to db), db 2 (to web): each is the other's receive
    expect(view(f, 'fovea.pod.tcp.retransmits')).toEqual({
      'web-1 transmit': 3, 'db-1 transmit': 2, 'db-1 receive': 3, 'web-1 receive': 2,
    });
    expect(view(f, 'fovea.pod.tcp.resets')).toEqual({
      'web-1 transmit': 1, 'web-1 receive': 0, 'db-1 transmit': 0, 'db-1 receive': 1,
    });
    expect(view(f, 'fovea.pod.tcp.connections.opened')).toEqual({
      'web-1 active': 4, 'web-1 passive': 0, 'db-1 active': 0, 'db-1 passive': 4,
    });
    expect(view(f, 'fovea.pod.tcp.connections.failed')).toEqual({
      'web-1 reset': 2, 'web-1 timeout': 0, 'web-1 unreachable': 0, 'web-1 other': 0,
      'db-1 reset': 0, 'db-1 timeout': 0, 'db-1 unreachable': 0, 'db-1 other': 1,
    });
    expect(view(f, 'fovea.pod.tcp.connections.closed')).toEqual({ 'web-1': 1, 'db-1': 1 });
    // the server's record has no handshake sample: no series for db
    expect(histograms(f, 'fovea.pod.tcp.handshake.duration')).toEqual({
      'web-1': { value: 4, histogram: { boundaries: BOUNDS, counts: zeros17({ 3: 4 }), count: 4, sum: 0.003 } },
    });
    expect(f.map((x) => x.instrument.name).filter((n) => n.startsWith('fovea.pod.tcp.rtt'))).toEqual([]); // pods have no RTT family
    // the full attributes of a pod series
    const one = f.find((x) => x.instrument.name === 'fovea.pod.tcp.resets')!.series[0]!;
    expect(one.attributes).toEqual({
      'k8s.pod.uid': 'uid-web-1', 'k8s.pod.name': 'web-1', 'k8s.namespace.name': 'shop',
      'fovea.workload.kind': 'Deployment', 'fovea.workload.name': 'web', 'network.io.direction': 'transmit',
    });
  });

  it('state gauge per pod: summed over its network namespaces; CLOSE, unknown states and non-pod addresses left out', () => {
    const { s, tcp } = setup();
    const st = (local: string, state: number, sockets: number, netns = 1): TcpStateCount => ({ local, netns, state, ipVersion: 4, sockets, recordKey: `${local}/${netns}/${state}` });
    tcp.states = [
      st(WEB, 1, 2), st(WEB, 1, 1, 2), st(WEB, 10, 1), st(DB, 1, 5),
      st(DB, 7, 3),     // close
      st(DB, 12, 2),    // not a connection state
      st(NODE_IP, 1, 4), // the host (and a host-network pod's address): not a pod's
      st(API, 1, 6),    // a pod of another node: not counted here
    ];
    const f = s.collect();
    expect(view(f, 'fovea.pod.tcp.connections')).toEqual({ 'web-1 established': 3, 'web-1 listen': 1, 'db-1 established': 5 });
    expect(f.find((x) => x.instrument.name === 'fovea.pod.tcp.connections')!.instrument.kind).toBe('gauge');
    expect(f.find((x) => x.instrument.name === 'fovea.pod.tcp.connections')!.series[0]!.attributes).toEqual({
      'k8s.pod.uid': 'uid-web-1', 'k8s.pod.name': 'web-1', 'k8s.namespace.name': 'shop',
      'fovea.workload.kind': 'Deployment', 'fovea.workload.name': 'web', 'network.connection.state': 'established',
    });
  });
});

describe('TcpSeries: workload pairs', () => {
  it('both ends local: retransmits/resets from the sender; connections client → server counted once (client\'s record)', () => {
    const { s, tcp } = setup();
    tcp.conns = [A, B];
    const f = s.collect();
    expect(view(f, 'fovea.flow.tcp.retransmits')).toEqual({ 'web→db:5432': 3, 'db→web:5432': 2 });
    expect(view(f, 'fovea.flow.tcp.resets')).toEqual({ 'web→db:5432': 1, 'db→web:5432': 0 });
    expect(view(f, 'fovea.flow.tcp.connections.opened')).toEqual({ 'web→db:5432': 4 });
    expect(view(f, 'fovea.flow.tcp.connections.failed')).toEqual({
      'web→db:5432 reset': 2, 'web→db:5432 timeout': 0, 'web→db:5432 unreachable': 0, 'web→db:5432 other': 0,
    });
    expect(view(f, 'fovea.flow.tcp.connections.closed')).toEqual({ 'web→db:5432': 1 });
    expect(histograms(f, 'fovea.flow.tcp.handshake.duration')).toEqual({
      'web→db:5432': { value: 4, histogram: { boundaries: BOUNDS, counts: zeros17({ 3: 4 }), count: 4, sum: 0.003 } },
    });
    // the client's RTT samples only, not the server's as well
    expect(histograms(f, 'fovea.flow.tcp.rtt')).toEqual({
      'web→db:5432': { value: 4, histogram: { boundaries: BOUNDS, counts: zeros17({ 2: 2, 3: 2 }), count: 4, sum: 0.0008 } },
    });
    const one = f.find((x) => x.instrument.name === 'fovea.flow.tcp.retransmits')!.series[0]!;
    expect(one.attributes).toEqual({
      'fovea.source.namespace': 'shop', 'fovea.source.workload.kind': 'Deployment', 'fovea.source.workload.name': 'web',
      'fovea.destination.namespace': 'shop', 'fovea.destination.workload.kind': 'Deployment', 'fovea.destination.workload.name': 'db',
      'network.transport': 'tcp', 'fovea.server.port': 5432,
    });
  });

  it('a client outside the cluster: connections from the server\'s record; resets received from it count as sent by it', () => {
    const { s, tcp } = setup();
    tcp.conns = [
      // db serves a client on the internet
      rec({ local: DB, remote: EXTERNAL, side: SERVER, retransSegs: 5, resetsSent: 1, resetsReceived: 2, opened: 7, failed: [0, 0, 0, 1], closed: 6,
        rtt: h(7_000_000, { 3: 7 }) }),
      // web's socket to the internet, open before the agent started (side unknown: taken for the client)
      rec({ local: WEB, remote: EXTERNAL, side: UNKNOWN, serverPort: 443, retransSegs: 1, resetsReceived: 3, closed: 1 }),
    ];
    const f = s.collect();
    expect(view(f, 'fovea.pod.tcp.retransmits')).toEqual({ 'db-1 transmit': 5, 'web-1 transmit': 1 }); // no local pod at the other ends
    expect(view(f, 'fovea.pod.tcp.resets')).toEqual({
      'db-1 transmit': 1, 'db-1 receive': 2, 'web-1 transmit': 0, 'web-1 receive': 3,
    });
    expect(view(f, 'fovea.pod.tcp.connections.opened')).toMatchObject({ 'db-1 passive': 7, 'db-1 active': 0 });
    expect(view(f, 'fovea.flow.tcp.resets')).toEqual({
      'db→external:5432': 1, 'external→db:5432': 2, 'web→external:443': 0, 'external→web:443': 3,
    });
    const retrans = view(f, 'fovea.flow.tcp.retransmits');
    expect([retrans['db→external:5432'], retrans['web→external:443']]).toEqual([5, 1]);
    // the pair external → db from db's (the server's) record, once
    const opened = view(f, 'fovea.flow.tcp.connections.opened');
    expect(Object.keys(opened).filter((k) => k.startsWith('db→'))).toEqual([]);
    expect(opened['external→db:5432']).toBe(7);
    expect(view(f, 'fovea.flow.tcp.connections.closed')).toEqual({ 'external→db:5432': 6, 'web→external:443': 1 });
    expect(view(f, 'fovea.flow.tcp.connections.failed')).toMatchObject({ 'external→db:5432 other': 1, 'external→db:5432 reset': 0 });
    expect(histograms(f, 'fovea.flow.tcp.rtt')).toEqual({
      'external→db:5432': { value: 7, histogram: { boundaries: BOUNDS, counts: zeros17({ 3: 7 }), count: 7, sum: 0.007 } },
    });
    const fromInternet = f.find((x) => x.instrument.name === 'fovea.flow.tcp.resets')!.series.find((x) => label(x.attributes) === 'external→web:443')!;
    expect(fromInternet.attributes).toMatchObject({ 'fovea.source.namespace': '', 'fovea.source.workload.kind': 'External' });
  });

  it('a client pod on another node: its own node counts the pair (cluster-wide once); this node only the server pod\'s own figures', () => {
    const { s, tcp } = setup();
    tcp.conns = [
      rec({ local: DB, remote: API, side: SERVER, retransSegs: 5, resetsSent: 1, resetsReceived: 2, opened: 7, closed: 6, rtt: h(7_000_000, { 3: 7 }) }),
    ];
    const f = s.collect();
    expect(view(f, 'fovea.pod.tcp.connections.opened')).toMatchObject({ 'db-1 passive': 7 });
    expect(view(f, 'fovea.pod.tcp.resets')).toMatchObject({ 'db-1 transmit': 1, 'db-1 receive': 2 });
    // what db's socket sent is db's to count; what api did is api's node's
    expect(view(f, 'fovea.flow.tcp.resets')).toEqual({ 'db→api:5432': 1 });
    expect(view(f, 'fovea.flow.tcp.retransmits')).toEqual({ 'db→api:5432': 5 });
    expect(view(f, 'fovea.flow.tcp.connections.opened')).toEqual({});
    expect(histograms(f, 'fovea.flow.tcp.rtt')).toEqual({});
  });

  it('a peer on this node that is no pod (the host): its own record counts, so nothing is counted twice', () => {
    const { s, tcp } = setup();
    tcp.conns = [
      // a host process connects to web:8080 and gets 2 resets; web's socket sent them
      rec({ local: NODE_IP, remote: WEB, side: CLIENT, serverPort: 8080, resetsReceived: 2, opened: 1, netns: 0xf0000000 }),
      rec({ local: WEB, remote: NODE_IP, side: SERVER, serverPort: 8080, resetsSent: 2, opened: 1 }),
    ];
    const f = s.collect();
    expect(view(f, 'fovea.flow.tcp.resets')).toEqual({ 'n1→web:8080': 0, 'web→n1:8080': 2 });
    expect(view(f, 'fovea.flow.tcp.connections.opened')).toEqual({ 'n1→web:8080': 1 });
    // the host-network pod is not a pod here: no series of its own
    expect(view(f, 'fovea.pod.tcp.resets')).toEqual({ 'web-1 transmit': 2, 'web-1 receive': 0 });
    expect(view(f, 'fovea.pod.tcp.connections.opened')).toEqual({ 'web-1 active': 0, 'web-1 passive': 1 });
    expect(f.find((x) => x.instrument.name === 'fovea.flow.tcp.resets')!.series[0]!.attributes).toMatchObject({
      'fovea.source.namespace': '', 'fovea.source.workload.kind': 'Node', 'fovea.source.workload.name': 'n1',
    });
  });

  it('counted once also when the client\'s record is deleted (idle) before the server\'s', () => {
    // A host-network client (say an ingress on the node's address) keeps a connection to web open:
    // its own record stops changing (no new connects, nothing retransmitted) and the probe deletes
    // it after the idle timeout, while web's record of the same connection still changes
    // (web retransmits). The connection was counted from the client's record; it must not be
    // counted again from the server's now.
    const { s, tcp, at } = setup();
    // n1 sent web one reset on another connection of the pair (web received it)
    const E = rec({ local: NODE_IP, remote: WEB, side: CLIENT, serverPort: 8080, opened: 1, resetsSent: 1, netns: 0xf0000000 });
    const F = rec({ local: WEB, remote: NODE_IP, side: SERVER, serverPort: 8080, opened: 1, resetsReceived: 1, retransSegs: 1 });
    tcp.conns = [E, F];
    at(1_000);
    let f = s.collect();
    expect(view(f, 'fovea.flow.tcp.connections.opened')).toEqual({ 'n1→web:8080': 1 });
    expect(view(f, 'fovea.flow.tcp.resets')).toEqual({ 'n1→web:8080': 1, 'web→n1:8080': 0 });
    tcp.conns = [{ ...F, retransSegs: 2 }]; // E deleted as idle; F changed
    at(2_000);
    f = s.collect();
    const opened = view(f, 'fovea.flow.tcp.connections.opened');
    expect.soft(opened['n1→web:8080'], 'connections n1 → web').toBe(1);
    expect.soft(view(f, 'fovea.flow.tcp.resets')['n1→web:8080'], 'resets n1 → web').toBe(1);
  });
});

describe('TcpSeries: records that end', () => {
  it('series of a vanished record keep its totals (retired), then end seriesTtlMs after their last change', () => {
    const { s, tcp, at } = setup(60_000);
    const A2 = { ...A, netns: 2, retransSegs: 10, recordKey: `${A.recordKey}/netns2` }; // the same pair from another netns
    tcp.conns = [A, A2, B];
    at(1_000);
    let f = s.collect();
    expect(view(f, 'fovea.pod.tcp.retransmits')).toEqual({ 'web-1 transmit': 13, 'db-1 transmit': 2, 'db-1 receive': 13, 'web-1 receive': 2 });
    expect(view(f, 'fovea.flow.tcp.connections.opened')).toEqual({ 'web→db:5432': 8 });

    tcp.conns = [{ ...A2, retransSegs: 11 }, B]; // A deleted (idle): its 3 stay
    at(2_000);
    f = s.collect();
    expect(view(f, 'fovea.pod.tcp.retransmits')).toEqual({ 'web-1 transmit': 14, 'db-1 transmit': 2, 'db-1 receive': 14, 'web-1 receive': 2 });
    expect(view(f, 'fovea.flow.tcp.retransmits')).toEqual({ 'web→db:5432': 14, 'db→web:5432': 2 });
    expect(view(f, 'fovea.flow.tcp.connections.opened')).toEqual({ 'web→db:5432': 8 });

    tcp.conns = []; // all gone
    at(3_000);
    f = s.collect();
    expect(view(f, 'fovea.pod.tcp.retransmits')).toEqual({ 'web-1 transmit': 14, 'db-1 transmit': 2, 'db-1 receive': 14, 'web-1 receive': 2 });
    expect(view(f, 'fovea.flow.tcp.retransmits')).toEqual({ 'web→db:5432': 14, 'db→web:5432': 2 });
    expect(histograms(f, 'fovea.flow.tcp.handshake.duration')['web→db:5432']!.value).toBe(8);

    at(60_999); // B's series last changed at 1 000, web's at 2 000
    f = s.collect();
    expect(view(f, 'fovea.pod.tcp.retransmits')).toEqual({ 'web-1 transmit': 14, 'db-1 transmit': 2, 'db-1 receive': 14, 'web-1 receive': 2 });
    at(61_000);
    f = s.collect();
    expect(view(f, 'fovea.pod.tcp.retransmits')).toEqual({ 'web-1 transmit': 14, 'db-1 receive': 14 });
    expect(view(f, 'fovea.flow.tcp.retransmits')).toEqual({ 'web→db:5432': 14 });
    expect(view(f, 'fovea.pod.tcp.connections.closed')).toEqual({ 'web-1': 2 });
    at(62_000);
    expect(s.collect()).toEqual([]);

    // the record again after its series ended: a new series from its own count
    tcp.conns = [B];
    at(63_000);
    expect(view(s.collect(), 'fovea.pod.tcp.retransmits')).toEqual({ 'db-1 transmit': 2, 'web-1 receive': 2 });
  });
});

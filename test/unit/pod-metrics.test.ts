/**
 * The identity stage with fake probe readings and a static identity: pod traffic direction,
 * counting flows once, monotonic series across ended records, TTL of deleted pods' series.
 */
import { describe, expect, it } from 'vitest';
import { StaticIdentity } from '../../src/k8s/static.js';
import type { PodInfo } from '../../src/k8s/types.js';
import { RecordAccumulator, VectorAccumulator } from '../../src/pods/accumulator.js';
import { serverPort } from '../../src/pods/endpoints.js';
import { PodMetrics, type DropReadings, type TrafficReadings } from '../../src/pods/pod-metrics.js';
import { DropReasons } from '../../src/probes/drop/reasons.js';
import type { DropFlow, PodDropCount } from '../../src/probes/drop/layout.js';
import { packDropFlows } from '../helpers/drop-flows.js';
import { FLOW_KEY, FLOW_VALUE, FlowView, type FlowRecord, type InterfaceCount } from '../../src/probes/traffic/layout.js';
import { encodeIp } from '../../src/probes/addresses.js';
import type { MetricFamily } from '../../src/probes/types.js';

const pod = (name: string, ip: string, workload: string, ns = 'shop'): PodInfo => ({
  uid: `uid-${name}`, name, namespace: ns, nodeName: 'n1', ips: [ip], hostNetwork: false,
  workload: { kind: 'Deployment', name: workload }, phase: 'Running',
});
const web = pod('web-1', '10.0.0.10', 'web');
const db = pod('db-1', '10.0.0.11', 'db');
const remote = { ...pod('api-1', '10.1.0.5', 'api', 'backend'), nodeName: 'n2' };

function flow(p: Partial<FlowRecord> & Pick<FlowRecord, 'src' | 'dst' | 'ifindex' | 'direction'>): FlowRecord {
  return {
    sport: 40000, dport: 5432, proto: 6, ipVersion: 4, packets: 10n, bytes: 1000n,
    firstSeenNs: 1n, lastSeenNs: 1_000_000_000n, tcpFlags: 0x18,
    key: Buffer.from(`${p.src}|${p.dst}|${p.ifindex}|${p.direction}|${p.sport ?? 40000}`), ...p,
  };
}

/** Packs records the way the kernel's traffic_flows map is read (struct flow_key / flow_value). */
function flowKey(r: FlowRecord): Buffer {
  const k = Buffer.alloc(FLOW_KEY.size);
  encodeIp(r.src).copy(k, FLOW_KEY.src);
  encodeIp(r.dst).copy(k, FLOW_KEY.dst);
  k.writeUInt16BE(r.sport, FLOW_KEY.sport);
  k.writeUInt16BE(r.dport, FLOW_KEY.dport);
  k.writeUInt32LE(r.ifindex, FLOW_KEY.ifindex);
  k[FLOW_KEY.proto] = r.proto;
  k[FLOW_KEY.ipVersion] = r.ipVersion;
  k[FLOW_KEY.direction] = r.direction;
  return k;
}

class FakeTraffic implements TrafficReadings {
  counts: InterfaceCount[] = [];
  flows: FlowRecord[] = [];
  deleted: Buffer[] = [];
  interfaceCounts() { return this.counts; }
  flowView() {
    const keys = Buffer.concat(this.flows.map(flowKey));
    const values = Buffer.concat(this.flows.map((r) => {
      const v = Buffer.alloc(FLOW_VALUE.size);
      v.writeBigUInt64LE(r.packets, FLOW_VALUE.packets);
      v.writeBigUInt64LE(r.bytes, FLOW_VALUE.bytes);
      v.writeBigUInt64LE(r.firstSeenNs, FLOW_VALUE.firstSeenNs);
      v.writeBigUInt64LE(r.lastSeenNs, FLOW_VALUE.lastSeenNs);
      v[FLOW_VALUE.tcpFlags] = r.tcpFlags;
      return v;
    }));
    return new FlowView({ count: this.flows.length, keys, values, keySize: FLOW_KEY.size, valueStride: FLOW_VALUE.size, cpus: 1 });
  }
  deleteFlows(keys: readonly Buffer[]) {
    this.deleted.push(...keys);
    const gone = new Set(keys.map((k) => k.toString('hex')));
    this.flows = this.flows.filter((f) => !gone.has(flowKey(f).toString('hex')));
  }
  flowStats(live: number) { return { created: 0, deleted: this.deleted.length, live, evicted: 0 }; }
}

class FakeDrop implements DropReadings {
  addresses = new Map<string, number>();
  pods: PodDropCount[] = [];
  flows: DropFlow[] = [];
  deletedPods: number[] = [];
  setPodAddresses(m: ReadonlyMap<string, number>) { this.addresses = new Map(m); }
  readPodDrops() { return this.pods; }
  dropFlowView() { return packDropFlows(this.flows); }
  deleteDropFlows() {}
  deletePodDrops(id: number) { this.deletedPods.push(id); this.pods = this.pods.filter((p) => p.podId !== id); }
  reasonNames() { return new DropReasons([[{ name: 'SKB_DROP_REASON_NETFILTER_DROP', value: 12 }]]); }
}

function series(fams: MetricFamily[], name: string) {
  return fams.find((f) => f.instrument.name === name)?.series ?? [];
}

function setup(opts: { ttl?: number; monoNs?: () => bigint } = {}) {
  let now = 1_000;
  const identity = new StaticIdentity({ nodeName: 'n1', pods: [web, db, remote] });
  const traffic = new FakeTraffic();
  const drop = new FakeDrop();
  const ifaces = new Map<number, PodInfo>([[21, web], [22, db]]);
  const m = new PodMetrics({
    identity, traffic, drop, podInterfaces: () => ifaces,
    settings: { seriesTtlMs: opts.ttl ?? 60_000, flowIdleTimeoutMs: 30_000, podNames: false, addresses: false, clientPorts: false },
    now: () => now, monotonicNs: opts.monoNs ?? (() => 2_000_000_000n),
  });
  return { m, identity, traffic, drop, ifaces, tick: (ms: number) => { now += ms; } };
}

describe('RecordAccumulator', () => {
  it('keeps a series monotonic when its records end, and ends it after the TTL', () => {
    const a = new RecordAccumulator(1000);
    const r = (key: string, packets: number) => ({ recordKey: key, seriesKey: 's', attributes: { s: 1 }, packets, bytes: packets * 10 });
    expect(a.update([r('a', 5), r('b', 3)], 0)).toEqual([{ attributes: { s: 1 }, packets: 8, bytes: 80 }]);
    expect(a.update([r('b', 4)], 100)).toEqual([{ attributes: { s: 1 }, packets: 9, bytes: 90 }]); // a ended at 5
    expect(a.update([], 200)).toEqual([{ attributes: { s: 1 }, packets: 9, bytes: 90 }]);
    expect(a.update([], 1099)).toEqual([{ attributes: { s: 1 }, packets: 9, bytes: 90 }]); // unchanged since 100: not 1000 ms yet
    expect(a.update([], 1200)).toEqual([]);
    expect(a.size).toBe(0);
  });

  it('a record re-created under the same key (its count went down) keeps what it had', () => {
    const a = new RecordAccumulator(1000);
    const r = (packets: number) => ({ recordKey: 'k', seriesKey: 's', attributes: {}, packets, bytes: 0 });
    a.update([r(10)], 0);
    expect(a.update([r(2)], 1)[0]!.packets).toBe(12);
  });
});

describe('VectorAccumulator', () => {
  const r = (recordKey: string, values: number[], seriesKey = 's') => ({ recordKey, seriesKey, attributes: { s: seriesKey }, values });

  it('sums every component over live records, keeps ended records retired, ends the series after the TTL', () => {
    const a = new VectorAccumulator(1000);
    expect(a.update([r('a', [1, 10, 0]), r('b', [2, 20, 5])], 0)).toEqual([{ attributes: { s: 's' }, values: [3, 30, 5] }]);
    expect(a.update([r('b', [4, 21, 5])], 100)).toEqual([{ attributes: { s: 's' }, values: [5, 31, 5] }]); // a ended at [1, 10, 0]
    expect(a.update([], 200)).toEqual([{ attributes: { s: 's' }, values: [5, 31, 5] }]);
    expect(a.update([], 1099)).toEqual([{ attributes: { s: 's' }, values: [5, 31, 5] }]); // unchanged since 100: not 1000 ms yet
    expect(a.update([], 1100)).toEqual([]);
    expect(a.size).toBe(0);
  });

  it('a record re-created under the same key: one component going down is enough to keep what it had', () => {
    const a = new VectorAccumulator(1000);
    a.update([r('k', [5, 10, 3])], 0);
    expect(a.update([r('k', [6, 2, 3])], 1)[0]!.values).toEqual([11, 12, 6]);
    expect(a.update([r('k', [7, 4, 3])], 2)[0]!.values).toEqual([12, 14, 6]); // grows from there
  });

  it('series are independent; a record moving to another series leaves its count behind and adds to the new one', () => {
    const a = new VectorAccumulator(1000);
    expect(a.update([r('x', [1, 1], 'p'), r('y', [2, 2], 'q')], 0)).toEqual([
      { attributes: { s: 'p' }, values: [1, 1] }, { attributes: { s: 'q' }, values: [2, 2] },
    ]);
    // x now belongs to q (its pod's identity changed): p keeps x's [1, 1], q counts x from its current value
    expect(a.update([r('x', [3, 3], 'q'), r('y', [2, 2], 'q')], 10)).toEqual([
      { attributes: { s: 'p' }, values: [1, 1] }, { attributes: { s: 'q' }, values: [5, 5] },
    ]);
    expect(a.update([r('x', [3, 3], 'q'), r('y', [2, 2], 'q')], 1000)).toEqual([{ attributes: { s: 'q' }, values: [5, 5] }]); // p: no record since 10
  });

  it('an infinite TTL never ends a series (the node level)', () => {
    const a = new VectorAccumulator(Number.POSITIVE_INFINITY);
    a.update([r('a', [1])], 0);
    expect(a.update([], Number.MAX_SAFE_INTEGER)).toEqual([{ attributes: { s: 's' }, values: [1] }]);
  });
});

describe('serverPort', () => {
  it('the port below the ephemeral range, else the lower one; none for ICMP', () => {
    expect(serverPort(6, 40000, 5432)).toEqual({ server: 5432, client: 40000, serverIsDestination: true });
    expect(serverPort(6, 443, 51000)).toEqual({ server: 443, client: 51000, serverIsDestination: false });
    expect(serverPort(17, 5353, 53)).toMatchObject({ server: 53 });
    expect(serverPort(1, 0, 0)).toEqual({ server: 0, client: 0, serverIsDestination: true });
  });
});

describe('PodMetrics', () => {
  it('pod traffic: host-side receive is the pod transmitting; identity attributes on the points', () => {
    const { m, traffic } = setup();
    traffic.counts = [{ ifindex: 21, rxPackets: 5n, rxBytes: 500n, txPackets: 7n, txBytes: 700n },
      { ifindex: 99, rxPackets: 1n, rxBytes: 1n, txPackets: 1n, txBytes: 1n }]; // not a pod interface
    const s = series(m.collect(), 'fovea.pod.network.packets');
    expect(s).toHaveLength(2);
    expect(s.find((x) => x.attributes['network.io.direction'] === 'transmit')).toEqual({
      attributes: {
        'k8s.pod.uid': 'uid-web-1', 'k8s.pod.name': 'web-1', 'k8s.namespace.name': 'shop',
        'fovea.workload.kind': 'Deployment', 'fovea.workload.name': 'web', 'network.io.direction': 'transmit',
      },
      value: 5,
    });
    expect(s.find((x) => x.attributes['network.io.direction'] === 'receive')!.value).toBe(7);
  });

  it('a packet counts once in workload-to-workload flows, cluster-wide: at its sender pod\'s veth; at the receiver only when the sender is no pod', () => {
    const { m, traffic } = setup();
    traffic.flows = [
      flow({ src: web.ips[0]!, dst: db.ips[0]!, ifindex: 21, direction: 0 }), // web's veth: web sent
      flow({ src: web.ips[0]!, dst: db.ips[0]!, ifindex: 22, direction: 1 }), // db's veth: db received (same packets)
      // from a pod on another node: that node's agent counts them at the sender's veth
      flow({ src: remote.ips[0]!, dst: db.ips[0]!, ifindex: 22, direction: 1, packets: 3n, bytes: 300n, sport: 41000 }),
      // from outside the cluster: only the receiver's veth sees them
      flow({ src: '203.0.113.7', dst: db.ips[0]!, ifindex: 22, direction: 1, packets: 4n, bytes: 400n, sport: 41001 }),
    ];
    const s = series(m.collect(), 'fovea.flow.packets');
    const webToDb = s.filter((x) => x.attributes['fovea.source.workload.name'] === 'web');
    expect(webToDb).toHaveLength(1);
    expect(webToDb[0]!.value).toBe(10);
    expect(webToDb[0]!.attributes).toMatchObject({
      'fovea.source.namespace': 'shop', 'fovea.destination.workload.name': 'db', 'fovea.destination.workload.kind': 'Deployment',
      'network.transport': 'tcp', 'fovea.server.port': 5432,
    });
    expect(s.find((x) => x.attributes['fovea.source.workload.name'] === 'api')).toBeUndefined();
    const extToDb = s.find((x) => x.attributes['fovea.source.workload.kind'] === 'External');
    expect(extToDb?.value).toBe(4);
    expect(extToDb?.attributes['fovea.destination.workload.name']).toBe('db');
  });

  it('flows idle longer than the timeout are deleted and their totals stay in the series', () => {
    let mono = 10_000_000_000n; // 10 s
    const { m, traffic } = setup({ monoNs: () => mono });
    const a = flow({ src: web.ips[0]!, dst: '8.8.8.8', ifindex: 21, direction: 0, lastSeenNs: 9_000_000_000n, sport: 40001 });
    const b = flow({ src: web.ips[0]!, dst: '8.8.8.8', ifindex: 21, direction: 0, lastSeenNs: 9_000_000_000n, sport: 40002, packets: 5n });
    traffic.flows = [a, b];
    let s = series(m.collect(), 'fovea.flow.packets');
    expect(s).toHaveLength(1); // both 5-tuples are one workload pair (client ports are not a label by default)
    expect(s[0]!.value).toBe(15);
    expect(s[0]!.attributes['fovea.destination.workload.kind']).toBe('External');
    expect(traffic.deleted).toHaveLength(0);
    mono = 40_000_000_000n; // 31 s after their last packet: idle
    expect(series(m.collect(), 'fovea.flow.packets')[0]!.value).toBe(15);
    expect(traffic.deleted).toHaveLength(2);
    expect(traffic.flows).toHaveLength(0);
    s = series(m.collect(), 'fovea.flow.packets'); // records gone, totals retired into the series
    expect(s[0]!.value).toBe(15);
  });

  it('registers local pod addresses with the drop probe and attributes pod drops with reason and direction', () => {
    const { m, drop } = setup();
    m.syncPods();
    expect([...drop.addresses]).toEqual([['10.0.0.10', 1], ['10.0.0.11', 2]]); // the remote pod is not local
    drop.pods = [
      { podId: 1, reason: 12, side: 0, transport: 2, ipVersion: 4, packets: 100n, bytes: 8000n },
      { podId: 2, reason: 12, side: 1, transport: 2, ipVersion: 4, packets: 100n, bytes: 8000n },
    ];
    drop.flows = [{ src: '10.0.0.10', dst: '10.0.0.11', sport: 50000, dport: 7777, reason: 12, proto: 17, ipVersion: 4, packets: 100n, bytes: 8000n, key: Buffer.from('k1') }];
    const fams = m.collect();
    const pd = series(fams, 'fovea.pod.network.drop.packets');
    expect(pd.find((x) => x.attributes['k8s.pod.name'] === 'web-1')).toEqual({
      attributes: {
        'k8s.pod.uid': 'uid-web-1', 'k8s.pod.name': 'web-1', 'k8s.namespace.name': 'shop', 'fovea.workload.kind': 'Deployment',
        'fovea.workload.name': 'web', 'fovea.drop.reason': 'NETFILTER_DROP', 'network.io.direction': 'transmit',
        'network.transport': 'udp', 'network.type': 'ipv4',
      },
      value: 100,
    });
    expect(pd.find((x) => x.attributes['k8s.pod.name'] === 'db-1')!.attributes['network.io.direction']).toBe('receive');
    const fd = series(fams, 'fovea.flow.drop.packets');
    expect(fd).toEqual([{
      attributes: expect.objectContaining({
        'fovea.source.workload.name': 'web', 'fovea.destination.workload.name': 'db', 'fovea.drop.reason': 'NETFILTER_DROP',
        'fovea.server.port': 7777, 'network.transport': 'udp',
      }),
      value: 100,
    }]);
  });

  it('a deleted pod: its series keep their last values for the TTL, then vanish; its kernel keys are deleted', () => {
    const { m, identity, traffic, drop, ifaces, tick } = setup({ ttl: 5_000 });
    m.syncPods();
    traffic.counts = [{ ifindex: 21, rxPackets: 5n, rxBytes: 500n, txPackets: 7n, txBytes: 700n }];
    drop.pods = [{ podId: 1, reason: 12, side: 0, transport: 2, ipVersion: 4, packets: 3n, bytes: 30n }];
    expect(series(m.collect(), 'fovea.pod.network.packets')).toHaveLength(2);
    // the pod is deleted: its veth goes, the identity forgets it
    identity.deletePod(web.uid);
    ifaces.delete(21);
    traffic.counts = [];
    tick(1_000);
    m.syncPods();
    let fams = m.collect();
    expect(series(fams, 'fovea.pod.network.packets').map((s) => s.value).sort()).toEqual([5, 7]); // last values, kept
    expect(series(fams, 'fovea.pod.network.drop.packets')).toHaveLength(1);
    tick(5_000);
    m.syncPods();
    fams = m.collect();
    expect(series(fams, 'fovea.pod.network.packets')).toEqual([]);
    expect(series(fams, 'fovea.pod.network.drop.packets')).toEqual([]);
    expect(drop.deletedPods).toEqual([1]);
    expect([...drop.addresses.keys()]).toEqual(['10.0.0.11']);
  });
});

/**
 * `fovea.flow.drop.*` from the dropped 5-tuples, kept record by record (src/pods/drop-flow-series.ts),
 * against the form it replaced (every record decoded, its attributes and their JSON built, fed to a
 * RecordAccumulator at every export): the same series, values, attribute order and series order, and
 * the same records deleted as idle, over seeded random tables whose records grow, are re-created,
 * leave, go idle, and whose ends change identity between exports.
 */
import type { Attributes } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { StaticIdentity } from '../../src/k8s/static.js';
import type { IdentitySource, PodInfo } from '../../src/k8s/types.js';
import { ATTR, INSTRUMENTS } from '../../src/names.js';
import { RecordAccumulator, type RecordReading } from '../../src/pods/accumulator.js';
import { DropFlowSeries } from '../../src/pods/drop-flow-series.js';
import { pairAttributes, serverPort } from '../../src/pods/endpoints.js';
import { PodMetrics, type DropReadings, type PodMetricsSettings } from '../../src/pods/pod-metrics.js';
import { decodeDropFlows, type DropFlow, type PodDropCount } from '../../src/probes/drop/layout.js';
import { DropReasons } from '../../src/probes/drop/reasons.js';
import { packDropFlows } from '../helpers/drop-flows.js';
import { prng } from '../helpers/prng.js';

const TRANSPORT: Record<number, string> = { 6: 'tcp', 17: 'udp', 1: 'icmp', 58: 'icmp' };

/** The replaced implementation (pod-metrics.ts before), kept as the reference. */
class ReferenceDropFlows {
  private readonly acc: RecordAccumulator;
  private readonly seen = new Map<string, { packets: bigint; at: number }>();
  constructor(private readonly identity: IdentitySource, private readonly settings: PodMetricsSettings, private readonly reasons: DropReasons | undefined) {
    this.acc = new RecordAccumulator(settings.seriesTtlMs);
  }

  private flowAttributes(src: string, dst: string, proto: number, sport: number, dport: number, extra: Attributes): Attributes {
    const ports = serverPort(proto, sport, dport);
    const a: Attributes = {
      ...pairAttributes(this.identity, this.settings, src, dst),
      [ATTR.transport]: TRANSPORT[proto] ?? 'other',
      [ATTR.serverPort]: ports.server,
      ...extra,
    };
    if (this.settings.clientPorts && ports.client) a[ATTR.clientPort] = ports.client;
    return a;
  }

  update(flows: readonly DropFlow[], now: number): { series: { attributes: Attributes; packets: number; bytes: number }[]; idle: Buffer[] } {
    const readings: RecordReading[] = [];
    const idle: Buffer[] = [];
    const seen = new Set<string>();
    for (const f of flows) {
      const key = f.key.toString('hex');
      seen.add(key);
      const prev = this.seen.get(key);
      if (!prev || prev.packets !== f.packets) this.seen.set(key, { packets: f.packets, at: now });
      else if (now - prev.at > this.settings.flowIdleTimeoutMs) idle.push(f.key);
      const attributes = this.flowAttributes(f.src, f.dst, f.proto, f.sport, f.dport, {
        [ATTR.dropReason]: this.reasons?.name(f.reason) ?? `UNKNOWN_${f.reason}`,
      });
      readings.push({ recordKey: key, seriesKey: JSON.stringify(Object.entries(attributes).sort()), attributes, packets: Number(f.packets), bytes: Number(f.bytes) });
    }
    for (const k of this.seen.keys()) if (!seen.has(k)) this.seen.delete(k);
    const series = this.acc.update(readings, now);
    for (const k of idle) this.seen.delete(k.toString('hex'));
    return { series, idle };
  }
}

const pod = (name: string, ip: string, workload: string, ns = 'shop', node = 'n1'): PodInfo => ({
  uid: `uid-${name}`, name, namespace: ns, nodeName: node, ips: [ip], hostNetwork: false,
  workload: { kind: 'Deployment', name: workload }, phase: 'Running',
});


const IPS = ['10.0.0.10', '10.0.0.11', '10.0.0.12', '10.1.0.5', '192.0.2.7', '2001:db8::5'];
const REASONS = [2, 12, 77, 999];

function keyOf(f: Omit<DropFlow, 'key' | 'packets' | 'bytes'>): Buffer {
  return packDropFlows([{ ...f, packets: 0n, bytes: 0n, key: Buffer.alloc(0) }]).key(0);
}

function run(seed: number, settings: PodMetricsSettings): void {
  const r = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const identity = new StaticIdentity({
    nodeName: 'n1',
    pods: [pod('web-1', IPS[0]!, 'web'), pod('web-2', IPS[1]!, 'web'), pod('db-1', IPS[2]!, 'db'), pod('api-1', IPS[3]!, 'api', 'backend', 'n2')],
    services: [],
  });
  const reasons = new DropReasons([[{ name: 'SKB_DROP_REASON_NO_SOCKET', value: 2 }, { name: 'SKB_DROP_REASON_NETFILTER_DROP', value: 12 }, { name: 'SKB_DROP_REASON_QUEUE_PURGE', value: 77 }]]);
  let now = 1_000;
  let kernel: DropFlow[] = [];
  const drop: DropReadings = {
    setPodAddresses() {}, readPodDrops: (): PodDropCount[] => [], deletePodDrops() {}, reasonNames: () => reasons,
    dropFlowView: () => packDropFlows(kernel),
    deleteDropFlows(keys) {
      deleted = keys.map((k) => k.toString('hex'));
    },
  };
  let deleted: string[] = [];
  const m = new PodMetrics({ identity, drop, podInterfaces: () => new Map(), settings, now: () => now });
  const ref = new ReferenceDropFlows(identity, settings, reasons);
  for (let step = 0; step < 120; step++) {
    // the kernel table changes: new records, growing ones, re-created ones (count down), ones that leave
    const next: DropFlow[] = [];
    for (const f of kernel) {
      const x = r();
      if (x < 0.08) continue; // evicted
      if (x < 0.12) { next.push({ ...f, packets: 1n, bytes: 60n }); continue; } // re-created
      if (x < 0.5) { const d = BigInt(1 + Math.floor(r() * 5)); next.push({ ...f, packets: f.packets + d, bytes: f.bytes + d * 100n }); continue; }
      next.push(f);
    }
    const adds = Math.floor(r() * 6);
    for (let i = 0; i < adds; i++) {
      const v6 = r() < 0.15;
      const src = v6 ? IPS[5]! : pick(IPS.slice(0, 5));
      const dst = v6 ? IPS[5]! : pick(IPS.slice(0, 5));
      const proto = pick([6, 6, 17, 1, 47]);
      // now and then an IPv4 address under ipVersion 6 (its text is then the mapped IPv6 form)
      const base = { src, dst, sport: pick([80, 443, 40000, 50000, 6000]), dport: pick([80, 5432, 40001, 33000]), reason: pick(REASONS), proto, ipVersion: v6 || r() < 0.1 ? 6 : 4 };
      const key = keyOf(base);
      if (next.some((f) => f.key.equals(key))) continue;
      const p = BigInt(1 + Math.floor(r() * 9));
      next.push({ ...base, packets: p, bytes: p * 70n, key });
    }
    // shuffle a little: the kernel's order is not stable either
    if (r() < 0.3) next.reverse();
    kernel = next;
    // identity changes between exports
    const y = r();
    if (y < 0.05) identity.upsertPod(pod('web-2', IPS[1]!, 'web-v2'));
    else if (y < 0.08) identity.deletePod('uid-db-1');
    else if (y < 0.11) identity.upsertPod(pod('db-1', IPS[2]!, 'db'));
    else if (y < 0.13) identity.upsertService({ uid: 'svc-1', name: 'front', namespace: 'shop', clusterIPs: [IPS[4]!] });
    else if (y < 0.15) identity.deleteService('svc-1');

    deleted = [];
    // the reference read what the probe decoded from the kernel's bytes (readDropFlows)
    const want = ref.update(decodeDropFlows(packDropFlows(kernel).snap), now);
    const fams = m.collect();
    const packets = fams.find((f) => f.instrument.name === INSTRUMENTS.flowDropPackets.name)!.series;
    const bytes = fams.find((f) => f.instrument.name === INSTRUMENTS.flowDropBytes.name)!.series;
    // same series in the same order, same attribute order, same values
    expect(JSON.stringify(packets.map((s) => [s.attributes, s.value]))).toBe(JSON.stringify(want.series.map((s) => [s.attributes, s.packets])));
    expect(JSON.stringify(bytes.map((s) => [s.attributes, s.value]))).toBe(JSON.stringify(want.series.map((s) => [s.attributes, s.bytes])));
    expect(deleted.sort()).toEqual(want.idle.map((k) => k.toString('hex')).sort());
    // the kernel forgets the idle records (not always at once: a deletion may fail)
    if (r() < 0.9) { const gone = new Set(deleted); kernel = kernel.filter((f) => !gone.has(f.key.toString('hex'))); }
    now += pick([500, 1_000, 1_000, 5_000, 20_000]);
  }
}

describe('DropFlowSeries', () => {
  const base: PodMetricsSettings = { seriesTtlMs: 30_000, flowIdleTimeoutMs: 10_000, podNames: false, addresses: false, clientPorts: false };
  for (const [name, settings] of [
    ['workload attributes (defaults)', base],
    ['pod names, addresses and client ports', { ...base, podNames: true, addresses: true, clientPorts: true }],
    ['pod names only, short TTL and idle timeout', { ...base, podNames: true, seriesTtlMs: 2_000, flowIdleTimeoutMs: 1_500 }],
  ] as const) {
    it(`gives what the per-record readings gave (${name}), over seeded random tables`, () => {
      for (let seed = 1; seed <= 25; seed++) run(seed, settings);
    });
  }

  it('costs one lookup for a record that did not change: nothing is rebuilt', () => {
    const s = new DropFlowSeries(60_000, 60_000);
    const flows: DropFlow[] = [];
    for (let i = 0; i < 100; i++) {
      const b = { src: '10.0.0.1', dst: '10.0.0.2', sport: 1000 + i, dport: 80, reason: 2, proto: 6, ipVersion: 4 };
      flows.push({ ...b, packets: 1n, bytes: 60n, key: keyOf(b) });
    }
    let labels = 0;
    let attrs = 0;
    const c = {
      addressLabel: () => { labels++; return 'x'; },
      reasonName: () => 'NO_SOCKET',
      rest: (v: ReturnType<typeof packDropFlows>, i: number) => String(v.sport(i) % 2),
      attributes: () => { attrs++; return {}; },
    };
    expect(s.update(packDropFlows(flows), c, 0).series.map((x) => x.packets)).toEqual([50, 50]);
    expect(attrs).toBe(2);
    expect(s.update(packDropFlows(flows), c, 1).series.map((x) => x.packets)).toEqual([50, 50]);
    expect(attrs).toBe(2); // no series built again
    expect(labels).toBe(4); // two addresses, once per update
    expect(s.tracked).toBe(100);
  });
});

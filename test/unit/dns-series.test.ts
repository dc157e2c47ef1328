/** DNS series (node, pod roles, pairs counted once), timeouts swept from the kernel, idle records, and DNS events. */
import { describe, expect, it } from 'vitest';
import { DnsEventSource } from '../../src/events/dns-events.js';
import { wireName } from '../../src/dns/message.js';
import { StaticIdentity } from '../../src/k8s/static.js';
import type { PodInfo } from '../../src/k8s/types.js';
import { DnsSeries } from '../../src/pods/dns-series.js';
import { DNS_VIEW, type DnsPendingQuery, type DnsRecord, type RawDnsEvent } from '../../src/probes/dns/layout.js';
import type { MetricFamily } from '../../src/probes/types.js';

const pod = (name: string, ip: string, node = 'n1'): PodInfo => ({
  uid: `uid-${name}`, name, namespace: 'shop', nodeName: node, ips: [ip], hostNetwork: false,
  workload: { kind: 'Deployment', name }, phase: 'Running',
});
const identity = new StaticIdentity({ nodeName: 'n1', pods: [pod('web', '10.0.0.1'), pod('coredns', '10.0.0.53'), pod('far', '10.1.0.9', 'n2')] });

function rec(over: Partial<DnsRecord>): DnsRecord {
  const responses = new Array<number>(16).fill(0);
  return {
    client: '10.0.0.1', server: '10.0.0.53', qtype: 1, view: DNS_VIEW.client, proto: 17, ipVersion: 4,
    queries: 0, responses, empty: 0, unmatched: 0, latencyCount: 0, latencySumNs: 0, latencyBuckets: new Array<number>(17).fill(0),
    recordKey: 'k', ...over,
  };
}
const pending = (over: Partial<DnsPendingQuery>): DnsPendingQuery => ({
  client: '10.0.0.1', server: '10.0.0.53', clientPort: 40000, id: 7, view: DNS_VIEW.client, proto: 17, ipVersion: 4,
  sentNs: 1_000_000_000n, ifindex: 5, qtype: 1, name: Buffer.from([3, 0x61, 0x70, 0x69, 4, 0x73, 0x68, 0x6f, 0x70, 0]), key: Buffer.from('aa', 'hex'), ...over,
});

function fake(records: () => DnsRecord[], timeouts: DnsPendingQuery[] = []) {
  const deleted: string[] = [];
  const swept: bigint[] = [];
  return {
    deleted, swept,
    readings: {
      readStats: records,
      sweep: (before: bigint) => { swept.push(before); return timeouts.splice(0); },
      deleteStats: (keys: readonly Buffer[]) => { for (const k of keys) deleted.push(k.toString('hex')); },
    },
  };
}
const value = (fams: MetricFamily[], name: string, match: Record<string, unknown>): number | undefined => {
  const f = fams.find((x) => x.instrument.name === name);
  const s = f?.series.filter((x) => Object.entries(match).every(([k, v]) => x.attributes[k] === v));
  return s && s.length ? s.reduce((a, x) => a + x.value, 0) : undefined;
};
const settings = { seriesTtlMs: 300_000, podNames: false, addresses: false, timeoutMs: 5_000, idleTimeoutMs: 120_000 };

describe('DnsSeries', () => {
  it('roles per pod; pairs from the client view, or the server view when the client is no pod of the cluster; NOERROR split by empty', () => {
    const r1 = rec({ recordKey: 'a1', queries: 5, responses: [3, 0, 0, 2, ...new Array<number>(12).fill(0)], empty: 1 });
    const r2 = rec({ recordKey: 'a2', view: DNS_VIEW.server, queries: 5, responses: [3, 0, 0, 2, ...new Array<number>(12).fill(0)], empty: 1 });
    // a client pod on another node: its node counts the pair; a client outside the cluster: counted here
    const r3 = rec({ recordKey: 'a3', client: '10.1.0.9', view: DNS_VIEW.server, queries: 4, responses: [0, 0, 4, ...new Array<number>(13).fill(0)] });
    const r4 = rec({ recordKey: 'a4', client: '192.0.2.4', view: DNS_VIEW.server, queries: 2, responses: [0, 0, 2, ...new Array<number>(13).fill(0)] });
    const f = fake(() => [r1, r2, r3, r4]);
    const fams = new DnsSeries({ identity, dns: f.readings, settings, now: () => 0, monotonicNs: () => 10_000_000_000n }).collect();
    expect(value(fams, 'fovea.pod.dns.queries', { 'k8s.pod.name': 'web', 'fovea.dns.role': 'client' })).toBe(5);
    expect(value(fams, 'fovea.pod.dns.queries', { 'k8s.pod.name': 'coredns', 'fovea.dns.role': 'server' })).toBe(11);
    expect(value(fams, 'fovea.pod.dns.responses', { 'k8s.pod.name': 'web', 'fovea.dns.response.code': 'NOERROR', 'fovea.dns.answer.empty': false })).toBe(2);
    expect(value(fams, 'fovea.pod.dns.responses', { 'k8s.pod.name': 'web', 'fovea.dns.response.code': 'NOERROR', 'fovea.dns.answer.empty': true })).toBe(1);
    expect(value(fams, 'fovea.pod.dns.responses', { 'k8s.pod.name': 'web', 'fovea.dns.response.code': 'NXDOMAIN' })).toBe(2);
    // web → coredns once (client view only), far → coredns from the server view
    expect(value(fams, 'fovea.flow.dns.queries', { 'fovea.source.workload.name': 'web', 'fovea.destination.workload.name': 'coredns' })).toBe(5);
    expect(value(fams, 'fovea.flow.dns.responses', { 'fovea.source.workload.name': 'far' })).toBeUndefined();
    expect(value(fams, 'fovea.flow.dns.responses', { 'fovea.source.workload.kind': 'External', 'fovea.dns.response.code': 'SERVFAIL' })).toBe(2);
    expect(value(fams, 'fovea.dns.queries', { 'fovea.dns.view': 'client' })).toBe(5);
    expect(value(fams, 'fovea.dns.queries', { 'fovea.dns.view': 'server' })).toBe(11);
    expect(f.swept).toEqual([5_000_000_000n]); // now − timeoutMs
  });

  it('timed-out queries count against their record and go to onTimeouts; an idle record leaves the kernel and keeps its totals', () => {
    let now = 0;
    const r = rec({ recordKey: 'b1', queries: 3, responses: [1, ...new Array<number>(15).fill(0)] });
    let list = [r];
    const gone = [pending({})];
    const f = fake(() => list, gone);
    const handed: DnsPendingQuery[] = [];
    const s = new DnsSeries({ identity, dns: f.readings, settings, onTimeouts: (q) => handed.push(...q), now: () => now, monotonicNs: () => 10_000_000_000n });
    let fams = s.collect();
    expect(value(fams, 'fovea.pod.dns.timeouts', { 'k8s.pod.name': 'web' })).toBe(1);
    expect(handed).toHaveLength(1);
    now = 121_000;
    s.collect(); // unchanged since 0: deleted now
    expect(f.deleted).toEqual(['b1']);
    list = [];
    now = 122_000;
    fams = s.collect();
    expect(value(fams, 'fovea.pod.dns.queries', { 'k8s.pod.name': 'web' })).toBe(3);
    expect(value(fams, 'fovea.pod.dns.timeouts', { 'k8s.pod.name': 'web' })).toBe(1);
    // the record comes back from zero: the totals go on from the retired ones
    list = [rec({ recordKey: 'b1', queries: 2 })];
    fams = s.collect();
    expect(value(fams, 'fovea.pod.dns.queries', { 'k8s.pod.name': 'web' })).toBe(5);
    expect(value(fams, 'fovea.pod.dns.timeouts', { 'k8s.pod.name': 'web' })).toBe(1);
  });
});

describe('DnsEventSource', () => {
  const src = new DnsEventSource({ tap: { eventRing: () => undefined, readEventLimits: () => [] }, identity, node: 'n1', monotonicNs: () => 3_000_000_000n, nowMs: () => 10_000 });
  // an NXDOMAIN response for nope.lab A (id 0x1234), server → client
  const nx = Buffer.from([0x12, 0x34, 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0, 4, 0x6e, 0x6f, 0x70, 0x65, 3, 0x6c, 0x61, 0x62, 0, 0, 1, 0, 1]);
  const raw = (data: Buffer): RawDnsEvent => ({
    timestampNs: 2_000_000_000n, suppressed: 2, latencyNs: 1_500_000, src: '10.0.0.53', dst: '10.0.0.1', sport: 53, dport: 40000,
    ifindex: 5, msgLen: data.length, view: DNS_VIEW.client, proto: 17, ipVersion: 4, direction: 1, data,
  });

  it('a response: name, type, code, latency, both ends, ingress to the client pod', () => {
    const e = src.messageEvent(raw(nx), 7_000);
    expect(e.name).toBe('fovea.dns.message');
    expect(e.timeMs).toBe(9_000);
    expect(e.dns).toEqual({ kind: 'response', view: 'client', id: 0x1234, name: 'nope.lab', type: 'A', rcode: 'NXDOMAIN', answers: [], empty: false, latencyMs: 1.5 });
    expect([e.source.pod, e.destination.pod, e.direction, e.suppressed]).toEqual(['coredns', 'web', 'ingress', 2]);
  });

  it('a copy the parser cannot read is still an event, marked malformed and counted', () => {
    const before = src.counts().malformed;
    const e = src.messageEvent(raw(nx.subarray(0, 7)), 0);
    expect(e.dns?.malformed).toBe('short_header');
    expect(src.counts().malformed).toBe(before + 1);
  });

  it('a timeout: the waiting query with its name from the wire format, and how long it waited', () => {
    expect(wireName(Buffer.from([3, 0x61, 0x70, 0x69, 4, 0x73, 0x68, 0x6f, 0x70, 0]))).toBe('api.shop');
    expect(wireName(Buffer.alloc(0))).toBeUndefined();
    src.addTimeouts([pending({})]);
    const [e] = src.drain();
    expect(e!.name).toBe('fovea.dns.timeout');
    expect(e!.dns).toEqual({ kind: 'timeout', view: 'client', id: 7, type: 'A', name: 'api.shop', latencyMs: 2_000 });
    expect([e!.source.pod, e!.source.port, e!.destination.pod, e!.destination.port]).toEqual(['web', 40000, 'coredns', 53]);
  });
});

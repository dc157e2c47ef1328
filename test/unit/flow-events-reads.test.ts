/**
 * FlowEventSource's read, made incremental (the map of what was seen updated in place, events built
 * field by field, addresses resolved once per read), against the read it replaced
 * (test/helpers/flow-events-reference.ts): the same events, in the same order, with their fields in
 * the same order, over seeded random tables — records new, growing, unchanged, gone, and back — with
 * IPv4 and IPv6, TCP, UDP, ICMP and other protocols, pod, service, node and unknown ends, interfaces
 * with and without a name or a pod, and identity changes between reads.
 */
import { describe, expect, it } from 'vitest';
import { tcpFlagNames } from '../../src/events/endpoints.js';
import { FlowEventSource } from '../../src/events/flow-events.js';
import { StaticIdentity } from '../../src/k8s/static.js';
import type { PodInfo } from '../../src/k8s/types.js';
import { encodeIp } from '../../src/probes/addresses.js';
import { FLOW_KEY, FLOW_VALUE, FlowView, TRAFFIC_EGRESS, TRAFFIC_INGRESS } from '../../src/probes/traffic/layout.js';
import { ReferenceFlowEventSource } from '../helpers/flow-events-reference.js';
import { prng } from '../helpers/prng.js';

const pod = (name: string, ip: string, node = 'node-a'): PodInfo => ({
  uid: `uid-${name}`, name, namespace: 'shop', nodeName: node, ips: [ip], hostNetwork: false,
  workload: { kind: 'Deployment', name: name.replace(/-\d+$/, '') }, phase: 'Running',
});


interface Rec { key: Buffer; packets: number; bytes: number; first: number; last: number; flags: number }

const V4 = ['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.2.0.9', '10.96.0.10', '192.168.1.5', '203.0.113.8'];
const V6 = ['fd00::1', 'fd00::2', '2001:db8::9'];

function key(r: () => number): Buffer {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const v6 = r() < 0.2;
  const k = Buffer.alloc(FLOW_KEY.size);
  encodeIp(pick(v6 ? V6 : V4)).copy(k, FLOW_KEY.src);
  encodeIp(pick(v6 ? V6 : V4)).copy(k, FLOW_KEY.dst);
  k.writeUInt16BE(Math.floor(r() * 65536), FLOW_KEY.sport);
  k.writeUInt16BE(pick([80, 443, 53, 7000]), FLOW_KEY.dport);
  k.writeUInt32LE(pick([11, 12, 13, 0]), FLOW_KEY.ifindex);
  k[FLOW_KEY.proto] = pick([6, 6, 6, 17, 1, 58, 47]);
  k[FLOW_KEY.ipVersion] = r() < 0.03 ? 0 : v6 ? 6 : 4;
  k[FLOW_KEY.direction] = r() < 0.5 ? TRAFFIC_INGRESS : TRAFFIC_EGRESS;
  return k;
}

function view(recs: readonly Rec[]): FlowView {
  const values = Buffer.alloc(recs.length * FLOW_VALUE.size);
  recs.forEach((x, i) => {
    const o = i * FLOW_VALUE.size;
    values.writeBigUInt64LE(BigInt(x.packets), o + FLOW_VALUE.packets);
    values.writeBigUInt64LE(BigInt(x.bytes), o + FLOW_VALUE.bytes);
    values.writeBigUInt64LE(BigInt(x.first), o + FLOW_VALUE.firstSeenNs);
    values.writeBigUInt64LE(BigInt(x.last), o + FLOW_VALUE.lastSeenNs);
    values[o + FLOW_VALUE.tcpFlags] = x.flags;
  });
  return new FlowView({
    count: recs.length, keys: Buffer.concat(recs.map((x) => x.key)), values, keySize: FLOW_KEY.size, valueStride: FLOW_VALUE.size, cpus: 1,
  });
}

describe('FlowEventSource read', () => {
  it('gives the events the replaced read gave, field for field and in the same order', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const r = prng(seed);
      const identity = new StaticIdentity({
        nodeName: 'node-a', pods: [pod('web-1', V4[0]!), pod('web-2', V4[1]!), pod('db-1', V4[3]!, 'node-b'), pod('v6-1', V6[0]!)],
        services: [{ uid: 's1', name: 'dns', namespace: 'kube-system', clusterIPs: [V4[4]!] }],
        nodes: [{ name: 'node-a', ips: [V4[5]!] }],
      });
      let mono = 50_000_000_000n;
      let wall = 1_700_000_000_000;
      let table: Rec[] = [];
      const opts = {
        flowView: () => view(table), identity, node: 'node-a',
        podInterfaces: () => new Map([[11, pod('web-1', V4[0]!)], [12, pod('web-2', V4[1]!)]]),
        interfaceNames: () => new Map([[11, 'veth-web1'], [12, 'veth-web2'], [13, 'eth9']]),
        monotonicNs: () => mono, nowMs: () => wall,
      };
      const now = new FlowEventSource(opts);
      const ref = new ReferenceFlowEventSource(opts);
      let events = 0;
      for (let read = 0; read < 40; read++) {
        const next: Rec[] = [];
        for (const x of table) {
          const y = r();
          if (y < 0.1) continue; // gone
          if (y < 0.6) {
            const d = 1 + Math.floor(r() * 20);
            next.push({ ...x, packets: x.packets + d, bytes: x.bytes + d * 1400, last: x.last + Math.floor(r() * 1e9), flags: x.flags | (1 << Math.floor(r() * 8)) });
          } else next.push(x);
        }
        for (let i = Math.floor(r() * 12); i > 0; i--) {
          const k = key(r);
          if (next.some((x) => x.key.equals(k))) continue;
          const first = Number(mono) - Math.floor(r() * 1e9);
          next.push({ key: k, packets: 1 + Math.floor(r() * 5), bytes: 60 + Math.floor(r() * 3000), first, last: first + Math.floor(r() * 1e8), flags: Math.floor(r() * 256) });
        }
        // the kernel's order moves too
        if (r() < 0.3) next.sort(() => r() - 0.5);
        table = next;
        if (r() < 0.1) identity.upsertPod(pod('web-2', V4[2]!));
        if (r() < 0.1) identity.upsertPod(pod('web-2', V4[1]!));
        if (r() < 0.05) identity.deletePod('uid-db-1');
        const want = ref.read();
        const got = now.read();
        expect(JSON.stringify(got)).toBe(JSON.stringify(want));
        expect(got).toEqual(want);
        expect(now.tracked).toBe(ref.tracked);
        events += got.length;
        mono += 1_000_000_000n;
        wall += 1_000;
      }
      expect(events).toBeGreaterThan(100);
    }
  });

  it('names every TCP flags byte as before', () => {
    const names = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR'];
    for (let f = 0; f < 256; f++) {
      const want = names.filter((_, i) => f & (1 << i));
      expect(tcpFlagNames(f)).toBe(want.length ? want.join('|') : undefined);
    }
  });
});

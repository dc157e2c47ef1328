/**
 * src/export/log-encoder.ts writes exactly the bytes of the upstream ProtobufLogsSerializer:
 * real event records, and thousands of seeded random records (every AnyValue kind, unicode,
 * negative and 64-bit integers, doubles, nested lists and maps, span contexts, several resources
 * and scopes, times past 2038).
 */
import { ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { describe, expect, it } from 'vitest';
import { encodeLogsExportRequest } from '../../src/export/log-encoder.js';
import { eventScope, eventToLogRecord } from '../../src/export/log-records.js';
import type { NetworkEvent } from '../../src/events/types.js';
import { prng } from '../helpers/prng.js';


function randomValue(r: () => number, depth = 0): unknown {
  const k = Math.floor(r() * (depth > 2 ? 7 : 9));
  const strs = ['', 'a', 'NETFILTER_DROP', 'héllo wörld', '日本語', '🚀 emoji', 'x'.repeat(200), 'tab\tnew\nline'];
  switch (k) {
    case 0: return strs[Math.floor(r() * strs.length)];
    case 1: return r() < 0.5;
    case 2: return Math.floor(r() * 200);
    case 3: return Math.floor((r() - 0.5) * 2 ** 40);
    case 4: return [0, 1, -1, 127, 128, 2 ** 32, 2 ** 32 - 1, 2 ** 53 - 1, -(2 ** 53), 2 ** 60, -(2 ** 63)][Math.floor(r() * 11)];
    case 5: return (r() - 0.5) * 1e6;
    case 6: return new Uint8Array(Array.from({ length: Math.floor(r() * 5) }, () => Math.floor(r() * 256)));
    case 7: return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
    default: return Object.fromEntries(Array.from({ length: Math.floor(r() * 4) }, (_, i) => [`k${i}`, randomValue(r, depth + 1)]));
  }
}

function randomRecord(r: () => number, resources: ReadableLogRecord['resource'][], scopes: ReadableLogRecord['instrumentationScope'][]): ReadableLogRecord {
  const attributes: Record<string, unknown> = {};
  const n = Math.floor(r() * 35);
  for (let i = 0; i < n; i++) attributes[r() < 0.8 ? `fovea.attr.${Math.floor(r() * 40)}` : `ünïcode.${i}`] = randomValue(r);
  const rec: Record<string, unknown> = {
    hrTime: [Math.floor(r() * (r() < 0.1 ? 2 ** 34 : 2 ** 31)), Math.floor(r() * 1e9)],
    hrTimeObserved: [Math.floor(r() * 2 ** 31), Math.floor(r() * 1e9)],
    resource: resources[Math.floor(r() * resources.length)],
    instrumentationScope: scopes[Math.floor(r() * scopes.length)],
    attributes,
    droppedAttributesCount: r() < 0.8 ? 0 : Math.floor(r() * 1000),
  };
  if (r() < 0.9) rec['severityNumber'] = Math.floor(r() * 25);
  if (r() < 0.8) rec['severityText'] = ['WARN', 'INFO', '', 'ÉRREUR'][Math.floor(r() * 4)];
  if (r() < 0.9) rec['body'] = randomValue(r);
  if (r() < 0.8) rec['eventName'] = ['fovea.network.packet.drop', '', 'fovea.dns.message'][Math.floor(r() * 3)];
  if (r() < 0.2) rec['spanContext'] = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: Math.floor(r() * 2) };
  return rec as unknown as ReadableLogRecord;
}

const upstream = (records: ReadableLogRecord[]): Buffer => Buffer.from(ProtobufLogsSerializer.serializeRequest(records)!);

describe('encodeLogsExportRequest', () => {
  it('writes the upstream serializer\'s bytes for 3,000 random records in 300 batches', () => {
    const r = prng(20261202);
    const resources = [
      resourceFromAttributes({ 'service.name': 'fovea', 'k8s.node.name': 'node-1' }),
      resourceFromAttributes({ 'service.name': 'fovea', 'host.name': 'höst', 'x.count': 3, 'x.ok': true }),
      resourceFromAttributes({}),
    ];
    const scopes = [eventScope(), { name: 'other', version: '' }, { name: '', schemaUrl: 'https://opentelemetry.io/schemas/1.26.0' }];
    for (let b = 0; b < 300; b++) {
      const batch = Array.from({ length: 1 + Math.floor(r() * 20) }, () => randomRecord(r, resources, scopes));
      const ours = Buffer.from(encodeLogsExportRequest(batch));
      const theirs = upstream(batch);
      if (!ours.equals(theirs)) throw new Error(`batch ${b}: ${ours.length} bytes vs upstream ${theirs.length}; first difference at ${ours.findIndex((x, i) => x !== theirs[i])}`);
    }
  });

  it('writes the upstream bytes for real drop, TCP and DNS event records; an empty batch is empty', () => {
    const resource = resourceFromAttributes({ 'service.name': 'fovea' });
    const end = (ip: string, port: number, pod: string) => ({ ip, port, kind: 'pod', namespace: 'shop', workloadKind: 'Deployment', workloadName: 'web', pod, podUid: `uid-${pod}`, local: true });
    const events = [
      { name: 'fovea.network.packet.drop', timeMs: 1_796_000_000_123.456, verdict: 'DROPPED', reason: 'NETFILTER_DROP', transport: 'udp', ipVersion: 4,
        source: end('10.0.0.1', 40000, 'web-1'), destination: end('10.0.0.2', 7777, 'db-0'), interface: 'cali1', netns: 4026531840,
        direction: 'egress', location: 'nft_do_chain+0x46f', suppressed: 12, length: 60 },
      { name: 'fovea.tcp.reset', timeMs: 1_796_000_000_500, transport: 'tcp', ipVersion: 6, source: end('fd00::1', 443, 'api-0'),
        destination: end('fd00::2', 51000, 'web-2'), tcp: { kind: 'reset', side: 'sent', state: 'established' } },
      { name: 'fovea.dns.message', timeMs: 1_796_000_001_000, transport: 'udp', ipVersion: 4, source: end('10.0.0.53', 53, 'coredns-0'),
        destination: end('10.0.0.1', 40001, 'web-1'), dns: { kind: 'response', view: 'client', id: 4242, name: 'nope.shop.svc.cluster.local', type: 'A', rcode: 'NXDOMAIN', answers: [], empty: true, latencyMs: 1.25 } },
    ] as unknown as NetworkEvent[];
    const records = events.map((e) => eventToLogRecord(e, resource, 1_796_000_002_000));
    expect(Buffer.from(encodeLogsExportRequest(records))).toEqual(upstream(records));
    expect(Buffer.from(encodeLogsExportRequest([]))).toEqual(upstream([]));
  });
});

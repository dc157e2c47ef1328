/**
 * GetFlowsRequest.field_mask as Cilium's Hubble server applies it (pkg/hubble/parser/fieldmask):
 * validation, normalization, whole and nested paths, and the mask the real `hubble observe` sends
 * by default for its non-JSON outputs.
 */
import { describe, expect, it } from 'vitest';
import { FieldMaskError, compileFieldMask, type FieldMask } from '../../src/hubble/field-mask.js';
import { hubbleTypes } from '../../src/hubble/proto.js';
import { toProtoJson } from '../../src/hubble/protojson.js';
import { STRUCT_TYPE_URL } from '../../src/hubble/types.js';

const t = hubbleTypes();

/** hubble's defaults.FieldMask (hubble/pkg/defaults), sent with -o compact, dict and table. */
const CLI_DEFAULT_MASK = [
  'time', 'verdict', 'ethernet', 'IP', 'l4', 'source.identity', 'source.namespace', 'source.pod_name',
  'destination.identity', 'destination.namespace', 'destination.pod_name', 'Type', 'node_name', 'l7', 'event_type',
  'source_service', 'destination_service', 'is_reply', 'Summary', 'ip_trace_id',
];

const fullFlow = {
  time: { seconds: 1_700_000_000, nanos: 5 },
  uuid: 'u-1',
  verdict: 2,
  drop_reason: 133,
  drop_reason_desc: 133,
  ethernet: { source: 'aa:bb:cc:dd:ee:ff', destination: '11:22:33:44:55:66' },
  IP: { source: '10.1.0.5', destination: '10.2.0.9', ipVersion: 1 },
  l4: { TCP: { source_port: 40000, destination_port: 443, flags: { SYN: true } } },
  source: { ID: 12, identity: 3456, namespace: 'shop', labels: ['k8s:app=checkout'], pod_name: 'checkout-7d9f', workloads: [{ name: 'checkout', kind: 'Deployment' }] },
  destination: { identity: 2, cluster_name: 'default', namespace: 'payments', labels: ['k8s:app=api'], pod_name: 'api-0' },
  Type: 1,
  node_name: 'node-1',
  node_labels: ['zone=a'],
  event_type: { type: 1, sub_type: 133 },
  source_service: { name: 'checkout', namespace: 'shop' },
  destination_service: { name: 'api', namespace: 'payments' },
  traffic_direction: 2,
  trace_observation_point: 5,
  is_reply: { value: false },
  interface: { index: 7, name: 'eth0' },
  Summary: 'TCP Flags: SYN',
  ip_trace_id: { trace_id: 77 },
  extensions: { type_url: STRUCT_TYPE_URL, value: Uint8Array.from(t.Struct.encode({ fields: { probe: { stringValue: 'drop' } } }).finish()) },
};

function mask(paths: readonly string[]): FieldMask {
  const m = compileFieldMask(t.Flow, paths);
  if (!m) throw new Error('expected a mask');
  return m;
}

describe('applying a mask', () => {
  it("hubble's default mask keeps exactly its fields, and leaves the flow untouched", () => {
    const before = structuredClone(fullFlow);
    const masked = mask(CLI_DEFAULT_MASK).apply(fullFlow);
    expect(masked).toEqual({
      time: fullFlow.time,
      verdict: 2,
      ethernet: fullFlow.ethernet,
      IP: fullFlow.IP,
      l4: fullFlow.l4,
      source: { identity: 3456, namespace: 'shop', pod_name: 'checkout-7d9f' },
      destination: { identity: 2, namespace: 'payments', pod_name: 'api-0' },
      Type: 1,
      node_name: 'node-1',
      event_type: fullFlow.event_type,
      source_service: fullFlow.source_service,
      destination_service: fullFlow.destination_service,
      is_reply: { value: false },
      Summary: 'TCP Flags: SYN',
      ip_trace_id: fullFlow.ip_trace_id,
    });
    expect(fullFlow).toEqual(before);
  });

  it('a decoded flow gives the same result as the plain one', () => {
    const m = mask(CLI_DEFAULT_MASK);
    const decoded = t.Flow.decode(t.Flow.encode(fullFlow).finish());
    expect(toProtoJson(t.Flow, m.apply(decoded))).toBe(toProtoJson(t.Flow, m.apply(fullFlow)));
    expect(toProtoJson(t.Flow, m.apply(decoded))).toBe(
      '{"time":"2023-11-14T22:13:20.000000005Z","verdict":"DROPPED",'
      + '"ethernet":{"source":"aa:bb:cc:dd:ee:ff","destination":"11:22:33:44:55:66"},'
      + '"IP":{"source":"10.1.0.5","destination":"10.2.0.9","ipVersion":"IPv4"},'
      + '"l4":{"TCP":{"source_port":40000,"destination_port":443,"flags":{"SYN":true}}},'
      + '"source":{"identity":3456,"namespace":"shop","pod_name":"checkout-7d9f"},'
      + '"destination":{"identity":2,"namespace":"payments","pod_name":"api-0"},'
      + '"Type":"L3_L4","node_name":"node-1","event_type":{"type":1,"sub_type":133},'
      + '"source_service":{"name":"checkout","namespace":"shop"},"destination_service":{"name":"api","namespace":"payments"},'
      + '"ip_trace_id":{"trace_id":"77"},"is_reply":false,"Summary":"TCP Flags: SYN"}',
    );
  });

  it('a nested path keeps only that sub-field; its message is there even when the flow has none (as upstream)', () => {
    expect(mask(['source.identity']).apply(fullFlow)).toEqual({ source: { identity: 3456 } });
    expect(mask(['source.identity']).apply({ node_name: 'n' })).toEqual({ source: {} });
    expect(mask(['time.seconds']).apply(fullFlow)).toEqual({ time: { seconds: 1_700_000_000 } });
  });

  it('a path naming a message copies all of it', () => {
    const masked = mask(['source', 'l4']).apply(fullFlow) as Record<string, unknown>;
    expect(masked).toEqual({ source: fullFlow.source, l4: fullFlow.l4 });
  });

  it('fields the flow lacks stay absent (defaults are not invented)', () => {
    expect(mask(['l7', 'uuid', 'is_reply']).apply({ node_name: 'n' })).toEqual({});
  });

  it('oneofs: a nested path allocates its member like upstream; of several members, the one the flow has wins', () => {
    const udp = { l4: { UDP: { source_port: 53 } } };
    expect(mask(['l4.TCP.flags']).apply(udp)).toEqual({ l4: { TCP: {} } });
    expect(mask(['l4.TCP.flags', 'l4.UDP']).apply(udp)).toEqual({ l4: { UDP: { source_port: 53 } } });
    expect(mask(['l4.TCP.flags', 'l4.UDP']).apply(fullFlow)).toEqual({ l4: { TCP: { flags: { SYN: true } } } });
  });
});

describe('compiling a mask', () => {
  it('no paths: no mask (the whole flow)', () => {
    expect(compileFieldMask(t.Flow, [])).toBeUndefined();
  });

  it.each([
    ['nope', /flow\.Flow has no field "nope"/],
    ['time.seconds.x', /not a message/],
    ['IP.source.foo', /not a message/],
    ['source.labels.x', /not a message/], // a list can only be the last step
    ['source.workloads.name', /not a message/],
    ['', /no field ""/],
    ['source.', /no field ""/],
    ['constructor', /no field "constructor"/],
  ])('rejects %j', (path, reason) => {
    expect(() => compileFieldMask(t.Flow, ['time', path])).toThrow(FieldMaskError);
    expect(() => compileFieldMask(t.Flow, ['time', path])).toThrow(reason);
    expect(() => compileFieldMask(t.Flow, ['time', path])).toThrow(`invalid field mask path ${JSON.stringify(path)}`);
  });

  it('the key is the normalized paths: same for any order or repetition, covered paths dropped', () => {
    const a = mask(CLI_DEFAULT_MASK);
    const b = mask([...CLI_DEFAULT_MASK].reverse().concat(['time', 'source.pod_name']));
    expect(b.key).toBe(a.key);
    expect(a.key).toBe(
      'IP,Summary,Type,destination.identity,destination.namespace,destination.pod_name,destination_service,ethernet,'
      + 'event_type,ip_trace_id,is_reply,l4,l7,node_name,source.identity,source.namespace,source.pod_name,source_service,time,verdict',
    );
    expect(mask(['source.identity', 'source', 'source.pod_name']).key).toBe('source');
  });
});

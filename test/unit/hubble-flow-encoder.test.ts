/**
 * The hand-written GetFlowsResponse encoder (src/hubble/flow-encoder.ts) against protobufjs, the
 * truth: for flows FlowBuilder makes (and the same flows under field masks), the frame must be a
 * valid gRPC frame whose body decodes to exactly what protobufjs's own encoding of
 * {flow, node_name, time} decodes to.
 *
 * One normalization, and why: protobufjs writes a scalar that is explicitly set to its default
 * (`reply: false`, `event_type.sub_type: 0`, `is_reply.value: false`), while proto3 — and Go, and
 * this encoder — leave it out; on the wire the two mean the same. So scalar fields equal to their
 * proto3 default are dropped (by reflection over the protobufjs types) before comparing. Messages,
 * lists and every non-default value are compared as they are.
 */
import { describe, expect, it } from 'vitest';
import protobuf from 'protobufjs';
import { compileFieldMask, type FieldMask } from '../../src/hubble/field-mask.js';
import { encodeExtensionStruct, encodeFactsFrame, encodeFlowResponseFrame } from '../../src/hubble/flow-encoder.js';
import { FlowBuilder, timestampOf, toFlow } from '../../src/hubble/flows.js';
import { KERNEL_TO_CILIUM_DROP_REASON } from '../../src/hubble/drop-reasons.js';
import { hubbleTypes } from '../../src/hubble/proto.js';
import type { Flow, Timestamp } from '../../src/hubble/types.js';
import type { EventEndpoint, NetworkEvent } from '../../src/events/types.js';
import type { PodInfo } from '../../src/k8s/types.js';
import { EVENT, VERDICT } from '../../src/names.js';
import {
  TO_OBJECT, decodeFrame, dropEvent, externalEnd, flowEvent, flowPart, nodeEnd, podEnd, podInfo, prng, serviceEnd,
} from '../helpers/hubble.js';

const t = hubbleTypes();

/** hubble's defaults.FieldMask (hubble/pkg/defaults), what `hubble observe` sends for compact, dict and table output. */
const CLI_DEFAULT_MASK = [
  'time', 'verdict', 'ethernet', 'IP', 'l4', 'source.identity', 'source.namespace', 'source.pod_name',
  'destination.identity', 'destination.namespace', 'destination.pod_name', 'Type', 'node_name', 'l7', 'event_type',
  'source_service', 'destination_service', 'is_reply', 'Summary', 'ip_trace_id',
];

function mask(paths: readonly string[]): FieldMask {
  const m = compileFieldMask(t.Flow, paths);
  if (!m) throw new Error('no mask');
  return m;
}

/** Drops scalar (and enum) fields equal to their proto3 default, recursively, by the type's reflection. */
function dropDefaults(type: protobuf.Type, obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    const field = type.fields[k];
    if (!field) throw new Error(`${type.name} has no field ${k}`);
    const sub = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
    if (sub) {
      const one = (x: unknown) => dropDefaults(sub, x as Record<string, unknown>);
      out[k] = field.map ? Object.fromEntries(Object.entries(v as object).map(([mk, mv]) => [mk, one(mv)]))
        : field.repeated ? (v as unknown[]).map(one) : one(v);
      continue;
    }
    if (!field.repeated && !field.map && !field.partOf && (v === 0 || v === '0' || v === false || v === '')) continue;
    out[k] = v;
  }
  return out;
}

const responseType = t.GetFlowsResponse;

/** What protobufjs makes of the response: encode, decode, plain object, defaults dropped. */
function reference(flow: object, node: string, time: Timestamp): Record<string, unknown> {
  const bytes = responseType.encode({ flow, node_name: node, time }).finish();
  return dropDefaults(responseType, responseType.toObject(responseType.decode(bytes), TO_OBJECT));
}

/** The hand-made frame decoded (decodeFrame checks flag 0 and the length). */
function handMade(flow: Flow, node: string, time: Timestamp): Record<string, unknown> {
  const frame = encodeFlowResponseFrame(flow, node, time);
  if (!frame) throw new Error('the encoder fell back');
  const decoded = decodeFrame(frame);
  // it writes no default scalars itself (what Go writes too)
  expect(dropDefaults(responseType, decoded)).toEqual(decoded);
  // and its bytes are the canonical encoding: fields in number order, each once, shortest varints
  const body = Buffer.from(frame.subarray(5));
  expect(Buffer.from(responseType.encode(responseType.decode(body)).finish()).equals(body)).toBe(true);
  return decoded;
}

function expectSame(flow: Flow, node = 'node-a', time: Timestamp = flow.time ?? { seconds: 1, nanos: 0 }): Record<string, unknown> {
  const got = handMade(flow, node, time);
  expect(got).toEqual(reference(flow, node, time));
  return got;
}

const web = podInfo();
const longPod = podInfo({
  uid: 'uid-long', name: `p-${'x'.repeat(200)}`, namespace: 'n'.repeat(63),
  labels: { app: 'long', ['a'.repeat(63)]: 'v'.repeat(63), note: 'ünïcödé-日本-🚀'.repeat(12) },
  serviceAccount: 's'.repeat(130), workload: { kind: 'DaemonSet', name: 'w'.repeat(140) },
});
const bigPod = podInfo({
  uid: 'uid-big', name: 'big-0', namespace: 'big',
  labels: Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`label-${i}`, `value-${i}-${'z'.repeat(40)}`])),
});
const pods = [web, longPod, bigPod];

function builder(cluster = 'default', nodeLabels?: string[], version = '0.1.0'): FlowBuilder {
  return new FlowBuilder({
    cluster, node: 'node-a', version, podByUid: (uid) => pods.find((p) => p.uid === uid),
    ...(nodeLabels ? { nodeLabels: () => nodeLabels } : {}),
  });
}

/** The flows of the table below: one per shape worth naming. */
function namedEvents(): [string, NetworkEvent][] {
  return [
    ['TCP SYN drop between pods', dropEvent({ source: podEnd(web, 40000), destination: podEnd(longPod, 443) })],
    ['TCP SYN+ACK drop (reply)', dropEvent({ tcpFlags: 'SYN|ACK', source: externalEnd('10.0.0.9', 443), destination: podEnd(web, 40000) })],
    ['TCP all flags', dropEvent({ tcpFlags: 'FIN|SYN|RST|PSH|ACK|URG|ECE|CWR' })],
    ['TCP FIN|ACK flow record', flowEvent({ tcpFlags: 'FIN|ACK', source: podEnd(web, 40000) })],
    ['TCP flow without flags and ports', flowEvent({ tcpFlags: undefined, source: externalEnd('1.1.1.1'), destination: externalEnd('2.2.2.2') })],
    ['UDP flow to a service', flowEvent({
      transport: 'udp', protocol: 17, tcpFlags: undefined, source: podEnd(web, 53000), destination: serviceEnd('10.96.0.10', 'kube-dns', 'kube-system', 53),
    })],
    ['UDP drop from a service', dropEvent({
      transport: 'udp', protocol: 17, tcpFlags: undefined, reason: 'UDP_CSUM', source: serviceEnd('10.96.0.1', 'api', 'default', 443), destination: podEnd(web, 50000),
    })],
    ['ICMPv4 drop', dropEvent({ transport: 'icmp', protocol: 1, tcpFlags: undefined, source: nodeEnd('192.168.1.1', 'node-a'), destination: nodeEnd('192.168.1.2', 'node-b') })],
    ['ICMPv6 flow, IPv6 addresses', flowEvent({
      ipVersion: 6, transport: 'icmp', protocol: 58, tcpFlags: undefined,
      source: externalEnd('2001:db8:85a3::8a2e:370:7334'), destination: externalEnd('fe80::1ff:fe23:4567:890a'),
    })],
    ['IPv6 TCP between a pod and the world', flowEvent({ ipVersion: 6, source: podEnd(web, 40000, 'fd00:10::5'), destination: externalEnd('2606:4700::1111', 443) })],
    ['non-IP drop with empty endpoints', dropEvent({
      ipVersion: 0, transport: 'unknown', protocol: 0, tcpFlags: undefined, source: externalEnd(''), destination: externalEnd(''),
      interface: undefined, ifindex: undefined, location: undefined, cpu: undefined, length: undefined, reasonCode: undefined,
    })],
    ['GRE drop', dropEvent({ transport: 'other', protocol: 47, tcpFlags: undefined })],
    ['unmapped reason, suppressed, no direction', dropEvent({ reason: 'TCP_OLD_DATA', reasonCode: 33, suppressed: 4_000_000_000, direction: undefined })],
    ['drop with an unknown reason code', dropEvent({ reason: undefined, reasonCode: undefined })],
    ['ingress flow record', flowEvent({ direction: 'ingress', source: externalEnd('10.9.9.9', 443), destination: podEnd(web, 40000) })],
    ['ended flow with huge counters', flowEvent({ flow: flowPart({ state: 'ended', bytes: 2 ** 40 + 3, packets: 2 ** 33, totalBytes: 2 ** 52, totalPackets: 2 ** 35 + 1 }) })],
    ['pod with long and non-ASCII labels and names', flowEvent({ source: podEnd(longPod, 40000), destination: podEnd(longPod, 8080) })],
    ['endpoint over 16 KiB (3-byte lengths)', dropEvent({ source: podEnd(bigPod, 40000) })],
    ['long non-ASCII location, interface and Summary', dropEvent({
      location: `fünction_${'ß'.repeat(300)}+0x1f`, interface: 'veth-ünï-🚀', netns: 2 ** 32 + 5,
    })],
    ['location of 20000 bytes', dropEvent({ location: 'l'.repeat(20_000) })],
    ['strings of exactly 127 and 128 bytes', dropEvent({ interface: 'i'.repeat(127), location: 'l'.repeat(128) })],
    ['a Summary of exactly 128 bytes', dropEvent({ location: 'a'.repeat(128 - 'NETFILTER_DROP (kernel drop reason) at ; TCP Flags: SYN'.length) })],
    ['interface index only, no name', flowEvent({ interface: undefined, ifindex: 2 ** 31 - 1 })],
    ['a pod the identity source does not know', flowEvent({ source: podEnd(podInfo({ uid: 'gone', name: 'gone-0' }), 40000) })],
    ['a time just after the epoch, with a fraction', flowEvent({ timeMs: 1234.5678 })],
  ];
}

describe('encodeFlowResponseFrame equals protobufjs', () => {
  const configs: [string, FlowBuilder][] = [
    ['default cluster, no node labels', builder()],
    ['named cluster, node labels', builder('prod.eu-1', ['kubernetes.io/hostname=node-a', 'zone=ünï', `long=${'y'.repeat(150)}`], 'v1 ünï')],
  ];
  for (const [configName, b] of configs) {
    for (const [name, ev] of namedEvents()) {
      it(`${name} (${configName})`, () => {
        const flow = b.build(ev);
        const got = expectSame(flow, b.node);
        // not vacuous: the decoded flow holds what was built
        const decoded = got['flow'] as Record<string, unknown>;
        expect(decoded['uuid']).toBe(flow.uuid);
        expect(decoded['Summary']).toBe(flow.Summary);
        expect(got['node_name']).toBe(b.node);
        // the same flow under hubble's default mask
        const masked = mask(CLI_DEFAULT_MASK).apply(flow) as Flow;
        const m = expectSame(masked, b.node);
        expect(Object.keys(m['flow'] as object).every((k) => CLI_DEFAULT_MASK.some((p) => p === k || p.startsWith(`${k}.`)))).toBe(true);
      });
    }
  }

  it('the response time is the one given, not the flow\'s', () => {
    const flow = builder().build(dropEvent());
    const got = expectSame(flow, 'node-a', { seconds: 1_800_000_000, nanos: 999_999_999 });
    expect(got['time']).toEqual({ seconds: '1800000000', nanos: 999_999_999 });
    expect((got['flow'] as { time: unknown }).time).toEqual({ seconds: '1700000002', nanos: 250_500_000 });
  });

  it('an empty node name and a zero time are left out, as protobuf does', () => {
    const flow = builder().build(flowEvent());
    const got = expectSame(flow, '', { seconds: 0, nanos: 0 });
    expect(got).not.toHaveProperty('node_name');
    expect(got['time']).toEqual({});
  });

  it('frames do not share memory: an earlier frame survives later encodings', () => {
    const b = builder();
    const f1 = b.build(dropEvent({ location: 'first' }));
    const frame1 = encodeFlowResponseFrame(f1, 'node-a', f1.time!)!;
    const copy = Buffer.from(frame1);
    for (let i = 0; i < 20; i++) encodeFlowResponseFrame(b.build(dropEvent({ location: 'x'.repeat(i * 500) })), 'node-a', f1.time!);
    expect(Buffer.from(frame1).equals(copy)).toBe(true);
    expect((decodeFrame(frame1)['flow'] as { Summary: string }).Summary).toContain('at first');
  });

  it('a flow with a field this encoder does not write falls back (undefined)', () => {
    const flow = builder().build(flowEvent());
    const withL7 = { ...flow, l7: { dns: { query: 'example.com.' } } } as Flow;
    expect(encodeFlowResponseFrame(withL7, 'node-a', flow.time!)).toBeUndefined();
    expect(encodeFlowResponseFrame({ ...flow, source_names: ['a.example'] }, 'node-a', flow.time!)).toBeUndefined();
    expect(encodeFlowResponseFrame({ ...flow, ip_trace_id: { trace_id: 5 } }, 'node-a', flow.time!)).toBeUndefined();
    const odd = { ...flow, destination: { ...flow.destination, zone: 'a' } } as Flow;
    expect(encodeFlowResponseFrame(odd, 'node-a', flow.time!)).toBeUndefined();
    // a member of l4 it does not write (VRRP, IGMP): falling back beats dropping it
    expect(encodeFlowResponseFrame({ ...flow, l4: { VRRP: { vrid: 3 } } } as Flow, 'node-a', flow.time!)).toBeUndefined();
    // protobufjs, the fallback, does encode it
    expect(t.Flow.toObject(t.Flow.decode(t.Flow.encode(withL7).finish()))['l7']).toEqual({ dns: { query: 'example.com.' } });
    // an unknown key that is undefined is no field
    expect(encodeFlowResponseFrame({ ...flow, l7: undefined }, 'node-a', flow.time!)).toBeDefined();
  });

  it('a time before 1970 (negative seconds) falls back; protobufjs encodes it', () => {
    const flow = builder().build(flowEvent({ timeMs: -1500.25 }));
    expect(flow.time).toEqual({ seconds: -2, nanos: 499_750_000 });
    expect(encodeFlowResponseFrame(flow, 'node-a', { seconds: 1, nanos: 0 })).toBeUndefined();
    const ok = builder().build(flowEvent());
    expect(encodeFlowResponseFrame(ok, 'node-a', { seconds: -1, nanos: 0 })).toBeUndefined();
    expect(reference(flow, 'node-a', { seconds: 1, nanos: 0 })['flow']).toMatchObject({ time: { seconds: '-2', nanos: 499_750_000 } });
  });

  it('lone UTF-16 surrogates become U+FFFD, valid UTF-8 (Go clients reject invalid UTF-8)', () => {
    const flow = builder().build(dropEvent({ location: 'bad\ud800x' }));
    const got = handMade(flow, 'node-a', flow.time!);
    expect((got['flow'] as { Summary: string }).Summary).toContain('bad\ufffdx');
  });
});

describe('field masks', () => {
  it('nested masks, including members of l4 the flow does not have', () => {
    const b = builder('default', ['a=b']);
    const flows = namedEvents().map(([, ev]) => b.build(ev));
    const masks = [
      ['l4.TCP.flags'], ['l4.UDP.destination_port', 'l4.TCP.source_port'], ['l4.SCTP.source_port'], ['l4.ICMPv6.type'],
      ['IP.encrypted', 'IP.source_xlated'], ['source.labels', 'destination.workloads', 'source.ID'],
      ['extensions.type_url'], ['extensions.value'], ['extensions'], ['time.nanos', 'event_type.sub_type'],
      ['is_reply.value', 'interface.name', 'emitter.version'], ['source_service.namespace', 'destination_service.name'],
      ['node_labels', 'uuid', 'Summary'], ['reply', 'drop_reason', 'drop_reason_desc', 'traffic_direction', 'trace_observation_point'],
    ];
    for (const paths of masks) for (const f of flows) expectSame(mask(paths).apply(f) as Flow);
  });

  it('a mask reaching fields Fovea never sets falls back to protobufjs', () => {
    const flow = builder().build(flowEvent());
    for (const paths of [['ethernet.source'], ['l7.dns.query'], ['tunnel.protocol'], ['l4.IGMP.type'], ['l4.VRRP.priority']]) {
      const masked = mask(paths).apply(flow) as Flow;
      expect(encodeFlowResponseFrame(masked, 'node-a', flow.time!), paths.join()).toBeUndefined();
    }
  });
});

describe('encodeExtensionStruct', () => {
  const structType = t.Struct;
  const cases: Record<string, string | number>[] = [
    {},
    { a: 1 },
    { bytes: 0, cpu: -0, kernel_drop_reason: '', netns: 2 ** 53 + 2, packets: 1.5, x: -3, y: Infinity, z: Number.NaN, w: 1e308 },
    { long: 'q'.repeat(127), longer: 'q'.repeat(128), longest: 'q'.repeat(20_000), text: 'ünïcödé 日本 🚀', big: 'ß'.repeat(100) },
    Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${String(i).padStart(3, '0')}`, i % 2 ? i : `v${i}`])),
  ];

  for (const fields of cases) {
    it(`${Object.keys(fields).length} fields`, () => {
      const bytes = encodeExtensionStruct(fields);
      const decoded = structType.toObject(structType.decode(bytes)) as {
        fields: { fovea: { structValue: { fields?: Record<string, { numberValue?: number; stringValue?: string }> } } };
      };
      expect(Object.keys(decoded.fields)).toEqual(['fovea']);
      const inner = decoded.fields.fovea.structValue.fields ?? {};
      expect(Object.keys(inner)).toEqual(Object.keys(fields));
      for (const [k, v] of Object.entries(fields)) {
        expect(inner[k], k).toEqual(typeof v === 'number' ? { numberValue: v } : { stringValue: v });
      }
      // protobufjs's encoding of the same Struct is the same bytes
      const expected = structType.encode(structType.fromObject({
        fields: { fovea: { structValue: { fields: Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, typeof v === 'number' ? { numberValue: v } : { stringValue: v }])) } } },
      })).finish();
      expect(Buffer.from(bytes).equals(Buffer.from(expected))).toBe(true);
    });
  }

  it('returns its own copy', () => {
    const a = encodeExtensionStruct({ a: 'first' });
    const copy = Buffer.from(a);
    encodeExtensionStruct({ b: 'second'.repeat(100) });
    expect(Buffer.from(a).equals(copy)).toBe(true);
  });
});

// ---- property-based: random flows, random masks ----

const FLAGS = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR', 'NS', 'XX'];
const REASONS = [...Object.keys(KERNEL_TO_CILIUM_DROP_REASON), 'NOT_SPECIFIED', 'TCP_OLD_DATA', 'UNKNOWN_99', undefined];
const MASK_PATHS = [
  'time', 'time.seconds', 'uuid', 'emitter', 'emitter.name', 'verdict', 'drop_reason', 'IP', 'IP.source', 'IP.ipVersion',
  'l4', 'l4.TCP', 'l4.TCP.flags', 'l4.TCP.flags.SYN', 'l4.UDP.source_port', 'l4.ICMPv4', 'l4.ICMPv6.code', 'l4.SCTP',
  'source', 'source.identity', 'source.labels', 'source.workloads', 'source.cluster_name', 'destination', 'destination.pod_name',
  'destination.namespace', 'Type', 'node_name', 'node_labels', 'reply', 'event_type', 'event_type.type', 'source_service',
  'destination_service.namespace', 'traffic_direction', 'trace_observation_point', 'drop_reason_desc', 'is_reply',
  'is_reply.value', 'interface', 'interface.index', 'Summary', 'extensions', 'extensions.type_url',
  // fields FlowBuilder never sets: a whole path copies nothing, a nested one allocates the message (fallback)
  'ethernet', 'l7', 'ip_trace_id', 'tunnel', 'ethernet.destination', 'l7.http.code', 'l4.IGMP.group_address',
];

type Rand = () => number;
const int = (r: Rand, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const chance = (r: Rand, p: number): boolean => r() < p;

function randomString(r: Rand): string {
  switch (int(r, 0, 7)) {
    case 0: return '';
    case 1: return 'a'.repeat(int(r, 120, 135));
    case 2: return 'b'.repeat(int(r, 16_380, 16_390));
    case 3: return Array.from({ length: int(r, 1, 80) }, () => pick(r, ['é', '日', '🚀', 'ß', 'x', '-', 'Ω'])).join('');
    case 4: return `sym_${int(r, 0, 1e6).toString(16)}+0x${int(r, 0, 4096).toString(16)}`;
    default: return `s${int(r, 0, 1e9)}`;
  }
}

function randomIp(r: Rand, v: 0 | 4 | 6): string {
  if (v === 0) return '';
  if (v === 4) return Array.from({ length: 4 }, () => int(r, 0, 255)).join('.');
  return Array.from({ length: 8 }, () => int(r, 0, 0xffff).toString(16)).join(':');
}

function randomPort(r: Rand): number | undefined {
  return pick(r, [undefined, 0, 1, 53, 80, 443, 32767, 32768, int(r, 1, 65535), 65535]);
}

function randomEnd(r: Rand, v: 0 | 4 | 6, ports: boolean, randomPods: PodInfo[]): EventEndpoint {
  const ip = randomIp(r, v);
  const port = ports ? randomPort(r) : undefined;
  const withPort = <T extends object>(e: T): T => (port === undefined ? e : { ...e, port });
  switch (int(r, 0, 4)) {
    case 0: return withPort(podEnd(pick(r, randomPods), undefined, ip));
    case 1: return withPort(serviceEnd(ip, randomString(r), randomString(r)));
    case 2: return withPort(nodeEnd(ip, pick(r, ['node-a', 'node-b'])));
    case 3: return withPort(externalEnd(ip));
    default: return withPort(externalEnd(''));
  }
}

function randomEvent(r: Rand, randomPods: PodInfo[]): NetworkEvent {
  const v = pick(r, [0, 4, 4, 6] as const);
  const transport = v === 0 ? 'unknown' : pick(r, ['tcp', 'tcp', 'udp', 'icmp', 'other'] as const);
  const protocol = transport === 'tcp' ? 6 : transport === 'udp' ? 17 : transport === 'icmp' ? (v === 6 ? 58 : 1) : transport === 'other' ? int(r, 2, 255) : 0;
  const ports = transport === 'tcp' || transport === 'udp';
  const dropped = chance(r, 0.5);
  const flags = FLAGS.filter(() => chance(r, 0.3)).join('|');
  const ev: Record<string, unknown> = {
    name: dropped ? EVENT.drop : EVENT.flow,
    timeMs: chance(r, 0.1) ? int(r, 0, 5000) + r() : 1_600_000_000_000 + r() * 2e11,
    verdict: dropped ? VERDICT.dropped : VERDICT.forwarded,
    source: randomEnd(r, v, ports, randomPods),
    destination: randomEnd(r, v, ports, randomPods),
    ipVersion: v,
    transport,
    protocol,
    node: 'node-a',
  };
  if (transport === 'tcp' && flags) ev['tcpFlags'] = flags;
  if (chance(r, 0.7)) ev['direction'] = pick(r, ['ingress', 'egress']);
  if (chance(r, 0.6)) ev['interface'] = randomString(r);
  if (chance(r, 0.6)) ev['ifindex'] = int(r, 0, 2 ** 31);
  if (chance(r, 0.5)) ev['netns'] = int(r, 0, 2 ** 33);
  if (dropped) {
    const reason = pick(r, REASONS);
    if (reason !== undefined) ev['reason'] = reason;
    if (chance(r, 0.8)) ev['reasonCode'] = int(r, 0, 200);
    if (chance(r, 0.7)) ev['length'] = int(r, 0, 65535);
    if (chance(r, 0.6)) ev['location'] = randomString(r);
    if (chance(r, 0.6)) ev['suppressed'] = pick(r, [0, 1, int(r, 2, 1000), 2 ** 32 + 7]);
    if (chance(r, 0.8)) ev['cpu'] = int(r, 0, 255);
  } else if (chance(r, 0.9)) {
    const first = 1_600_000_000_000 + int(r, 0, 1e9);
    ev['flow'] = flowPart({
      state: pick(r, ['new', 'active', 'ended'] as const), packets: int(r, 0, 5), bytes: int(r, 0, 2 ** 40),
      totalPackets: int(r, 1, 2 ** 34), totalBytes: int(r, 0, 2 ** 50), firstSeenMs: first, lastSeenMs: first + int(r, 0, 1e6),
    });
  }
  return ev as unknown as NetworkEvent;
}

describe('property: random flows and masks (seeded)', () => {
  it('3000 random flows, each whole and under a random mask, encode as protobufjs does', () => {
    const r = prng(0xf0_7ea);
    const randomPods = Array.from({ length: 12 }, (_, i) => podInfo({
      uid: `rp-${i}`, name: i % 3 ? `pod-${i}` : randomString(r), namespace: i % 4 ? `ns-${i % 4}` : randomString(r),
      labels: Object.fromEntries(Array.from({ length: int(r, 0, 6) }, (_, j) => [`k${j}`, randomString(r)])),
      ...(i % 2 ? { serviceAccount: randomString(r) } : { serviceAccount: undefined }),
      workload: { kind: pick(r, ['Deployment', 'StatefulSet', '']), name: randomString(r) },
    }));
    randomPods.push(podInfo({ uid: 'unknown-to-identity', name: 'ghost' }));
    const known = (uid: string) => randomPods.find((p) => p.uid === uid && p.name !== 'ghost');
    const builders = ['default', 'prod', 'ünï.cluster'].map((cluster, i) => new FlowBuilder({
      cluster, node: i === 2 ? 'nødé-🚀' : 'node-a', version: randomString(r), podByUid: known,
      ...(i > 0 ? { nodeLabels: () => (i === 1 ? [] : ['a=b', randomString(r)]) } : {}),
    }));
    const builtKeys = new Set(Object.keys(builders[0]!.build(flowEvent())));
    const fixedMasks = [undefined, mask(CLI_DEFAULT_MASK)];
    let fellBack = 0;
    let compared = 0;
    for (let i = 0; i < 3000; i++) {
      const b = pick(r, builders);
      const ev = randomEvent(r, randomPods);
      const flow = b.build(ev, b.endpoints(ev));
      const time = chance(r, 0.8) ? timestampOf(ev.timeMs) : { seconds: int(r, 0, 2 ** 34), nanos: int(r, 0, 999_999_999) };
      const randomMask = mask(Array.from({ length: int(r, 1, 6) }, () => pick(r, MASK_PATHS)));
      for (const m of [...fixedMasks, randomMask]) {
        const shaped = (m ? m.apply(flow) : flow) as Flow;
        const foreign = Object.entries(shaped).some(([k, v]) => v !== undefined && !builtKeys.has(k));
        const l4Foreign = shaped.l4 !== undefined && Object.keys(shaped.l4).some((k) => k === 'VRRP' || k === 'IGMP');
        const frame = encodeFlowResponseFrame(shaped, b.node, time);
        if (foreign || l4Foreign) {
          expect(frame, `flow ${i}: fields Fovea never sets must fall back`).toBeUndefined();
          fellBack++;
          continue;
        }
        expect(frame, `flow ${i}`).toBeDefined();
        const got = decodeFrame(frame!);
        const want = reference(shaped, b.node, time);
        if (JSON.stringify(got) !== JSON.stringify(want)) expect(got, `flow ${i} mask ${m?.key ?? '-'}`).toEqual(want);
        compared++;
      }
    }
    // the loop covered both paths
    expect(compared).toBeGreaterThan(7_000);
    expect(fellBack).toBeGreaterThan(100);
  });
});

describe('encodeFactsFrame (the server\'s common path, no Flow message)', () => {
  it('is byte for byte encodeFlowResponseFrame(toFlow(facts)) for 3000 random events', () => {
    const r = prng(0xfac75);
    const pods = Array.from({ length: 8 }, (_, i) => podInfo({ uid: `p-${i}`, name: `pod-${i}`, namespace: `ns-${i % 3}`, labels: { app: randomString(r) } }));
    const builders = [
      new FlowBuilder({ cluster: 'default', node: 'node-a', version: '0.1.0', podByUid: (u) => pods.find((p) => p.uid === u) }),
      new FlowBuilder({ cluster: 'prod', node: 'nødé', version: 'v2', podByUid: (u) => pods.find((p) => p.uid === u), nodeLabels: () => ['a=b', 'zone=ünï'] }),
    ];
    let compared = 0;
    for (let i = 0; i < 3000; i++) {
      const b = pick(r, builders);
      const ev = randomEvent(r, pods);
      const facts = b.facts(ev, b.endpoints(ev));
      const direct = encodeFactsFrame(facts);
      const viaFlow = encodeFlowResponseFrame(toFlow(facts), facts.node, timestampOf(facts.timeMs));
      expect(direct === undefined, `event ${i}: both fall back or neither`).toBe(viaFlow === undefined);
      if (!direct) continue;
      if (!Buffer.from(direct).equals(Buffer.from(viaFlow!))) expect(decodeFrame(direct), `event ${i}`).toEqual(decodeFrame(viaFlow!));
      expect(Buffer.from(direct).equals(Buffer.from(viaFlow!)), `event ${i}`).toBe(true);
      compared++;
    }
    expect(compared).toBeGreaterThan(2_900);
  });
});

describe('the per-kind cache of drop Summaries and extensions', () => {
  it('gives every event what a builder that has seen nothing else gives it (1000 random events, each twice: hits and misses)', () => {
    const r = prng(0xcac4e);
    const pods = Array.from({ length: 4 }, (_, i) => podInfo({ uid: `c-${i}`, name: `c-${i}` }));
    const opts = { cluster: 'default', node: 'n', version: '1', podByUid: (u: string) => pods.find((p) => p.uid === u) };
    const cached = new FlowBuilder(opts);
    const events = Array.from({ length: 1000 }, () => randomEvent(r, pods));
    for (let i = 0; i < 2000; i++) {
      const ev = events[i % 1000]!;
      const fresh = new FlowBuilder(opts).facts(ev, cached.endpoints(ev));
      const got = cached.facts(ev, cached.endpoints(ev));
      expect(got.summary, `event ${i}`).toBe(fresh.summary);
      expect(Buffer.from(got.extension!.value).equals(Buffer.from(fresh.extension!.value)), `event ${i}`).toBe(true);
    }
  });
});

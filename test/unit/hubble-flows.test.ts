/**
 * Events → Hubble flows (src/hubble/flows.ts), with the identities (identity.ts) and drop reasons
 * (drop-reasons.ts) they carry. Expected values are written out by hand from Cilium's definitions
 * (flow.proto numbers, reserved identities, label keys) and from an FNV-1a written here with
 * BigInt and checked against the published test vectors.
 */
import { describe, expect, it } from 'vitest';
import {
  DropReasonMap, KERNEL_TO_CILIUM_DROP_REASON, UNKNOWN_DROP_REASON,
} from '../../src/hubble/drop-reasons.js';
import { EMITTER_NAME, FlowBuilder, absoluteNodeName, isReplyOf, timestampMs, timestampOf } from '../../src/hubble/flows.js';
import {
  CLUSTER_LABEL, IdentityMapper, MIN_WORKLOAD_IDENTITY, NAMESPACE_LABEL, RESERVED_IDENTITY, SERVICE_ACCOUNT_LABEL,
  WORKLOAD_IDENTITY_LIMIT, identityOfLabels, podLabels,
} from '../../src/hubble/identity.js';
import { hubbleTypes } from '../../src/hubble/proto.js';
import { STRUCT_TYPE_URL, type Flow } from '../../src/hubble/types.js';
import type { PodInfo } from '../../src/k8s/types.js';
import {
  dropEvent, externalEnd, flowEvent, flowPart, nodeEnd, podEnd, podInfo, serviceEnd,
} from '../helpers/hubble.js';

const t = hubbleTypes();

/** FNV-1a 32 over UTF-16 code units, in BigInt arithmetic (an independent implementation). */
function fnv1a(text: string): bigint {
  let h = 0x811c9dc5n;
  for (let i = 0; i < text.length; i++) {
    h ^= BigInt(text.charCodeAt(i));
    h = (h * 0x01000193n) & 0xffffffffn;
  }
  return h;
}

function expectedIdentity(labels: readonly string[]): number {
  return 256 + Number(fnv1a(labels.join('\n')) % BigInt(2 ** 24 - 256));
}

/** Flow.extensions decoded: the Struct's fovea fields as plain values. */
function extensionFields(flow: Flow): Record<string, string | number> {
  expect(flow.extensions?.type_url).toBe(STRUCT_TYPE_URL);
  const s = t.Struct.toObject(t.Struct.decode(flow.extensions!.value)) as {
    fields: { fovea: { structValue: { fields: Record<string, { numberValue?: number; stringValue?: string }> } } };
  };
  expect(Object.keys(s.fields)).toEqual(['fovea']);
  const out: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(s.fields.fovea.structValue.fields)) out[k] = v.stringValue ?? v.numberValue!;
  return out;
}

const web = podInfo();
const webLabels = [
  'k8s:app=web',
  'k8s:io.cilium.k8s.policy.cluster=default',
  'k8s:io.cilium.k8s.policy.serviceaccount=web-sa',
  'k8s:io.kubernetes.pod.namespace=shop',
];
const api = podInfo({
  uid: 'uid-api-0', name: 'api-0', namespace: 'payments', ips: ['10.0.1.7'], labels: { app: 'api', tier: 'backend' },
  serviceAccount: undefined, workload: { kind: 'StatefulSet', name: 'api' },
});
const apiLabels = ['k8s:app=api', 'k8s:io.cilium.k8s.policy.cluster=default', 'k8s:io.kubernetes.pod.namespace=payments', 'k8s:tier=backend'];

function builder(over: Partial<ConstructorParameters<typeof FlowBuilder>[0]> = {}, pods: PodInfo[] = [web, api]): FlowBuilder {
  return new FlowBuilder({
    cluster: 'default', node: 'node-a', version: '1.2.3',
    podByUid: (uid) => pods.find((p) => p.uid === uid), ...over,
  });
}

describe('absoluteNodeName', () => {
  it('is the bare node in the default (or unnamed) cluster and <cluster>/<node> elsewhere', () => {
    expect(absoluteNodeName('default', 'node-a')).toBe('node-a');
    expect(absoluteNodeName('', 'node-a')).toBe('node-a');
    expect(absoluteNodeName('prod', 'node-a')).toBe('prod/node-a');
    expect(absoluteNodeName('Default', 'node-a')).toBe('Default/node-a');
  });
});

describe('timestampOf / timestampMs', () => {
  it('splits Unix ms into seconds and nanos', () => {
    expect(timestampOf(0)).toEqual({ seconds: 0, nanos: 0 });
    expect(timestampOf(1500.25)).toEqual({ seconds: 1, nanos: 500_250_000 });
    expect(timestampOf(1_700_000_000_123)).toEqual({ seconds: 1_700_000_000, nanos: 123_000_000 });
    expect(timestampOf(1_700_000_002_250.5)).toEqual({ seconds: 1_700_000_002, nanos: 250_500_000 });
  });

  it('keeps nanos positive before 1970, as google.protobuf.Timestamp requires', () => {
    expect(timestampOf(-1.5)).toEqual({ seconds: -1, nanos: 998_500_000 });
    expect(timestampOf(-1000)).toEqual({ seconds: -1, nanos: 0 });
  });

  it('carries a fraction that rounds up to a whole second into the seconds', () => {
    // 1999.9999999 ms is 1 s + 999,999,999.9 ns: rounds to 2 s, not to 1 s and 0 ns
    expect(timestampOf(1999.9999999)).toEqual({ seconds: 2, nanos: 0 });
    expect(timestampOf(-0.0000001)).toEqual({ seconds: 0, nanos: 0 });
  });

  it('nanos always lie in 0..999,999,999 and the round trip stays within a nanosecond', () => {
    for (const ms of [0.000001, 0.4999999, 999.9999996, 59_999.9999999, 1_234_567.891234, -2500.75, 86_400_000.5]) {
      const ts = timestampOf(ms);
      expect(Number.isInteger(ts.seconds) && Number.isInteger(ts.nanos)).toBe(true);
      expect(ts.nanos).toBeGreaterThanOrEqual(0);
      expect(ts.nanos).toBeLessThan(1e9);
      expect(Math.abs(ts.seconds * 1000 + ts.nanos / 1e6 - ms)).toBeLessThan(1e-6);
    }
  });

  it('timestampMs reads numbers, strings and Long-like objects; nothing → undefined', () => {
    expect(timestampMs({ seconds: 5, nanos: 250_000_000 })).toBe(5250);
    expect(timestampMs({ seconds: '1700000000', nanos: 1_000_000 })).toBe(1_700_000_000_001);
    expect(timestampMs({ seconds: { toString: () => '7' } })).toBe(7000);
    expect(timestampMs({})).toBe(0);
    expect(timestampMs(null)).toBeUndefined();
    expect(timestampMs(undefined)).toBeUndefined();
  });
});

describe('isReplyOf', () => {
  const tcpDrop = (flags: string, sport = 40000, dport = 443) =>
    dropEvent({ tcpFlags: flags, source: externalEnd('10.0.0.1', sport), destination: externalEnd('10.0.0.2', dport) });

  it("a dropped packet's lone SYN is a request and SYN+ACK a reply, whatever the ports", () => {
    expect(isReplyOf(tcpDrop('SYN'))).toBe(false);
    expect(isReplyOf(tcpDrop('SYN', 443, 40000))).toBe(false);
    expect(isReplyOf(tcpDrop('SYN|ACK'))).toBe(true);
    expect(isReplyOf(tcpDrop('ACK|SYN', 40000, 443))).toBe(true);
  });

  it('without SYN (and for flow records, whose flags are OR-ed) the server port decides', () => {
    expect(isReplyOf(tcpDrop('ACK'))).toBe(false); // to 443: request
    expect(isReplyOf(tcpDrop('ACK|PSH', 443, 40000))).toBe(true); // from 443: reply
    expect(isReplyOf(tcpDrop('RST', 50000, 51000))).toBe(true); // both ephemeral: the lower port serves
    expect(isReplyOf(tcpDrop('RST', 51000, 50000))).toBe(false);
    expect(isReplyOf(tcpDrop('RST', 8080, 443))).toBe(false); // both below: the lower port serves
    expect(isReplyOf(tcpDrop('RST', 443, 8080))).toBe(true);
    expect(isReplyOf(flowEvent({ tcpFlags: 'SYN' }))).toBe(false);
    expect(isReplyOf(flowEvent({ tcpFlags: 'SYN', source: externalEnd('10.0.0.9', 443), destination: externalEnd('10.0.0.5', 40000) }))).toBe(true);
    expect(isReplyOf(flowEvent({ tcpFlags: undefined }))).toBe(false);
  });

  it('UDP by ports; unset for protocols without ports or with a port missing', () => {
    const udp = (sport: number, dport: number) => flowEvent({
      transport: 'udp', protocol: 17, tcpFlags: undefined, source: externalEnd('10.0.0.1', sport), destination: externalEnd('10.0.0.2', dport),
    });
    expect(isReplyOf(udp(40000, 53))).toBe(false);
    expect(isReplyOf(udp(53, 40000))).toBe(true);
    expect(isReplyOf(flowEvent({ transport: 'icmp', protocol: 1, tcpFlags: undefined }))).toBeUndefined();
    expect(isReplyOf(flowEvent({ transport: 'other', protocol: 47, tcpFlags: undefined }))).toBeUndefined();
    expect(isReplyOf(flowEvent({ transport: 'unknown', protocol: 0, ipVersion: 0 }))).toBeUndefined();
    expect(isReplyOf(flowEvent({ source: externalEnd('10.0.0.1') }))).toBeUndefined();
  });
});

describe('identity', () => {
  it('FNV-1a here matches the published vectors (so the expected identities below are independent)', () => {
    expect(fnv1a('')).toBe(0x811c9dc5n);
    expect(fnv1a('a')).toBe(0xe40c292cn);
    expect(fnv1a('foobar')).toBe(0xbf9cf968n);
  });

  it('identityOfLabels hashes the joined labels into [256, 2^24)', () => {
    expect(MIN_WORKLOAD_IDENTITY).toBe(256);
    expect(WORKLOAD_IDENTITY_LIMIT).toBe(16_777_216);
    expect(identityOfLabels([])).toBe(256 + (0x811c9dc5 % (16_777_216 - 256)));
    expect(identityOfLabels(['foobar'])).toBe(256 + (0xbf9cf968 % (16_777_216 - 256)));
    expect(identityOfLabels(webLabels)).toBe(expectedIdentity(webLabels));
    for (let i = 0; i < 500; i++) {
      const id = identityOfLabels([`k8s:app=w${i}`, `k8s:${NAMESPACE_LABEL}=ns${i % 7}`]);
      expect(id).toBeGreaterThanOrEqual(256);
      expect(id).toBeLessThan(2 ** 24);
    }
  });

  it("Cilium's reserved identities and label keys", () => {
    expect(RESERVED_IDENTITY).toEqual({ unknown: 0, host: 1, world: 2, unmanaged: 3, health: 4, init: 5, remoteNode: 6, kubeApiserver: 7 });
    expect(NAMESPACE_LABEL).toBe('io.kubernetes.pod.namespace');
    expect(SERVICE_ACCOUNT_LABEL).toBe('io.cilium.k8s.policy.serviceaccount');
    expect(CLUSTER_LABEL).toBe('io.cilium.k8s.policy.cluster');
  });

  it('podLabels: identity labels as k8s:, plus cluster, service account and namespace, sorted', () => {
    expect(podLabels(web, 'default')).toEqual(webLabels);
    expect(podLabels(api, 'default')).toEqual(apiLabels);
    expect(podLabels(podInfo({ labels: { 'z.io/x': '1', a: '' }, serviceAccount: 'sa' }), 'eu')).toEqual([
      'k8s:a=', 'k8s:io.cilium.k8s.policy.cluster=eu', 'k8s:io.cilium.k8s.policy.serviceaccount=sa',
      'k8s:io.kubernetes.pod.namespace=shop', 'k8s:z.io/x=1',
    ]);
    expect(podLabels(podInfo({ labels: undefined, serviceAccount: undefined }), 'default'))
      .toEqual(['k8s:io.cilium.k8s.policy.cluster=default', 'k8s:io.kubernetes.pod.namespace=shop']);
  });

  it('a standalone network-namespace workload is fovea:netns=<name>', () => {
    const ns = podInfo({ namespace: '', name: 'blue', workload: { kind: 'NetworkNamespace', name: 'blue' } });
    expect(podLabels(ns, 'default')).toEqual(['fovea:netns=blue']);
    // an empty namespace alone is not enough
    expect(podLabels(podInfo({ namespace: '', labels: {}, serviceAccount: undefined }), 'c'))
      .toEqual(['k8s:io.cilium.k8s.policy.cluster=c', 'k8s:io.kubernetes.pod.namespace=']);
  });

  it('IdentityMapper: pods by their labels, nodes as host/remote-node, the rest world or unknown', () => {
    const pods = new Map([[web.uid, web]]);
    const m = new IdentityMapper('default', 'node-a', (uid) => pods.get(uid));
    expect(m.of(podEnd(web))).toEqual({ identity: expectedIdentity(webLabels), labels: webLabels });
    expect(m.of(podEnd(api))).toEqual({ identity: 2, labels: ['reserved:world'] }); // not known
    expect(m.of({ ip: '10.0.0.5', kind: 'pod', namespace: 'shop', pod: 'x' })).toEqual({ identity: 2, labels: ['reserved:world'] });
    expect(m.of(nodeEnd('192.168.0.1', 'node-a'))).toEqual({ identity: 1, labels: ['reserved:host'] });
    expect(m.of(nodeEnd('192.168.0.2', 'node-b'))).toEqual({ identity: 6, labels: ['reserved:remote-node'] });
    expect(m.of(serviceEnd('10.96.0.10', 'dns', 'kube-system'))).toEqual({ identity: 2, labels: ['reserved:world'] });
    expect(m.of(externalEnd('8.8.8.8'))).toEqual({ identity: 2, labels: ['reserved:world'] });
    // loopback is this node
    expect(m.of(externalEnd('127.0.0.1'))).toEqual({ identity: 1, labels: ['reserved:host'] });
    expect(m.of(externalEnd('::1'))).toEqual({ identity: 1, labels: ['reserved:host'] });
    expect(m.of(externalEnd(''))).toEqual({ identity: 0, labels: [] });
  });

  it('IdentityMapper caches per PodInfo object and recomputes when the pod changes', () => {
    const pods = new Map([[web.uid, web]]);
    const m = new IdentityMapper('default', 'node-a', (uid) => pods.get(uid));
    const first = m.of(podEnd(web));
    expect(m.of(podEnd(web))).toBe(first);
    const relabelled = podInfo({ labels: { app: 'web', track: 'canary' } });
    pods.set(web.uid, relabelled);
    const second = m.of(podEnd(web));
    expect(second).not.toBe(first);
    expect(second.labels).toEqual(['k8s:app=web', ...webLabels.slice(1, 4), 'k8s:track=canary']);
    expect(second.identity).toBe(expectedIdentity(second.labels));
    // another cluster, another identity for the same pod
    expect(new IdentityMapper('eu', 'node-a', (uid) => pods.get(uid)).of(podEnd(web)).identity).not.toBe(second.identity);
  });
});

describe('drop reasons', () => {
  it('every mapped name is a flow.DropReason value other than DROP_REASON_UNKNOWN', () => {
    const values = t.root.lookupEnum('flow.DropReason').values;
    for (const [kernel, cilium] of Object.entries(KERNEL_TO_CILIUM_DROP_REASON)) {
      expect.soft(values[cilium], `${kernel} → ${cilium}`).toBeGreaterThan(0);
      expect(kernel).toMatch(/^[A-Z0-9_]+$/);
      expect(kernel.startsWith('SKB_DROP_REASON_')).toBe(false);
    }
  });

  it("every mapped key is a kernel reason (DEFINE_DROP_REASON in Linux's include/net/dropreason-core.h)", () => {
    const kernel = new Set(`NOT_SPECIFIED NO_SOCKET PKT_TOO_SMALL TCP_CSUM SOCKET_FILTER UDP_CSUM NETFILTER_DROP OTHERHOST
      IP_CSUM IP_INHDR IP_RPFILTER UNICAST_IN_L2_MULTICAST XFRM_POLICY IP_NOPROTO SOCKET_RCVBUFF PROTO_MEM TCP_AUTH_HDR
      TCP_MD5NOTFOUND TCP_MD5UNEXPECTED TCP_MD5FAILURE TCP_AONOTFOUND TCP_AOUNEXPECTED TCP_AOKEYNOTFOUND TCP_AOFAILURE
      SOCKET_BACKLOG TCP_FLAGS TCP_ABORT_ON_DATA TCP_ZEROWINDOW TCP_OLD_DATA TCP_OVERWINDOW TCP_OFOMERGE TCP_RFC7323_PAWS
      TCP_OLD_SEQUENCE TCP_INVALID_SEQUENCE TCP_INVALID_ACK_SEQUENCE TCP_RESET TCP_INVALID_SYN TCP_CLOSE TCP_FASTOPEN
      TCP_OLD_ACK TCP_TOO_OLD_ACK TCP_ACK_UNSENT_DATA TCP_OFO_QUEUE_PRUNE TCP_OFO_DROP IP_OUTNOROUTES BPF_CGROUP_EGRESS
      IPV6DISABLED NEIGH_CREATEFAIL NEIGH_FAILED NEIGH_QUEUEFULL NEIGH_DEAD TC_EGRESS SECURITY_HOOK QDISC_DROP
      QDISC_OVERLIMIT QDISC_CONGESTED CAKE_FLOOD FQ_BAND_LIMIT FQ_HORIZON_LIMIT FQ_FLOW_LIMIT CPU_BACKLOG XDP TC_INGRESS
      UNHANDLED_PROTO SKB_CSUM SKB_GSO_SEG SKB_UCOPY_FAULT DEV_HDR DEV_READY FULL_RING NOMEM HDR_TRUNC TAP_FILTER
      TAP_TXFILTER ICMP_CSUM INVALID_PROTO IP_INADDRERRORS IP_INNOROUTES IP_LOCAL_SOURCE IP_INVALID_SOURCE IP_LOCALNET
      IP_INVALID_DEST PKT_TOO_BIG DUP_FRAG FRAG_REASM_TIMEOUT FRAG_TOO_FAR TCP_MINTTL IPV6_BAD_EXTHDR IPV6_NDISC_FRAG
      IPV6_NDISC_HOP_LIMIT IPV6_NDISC_BAD_CODE IPV6_NDISC_BAD_OPTIONS IPV6_NDISC_NS_OTHERHOST QUEUE_PURGE TC_COOKIE_ERROR
      PACKET_SOCK_ERROR TC_CHAIN_NOTFOUND TC_RECLASSIFY_LOOP VXLAN_INVALID_HDR VXLAN_VNI_NOT_FOUND MAC_INVALID_SOURCE
      VXLAN_ENTRY_EXISTS VXLAN_NO_REMOTE IP_TUNNEL_ECN TUNNEL_TXINFO LOCAL_MAC ARP_PVLAN_DISABLE`.split(/\s+/));
    for (const k of Object.keys(KERNEL_TO_CILIUM_DROP_REASON)) expect.soft(kernel.has(k), k).toBe(true);
  });

  it("maps to Cilium's codes (numbers from cilium api/v1/flow/flow.proto)", () => {
    const m = new DropReasonMap();
    const cases: [string, string, number][] = [
      ['NETFILTER_DROP', 'POLICY_DENIED', 133],
      ['SECURITY_HOOK', 'POLICY_DENIED', 133],
      ['IP_RPFILTER', 'INVALID_SOURCE_IP', 132],
      ['MAC_INVALID_SOURCE', 'INVALID_SOURCE_MAC', 130],
      ['PKT_TOO_SMALL', 'INVALID_PACKET_DROPPED', 134],
      ['TCP_CSUM', 'INVALID_PACKET_DROPPED', 134],
      ['UNHANDLED_PROTO', 'UNSUPPORTED_L3_PROTOCOL', 139],
      ['IP_NOPROTO', 'UNKNOWN_L4_PROTOCOL', 142],
      ['IP_INADDRERRORS', 'UNKNOWN_L3_TARGET_ADDRESS', 150],
      ['IPV6_BAD_EXTHDR', 'INVALID_IPV6_EXTENSION_HEADER', 156],
      ['FQ_HORIZON_LIMIT', 'REACHED_EDT_RATE_LIMITING_DROP_HORIZON', 162],
      ['IP_OUTNOROUTES', 'FIB_LOOKUP_FAILED', 169],
      ['NEIGH_FAILED', 'FIB_LOOKUP_FAILED', 169],
      ['NO_SOCKET', 'SOCKET_LOOKUP_FAILED', 178],
      ['VXLAN_VNI_NOT_FOUND', 'INVALID_VNI', 183],
    ];
    for (const [kernel, name, code] of cases) expect(m.map(kernel), kernel).toEqual({ name, code });
  });

  it('unmapped, UNKNOWN_<n> and absent reasons are DROP_REASON_UNKNOWN (0); results are cached', () => {
    const m = new DropReasonMap();
    expect(UNKNOWN_DROP_REASON).toBe('DROP_REASON_UNKNOWN');
    for (const r of ['NOT_SPECIFIED', 'TCP_OLD_DATA', 'UNKNOWN_42', '', undefined, 'toString', '__proto__', 'netfilter_drop']) {
      expect(m.map(r), String(r)).toEqual({ name: 'DROP_REASON_UNKNOWN', code: 0 });
    }
    expect(m.map('NO_SOCKET')).toBe(m.map('NO_SOCKET'));
  });
});

describe('FlowBuilder', () => {
  it('a drop between two known pods: every field', () => {
    const b = builder({ nodeLabels: () => ['kubernetes.io/hostname=node-a', 'topology.kubernetes.io/zone=a'] });
    const ev = dropEvent({ source: podEnd(web, 40000), destination: podEnd(api, 8443), direction: 'egress', netns: 4026532000 });
    const f = b.build(ev);
    expect(f.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const { uuid: _u, extensions: _x, ...rest } = f;
    expect(rest).toEqual({
      time: { seconds: 1_700_000_002, nanos: 250_500_000 },
      emitter: { name: 'Fovea', version: '1.2.3' },
      verdict: 2,
      drop_reason: 133,
      IP: { source: '10.0.0.5', destination: '10.0.1.7', ipVersion: 1 },
      l4: { TCP: { source_port: 40000, destination_port: 8443, flags: { SYN: true } } },
      source: {
        identity: expectedIdentity(webLabels), cluster_name: 'default', namespace: 'shop', labels: webLabels,
        pod_name: 'web-1', workloads: [{ name: 'web', kind: 'Deployment' }],
      },
      destination: {
        identity: expectedIdentity(apiLabels), cluster_name: 'default', namespace: 'payments', labels: apiLabels,
        pod_name: 'api-0', workloads: [{ name: 'api', kind: 'StatefulSet' }],
      },
      Type: 1,
      node_name: 'node-a',
      node_labels: ['kubernetes.io/hostname=node-a', 'topology.kubernetes.io/zone=a'],
      reply: false,
      event_type: { type: 1, sub_type: 133 },
      traffic_direction: 2,
      drop_reason_desc: 133,
      is_reply: { value: false },
      interface: { index: 2, name: 'eth0' },
      Summary: 'NETFILTER_DROP (kernel drop reason) at nf_hook_slow+0x9c; TCP Flags: SYN',
    });
    expect(f.trace_observation_point).toBeUndefined(); // drops have no observation point
    expect(extensionFields(f)).toEqual({
      cpu: 1, drop_location: 'nf_hook_slow+0x9c', kernel_drop_reason: 'NETFILTER_DROP', kernel_drop_reason_code: 8,
      netns: 4026532000, packet_length: 60, suppressed: 0,
    });
    // the Flow is a valid flow.Flow
    expect(t.Flow.verify(f)).toBeNull();
  });

  it('extension keys are written in sorted order', () => {
    const b = builder();
    for (const ev of [dropEvent({ netns: 5 }), flowEvent()]) {
      const keys = Object.keys(extensionFields(b.build(ev)));
      expect(keys).toEqual([...keys].sort());
    }
  });

  it('a flow record leaving a pod: FORWARDED from-endpoint, trace event, flow counts in Summary and extensions', () => {
    const b = builder();
    const ev = flowEvent({ source: podEnd(web, 40000), destination: externalEnd('93.184.216.34', 443), tcpFlags: 'ACK|SYN|FIN' });
    const f = b.build(ev);
    expect(f.verdict).toBe(1);
    expect(f.drop_reason).toBeUndefined();
    expect(f.drop_reason_desc).toBeUndefined();
    expect(f.traffic_direction).toBe(2);
    expect(f.trace_observation_point).toBe(5);
    expect(f.event_type).toEqual({ type: 4, sub_type: 5 });
    expect(f.l4).toEqual({ TCP: { source_port: 40000, destination_port: 443, flags: { FIN: true, SYN: true, ACK: true } } });
    expect(f.destination).toEqual({ identity: 2, labels: ['reserved:world'] });
    expect(f.is_reply).toEqual({ value: false });
    expect(f.interface).toEqual({ index: 17, name: 'lxc1234' });
    expect(f.Summary).toBe('TCP Flags: FIN, SYN, ACK; active flow: 3 packets, 420 bytes (10 packets in all)');
    expect(extensionFields(f)).toEqual({
      bytes: 420, first_seen: '2023-11-14T22:13:20.000Z', flow_state: 'active', last_seen: '2023-11-14T22:13:21.500Z',
      netns: 4026531840, packets: 3, total_bytes: 1400, total_packets: 10,
    });
  });

  it('a flow record on its way to a pod is to-endpoint (101), sub-type 0; singular counts', () => {
    const f = builder().build(flowEvent({
      direction: 'ingress', source: externalEnd('10.9.9.9', 443), destination: podEnd(web, 40000),
      flow: flowPart({ state: 'new', packets: 1, bytes: 1, totalPackets: 1 }), tcpFlags: 'SYN|ACK',
    }));
    expect(f.traffic_direction).toBe(1);
    expect(f.trace_observation_point).toBe(101);
    expect(f.event_type).toEqual({ type: 4, sub_type: 0 });
    expect(f.reply).toBe(true);
    expect(f.is_reply).toEqual({ value: true });
    expect(f.Summary).toBe('TCP Flags: SYN, ACK; new flow: 1 packet, 1 byte (1 packet in all)');
  });

  it('without a direction: no traffic direction, no observation point', () => {
    const f = builder().build(flowEvent({ direction: undefined }));
    expect(f.traffic_direction).toBeUndefined();
    expect(f.trace_observation_point).toBeUndefined();
    expect(f.event_type).toEqual({ type: 4, sub_type: 0 });
    const d = builder().build(dropEvent({ direction: 'ingress' }));
    expect(d.traffic_direction).toBe(1);
    expect(d.trace_observation_point).toBeUndefined();
  });

  it('an unmapped UDP drop: no drop_reason, sub-type 0, suppressed drops in Summary and extensions', () => {
    const f = builder().build(dropEvent({
      reason: 'UNKNOWN_77', reasonCode: 77, transport: 'udp', protocol: 17, tcpFlags: undefined, location: undefined,
      suppressed: 3, cpu: 2, source: externalEnd('10.0.0.5', 40000), destination: externalEnd('10.0.0.9', 53),
    }));
    expect(f.drop_reason).toBeUndefined();
    expect(f.drop_reason_desc).toBeUndefined();
    expect(f.event_type).toEqual({ type: 1, sub_type: 0 });
    expect(f.l4).toEqual({ UDP: { source_port: 40000, destination_port: 53 } });
    expect(f.Summary).toBe('UNKNOWN_77 (kernel drop reason); UDP; +3 more drops of this reason on CPU 2 not shown (rate limit or full ring buffer)');
    expect(extensionFields(f)).toMatchObject({ kernel_drop_reason: 'UNKNOWN_77', kernel_drop_reason_code: 77, suppressed: 3, cpu: 2 });
    expect(extensionFields(f)).not.toHaveProperty('drop_location');

    const g = builder().build(dropEvent({ reason: undefined, reasonCode: undefined, location: undefined, suppressed: 1, cpu: undefined, length: undefined }));
    expect(g.Summary).toBe('UNKNOWN (kernel drop reason); TCP Flags: SYN; +1 more drop of this reason on CPU ? not shown (rate limit or full ring buffer)');
    expect(extensionFields(g)).toEqual({ kernel_drop_reason: 'UNKNOWN', suppressed: 1 });
  });

  it('ICMPv4 and ICMPv6: the protocol only, no ports, no reply flag', () => {
    const v4 = builder().build(dropEvent({ transport: 'icmp', protocol: 1, tcpFlags: undefined, source: externalEnd('10.0.0.1'), destination: externalEnd('10.0.0.2') }));
    expect(v4.l4).toEqual({ ICMPv4: {} });
    expect(v4.reply).toBeUndefined();
    expect(v4.is_reply).toBeUndefined();
    expect(v4.Summary).toBe('NETFILTER_DROP (kernel drop reason) at nf_hook_slow+0x9c; ICMPv4');
    const v6 = builder().build(flowEvent({
      ipVersion: 6, transport: 'icmp', protocol: 58, tcpFlags: undefined, source: externalEnd('fd00::1'), destination: externalEnd('2001:db8::2'),
    }));
    expect(v6.l4).toEqual({ ICMPv6: {} });
    expect(v6.IP).toEqual({ source: 'fd00::1', destination: '2001:db8::2', ipVersion: 2 });
    expect(v6.Summary).toBe('ICMPv6; active flow: 3 packets, 420 bytes (10 packets in all)');
  });

  it('not IP, and IP protocols without a decoder', () => {
    const none = builder().build(dropEvent({ ipVersion: 0, transport: 'unknown', protocol: 0, tcpFlags: undefined, source: externalEnd(''), destination: externalEnd(''), location: undefined }));
    expect(none.IP).toBeUndefined();
    expect(none.l4).toBeUndefined();
    expect(none.source).toEqual({});
    expect(none.destination).toEqual({});
    expect(none.Summary).toBe('NETFILTER_DROP (kernel drop reason); not IP');
    const gre = builder().build(dropEvent({ transport: 'other', protocol: 47, tcpFlags: undefined, location: undefined }));
    expect(gre.l4).toBeUndefined();
    expect(gre.Summary).toBe('NETFILTER_DROP (kernel drop reason); IP protocol 47');
  });

  it('TCP flags: unknown names ignored, none → no flags message', () => {
    const f = builder().build(dropEvent({ tcpFlags: 'SYN|BOGUS|ECE|CWR|URG|PSH|RST' }));
    expect(f.l4!.TCP!.flags).toEqual({ SYN: true, ECE: true, CWR: true, URG: true, PSH: true, RST: true });
    expect(f.Summary).toContain('TCP Flags: SYN, RST, PSH, URG, ECE, CWR');
    const g = builder().build(flowEvent({ tcpFlags: undefined, source: externalEnd('1.1.1.1'), destination: externalEnd('2.2.2.2') }));
    expect(g.l4).toEqual({ TCP: {} });
    expect(g.Summary).toBe('IP protocol 6; active flow: 3 packets, 420 bytes (10 packets in all)');
  });

  it('services, nodes and external ends', () => {
    const b = builder();
    const f = b.build(flowEvent({ source: nodeEnd('192.168.0.1', 'node-a', 40000), destination: serviceEnd('10.96.0.10', 'kube-dns', 'kube-system', 53) }));
    expect(f.source).toEqual({ identity: 1, labels: ['reserved:host'] });
    expect(f.destination).toEqual({ identity: 2, labels: ['reserved:world'] });
    expect(f.destination_service).toEqual({ name: 'kube-dns', namespace: 'kube-system' });
    expect(f.source_service).toBeUndefined();
    const g = b.build(flowEvent({ source: serviceEnd('10.96.0.1', 'kubernetes', 'default', 443), destination: nodeEnd('192.168.0.2', 'node-b', 40000) }));
    expect(g.source_service).toEqual({ name: 'kubernetes', namespace: 'default' });
    expect(g.destination).toEqual({ identity: 6, labels: ['reserved:remote-node'] });
  });

  it('a pod the identity source no longer knows keeps its name but is world', () => {
    const f = builder({}, []).build(flowEvent({ source: podEnd(web, 40000) }));
    expect(f.source).toEqual({
      identity: 2, cluster_name: 'default', namespace: 'shop', labels: ['reserved:world'], pod_name: 'web-1',
      workloads: [{ name: 'web', kind: 'Deployment' }],
    });
  });

  it('another cluster: absolute node name, cluster on pod endpoints and in their labels', () => {
    const b = builder({ cluster: 'prod' });
    expect(b.node).toBe('prod/node-a');
    const f = b.build(flowEvent({ source: podEnd(web, 40000) }));
    expect(f.node_name).toBe('prod/node-a');
    expect(f.source!.cluster_name).toBe('prod');
    expect(f.source!.labels).toContain('k8s:io.cilium.k8s.policy.cluster=prod');
    expect(f.source!.identity).toBe(expectedIdentity(podLabels(web, 'prod')));
    expect(builder().node).toBe('node-a');
  });

  it('node labels only when there are some; the interface only when known', () => {
    expect(builder({ nodeLabels: () => [] }).build(flowEvent()).node_labels).toBeUndefined();
    expect(builder().build(flowEvent()).node_labels).toBeUndefined();
    const b = builder();
    expect(b.build(flowEvent({ ifindex: undefined, interface: undefined })).interface).toBeUndefined();
    expect(b.build(flowEvent({ ifindex: 0, interface: '' })).interface).toBeUndefined();
    expect(b.build(flowEvent({ ifindex: 9, interface: undefined })).interface).toEqual({ index: 9 });
    expect(b.build(flowEvent({ ifindex: undefined, interface: 'veth9' })).interface).toEqual({ name: 'veth9' });
  });

  it('one endpoint object per pod, renewed when the pod or its workload changes', () => {
    const pods = [web, api];
    const b = builder({}, pods);
    const one = b.build(flowEvent({ source: podEnd(web, 1) })).source;
    const two = b.build(flowEvent({ source: podEnd(web, 2), destination: podEnd(web, 3) }));
    expect(two.source).toBe(one);
    expect(two.destination).toBe(one);
    pods[0] = podInfo({ labels: { app: 'web', v: '2' } });
    const three = b.build(flowEvent({ source: podEnd(web, 1) })).source;
    expect(three).not.toBe(one);
    expect(three!.labels).toContain('k8s:v=2');
    const four = b.build(flowEvent({ source: { ...podEnd(web, 1), workloadName: 'web-v2' } })).source;
    expect(four!.workloads).toEqual([{ name: 'web-v2', kind: 'Deployment' }]);
    expect(b.build(flowEvent({ source: { ...podEnd(web, 1), workloadKind: undefined, workloadName: 'x' } })).source!.workloads)
      .toEqual([{ name: 'x', kind: '' }]);
  });

  it('endpoints resolved when the event arrived are what a later build shows', () => {
    const pods = [web];
    const b = builder({}, pods);
    const ev = flowEvent({ source: podEnd(web, 40000) });
    const ends = b.endpoints(ev);
    pods.length = 0; // the pod is deleted before a client reads the flow
    const f = b.build(ev, ends);
    expect(f.source).toBe(ends.source);
    expect(f.source!.identity).toBe(expectedIdentity(webLabels));
    expect(b.build(ev).source!.identity).toBe(2);
  });

  it('every flow has its own uuid and the emitter of this agent', () => {
    const b = builder();
    const ids = new Set(Array.from({ length: 50 }, () => b.build(flowEvent()).uuid));
    expect(ids.size).toBe(50);
    expect(b.build(flowEvent()).emitter).toEqual({ name: EMITTER_NAME, version: '1.2.3' });
    expect(EMITTER_NAME).toBe('Fovea');
  });
});

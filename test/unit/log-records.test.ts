/**
 * NetworkEvent → OTLP log record: every attribute of a drop event and of a flow event, optional
 * values omitted (never undefined), the local pod's k8s.* keys for the collector's association.
 */
import { SeverityNumber } from '@opentelemetry/api-logs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { describe, expect, it } from 'vitest';
import type { NetworkEvent } from '../../src/events/types.js';
import { eventAttributes, eventScope, eventSummary, eventToLogRecord, msToHrTime } from '../../src/export/log-records.js';
import { EVENT, VERDICT } from '../../src/names.js';

const resource = resourceFromAttributes({ 'service.name': 'fovea', 'k8s.node.name': 'node-a' });

const drop: NetworkEvent = {
  name: EVENT.drop,
  timeMs: 1_700_000_000_123.456,
  verdict: VERDICT.dropped,
  reason: 'NETFILTER_DROP',
  reasonCode: 6,
  source: {
    ip: '10.0.0.1', port: 40000, kind: 'pod', namespace: 'default', pod: 'client-7f9', podUid: 'uid-client',
    workloadKind: 'Deployment', workloadName: 'client', node: 'node-a', local: true,
  },
  destination: {
    ip: '10.0.0.2', port: 80, kind: 'pod', namespace: 'default', pod: 'server-1', podUid: 'uid-server',
    workloadKind: 'StatefulSet', workloadName: 'server', node: 'node-b', local: false,
  },
  ipVersion: 4,
  transport: 'tcp',
  protocol: 6,
  tcpFlags: 'SYN',
  length: 60,
  interface: 'veth1',
  ifindex: 7,
  netns: 4026531840,
  direction: 'egress',
  location: 'nft_do_chain+0x3c4',
  suppressed: 3,
  cpu: 2,
  node: 'node-a',
};

const flow: NetworkEvent = {
  name: EVENT.flow,
  timeMs: 1_700_000_001_000,
  verdict: VERDICT.forwarded,
  source: { ip: 'fd00::1', port: 5353, kind: 'external' },
  destination: {
    ip: 'fd00::10', port: 53, kind: 'service', namespace: 'kube-system', service: 'kube-dns', node: undefined,
  },
  ipVersion: 6,
  transport: 'udp',
  protocol: 17,
  interface: 'veth9',
  direction: 'ingress',
  flow: { state: 'ended', packets: 3, bytes: 180, totalPackets: 10, totalBytes: 900, firstSeenMs: 1_700_000_000_000, lastSeenMs: 1_700_000_001_000 },
  node: 'node-a',
};

describe('eventToLogRecord', () => {
  it('maps a drop event: name, time, WARN, summary body, every attribute', () => {
    const r = eventToLogRecord(drop, resource, 1_700_000_000_500);
    expect(r.eventName).toBe('fovea.network.packet.drop');
    expect(r.hrTime).toEqual([1_700_000_000, 123_456_000]);
    expect(r.hrTimeObserved).toEqual([1_700_000_000, 500_000_000]);
    expect(r.severityNumber).toBe(SeverityNumber.WARN);
    expect(r.severityText).toBe('WARN');
    expect(r.resource).toBe(resource);
    expect(r.instrumentationScope).toBe(eventScope());
    expect(r.instrumentationScope.name).toBe('fovea');
    expect(r.droppedAttributesCount).toBe(0);
    expect(r.body).toBe('DROPPED NETFILTER_DROP tcp 10.0.0.1:40000 (default/client-7f9) → 10.0.0.2:80 (default/server-1) on veth1 (+3 suppressed)');
    expect(r.attributes).toEqual({
      'fovea.verdict': 'DROPPED',
      'fovea.drop.reason': 'NETFILTER_DROP',
      'network.transport': 'tcp',
      'network.type': 'ipv4',
      'source.address': '10.0.0.1',
      'source.port': 40000,
      'fovea.source.kind': 'pod',
      'fovea.source.namespace': 'default',
      'fovea.source.workload.kind': 'Deployment',
      'fovea.source.workload.name': 'client',
      'fovea.source.pod.name': 'client-7f9',
      'fovea.source.pod.uid': 'uid-client',
      'fovea.source.node.name': 'node-a',
      'destination.address': '10.0.0.2',
      'destination.port': 80,
      'fovea.destination.kind': 'pod',
      'fovea.destination.namespace': 'default',
      'fovea.destination.workload.kind': 'StatefulSet',
      'fovea.destination.workload.name': 'server',
      'fovea.destination.pod.name': 'server-1',
      'fovea.destination.pod.uid': 'uid-server',
      'fovea.destination.node.name': 'node-b',
      'network.interface.name': 'veth1',
      'fovea.netns': 4026531840,
      'fovea.direction': 'egress',
      'fovea.drop.location': 'nft_do_chain+0x3c4',
      'fovea.events.suppressed': 3,
      'fovea.tcp.flags': 'SYN',
      'fovea.packet.length': 60,
      // the local end (the source) for the collector's k8sattributes association
      'k8s.pod.uid': 'uid-client',
      'k8s.pod.name': 'client-7f9',
      'k8s.namespace.name': 'default',
    });
  });

  it('maps a flow event: INFO, flow part, service and external ends, no k8s.* without a local pod', () => {
    const r = eventToLogRecord(flow, resource, 1_700_000_001_100);
    expect(r.eventName).toBe('fovea.network.flow');
    expect(r.hrTime).toEqual([1_700_000_001, 0]);
    expect(r.severityNumber).toBe(SeverityNumber.INFO);
    expect(r.severityText).toBe('INFO');
    expect(r.body).toBe('FORWARDED udp [fd00::1]:5353 → [fd00::10]:53 (svc kube-system/kube-dns) on veth9: flow ended, 3 packets, 180 bytes');
    expect(r.attributes).toEqual({
      'fovea.verdict': 'FORWARDED',
      'network.transport': 'udp',
      'network.type': 'ipv6',
      'source.address': 'fd00::1',
      'source.port': 5353,
      'fovea.source.kind': 'external',
      'destination.address': 'fd00::10',
      'destination.port': 53,
      'fovea.destination.kind': 'service',
      'fovea.destination.namespace': 'kube-system',
      'fovea.destination.service.name': 'kube-dns',
      'network.interface.name': 'veth9',
      'fovea.direction': 'ingress',
      'fovea.flow.state': 'ended',
      'fovea.flow.record.packets': 3,
      'fovea.flow.record.bytes': 180,
      'fovea.flow.total.packets': 10,
      'fovea.flow.total.bytes': 900,
    });
  });

  it('omits every absent optional value and never writes undefined or empty strings', () => {
    const bare: NetworkEvent = {
      name: EVENT.drop, timeMs: 1000, verdict: VERDICT.dropped,
      source: { ip: '', kind: 'external' }, destination: { ip: '', kind: 'external' },
      ipVersion: 0, transport: 'unknown', protocol: 0, node: 'n',
    };
    const a = eventAttributes(bare);
    expect(a).toEqual({ 'fovea.verdict': 'DROPPED', 'fovea.source.kind': 'external', 'fovea.destination.kind': 'external' });
    expect(Object.values(a).every((v) => v !== undefined && v !== '')).toBe(true);
    expect(eventSummary(bare)).toBe('DROPPED unknown ? → ?');
  });

  it('takes the destination as the local pod when only it is local; the source when both are', () => {
    const toLocal: NetworkEvent = {
      ...drop,
      source: { ip: '192.0.2.9', port: 1234, kind: 'external' },
      destination: { ...drop.destination, local: true },
    };
    expect(eventAttributes(toLocal)).toMatchObject({ 'k8s.pod.uid': 'uid-server', 'k8s.pod.name': 'server-1', 'k8s.namespace.name': 'default' });
    const both: NetworkEvent = { ...drop, destination: { ...drop.destination, local: true } };
    expect(eventAttributes(both)).toMatchObject({ 'k8s.pod.uid': 'uid-client' });
    // A local pod without a uid: name and namespace only.
    const noUid: NetworkEvent = { ...drop, source: { ip: '10.0.0.1', kind: 'pod', pod: 'p', namespace: 'ns', local: true } };
    const a = eventAttributes(noUid);
    expect(a).toMatchObject({ 'k8s.pod.name': 'p', 'k8s.namespace.name': 'ns' });
    expect('k8s.pod.uid' in a).toBe(false);
  });

  it('converts sub-millisecond times to [s, ns] at microsecond resolution, carrying into the seconds', () => {
    expect(msToHrTime(0)).toEqual([0, 0]);
    expect(msToHrTime(1_500.25)).toEqual([1, 500_250_000]);
    expect(msToHrTime(1_999.9999999)).toEqual([2, 0]);
    expect(msToHrTime(1_700_000_000_123.456)).toEqual([1_700_000_000, 123_456_000]);
  });
});

/** TCP events: ring records → NetworkEvents (orientation, kinds, failure and errno names) and their OTLP/observe forms. */
import { describe, expect, it } from 'vitest';
import { TcpEventSource } from '../../src/events/tcp-events.js';
import { eventAttributes, eventSummary } from '../../src/export/log-records.js';
import { StaticIdentity } from '../../src/k8s/static.js';
import type { PodInfo } from '../../src/k8s/types.js';
import { eventCells } from '../../src/observe/format.js';
import { TCP_EVENT_TYPE, TCP_SIDE, type RawTcpEvent } from '../../src/probes/tcp/layout.js';

const pod = (name: string, ip: string): PodInfo => ({
  uid: `uid-${name}`, name, namespace: 'shop', nodeName: 'n1', ips: [ip], hostNetwork: false,
  workload: { kind: 'Deployment', name }, phase: 'Running',
});
const identity = new StaticIdentity({ nodeName: 'n1', pods: [pod('web', '10.0.0.1'), pod('api', '10.0.0.2')] });
const source = new TcpEventSource({ probe: { eventRing: () => undefined, readEventLimits: () => [] }, identity, node: 'n1' });

function raw(over: Partial<RawTcpEvent>): RawTcpEvent {
  return {
    timestampNs: 2_000_000n, suppressed: 0, local: '10.0.0.1', remote: '10.0.0.2', netns: 4026531840,
    localPort: 40000, remotePort: 8080, type: TCP_EVENT_TYPE.connectFailed, ipVersion: 4, side: TCP_SIDE.client,
    state: 2, detail: 1, cpu: 0, error: 110, ...over,
  };
}

describe('TcpEventSource.toEvent', () => {
  it('a failed connect: client → server, failure and errno named, the socket state it failed in', () => {
    const e = source.toEvent(raw({}), 1_000)!;
    expect(e.name).toBe('fovea.tcp.connect.failed');
    expect(e.timeMs).toBe(1_002);
    expect([e.source.pod, e.source.port, e.destination.pod, e.destination.port]).toEqual(['web', 40000, 'api', 8080]);
    expect(e.tcp).toEqual({ kind: 'connect_failed', side: 'client', state: 'syn_sent', failure: 'timeout', error: 'ETIMEDOUT' });
    expect(e.verdict).toBeUndefined();
    expect(e.direction).toBe('egress');
  });

  it('a reset received comes from the peer: source is the remote end, direction ingress', () => {
    const e = source.toEvent(raw({ type: TCP_EVENT_TYPE.resetReceived, detail: 0, error: 0 }), 0)!;
    expect(e.name).toBe('fovea.tcp.reset');
    expect([e.source.pod, e.destination.pod]).toEqual(['api', 'web']);
    expect(e.direction).toBe('ingress');
    expect(e.tcp).toEqual({ kind: 'reset_received', side: 'client', state: 'syn_sent' });
  });

  it('a reset sent without a socket has no state; a retransmission carries its segments and suppressed count', () => {
    const r = source.toEvent(raw({ type: TCP_EVENT_TYPE.resetSent, side: TCP_SIDE.server, state: 0, detail: 0, error: 0 }), 0)!;
    expect(r.tcp).toEqual({ kind: 'reset_sent', side: 'server' });
    expect(r.source.pod).toBe('web');
    const t = source.toEvent(raw({ type: TCP_EVENT_TYPE.retransmit, state: 1, detail: 3, error: 0, suppressed: 7 }), 0)!;
    expect(t.tcp).toEqual({ kind: 'retransmit', side: 'client', state: 'established', segments: 3 });
    expect(t.suppressed).toBe(7);
  });

  it('an unknown type is not an event; an unknown errno is named by number', () => {
    expect(source.toEvent(raw({ type: 9 }), 0)).toBeUndefined();
    expect(source.toEvent(raw({ error: 200, detail: 3 }), 0)!.tcp).toMatchObject({ failure: 'other', error: 'errno 200' });
  });

  it('OTLP attributes, the one-line summary and the observe row', () => {
    const e = source.toEvent(raw({ detail: 0, error: 111 }), 0)!;
    expect(eventAttributes(e)).toMatchObject({
      'fovea.tcp.event': 'connect_failed', 'fovea.tcp.side': 'client', 'network.connection.state': 'syn_sent',
      'fovea.tcp.failure': 'reset', 'error.type': 'ECONNREFUSED', 'source.port': 40000, 'destination.port': 8080,
      'k8s.pod.name': 'web',
    });
    expect(eventAttributes(e)['fovea.verdict']).toBeUndefined();
    expect(eventSummary(e)).toBe('CONNECT_FAILED tcp 10.0.0.1:40000 (shop/web) → 10.0.0.2:8080 (shop/api): connect failed: reset (ECONNREFUSED)');
    expect(eventCells(e).slice(3)).toEqual(['TCP', 'CONNECT_FAILED', 'connect failed: reset (ECONNREFUSED)']);
  });
});

/**
 * HubbleObserver (src/hubble/observer.ts): GetFlows with Cilium's semantics
 * (pkg/hubble/observer/local_observer.go: newRingReader, eventsReader.Next, getFlowRate), lost
 * events, ServerStatus, GetNamespaces and the per-client bookkeeping. Requests are real
 * GetFlowsRequest bytes; responses are the frames a fake MessageSink received, decoded with
 * GetFlowsResponse. The clock is injected; nothing waits.
 */
import { describe, expect, it } from 'vitest';
import type { NetworkEvent } from '../../src/events/types.js';
import { FlowBuilder, timestampMs } from '../../src/hubble/flows.js';
import {
  DEFAULT_BUFFER_SIZE, HubbleObserver, NAMESPACE_TTL_MS, RpcError, STATUS,
} from '../../src/hubble/observer.js';
import { hubbleTypes } from '../../src/hubble/proto.js';
import {
  RecordingSink, dropEvent, externalEnd, flowEvent, podEnd, podInfo, serviceEnd, silentLogger,
} from '../helpers/hubble.js';

const t = hubbleTypes();
const T0 = 1_700_000_000_000;
const T0_S = T0 / 1000;

/** hubble's defaults.FieldMask, sent by `hubble observe` for its non-JSON outputs. */
const CLI_DEFAULT_MASK = [
  'time', 'verdict', 'ethernet', 'IP', 'l4', 'source.identity', 'source.namespace', 'source.pod_name',
  'destination.identity', 'destination.namespace', 'destination.pod_name', 'Type', 'node_name', 'l7', 'event_type',
  'source_service', 'destination_service', 'is_reply', 'Summary', 'ip_trace_id',
];

function setup(opts: { bufferSize?: number; cluster?: string } = {}) {
  const clock = { now: T0 };
  const cluster = opts.cluster ?? 'default';
  const builder = new FlowBuilder({ cluster, node: 'node-a', version: '0.1.0' });
  const obs = new HubbleObserver({
    builder, logger: silentLogger, version: 'fovea 0.1.0', cluster, nowMs: () => clock.now,
    ...(opts.bufferSize !== undefined ? { bufferSize: opts.bufferSize } : {}),
  });
  return { obs, clock, builder };
}

/** Flow number i: TCP 10.0.0.1:(1000+i) → 10.0.0.2:dport, at T0 + i seconds. */
function ev(i: number, over: Partial<NetworkEvent> = {}): NetworkEvent {
  return flowEvent({
    timeMs: T0 + i * 1000, source: externalEnd('10.0.0.1', 1000 + i), destination: externalEnd('10.0.0.2', 443), ...over,
  });
}

function publishRange(obs: HubbleObserver, from: number, to: number, over: (i: number) => Partial<NetworkEvent> = () => ({})): void {
  const events: NetworkEvent[] = [];
  for (let i = from; i < to; i++) events.push(ev(i, over(i)));
  obs.publish(events);
}

function encodeRequest(request: object): Uint8Array {
  const err = t.GetFlowsRequest.verify(request);
  if (err) throw new Error(`bad test request: ${err}`);
  return t.GetFlowsRequest.encode(request).finish();
}

interface Call {
  readonly sink: RecordingSink;
  readonly ends: (RpcError | undefined)[];
  cancel(): void;
  /** f<i> per flow (by source port), lost:<source>:<count> per LostEvent */
  seen(): string[];
}

function call(obs: HubbleObserver, request: object | Uint8Array, sink = new RecordingSink()): Call {
  const ends: (RpcError | undefined)[] = [];
  const raw = request instanceof Uint8Array ? request : encodeRequest(request);
  const h = obs.getFlows(raw, sink, (e) => ends.push(e));
  return { sink, ends, cancel: () => h.cancel(), seen: () => sink.responses().map(label) };
}

function label(r: Record<string, unknown>): string {
  const flow = r['flow'] as { l4?: { TCP?: { source_port?: number } } } | undefined;
  if (flow) return `f${(flow.l4?.TCP?.source_port ?? 0) - 1000}`;
  const lost = r['lost_events'] as { source: number; num_events_lost: string } | undefined;
  if (lost) return `lost:${lost.source}:${lost.num_events_lost}`;
  throw new Error(`unexpected response ${JSON.stringify(r)}`);
}

const fs = (...ids: number[]): string[] => ids.map((i) => `f${i}`);
const range = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => `f${from + i}`);
const ts = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 });

function rpcError(fn: () => unknown): RpcError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RpcError);
    return err as RpcError;
  }
  throw new Error('expected an RpcError');
}

describe('GetFlows: where a call starts and ends', () => {
  it('number N without follow: the last N flows, then the call ends', () => {
    const { obs } = setup();
    publishRange(obs, 0, 10);
    const c = call(obs, { number: 3 });
    expect(c.seen()).toEqual(fs(7, 8, 9));
    expect(c.ends).toEqual([undefined]);
  });

  it('number larger than the buffer: everything there is', () => {
    const { obs } = setup();
    publishRange(obs, 0, 4);
    const c = call(obs, { number: 20 });
    expect(c.seen()).toEqual(fs(0, 1, 2, 3));
    expect(c.ends).toEqual([undefined]);
  });

  it('number 0 without follow: the whole buffer', () => {
    const { obs } = setup({ bufferSize: 6 });
    publishRange(obs, 0, 10);
    const c = call(obs, {});
    expect(c.seen()).toEqual(range(4, 10));
    expect(c.ends).toEqual([undefined]);
  });

  it('an empty buffer ends at once', () => {
    const { obs } = setup();
    const c = call(obs, { number: 5 });
    expect(c.seen()).toEqual([]);
    expect(c.ends).toEqual([undefined]);
  });

  it('first with number: the oldest N; first alone: all, oldest first', () => {
    const { obs } = setup();
    publishRange(obs, 0, 10);
    expect(call(obs, { first: true, number: 3 }).seen()).toEqual(fs(0, 1, 2));
    expect(call(obs, { first: true }).seen()).toEqual(range(0, 10));
  });

  it('follow with number 0 starts at the newest flow, then streams new ones and never ends by itself', () => {
    const { obs } = setup();
    publishRange(obs, 0, 5);
    const c = call(obs, { follow: true });
    expect(c.seen()).toEqual([]);
    publishRange(obs, 5, 7);
    expect(c.seen()).toEqual(fs(5, 6));
    publishRange(obs, 7, 8);
    expect(c.seen()).toEqual(fs(5, 6, 7));
    expect(c.ends).toEqual([]);
  });

  it('follow with number N rewinds N, then streams (number does not end it)', () => {
    const { obs } = setup();
    publishRange(obs, 0, 10);
    const c = call(obs, { follow: true, number: 3 });
    expect(c.seen()).toEqual(fs(7, 8, 9));
    publishRange(obs, 10, 14);
    expect(c.seen()).toEqual(range(7, 14));
    expect(c.ends).toEqual([]);
  });

  it('since: from the first flow at or after it', () => {
    const { obs } = setup();
    publishRange(obs, 0, 10);
    expect(call(obs, { since: ts(T0 + 4500) }).seen()).toEqual(range(5, 10));
    expect(call(obs, { since: ts(T0 + 4000) }).seen()).toEqual(range(4, 10));
    expect(call(obs, { since: ts(T0 - 1) }).seen()).toEqual(range(0, 10));
    expect(call(obs, { since: ts(T0 + 60_000) }).seen()).toEqual([]);
    // since takes precedence over number when rewinding; number still caps the call
    expect(call(obs, { since: ts(T0 + 4000), number: 2 }).seen()).toEqual(fs(4, 5));
    // and over first
    expect(call(obs, { since: ts(T0 + 8000), first: true }).seen()).toEqual(fs(8, 9));
  });

  it('since with nanoseconds', () => {
    const { obs } = setup();
    publishRange(obs, 0, 5, (i) => ({ timeMs: T0 + i * 1000 + 0.5 })); // each flow 0.5 ms after its second
    expect(call(obs, { since: { seconds: T0_S + 2, nanos: 500_000 } }).seen()).toEqual(fs(2, 3, 4));
    expect(call(obs, { since: { seconds: T0_S + 2, nanos: 600_000 } }).seen()).toEqual(fs(3, 4));
    expect(call(obs, { first: true, until: { seconds: T0_S + 2, nanos: 500_000 } }).seen()).toEqual(fs(0, 1, 2));
    expect(call(obs, { first: true, until: { seconds: T0_S + 2, nanos: 400_000 } }).seen()).toEqual(fs(0, 1));
  });

  it('follow with since: rewinds to since, then streams', () => {
    const { obs } = setup();
    publishRange(obs, 0, 10);
    const c = call(obs, { follow: true, since: ts(T0 + 8000) });
    expect(c.seen()).toEqual(fs(8, 9));
    publishRange(obs, 10, 11);
    expect(c.seen()).toEqual(fs(8, 9, 10));
  });

  it('until: the call ends at the first flow after it (a flow at until is included)', () => {
    const { obs } = setup();
    publishRange(obs, 0, 10);
    const a = call(obs, { first: true, until: ts(T0 + 6000) });
    expect(a.seen()).toEqual(range(0, 7));
    expect(a.ends).toEqual([undefined]);
    expect(call(obs, { until: ts(T0 + 6000) }).seen()).toEqual(range(0, 7));
    expect(call(obs, { since: ts(T0 + 2000), until: ts(T0 + 4000) }).seen()).toEqual(fs(2, 3, 4));
    expect(call(obs, { until: ts(T0 - 1) }).seen()).toEqual([]);
  });

  it('follow with until ends when a flow after until arrives', () => {
    const { obs } = setup();
    publishRange(obs, 0, 10);
    const c = call(obs, { follow: true, until: ts(T0 + 12_000) });
    publishRange(obs, 10, 12);
    expect(c.ends).toEqual([]);
    publishRange(obs, 12, 15);
    expect(c.seen()).toEqual(fs(10, 11, 12));
    expect(c.ends).toEqual([undefined]);
    expect(obs.stats().clients).toBe(0);
  });

  it('without follow, flows published after the call started are not part of it', () => {
    const { obs } = setup();
    publishRange(obs, 0, 300);
    const sink = new RecordingSink();
    sink.slowAfter(256);
    const c = call(obs, {}, sink);
    expect(c.ends).toEqual([]);
    publishRange(obs, 300, 310);
    sink.drain();
    expect(c.seen()).toEqual(range(0, 300));
    expect(c.ends).toEqual([undefined]);
  });

  it('writes in batches and waits for the sink between them', () => {
    const { obs } = setup({ bufferSize: 1000 });
    publishRange(obs, 0, 600);
    const sink = new RecordingSink();
    sink.slowAfter(256);
    const c = call(obs, {}, sink);
    expect(sink.writes).toEqual([256]);
    expect(sink.waiting).toBe(1);
    expect(c.ends).toEqual([]);
    sink.drain();
    expect(sink.writes).toEqual([256, 256, 88]);
    expect(c.seen()).toEqual(range(0, 600));
    expect(c.ends).toEqual([undefined]);
  });
});

describe('GetFlows: refused requests (INVALID_ARGUMENT)', () => {
  it('first with follow', () => {
    const { obs } = setup();
    const e = rpcError(() => call(obs, { first: true, follow: true }));
    expect(e.code).toBe(3);
    expect(STATUS.invalidArgument).toBe(3);
    expect(e.message).toBe('first cannot be specified with follow');
    expect(obs.stats().clients).toBe(0);
  });

  it('a filter that does not compile, and CEL', () => {
    const { obs } = setup();
    expect(rpcError(() => call(obs, { whitelist: [{ source_port: ['x'] }] })).code).toBe(3);
    expect(rpcError(() => call(obs, { blacklist: [{ destination_port: ['70000'] }] })).code).toBe(3);
    const cel = rpcError(() => call(obs, { whitelist: [{ experimental: { cel_expression: ['true'] } }] }));
    expect(cel.code).toBe(3);
    expect(cel.message).toMatch(/cel_expression/);
  });

  it('a filter field this server does not know (raw request bytes)', () => {
    const { obs } = setup();
    // number = 5; whitelist[0] = FlowFilter{ field 500 (varint) = 1 }
    const raw = Uint8Array.from([0x08, 0x05, 0x32, 0x03, 0xa0, 0x1f, 0x01]);
    expect(t.GetFlowsRequest.toObject(t.GetFlowsRequest.decode(raw), { longs: Number })).toMatchObject({ number: 5, whitelist: [{}] });
    const e = rpcError(() => call(obs, raw));
    expect(e.code).toBe(3);
    expect(e.message).toMatch(/500/);
    // the same in a blacklist (field 5)
    expect(rpcError(() => call(obs, Uint8Array.from([0x2a, 0x03, 0xa0, 0x1f, 0x01]))).code).toBe(3);
  });

  it('an invalid field mask path', () => {
    const { obs } = setup();
    for (const paths of [['nope'], ['source.identity.x'], ['source.labels.x'], ['time', '']]) {
      const e = rpcError(() => call(obs, { field_mask: { paths } }));
      expect(e.code, paths.join()).toBe(3);
    }
  });

  it('timestamps outside the protobuf range', () => {
    const { obs } = setup();
    expect(rpcError(() => call(obs, { since: { seconds: 0, nanos: 1_000_000_000 } })).code).toBe(3);
    expect(rpcError(() => call(obs, { until: { seconds: -62_135_596_801, nanos: 0 } })).code).toBe(3);
    expect(rpcError(() => call(obs, { since: { seconds: 253_402_300_800, nanos: 0 } })).code).toBe(3);
    expect(call(obs, { since: { seconds: -62_135_596_800, nanos: 0 } }).ends).toEqual([undefined]);
  });
});

describe('GetFlows: filters', () => {
  const port = (i: number) => ({ destination: externalEnd('10.0.0.2', i % 3 === 0 ? 443 : 80) });

  it('the whitelist picks flows and counts toward the rewind', () => {
    const { obs } = setup();
    publishRange(obs, 0, 12, port); // 443: 0, 3, 6, 9
    expect(call(obs, { number: 2, whitelist: [{ destination_port: ['443'] }] }).seen()).toEqual(fs(6, 9));
    expect(call(obs, { first: true, number: 3, whitelist: [{ destination_port: ['443'] }] }).seen()).toEqual(fs(0, 3, 6));
    expect(call(obs, { whitelist: [{ destination_port: ['443'] }, { source_port: ['1001'] }] }).seen()).toEqual(fs(0, 1, 3, 6, 9));
  });

  it('the blacklist removes flows and counts toward the rewind', () => {
    const { obs } = setup();
    publishRange(obs, 0, 12, port);
    expect(call(obs, { number: 3, blacklist: [{ destination_port: ['80'] }] }).seen()).toEqual(fs(3, 6, 9));
    expect(call(obs, { number: 3, blacklist: [{ destination_port: ['443'] }] }).seen()).toEqual(fs(8, 10, 11));
    expect(call(obs, {
      whitelist: [{ destination_port: ['443'] }], blacklist: [{ source_port: ['1003'] }],
    }).seen()).toEqual(fs(0, 6, 9));
  });

  it('a following client gets only matching new flows', () => {
    const { obs } = setup();
    const c = call(obs, { follow: true, whitelist: [{ verdict: [2] }] });
    obs.publish([ev(1), dropEvent({ timeMs: T0 + 2000, source: externalEnd('10.0.0.1', 1002) }), ev(3)]);
    expect(c.seen()).toEqual(fs(2));
  });
});

describe('GetFlows: lost events', () => {
  it('a slow client whose cursor the ring overwrote gets one HUBBLE_RING_BUFFER LostEvent with the exact count, then continues', () => {
    const { obs, builder } = setup({ bufferSize: 8 });
    const sink = new RecordingSink();
    const c = call(obs, { follow: true }, sink);
    sink.slow();
    publishRange(obs, 0, 1);
    publishRange(obs, 1, 21);
    expect(sink.frames).toEqual([]);
    expect(sink.waiting).toBe(1);
    sink.drain();
    expect(c.seen()).toEqual(['lost:3:13', ...range(13, 21)]);
    expect(c.seen().filter((s) => s.startsWith('lost'))).toHaveLength(1);
    const lost = sink.responses()[0]!;
    expect(lost['node_name']).toBe(builder.node);
    expect(timestampMs(lost['time'] as { seconds: string })).toBe(T0);
    expect(lost['lost_events']).toEqual({ source: 3, num_events_lost: '13' });
    expect(obs.stats()).toEqual({ clients: 1, overrun: 13, sent: 8 });
    publishRange(obs, 21, 22);
    expect(c.seen().slice(-1)).toEqual(fs(21));
    expect(c.ends).toEqual([]);
  });

  it('a client that keeps up loses nothing, even to one publish larger than the ring', () => {
    const { obs } = setup({ bufferSize: 8 });
    const fast = call(obs, { follow: true });
    const slow = call(obs, { follow: true });
    slow.sink.slow();
    publishRange(obs, 0, 30);
    expect(fast.seen()).toEqual(range(0, 30));
    slow.sink.drain();
    expect(slow.seen()).toEqual(['lost:3:22', ...range(22, 30)]);
    expect(obs.stats()).toEqual({ clients: 2, overrun: 22, sent: 38 });
  });

  it('a non-following client overwritten while it waits: the LostEvent, then the rest up to where the call began', () => {
    const { obs } = setup({ bufferSize: 300 });
    publishRange(obs, 0, 300);
    const sink = new RecordingSink();
    sink.slowAfter(256);
    const c = call(obs, {}, sink);
    publishRange(obs, 300, 580); // the ring now starts at 280; the client stopped at 256
    sink.drain();
    expect(c.seen()).toEqual([...range(0, 256), 'lost:3:24', ...range(280, 300)]);
    expect(c.ends).toEqual([undefined]);
    expect(obs.stats()).toEqual({ clients: 0, overrun: 24, sent: 276 });
  });

  it('reportKernelLoss: a PERF_EVENT_RING_BUFFER LostEvent every reader gets, whatever its filters', () => {
    const { obs } = setup();
    const all = call(obs, { follow: true });
    const none = call(obs, { follow: true, whitelist: [{ destination_port: ['9999'] }] });
    const since = call(obs, { follow: true, since: ts(T0 + 3_600_000) });
    publishRange(obs, 0, 2);
    obs.reportKernelLoss(5, 2);
    obs.reportKernelLoss(0);
    obs.reportKernelLoss(-1);
    publishRange(obs, 2, 3);
    expect(all.seen()).toEqual(['f0', 'f1', 'lost:1:5', 'f2']);
    expect(none.seen()).toEqual(['lost:1:5']);
    expect(since.seen()).toEqual(['lost:1:5']);
    expect(none.sink.responses()[0]!['lost_events']).toEqual({ source: 1, num_events_lost: '5', cpu: { value: 2 } });
    obs.reportKernelLoss(7);
    expect(none.sink.responses()[1]!['lost_events']).toEqual({ source: 1, num_events_lost: '7' });
  });

  it('lost events do not count toward number, neither in the rewind nor in the call', () => {
    const { obs } = setup();
    publishRange(obs, 0, 5);
    obs.reportKernelLoss(9);
    publishRange(obs, 5, 7);
    const c = call(obs, { number: 3 });
    expect(c.seen()).toEqual(['f4', 'lost:1:9', 'f5', 'f6']);
    // the call ends with its 5th flow (upstream checks the count before reading on)
    expect(call(obs, { first: true, number: 5 }).seen()).toEqual(['f0', 'f1', 'f2', 'f3', 'f4']);
    expect(call(obs, { first: true, number: 6 }).seen()).toEqual(['f0', 'f1', 'f2', 'f3', 'f4', 'lost:1:9', 'f5']);
  });

  it('a lost event passes until', () => {
    const { obs, clock } = setup();
    publishRange(obs, 0, 3);
    clock.now = T0 + 3_600_000; // noticed an hour after the flows
    obs.reportKernelLoss(2);
    expect(call(obs, { first: true, until: ts(T0 + 1000) }).seen()).toEqual(fs(0, 1));
    expect(call(obs, { first: true, until: ts(T0 + 5000) }).seen()).toEqual(['f0', 'f1', 'f2', 'lost:1:2']);
  });
});

describe('GetFlows: responses', () => {
  it('node name = the builder\'s absolute node name, time = the flow\'s', () => {
    const { obs, builder } = setup({ cluster: 'prod' });
    expect(builder.node).toBe('prod/node-a');
    publishRange(obs, 0, 2);
    obs.reportKernelLoss(1);
    const r = call(obs, {}).sink.responses();
    expect(r.map((x) => x['node_name'])).toEqual(['prod/node-a', 'prod/node-a', 'prod/node-a']);
    expect((r[0]!['flow'] as { node_name: string }).node_name).toBe('prod/node-a');
    expect(r[1]!['time']).toEqual({ seconds: String(T0_S + 1) });
    expect((r[1]!['flow'] as { time: unknown }).time).toEqual({ seconds: String(T0_S + 1) });
  });

  it('a field mask shapes the flows; clients with different masks each get their own shape', () => {
    const { obs } = setup();
    const pod = podInfo();
    obs.publish([ev(0, { source: podEnd(pod, 1000) })]);
    const masked = call(obs, { field_mask: { paths: CLI_DEFAULT_MASK } }).sink.responses()[0]!['flow'] as Record<string, unknown>;
    const whole = call(obs, {}).sink.responses()[0]!['flow'] as Record<string, unknown>;
    for (const k of Object.keys(masked)) expect(CLI_DEFAULT_MASK.some((p) => p === k || p.startsWith(`${k}.`)), k).toBe(true);
    expect(masked['source']).toEqual({ identity: 2, namespace: 'shop', pod_name: 'web-1' });
    expect(masked).not.toHaveProperty('uuid');
    expect(masked).not.toHaveProperty('extensions');
    expect(whole['uuid']).toEqual(expect.any(String));
    expect(whole['source']).toMatchObject({ cluster_name: 'default', labels: ['reserved:world'] });
    // the same flow: same Summary
    expect(masked['Summary']).toBe(whole['Summary']);
  });

  it('a mask keeping only extensions.type_url does not break publishing', () => {
    const { obs } = setup();
    const c = call(obs, { follow: true, field_mask: { paths: ['extensions.type_url'] } });
    expect(() => publishRange(obs, 0, 2)).not.toThrow();
    expect(c.sink.responses().map((r) => r['flow'])).toEqual([
      { extensions: { type_url: 'type.googleapis.com/google.protobuf.Struct' } },
      { extensions: { type_url: 'type.googleapis.com/google.protobuf.Struct' } },
    ]);
  });
});

describe('clients', () => {
  it('a client that cancels stops receiving and ends CANCELLED', () => {
    const { obs } = setup();
    const c = call(obs, { follow: true });
    publishRange(obs, 0, 1);
    c.cancel();
    expect(c.ends).toHaveLength(1);
    expect(c.ends[0]).toBeInstanceOf(RpcError);
    expect(c.ends[0]!.code).toBe(1);
    publishRange(obs, 1, 3);
    obs.reportKernelLoss(3);
    expect(c.seen()).toEqual(fs(0));
    c.cancel();
    expect(c.ends).toHaveLength(1);
    expect(obs.stats()).toEqual({ clients: 0, overrun: 0, sent: 1 });
  });

  it('a cancelled client waiting on its sink stays quiet when the sink drains', () => {
    const { obs } = setup();
    const sink = new RecordingSink();
    const c = call(obs, { follow: true }, sink);
    sink.slow();
    publishRange(obs, 0, 3);
    c.cancel();
    sink.drain();
    expect(sink.frames).toEqual([]);
  });

  it('stats count clients, flows sent (not lost events) and overruns, and keep them after calls end', () => {
    const { obs } = setup({ bufferSize: 4 });
    publishRange(obs, 0, 4);
    expect(obs.stats()).toEqual({ clients: 0, overrun: 0, sent: 0 });
    call(obs, { number: 2 });
    expect(obs.stats()).toEqual({ clients: 0, overrun: 0, sent: 2 });
    const a = call(obs, { follow: true });
    const b = call(obs, { follow: true, whitelist: [{ source_port: ['1004'] }] });
    expect(obs.stats().clients).toBe(2);
    publishRange(obs, 4, 6);
    obs.reportKernelLoss(1);
    expect(obs.stats()).toEqual({ clients: 2, overrun: 0, sent: 2 + 2 + 1 });
    a.sink.slow();
    publishRange(obs, 6, 12);
    a.sink.drain();
    // a waited at f6 (after f4, f5 and the lost event); the ring of 4 now starts at f8
    expect(a.seen()).toEqual(['f4', 'f5', 'lost:1:1', 'lost:3:2', ...range(8, 12)]);
    expect(b.seen()).toEqual(['f4', 'lost:1:1']);
    expect(obs.stats()).toEqual({ clients: 2, overrun: 2, sent: 2 + 6 + 1 });
    obs.closeAll();
    expect(a.ends.map((e) => e?.code)).toEqual([1]);
    expect(b.ends.map((e) => e?.code)).toEqual([1]);
    expect(obs.stats()).toEqual({ clients: 0, overrun: 2, sent: 9 });
  });
});

describe('ServerStatus', () => {
  it('num_flows, max_flows, version, uptime from the injected clock', () => {
    const { obs, clock } = setup({ bufferSize: 5 });
    expect(obs.status()).toEqual({ num_flows: 0, max_flows: 5, seen_flows: 0, uptime_ns: 0, version: 'fovea 0.1.0', flows_rate: 0 });
    publishRange(obs, 0, 3);
    clock.now = T0 + 2500.5;
    const s = obs.status();
    expect(s['num_flows']).toBe(3);
    expect(s['uptime_ns']).toBe(2_500_500_000);
    publishRange(obs, 3, 9);
    expect(obs.status()['num_flows']).toBe(5);
    expect(obs.status()['seen_flows']).toBe(9);
    // a valid ServerStatusResponse
    expect(t.ServerStatusResponse.verify(obs.status())).toBeNull();
  });

  it('seen_flows counts 1 + suppressed per drop event', () => {
    const { obs } = setup();
    obs.publish([dropEvent({ suppressed: 4 }), dropEvent({ suppressed: 0 }), dropEvent({ suppressed: undefined }), flowEvent()]);
    expect(obs.status()['seen_flows']).toBe(5 + 1 + 1 + 1);
    expect(obs.status()['num_flows']).toBe(4);
  });

  it('the default buffer size', () => {
    expect(setup().obs.status()['max_flows']).toBe(DEFAULT_BUFFER_SIZE);
    expect(DEFAULT_BUFFER_SIZE).toBe(4095);
  });

  it('flows_rate: flows of the last minute per second', () => {
    const { obs, clock } = setup();
    clock.now = T0 + 600_000;
    const at = (s: number) => ev(0, { timeMs: clock.now + s * 1000 });
    obs.publish([at(-90), at(-61), at(-50), at(-10), at(-5)]);
    obs.reportKernelLoss(3); // lost events are no flows
    expect(obs.status()['flows_rate']).toBeCloseTo(3 / 60, 12);
  });

  it('flows_rate over what the buffer holds when it wrapped within the minute', () => {
    const { obs, clock } = setup({ bufferSize: 3 });
    clock.now = T0 + 600_000;
    const at = (s: number) => ev(0, { timeMs: clock.now + s * 1000 });
    obs.publish([at(-40), at(-30), at(-20), at(-10), at(-5)]);
    expect(obs.status()['flows_rate']).toBeCloseTo(3 / 20, 12);
  });

  it('flows_rate over the minute when the buffer wrapped but its oldest flow is older', () => {
    const { obs, clock } = setup({ bufferSize: 3 });
    clock.now = T0 + 600_000;
    const at = (s: number) => ev(0, { timeMs: clock.now + s * 1000 });
    obs.publish([at(-120), at(-90), at(-70), at(-30), at(-10)]);
    expect(obs.status()['flows_rate']).toBeCloseTo(2 / 60, 12);
  });
});

describe('GetNamespaces', () => {
  it('namespaces of both ends, sorted, with the cluster name; ends without one are skipped', () => {
    const { obs } = setup({ cluster: 'prod' });
    const b = podInfo({ uid: 'b', name: 'b-0', namespace: 'bravo' });
    const a = podInfo({ uid: 'a', name: 'a-0', namespace: 'alpha' });
    obs.publish([
      ev(0, { source: podEnd(b, 1000), destination: podEnd(a, 443) }),
      ev(1, { source: podEnd(b, 1001), destination: externalEnd('8.8.8.8', 53) }),
      ev(2, { source: externalEnd('1.1.1.1'), destination: externalEnd('') }),
    ]);
    expect(obs.namespaceList()).toEqual([{ cluster: 'prod', namespace: 'alpha' }, { cluster: 'prod', namespace: 'bravo' }]);
    expect(t.GetNamespacesResponse.verify({ namespaces: obs.namespaceList() })).toBeNull();
  });

  it(`a namespace not seen for NAMESPACE_TTL_MS (${NAMESPACE_TTL_MS} ms) leaves the list`, () => {
    const { obs, clock } = setup();
    expect(NAMESPACE_TTL_MS).toBe(3_600_000);
    const a = podInfo({ uid: 'a', namespace: 'alpha' });
    const b = podInfo({ uid: 'b', namespace: 'bravo' });
    obs.publish([flowEvent({ timeMs: clock.now, source: podEnd(a, 1000) })]);
    clock.now += 1_000_000;
    obs.publish([flowEvent({ timeMs: clock.now, source: podEnd(b, 1000) })]);
    clock.now = T0 + NAMESPACE_TTL_MS;
    expect(obs.namespaceList().map((n) => n.namespace)).toEqual(['alpha', 'bravo']);
    clock.now += 1;
    expect(obs.namespaceList().map((n) => n.namespace)).toEqual(['bravo']);
    // seen again: back
    obs.publish([flowEvent({ timeMs: clock.now, destination: podEnd(a, 80) })]);
    clock.now = T0 + 1_000_000 + NAMESPACE_TTL_MS + 1;
    expect(obs.namespaceList().map((n) => n.namespace)).toEqual(['alpha']);
  });

  it('a namespace is as fresh as the last time a flow showed it (the clock, not the flow\'s own time)', () => {
    const { obs, clock } = setup();
    const a = podInfo({ uid: 'a', namespace: 'alpha' });
    obs.publish([flowEvent({ timeMs: T0 - 5 * NAMESPACE_TTL_MS, source: podEnd(a, 1) })]);
    clock.now = T0 + NAMESPACE_TTL_MS;
    expect(obs.namespaceList()).toHaveLength(1);
    clock.now += 1;
    expect(obs.namespaceList()).toHaveLength(0);
  });

  it('service ends do not add a namespace (flow endpoints show pods\' namespaces only)', () => {
    const { obs } = setup();
    obs.publish([ev(0, { destination: serviceEnd('10.96.0.10', 'kube-dns', 'kube-system', 53) })]);
    expect(obs.namespaceList().map((n) => n.namespace)).not.toContain('kube-system');
  });
});

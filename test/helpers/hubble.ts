/**
 * Test doubles for the Hubble server's unit tests: events shaped like src/events/types.ts, pods
 * shaped like src/k8s/types.ts, a MessageSink that records the frames it is given (and can play a
 * slow client), a seeded PRNG, and a random event generator. No kernel, no network, no sleeps.
 */
import { pino, type Logger } from 'pino';
import type { EventEndpoint, FlowPart, NetworkEvent } from '../../src/events/types.js';
import type { PodInfo } from '../../src/k8s/types.js';
import type { MessageSink } from '../../src/hubble/grpc-sink.js';
import { hubbleTypes } from '../../src/hubble/proto.js';
import { EVENT, VERDICT } from '../../src/names.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export const silentLogger: Logger = pino({ level: 'silent' });

export function podInfo(over: Partial<PodInfo> = {}): PodInfo {
  return {
    uid: 'uid-web-1',
    name: 'web-1',
    namespace: 'shop',
    nodeName: 'node-a',
    ips: ['10.0.0.5'],
    hostNetwork: false,
    workload: { kind: 'Deployment', name: 'web' },
    phase: 'Running',
    labels: { app: 'web' },
    serviceAccount: 'web-sa',
    ...over,
  };
}

/** The end of an event at a pod (what the identity source resolves for a pod IP). */
export function podEnd(pod: PodInfo, port?: number, ip = pod.ips[0] ?? ''): EventEndpoint {
  const e: Mutable<EventEndpoint> = {
    ip, kind: 'pod', namespace: pod.namespace, pod: pod.name, podUid: pod.uid,
    workloadKind: pod.workload.kind, workloadName: pod.workload.name, node: pod.nodeName,
  };
  if (port !== undefined) e.port = port;
  return e;
}

export function serviceEnd(ip: string, service: string, namespace: string, port?: number): EventEndpoint {
  return port === undefined ? { ip, kind: 'service', service, namespace } : { ip, kind: 'service', service, namespace, port };
}

export function nodeEnd(ip: string, node: string, port?: number): EventEndpoint {
  return port === undefined ? { ip, kind: 'node', node } : { ip, kind: 'node', node, port };
}

export function externalEnd(ip: string, port?: number): EventEndpoint {
  return port === undefined ? { ip, kind: 'external' } : { ip, kind: 'external', port };
}

export function flowPart(over: Partial<FlowPart> = {}): FlowPart {
  return {
    state: 'active', packets: 3, bytes: 420, totalPackets: 10, totalBytes: 1400,
    firstSeenMs: 1_700_000_000_000, lastSeenMs: 1_700_000_001_500, ...over,
  };
}

/** A FORWARDED flow record (TCP 10.0.0.5:40000 → 10.0.0.9:443), pod egress, unless overridden. */
export function flowEvent(over: Partial<NetworkEvent> = {}): NetworkEvent {
  return {
    name: EVENT.flow,
    timeMs: 1_700_000_001_500,
    verdict: VERDICT.forwarded,
    source: externalEnd('10.0.0.5', 40000),
    destination: externalEnd('10.0.0.9', 443),
    ipVersion: 4,
    transport: 'tcp',
    protocol: 6,
    tcpFlags: 'SYN|ACK',
    direction: 'egress',
    interface: 'lxc1234',
    ifindex: 17,
    netns: 4026531840,
    flow: flowPart(),
    node: 'node-a',
    ...over,
  };
}

/** A DROPPED drop event (TCP SYN 10.0.0.5:40000 → 10.0.0.9:443, NETFILTER_DROP), unless overridden. */
export function dropEvent(over: Partial<NetworkEvent> = {}): NetworkEvent {
  return {
    name: EVENT.drop,
    timeMs: 1_700_000_002_250.5,
    verdict: VERDICT.dropped,
    reason: 'NETFILTER_DROP',
    reasonCode: 8,
    source: externalEnd('10.0.0.5', 40000),
    destination: externalEnd('10.0.0.9', 443),
    ipVersion: 4,
    transport: 'tcp',
    protocol: 6,
    tcpFlags: 'SYN',
    length: 60,
    interface: 'eth0',
    ifindex: 2,
    location: 'nf_hook_slow+0x9c',
    suppressed: 0,
    cpu: 1,
    node: 'node-a',
    ...over,
  };
}

/**
 * A MessageSink that keeps every frame. `slow()` makes it refuse more (write returns false and
 * `pending` stays above `limit`) until `drain()`, which calls the onDrain callbacks as a stream's
 * 'drain' event would.
 */
export class RecordingSink implements MessageSink {
  readonly frames: Uint8Array[] = [];
  readonly writes: number[] = [];
  readonly limit = 100;
  readonly fast = false;
  pending = 0;
  private full = false;
  private drains: (() => void)[] = [];

  private budget: number | undefined;

  write(frames: readonly Uint8Array[]): boolean {
    this.frames.push(...frames);
    this.writes.push(frames.length);
    if (this.full) this.pending += frames.length;
    if (this.budget !== undefined) {
      this.budget -= frames.length;
      if (this.budget <= 0) { this.budget = undefined; this.slow(); }
    }
    return !this.full;
  }

  /** Takes `frames` more frames, then turns slow (the write that reaches the budget returns false). */
  slowAfter(frames: number): void {
    this.budget = frames;
  }

  onDrain(cb: () => void): void {
    this.drains.push(cb);
  }

  /** From now on the transport takes nothing. */
  slow(): void {
    this.full = true;
    this.pending = this.limit + 1;
  }

  drain(): void {
    this.full = false;
    this.pending = 0;
    const cbs = this.drains;
    this.drains = [];
    for (const cb of cbs) cb();
  }

  get waiting(): number {
    return this.drains.length;
  }

  /** Every frame checked (flag 0, length = rest) and decoded as a GetFlowsResponse. */
  responses(): Record<string, unknown>[] {
    return this.frames.map(decodeFrame);
  }
}

export const TO_OBJECT = { longs: String, enums: Number, bytes: String, defaults: false } as const;

/** A gRPC frame's body decoded as a GetFlowsResponse (plain object); throws when the frame is malformed. */
export function decodeFrame(f: Uint8Array): Record<string, unknown> {
  const b = Buffer.from(f.buffer, f.byteOffset, f.byteLength);
  if (b.length < 5) throw new Error(`frame of ${b.length} bytes`);
  if (b[0] !== 0) throw new Error(`compressed flag ${b[0]}`);
  if (b.readUInt32BE(1) !== b.length - 5) throw new Error(`frame length ${b.readUInt32BE(1)} != ${b.length - 5}`);
  const t = hubbleTypes().GetFlowsResponse;
  return t.toObject(t.decode(b.subarray(5)), TO_OBJECT);
}

export { prng } from './prng.js';

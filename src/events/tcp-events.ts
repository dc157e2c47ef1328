/**
 * TCP events: drains the tcp probe's ring buffer (resets sent and received, failed connects,
 * retransmissions) and turns each record into a NetworkEvent with both ends' identity.
 *
 * Orientation: the source is the end that sent what the event is about — the socket that sent a
 * reset or retransmitted, the client of a failed connect, the peer a received reset came from.
 */
import type { IdentitySource } from '../k8s/types.js';
import type { RingReader } from '../kernel/ringbuf.js';
import { EVENT } from '../names.js';
import type { EventLimitCount } from '../probes/drop/layout.js';
import { TCP_EVENT_TYPE, TCP_FAILURES, TCP_SIDE, TCP_STATE_NAMES, decodeTcpEvent, type RawTcpEvent } from '../probes/tcp/layout.js';
import { eventEndpoint, LocalPods } from './endpoints.js';
import type { EventName, NetworkEvent, TcpPart } from './types.js';

/** What this stage needs from the tcp probe. */
export interface TcpEventReadings {
  eventRing(): RingReader | undefined;
  readEventLimits(): EventLimitCount[];
}

export interface TcpEventSourceOptions {
  readonly probe: TcpEventReadings;
  readonly identity?: IdentitySource;
  readonly node: string;
  /** Most records per drain. Default 65536. */
  readonly maxPerDrain?: number;
  readonly monotonicNs?: () => bigint;
  readonly nowMs?: () => number;
}

/** enum tcp_event_type → event name and kind */
export const TCP_EVENT_KINDS: Record<number, { name: EventName; kind: TcpPart['kind'] } | undefined> = {
  [TCP_EVENT_TYPE.retransmit]: { name: EVENT.tcpRetransmit, kind: 'retransmit' },
  [TCP_EVENT_TYPE.resetSent]: { name: EVENT.tcpReset, kind: 'reset_sent' },
  [TCP_EVENT_TYPE.resetReceived]: { name: EVENT.tcpReset, kind: 'reset_received' },
  [TCP_EVENT_TYPE.connectFailed]: { name: EVENT.tcpConnectFailed, kind: 'connect_failed' },
};

/** The errno names a failed connect can carry (others as `errno <n>`). */
const ERRNO: Record<number, string> = {
  0: '', 101: 'ENETUNREACH', 104: 'ECONNRESET', 110: 'ETIMEDOUT', 111: 'ECONNREFUSED', 113: 'EHOSTUNREACH',
  32: 'EPIPE', 103: 'ECONNABORTED', 22: 'EINVAL', 71: 'EPROTO',
};

const SIDES: Record<number, TcpPart['side']> = { [TCP_SIDE.client]: 'client', [TCP_SIDE.server]: 'server' };

export class TcpEventSource {
  private readonly local: LocalPods;
  private read = 0;
  private malformed = 0;
  private readonly byName = new Map<EventName, number>();
  private readonly monotonicNs: () => bigint;
  private readonly nowMs: () => number;

  constructor(private readonly opts: TcpEventSourceOptions) {
    this.local = new LocalPods(opts.identity);
    this.monotonicNs = opts.monotonicNs ?? (() => process.hrtime.bigint());
    this.nowMs = opts.nowMs ?? Date.now;
  }

  drain(): NetworkEvent[] {
    const ring = this.opts.probe.eventRing();
    if (!ring) return [];
    const raws: RawTcpEvent[] = [];
    ring.consume((view, off, len) => {
      try {
        raws.push(decodeTcpEvent(view, off, len));
      } catch {
        this.malformed++;
      }
    }, this.opts.maxPerDrain ?? 65_536);
    if (raws.length === 0) return [];
    this.read += raws.length;
    const offsetMs = this.nowMs() - Number(this.monotonicNs()) / 1e6;
    const out: NetworkEvent[] = [];
    for (const r of raws) {
      const e = this.toEvent(r, offsetMs);
      if (!e) {
        this.malformed++;
        continue;
      }
      this.byName.set(e.name, (this.byName.get(e.name) ?? 0) + 1);
      out.push(e);
    }
    return out;
  }

  counts(): { read: number; malformed: number } {
    return { read: this.read, malformed: this.malformed };
  }

  /** Events read so far, by event name. */
  countsByName(): ReadonlyMap<EventName, number> {
    return this.byName;
  }

  toEvent(r: RawTcpEvent, offsetMs: number): NetworkEvent | undefined {
    const k = TCP_EVENT_KINDS[r.type];
    if (!k) return undefined;
    const local = eventEndpoint(this.opts.identity, r.local, r.localPort, this.local);
    const remote = eventEndpoint(this.opts.identity, r.remote, r.remotePort, this.local);
    const inbound = k.kind === 'reset_received';
    const tcp: { -readonly [K in keyof TcpPart]: TcpPart[K] } = { kind: k.kind, side: SIDES[r.side] ?? 'unknown' };
    const state = TCP_STATE_NAMES[r.state];
    if (state) tcp.state = state;
    if (k.kind === 'connect_failed') {
      tcp.failure = TCP_FAILURES[r.detail] ?? 'other';
      const err = ERRNO[r.error] ?? `errno ${r.error}`;
      if (err) tcp.error = err;
    }
    if (k.kind === 'retransmit') tcp.segments = r.detail;
    return {
      name: k.name,
      timeMs: Number(r.timestampNs) / 1e6 + offsetMs,
      source: inbound ? remote : local,
      destination: inbound ? local : remote,
      ipVersion: r.ipVersion === 6 ? 6 : 4,
      transport: 'tcp',
      protocol: 6,
      ...(r.netns ? { netns: r.netns } : {}),
      direction: inbound ? 'ingress' : 'egress',
      suppressed: r.suppressed,
      cpu: r.cpu,
      tcp,
      node: this.opts.node,
    };
  }
}

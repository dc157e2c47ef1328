/**
 * The Hubble observer as a node serves it, independent of the transport: flows from Fovea's
 * events go into a FlowBuffer; each GetFlows call is a reader with its own cursor, filters, field
 * mask and time window, with Cilium's semantics (pkg/hubble/observer/local_observer.go):
 * - `first` starts at the oldest flow; `follow` without `number` starts at the newest; otherwise
 *   the reader rewinds from the newest until it has `number` matching flows or reaches `since`;
 * - without `follow` the call ends at the newest flow of the moment, or after `number` flows;
 * - `until` ends the call at the first flow after it; `first` with `follow` is INVALID_ARGUMENT;
 * - flows the ring overwrote under a reader (a slow client) are reported to it as a LostEvent of
 *   source HUBBLE_RING_BUFFER, and drop events the kernel could not queue (a full ring buffer) as
 *   PERF_EVENT_RING_BUFFER; lost events pass every filter and do not count toward `number`.
 * Memory is bounded by the buffer and, per client, by its sink's limit.
 */
import type { EventSink, NetworkEvent } from '../events/types.js';
import type { Logger } from '../log.js';
import { FieldMaskError, compileFieldMask, type FieldMask } from './field-mask.js';
import { FilterError, compileFlowFilters, unknownFilterFields } from './filter.js';
import { FlowBuffer, type BufferEntry, type FlowEntry } from './flow-buffer.js';
import { encodeFactsFrame, encodeFlowResponseFrame } from './flow-encoder.js';
import { timestampMs, timestampOf, type FlowBuilder } from './flows.js';
import { frame, type MessageSink } from './grpc-sink.js';
import { hubbleTypes } from './proto.js';
import { LOST_EVENT_SOURCE, type Flow } from './types.js';

/** gRPC status codes used here. */
export const STATUS = { ok: 0, cancelled: 1, invalidArgument: 3, unimplemented: 12, internal: 13, unavailable: 14 } as const;

/** A call that must end with a non-OK status. */
export class RpcError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

export const DEFAULT_BUFFER_SIZE = 4095;
/** Namespaces not seen in a flow for this long leave GetNamespaces (Cilium's default). */
export const NAMESPACE_TTL_MS = 3_600_000;
/** Frames written per batch. */
const BATCH = 256;

export interface HubbleObserverOptions {
  readonly builder: FlowBuilder;
  readonly logger: Logger;
  readonly bufferSize?: number;
  /** e.g. "fovea 0.1.0" (ServerStatus.version) */
  readonly version: string;
  readonly cluster: string;
  readonly nowMs?: () => number;
}

/** A GetFlowsRequest as decoded by protobufjs (the fields read here). */
interface FlowsRequest {
  number?: unknown;
  first?: boolean;
  follow?: boolean;
  whitelist?: unknown[];
  blacklist?: unknown[];
  since?: { seconds?: unknown; nanos?: unknown } | null;
  until?: { seconds?: unknown; nanos?: unknown } | null;
  field_mask?: { paths?: string[] } | null;
}

export interface ObserverStats {
  readonly clients: number;
  /** flows overwritten in the buffer before a client read them, all clients, cumulative */
  readonly overrun: number;
  /** flows sent, all clients, cumulative */
  readonly sent: number;
}

export class HubbleObserver implements EventSink {
  readonly buffer: FlowBuffer;
  private readonly log: Logger;
  private readonly nowMs: () => number;
  private readonly startMs: number;
  private readonly readers = new Set<FlowReader>();
  private readonly namespaces = new Map<string, number>();
  private seen = 0;
  private overrunTotal = 0;
  private sentTotal = 0;
  private readonly types = hubbleTypes();

  constructor(private readonly opts: HubbleObserverOptions) {
    this.buffer = new FlowBuffer(opts.bufferSize ?? DEFAULT_BUFFER_SIZE);
    this.log = opts.logger.child({ component: 'hubble' });
    this.nowMs = opts.nowMs ?? Date.now;
    this.startMs = this.nowMs();
  }

  /** Events → flows into the buffer, then to every following client. Never throws. */
  publish(events: readonly NetworkEvent[]): void {
    let unpumped = 0;
    const now = this.nowMs();
    const b = this.opts.builder;
    for (const ev of events) {
      this.buffer.push({ kind: 'flow', timeMs: ev.timeMs, event: ev, source: b.endpointOf(ev.source), destination: b.endpointOf(ev.destination) });
      // a suppressed drop happened too: it counts as seen (ServerStatus), though no flow shows it
      this.seen += 1 + (ev.suppressed ?? 0);
      // the namespaces flow endpoints show (pods'), last seen now, as Cilium's namespace manager keeps them
      if (ev.source.kind === 'pod') this.track(ev.source.namespace, now);
      if (ev.destination.kind === 'pod') this.track(ev.destination.namespace, now);
      // a batch larger than the ring would overwrite flows before any client could read them: let
      // the clients take what their sinks accept before the ring comes round
      if (++unpumped >= this.buffer.capacity && this.readers.size > 0) {
        unpumped = 0;
        this.pumpAll();
      }
    }
    this.pumpAll();
  }

  /** Drop events the kernel could not queue: a LostEvent every reader gets. */
  reportKernelLoss(count: number, cpu?: number): void {
    if (count <= 0) return;
    this.buffer.push({ kind: 'lost', timeMs: this.nowMs(), source: LOST_EVENT_SOURCE.kernelRing, count, ...(cpu !== undefined ? { cpu } : {}) });
    this.pumpAll();
  }

  /**
   * Starts a GetFlows call. `raw` is the request's wire bytes (to refuse filter fields this
   * server does not know). Throws RpcError for a request it must refuse.
   */
  getFlows(raw: Uint8Array, sink: MessageSink, done: (error?: RpcError) => void): { cancel(): void } {
    let req: FlowsRequest;
    try {
      req = this.types.GetFlowsRequest.decode(raw) as FlowsRequest;
    } catch (err) {
      throw new RpcError(STATUS.invalidArgument, `malformed GetFlowsRequest: ${(err as Error).message}`);
    }
    if (req.first && req.follow) throw new RpcError(STATUS.invalidArgument, 'first cannot be specified with follow');
    const unknown = unknownFilterFieldsOrThrow(raw);
    if (unknown.length) {
      throw new RpcError(STATUS.invalidArgument, `this server (Fovea) cannot evaluate filter fields it does not know: ${unknown.join('; ')}`);
    }
    let match: ((flow: Flow) => boolean) | undefined;
    try {
      // no filter: every flow, and no Flow object needed to say so
      const filtered = (req.whitelist?.length ?? 0) + (req.blacklist?.length ?? 0) > 0;
      match = filtered ? compileFlowFilters(req.whitelist ?? [], req.blacklist ?? []) : undefined;
    } catch (err) {
      if (err instanceof FilterError) throw new RpcError(STATUS.invalidArgument, err.message);
      throw err;
    }
    let mask: FieldMask | undefined;
    try {
      mask = compileFieldMask(this.types.Flow, req.field_mask?.paths ?? []);
    } catch (err) {
      if (err instanceof FieldMaskError) throw new RpcError(STATUS.invalidArgument, err.message);
      throw err;
    }
    const since = validTime(req.since, 'since');
    const until = validTime(req.until, 'until');
    const number = Number(String(req.number ?? 0));
    const follow = req.follow === true;
    const start = this.startOf(req.first === true, follow, number, since, match);
    const reader = new FlowReader(this, sink, {
      cursor: start, end: follow ? undefined : this.buffer.head, follow, number, since, until, match, mask,
    }, (err) => {
      this.readers.delete(reader);
      done(err);
    });
    this.readers.add(reader);
    reader.pump();
    return { cancel: () => reader.close() };
  }

  /** ServerStatus as a node answers it. */
  status(): Record<string, unknown> {
    const now = this.nowMs();
    return {
      num_flows: this.buffer.length,
      max_flows: this.buffer.capacity,
      seen_flows: this.seen,
      uptime_ns: Math.round((now - this.startMs) * 1e6),
      version: this.opts.version,
      flows_rate: this.flowRate(now),
    };
  }

  /** Namespaces seen in flows during the last hour, sorted. */
  namespaceList(): { cluster: string; namespace: string }[] {
    const cutoff = this.nowMs() - NAMESPACE_TTL_MS;
    for (const [ns, t] of this.namespaces) if (t < cutoff) this.namespaces.delete(ns);
    return [...this.namespaces.keys()].sort().map((namespace) => ({ cluster: this.opts.cluster, namespace }));
  }

  stats(): ObserverStats {
    let overrun = this.overrunTotal, sent = this.sentTotal;
    for (const r of this.readers) { overrun += r.overrun; sent += r.sent; }
    return { clients: this.readers.size, overrun, sent };
  }

  /** Ends every call (server shutdown). */
  closeAll(): void {
    for (const r of [...this.readers]) r.close();
  }

  // ---- for FlowReader ----

  /** The Flow of an entry for a filter, built on first use and kept (filters run per client). */
  flowOf(e: FlowEntry): Flow {
    return e.flow ??= this.opts.builder.build(e.event, e);
  }

  /** The framed GetFlowsResponse of an entry, encoded once per field mask. */
  frameOf(entry: BufferEntry, mask: FieldMask | undefined): Uint8Array {
    if (!mask) {
      if (entry.frame) return entry.frame;
    } else {
      const hit = entry.masked?.get(mask.key);
      if (hit) return hit;
    }
    const out = this.encode(entry, mask);
    if (!mask) entry.frame = out;
    else (entry.masked ??= new Map()).set(mask.key, out);
    return out;
  }

  private encode(entry: BufferEntry, mask: FieldMask | undefined): Uint8Array {
    const b = this.opts.builder;
    if (entry.kind === 'lost') {
      const time = timestampOf(entry.timeMs);
      return frame(this.types.GetFlowsResponse.encode({ lost_events: lostEvent(entry.source, entry.count, entry.cpu), node_name: b.node, time }).finish());
    }
    // the common path: straight from the event to the wire, no Flow message
    const direct = !mask && !entry.flow ? encodeFactsFrame(b.facts(entry.event, entry)) : undefined;
    if (direct) return direct;
    // a Flow built for this encoding only, unless a filter keeps one (flowOf); the response's time is the flow's
    const whole = entry.flow ?? b.build(entry.event, entry, !mask || mask.keeps('extensions'));
    const flow = mask ? mask.apply(whole) as Flow : whole;
    const time = whole.time ?? timestampOf(entry.timeMs);
    return encodeFlowResponseFrame(flow, b.node, time, !mask)
      ?? frame(this.types.GetFlowsResponse.encode({ flow, node_name: b.node, time }).finish());
  }

  /** A lost-event frame for one reader (not buffered). */
  lostFrame(source: number, count: number): Uint8Array {
    const msg = { lost_events: lostEvent(source, count), node_name: this.opts.builder.node, time: timestampOf(this.nowMs()) };
    return frame(this.types.GetFlowsResponse.encode(msg).finish());
  }

  retire(reader: FlowReader): void {
    this.overrunTotal += reader.overrun;
    this.sentTotal += reader.sent;
    this.log.debug({ sent: reader.sent, overrun: reader.overrun, bufferSize: this.buffer.capacity }, 'GetFlows finished');
  }

  // ---- internals ----

  private pumpAll(): void {
    for (const r of this.readers) r.pump();
  }

  private track(ns: string | undefined, t: number): void {
    if (ns) this.namespaces.set(ns, Math.max(t, this.namespaces.get(ns) ?? 0));
  }

  /** Where a reader starts (Cilium's newRingReader). */
  private startOf(first: boolean, follow: boolean, number: number, since: number | undefined, match: ((f: Flow) => boolean) | undefined): number {
    const b = this.buffer;
    if (first && since === undefined) return b.tail;
    if (follow && number === 0 && since === undefined) return b.head;
    let count = 0;
    for (let seq = b.head - 1; seq >= b.tail; seq--) {
      const e = b.at(seq)!;
      if (e.kind !== 'flow' || (match && !match(this.flowOf(e)))) continue;
      count++;
      if (since !== undefined) {
        if (e.timeMs < since) return seq + 1;
      } else if (count === number) {
        return seq;
      }
    }
    return b.tail;
  }

  /** Flows per second over the last minute of the buffer (Cilium's getFlowRate). */
  private flowRate(now: number): number {
    const b = this.buffer;
    let since = now - 60_000;
    let count = 0;
    let oldest: number | undefined;
    let seq = b.head - 1;
    for (; seq >= b.tail; seq--) {
      const e = b.at(seq)!;
      if (e.kind !== 'flow') continue;
      if (e.timeMs < since) break;
      oldest = e.timeMs;
      count++;
    }
    // the buffer wrapped within the minute: the rate over what it still holds
    if (seq < b.tail && b.tail > 0 && oldest !== undefined) since = oldest;
    const seconds = (now - since) / 1000;
    return seconds > 0 ? count / seconds : 0;
  }
}

function lostEvent(source: number, count: number, cpu?: number): Record<string, unknown> {
  return { source, num_events_lost: count, ...(cpu !== undefined ? { cpu: { value: cpu } } : {}) };
}

function unknownFilterFieldsOrThrow(raw: Uint8Array): string[] {
  try {
    return unknownFilterFields(raw);
  } catch (err) {
    if (err instanceof FilterError) throw new RpcError(STATUS.invalidArgument, err.message);
    throw err;
  }
}

/** A request timestamp → Unix ms; INVALID_ARGUMENT when out of the protobuf Timestamp range. */
function validTime(t: FlowsRequest['since'], name: string): number | undefined {
  if (!t) return undefined;
  const ms = timestampMs(t);
  const nanos = Number(t.nanos ?? 0);
  // google.protobuf.Timestamp: 0001-01-01 .. 9999-12-31, nanos 0..999,999,999
  if (ms === undefined || !Number.isFinite(ms) || ms < -62_135_596_800_000 || ms > 253_402_300_799_999 || nanos < 0 || nanos > 999_999_999) {
    throw new RpcError(STATUS.invalidArgument, `invalid ${name} timestamp`);
  }
  return ms;
}

interface ReaderSpec {
  cursor: number;
  /** non-follow: the buffer's head when the call started */
  readonly end: number | undefined;
  readonly follow: boolean;
  readonly number: number;
  readonly since: number | undefined;
  readonly until: number | undefined;
  /** undefined: no filter, every flow */
  readonly match: ((flow: Flow) => boolean) | undefined;
  readonly mask: FieldMask | undefined;
}

class FlowReader {
  overrun = 0;
  sent = 0;
  private closed = false;
  private waiting = false;

  constructor(
    private readonly obs: HubbleObserver,
    private readonly sink: MessageSink,
    private readonly spec: ReaderSpec,
    private readonly done: (err?: RpcError) => void,
  ) {}

  /** Sends what is due while the sink takes it. */
  pump(): void {
    if (this.closed || this.waiting) return;
    if (this.sink.pending > this.sink.limit) { this.wait(); return; }
    const b = this.obs.buffer;
    const s = this.spec;
    let frames: Uint8Array[] = [];
    let finished = false;
    let pendingLost = 0;
    const limit = s.end ?? b.head;
    while (s.cursor < limit) {
      if (s.cursor < b.tail) {
        pendingLost += b.tail - s.cursor;
        s.cursor = b.tail;
        continue;
      }
      if (pendingLost > 0) {
        this.overrun += pendingLost;
        frames.push(this.obs.lostFrame(LOST_EVENT_SOURCE.hubbleRing, pendingLost));
        pendingLost = 0;
      }
      const e = b.at(s.cursor++)!;
      if (e.kind === 'flow') {
        if (s.until !== undefined && e.timeMs > s.until) { finished = true; break; }
        if (s.since !== undefined && e.timeMs < s.since) continue;
        if (s.match && !s.match(this.obs.flowOf(e))) continue;
        this.sent++;
      }
      frames.push(this.obs.frameOf(e, s.mask));
      if (!s.follow && s.number > 0 && this.sent >= s.number) { finished = true; break; }
      if (frames.length >= BATCH) {
        const more = this.sink.write(frames);
        frames = [];
        if (!more) { this.wait(); return; }
      }
    }
    if (pendingLost > 0) {
      this.overrun += pendingLost;
      frames.push(this.obs.lostFrame(LOST_EVENT_SOURCE.hubbleRing, pendingLost));
    }
    if (frames.length) this.sink.write(frames);
    if (finished || (s.end !== undefined && s.cursor >= s.end)) this.finish();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.obs.retire(this);
    this.done(new RpcError(STATUS.cancelled, 'cancelled'));
  }

  private wait(): void {
    this.waiting = true;
    this.sink.onDrain(() => {
      this.waiting = false;
      this.pump();
    });
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.obs.retire(this);
    this.done();
  }
}

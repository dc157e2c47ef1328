/**
 * Probe "tcp": loads bpf/build/tcp.bpf.o, attaches its five raw tracepoints and turns tcp_stats
 * and tcp_state_counts into the node's `fovea.tcp.*` series. The pod and workload-pair series come
 * from the same reading (src/pods/tcp-series.ts reads `connections()` after each collect).
 *
 * tcp_stats entries that stopped changing for `idleTimeoutMs` are deleted from the kernel (the map
 * stays small on a node with many short-lived peers); their totals stay in the series, which are
 * `retired + live` (VectorAccumulator).
 */
import { join } from 'node:path';
import { attachTracing, type Attachment } from '../../kernel/attach.js';
import { Btf } from '../../kernel/btf.js';
import { BPF_MAP_TYPE_RINGBUF, mapTypeSupported } from '../../kernel/features.js';
import type { BpfMap, ReadableMap } from '../../kernel/map.js';
import { BpfObject } from '../../kernel/object.js';
import type { RingReader } from '../../kernel/ringbuf.js';
import { EventRing } from '../event-ring.js';
import { ATTR, DIRECTION, INSTRUMENTS, TCP_LATENCY_BOUNDS_S, TCP_OPEN, type InstrumentName } from '../../names.js';
import { VectorAccumulator } from '../../pods/accumulator.js';
import type { HistogramPoint } from '../../export/series-producer.js';
import { readFailureCounters } from '../counters.js';
import { reclaimZeroGauge, type GaugeMap } from './state-reclaim.js';
import type { CounterSeries, MetricFamily, Probe, ProbeContext, ProbeStatus, RecordFailure } from '../types.js';
import type { EventLimitCount } from '../drop/layout.js';
import {
  TCP_ERRORS, TCP_ERRORS_LOSING, TCP_FAILURES, TCP_LATENCY_BUCKETS, TCP_SIDE, TCP_STATE_NAMES,
  decodeTcpConns, decodeTcpStates, encodeTcpEventConfig,
  type LatencyHistogram, type TcpConnRecord, type TcpStateCount,
} from './layout.js';

export const TCP_OBJECT = 'tcp.bpf.o';
const EVENT_WINDOW_NS = 1_000_000_000n;

/** The tracepoints the probe needs, and the program attached to each. */
export const TCP_TRACEPOINTS = [
  'tcp_retransmit_skb', 'tcp_retransmit_synack', 'tcp_send_reset', 'tcp_receive_reset', 'inet_sock_set_state',
] as const;

/**
 * Programs to load for a kernel, by the tracepoints' arity there: tcp_retransmit_skb has a third
 * argument (err) since Linux 6.13, and then fires for failed retransmissions too.
 *
 * `everyResetSent`: whether tcp:tcp_send_reset fires for every reset the kernel sends. Before Linux
 * 6.10 it fired only for resets sent on behalf of a full socket — not for those sent with no socket
 * (a segment to a closed port) or from a TIME_WAIT one; the kernel change "trace: tcp: fully support
 * trace_tcp_send_reset" (Linux 6.10) added them, and the same release gave the tracepoint its third
 * argument, the reset reason — so the arity tells the two kernels apart. (Seen in the kernel
 * matrix: 5.10 and 6.1 count 0 resets sent for N connects to a closed port, 6.12 and 7.x count N.)
 */
export function tcpPrograms(arity: (tp: string) => number | undefined): { programs: string[]; missing: string[]; everyResetSent: boolean } {
  const missing = TCP_TRACEPOINTS.filter((tp) => arity(tp) === undefined);
  const retransmitArgs = arity('tcp_retransmit_skb') ?? 2;
  return {
    programs: [
      retransmitArgs >= 3 ? 'tcp_retransmit_err' : 'tcp_retransmit',
      'tcp_retransmit_synack', 'tcp_send_reset', 'tcp_receive_reset', 'tcp_set_state',
    ],
    missing: [...missing],
    everyResetSent: (arity('tcp_send_reset') ?? 0) >= 3,
  };
}

/** What a kernel without `everyResetSent` misses, for doctor and the probe's log. */
export const RESETS_WITHOUT_SOCKET_MISSED =
  'this kernel\'s tcp:tcp_send_reset fires only for resets sent on behalf of a full socket (Linux < 6.10): resets sent with no socket (a connect to a closed port) or from TIME_WAIT are missing from fovea.tcp.resets.sent and reset events';
/** Where those resets are still counted. */
export const RESETS_WITHOUT_SOCKET_FIX =
  'the pod\'s own Tcp OutRsts (fovea.netstack.counter) counts every reset; Linux >= 6.10 traces them all';

const ALL_PROGRAMS = ['tcp_retransmit', 'tcp_retransmit_err', 'tcp_retransmit_synack', 'tcp_send_reset', 'tcp_receive_reset', 'tcp_set_state'];

/** A kernel latency histogram (ns) → an OTLP histogram point in seconds. */
export function latencyPoint(h: LatencyHistogram): HistogramPoint {
  return { boundaries: TCP_LATENCY_BOUNDS_S, counts: h.buckets, count: h.count, sum: h.sumNs / 1e9 };
}

/**
 * The values of one record as a flat vector, in this order: retransmits, resets sent, resets
 * received, opened, failed × 4, closed, handshake (count, sum ns, 17 buckets), RTT (the same), and
 * opened again split by side: active (a client's), passive (a server's).
 */
export const TCP_VECTOR = {
  retrans: 0, resetsSent: 1, resetsReceived: 2, opened: 3, failed: 4, closed: 8, handshake: 9,
  rtt: 9 + 2 + TCP_LATENCY_BUCKETS, openedActive: 9 + 2 * (2 + TCP_LATENCY_BUCKETS),
  openedPassive: 10 + 2 * (2 + TCP_LATENCY_BUCKETS), length: 11 + 2 * (2 + TCP_LATENCY_BUCKETS),
} as const;

export function tcpVector(r: TcpConnRecord): number[] {
  const passive = r.side === TCP_SIDE.server;
  return [
    r.retransSegs, r.resetsSent, r.resetsReceived, r.opened, ...r.failed, r.closed,
    r.handshake.count, r.handshake.sumNs, ...r.handshake.buckets,
    r.rtt.count, r.rtt.sumNs, ...r.rtt.buckets,
    passive ? 0 : r.opened, passive ? r.opened : 0,
  ];
}

export function histogramAt(v: readonly number[], at: number): LatencyHistogram {
  return { count: v[at]!, sumNs: v[at + 1]!, buckets: v.slice(at + 2, at + 2 + TCP_LATENCY_BUCKETS) };
}

/** The families one group of (attributes, vector) values feeds: the node's, a pod's or a pair's. */
export interface TcpInstruments {
  readonly retransmits: InstrumentName;
  readonly resets: InstrumentName;
  readonly opened: InstrumentName;
  readonly failed: InstrumentName;
  readonly closed: InstrumentName;
  readonly handshake?: InstrumentName;
  readonly rtt?: InstrumentName;
}

export const NODE_TCP_INSTRUMENTS: TcpInstruments = {
  retransmits: INSTRUMENTS.tcpRetransmits, resets: INSTRUMENTS.tcpResets, opened: INSTRUMENTS.tcpOpened,
  failed: INSTRUMENTS.tcpFailed, closed: INSTRUMENTS.tcpClosed, handshake: INSTRUMENTS.tcpHandshake, rtt: INSTRUMENTS.tcpRtt,
};

/** A family accumulating series (attributes → value) in insertion order. */
export class FamilyBuilder {
  private readonly families = new Map<string, { instrument: InstrumentName; series: CounterSeries[] }>();

  add(instrument: InstrumentName | undefined, series: CounterSeries): void {
    if (!instrument) return;
    let f = this.families.get(instrument.name);
    if (!f) this.families.set(instrument.name, (f = { instrument, series: [] }));
    f.series.push(series);
  }

  build(): MetricFamily[] {
    return [...this.families.values()];
  }
}

/** Which measures of a vector a series carries (all by default). */
export interface TcpSeriesParts {
  readonly retransmits?: boolean;
  readonly resetsSent?: boolean;
  readonly resetsReceived?: boolean;
  /** opened (active / passive), failed, closed, handshake time and RTT */
  readonly connections?: boolean;
  /** `network.io.direction` of the retransmit series (pods: their own are `transmit`); none when absent */
  readonly retransmitDirection?: string;
  /** opened split by `fovea.tcp.open` (default); false: one series without it (pairs: client → server says it) */
  readonly openSplit?: boolean;
}

/** Series of one accumulated vector (TCP_VECTOR) with base attributes. */
export function addTcpSeries(
  out: FamilyBuilder, inst: TcpInstruments, base: CounterSeries['attributes'], v: readonly number[], parts: TcpSeriesParts = {},
): void {
  if (parts.retransmits !== false) {
    const attributes = parts.retransmitDirection ? { ...base, [ATTR.ioDirection]: parts.retransmitDirection } : base;
    out.add(inst.retransmits, { attributes, value: v[TCP_VECTOR.retrans]! });
  }
  if (parts.resetsSent !== false) {
    out.add(inst.resets, { attributes: { ...base, [ATTR.ioDirection]: DIRECTION.transmit }, value: v[TCP_VECTOR.resetsSent]! });
  }
  if (parts.resetsReceived !== false) {
    out.add(inst.resets, { attributes: { ...base, [ATTR.ioDirection]: DIRECTION.receive }, value: v[TCP_VECTOR.resetsReceived]! });
  }
  if (parts.connections === false) return;
  if (parts.openSplit === false) {
    out.add(inst.opened, { attributes: base, value: v[TCP_VECTOR.opened]! });
  } else {
    out.add(inst.opened, { attributes: { ...base, [ATTR.tcpOpen]: TCP_OPEN.active }, value: v[TCP_VECTOR.openedActive]! });
    out.add(inst.opened, { attributes: { ...base, [ATTR.tcpOpen]: TCP_OPEN.passive }, value: v[TCP_VECTOR.openedPassive]! });
  }
  TCP_FAILURES.forEach((f, i) => {
    out.add(inst.failed, { attributes: { ...base, [ATTR.tcpFailure]: f }, value: v[TCP_VECTOR.failed + i]! });
  });
  out.add(inst.closed, { attributes: base, value: v[TCP_VECTOR.closed]! });
  const hs = histogramAt(v, TCP_VECTOR.handshake);
  if (hs.count > 0) out.add(inst.handshake, { attributes: base, value: hs.count, histogram: latencyPoint(hs) });
  const rtt = histogramAt(v, TCP_VECTOR.rtt);
  if (rtt.count > 0) out.add(inst.rtt, { attributes: base, value: rtt.count, histogram: latencyPoint(rtt) });
}

/** Sockets per `network.connection.state` (CLOSE and states without a semantic-convention name left out). */
export function statesByName<K>(states: readonly TcpStateCount[], group: (s: TcpStateCount) => K | undefined): Map<K, Map<string, number>> {
  const out = new Map<K, Map<string, number>>();
  for (const s of states) {
    const name = TCP_STATE_NAMES[s.state];
    const g = group(s);
    if (!name || name === 'close' || g === undefined) continue;
    let m = out.get(g);
    if (!m) out.set(g, (m = new Map()));
    m.set(name, (m.get(name) ?? 0) + s.sockets);
  }
  return out;
}

/**
 * The node's families from the records (accumulated) and the state counts. Pure, for unit tests.
 * `stateNames`, when given, keeps the state names reported so far: a state whose entries are all gone
 * (deleted at 0) is reported at 0, as it was before they were deleted.
 */
export function nodeTcpFamilies(
  acc: VectorAccumulator, records: readonly TcpConnRecord[], states: readonly TcpStateCount[], now: number, stateNames?: Set<string>,
): MetricFamily[] {
  const out = new FamilyBuilder();
  const node = acc.update(records.map((r) => ({ recordKey: r.recordKey, seriesKey: 'node', attributes: {}, values: tcpVector(r) })), now);
  for (const s of node) addTcpSeries(out, NODE_TCP_INSTRUMENTS, {}, s.values);
  const byName = statesByName(states, () => 'node').get('node') ?? new Map<string, number>();
  if (stateNames) {
    for (const state of byName.keys()) stateNames.add(state);
    for (const state of stateNames) if (!byName.has(state)) byName.set(state, 0);
  }
  for (const [state, n] of byName) out.add(INSTRUMENTS.tcpConnections, { attributes: { [ATTR.connectionState]: state }, value: n });
  return out.build();
}

/** tcp_state_counts (s64 values) as state-reclaim.ts sees it. */
function gaugeMap(map: BpfMap): GaugeMap {
  return {
    take: (key) => map.take(key)?.readBigInt64LE(0),
    insert: (key, value) => { const v = Buffer.alloc(map.valueStride); v.writeBigInt64LE(value); return map.insert(key, v); },
  };
}

export class TcpProbe implements Probe {
  readonly name = 'tcp';
  private obj: BpfObject | undefined;
  private links: Attachment[] = [];
  private stats: BpfMap | undefined;
  private stateCounts: BpfMap | undefined;
  private errors: ReadableMap | undefined;
  private ring: EventRing | undefined;
  private events = false;
  private state: ProbeStatus;
  /** Whether this kernel traces every reset sent (see tcpPrograms); known once started. */
  everyResetSent = true;
  private latest: { conns: TcpConnRecord[]; states: TcpStateCount[] } = { conns: [], states: [] };
  /** per kernel record: total of its values and when it last changed (idle records are deleted) */
  private readonly lastChange = new Map<string, { total: number; at: number }>();
  /** per tcp_state_counts key read as 0: since when (deleted after the idle timeout; state-reclaim.ts) */
  private zeroStatesSince = new Map<string, number>();
  /** state names the node's gauge has reported: reported on at 0 once their entries are deleted */
  private readonly nodeStateNames = new Set<string>();
  /** tcp_state_counts entries deleted at 0, and those found changed when taken (put back) */
  private statesReclaimed = 0;
  private statesPutBack = 0;
  private readonly node = new VectorAccumulator(Number.POSITIVE_INFINITY);
  private readonly now: () => number;

  constructor(private readonly ctx: ProbeContext, now?: () => number) {
    this.state = { name: this.name, state: 'down', detail: 'not started' };
    this.now = now ?? Date.now;
  }

  start(): void {
    const log = this.ctx.logger.child({ probe: this.name });
    const settings = this.ctx.settings.tcp;
    const btf = Btf.vmlinux();
    let chosen: ReturnType<typeof tcpPrograms>;
    try {
      chosen = tcpPrograms((tp) => btf.tracepointArity(tp));
    } finally {
      btf.close();
    }
    if (chosen.missing.length) {
      const detail = `this kernel has no tracepoint ${chosen.missing.join(', ')}`;
      this.state = { name: this.name, state: 'down', detail };
      throw new Error(`tcp probe: ${detail}`);
    }
    if (!mapTypeSupported(BPF_MAP_TYPE_RINGBUF)) {
      const detail = 'this kernel has no BPF ring buffer (needs >= 5.8)';
      this.state = { name: this.name, state: 'down', detail };
      throw new Error(`tcp probe: ${detail}`);
    }
    const ev = this.ctx.settings.tcpEvents;
    this.events = ev?.enabled === true;
    const obj = BpfObject.open(join(this.ctx.settings.bpfObjectDir, TCP_OBJECT));
    try {
      for (const p of ALL_PROGRAMS) obj.program(p).setAutoload(chosen.programs.includes(p));
      if (settings) {
        obj.map('tcp_stats').setMaxEntries(settings.maxConnections);
        obj.map('tcp_socks').setMaxEntries(settings.maxSockets);
      }
      const ringBytes = ev?.ringBufferBytes ?? 256 * 1024;
      obj.map('tcp_events').setMaxEntries(ringBytes);
      obj.load();
      if (this.events && ev) {
        obj.map('tcp_event_cfg').update(Buffer.alloc(4),
          encodeTcpEventConfig({ enabled: true, perWindow: ev.ratePerCpu, windowNs: EVENT_WINDOW_NS }));
      }
      for (const p of chosen.programs) this.links.push(attachTracing(obj.program(p)));
    } catch (err) {
      for (const l of this.links) l.detach();
      this.links = [];
      obj.close();
      this.state = { name: this.name, state: 'down', detail: (err as Error).message };
      throw err;
    }
    this.obj = obj;
    this.stats = obj.map('tcp_stats');
    this.stateCounts = obj.map('tcp_state_counts');
    this.errors = obj.map('tcp_errors');
    this.ring = new EventRing(obj, 'tcp_events', 'tcp_event_limits', obj.map('tcp_events').maxEntries);
    const hook = `raw_tp/{${TCP_TRACEPOINTS.join(',')}}`;
    this.everyResetSent = chosen.everyResetSent;
    this.state = chosen.everyResetSent ? { name: this.name, state: 'up', hook }
      : { name: this.name, state: 'up', hook, detail: `degraded: ${RESETS_WITHOUT_SOCKET_MISSED}` };
    log.info({ programs: chosen.programs, events: this.events }, 'tcp probe attached');
    if (!chosen.everyResetSent) log.warn({ fix: RESETS_WITHOUT_SOCKET_FIX }, RESETS_WITHOUT_SOCKET_MISSED);
  }

  /** Reads the kernel maps (the node's series); pod and pair series use the same reading through connections(). */
  collect(): MetricFamily[] {
    if (!this.stats || !this.stateCounts) return [];
    const now = this.now();
    const conns = decodeTcpConns(this.stats.readAll());
    const states = this.reclaimIdleStates(decodeTcpStates(this.stateCounts.readAll()), now);
    this.deleteIdle(conns, now);
    this.latest = { conns, states };
    return nodeTcpFamilies(this.node, conns, states, now, this.nodeStateNames);
  }

  /**
   * Deletes tcp_state_counts entries read as 0 for idleTimeoutMs (nothing else deletes them: every
   * address and namespace that had a socket would keep its entries; see state-reclaim.ts). Returns the
   * reading without the entries deleted.
   */
  private reclaimIdleStates(states: TcpStateCount[], now: number): TcpStateCount[] {
    const idleMs = this.ctx.settings.tcp?.idleTimeoutMs ?? 120_000;
    const map = gaugeMap(this.stateCounts!);
    const zero = new Map<string, number>();
    const kept = states.filter((s) => {
      if (s.sockets !== 0) return true;
      const since = this.zeroStatesSince.get(s.recordKey) ?? now;
      if (now - since < idleMs) { zero.set(s.recordKey, since); return true; }
      let back: bigint;
      try {
        back = reclaimZeroGauge(map, Buffer.from(s.recordKey, 'hex'));
      } catch (err) {
        this.ctx.logger.warn({ probe: this.name, local: s.local, netns: s.netns, state: s.state, err: (err as Error).message },
          'could not delete an idle tcp_state_counts entry');
        return true;
      }
      if (back !== 0n) { this.statesPutBack++; return true; } // changed meanwhile: put back, read next time
      this.statesReclaimed++;
      return false;
    });
    this.zeroStatesSince = zero;
    return kept;
  }

  /** tcp_state_counts entries deleted after reading 0 for the idle timeout, and those put back (changed when taken). */
  stateEntriesReclaimed(): { readonly deleted: number; readonly putBack: number } {
    return { deleted: this.statesReclaimed, putBack: this.statesPutBack };
  }

  /** Deletes kernel records unchanged for idleTimeoutMs; this reading still carries their values. */
  private deleteIdle(conns: readonly TcpConnRecord[], now: number): void {
    const idleMs = this.ctx.settings.tcp?.idleTimeoutMs ?? 120_000;
    const seen = new Set<string>();
    for (const r of conns) {
      seen.add(r.recordKey);
      const total = tcpVector(r).reduce((a, b) => a + b, 0);
      const last = this.lastChange.get(r.recordKey);
      if (!last || last.total !== total) {
        this.lastChange.set(r.recordKey, { total, at: now });
      } else if (now - last.at >= idleMs) {
        this.stats?.delete(Buffer.from(r.recordKey, 'hex'));
        this.lastChange.delete(r.recordKey);
      }
    }
    for (const k of this.lastChange.keys()) if (!seen.has(k)) this.lastChange.delete(k);
  }

  /** tcp_stats and tcp_state_counts as of the last collect. */
  connections(): { readonly conns: readonly TcpConnRecord[]; readonly states: readonly TcpStateCount[] } {
    return this.latest;
  }

  get eventsEnabled(): boolean {
    return this.obj !== undefined && this.events;
  }

  eventRing(): RingReader | undefined {
    return this.eventsEnabled ? this.ring?.reader() : undefined;
  }

  /** Per event type: emitted, suppressed, lost to a full ring (cumulative; `slot` is the type). */
  readEventLimits(): EventLimitCount[] {
    return this.ring?.readLimits() ?? [];
  }

  recordFailures(): RecordFailure[] {
    return this.errors ? readFailureCounters(this.errors, TCP_ERRORS, TCP_ERRORS_LOSING) : [];
  }

  status(): ProbeStatus {
    return this.state;
  }

  detach(): void {
    for (const l of this.links) l.detach();
    this.links = [];
  }

  stop(): void {
    this.detach();
    this.ring?.close();
    this.ring = undefined;
    this.obj?.close();
    this.obj = undefined;
    this.stats = undefined;
    this.stateCounts = undefined;
    this.errors = undefined;
    if (this.state.state === 'up') this.state = { name: this.name, state: 'down', detail: 'stopped' };
  }
}

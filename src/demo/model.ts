/**
 * The demo's data model: what ARRIVED AT THE RECEIVER (never the agent's memory), turned into the
 * rows the view draws and the final summary. Pure except for `ReceivedMetrics.ingest` and
 * `ReceivedEvents.ingest` (received-events.ts), which accumulate exports; every function takes its
 * clock and kernel readings as arguments.
 *
 * Metrics are cumulative, so the latest point of a series is its total; rates come from the
 * points of the last RATE_WINDOW_MS (by the points' own timestamps, so a late export does not
 * make the rate jump).
 */
import type { Counter, LinkStats } from '../lab/kernel-truth.js';
import { ATTR, DIRECTION, EVENT, EVENT_LOSS_STAGE, INSTRUMENTS } from '../names.js';
import { flattenAttrs, type Attrs, type ExportMetricsServiceRequest } from '../otlp/receiver.js';
import { ReceivedEvents, type DropEventRow, type ReasonEvents } from './received-events.js';
import type { TrafficStats } from './traffic-loop.js';

/** Rates are computed over the points of this window (about five 1 s exports). */
export const RATE_WINDOW_MS = 5_000;

interface Point { readonly tMs: number; readonly value: number }

interface SeriesState {
  readonly attrs: Attrs;
  /** Oldest first; the last is the current total. */
  points: Point[];
  /** Number of the last export that carried this series. */
  seenIn: number;
}

interface MetricState {
  readonly series: Map<string, SeriesState>;
  /** Number of the last export that carried this metric. */
  seenIn: number;
  /** Newest point time of the last export that carried this metric. */
  lastT?: number;
}

export interface LatestSeries {
  readonly attrs: Attrs;
  readonly value: number;
  /** Per second over the rate window; 0 with fewer than two points. */
  readonly rate: number;
}

function seriesKey(attrs: Attrs): string {
  return JSON.stringify(Object.keys(attrs).sort().map((k) => [k, attrs[k]]));
}

/**
 * Latest value and recent history of every Sum/Gauge series received, by metric name. Every
 * export carries every current series of a metric, so a series missing from the latest export
 * that carries its metric has ended (a probe that went down, an interface that went away).
 */
export class ReceivedMetrics {
  private readonly metrics = new Map<string, MetricState>();
  private count = 0;
  private lastAt: number | undefined;

  /** Exports ingested so far. */
  get exports(): number {
    return this.count;
  }

  /** Date.now() of the last export ingested. */
  get lastExportAt(): number | undefined {
    return this.lastAt;
  }

  ingest(request: ExportMetricsServiceRequest, receivedAt: number): void {
    this.count++;
    this.lastAt = receivedAt;
    for (const rm of request.resourceMetrics) {
      for (const sm of rm.scopeMetrics) {
        for (const m of sm.metrics) {
          const data = m.data === 'sum' ? m.sum : m.data === 'gauge' ? m.gauge : undefined;
          if (!data) continue;
          let ms = this.metrics.get(m.name);
          if (!ms) this.metrics.set(m.name, (ms = { series: new Map(), seenIn: 0 }));
          ms.seenIn = this.count;
          const byKey = ms.series;
          // Every export carries every series of a metric: a counter series that is new in a later
          // export was 0 at the previous one, so its rate counts from there (not from its 2nd point).
          const prevT = ms.lastT;
          const monotonic = m.data === 'sum' && m.sum?.isMonotonic === true;
          for (const dp of data.dataPoints) {
            const attrs = flattenAttrs(dp.attributes);
            const value = dp.value === 'asInt' ? Number(dp.asInt ?? '0') : (dp.asDouble ?? 0);
            const tMs = Number(BigInt(dp.timeUnixNano || '0') / 1_000_000n) || receivedAt;
            const key = seriesKey(attrs);
            let s = byKey.get(key);
            if (!s) {
              byKey.set(key, (s = { attrs, points: [], seenIn: 0 }));
              if (monotonic && prevT !== undefined && prevT < tMs) s.points.push({ tMs: prevT, value: 0 });
            }
            ms.lastT = Math.max(ms.lastT ?? tMs, tMs);
            s.seenIn = this.count;
            const last = s.points[s.points.length - 1];
            if (last && tMs < last.tMs) continue; // an older point arriving late
            if (last && value < last.value && m.data === 'sum') s.points = []; // counter reset (agent restart)
            if (last && tMs === last.tMs) s.points[s.points.length - 1] = { tMs, value };
            else s.points.push({ tMs, value });
            const cutoff = tMs - RATE_WINDOW_MS;
            while (s.points.length > 2 && (s.points[0]?.tMs ?? tMs) < cutoff) s.points.shift();
          }
        }
      }
    }
  }

  /** Every series of a metric with its latest value and rate. */
  series(metric: string): LatestSeries[] {
    const out: LatestSeries[] = [];
    const ms = this.metrics.get(metric);
    for (const s of ms?.series.values() ?? []) {
      if (s.seenIn !== ms?.seenIn) continue;
      const first = s.points[0];
      const last = s.points[s.points.length - 1];
      if (!first || !last) continue;
      const dt = (last.tMs - first.tMs) / 1000;
      out.push({ attrs: s.attrs, value: last.value, rate: dt > 0 ? Math.max(0, (last.value - first.value) / dt) : 0 });
    }
    return out;
  }
}

// ---- View model -----------------------------------------------------------------------------

export interface DropRow {
  readonly reason: string;
  readonly transport: string;
  readonly networkType: string;
  readonly packets: number;
  readonly bytes: number;
  /** packets per second */
  readonly pps: number;
}

export interface InterfaceRow {
  readonly name: string;
  readonly rxPackets: number;
  readonly rxBytes: number;
  readonly txPackets: number;
  readonly txBytes: number;
  /** bytes per second */
  readonly rxBps: number;
  readonly txBps: number;
  readonly rxPps: number;
  readonly txPps: number;
}

/** Packets between two workloads (`fovea.flow.packets` / `.bytes`), one row per pair, transport and server port. */
export interface FlowRow {
  /** `namespace/name`, the name alone when there is no namespace (a netns workload), else the kind (`External`). */
  readonly source: string;
  readonly destination: string;
  readonly sourceKind: string;
  readonly destinationKind: string;
  readonly transport: string;
  /** Server port; 0 for transports without ports. */
  readonly port: number;
  readonly packets: number;
  readonly bytes: number;
  readonly pps: number;
  /** bytes per second */
  readonly bps: number;
}

/** Dropped packets between two workloads (`fovea.flow.drop.packets` / `.bytes`). */
export interface FlowDropRow {
  readonly source: string;
  readonly destination: string;
  readonly reason: string;
  readonly transport: string;
  readonly port: number;
  readonly packets: number;
  readonly bytes: number;
  readonly pps: number;
}

export interface DropCount { readonly packets: number; readonly bytes: number; readonly pps: number }

/**
 * A pod's drops of one reason (`fovea.pod.network.drop.packets`, every transport): `from` = packets
 * the pod sent (direction transmit), `to` = packets on their way to it (receive). A drop between
 * two local pods is in the sender's `from` and the receiver's `to`.
 */
export interface PodDropRow {
  readonly pod: string;
  readonly reason: string;
  readonly from: DropCount;
  readonly to: DropCount;
}

export interface ProbeHealth {
  readonly name: string;
  readonly up: boolean;
  readonly hook?: string;
}

/** The agent's NETFILTER_DROP total (as received) next to the lab's nft deny-rule counters. */
export interface TruthSample {
  readonly agent: { readonly udp: Counter; readonly tcp: Counter; readonly total: Counter };
  readonly nft: { readonly udp: Counter; readonly tcp: Counter; readonly total: Counter };
}

/**
 * - waiting: no export has arrived yet
 * - match: agent and nft agree exactly
 * - behind: nft counted more — drops after the agent's read, the next export carries them
 * - mismatch: the agent counted more (another NETFILTER drop on this host?) — worth a look
 */
export type TruthVerdict = 'waiting' | 'match' | 'behind' | 'mismatch';

export interface LabInfo {
  readonly name: string;
  readonly pods: number;
  readonly netnsPrefix: string;
  readonly interfaceGlob: string;
  readonly nftTable: string;
  readonly denyPort: number;
  readonly closedPort: number;
}

/** Where `fovea observe` reaches the demo's agent: its socket, or why there is none. */
export type ObserveStatus =
  | { readonly socket: string; readonly isDefault: boolean }
  | { readonly off: string };

/** The "recent drop events" panel: drop events as received (OTLP log records). */
export interface DropEventsPanel {
  /** The agent runs its drop-event stage (from its health metrics); undefined before the first export. */
  readonly enabled?: boolean;
  /** Drop events received. */
  readonly received: number;
  /** Suppressed drops those events carried (each event stands for 1 + suppressed drops). */
  readonly suppressed: number;
  /** Drops the agent counted (fovea.network.drop.packets, every reason), as received. */
  readonly dropsCounted: number;
  /** The newest, oldest first. */
  readonly recent: readonly DropEventRow[];
  readonly observe?: ObserveStatus;
}

export interface DemoModel {
  readonly lab: LabInfo;
  readonly endpoint: string;
  readonly elapsedMs: number;
  /** undefined: until Ctrl-C */
  readonly durationMs?: number;
  readonly exports: { readonly received: number; readonly lastAgoMs?: number; readonly failures: number };
  readonly probes: readonly ProbeHealth[];
  readonly attachedInterfaces?: number;
  readonly drops: readonly DropRow[];
  readonly dropTotal: { readonly packets: number; readonly bytes: number; readonly pps: number };
  readonly interfaces: readonly InterfaceRow[];
  /** Pod level, as received: every row, sorted (the view shows the top few). */
  readonly workloads: {
    /** Pods seen in the pod metrics. */
    readonly pods: number;
    readonly flows: readonly FlowRow[];
    readonly podDrops: readonly PodDropRow[];
    readonly flowDrops: readonly FlowDropRow[];
  };
  readonly truth: { readonly verdict: TruthVerdict; readonly sample?: TruthSample };
  readonly events: DropEventsPanel;
  readonly traffic: TrafficStats;
  readonly logFile?: string;
}

export interface ModelInputs {
  readonly nowMs: number;
  readonly startedAtMs: number;
  readonly durationMs?: number;
  readonly lab: LabInfo;
  readonly endpoint: string;
  /** The pair taken when the latest export arrived (see truthAtExport in the command). */
  readonly truth?: TruthSample;
  readonly traffic: TrafficStats;
  readonly logFile?: string;
  readonly observe?: ObserveStatus;
}

const str = (v: unknown): string => (v === undefined ? '' : String(v));
const zero: Counter = { packets: 0, bytes: 0 };
const add = (a: Counter, b: Counter): Counter => ({ packets: a.packets + b.packets, bytes: a.bytes + b.bytes });

/** Drop rows by packets, descending (then by reason, transport, type for a stable order). */
export function dropRows(m: ReceivedMetrics): DropRow[] {
  const bytes = new Map(m.series(INSTRUMENTS.dropBytes.name).map((s) => [seriesKey(s.attrs), s.value]));
  return m.series(INSTRUMENTS.dropPackets.name)
    .filter((s) => s.attrs['otel.metric.overflow'] !== true)
    .map((s) => ({
      reason: str(s.attrs[ATTR.dropReason]) || '?',
      transport: str(s.attrs[ATTR.transport]),
      networkType: str(s.attrs[ATTR.networkType]),
      packets: s.value,
      bytes: bytes.get(seriesKey(s.attrs)) ?? 0,
      pps: s.rate,
    }))
    .sort((a, b) => b.packets - a.packets || a.reason.localeCompare(b.reason)
      || a.transport.localeCompare(b.transport) || a.networkType.localeCompare(b.networkType));
}

/** One row per interface, by name. */
export function interfaceRows(m: ReceivedMetrics): InterfaceRow[] {
  const rows = new Map<string, { -readonly [K in keyof InterfaceRow]: InterfaceRow[K] }>();
  const row = (name: string) => {
    let r = rows.get(name);
    if (!r) rows.set(name, (r = { name, rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, rxBps: 0, txBps: 0, rxPps: 0, txPps: 0 }));
    return r;
  };
  for (const s of m.series(INSTRUMENTS.packets.name)) {
    const r = row(str(s.attrs[ATTR.interfaceName]));
    if (s.attrs[ATTR.ioDirection] === DIRECTION.receive) { r.rxPackets = s.value; r.rxPps = s.rate; }
    else if (s.attrs[ATTR.ioDirection] === DIRECTION.transmit) { r.txPackets = s.value; r.txPps = s.rate; }
  }
  for (const s of m.series(INSTRUMENTS.io.name)) {
    const r = row(str(s.attrs[ATTR.interfaceName]));
    if (s.attrs[ATTR.ioDirection] === DIRECTION.receive) { r.rxBytes = s.value; r.rxBps = s.rate; }
    else if (s.attrs[ATTR.ioDirection] === DIRECTION.transmit) { r.txBytes = s.value; r.txBps = s.rate; }
  }
  return [...rows.values()].sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
}

const notOverflow = (s: LatestSeries): boolean => s.attrs['otel.metric.overflow'] !== true;

/** A flow end as one word: `namespace/name`, `name` (netns workloads have no namespace), else the kind. */
export function workloadLabel(namespace: unknown, kind: unknown, name: unknown): string {
  const n = str(name);
  const k = str(kind);
  if (k === 'External' || n === '') return k || '?';
  const ns = str(namespace);
  return ns ? `${ns}/${n}` : n;
}

const ends = (a: Attrs) => ({
  source: workloadLabel(a[ATTR.srcNamespace], a[ATTR.srcWorkloadKind], a[ATTR.srcWorkload]),
  destination: workloadLabel(a[ATTR.dstNamespace], a[ATTR.dstWorkloadKind], a[ATTR.dstWorkload]),
  sourceKind: str(a[ATTR.srcWorkloadKind]),
  destinationKind: str(a[ATTR.dstWorkloadKind]),
});
const portOf = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0) || 0);
/** The pod of a pod-level series: its name (a netns workload's name is the netns). */
const podOf = (a: Attrs): string => str(a[ATTR.podName]) || str(a[ATTR.workloadName]) || '?';

/**
 * Joins a packets metric with its bytes metric and sums the series that share a row key (series
 * that differ only in attributes the row leaves out, e.g. opt-in pod names or addresses).
 */
function grouped<R>(m: ReceivedMetrics, packets: string, bytes: string, key: (a: Attrs) => string,
  make: (a: Attrs) => R): Array<{ row: R; packets: number; bytes: number; pps: number; bps: number }> {
  const byteSeries = new Map(m.series(bytes).map((s) => [seriesKey(s.attrs), s]));
  const out = new Map<string, { row: R; packets: number; bytes: number; pps: number; bps: number }>();
  for (const s of m.series(packets).filter(notOverflow)) {
    const k = key(s.attrs);
    let g = out.get(k);
    if (!g) out.set(k, (g = { row: make(s.attrs), packets: 0, bytes: 0, pps: 0, bps: 0 }));
    const b = byteSeries.get(seriesKey(s.attrs));
    g.packets += s.value;
    g.pps += s.rate;
    g.bytes += b?.value ?? 0;
    g.bps += b?.rate ?? 0;
  }
  return [...out.values()];
}

/** Workload-to-workload flows, busiest first (packet rate, then total). */
export function flowRows(m: ReceivedMetrics): FlowRow[] {
  return grouped(m, INSTRUMENTS.flowPackets.name, INSTRUMENTS.flowBytes.name,
    (a) => JSON.stringify([ends(a), a[ATTR.transport], portOf(a[ATTR.serverPort])]),
    (a) => ({ ...ends(a), transport: str(a[ATTR.transport]), port: portOf(a[ATTR.serverPort]) }))
    .map(({ row, packets, bytes, pps, bps }) => ({ ...row, packets, bytes, pps, bps }))
    .sort((a, b) => b.pps - a.pps || b.packets - a.packets || a.source.localeCompare(b.source)
      || a.destination.localeCompare(b.destination) || a.transport.localeCompare(b.transport) || a.port - b.port);
}

/** Dropped packets between workloads, most first (total, then rate). */
export function flowDropRows(m: ReceivedMetrics): FlowDropRow[] {
  return grouped(m, INSTRUMENTS.flowDropPackets.name, INSTRUMENTS.flowDropBytes.name,
    (a) => JSON.stringify([ends(a), a[ATTR.dropReason], a[ATTR.transport], portOf(a[ATTR.serverPort])]),
    (a) => {
      const { source, destination } = ends(a);
      return { source, destination, reason: str(a[ATTR.dropReason]) || '?', transport: str(a[ATTR.transport]), port: portOf(a[ATTR.serverPort]) };
    })
    .map(({ row, packets, bytes, pps }) => ({ ...row, packets, bytes, pps }))
    .sort((a, b) => b.packets - a.packets || b.pps - a.pps || a.source.localeCompare(b.source)
      || a.destination.localeCompare(b.destination) || a.reason.localeCompare(b.reason) || a.port - b.port);
}

export interface PodDropSeries {
  readonly pod: string;
  readonly reason: string;
  /** `transmit`: the pod sent it; `receive`: it was on its way to the pod. */
  readonly direction: string;
  readonly transport: string;
  readonly networkType: string;
  readonly packets: number;
  readonly bytes: number;
}

/** Every pod drop series as received, by pod, reason, direction, transport. */
export function podDropSeries(m: ReceivedMetrics): PodDropSeries[] {
  return grouped(m, INSTRUMENTS.podDropPackets.name, INSTRUMENTS.podDropBytes.name,
    (a) => JSON.stringify([podOf(a), a[ATTR.dropReason], a[ATTR.ioDirection], a[ATTR.transport], a[ATTR.networkType]]),
    (a) => ({
      pod: podOf(a), reason: str(a[ATTR.dropReason]) || '?', direction: str(a[ATTR.ioDirection]),
      transport: str(a[ATTR.transport]), networkType: str(a[ATTR.networkType]),
    }))
    .map(({ row, packets, bytes }) => ({ ...row, packets, bytes }))
    .sort((a, b) => byPodName(a.pod, b.pod) || a.reason.localeCompare(b.reason) || a.direction.localeCompare(b.direction)
      || a.transport.localeCompare(b.transport) || a.networkType.localeCompare(b.networkType));
}

const byPodName = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });

/** Drops by pod and reason, from / to the pod side by side; most first (both directions, then rate). */
export function podDropRows(m: ReceivedMetrics): PodDropRow[] {
  const none: DropCount = { packets: 0, bytes: 0, pps: 0 };
  const plus = (a: DropCount, g: { packets: number; bytes: number; pps: number }): DropCount =>
    ({ packets: a.packets + g.packets, bytes: a.bytes + g.bytes, pps: a.pps + g.pps });
  const rows = new Map<string, { pod: string; reason: string; from: DropCount; to: DropCount }>();
  for (const g of grouped(m, INSTRUMENTS.podDropPackets.name, INSTRUMENTS.podDropBytes.name,
    (a) => JSON.stringify([podOf(a), a[ATTR.dropReason], a[ATTR.ioDirection], a[ATTR.transport], a[ATTR.networkType]]),
    (a) => ({ pod: podOf(a), reason: str(a[ATTR.dropReason]) || '?', direction: str(a[ATTR.ioDirection]) }))) {
    const k = JSON.stringify([g.row.pod, g.row.reason]);
    let r = rows.get(k);
    if (!r) rows.set(k, (r = { pod: g.row.pod, reason: g.row.reason, from: none, to: none }));
    if (g.row.direction === DIRECTION.transmit) r.from = plus(r.from, g);
    else if (g.row.direction === DIRECTION.receive) r.to = plus(r.to, g);
  }
  return [...rows.values()].sort((a, b) => (b.from.packets + b.to.packets) - (a.from.packets + a.to.packets)
    || (b.from.pps + b.to.pps) - (a.from.pps + a.to.pps) || byPodName(a.pod, b.pod) || a.reason.localeCompare(b.reason));
}

export interface PodTraffic { readonly pod: string; readonly sent: Counter; readonly received: Counter }

/** Each pod's traffic (`fovea.pod.network.packets` / `.io`): sent = direction transmit. */
export function podTrafficRows(m: ReceivedMetrics): PodTraffic[] {
  const rows = new Map<string, { pod: string; sent: Counter; received: Counter }>();
  for (const g of grouped(m, INSTRUMENTS.podPackets.name, INSTRUMENTS.podIo.name,
    (a) => JSON.stringify([podOf(a), a[ATTR.ioDirection]]), (a) => ({ pod: podOf(a), direction: str(a[ATTR.ioDirection]) }))) {
    let r = rows.get(g.row.pod);
    if (!r) rows.set(g.row.pod, (r = { pod: g.row.pod, sent: zero, received: zero }));
    if (g.row.direction === DIRECTION.transmit) r.sent = add(r.sent, g);
    else if (g.row.direction === DIRECTION.receive) r.received = add(r.received, g);
  }
  return [...rows.values()].sort((a, b) => byPodName(a.pod, b.pod));
}

/** Pods that appear in any pod-level metric. */
export function podsSeen(m: ReceivedMetrics): string[] {
  const names = new Set<string>();
  for (const metric of [INSTRUMENTS.podPackets.name, INSTRUMENTS.podDropPackets.name]) {
    for (const s of m.series(metric).filter(notOverflow)) names.add(podOf(s.attrs));
  }
  return [...names].sort(byPodName);
}

export function probeHealth(m: ReceivedMetrics): ProbeHealth[] {
  return m.series(INSTRUMENTS.probeUp.name)
    .map((s) => {
      const hook = s.attrs[ATTR.hook];
      return { name: str(s.attrs[ATTR.probe]), up: s.value === 1, ...(hook !== undefined ? { hook: str(hook) } : {}) };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

function sumOf(m: ReceivedMetrics, metric: string): number | undefined {
  const s = m.series(metric);
  return s.length === 0 ? undefined : s.reduce((a, x) => a + x.value, 0);
}

/** The agent's NETFILTER_DROP counters as received, by transport. */
export function agentNetfilter(m: ReceivedMetrics): TruthSample['agent'] {
  let udp = zero;
  let tcp = zero;
  let total = zero;
  for (const r of dropRows(m)) {
    if (r.reason !== 'NETFILTER_DROP') continue;
    const c = { packets: r.packets, bytes: r.bytes };
    total = add(total, c);
    if (r.transport === 'udp') udp = add(udp, c);
    else if (r.transport === 'tcp') tcp = add(tcp, c);
  }
  return { udp, tcp, total };
}

/** The lab's deny rules (comments `deny-udp` / `deny-tcp`) as a TruthSample side. */
export function nftSide(counters: Readonly<Record<string, Counter>>): TruthSample['nft'] {
  const udp = counters['deny-udp'] ?? zero;
  const tcp = counters['deny-tcp'] ?? zero;
  return { udp, tcp, total: add(udp, tcp) };
}

export function truthVerdict(exports: number, sample: TruthSample | undefined): TruthVerdict {
  if (exports === 0 || !sample) return 'waiting';
  const a = sample.agent.total.packets;
  const n = sample.nft.total.packets;
  return a === n ? 'match' : a < n ? 'behind' : 'mismatch';
}

/** The agent's drop-event stage as received (its final export carries the exact totals). */
export interface AgentEventStats {
  /** Drop events the agent read from the kernel ring. */
  readonly read: number;
  /** Drops the in-kernel rate limit kept out of the ring, by reason. */
  readonly suppressed: Readonly<Record<string, number>>;
  /** Events lost, by stage (ring_full, queue_full, export_rejected). */
  readonly lost: Readonly<Record<string, number>>;
}

/** Undefined when the agent reports no drop-event stage (events off, or nothing received yet). */
export function agentEventStats(m: ReceivedMetrics): AgentEventStats | undefined {
  const read = m.series(INSTRUMENTS.eventsRead.name).filter((s) => s.attrs[ATTR.eventName] === EVENT.drop);
  if (read.length === 0) return undefined;
  const byAttr = (metric: string, key: string): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const s of m.series(metric)) {
      const k = str(s.attrs[key]) || '?';
      out[k] = (out[k] ?? 0) + s.value;
    }
    return out;
  };
  return {
    read: read.reduce((a, s) => a + s.value, 0),
    suppressed: byAttr(INSTRUMENTS.eventsSuppressed.name, ATTR.dropReason),
    lost: byAttr(INSTRUMENTS.eventsLost.name, ATTR.lossStage),
  };
}

/**
 * The reconciliation the agent guarantees for one drop reason: every drop is exactly one of an
 * event, suppressed by the rate limit, or lost to a full ring — so events received + suppressed +
 * ring_full = the agent's drop count, once every event has arrived (after the final export).
 * ring_full is counted across reasons; the demo's ring never fills in practice.
 */
export interface EventReconciliation {
  readonly reason: string;
  readonly events: number;
  readonly suppressed: number;
  readonly ringFull: number;
  /** events + suppressed + ringFull */
  readonly total: number;
  /** the agent's drop count of the reason (fovea.network.drop.packets) */
  readonly drops: number;
  readonly match: boolean;
}

export function reconcileEvents(m: ReceivedMetrics, ev: ReceivedEvents, reason: string): EventReconciliation | undefined {
  const agent = agentEventStats(m);
  if (!agent) return undefined;
  const events = ev.byReason()[reason]?.events ?? 0;
  const suppressed = agent.suppressed[reason] ?? 0;
  const ringFull = agent.lost[EVENT_LOSS_STAGE.ringFull] ?? 0;
  const drops = dropRows(m).filter((r) => r.reason === reason).reduce((a, r) => a + r.packets, 0);
  const total = events + suppressed + ringFull;
  return { reason, events, suppressed, ringFull, total, drops, match: total === drops };
}

function eventsPanel(m: ReceivedMetrics, ev: ReceivedEvents, dropsCounted: number, observe: ObserveStatus | undefined): DropEventsPanel {
  const enabled = agentEventStats(m) !== undefined ? true : m.exports > 0 ? false : undefined;
  return {
    ...(enabled !== undefined ? { enabled } : {}),
    received: ev.dropEvents,
    suppressed: Object.values(ev.byReason()).reduce((a, r) => a + r.suppressed, 0),
    dropsCounted,
    recent: ev.recent(),
    ...(observe ? { observe } : {}),
  };
}

export function buildModel(m: ReceivedMetrics, inp: ModelInputs, ev: ReceivedEvents = new ReceivedEvents()): DemoModel {
  const drops = dropRows(m);
  const lastAt = m.lastExportAt;
  const attached = sumOf(m, INSTRUMENTS.attachedInterfaces.name);
  const dropTotal = drops.reduce((a, d) => ({ packets: a.packets + d.packets, bytes: a.bytes + d.bytes, pps: a.pps + d.pps }), { packets: 0, bytes: 0, pps: 0 });
  return {
    lab: inp.lab,
    endpoint: inp.endpoint,
    elapsedMs: Math.max(0, inp.nowMs - inp.startedAtMs),
    ...(inp.durationMs !== undefined ? { durationMs: inp.durationMs } : {}),
    exports: {
      received: m.exports,
      ...(lastAt !== undefined ? { lastAgoMs: Math.max(0, inp.nowMs - lastAt) } : {}),
      failures: sumOf(m, INSTRUMENTS.exportFailures.name) ?? 0,
    },
    probes: probeHealth(m),
    ...(attached !== undefined ? { attachedInterfaces: attached } : {}),
    drops,
    dropTotal,
    interfaces: interfaceRows(m),
    workloads: { pods: podsSeen(m).length, flows: flowRows(m), podDrops: podDropRows(m), flowDrops: flowDropRows(m) },
    truth: { verdict: truthVerdict(m.exports, inp.truth), ...(inp.truth ? { sample: inp.truth } : {}) },
    events: eventsPanel(m, ev, dropTotal.packets, inp.observe),
    traffic: inp.traffic,
    ...(inp.logFile !== undefined ? { logFile: inp.logFile } : {}),
  };
}

// ---- Final summary (also the --json document) ------------------------------------------------

export interface InterfaceTotals {
  readonly rxPackets: number;
  readonly rxBytes: number;
  readonly txPackets: number;
  readonly txBytes: number;
}

export interface DemoSummary {
  readonly durationS: number;
  readonly receiver: { readonly endpoint: string; readonly exportsReceived: number };
  readonly agent: { readonly probes: readonly ProbeHealth[]; readonly exportFailures: number };
  /** Every drop series as received. */
  readonly drops: ReadonlyArray<{ reason: string; transport: string; networkType: string; packets: number; bytes: number }>;
  readonly dropsByReason: Readonly<Record<string, Counter>>;
  /** Per interface: what the agent exported vs the kernel's `ip -s link` counters over the same time. */
  readonly interfaces: ReadonlyArray<{ name: string; agent: InterfaceTotals; kernel?: InterfaceTotals; match?: boolean }>;
  readonly groundTruth: {
    readonly netfilterDrop: TruthSample & { readonly match: boolean };
  };
  /** Drop events as received (OTLP log records), and their reconciliation with the agent's counts. */
  readonly events: {
    /** Drop events received. */
    readonly received: number;
    readonly flowEvents: number;
    readonly logExports: number;
    /** Drop events received and the suppressed drops they carried, by reason. */
    readonly byReason: Readonly<Record<string, ReasonEvents>>;
    /** The agent's event stage, from its final export; absent when it did not run. */
    readonly agent?: AgentEventStats;
    /** NETFILTER_DROP: events received + suppressed + lost (ring_full) vs the agent's drop count. */
    readonly netfilterDrop?: EventReconciliation;
    readonly observe?: ObserveStatus;
  };
  /** Pod level, as received (the lab's netns are the workloads). */
  readonly pods: {
    /** Pods seen in the pod metrics. */
    readonly workloads: readonly string[];
    readonly traffic: readonly PodTraffic[];
    /** Every pod drop series: by pod, reason, direction (transmit = the pod sent it), transport. */
    readonly drops: readonly PodDropSeries[];
    /** By pod and reason: `from` the pod / `to` the pod. */
    readonly dropsByPod: ReadonlyArray<{ pod: string; reason: string; from: Counter; to: Counter }>;
    /**
     * NETFILTER_DROP of the packets each pod sent (direction transmit) vs what the traffic
     * generator sent from it to the deny port; their sum vs the nft deny rules.
     */
    readonly netfilterDrop: {
      readonly bySource: readonly PodNetfilterRow[];
      readonly agent: Counter;
      readonly nft: Counter;
      readonly match: boolean;
    };
  };
  /** Workload to workload, as received. */
  readonly flows: {
    readonly traffic: ReadonlyArray<Omit<FlowRow, 'pps' | 'bps'>>;
    readonly drops: ReadonlyArray<Omit<FlowDropRow, 'pps'>>;
  };
  readonly traffic: TrafficStats;
  readonly lab: LabInfo & { readonly removed: boolean; readonly leftovers: readonly string[] };
  readonly logFile?: string;
}

/** NETFILTER_DROP of the packets one pod sent, as received, vs what the generator sent from it to the deny port. */
export interface PodNetfilterRow {
  readonly pod: string;
  readonly agent: { readonly udp: number; readonly tcp: number; readonly total: number };
  readonly sent?: { readonly udp: number; readonly tcp: number; readonly total: number };
  /** agent == sent, per transport */
  readonly match?: boolean;
}

/** Per source pod: NETFILTER_DROP (direction transmit) as received next to the generator's per-pod counts. */
export function podNetfilterRows(drops: readonly PodDropSeries[], sent: TrafficStats['denyByPod'] | undefined): PodNetfilterRow[] {
  const agent = new Map<string, { udp: number; tcp: number; total: number }>();
  for (const d of drops) {
    if (d.reason !== 'NETFILTER_DROP' || d.direction !== DIRECTION.transmit) continue;
    let a = agent.get(d.pod);
    if (!a) agent.set(d.pod, (a = { udp: 0, tcp: 0, total: 0 }));
    a.total += d.packets;
    if (d.transport === 'udp') a.udp += d.packets;
    else if (d.transport === 'tcp') a.tcp += d.packets;
  }
  const pods = new Set([...agent.keys(), ...Object.keys(sent ?? {})]);
  return [...pods].sort(byPodName).map((pod) => {
    const a = agent.get(pod) ?? { udp: 0, tcp: 0, total: 0 };
    const g = sent?.[pod];
    if (!sent) return { pod, agent: a };
    const s = { udp: g?.udp ?? 0, tcp: g?.tcp ?? 0, total: (g?.udp ?? 0) + (g?.tcp ?? 0) };
    return { pod, agent: a, sent: s, match: a.udp === s.udp && a.tcp === s.tcp };
  });
}

export interface SummaryInputs {
  readonly durationMs: number;
  readonly endpoint: string;
  readonly lab: LabInfo;
  /** nft deny-rule counters read after the agent's final export. */
  readonly nft: Readonly<Record<string, Counter>>;
  /** Kernel link counters of the watched interfaces over the agent's lifetime (after − baseline). */
  readonly links: ReadonlyMap<string, LinkStats>;
  readonly traffic: TrafficStats;
  readonly leftovers: readonly string[];
  /** Probe health as received while the agent ran (its final export reports them stopped). */
  readonly probes?: readonly ProbeHealth[];
  readonly logFile?: string;
  readonly observe?: ObserveStatus;
}

/**
 * The final summary. Call it after the agent's stop: its final metrics export and the flush of its
 * event exporter (both awaited by Agent.stop) make the event reconciliation exact.
 */
export function buildSummary(m: ReceivedMetrics, inp: SummaryInputs, ev: ReceivedEvents = new ReceivedEvents()): DemoSummary {
  const drops = dropRows(m).map(({ pps: _pps, ...d }) => d);
  const byReason: Record<string, Counter> = {};
  for (const d of drops) byReason[d.reason] = add(byReason[d.reason] ?? zero, d);
  const agent = agentNetfilter(m);
  const nft = nftSide(inp.nft);
  return {
    durationS: Math.round(inp.durationMs / 100) / 10,
    receiver: { endpoint: inp.endpoint, exportsReceived: m.exports },
    agent: { probes: inp.probes ?? probeHealth(m), exportFailures: sumOf(m, INSTRUMENTS.exportFailures.name) ?? 0 },
    drops,
    dropsByReason: byReason,
    interfaces: interfaceRows(m).map((r) => {
      const a: InterfaceTotals = { rxPackets: r.rxPackets, rxBytes: r.rxBytes, txPackets: r.txPackets, txBytes: r.txBytes };
      const k = inp.links.get(r.name);
      if (!k) return { name: r.name, agent: a };
      const kernel: InterfaceTotals = { rxPackets: k.rxPackets, rxBytes: k.rxBytes, txPackets: k.txPackets, txBytes: k.txBytes };
      const match = a.rxPackets === kernel.rxPackets && a.txPackets === kernel.txPackets
        && a.rxBytes === kernel.rxBytes && a.txBytes === kernel.txBytes;
      return { name: r.name, agent: a, kernel, match };
    }),
    groundTruth: { netfilterDrop: { agent, nft, match: agent.total.packets === nft.total.packets } },
    events: eventSummary(m, ev, inp.observe),
    pods: podSummary(m, inp.traffic, nft.total),
    flows: {
      traffic: flowRows(m).map(({ pps: _p, bps: _b, ...f }) => f).sort((a, b) => b.packets - a.packets),
      drops: flowDropRows(m).map(({ pps: _p, ...f }) => f),
    },
    traffic: inp.traffic,
    lab: { ...inp.lab, removed: inp.leftovers.length === 0, leftovers: inp.leftovers },
    ...(inp.logFile !== undefined ? { logFile: inp.logFile } : {}),
  };
}

function eventSummary(m: ReceivedMetrics, ev: ReceivedEvents, observe: ObserveStatus | undefined): DemoSummary['events'] {
  const agent = agentEventStats(m);
  const netfilterDrop = reconcileEvents(m, ev, 'NETFILTER_DROP');
  return {
    received: ev.dropEvents,
    flowEvents: ev.flowEvents,
    logExports: ev.exports,
    byReason: ev.byReason(),
    ...(agent ? { agent } : {}),
    ...(netfilterDrop ? { netfilterDrop } : {}),
    ...(observe ? { observe } : {}),
  };
}

function podSummary(m: ReceivedMetrics, traffic: TrafficStats, nft: Counter): DemoSummary['pods'] {
  const drops = podDropSeries(m);
  const fromPods = drops.filter((d) => d.reason === 'NETFILTER_DROP' && d.direction === DIRECTION.transmit).reduce(add, zero);
  const pick = (c: DropCount): Counter => ({ packets: c.packets, bytes: c.bytes });
  return {
    workloads: podsSeen(m),
    traffic: podTrafficRows(m),
    drops,
    dropsByPod: podDropRows(m).map((r) => ({ pod: r.pod, reason: r.reason, from: pick(r.from), to: pick(r.to) })),
    netfilterDrop: {
      bySource: podNetfilterRows(drops, traffic.denyByPod),
      agent: { packets: fromPods.packets, bytes: fromPods.bytes },
      nft,
      match: fromPods.packets === nft.packets,
    },
  };
}

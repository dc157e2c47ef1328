/**
 * The demo's data model: what ARRIVED AT THE RECEIVER (never the agent's memory), turned into the
 * rows the view draws and the final summary. Pure except for `ReceivedMetrics.ingest`, which
 * accumulates exports; every function takes its clock and kernel readings as arguments.
 *
 * Metrics are cumulative, so the latest point of a series is its total; rates come from the
 * points of the last RATE_WINDOW_MS (by the points' own timestamps, so a late export does not
 * make the rate jump).
 */
import type { Counter, LinkStats } from '../lab/kernel-truth.js';
import { ATTR, DIRECTION, INSTRUMENTS } from '../names.js';
import { flattenAttrs, type Attrs, type ExportMetricsServiceRequest } from '../otlp/receiver.js';
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
          for (const dp of data.dataPoints) {
            const attrs = flattenAttrs(dp.attributes);
            const value = dp.value === 'asInt' ? Number(dp.asInt ?? '0') : (dp.asDouble ?? 0);
            const tMs = Number(BigInt(dp.timeUnixNano || '0') / 1_000_000n) || receivedAt;
            const key = seriesKey(attrs);
            let s = byKey.get(key);
            if (!s) byKey.set(key, (s = { attrs, points: [], seenIn: 0 }));
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
  readonly truth: { readonly verdict: TruthVerdict; readonly sample?: TruthSample };
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

export function buildModel(m: ReceivedMetrics, inp: ModelInputs): DemoModel {
  const drops = dropRows(m);
  const lastAt = m.lastExportAt;
  const attached = sumOf(m, INSTRUMENTS.attachedInterfaces.name);
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
    dropTotal: drops.reduce((a, d) => ({ packets: a.packets + d.packets, bytes: a.bytes + d.bytes, pps: a.pps + d.pps }), { packets: 0, bytes: 0, pps: 0 }),
    interfaces: interfaceRows(m),
    truth: { verdict: truthVerdict(m.exports, inp.truth), ...(inp.truth ? { sample: inp.truth } : {}) },
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
  readonly traffic: TrafficStats;
  readonly lab: LabInfo & { readonly removed: boolean; readonly leftovers: readonly string[] };
  readonly logFile?: string;
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
}

export function buildSummary(m: ReceivedMetrics, inp: SummaryInputs): DemoSummary {
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
    traffic: inp.traffic,
    lab: { ...inp.lab, removed: inp.leftovers.length === 0, leftovers: inp.leftovers },
    ...(inp.logFile !== undefined ? { logFile: inp.logFile } : {}),
  };
}

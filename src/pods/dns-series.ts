/**
 * The identity stage of DNS: what the traffic probe's tc programs counted per (client, server,
 * view, query type) as the node's, each pod's and each workload pair's series; and the timeouts,
 * swept from the kernel's table of waiting queries at every collection.
 *
 * Counting rules:
 * - Node (`fovea.dns.*`): every record, by view (client / server), query type and transport.
 * - Pods (`fovea.pod.dns.*`): client-view records are the client pod's (role client); server-view
 *   records the server pod's (role server).
 * - Pairs (`fovea.flow.dns.*`, source = client, destination = server): from the client's view, or
 *   from the server's when the client is no pod of the cluster (a pod's own node counts its
 *   lookups) — once, cluster-wide.
 * - Timeouts: a query still waiting `timeoutMs` after it was seen is deleted from the kernel and
 *   counted against its record's key; handed to `onTimeouts` for events.
 */
import type { Attributes } from '@opentelemetry/api';
import { qtypeName, rcodeName } from '../dns/message.js';
import type { IdentitySource, PodInfo } from '../k8s/types.js';
import { ATTR, INSTRUMENTS, TCP_LATENCY_BOUNDS_S, type InstrumentName } from '../names.js';
import { DNS_LATENCY_BUCKETS, DNS_VIEW, type DnsPendingQuery, type DnsRecord } from '../probes/dns/layout.js';
import { FamilyBuilder } from '../probes/tcp/probe.js';
import type { MetricFamily } from '../probes/types.js';
import { VectorAccumulator, type VectorReading } from './accumulator.js';
import { isClusterPod, pairAttributes, podAttributes, type PairOptions } from './endpoints.js';

/** What this stage needs from the traffic probe's DNS tap. */
export interface DnsReadings {
  readStats(): DnsRecord[];
  /** deletes and returns the queries sent before `olderThanNs` (CLOCK_MONOTONIC) */
  sweep(olderThanNs: bigint): DnsPendingQuery[];
  /** deletes dns_stats records by raw key */
  deleteStats(keys: readonly Buffer[]): void;
}

export interface DnsSeriesDeps {
  readonly identity: IdentitySource;
  readonly dns: DnsReadings;
  /** idleTimeoutMs: a record unchanged this long leaves the kernel table (its totals stay in the series) */
  readonly settings: PairOptions & { readonly seriesTtlMs: number; readonly timeoutMs: number; readonly idleTimeoutMs: number };
  /** timed-out queries, for events */
  readonly onTimeouts?: (queries: readonly DnsPendingQuery[]) => void;
  readonly now?: () => number;
  readonly monotonicNs?: () => bigint;
}

interface Instruments {
  readonly queries: InstrumentName;
  readonly responses: InstrumentName;
  readonly timeouts: InstrumentName;
  readonly duration: InstrumentName;
}

const NODE: Instruments = { queries: INSTRUMENTS.dnsQueries, responses: INSTRUMENTS.dnsResponses, timeouts: INSTRUMENTS.dnsTimeouts, duration: INSTRUMENTS.dnsDuration };
const POD: Instruments = { queries: INSTRUMENTS.podDnsQueries, responses: INSTRUMENTS.podDnsResponses, timeouts: INSTRUMENTS.podDnsTimeouts, duration: INSTRUMENTS.podDnsDuration };
const FLOW: Instruments = { queries: INSTRUMENTS.flowDnsQueries, responses: INSTRUMENTS.flowDnsResponses, timeouts: INSTRUMENTS.flowDnsTimeouts, duration: INSTRUMENTS.flowDnsDuration };

/**
 * A record's values as one vector: queries, responses by code (16), empty, unmatched, latency
 * count, sum (ns), buckets (17), timeouts.
 */
export const DNS_VECTOR = { queries: 0, responses: 1, empty: 17, unmatched: 18, latencyCount: 19, latencySum: 20, buckets: 21, timeouts: 21 + DNS_LATENCY_BUCKETS, length: 22 + DNS_LATENCY_BUCKETS } as const;

const TRANSPORT: Record<number, string> = { 6: 'tcp', 17: 'udp' };
const VIEW_NAME: Record<number, string> = { [DNS_VIEW.client]: 'client', [DNS_VIEW.server]: 'server' };

/** The identity of a dns_stats record and of the pending queries that belong to it. */
function statsKey(client: string, server: string, qtype: number, view: number, proto: number): string {
  return `${client}|${server}|${qtype}|${view}|${proto}`;
}

/** Series of one accumulated vector: queries, responses by code (NOERROR split by empty), timeouts, latency. */
export function addDnsSeries(out: FamilyBuilder, inst: Instruments, base: Attributes, v: readonly number[]): void {
  out.add(inst.queries, { attributes: base, value: v[DNS_VECTOR.queries]! });
  for (let code = 0; code < 16; code++) {
    const n = v[DNS_VECTOR.responses + code]!;
    if (code === 0) {
      const empty = v[DNS_VECTOR.empty]!;
      out.add(inst.responses, { attributes: { ...base, [ATTR.dnsResponseCode]: 'NOERROR', [ATTR.dnsAnswerEmpty]: false }, value: n - empty });
      out.add(inst.responses, { attributes: { ...base, [ATTR.dnsResponseCode]: 'NOERROR', [ATTR.dnsAnswerEmpty]: true }, value: empty });
    } else if (n > 0) {
      out.add(inst.responses, { attributes: { ...base, [ATTR.dnsResponseCode]: rcodeName(code) }, value: n });
    }
  }
  out.add(inst.timeouts, { attributes: base, value: v[DNS_VECTOR.timeouts]! });
  const count = v[DNS_VECTOR.latencyCount]!;
  if (count > 0) {
    out.add(inst.duration, {
      attributes: base, value: count,
      histogram: {
        boundaries: TCP_LATENCY_BOUNDS_S, counts: v.slice(DNS_VECTOR.buckets, DNS_VECTOR.buckets + DNS_LATENCY_BUCKETS),
        count, sum: v[DNS_VECTOR.latencySum]! / 1e9,
      },
    });
  }
}

const seriesKey = (a: Attributes): string => JSON.stringify(Object.entries(a).sort());

export class DnsSeries {
  private readonly node = new VectorAccumulator(Number.POSITIVE_INFINITY);
  private readonly pods: VectorAccumulator;
  private readonly pairs: VectorAccumulator;
  /** timeouts so far, by record identity (statsKey): cumulative, never reset */
  private readonly timeouts = new Map<string, { count: number; at: number }>();
  /** per kernel record: the total of its values and when it last changed */
  private readonly lastChange = new Map<string, { total: number; at: number }>();
  /** kernel record key → its identity (statsKey) */
  private readonly idOf = new Map<string, string>();
  private readonly now: () => number;
  private readonly monotonicNs: () => bigint;

  constructor(private readonly deps: DnsSeriesDeps) {
    this.pods = new VectorAccumulator(deps.settings.seriesTtlMs);
    this.pairs = new VectorAccumulator(deps.settings.seriesTtlMs);
    this.now = deps.now ?? Date.now;
    this.monotonicNs = deps.monotonicNs ?? (() => process.hrtime.bigint());
  }

  collect(): MetricFamily[] {
    const now = this.now();
    this.sweep(now);
    const records = this.deps.dns.readStats();
    const local = new Map<string, PodInfo>();
    for (const p of this.deps.identity.localPods()) if (!p.hostNetwork) for (const ip of p.ips) local.set(ip, p);

    const node: VectorReading[] = [];
    const pods: VectorReading[] = [];
    const pairs: VectorReading[] = [];
    const seen = new Set<string>();
    for (const r of records) {
      const id = statsKey(r.client, r.server, r.qtype, r.view, r.proto);
      seen.add(id);
      this.idOf.set(r.recordKey, id);
      const v = this.vector(r, id);
      const dims: Attributes = {
        [ATTR.dnsQuestionType]: qtypeName(r.qtype), [ATTR.transport]: TRANSPORT[r.proto] ?? 'other',
      };
      node.push({ recordKey: r.recordKey, seriesKey: seriesKey({ ...dims, v: r.view }), attributes: { ...dims, [ATTR.dnsView]: VIEW_NAME[r.view] ?? 'client' }, values: v });
      const pod = local.get(r.view === DNS_VIEW.client ? r.client : r.server);
      if (pod) {
        const a = { ...podAttributes(pod), ...dims, [ATTR.dnsRole]: VIEW_NAME[r.view] ?? 'client' };
        pods.push({ recordKey: r.recordKey, seriesKey: seriesKey(a), attributes: a, values: v });
      }
      if (r.view === DNS_VIEW.client || !(local.has(r.client) || isClusterPod(this.deps.identity, r.client))) {
        const a = { ...pairAttributes(this.deps.identity, this.deps.settings, r.client, r.server), ...dims, [ATTR.serverPort]: 53 };
        pairs.push({ recordKey: r.recordKey, seriesKey: seriesKey(a), attributes: a, values: v });
      }
    }
    // timeouts waiting for a record that never came (its table was full) are forgotten after the TTL
    for (const [id, t] of this.timeouts) if (!seen.has(id) && now - t.at > this.deps.settings.seriesTtlMs) this.timeouts.delete(id);

    const out = new FamilyBuilder();
    for (const s of this.node.update(node, now)) addDnsSeries(out, NODE, s.attributes, s.values);
    this.deleteIdle(node, now);
    for (const s of this.pods.update(pods, now)) addDnsSeries(out, POD, s.attributes, s.values);
    for (const s of this.pairs.update(pairs, now)) addDnsSeries(out, FLOW, s.attributes, s.values);
    return out.build();
  }

  /**
   * Deletes kernel records unchanged for idleTimeoutMs (this reading still carried their values, so
   * the accumulators keep their totals). Their timeouts went with them: a record that comes back
   * starts its own count.
   */
  private deleteIdle(readings: readonly VectorReading[], now: number): void {
    const idle: Buffer[] = [];
    const seen = new Set<string>();
    for (const r of readings) {
      seen.add(r.recordKey);
      const total = r.values.reduce((a, b) => a + b, 0);
      const last = this.lastChange.get(r.recordKey);
      if (!last || last.total !== total) this.lastChange.set(r.recordKey, { total, at: now });
      else if (now - last.at >= this.deps.settings.idleTimeoutMs) {
        idle.push(Buffer.from(r.recordKey, 'hex'));
        this.lastChange.delete(r.recordKey);
        this.timeouts.delete(this.idOf.get(r.recordKey) ?? '');
      }
    }
    for (const k of this.lastChange.keys()) if (!seen.has(k)) this.lastChange.delete(k);
    for (const k of this.idOf.keys()) if (!seen.has(k)) this.idOf.delete(k);
    if (idle.length) this.deps.dns.deleteStats(idle);
  }

  private vector(r: DnsRecord, id: string): number[] {
    return [
      r.queries, ...r.responses, r.empty, r.unmatched, r.latencyCount, r.latencySumNs, ...r.latencyBuckets,
      this.timeouts.get(id)?.count ?? 0,
    ];
  }

  /** Deletes the queries that waited longer than timeoutMs and counts them. */
  private sweep(now: number): void {
    const before = this.monotonicNs() - BigInt(this.deps.settings.timeoutMs) * 1_000_000n;
    const gone = this.deps.dns.sweep(before);
    if (gone.length === 0) return;
    for (const q of gone) {
      const id = statsKey(q.client, q.server, q.qtype, q.view, q.proto);
      const t = this.timeouts.get(id);
      if (t) { t.count++; t.at = now; } else this.timeouts.set(id, { count: 1, at: now });
    }
    this.deps.onTimeouts?.(gone);
  }
}

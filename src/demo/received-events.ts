/**
 * Drop and flow events as they ARRIVED AT THE DEMO'S RECEIVER (OTLP log records), for the live
 * "recent drop events" panel and the summary's reconciliation. Like ReceivedMetrics, `ingest` is
 * the only impure part; unlike metrics, every record is a new event, so the store keeps counters
 * and the last few drop events only: its memory does not grow with the run.
 */
import { ATTR, EVENT } from '../names.js';
import { anyValueToAttr, flattenAttrs, type Attrs, type ExportLogsServiceRequest, type KeyValue } from '../otlp/receiver.js';

/** Drop events the live panel shows (the newest). */
export const RECENT_DROP_EVENTS = 6;

/** One drop event, as the panel shows it. */
export interface DropEventRow {
  /** Unix ms of the drop (the record's time) */
  readonly timeMs: number;
  readonly reason: string;
  /** `udp`, `tcp`, `icmp` …, '' when unknown */
  readonly transport: string;
  /** `name:port`, the pod (or workload, service, node) when known, else the address */
  readonly source: string;
  readonly destination: string;
  /** drops of the same reason that got no event of their own, carried by this one */
  readonly suppressed: number;
  readonly interface?: string;
}

/** Per drop reason: events received and the suppressed drops they carried. */
export interface ReasonEvents { readonly events: number; readonly suppressed: number }

const str = (v: unknown): string => (v === undefined ? '' : String(v));
const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0) || 0);

/** The value of one attribute, without flattening the others (every record is scanned). */
function attr(kvs: readonly KeyValue[], key: string): unknown {
  for (const kv of kvs) if (kv.key === key) return anyValueToAttr(kv.value);
  return undefined;
}

/** An event end as one word: the pod (`namespace/name`), workload, `svc …`, `node …`, else the address; then `:port`. */
export function endpointLabel(a: Attrs, side: 'source' | 'destination'): string {
  const k = side === 'source'
    ? { ns: ATTR.srcNamespace, pod: ATTR.srcPod, wl: ATTR.srcWorkload, svc: ATTR.srcService, node: ATTR.srcNode, kind: ATTR.srcKind, ip: ATTR.srcAddress, port: ATTR.srcPort }
    : { ns: ATTR.dstNamespace, pod: ATTR.dstPod, wl: ATTR.dstWorkload, svc: ATTR.dstService, node: ATTR.dstNode, kind: ATTR.dstKind, ip: ATTR.dstAddress, port: ATTR.dstPort };
  const ns = str(a[k.ns]);
  const inNs = (n: string): string => (ns ? `${ns}/${n}` : n);
  const ip = str(a[k.ip]);
  const kind = str(a[k.kind]);
  const name = str(a[k.pod]) || str(a[k.wl]);
  const who = name ? inNs(name)
    : kind === 'service' && a[k.svc] !== undefined ? `svc ${inNs(str(a[k.svc]))}`
      : kind === 'node' && a[k.node] !== undefined ? `node ${str(a[k.node])}`
        : ip.includes(':') ? `[${ip}]` : ip || '?';
  return a[k.port] === undefined ? who : `${who}:${num(a[k.port])}`;
}

/** Unix ns as a decimal string → Unix ms (with the sub-ms fraction). */
function nanosToMs(ns: string): number {
  if (!/^\d+$/.test(ns)) return 0;
  const n = BigInt(ns);
  return Number(n / 1_000_000n) + Number(n % 1_000_000n) / 1e6;
}

export function dropEventRow(timeUnixNano: string, a: Attrs): DropEventRow {
  const iface = str(a[ATTR.interfaceName]);
  return {
    timeMs: nanosToMs(timeUnixNano),
    reason: str(a[ATTR.dropReason]) || '?',
    transport: str(a[ATTR.transport]),
    source: endpointLabel(a, 'source'),
    destination: endpointLabel(a, 'destination'),
    suppressed: num(a[ATTR.eventsSuppressed]),
    ...(iface ? { interface: iface } : {}),
  };
}

/**
 * Counters of every event received and the last RECENT_DROP_EVENTS drop events. Drop reasons are
 * the kernel's enum (a few hundred at most), so the per-reason map is bounded too.
 */
export class ReceivedEvents {
  private records = 0;
  private drops = 0;
  private flows = 0;
  private requests = 0;
  private readonly reasons = new Map<string, { events: number; suppressed: number }>();
  /** Oldest first, at most RECENT_DROP_EVENTS. */
  private recentRows: DropEventRow[] = [];

  /** Log records received (every event, any name). */
  get received(): number {
    return this.records;
  }

  /** Drop events (fovea.network.packet.drop) received. */
  get dropEvents(): number {
    return this.drops;
  }

  /** Flow events (fovea.network.flow) received. */
  get flowEvents(): number {
    return this.flows;
  }

  /** Log export requests ingested. */
  get exports(): number {
    return this.requests;
  }

  ingest(request: ExportLogsServiceRequest): void {
    this.requests++;
    // The newest drop records of this request, raw: only they are turned into rows.
    const newest: Array<{ time: string; attributes: KeyValue[] }> = [];
    for (const rl of request.resourceLogs) {
      for (const sl of rl.scopeLogs) {
        for (const lr of sl.logRecords) {
          this.records++;
          if (lr.eventName === EVENT.flow) this.flows++;
          if (lr.eventName !== EVENT.drop) continue;
          this.drops++;
          const reason = str(attr(lr.attributes, ATTR.dropReason)) || '?';
          let r = this.reasons.get(reason);
          if (!r) this.reasons.set(reason, (r = { events: 0, suppressed: 0 }));
          r.events++;
          r.suppressed += num(attr(lr.attributes, ATTR.eventsSuppressed));
          newest.push({ time: lr.timeUnixNano, attributes: lr.attributes });
          if (newest.length > RECENT_DROP_EVENTS) newest.shift();
        }
      }
    }
    if (newest.length === 0) return;
    const rows = newest.map((r) => dropEventRow(r.time, flattenAttrs(r.attributes)));
    this.recentRows = [...this.recentRows, ...rows].slice(-RECENT_DROP_EVENTS);
  }

  /** The last drop events received, oldest first. */
  recent(): readonly DropEventRow[] {
    return this.recentRows;
  }

  /** Drop events and the suppressed drops they carried, by reason. */
  byReason(): Record<string, ReasonEvents> {
    const out: Record<string, ReasonEvents> = {};
    for (const [reason, r] of [...this.reasons].sort((a, b) => b[1].events - a[1].events || a[0].localeCompare(b[0]))) {
      out[reason] = { events: r.events, suppressed: r.suppressed };
    }
    return out;
  }
}

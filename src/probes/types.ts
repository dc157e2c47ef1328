/**
 * What every probe is to the agent: it loads and attaches its eBPF programs, reads its maps on
 * demand into cumulative counter series, reports kernel-side record failures, and detaches.
 */
import type { Attributes } from '@opentelemetry/api';
import type { Logger } from '../log.js';
import type { InstrumentName } from '../names.js';
import type { HistogramPoint } from '../export/series-producer.js';
import type { DnsSettings } from './dns/tap.js';

/**
 * One series: the kernel's running total for one attribute set (a counter), a current value (a
 * gauge), or a cumulative histogram (then `value` is its count).
 */
export interface CounterSeries {
  readonly attributes: Attributes;
  readonly value: number;
  readonly histogram?: HistogramPoint;
}

/** All current series of one instrument. A series absent from a read has ended (it disappears). */
export interface MetricFamily {
  readonly instrument: InstrumentName;
  readonly series: readonly CounterSeries[];
}

/** Failures the kernel side counted: kind → cumulative count, and whether that kind lost data. */
export interface RecordFailure {
  readonly kind: string;
  readonly count: number;
  readonly lost: boolean;
}

export type ProbeState = 'up' | 'down' | 'disabled';

export interface ProbeStatus {
  readonly name: string;
  readonly state: ProbeState;
  /** how it is attached, e.g. `tp_btf/kfree_skb`, `tcx`, `clsact` */
  readonly hook?: string;
  /** why it is down or degraded */
  readonly detail?: string;
}

export interface Probe {
  readonly name: string;
  /** Loads and attaches. Throws on failure (the agent reports the probe down and goes on). */
  start(): void;
  /** Reads the kernel maps; called at every metric collection. */
  collect(): MetricFamily[];
  recordFailures(): RecordFailure[];
  status(): ProbeStatus;
  /** Probe-specific health numbers (optional). */
  health?(): { attachedInterfaces?: number; attachFailures?: number };
  /** Stops counting (detaches programs) but keeps maps readable for a final collect. Idempotent. */
  detach(): void;
  /** Detaches if needed and frees kernel objects. Idempotent; safe after a failed start. */
  stop(): void;
}

/** Settings every probe may use; each probe picks what it needs. */
export interface ProbeSettings {
  readonly bpfObjectDir: string;
  readonly interfaces: readonly string[];
  readonly excludeInterfaces: readonly string[];
  readonly interfaceRescanIntervalMs: number;
  readonly trafficMaxInterfaces: number;
  /** tc attach mode: prefer tcx, or force one */
  readonly tcMode: 'auto' | 'tcx' | 'clsact';
  /** drop probe hook: prefer tp_btf, or force one */
  readonly dropHook: 'auto' | 'tp_btf' | 'raw_tp';
  /**
   * drop probe: count by the kernel function that freed the packet, without reasons — what it
   * does by itself on kernels < 5.17 (no reason on skb:kfree_skb). Set only by tests, to run that
   * path on a kernel that has reasons. Absent = decided by the kernel's BTF.
   */
  readonly dropByLocation?: boolean;
  /** drop events through the ring buffer (drop probe); absent = off */
  readonly dropEvents?: { readonly enabled: boolean; readonly ratePerCpu: number; readonly ringBufferBytes: number };
  /** size of the kernel flow table (LRU) */
  readonly maxFlows: number;
  /** DNS on pods' veths (in the traffic probe's programs); absent = off */
  readonly dns?: DnsSettings;
  /** tcp probe: map sizes, and how long an unchanged connection record stays in the kernel */
  readonly tcp?: { readonly maxConnections: number; readonly maxSockets: number; readonly idleTimeoutMs: number };
  /** tcp events (resets, failed connects, retransmits) through the tcp probe's ring buffer; absent = off */
  readonly tcpEvents?: { readonly enabled: boolean; readonly ratePerCpu: number; readonly ringBufferBytes: number };
  /**
   * Whether to keep flow records for an interface (pods' host-side veths). Asked when the traffic
   * probe attaches and at every rescan; undefined = never.
   */
  readonly trackFlows?: (iface: { ifindex: number; name: string }) => boolean;
  /**
   * Whether an interface is a node interface where DNS is looked at too (probes.dns.hostInterfaces:
   * host-network DNS clients and servers). Never asked for an interface with flow records.
   */
  readonly dnsHost?: (iface: { ifindex: number; name: string }) => boolean;
}

export interface ProbeContext {
  readonly logger: Logger;
  readonly settings: ProbeSettings;
}

/** Registry entry (src/probes/index.ts). */
export interface ProbeDefinition {
  readonly name: string;
  readonly description: string;
  /**
   * Loads no eBPF program (reads /proc): it runs beside the eBPF probes, but alone it does not
   * keep the agent up when every enabled eBPF probe failed to start.
   */
  readonly auxiliary?: boolean;
  create(ctx: ProbeContext): Probe;
}

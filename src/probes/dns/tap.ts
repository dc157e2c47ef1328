/**
 * DNS in the traffic probe's object (bpf/dns.h): sizes its maps before load, switches it on after,
 * and reads what the tc programs counted — dns_stats, the queries still waiting (dns_pending, swept
 * for timeouts), the event ring and the failure counters.
 */
import type { BpfMap, ReadableMap } from '../../kernel/map.js';
import type { BpfObject } from '../../kernel/object.js';
import { readFailureCounters } from '../counters.js';
import { EventRing } from '../event-ring.js';
import type { RecordFailure } from '../types.js';
import {
  DNS_ERRORS, DNS_ERRORS_LOSING, decodeDnsNames, decodeDnsPending, decodeDnsStats, encodeDnsConfig,
  type DnsEventMode, type DnsNameRecord, type DnsPendingQuery, type DnsRecord,
} from './layout.js';

export interface DnsSettings {
  readonly enabled: boolean;
  readonly events: DnsEventMode;
  readonly ratePerCpu: number;
  readonly ringBufferBytes: number;
  readonly maxPending: number;
  readonly maxKeys: number;
  /** counting by question name (for the top-N name metrics); absent: off */
  readonly names?: { readonly tableSize: number };
}

const EVENT_WINDOW_NS = 1_000_000_000n;
/** The smallest ring a kernel accepts (one page): the object always has the map. */
const MIN_RING = 4096;

export class DnsTap {
  private readonly stats: BpfMap;
  private readonly pending: BpfMap;
  private readonly names: BpfMap | undefined;
  private readonly errors: ReadableMap;
  private readonly ring: EventRing;

  /** Before load: map sizes (the smallest possible when DNS is off, so it costs no kernel memory). */
  static size(obj: BpfObject, s: DnsSettings | undefined): void {
    const on = s?.enabled === true;
    obj.map('dns_pending').setMaxEntries(on ? s.maxPending : 1);
    obj.map('dns_stats').setMaxEntries(on ? s.maxKeys : 1);
    obj.map('dns_names').setMaxEntries(on && s.names ? s.names.tableSize : 1);
    obj.map('dns_events').setMaxEntries(on && s.events !== 'off' ? s.ringBufferBytes : MIN_RING);
  }

  /** After load: switches counting (and events) on. */
  constructor(obj: BpfObject, private readonly settings: DnsSettings) {
    obj.map('dns_cfg').update(Buffer.alloc(4), encodeDnsConfig({
      enabled: true, events: settings.events, perWindow: settings.ratePerCpu, windowNs: EVENT_WINDOW_NS,
      names: settings.names !== undefined,
    }));
    this.names = settings.names ? obj.map('dns_names') : undefined;
    this.stats = obj.map('dns_stats');
    this.pending = obj.map('dns_pending');
    this.errors = obj.map('dns_errors');
    this.ring = new EventRing(obj, 'dns_events', 'dns_event_limits', obj.map('dns_events').maxEntries);
  }

  get eventsEnabled(): boolean {
    return this.settings.events !== 'off';
  }

  readStats(): DnsRecord[] {
    return decodeDnsStats(this.stats.readAll());
  }

  /** Counts by question name (dns_names); empty when names are off. */
  readNames(): DnsNameRecord[] {
    return this.names ? decodeDnsNames(this.names.readAll()) : [];
  }

  /** Deletes dns_names records (idle ones: the reader keeps what they counted). */
  deleteNames(keys: readonly Buffer[]): void {
    for (const k of keys) this.names?.delete(k);
  }

  /** Deletes dns_stats records (idle ones: their totals are kept by the reader). */
  deleteStats(keys: readonly Buffer[]): void {
    for (const k of keys) this.stats.delete(k);
  }

  /** Queries still waiting now. */
  readPending(): DnsPendingQuery[] {
    return decodeDnsPending(this.pending.readAll());
  }

  /** Deletes queries sent before `olderThanNs` (CLOCK_MONOTONIC) and returns them: they timed out. */
  sweep(olderThanNs: bigint): DnsPendingQuery[] {
    const out: DnsPendingQuery[] = [];
    for (const q of this.readPending()) {
      if (q.sentNs >= olderThanNs) continue;
      // a response that arrived meanwhile deleted it first: then it is no timeout
      if (this.pending.delete(q.key)) out.push(q);
    }
    return out;
  }

  eventRing(): ReturnType<EventRing['reader']> | undefined {
    return this.eventsEnabled ? this.ring.reader() : undefined;
  }

  readEventLimits(): ReturnType<EventRing['readLimits']> {
    return this.ring.readLimits();
  }

  /** Failures, as `dns_<kind>`. */
  recordFailures(): RecordFailure[] {
    return readFailureCounters(this.errors, DNS_ERRORS, DNS_ERRORS_LOSING).map((f) => ({ ...f, kind: `dns_${f.kind}` }));
  }

  close(): void {
    this.ring.close();
  }
}

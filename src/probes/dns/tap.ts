/**
 * DNS in the traffic probe's object (bpf/dns.h): sizes its maps before load, switches it on after,
 * and reads what the tc programs counted — dns_stats, the queries still waiting (dns_pending, swept
 * for timeouts), the event ring and the failure counters.
 */
import type { BpfMap, ReadableMap } from '../../kernel/map.js';
import type { BpfObject } from '../../kernel/object.js';
import { encodeIp } from '../addresses.js';
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
  /** DNS on node interfaces too (probes.dns.hostInterfaces): this node's pod addresses are kept in the kernel */
  readonly hostInterfaces?: boolean;
}

/** Size of dns_pod_addrs (bpf/dns.h DNS_MAX_POD_ADDRS). */
const MAX_POD_ADDRS = 4096;

const EVENT_WINDOW_NS = 1_000_000_000n;
/** The smallest ring a kernel accepts (one page): the object always has the map. */
const MIN_RING = 4096;

export class DnsTap {
  private readonly stats: BpfMap;
  private readonly pending: BpfMap;
  private readonly names: BpfMap | undefined;
  private readonly podAddrs: BpfMap | undefined;
  /** addresses in dns_pod_addrs now */
  private readonly podAddrsNow = new Set<string>();
  private readonly errors: ReadableMap;
  private readonly ring: EventRing;

  /** Before load: map sizes (the smallest possible when DNS is off, so it costs no kernel memory). */
  static size(obj: BpfObject, s: DnsSettings | undefined): void {
    const on = s?.enabled === true;
    obj.map('dns_pending').setMaxEntries(on ? s.maxPending : 1);
    obj.map('dns_stats').setMaxEntries(on ? s.maxKeys : 1);
    obj.map('dns_names').setMaxEntries(on && s.names ? s.names.tableSize : 1);
    obj.map('dns_pod_addrs').setMaxEntries(on && s.hostInterfaces ? MAX_POD_ADDRS : 1);
    obj.map('dns_events').setMaxEntries(on && s.events !== 'off' ? s.ringBufferBytes : MIN_RING);
  }

  /** After load: switches counting (and events) on. */
  constructor(obj: BpfObject, private readonly settings: DnsSettings) {
    obj.map('dns_cfg').update(Buffer.alloc(4), encodeDnsConfig({
      enabled: true, events: settings.events, perWindow: settings.ratePerCpu, windowNs: EVENT_WINDOW_NS,
      names: settings.names !== undefined,
    }));
    this.names = settings.names ? obj.map('dns_names') : undefined;
    this.podAddrs = settings.hostInterfaces ? obj.map('dns_pod_addrs') : undefined;
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

  /**
   * This node's pod addresses (not host-network), when DNS runs on node interfaces: a message seen
   * there whose pod-side end is one of them was counted at the pod's veth and is not counted again.
   * Returns how many could not be written (table full: those pods' messages to or from other nodes
   * count twice until there is room).
   */
  syncPodAddresses(addresses: Iterable<string>): number {
    const map = this.podAddrs;
    if (!map) return 0;
    const want = new Set(addresses);
    for (const a of this.podAddrsNow) {
      if (want.has(a)) continue;
      map.delete(encodeIp(a));
      this.podAddrsNow.delete(a);
    }
    let failed = 0;
    const one = Buffer.from([1]);
    for (const a of want) {
      if (this.podAddrsNow.has(a)) continue;
      try {
        map.update(encodeIp(a), one);
        this.podAddrsNow.add(a);
      } catch {
        failed++;
      }
    }
    return failed;
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

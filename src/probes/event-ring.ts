/**
 * A probe's rate-limited event ring (drop and tcp probes): the ring buffer map, mapped into the
 * agent on first use, and the per-CPU rate-limit counters of its slots (FOVEA_EVENT_RESERVE in
 * bpf/include/fovea.h).
 */
import type { BpfObject } from '../kernel/object.js';
import type { ReadableMap } from '../kernel/map.js';
import { MappedRing, type RingReader } from '../kernel/ringbuf.js';
import { decodeEventLimits, type EventLimitCount } from './drop/layout.js';

export class EventRing {
  private ring: MappedRing | undefined;
  private readonly limits: ReadableMap;

  constructor(private readonly obj: BpfObject, private readonly ringMap: string, limitsMap: string, private readonly bytes: number) {
    this.limits = obj.map(limitsMap);
  }

  /** The ring's reader, mapped on first use. */
  reader(): RingReader {
    this.ring ??= MappedRing.map(this.obj.map(this.ringMap).fd, this.bytes, this.ringMap);
    return this.ring.reader;
  }

  /** Per slot with any count: emitted, suppressed by the rate limit, lost to a full ring, pending (cumulative, summed over CPUs). */
  readLimits(): EventLimitCount[] {
    return decodeEventLimits(this.limits.readAll());
  }

  /** Unmaps the ring (before the object is closed). */
  close(): void {
    this.ring?.close();
    this.ring = undefined;
  }
}

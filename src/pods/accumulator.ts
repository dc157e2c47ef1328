/**
 * Monotonic series from kernel records that come and go.
 *
 * Kernel flow records are cumulative per record, but records end: the agent deletes idle ones,
 * the LRU evicts under pressure. Summing the live records alone would make a series go down.
 * Here each series is `retired + Σ live records`: when a record disappears, its last seen values
 * move into `retired`, so the series stays monotonic. A series with no live record and no change
 * for `ttlMs` ends (it is no longer reported).
 */
import type { Attributes } from '@opentelemetry/api';

export interface RecordReading {
  /** identity of the kernel record (e.g. its raw key, hex) */
  readonly recordKey: string;
  /** which series it adds to */
  readonly seriesKey: string;
  readonly attributes: Attributes;
  readonly packets: number;
  readonly bytes: number;
}

interface SeriesState {
  attributes: Attributes;
  retiredPackets: number;
  retiredBytes: number;
  live: Map<string, { packets: number; bytes: number }>;
  lastChange: number;
  lastTotal: number;
}

export interface SeriesValue {
  readonly attributes: Attributes;
  readonly packets: number;
  readonly bytes: number;
}

export class RecordAccumulator {
  private readonly series = new Map<string, SeriesState>();
  private readonly recordSeries = new Map<string, string>();

  constructor(private readonly ttlMs: number) {}

  /** Feeds the complete current set of records; returns every series still alive. */
  update(readings: readonly RecordReading[], now: number): SeriesValue[] {
    const seen = new Set<string>();
    for (const r of readings) {
      seen.add(r.recordKey);
      const prevSeries = this.recordSeries.get(r.recordKey);
      if (prevSeries !== undefined && prevSeries !== r.seriesKey) this.retire(r.recordKey); // re-labelled (identity changed)
      let s = this.series.get(r.seriesKey);
      if (!s) {
        s = { attributes: r.attributes, retiredPackets: 0, retiredBytes: 0, live: new Map(), lastChange: now, lastTotal: -1 };
        this.series.set(r.seriesKey, s);
      }
      const prev = s.live.get(r.recordKey);
      if (prev && (r.packets < prev.packets || r.bytes < prev.bytes)) {
        // the record was re-created under the same key between two reads: keep what it had
        s.retiredPackets += prev.packets;
        s.retiredBytes += prev.bytes;
      }
      s.live.set(r.recordKey, { packets: r.packets, bytes: r.bytes });
      this.recordSeries.set(r.recordKey, r.seriesKey);
    }
    for (const key of [...this.recordSeries.keys()]) if (!seen.has(key)) this.retire(key);
    const out: SeriesValue[] = [];
    for (const [key, s] of this.series) {
      let packets = s.retiredPackets;
      let bytes = s.retiredBytes;
      for (const v of s.live.values()) { packets += v.packets; bytes += v.bytes; }
      const total = packets + bytes;
      if (total !== s.lastTotal) { s.lastTotal = total; s.lastChange = now; }
      if (s.live.size === 0 && now - s.lastChange >= this.ttlMs) {
        this.series.delete(key);
        continue;
      }
      out.push({ attributes: s.attributes, packets, bytes });
    }
    return out;
  }

  private retire(recordKey: string): void {
    const seriesKey = this.recordSeries.get(recordKey);
    this.recordSeries.delete(recordKey);
    const s = seriesKey === undefined ? undefined : this.series.get(seriesKey);
    const v = s?.live.get(recordKey);
    if (!s || !v) return;
    s.retiredPackets += v.packets;
    s.retiredBytes += v.bytes;
    s.live.delete(recordKey);
  }

  get size(): number {
    return this.series.size;
  }
}

/**
 * Monotonic series from kernel records that come and go.
 *
 * Kernel flow records are cumulative per record, but records end: the agent deletes idle ones,
 * the LRU evicts under pressure. Summing the live records alone would make a series go down.
 * Here each series is `retired + Σ live records`: when a record disappears, its last seen values
 * move into `retired`, so the series stays monotonic. A series with no live record and no change
 * for `ttlMs` ends (it is no longer reported).
 *
 * VectorAccumulator does this for any fixed-length vector of cumulative values (a histogram's
 * count, sum and buckets, say); RecordAccumulator is its packets-and-bytes form.
 */
import type { Attributes } from '@opentelemetry/api';

export interface VectorReading {
  /** identity of the kernel record (e.g. its raw key, hex) */
  readonly recordKey: string;
  /** which series it adds to */
  readonly seriesKey: string;
  readonly attributes: Attributes;
  /** cumulative values; every reading of one series has the same length */
  readonly values: readonly number[];
}

export interface VectorValue {
  readonly attributes: Attributes;
  readonly values: readonly number[];
}

interface VectorState {
  attributes: Attributes;
  retired: number[];
  live: Map<string, readonly number[]>;
  lastChange: number;
  lastTotal: number;
}

function addInto(into: number[], v: readonly number[]): void {
  for (let i = 0; i < v.length; i++) into[i] = (into[i] ?? 0) + v[i]!;
}

export class VectorAccumulator {
  private readonly series = new Map<string, VectorState>();
  private readonly recordSeries = new Map<string, string>();

  constructor(private readonly ttlMs: number) {}

  /** Feeds the complete current set of records; returns every series still alive. */
  update(readings: readonly VectorReading[], now: number): VectorValue[] {
    const seen = new Set<string>();
    for (const r of readings) {
      seen.add(r.recordKey);
      const prevSeries = this.recordSeries.get(r.recordKey);
      if (prevSeries !== undefined && prevSeries !== r.seriesKey) this.retire(r.recordKey); // re-labelled (identity changed)
      let s = this.series.get(r.seriesKey);
      if (!s) {
        // kept for the series' life, frozen (a copy): its key and encoding are built once
        s = { attributes: Object.freeze({ ...r.attributes }), retired: [], live: new Map(), lastChange: now, lastTotal: -1 };
        this.series.set(r.seriesKey, s);
      }
      const prev = s.live.get(r.recordKey);
      // the record was re-created under the same key between two reads: keep what it had
      if (prev && r.values.some((v, i) => v < prev[i]!)) addInto(s.retired, prev);
      s.live.set(r.recordKey, r.values);
      this.recordSeries.set(r.recordKey, r.seriesKey);
    }
    for (const key of [...this.recordSeries.keys()]) if (!seen.has(key)) this.retire(key);
    const out: VectorValue[] = [];
    for (const [key, s] of this.series) {
      const values = [...s.retired];
      for (const v of s.live.values()) addInto(values, v);
      let total = 0;
      for (const v of values) total += v;
      if (total !== s.lastTotal) { s.lastTotal = total; s.lastChange = now; }
      if (s.live.size === 0 && now - s.lastChange >= this.ttlMs) {
        this.series.delete(key);
        continue;
      }
      out.push({ attributes: s.attributes, values });
    }
    return out;
  }

  private retire(recordKey: string): void {
    const seriesKey = this.recordSeries.get(recordKey);
    this.recordSeries.delete(recordKey);
    const s = seriesKey === undefined ? undefined : this.series.get(seriesKey);
    const v = s?.live.get(recordKey);
    if (!s || !v) return;
    addInto(s.retired, v);
    s.live.delete(recordKey);
  }

  get size(): number {
    return this.series.size;
  }
}

export interface RecordReading {
  readonly recordKey: string;
  readonly seriesKey: string;
  readonly attributes: Attributes;
  readonly packets: number;
  readonly bytes: number;
}

export interface SeriesValue {
  readonly attributes: Attributes;
  readonly packets: number;
  readonly bytes: number;
}

/** A VectorAccumulator of (packets, bytes). */
export class RecordAccumulator {
  private readonly inner: VectorAccumulator;

  constructor(ttlMs: number) {
    this.inner = new VectorAccumulator(ttlMs);
  }

  update(readings: readonly RecordReading[], now: number): SeriesValue[] {
    return this.inner.update(
      readings.map((r) => ({ recordKey: r.recordKey, seriesKey: r.seriesKey, attributes: r.attributes, values: [r.packets, r.bytes] })),
      now,
    ).map((s) => ({ attributes: s.attributes, packets: s.values[0] ?? 0, bytes: s.values[1] ?? 0 }));
  }

  get size(): number {
    return this.inner.size;
  }
}

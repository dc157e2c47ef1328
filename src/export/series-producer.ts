/**
 * A MetricProducer for counters the kernel already keeps cumulatively.
 *
 * Why not SDK observable instruments: the JS SDK never forgets a series an asynchronous instrument
 * once reported (opentelemetry-js #4096), so the series of a removed interface (or, later, a
 * deleted pod) would be exported forever. Here every collection exports exactly the series the
 * sources report now: a series that is gone from the kernel is gone from the export.
 *
 * Also here: an explicit cap on series per instrument (the rest fold into one series with
 * `otel.metric.overflow=true`, and the folded count is reported), and start times per series
 * (reset when a counter goes backwards, e.g. an interface re-created under the same index).
 */
import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import { hrTime } from '@opentelemetry/core';
import {
  AggregationTemporality, DataPointType,
  type CollectionResult, type DataPoint, type Histogram, type MetricData, type MetricProducer, type ScopeMetrics,
} from '@opentelemetry/sdk-metrics';
import { emptyResource } from '@opentelemetry/resources';
import type { InstrumentName } from '../names.js';

/** A cumulative explicit-bucket histogram: `counts` has one more entry than `boundaries` (not cumulative). */
export interface HistogramPoint {
  readonly boundaries: readonly number[];
  readonly counts: readonly number[];
  readonly count: number;
  readonly sum: number;
}

/** One series: a value, or for histogram instruments a histogram (then `value` is its count). */
export interface ProducedSeries {
  readonly attributes: Attributes;
  readonly value: number;
  readonly histogram?: HistogramPoint;
}

export interface SeriesSource {
  /** Current cumulative series per instrument. May throw: the error is returned, not rethrown. */
  collect(): ReadonlyArray<{ instrument: InstrumentName; series: ReadonlyArray<ProducedSeries> }>;
}

/** Adds histogram b into a (same boundaries); a undefined = a copy of b. */
function mergeHistogram(a: HistogramPoint | undefined, b: HistogramPoint): HistogramPoint {
  if (!a) return { ...b, counts: [...b.counts] };
  return { boundaries: a.boundaries, counts: a.counts.map((c, i) => c + (b.counts[i] ?? 0)), count: a.count + b.count, sum: a.sum + b.sum };
}

export const OVERFLOW_ATTRIBUTE = 'otel.metric.overflow';

interface SeriesState {
  start: HrTime;
  last: number;
  seen: number; // collection number when last seen
}

export interface SeriesProducerOptions {
  readonly scope: { name: string; version?: string };
  readonly cardinalityLimit: number;
  readonly now?: () => HrTime;
}

/**
 * Keys of frozen attribute sets: a source that reports the same series export after export may
 * keep its attribute object and freeze it (Object.freeze; values primitive), and its key is then built once —
 * building keys (sort, stringify) was most of a collection's cost with many series. A frozen object
 * cannot change, so its key cannot go stale.
 */
const frozenKeys = new WeakMap<Attributes, string>();

/** Stable key of an attribute set (sorted keys). */
export function attributesKey(a: Attributes): string {
  if (!Object.isFrozen(a)) return sortedKey(a);
  let k = frozenKeys.get(a);
  if (k === undefined) frozenKeys.set(a, (k = sortedKey(a)));
  return k;
}

function sortedKey(a: Attributes): string {
  return JSON.stringify(Object.keys(a).sort().map((k) => [k, a[k]]));
}

export class SeriesProducer implements MetricProducer {
  private readonly sources: SeriesSource[] = [];
  private readonly state = new Map<string, Map<string, SeriesState>>();
  private collection = 0;
  private lastCollect: HrTime;
  private readonly now: () => HrTime;
  /** series folded into the overflow series at the last collection, per instrument */
  readonly overflowed = new Map<string, number>();
  private overflowTotal = 0;

  constructor(private readonly opts: SeriesProducerOptions) {
    this.now = opts.now ?? (() => hrTime());
    this.lastCollect = this.now();
  }

  addSource(s: SeriesSource): void {
    this.sources.push(s);
  }

  /** How many series have been folded into overflow series, summed over all collections. */
  get overflowCount(): number {
    return this.overflowTotal;
  }

  async collect(): Promise<CollectionResult> {
    return this.collectSync();
  }

  collectSync(): CollectionResult {
    const errors: unknown[] = [];
    const end = this.now();
    const collection = ++this.collection;
    const byInstrument = new Map<string, { instrument: InstrumentName; series: ProducedSeries[] }>();
    for (const source of this.sources) {
      try {
        for (const fam of source.collect()) {
          let e = byInstrument.get(fam.instrument.name);
          if (!e) byInstrument.set(fam.instrument.name, (e = { instrument: fam.instrument, series: [] }));
          e.series.push(...fam.series);
        }
      } catch (err) {
        errors.push(err);
      }
    }
    const metrics: MetricData[] = [];
    for (const { instrument, series } of byInstrument.values()) {
      metrics.push(this.toMetric(instrument, series, end, collection));
    }
    // forget series not reported this time: they ended
    for (const states of this.state.values()) {
      for (const [k, s] of states) if (s.seen !== collection) states.delete(k);
    }
    this.lastCollect = end;
    const scopeMetrics: ScopeMetrics[] = metrics.length ? [{ scope: this.opts.scope, metrics }] : [];
    // The reader replaces the resource with the SDK's own.
    return { resourceMetrics: { resource: emptyResource(), scopeMetrics }, errors };
  }

  private toMetric(
    instrument: InstrumentName, series: ReadonlyArray<ProducedSeries>, end: HrTime, collection: number,
  ): MetricData {
    let states = this.state.get(instrument.name);
    if (!states) this.state.set(instrument.name, (states = new Map()));
    const limit = Math.max(1, this.opts.cardinalityLimit);
    const dataPoints = [];
    let overflowValue = 0;
    let overflowHistogram: HistogramPoint | undefined;
    let overflowCount = 0;
    const cumulative = instrument.kind !== 'gauge';
    const point = (v: number, h: HistogramPoint | undefined): unknown => (h
      ? { buckets: { boundaries: [...h.boundaries], counts: [...h.counts] }, count: h.count, sum: h.sum }
      : v);
    // Series already known keep their place; new ones are admitted while there is room.
    // each series' key once (building keys is most of a collection's cost with many series);
    // known series first, in their order, then new ones (indices into `series`, no pairs made)
    const keys = new Array<string>(series.length);
    const order = new Array<number>(series.length);
    let knownCount = 0;
    for (let i = 0; i < series.length; i++) {
      const key = attributesKey(series[i]!.attributes);
      keys[i] = key;
      if (states.has(key)) order[knownCount++] = i;
    }
    if (knownCount < series.length) {
      let at = knownCount;
      for (let i = 0; i < series.length; i++) if (!states.has(keys[i]!)) order[at++] = i;
    }
    // All fit: no overflow series. Otherwise limit-1 regular series plus the overflow series.
    const room = series.length <= limit ? limit : limit - 1;
    let admitted = 0;
    for (let j = 0; j < order.length; j++) {
      const s = series[order[j]!]!;
      const key = keys[order[j]!]!;
      let st = states.get(key);
      if (admitted >= room) {
        overflowValue += s.value;
        if (s.histogram) overflowHistogram = mergeHistogram(overflowHistogram, s.histogram);
        overflowCount++;
        continue;
      }
      if (!st) {
        st = { start: this.lastCollect, last: s.value, seen: collection };
        states.set(key, st);
      } else if (s.value < st.last && cumulative) {
        st.start = this.lastCollect; // counter reset
      }
      st.last = s.value;
      st.seen = collection;
      admitted++;
      dataPoints.push({ startTime: st.start, endTime: end, attributes: s.attributes, value: point(s.value, s.histogram) });
    }
    if (overflowCount > 0) {
      // A cumulative series like the others: it keeps its start time while it exists and grows
      // (a start time moving every collection would read as a reset at every export).
      const attributes = { [OVERFLOW_ATTRIBUTE]: true };
      const key = attributesKey(attributes);
      let st = states.get(key);
      if (!st) states.set(key, (st = { start: this.lastCollect, last: overflowValue, seen: collection }));
      else if (overflowValue < st.last && cumulative) st.start = this.lastCollect;
      st.last = overflowValue;
      st.seen = collection;
      dataPoints.push({ startTime: st.start, endTime: end, attributes, value: point(overflowValue, overflowHistogram) });
      this.overflowTotal += overflowCount;
    }
    this.overflowed.set(instrument.name, overflowCount);
    const descriptor = { name: instrument.name, description: instrument.description, unit: instrument.unit, valueType: ValueType.DOUBLE };
    if (instrument.kind === 'gauge') {
      return { descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.GAUGE, dataPoints: dataPoints as DataPoint<number>[] };
    }
    if (instrument.kind === 'histogram') {
      return {
        descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.HISTOGRAM,
        dataPoints: dataPoints as DataPoint<Histogram>[],
      };
    }
    return {
      descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.SUM, isMonotonic: true,
      dataPoints: dataPoints as DataPoint<number>[],
    };
  }
}

/**
 * SeriesProducer: every collection exports exactly the series the sources report now — unlike the
 * SDK's asynchronous instruments, which keep reporting a series forever once seen
 * (opentelemetry-js #4096). Plus the cardinality cap, per-series start times and resets.
 * A fake clock; no timers, no SDK reader.
 */
import type { Attributes, HrTime } from '@opentelemetry/api';
import { AggregationTemporality, DataPointType, type MetricData } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import { OVERFLOW_ATTRIBUTE, SeriesProducer, attributesKey, type SeriesSource } from '../../src/export/series-producer.js';
// the serializer the OTLP metric exporters use (a dependency of theirs), to see what goes on the wire
import { JsonMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { INSTRUMENTS, type InstrumentName } from '../../src/names.js';

type Series = Array<{ attributes: Attributes; value: number }>;

/** t(n) = n seconds; the clock ticks once per now() call, so every collection has its own end time. */
const t = (s: number): HrTime => [s, 0];

function setup(limit = 100) {
  let tick = 0;
  const producer = new SeriesProducer({ scope: { name: 'fovea-test', version: '1' }, cardinalityLimit: limit, now: () => t(tick++) });
  // construction read t(0): the first collection's start time
  const fams = new Map<InstrumentName, Series>();
  const source: SeriesSource = { collect: () => [...fams].map(([instrument, series]) => ({ instrument, series })) };
  producer.addSource(source);
  const collect = (): MetricData[] => {
    const r = producer.collectSync();
    expect(r.errors).toEqual([]);
    return r.resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
  };
  return { producer, fams, collect };
}

const metric = (ms: MetricData[], i: InstrumentName): MetricData | undefined => ms.find((m) => m.descriptor.name === i.name);
const points = (ms: MetricData[], i: InstrumentName) =>
  (metric(ms, i)?.dataPoints ?? []).map((p) => ({ attributes: p.attributes, value: p.value as number, startTime: p.startTime, endTime: p.endTime }));
const iface = (name: string) => ({ 'network.interface.name': name });

describe('SeriesProducer: exact data points', () => {
  it('exports every reported series with its value, cumulative monotonic sum, descriptor from names.ts', () => {
    const { fams, collect } = setup();
    fams.set(INSTRUMENTS.packets, [{ attributes: iface('eth0'), value: 10 }, { attributes: iface('eth1'), value: 0 }]);
    const ms = collect();
    expect(ms).toHaveLength(1);
    const m = ms[0]!;
    expect(m.descriptor).toMatchObject({ name: 'fovea.network.packets', unit: '{packet}', description: INSTRUMENTS.packets.description });
    expect(m.dataPointType).toBe(DataPointType.SUM);
    expect(m.aggregationTemporality).toBe(AggregationTemporality.CUMULATIVE);
    expect(m.dataPointType === DataPointType.SUM && m.isMonotonic).toBe(true);
    expect(points(ms, INSTRUMENTS.packets)).toEqual([
      { attributes: iface('eth0'), value: 10, startTime: t(0), endTime: t(1) },
      { attributes: iface('eth1'), value: 0, startTime: t(0), endTime: t(1) },
    ]);
  });

  it('keeps the start time while the counter grows; end time moves', () => {
    const { fams, collect } = setup();
    fams.set(INSTRUMENTS.packets, [{ attributes: iface('eth0'), value: 10 }]);
    collect();
    fams.set(INSTRUMENTS.packets, [{ attributes: iface('eth0'), value: 25 }]);
    expect(points(collect(), INSTRUMENTS.packets)).toEqual([{ attributes: iface('eth0'), value: 25, startTime: t(0), endTime: t(2) }]);
  });

  it('scope name/version set; no scope at all when no source reports anything', () => {
    const { producer, fams } = setup();
    expect(producer.collectSync().resourceMetrics.scopeMetrics).toEqual([]);
    fams.set(INSTRUMENTS.packets, [{ attributes: iface('eth0'), value: 1 }]);
    expect(producer.collectSync().resourceMetrics.scopeMetrics[0]!.scope).toEqual({ name: 'fovea-test', version: '1' });
  });

  it('merges series of one instrument from several sources', () => {
    const { producer, fams, collect } = setup();
    fams.set(INSTRUMENTS.packets, [{ attributes: iface('eth0'), value: 1 }]);
    producer.addSource({ collect: () => [{ instrument: INSTRUMENTS.packets, series: [{ attributes: iface('eth1'), value: 2 }] }] });
    expect(points(collect(), INSTRUMENTS.packets).map((p) => p.value)).toEqual([1, 2]);
  });

  it('attribute order does not make a new series', () => {
    expect(attributesKey({ a: 1, b: 'x' })).toBe(attributesKey({ b: 'x', a: 1 }));
    expect(attributesKey({ a: 1 })).not.toBe(attributesKey({ a: '1' }));
  });
});

describe('SeriesProducer: no stale series (contrast: opentelemetry-js #4096)', () => {
  it('a series absent from the next collect is absent from the export', () => {
    const { fams, collect } = setup();
    fams.set(INSTRUMENTS.packets, [{ attributes: iface('eth0'), value: 5 }, { attributes: iface('veth1'), value: 7 }]);
    expect(points(collect(), INSTRUMENTS.packets)).toHaveLength(2);
    fams.set(INSTRUMENTS.packets, [{ attributes: iface('eth0'), value: 6 }]); // veth1 deleted
    expect(points(collect(), INSTRUMENTS.packets).map((p) => p.attributes)).toEqual([iface('eth0')]);
    expect(points(collect(), INSTRUMENTS.packets).map((p) => p.attributes)).toEqual([iface('eth0')]);
  });

  it('an instrument with no series left exports no data points (and the whole metric when no source has it)', () => {
    const { fams, collect } = setup();
    fams.set(INSTRUMENTS.packets, [{ attributes: iface('eth0'), value: 5 }]);
    collect();
    fams.set(INSTRUMENTS.packets, []);
    expect(metric(collect(), INSTRUMENTS.packets)?.dataPoints).toEqual([]);
    fams.delete(INSTRUMENTS.packets);
    expect(metric(collect(), INSTRUMENTS.packets)).toBeUndefined();
  });

  it('a series that comes back starts afresh (new start time), as a new series', () => {
    const { fams, collect } = setup();
    fams.set(INSTRUMENTS.packets, [{ attributes: iface('veth1'), value: 100 }]);
    collect(); // t1
    fams.set(INSTRUMENTS.packets, []);
    collect(); // t2
    fams.set(INSTRUMENTS.packets, [{ attributes: iface('veth1'), value: 3 }]);
    expect(points(collect(), INSTRUMENTS.packets)).toEqual([{ attributes: iface('veth1'), value: 3, startTime: t(2), endTime: t(3) }]);
  });
});

describe('SeriesProducer: counter resets and gauges', () => {
  it('a counter that goes down gets a new start time (the previous collection), then keeps it', () => {
    const { fams, collect } = setup();
    fams.set(INSTRUMENTS.packets, [{ attributes: iface('eth0'), value: 50 }]);
    collect(); // t1
    fams.set(INSTRUMENTS.packets, [{ attributes: iface('eth0'), value: 60 }]);
    collect(); // t2
    fams.set(INSTRUMENTS.packets, [{ attributes: iface('eth0'), value: 4 }]); // interface re-created
    expect(points(collect(), INSTRUMENTS.packets)).toEqual([{ attributes: iface('eth0'), value: 4, startTime: t(2), endTime: t(3) }]);
    fams.set(INSTRUMENTS.packets, [{ attributes: iface('eth0'), value: 9 }]);
    expect(points(collect(), INSTRUMENTS.packets)).toEqual([{ attributes: iface('eth0'), value: 9, startTime: t(2), endTime: t(4) }]);
  });

  it('an unchanged counter is not a reset', () => {
    const { fams, collect } = setup();
    fams.set(INSTRUMENTS.packets, [{ attributes: iface('eth0'), value: 5 }]);
    collect();
    expect(points(collect(), INSTRUMENTS.packets)[0]!.startTime).toEqual(t(0));
  });

  it('gauges: GAUGE points, going down is not a reset', () => {
    const { fams, collect } = setup();
    fams.set(INSTRUMENTS.attachedInterfaces, [{ attributes: { 'fovea.probe': 'traffic' }, value: 5 }]);
    const first = collect();
    expect(metric(first, INSTRUMENTS.attachedInterfaces)?.dataPointType).toBe(DataPointType.GAUGE);
    fams.set(INSTRUMENTS.attachedInterfaces, [{ attributes: { 'fovea.probe': 'traffic' }, value: 2 }]);
    expect(points(collect(), INSTRUMENTS.attachedInterfaces)).toEqual([
      { attributes: { 'fovea.probe': 'traffic' }, value: 2, startTime: t(0), endTime: t(2) },
    ]);
  });
});

describe('SeriesProducer: cardinality cap', () => {
  const ten = (k = 1): Series => Array.from({ length: 10 }, (_, i) => ({ attributes: iface(`veth${i}`), value: (i + 1) * k }));

  it('limit 3, 10 series: 2 regular + one overflow series holding the exact sum of the other 8', () => {
    const { producer, fams, collect } = setup(3);
    fams.set(INSTRUMENTS.packets, ten());
    const ps = points(collect(), INSTRUMENTS.packets);
    expect(ps).toHaveLength(3);
    expect(ps.slice(0, 2).map((p) => [p.attributes, p.value])).toEqual([[iface('veth0'), 1], [iface('veth1'), 2]]);
    expect(ps[2]!.attributes).toEqual({ [OVERFLOW_ATTRIBUTE]: true });
    expect(ps[2]!.value).toBe(3 + 4 + 5 + 6 + 7 + 8 + 9 + 10);
    expect(producer.overflowCount).toBe(8);
    expect(producer.overflowed.get(INSTRUMENTS.packets.name)).toBe(8);
    // every collection that folds series adds to the count (it is a cumulative counter)
    fams.set(INSTRUMENTS.packets, ten(2));
    const again = points(collect(), INSTRUMENTS.packets);
    expect(again[2]!.value).toBe(2 * (3 + 4 + 5 + 6 + 7 + 8 + 9 + 10));
    expect(producer.overflowCount).toBe(16);
  });

  it('the overflow series is a cumulative series too: its start time stays while it grows', () => {
    const { fams, collect } = setup(3);
    fams.set(INSTRUMENTS.packets, ten());
    const a = points(collect(), INSTRUMENTS.packets)[2]!;
    fams.set(INSTRUMENTS.packets, ten(2));
    const b = points(collect(), INSTRUMENTS.packets)[2]!;
    expect(b.value).toBeGreaterThan(a.value);
    expect(b.startTime).toEqual(a.startTime);
  });

  it('the cap is per instrument', () => {
    const { producer, fams, collect } = setup(3);
    fams.set(INSTRUMENTS.packets, ten());
    fams.set(INSTRUMENTS.io, [{ attributes: iface('eth0'), value: 1 }]);
    const ms = collect();
    expect(points(ms, INSTRUMENTS.io)).toHaveLength(1);
    expect(producer.overflowed.get(INSTRUMENTS.io.name)).toBe(0);
  });

  it('exactly at the limit: no overflow series', () => {
    const { producer, fams, collect } = setup(3);
    fams.set(INSTRUMENTS.packets, ten().slice(0, 3));
    const ps = points(collect(), INSTRUMENTS.packets);
    expect(ps.map((p) => p.attributes)).toEqual([iface('veth0'), iface('veth1'), iface('veth2')]);
    expect(producer.overflowCount).toBe(0);
  });

  it('known series keep their slot when new ones come, even when the new ones sort first', () => {
    const { fams, collect } = setup(3);
    fams.set(INSTRUMENTS.packets, [{ attributes: iface('b'), value: 1 }, { attributes: iface('c'), value: 2 }]);
    collect();
    fams.set(INSTRUMENTS.packets, [
      { attributes: iface('a0'), value: 100 }, { attributes: iface('a1'), value: 200 },
      { attributes: iface('b'), value: 3 }, { attributes: iface('c'), value: 4 },
    ]);
    const ps = points(collect(), INSTRUMENTS.packets);
    expect(ps.map((p) => [p.attributes, p.value])).toEqual([
      [iface('b'), 3], [iface('c'), 4], [{ [OVERFLOW_ATTRIBUTE]: true }, 300],
    ]);
    // and the known ones kept their start times
    expect(ps[0]!.startTime).toEqual(t(0));
  });

  it('when a regular series ends, a folded one is admitted in its place', () => {
    const { producer, fams, collect } = setup(3);
    fams.set(INSTRUMENTS.packets, ten().slice(0, 4)); // veth0, veth1 + overflow(veth2, veth3)
    collect();
    fams.set(INSTRUMENTS.packets, ten().slice(1, 4)); // veth0 gone: 3 series fit
    const ps = points(collect(), INSTRUMENTS.packets);
    expect(ps.map((p) => p.attributes)).toEqual([iface('veth1'), iface('veth2'), iface('veth3')]);
    expect(producer.overflowed.get(INSTRUMENTS.packets.name)).toBe(0);
  });
});

describe('SeriesProducer: failing sources', () => {
  it('a throwing source: its error is returned (not thrown) and other sources are still exported', async () => {
    const { producer, fams } = setup();
    const boom = new Error('map read failed');
    producer.addSource({ collect: () => { throw boom; } });
    producer.addSource({ collect: () => [{ instrument: INSTRUMENTS.io, series: [{ attributes: iface('eth0'), value: 7 }] }] });
    fams.set(INSTRUMENTS.packets, [{ attributes: iface('eth0'), value: 1 }]);
    const r = await producer.collect();
    expect(r.errors).toEqual([boom]);
    const ms = r.resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
    expect(points(ms, INSTRUMENTS.packets).map((p) => p.value)).toEqual([1]);
    expect(points(ms, INSTRUMENTS.io).map((p) => p.value)).toEqual([7]);
  });
});

describe('SeriesProducer: histograms (ProducedSeries.histogram)', () => {
  const BOUNDS = [0.001, 0.01, 0.1];
  const hs = (counts: number[], sum: number) => ({ boundaries: BOUNDS, counts, count: counts.reduce((a, b) => a + b, 0), sum });
  const pair = (name: string) => ({ 'fovea.source.workload.name': name });
  type HSeries = Array<{ attributes: Attributes; value: number; histogram?: ReturnType<typeof hs> }>;
  function hsetup(limit = 100) {
    const s = setup(limit);
    const set = (series: HSeries) => s.fams.set(INSTRUMENTS.flowTcpHandshake, series);
    return { ...s, set };
  }

  it('a histogram instrument exports HISTOGRAM points: boundaries, counts, count, sum; cumulative', () => {
    const { set, collect } = hsetup();
    set([{ attributes: pair('web'), value: 4, histogram: hs([1, 2, 0, 1], 0.5) }]);
    const ms = collect();
    const m = metric(ms, INSTRUMENTS.flowTcpHandshake)!;
    expect(m.descriptor).toMatchObject({ name: 'fovea.flow.tcp.handshake.duration', unit: 's' });
    expect(m.dataPointType).toBe(DataPointType.HISTOGRAM);
    expect(m.aggregationTemporality).toBe(AggregationTemporality.CUMULATIVE);
    expect(m.dataPoints).toEqual([{
      startTime: t(0), endTime: t(1), attributes: pair('web'),
      value: { buckets: { boundaries: [0.001, 0.01, 0.1], counts: [1, 2, 0, 1] }, count: 4, sum: 0.5 },
    }]);
  });

  it('the point is a copy: a source changing its arrays later does not change what was exported', () => {
    const { set, collect } = hsetup();
    const h = { boundaries: [0.001, 0.01, 0.1], counts: [1, 0, 0, 0], count: 1, sum: 0.0005 };
    set([{ attributes: pair('web'), value: 1, histogram: h }]);
    const p = metric(collect(), INSTRUMENTS.flowTcpHandshake)!.dataPoints[0]!;
    h.counts[0] = 99;
    h.boundaries.push(1);
    expect(p.value).toEqual({ buckets: { boundaries: [0.001, 0.01, 0.1], counts: [1, 0, 0, 0] }, count: 1, sum: 0.0005 });
  });

  it('start time kept while the count grows; a count that goes down is a reset (new start time)', () => {
    const { set, collect } = hsetup();
    set([{ attributes: pair('web'), value: 1, histogram: hs([1, 0, 0, 0], 0.0005) }]);
    collect(); // t1
    set([{ attributes: pair('web'), value: 3, histogram: hs([1, 1, 1, 0], 0.06) }]);
    const second = metric(collect(), INSTRUMENTS.flowTcpHandshake)!.dataPoints; // t2
    expect(second.map((p) => [p.startTime, p.endTime, (p.value as { count: number }).count])).toEqual([[t(0), t(2), 3]]);
    set([{ attributes: pair('web'), value: 1, histogram: hs([0, 0, 1, 0], 0.05) }]); // records re-created
    const third = metric(collect(), INSTRUMENTS.flowTcpHandshake)!.dataPoints; // t3
    expect(third.map((p) => [p.startTime, p.endTime, (p.value as { count: number }).count])).toEqual([[t(2), t(3), 1]]);
  });

  it('overflow: folded series merge bucket by bucket, count and sum added', () => {
    const { producer, set, collect } = hsetup(2);
    set([
      { attributes: pair('a'), value: 2, histogram: hs([2, 0, 0, 0], 0.001) },
      { attributes: pair('b'), value: 3, histogram: hs([1, 1, 1, 0], 0.125) },
      { attributes: pair('c'), value: 5, histogram: hs([0, 2, 0, 3], 30.5) },
    ]);
    const ps = metric(collect(), INSTRUMENTS.flowTcpHandshake)!.dataPoints;
    expect(ps.map((p) => [p.attributes, p.value])).toEqual([
      [pair('a'), { buckets: { boundaries: BOUNDS, counts: [2, 0, 0, 0] }, count: 2, sum: 0.001 }],
      [{ [OVERFLOW_ATTRIBUTE]: true }, { buckets: { boundaries: BOUNDS, counts: [1, 3, 1, 3] }, count: 8, sum: 30.625 }],
    ]);
    expect(producer.overflowed.get(INSTRUMENTS.flowTcpHandshake.name)).toBe(2);
    // the next collection merges afresh (no carry-over from the previous merge)
    set([
      { attributes: pair('a'), value: 2, histogram: hs([2, 0, 0, 0], 0.001) },
      { attributes: pair('b'), value: 4, histogram: hs([1, 1, 1, 1], 1.125) },
      { attributes: pair('c'), value: 5, histogram: hs([0, 2, 0, 3], 30.5) },
    ]);
    const again = metric(collect(), INSTRUMENTS.flowTcpHandshake)!.dataPoints;
    expect(again[1]!.value).toEqual({ buckets: { boundaries: BOUNDS, counts: [1, 3, 1, 4] }, count: 9, sum: 31.625 });
    expect(again[1]!.startTime).toEqual(ps[1]!.startTime);
  });

  it('OTLP: the exporters\' serializer turns the points into histogram data points (explicitBounds, bucketCounts)', () => {
    const { producer, set } = hsetup();
    set([{ attributes: pair('web'), value: 4, histogram: hs([1, 2, 0, 1], 0.5) }]);
    const r = producer.collectSync();
    const body = JSON.parse(new TextDecoder().decode(JsonMetricsSerializer.serializeRequest(r.resourceMetrics)!)) as {
      resourceMetrics: Array<{ scopeMetrics: Array<{ metrics: Array<Record<string, unknown>> }> }>;
    };
    const m = body.resourceMetrics[0]!.scopeMetrics[0]!.metrics[0]!;
    expect(m['name']).toBe('fovea.flow.tcp.handshake.duration');
    const histogram = m['histogram'] as { aggregationTemporality: number; dataPoints: Array<Record<string, unknown>> };
    expect(histogram.aggregationTemporality).toBe(2); // AGGREGATION_TEMPORALITY_CUMULATIVE
    expect(histogram.dataPoints).toHaveLength(1);
    expect(histogram.dataPoints[0]).toMatchObject({ explicitBounds: [0.001, 0.01, 0.1], bucketCounts: [1, 2, 0, 1], count: 4, sum: 0.5 });
  });
});

describe('attributesKey of frozen attribute sets', () => {
  it('the same key as unfrozen (order-free); the object is not changed', () => {
    const a = Object.freeze({ 'k8s.pod.name': 'p', 'fovea.netstack.counter': 'tcp.out_rsts' });
    const b = { 'fovea.netstack.counter': 'tcp.out_rsts', 'k8s.pod.name': 'p' };
    expect(attributesKey(a)).toBe(attributesKey(b));
    expect(attributesKey(a)).toBe(attributesKey(a)); // kept
    expect(Object.keys(a)).toEqual(['k8s.pod.name', 'fovea.netstack.counter']);
  });

  it('a series reported with one frozen object export after export keeps its start time, and ends when not reported', () => {
    const { producer, fams, collect } = setup();
    const attrs = Object.freeze({ 'network.interface.name': 'eth0' });
    fams.set(INSTRUMENTS.packets, [{ attributes: attrs, value: 5 }]);
    const first = collect()[0]!.dataPoints[0]!;
    fams.set(INSTRUMENTS.packets, [{ attributes: attrs, value: 7 }]);
    const second = collect()[0]!.dataPoints[0]!;
    expect(second.startTime).toEqual(first.startTime);
    expect(second.value).toBe(7);
    fams.set(INSTRUMENTS.packets, []);
    expect(collect().flatMap((m) => m.dataPoints as unknown[])).toEqual([]);
    void producer;
  });
});

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

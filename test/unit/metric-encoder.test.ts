/**
 * src/export/metric-encoder.ts writes exactly the bytes of the upstream ProtobufMetricsSerializer:
 * thousands of seeded random ResourceMetrics (gauges, sums, histograms, exponential histograms and
 * a type upstream does not know; int and double values, negative, past 2^53, NaN and infinities;
 * both temporalities and none; monotonic or not; attributes of every AnyValue kind, unicode;
 * resources and scopes with and without attributes and schema URLs; empty metrics and scopes;
 * times past 2038), what the SDK's own instruments collect (exponential histograms included), and
 * what a real agent sent: test/fixtures/agent-50-pods.metrics.pb.gz, one export of `fovea agent` in
 * pod mode with 50 lab pods, captured by bench/manual/metric-encode.mjs — decoded back into
 * ResourceMetrics (src/otlp/resource-metrics.ts) and written again by both.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { ValueType } from '@opentelemetry/api';
import { ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import {
  AggregationTemporality, AggregationType, DataPointType, InstrumentType, MeterProvider, MetricReader,
  type MetricData, type ResourceMetrics, type ScopeMetrics,
} from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import { encodeMetricsExportRequest } from '../../src/export/metric-encoder.js';
import { decodeMetricsRequest } from '../../src/otlp/receiver.js';
import { toResourceMetrics } from '../../src/otlp/resource-metrics.js';
import { prng } from '../helpers/prng.js';


const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

function randomValue(r: () => number, depth = 0): unknown {
  const k = Math.floor(r() * (depth > 2 ? 7 : 9));
  switch (k) {
    case 0: return pick(r, ['', 'a', 'NETFILTER_DROP', 'héllo wörld', '日本語', '🚀 emoji', 'x'.repeat(200), 'tab\tnew\nline']);
    case 1: return r() < 0.5;
    case 2: return Math.floor(r() * 200);
    case 3: return Math.floor((r() - 0.5) * 2 ** 40);
    case 4: return pick(r, [0, 1, -1, 127, 128, 2 ** 32, 2 ** 32 - 1, 2 ** 53 - 1, -(2 ** 53), 2 ** 60, -(2 ** 63)]);
    case 5: return (r() - 0.5) * 1e6;
    case 6: return new Uint8Array(Array.from({ length: Math.floor(r() * 5) }, () => Math.floor(r() * 256)));
    case 7: return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
    default: return Object.fromEntries(Array.from({ length: Math.floor(r() * 4) }, (_, i) => [`k${i}`, randomValue(r, depth + 1)]));
  }
}

function randomAttributes(r: () => number): Record<string, unknown> {
  const a: Record<string, unknown> = {};
  const n = Math.floor(r() * 12);
  for (let i = 0; i < n; i++) {
    // mostly string values from small sets, as the agent's are (the encoder caches those)
    a[r() < 0.8 ? `k8s.attr.${Math.floor(r() * 20)}` : `ünïcode.${i}`] = r() < 0.6 ? `v${Math.floor(r() * 50)}` : randomValue(r);
  }
  return a;
}

const time = (r: () => number): [number, number] => [Math.floor(r() * (r() < 0.1 ? 2 ** 34 : 2 ** 31)), Math.floor(r() * 1e9)];

function numberValue(r: () => number, valueType: ValueType): number {
  if (valueType === ValueType.INT) {
    return pick(r, [0, 1, -1, 7, 2 ** 31, 2 ** 32, 2 ** 53 + 2, -(2 ** 40) - 3, 2 ** 63, Math.floor(r() * 1e12), 1.5, -2.5]);
  }
  return pick(r, [0, -0, 0.25, -1e-300, 1e300, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, r() * 1e6, 3]);
}

function randomPoint(r: () => number, type: number, valueType: ValueType): unknown {
  const base = { attributes: r() < 0.05 ? undefined : randomAttributes(r), startTime: time(r), endTime: time(r) };
  const opt = (v: number): number | undefined => (r() < 0.3 ? undefined : v);
  const counts = (n: number): number[] => Array.from({ length: n }, () => pick(r, [0, 1, 127, 128, 300, 2 ** 32 + 5, Math.floor(r() * 1e6)]));
  switch (type) {
    case DataPointType.HISTOGRAM: {
      const boundaries = Array.from({ length: Math.floor(r() * 8) }, (_, i) => i * 2.5 - 3);
      return { ...base, value: { buckets: { boundaries, counts: counts(r() < 0.1 ? 0 : boundaries.length + 1) },
        count: pick(r, [0, 3, 2 ** 33 + 1]), sum: opt(r() * 1e4), min: opt(-r()), max: opt(r() * 1e3) } };
    }
    case DataPointType.EXPONENTIAL_HISTOGRAM:
      return { ...base, value: { count: pick(r, [0, 9, 2 ** 40]), sum: opt(r() * 100), min: opt(r()), max: opt(r() * 50),
        scale: pick(r, [0, 1, -1, 20, -10, 63]), zeroCount: pick(r, [0, 4, 2 ** 35]),
        positive: { offset: pick(r, [0, 1, -1, 1000, -70000]), bucketCounts: counts(Math.floor(r() * 6)) },
        negative: { offset: pick(r, [0, 5, -5]), bucketCounts: counts(Math.floor(r() * 3)) } } };
    default:
      return { ...base, value: numberValue(r, valueType) };
  }
}

function randomMetric(r: () => number): MetricData {
  const type = pick(r, [DataPointType.GAUGE, DataPointType.SUM, DataPointType.SUM, DataPointType.HISTOGRAM,
    DataPointType.EXPONENTIAL_HISTOGRAM, 99 as DataPointType]);
  const valueType = r() < 0.5 ? ValueType.INT : ValueType.DOUBLE;
  return {
    descriptor: {
      name: pick(r, ['fovea.network.drop.packets', 'fovea.pod.tcp.retransmits', 'ünï.metric', '', 'x']),
      description: pick(r, ['', 'Packets dropped by the kernel', 'déscription 日本']),
      unit: pick(r, ['', '{packet}', 'By', 's']),
      valueType: r() < 0.05 ? (undefined as unknown as ValueType) : valueType,
      type: InstrumentType.COUNTER,
    },
    dataPointType: type,
    aggregationTemporality: pick(r, [AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA, 7 as AggregationTemporality]),
    isMonotonic: r() < 0.5,
    dataPoints: Array.from({ length: Math.floor(r() * 6) }, () => randomPoint(r, type, valueType)),
  } as unknown as MetricData;
}

function randomResourceMetrics(r: () => number, resources: Resource[], scopes: ScopeMetrics['scope'][]): ResourceMetrics {
  return {
    resource: pick(r, resources),
    scopeMetrics: Array.from({ length: Math.floor(r() * 4) }, () => ({
      scope: pick(r, scopes),
      metrics: Array.from({ length: Math.floor(r() * 8) }, () => randomMetric(r)),
    })),
  };
}

const upstream = (rm: ResourceMetrics): Buffer => Buffer.from(ProtobufMetricsSerializer.serializeRequest(rm)!);

function expectSameBytes(rm: ResourceMetrics, what: string): void {
  const ours = Buffer.from(encodeMetricsExportRequest(rm));
  const theirs = upstream(rm);
  if (!ours.equals(theirs)) {
    throw new Error(`${what}: ${ours.length} bytes vs upstream ${theirs.length}; first difference at ${ours.findIndex((x, i) => x !== theirs[i])}`);
  }
}

/** A reader the test collects from. */
class TestReader extends MetricReader {
  constructor(opts: ConstructorParameters<typeof MetricReader>[0] = {}) { super(opts); }
  protected override onForceFlush(): Promise<void> { return Promise.resolve(); }
  protected override onShutdown(): Promise<void> { return Promise.resolve(); }
}

describe('encodeMetricsExportRequest', () => {
  it('writes the upstream serializer\'s bytes for 3,000 random ResourceMetrics', () => {
    const r = prng(20261203);
    const resources = [
      resourceFromAttributes({ 'service.name': 'fovea', 'k8s.node.name': 'node-1' }),
      resourceFromAttributes({ 'service.name': 'fovea', 'host.name': 'höst', 'x.count': 3, 'x.ok': true, 'x.f': 0.5 }, { schemaUrl: 'https://opentelemetry.io/schemas/1.26.0' }),
      resourceFromAttributes({}),
    ];
    const scopes = [
      { name: 'fovea', version: '0.1.0' }, { name: 'other', version: '' }, { name: '', schemaUrl: 'https://opentelemetry.io/schemas/1.26.0' },
      { name: 'with.attrs', version: '1', attributes: { a: 'b', n: 5 }, droppedAttributesCount: 2 } as ScopeMetrics['scope'],
    ];
    for (let i = 0; i < 3000; i++) expectSameBytes(randomResourceMetrics(r, resources, scopes), `ResourceMetrics ${i}`);
  });

  it('frozen attribute sets (planned once, kept by the encoder) give the same bytes, encoded again and again', () => {
    const r = prng(3122026);
    const resources = [resourceFromAttributes({ 'service.name': 'fovea' })];
    const scopes = [{ name: 'fovea', version: '0.1.0' }];
    for (let i = 0; i < 300; i++) {
      const rm = randomResourceMetrics(r, resources, scopes);
      const before = upstream(rm);
      // the same attribute objects, frozen (primitive values only are frozen by the agent's sources)
      for (const sm of rm.scopeMetrics) for (const m of sm.metrics) for (const dp of m.dataPoints as Array<{ attributes: object }>) Object.freeze(dp.attributes);
      for (let k = 0; k < 3; k++) {
        const ours = Buffer.from(encodeMetricsExportRequest(rm));
        expect(ours.equals(before), `ResourceMetrics ${i}, encoding ${k + 1}`).toBe(true);
      }
    }
  });

  it('frozen attribute sets across exports (their field written once, kept): new values and times, upstream\'s bytes', () => {
    const r = prng(20261204);
    const resources = [resourceFromAttributes({ 'service.name': 'fovea' })];
    const scopes = [{ name: 'fovea', version: '0.1.0' }];
    for (let i = 0; i < 100; i++) {
      const rm = randomResourceMetrics(r, resources, scopes);
      for (const sm of rm.scopeMetrics) for (const m of sm.metrics) for (const dp of m.dataPoints as Array<{ attributes: object }>) Object.freeze(dp.attributes);
      // as the series producer does: the same attribute objects export after export, values and times new
      for (let e = 0; e < 5; e++) {
        const next: ResourceMetrics = {
          resource: rm.resource,
          scopeMetrics: rm.scopeMetrics.map((sm) => ({
            scope: sm.scope,
            metrics: sm.metrics.map((m) => ({
              ...m,
              dataPoints: m.dataPoints.map((dp) => {
                const fresh = randomPoint(r, m.dataPointType, m.descriptor.valueType) as { value: unknown; startTime: unknown; endTime: unknown };
                return { ...dp, startTime: fresh.startTime, endTime: fresh.endTime, value: fresh.value };
              }),
            })) as MetricData[],
          })),
        };
        expectSameBytes(next, `ResourceMetrics ${i}, export ${e + 1}`);
      }
    }
  });

  it('writes the upstream bytes for what the SDK\'s instruments collect, exponential histograms and delta included', async () => {
    for (const temporality of [AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA]) {
      const reader = new TestReader({
        aggregationTemporalitySelector: () => temporality,
        aggregationSelector: (t) => (t === InstrumentType.HISTOGRAM ? { type: AggregationType.EXPONENTIAL_HISTOGRAM } : { type: AggregationType.DEFAULT }),
      });
      const explicit = new TestReader();
      const provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': 'fovea' }), readers: [reader, explicit] });
      const meter = provider.getMeter('fovea', '0.1.0');
      const counter = meter.createCounter('c', { valueType: ValueType.INT, unit: '{packet}', description: 'a counter' });
      const updown = meter.createUpDownCounter('u', { valueType: ValueType.DOUBLE });
      const histogram = meter.createHistogram('h', { unit: 's' });
      const gauge = meter.createGauge('g', { valueType: ValueType.INT });
      meter.createObservableGauge('og').addCallback((o) => { o.observe(2.5, { pod: 'web-0' }); o.observe(-1, { pod: 'web-1' }); });
      for (let i = 0; i < 200; i++) {
        const attrs = { pod: `web-${i % 7}`, 'network.transport': i % 2 ? 'tcp' : 'udp', n: i % 3, ok: i % 5 === 0 };
        counter.add(i * 1000, attrs);
        updown.add(i % 2 ? -i / 3 : i, attrs);
        histogram.record(i % 11 === 0 ? 0 : (i - 100) * 0.37, attrs);
        gauge.record(i - 50, attrs);
      }
      for (const rd of [reader, explicit]) {
        const { resourceMetrics } = await rd.collect();
        expect(resourceMetrics.scopeMetrics[0]!.metrics.map((m) => m.dataPointType)).toContain(
          rd === reader ? DataPointType.EXPONENTIAL_HISTOGRAM : DataPointType.HISTOGRAM);
        expectSameBytes(resourceMetrics, `SDK collection (${temporality})`);
        // and the receiver's decoding gives it back as it was (what the agent-collection check relies on)
        expectSameBytes(toResourceMetrics(decodeMetricsRequest(upstream(resourceMetrics))), `SDK collection (${temporality}), decoded`);
        expect(upstream(toResourceMetrics(decodeMetricsRequest(upstream(resourceMetrics))))).toEqual(upstream(resourceMetrics));
      }
      await provider.shutdown();
    }
  });

  it('writes the bytes a real agent with 50 pods sent, as upstream writes them', () => {
    const body = gunzipSync(readFileSync(new URL('../fixtures/agent-50-pods.metrics.pb.gz', import.meta.url)));
    const rm = toResourceMetrics(decodeMetricsRequest(body));
    const points = rm.scopeMetrics.flatMap((s) => s.metrics).reduce((n, m) => n + m.dataPoints.length, 0);
    expect(points).toBeGreaterThan(1000);
    expect(upstream(rm)).toEqual(body);
    expectSameBytes(rm, 'agent collection');
    expectSameBytes(rm, 'agent collection, again (cached keys, values, resource and scope)');
  });

  it('an empty collection: the resource alone', () => {
    expectSameBytes({ resource: resourceFromAttributes({ 'service.name': 'fovea' }), scopeMetrics: [] }, 'empty');
  });
});

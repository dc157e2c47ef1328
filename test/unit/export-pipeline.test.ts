import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, InstrumentType, type PushMetricExporter, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { pino, type Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import { CountingExporter, createMetricsPipeline } from '../../src/export/metrics-pipeline.js';
import { resolveOtlpSettings } from '../../src/export/otlp-settings.js';

/** In-memory exporter whose next results the test decides. */
class FakeExporter implements PushMetricExporter {
  results: ExportResult[] = [];
  exported: ResourceMetrics[] = [];
  shutdowns = 0;
  export(m: ResourceMetrics, cb: (r: ExportResult) => void): void {
    this.exported.push(m);
    cb(this.results.shift() ?? { code: ExportResultCode.SUCCESS });
  }
  forceFlush(): Promise<void> { return Promise.resolve(); }
  shutdown(): Promise<void> { this.shutdowns++; return Promise.resolve(); }
}

function capture(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>); } });
  return { logger, lines };
}

const fail = (msg: string): ExportResult => ({ code: ExportResultCode.FAILED, error: new Error(msg) });
const empty = { resource: resourceFromAttributes({}), scopeMetrics: [] } as ResourceMetrics;

describe('CountingExporter', () => {
  it('counts results and logs failures at a limited rate, then the recovery', () => {
    const inner = new FakeExporter();
    const { logger, lines } = capture();
    let now = 0;
    const ex = new CountingExporter(inner, logger, 60_000, () => now);
    const results: ExportResult[] = [];
    inner.results = Array.from({ length: 100 }, (_, i) => fail(`down ${i}`));
    for (let i = 0; i < 100; i++) { now += 1_000; ex.export(empty, (r) => results.push(r)); }
    expect(results.every((r) => r.code === ExportResultCode.FAILED)).toBe(true);
    expect(ex.stats()).toMatchObject({ exportsOk: 0, exportsFailed: 100, consecutiveFailures: 100, lastError: 'down 99' });
    // 100 s of failures at one per second: a line at t=1 s, t=61 s — not 100 lines.
    const warns = lines.filter((l) => l['level'] === 40);
    expect(warns).toHaveLength(2);
    expect(warns[1]).toMatchObject({ suppressed: 59, consecutiveFailures: 61 });
    ex.export(empty, () => undefined);
    expect(ex.stats()).toMatchObject({ exportsOk: 1, exportsFailed: 100, consecutiveFailures: 0 });
    expect(lines.at(-1)).toMatchObject({ msg: 'OTLP metrics export recovered', failedExports: 100 });
  });

  it('turns a throwing exporter into a counted failure and forces cumulative temporality', () => {
    const inner = new FakeExporter();
    inner.export = () => { throw new Error('boom'); };
    const ex = new CountingExporter(inner, capture().logger, 1_000);
    let result: ExportResult | undefined;
    ex.export(empty, (r) => { result = r; });
    expect(result?.code).toBe(ExportResultCode.FAILED);
    expect(ex.stats().lastError).toBe('boom');
    expect(ex.selectAggregationTemporality(InstrumentType.COUNTER)).toBe(AggregationTemporality.CUMULATIVE);
  });
});

describe('createMetricsPipeline (in-memory exporter)', () => {
  const settings = (() => {
    const r = resolveOtlpSettings({}, { intervalMs: 60_000 });
    if (!r.ok) throw new Error(r.issues.join());
    return r.settings;
  })();

  it('caps every instrument at the cardinality limit (overflow series), shutdown is idempotent', async () => {
    const inner = new FakeExporter();
    const p = createMetricsPipeline({ settings, resource: resourceFromAttributes({}), logger: capture().logger, cardinalityLimit: 3, exporter: inner });
    p.meter.createObservableCounter('c').addCallback((o) => { for (let i = 0; i < 10; i++) o.observe(1, { i }); });
    const sync = p.meter.createCounter('s');
    for (let i = 0; i < 10; i++) sync.add(1, { i });
    await p.forceFlush();
    const metrics = inner.exported.at(-1)?.scopeMetrics[0]?.metrics ?? [];
    expect(metrics.map((m) => m.descriptor.name).sort()).toEqual(['c', 's']);
    for (const m of metrics) {
      expect(m.dataPoints).toHaveLength(3);
      expect(m.aggregationTemporality).toBe(AggregationTemporality.CUMULATIVE);
      const overflow = m.dataPoints.find((d) => d.attributes['otel.metric.overflow'] === true);
    }
    const overflow = (name: string): unknown => metrics.find((m) => m.descriptor.name === name)?.dataPoints
      .find((d) => d.attributes['otel.metric.overflow'] === true)?.value;
    expect(overflow('s')).toBe(8); // synchronous: 10 series, 2 kept, 8 folded into the overflow series
    // Observable instruments (sdk-metrics 2.12, DeltaMetricProcessor.batchCumulate): each folded
    // observation replaces the overflow memo instead of adding to it, so the overflow value is NOT
    // the sum (here 1, not 8). The limit still holds; probes must cap (and count) series themselves.
    expect(overflow('c')).toBe(1);
    await Promise.all([p.shutdown(), p.shutdown()]);
    await p.shutdown();
    expect(inner.shutdowns).toBe(1);
  });

  it('bounds shutdown by its timeout when the exporter hangs', async () => {
    const inner = new FakeExporter();
    inner.export = () => undefined; // never calls back
    inner.shutdown = () => new Promise(() => undefined);
    const p = createMetricsPipeline({ settings: { ...settings, exportTimeoutMs: 100 }, resource: resourceFromAttributes({}),
      logger: capture().logger, cardinalityLimit: 10, exporter: inner, shutdownTimeoutMs: 300 });
    p.meter.createCounter('x').add(1);
    const t0 = Date.now();
    await p.shutdown();
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it('rejects a non-positive cardinality limit', () => {
    expect(() => createMetricsPipeline({ settings, resource: resourceFromAttributes({}), logger: capture().logger, cardinalityLimit: 0 }))
      .toThrow(/cardinalityLimit/);
  });
});

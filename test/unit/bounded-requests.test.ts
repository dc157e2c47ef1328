/**
 * Metrics export requests within a size bound (src/export/bounded-requests.ts), on what a real agent
 * sent (test/fixtures/agent-50-pods.metrics.pb.gz: one export of `fovea agent` with 50 lab pods,
 * 1,585 data points) and the real encoder: every request within the bound, every data point in
 * exactly one request, failures reported once.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { AggregationTemporality, type PushMetricExporter, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import {
  BoundedRequestExporter, MAX_METRICS_REQUEST_BYTES, encodedMetricsRequest, splitResourceMetrics,
} from '../../src/export/bounded-requests.js';
import { encodeMetricsExportRequest } from '../../src/export/metric-encoder.js';
import { decodeMetricsRequest } from '../../src/otlp/receiver.js';
import { toResourceMetrics } from '../../src/otlp/resource-metrics.js';

function fixture(): ResourceMetrics {
  const body = gunzipSync(readFileSync(new URL('../fixtures/agent-50-pods.metrics.pb.gz', import.meta.url)));
  return toResourceMetrics(decodeMetricsRequest(body));
}

/** Every data point as one string: scope, metric, its attributes and value. */
function points(rm: ResourceMetrics): string[] {
  const out: string[] = [];
  for (const sm of rm.scopeMetrics) {
    for (const m of sm.metrics) {
      for (const p of m.dataPoints) out.push(JSON.stringify([sm.scope.name, m.descriptor.name, p.attributes, p.value, p.startTime, p.endTime]));
    }
  }
  return out;
}

class Recorder implements PushMetricExporter {
  readonly sent: ResourceMetrics[] = [];
  constructor(private readonly failAt = -1) {}
  export(rm: ResourceMetrics, cb: (r: ExportResult) => void): void {
    const i = this.sent.push(rm) - 1;
    setImmediate(() => cb(i === this.failAt ? { code: ExportResultCode.FAILED, error: new Error('refused') } : { code: ExportResultCode.SUCCESS }));
  }
  forceFlush(): Promise<void> { return Promise.resolve(); }
  shutdown(): Promise<void> { return Promise.resolve(); }
  selectAggregationTemporality(): AggregationTemporality { return AggregationTemporality.CUMULATIVE; }
}

const exportOnce = (e: PushMetricExporter, rm: ResourceMetrics): Promise<ExportResult[]> => new Promise((resolve) => {
  const results: ExportResult[] = [];
  e.export(rm, (r) => { results.push(r); setTimeout(() => resolve(results), 20); });
});

describe('metrics requests within a size bound', () => {
  const rm = fixture();
  const whole = encodeMetricsExportRequest(rm).length;

  it('the fixture is one request under the default bound, sent as it is', async () => {
    expect(whole).toBeLessThan(MAX_METRICS_REQUEST_BYTES);
    expect(splitResourceMetrics(rm, MAX_METRICS_REQUEST_BYTES)).toEqual([rm]);
    const inner = new Recorder();
    expect(await exportOnce(new BoundedRequestExporter(inner), rm)).toEqual([{ code: ExportResultCode.SUCCESS }]);
    expect(inner.sent).toEqual([rm]);
  });

  it.each([40_000, 100_000, 200_000])('a bound of %d bytes: every request within it, every data point in exactly one', (max) => {
    const parts = splitResourceMetrics(rm, max);
    expect(parts.length).toBeGreaterThanOrEqual(Math.ceil(whole / max));
    for (const p of parts) expect(encodeMetricsExportRequest(p).length).toBeLessThanOrEqual(max);
    expect(parts.flatMap(points).sort()).toEqual(points(rm).sort());
    for (const p of parts) {
      // each request decodes to what it holds (the resource and scopes carried along)
      expect(points(toResourceMetrics(decodeMetricsRequest(Buffer.from(encodeMetricsExportRequest(p)))))).toEqual(points(p));
      expect(p.resource).toBe(rm.resource);
    }
  });

  it('the parts go out one after the other; the export succeeds when all do', async () => {
    const inner = new Recorder();
    const e = new BoundedRequestExporter(inner, 100_000);
    expect(await exportOnce(e, rm)).toEqual([{ code: ExportResultCode.SUCCESS }]);
    expect(inner.sent.length).toBe(splitResourceMetrics(rm, 100_000).length);
    expect(e.splits()).toEqual({ splitExports: 1, lastRequests: inner.sent.length });
  });

  it('a refused part fails the export once and the rest is not sent', async () => {
    const inner = new Recorder(1);
    const results = await exportOnce(new BoundedRequestExporter(inner, 100_000), rm);
    expect(results).toHaveLength(1);
    expect(results[0]!.code).toBe(ExportResultCode.FAILED);
    expect(inner.sent).toHaveLength(2);
  });

  it('a single data point larger than the bound is sent alone, as it is', () => {
    const parts = splitResourceMetrics(rm, 10);
    expect(parts).toHaveLength(points(rm).length);
    for (const p of parts) expect(points(p)).toHaveLength(1);
  });

  it('the transport serializes the bytes the size check encoded', () => {
    const fresh = fixture();
    expect(encodedMetricsRequest(fresh)).toBe(encodedMetricsRequest(fresh));
    expect(Buffer.from(encodedMetricsRequest(fresh)).equals(Buffer.from(encodeMetricsExportRequest(fresh)))).toBe(true);
  });
});

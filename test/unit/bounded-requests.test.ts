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

  /** Takes what the transport would send (the serializer's bytes, copied at export) and answers when told. */
  class HeldExporter extends Recorder {
    readonly bytes: Buffer[] = [];
    readonly views: Uint8Array[] = [];
    readonly answers: Array<(r: ExportResult) => void> = [];
    override export(rm: ResourceMetrics, cb: (r: ExportResult) => void): void {
      this.sent.push(rm);
      const v = encodedMetricsRequest(rm);
      this.views.push(v);
      this.bytes.push(Buffer.from(v));
      this.answers.push(cb);
    }
  }

  it('requests are written into one kept buffer, lent to one export at a time from encoding to result', () => {
    const inner = new HeldExporter();
    const e = new BoundedRequestExporter(inner);
    const [a, b, c, d] = [fixture(), fixture(), fixture(), fixture()];
    const results: ExportResult[] = [];
    e.export(a, (r) => results.push(r));
    const kept = inner.views[0]!.buffer;
    expect(e.requestBuffer.keptBytes).toBeGreaterThanOrEqual(whole);
    // a second export while the first is out: a buffer of its own, the first one's bytes untouched
    e.export(b, (r) => results.push(r));
    expect(inner.views[1]!.buffer).not.toBe(kept);
    // its result does not end the first export's loan
    inner.answers[1]!({ code: ExportResultCode.SUCCESS });
    e.export(c, (r) => results.push(r));
    expect(inner.views[2]!.buffer).not.toBe(kept);
    expect(Buffer.from(inner.views[0]!).equals(inner.bytes[0]!)).toBe(true);
    // the first export's result (here a failure) gives the buffer back: the next export is written into it
    inner.answers[0]!({ code: ExportResultCode.FAILED, error: new Error('refused') });
    e.export(d, (r) => results.push(r));
    expect(inner.views[3]!.buffer).toBe(kept);
    expect(results.map((r) => r.code)).toEqual([ExportResultCode.SUCCESS, ExportResultCode.FAILED]);
    // every request is what a new buffer would have held
    const expected = encodeMetricsExportRequest(fixture());
    for (const sent of inner.bytes) expect(sent.equals(Buffer.from(expected))).toBe(true);
    // a given-back request's bytes are not served again from the reused buffer
    expect(Buffer.from(encodedMetricsRequest(a)).equals(Buffer.from(expected))).toBe(true);
    expect(encodedMetricsRequest(a).buffer).not.toBe(kept);
  });

  it('a split export: one part in the kept buffer, every part sent as encoded', () => {
    const inner = new HeldExporter();
    const e = new BoundedRequestExporter(inner, 100_000);
    e.export(rm, () => undefined);
    // the parts go one after the other: answer each to send the next
    for (let i = 0; i < inner.answers.length; i++) inner.answers[i]!({ code: ExportResultCode.SUCCESS });
    const parts = splitResourceMetrics(rm, 100_000, (p) => encodeMetricsExportRequest(p));
    expect(inner.bytes).toHaveLength(parts.length);
    parts.forEach((p, i) => expect(inner.bytes[i]!.equals(Buffer.from(encodeMetricsExportRequest(p)))).toBe(true));
    expect(e.requestBuffer.keptBytes).toBeGreaterThan(0);
    expect(e.requestBuffer.keptBytes).toBeLessThanOrEqual(100_000);
    // the export over, the next one (a part-sized request) is written where exactly one of the parts was
    const [small] = splitResourceMetrics(fixture(), 100_000, (p) => encodeMetricsExportRequest(p));
    e.export(small!, () => undefined);
    expect(inner.views.slice(0, parts.length).filter((v) => v.buffer === inner.views.at(-1)!.buffer)).toHaveLength(1);
  });

  it('an encoding that throws part-way gives the kept buffer back', () => {
    let calls = 0;
    const inner = new HeldExporter();
    // the whole request and its first half (too large), that half's first half (into the kept buffer), then the next: throws
    const e = new BoundedRequestExporter(inner, 100_000, (rm, buffer) => {
      if (++calls === 4) throw new Error('encoder bug');
      return encodedMetricsRequest(rm, buffer);
    });
    expect(() => e.export(fixture(), () => undefined)).toThrow('encoder bug');
    expect(e.requestBuffer.keptBytes).toBeGreaterThan(0);
    const [small] = splitResourceMetrics(fixture(), 100_000, (p) => encodeMetricsExportRequest(p));
    e.export(small!, () => undefined);
    expect(inner.views[0]!.buffer.byteLength).toBe(e.requestBuffer.keptBytes); // written into the kept buffer
  });

  it('the transport serializes the bytes the size check encoded', () => {
    const fresh = fixture();
    expect(encodedMetricsRequest(fresh)).toBe(encodedMetricsRequest(fresh));
    expect(Buffer.from(encodedMetricsRequest(fresh)).equals(Buffer.from(encodeMetricsExportRequest(fresh)))).toBe(true);
  });
});

/**
 * Metrics export requests within a size bound.
 *
 * A collector refuses a gRPC request larger than its receive limit — 4 MiB unless configured
 * otherwise (the OpenTelemetry Collector's OTLP receiver, `max_recv_msg_size_mib`, and gRPC's own
 * default) — and the same request sent again is refused again: with cumulative values every export
 * of a node with many series would fail for as long as it has them. Seen in an hour of pod churn
 * (bench/manual/churn-memory.mjs): a 5.04 MB request refused for five minutes, the agent's memory up
 * to 962 MB meanwhile. So a request whose encoding exceeds the bound is cut into several, each with
 * part of the data points (every point in exactly one), sent one after the other; the export
 * succeeds when all of them do. A single data point larger than the bound is sent alone as it is.
 */
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import {
  AggregationTemporality, type InstrumentType, type MetricData, type PushMetricExporter, type ResourceMetrics, type ScopeMetrics,
} from '@opentelemetry/sdk-metrics';
import { encodeMetricsExportRequest } from './metric-encoder.js';

/** 4 MiB (the common receive limit) less room for the gRPC frame and the transport's own fields. */
export const MAX_METRICS_REQUEST_BYTES = 4 * 1024 * 1024 - 64 * 1024;

const encoded = new WeakMap<ResourceMetrics, Uint8Array>();

/**
 * The request for `rm`, encoded once (into `buffer(size)` when given: encodeMetricsExportRequest):
 * the size check and the transport's serializer (and its retries) share the bytes while `rm` lives.
 */
export function encodedMetricsRequest(rm: ResourceMetrics, buffer?: (size: number) => Buffer): Uint8Array {
  let bytes = encoded.get(rm);
  if (!bytes) {
    bytes = encodeMetricsExportRequest(rm, buffer);
    encoded.set(rm, bytes);
  }
  return bytes;
}

/**
 * The buffer requests are written into, kept from one export to the next.
 *
 * Why: a request is a few hundred KB (348,731 bytes for 50 lab pods) written every export interval.
 * A new buffer each time stayed until V8's next full collection (every 60-90 s of idle exports
 * there), and V8 does not count such ArrayBuffer memory towards starting one (docs/benchmark.md,
 * "Peak memory"). Kept, it is one buffer, however many exports.
 *
 * It is lent to one export at a time, from its encoding to its result: the transport and its
 * retries read the bytes until then. Another export meanwhile, the second and later parts of a
 * split request, and a request larger than `maxKept` get buffers of their own.
 */
export class RequestBuffer {
  private kept: Buffer | undefined;
  private holder: ResourceMetrics | undefined;

  constructor(private readonly maxKept: number) {}

  /** `size` bytes for `rm`'s request: the kept buffer (grown if needed) when no one holds it and `size` ≤ maxKept, else a new one */
  take(size: number, rm: ResourceMetrics): Buffer {
    if (this.holder !== undefined || size > this.maxKept) return Buffer.allocUnsafe(size);
    // room for the next exports' small growth (values take more varint bytes, a pod appears)
    if (!this.kept || this.kept.length < size) this.kept = Buffer.allocUnsafe(Math.min(this.maxKept, Math.ceil(size * 1.125)));
    this.holder = rm;
    return this.kept;
  }

  /** Ends the loan of the export whose requests were `parts` (when one of them holds the buffer): its bytes will be overwritten. */
  giveBack(parts: readonly ResourceMetrics[]): void {
    if (this.holder === undefined || !parts.includes(this.holder)) return;
    encoded.delete(this.holder);
    this.holder = undefined;
  }

  /** bytes of the kept buffer (0 before the first export) */
  get keptBytes(): number {
    return this.kept?.length ?? 0;
  }
}

function pointCount(rm: ResourceMetrics): number {
  let n = 0;
  for (const sm of rm.scopeMetrics) for (const m of sm.metrics) n += m.dataPoints.length;
  return n;
}

/** The first `n` data points of `rm` (in order) and the rest, as two ResourceMetrics. */
function cut(rm: ResourceMetrics, n: number): [ResourceMetrics, ResourceMetrics] {
  const head: ScopeMetrics[] = [];
  const tail: ScopeMetrics[] = [];
  let left = n;
  for (const sm of rm.scopeMetrics) {
    const h: MetricData[] = [];
    const t: MetricData[] = [];
    for (const m of sm.metrics) {
      const take = Math.min(left, m.dataPoints.length);
      left -= take;
      if (take > 0) h.push({ ...m, dataPoints: m.dataPoints.slice(0, take) } as MetricData);
      if (take < m.dataPoints.length) t.push({ ...m, dataPoints: m.dataPoints.slice(take) } as MetricData);
    }
    if (h.length) head.push({ scope: sm.scope, metrics: h });
    if (t.length) tail.push({ scope: sm.scope, metrics: t });
  }
  return [{ resource: rm.resource, scopeMetrics: head }, { resource: rm.resource, scopeMetrics: tail }];
}

/**
 * `rm` as requests of at most `maxBytes` encoded (halved by data points until each fits; a lone
 * point that does not fit stays alone). `rm` itself when it fits.
 */
export function splitResourceMetrics(rm: ResourceMetrics, maxBytes: number,
  encode: (rm: ResourceMetrics) => Uint8Array = encodedMetricsRequest): ResourceMetrics[] {
  if (encode(rm).length <= maxBytes) return [rm];
  const points = pointCount(rm);
  if (points <= 1) return [rm];
  const [a, b] = cut(rm, Math.ceil(points / 2));
  return [...splitResourceMetrics(a, maxBytes, encode), ...splitResourceMetrics(b, maxBytes, encode)];
}

/** Decorator: every export within `maxBytes` per request (see the file comment), written into a kept buffer (RequestBuffer). */
export class BoundedRequestExporter implements PushMetricExporter {
  /** exports that needed more than one request, and the requests of the last one */
  private splitExports = 0;
  private lastRequests = 1;
  readonly requestBuffer: RequestBuffer;

  constructor(private readonly inner: PushMetricExporter, private readonly maxBytes = MAX_METRICS_REQUEST_BYTES,
    private readonly encode: (rm: ResourceMetrics, buffer?: (size: number) => Buffer) => Uint8Array = encodedMetricsRequest) {
    this.requestBuffer = new RequestBuffer(maxBytes);
  }

  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    let parts: ResourceMetrics[];
    const encodedHere: ResourceMetrics[] = [];
    try {
      parts = splitResourceMetrics(metrics, this.maxBytes, (rm) => {
        encodedHere.push(rm);
        return this.encode(rm, (size) => this.requestBuffer.take(size, rm));
      });
    } catch (err) {
      this.requestBuffer.giveBack(encodedHere); // whichever of them took the kept buffer
      throw err;
    }
    this.lastRequests = parts.length;
    const done = (result: ExportResult): void => {
      this.requestBuffer.giveBack([metrics, ...parts]);
      resultCallback(result);
    };
    if (parts.length === 1) {
      this.inner.export(parts[0]!, done);
      return;
    }
    this.splitExports++;
    const next = (i: number): void => {
      if (i === parts.length) {
        done({ code: ExportResultCode.SUCCESS });
        return;
      }
      this.inner.export(parts[i]!, (result) => {
        if (result.code !== ExportResultCode.SUCCESS) {
          done(result); // the rest is not sent: cumulative values, the next export carries them
          return;
        }
        next(i + 1);
      });
    };
    next(0);
  }

  /** How many exports were split, and into how many requests the last export went. */
  splits(): { splitExports: number; lastRequests: number } {
    return { splitExports: this.splitExports, lastRequests: this.lastRequests };
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  selectAggregationTemporality(instrumentType: InstrumentType): AggregationTemporality {
    return this.inner.selectAggregationTemporality?.(instrumentType) ?? AggregationTemporality.CUMULATIVE;
  }
}

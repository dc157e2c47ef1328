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
 * The request for `rm`, encoded once: the size check and the transport's serializer (and its
 * retries) share the bytes while `rm` lives.
 */
export function encodedMetricsRequest(rm: ResourceMetrics): Uint8Array {
  let bytes = encoded.get(rm);
  if (!bytes) {
    bytes = encodeMetricsExportRequest(rm);
    encoded.set(rm, bytes);
  }
  return bytes;
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

/** Decorator: every export within `maxBytes` per request (see the file comment). */
export class BoundedRequestExporter implements PushMetricExporter {
  /** exports that needed more than one request, and the requests of the last one */
  private splitExports = 0;
  private lastRequests = 1;

  constructor(private readonly inner: PushMetricExporter, private readonly maxBytes = MAX_METRICS_REQUEST_BYTES,
    private readonly encode: (rm: ResourceMetrics) => Uint8Array = encodedMetricsRequest) {}

  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    const parts = splitResourceMetrics(metrics, this.maxBytes, this.encode);
    this.lastRequests = parts.length;
    if (parts.length === 1) {
      this.inner.export(parts[0]!, resultCallback);
      return;
    }
    this.splitExports++;
    const next = (i: number): void => {
      if (i === parts.length) {
        resultCallback({ code: ExportResultCode.SUCCESS });
        return;
      }
      this.inner.export(parts[i]!, (result) => {
        if (result.code !== ExportResultCode.SUCCESS) {
          resultCallback(result); // the rest is not sent: cumulative values, the next export carries them
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

/**
 * The agent's metrics pipeline: MeterProvider → PeriodicExportingMetricReader →
 * CountingExporter (counts, rate-limited logs) → OTLP exporter (gRPC or http/protobuf), and/or
 * the Prometheus reader behind the agent's own `/metrics` (src/export/prometheus.ts).
 * Knows no probe: probes get `meter` and register their instruments on it.
 *
 * - Cumulative temporality for every instrument (DESIGN.md decision 5): an outage loses
 *   resolution, never totals — the next successful export carries the whole count.
 * - An explicit cardinality limit on every instrument (reader-level `cardinalityLimits.default`,
 *   sdk-metrics 2.x); series beyond it fold into one `otel.metric.overflow=true` series.
 * - One collection of the metric producers (the agent's kernel counters) per interval, whatever
 *   the readers: the OTLP reader's periodic collection (or, without OTLP, the pipeline's own timer
 *   on the same interval) reads the maps, and a scrape of `/metrics` gets that latest collection.
 *   Both ways out carry the same values, map reads do not double with a second reader, and the
 *   agent's schedule (health, series TTLs, DNS timeouts) does not depend on when Prometheus scrapes.
 * - No OTel globals: the provider is private to this pipeline.
 */
import type { Meter } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { OTLPMetricExporter as GrpcMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
// the module itself, not the package's index, which loads its http exporter too
import { OTLPMetricExporterBase } from '@opentelemetry/exporter-metrics-otlp-http/build/src/OTLPMetricExporterBase.js';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http';
import { MetricsExporterMetricsHelper, ProtobufMetricsSerializer, type ISerializer } from '@opentelemetry/otlp-transformer';
import type { Resource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  MeterProvider,
  PeriodicExportingMetricReader,
  type CollectionResult,
  type InstrumentType,
  type MetricCollectOptions,
  type MetricProducer,
  type MetricReader,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import type { Logger } from '../log.js';
import { METER_NAME } from '../names.js';
import { BoundedRequestExporter, encodedMetricsRequest } from './bounded-requests.js';
import { METRICS_EXPORT_PATH, createGrpcExportDelegate } from './grpc-transport.js';
import { httpExporterOptions } from './otlp-exporter-options.js';
import type { OtlpSettings } from './otlp-settings.js';
import { PrometheusMetrics } from './prometheus.js';
import { packageVersion } from './resource.js';

export interface ExportStats {
  exportsOk: number;
  exportsFailed: number;
  /** Failures since the last success (0 when the collector is reachable). */
  consecutiveFailures: number;
  lastError?: string;
  /** Date.now() of the last successful export. */
  lastSuccessAt?: number;
}

export interface MetricsPipeline {
  readonly meter: Meter;
  /** Collects and exports now; resolves after an export of values collected after this call. */
  forceFlush(): Promise<void>;
  /** Flushes, then shuts the provider and exporter down; bounded by `shutdownTimeoutMs`. Idempotent. */
  shutdown(): Promise<void>;
  stats(): ExportStats;
  /** What `/metrics` serves (src/export/prometheus.ts PrometheusServer); undefined unless `prometheus` was asked for. */
  readonly prometheus: PrometheusMetrics | undefined;
}

export interface MetricsPipelineOptions {
  /** OTLP settings; `intervalMs` is also the collection interval without OTLP. */
  settings: OtlpSettings;
  /** Export over OTLP. Default true; false: no OTLP exporter at all (Prometheus alone). */
  otlp?: boolean;
  /** Also keep the latest collection for Prometheus scrapes (`prometheus` of the pipeline). Default false. */
  prometheus?: boolean;
  resource: Resource;
  logger: Logger;
  /** Maximum series per instrument (every instrument type). */
  cardinalityLimit: number;
  /** Bound on shutdown (flush included). Default: settings.exportTimeoutMs + 1 s. */
  shutdownTimeoutMs?: number;
  /** Minimum time between two export-failure log lines. Default 60 s. */
  failureLogIntervalMs?: number;
  /** For tests: replaces the OTLP exporter built from `settings`. */
  exporter?: PushMetricExporter;
  /** Extra sources of metric data (e.g. the agent's SeriesProducer of kernel counters). */
  metricProducers?: MetricProducer[];
}

export function createMetricsPipeline(opts: MetricsPipelineOptions): MetricsPipeline {
  const { settings, resource, cardinalityLimit } = opts;
  if (!Number.isSafeInteger(cardinalityLimit) || cardinalityLimit < 1) {
    throw new RangeError(`cardinalityLimit must be a positive integer, got ${cardinalityLimit}`);
  }
  const otlp = opts.otlp ?? true;
  if (!otlp && !opts.prometheus) throw new Error('a metrics pipeline needs OTLP export, Prometheus or both');
  const logger = opts.logger.child({ component: 'otlp-metrics' });
  const shared = (opts.metricProducers ?? []).map((p) => new SharedCollection(p));
  const readers: MetricReader[] = [];
  let exporter: CountingExporter | undefined;
  if (otlp) {
    exporter = new CountingExporter(opts.exporter ?? createOtlpExporter(settings), logger, opts.failureLogIntervalMs ?? 60_000);
    readers.push(new PeriodicExportingMetricReader({
      exporter,
      exportIntervalMillis: settings.intervalMs,
      exportTimeoutMillis: settings.exportTimeoutMs,
      cardinalityLimits: { default: cardinalityLimit },
      metricProducers: shared.map((s) => s.fresh),
    }));
  }
  const prometheus = opts.prometheus ? new PrometheusMetrics({ metricProducers: shared.map((s) => s.latest) }) : undefined;
  if (prometheus) readers.push(prometheus.reader);
  const provider = new MeterProvider({ resource, readers });
  const meter = provider.getMeter(METER_NAME, packageVersion());
  const collectAll = async (): Promise<void> => { await Promise.all(shared.map((s) => s.fresh.collect())); };
  let timer: NodeJS.Timeout | undefined;
  if (otlp) {
    logger.info({ protocol: settings.protocol, endpoint: settings.endpoint, intervalMs: settings.intervalMs,
      compression: settings.compression, tls: settings.tls !== undefined, cardinalityLimit, prometheus: prometheus !== undefined }, 'OTLP metrics pipeline ready');
  } else {
    // no periodic reader: the pipeline's own timer reads the producers on the export interval
    timer = setInterval(() => void collectAll().catch(() => undefined), settings.intervalMs);
    timer.unref();
    logger.info({ intervalMs: settings.intervalMs, cardinalityLimit }, 'metrics pipeline ready for Prometheus only (no OTLP export)');
  }

  const shutdownTimeoutMs = opts.shutdownTimeoutMs ?? settings.exportTimeoutMs + 1_000;
  let shutdownPromise: Promise<void> | undefined;

  return {
    meter,
    prometheus,
    async forceFlush() {
      if (shutdownPromise) return;
      if (!otlp) {
        await collectAll();
        return;
      }
      // The reader's forceFlush only awaits an export already in flight (its values may predate
      // this call); a second flush then collects afresh, or awaits a periodic run that started
      // after the first flush — either way values recorded before this call are exported.
      await provider.forceFlush({ timeoutMillis: settings.exportTimeoutMs });
      await provider.forceFlush({ timeoutMillis: settings.exportTimeoutMs });
    },
    shutdown() {
      shutdownPromise ??= (async () => {
        clearInterval(timer);
        let deadlineTimer: NodeJS.Timeout | undefined;
        const deadline = new Promise<'timeout'>((resolve) => {
          deadlineTimer = setTimeout(() => resolve('timeout'), shutdownTimeoutMs);
          deadlineTimer.unref();
        });
        try {
          // MeterProvider.shutdown → reader.onShutdown: stop the timer, flush, shut the exporter down.
          const r = await Promise.race([provider.shutdown({ timeoutMillis: shutdownTimeoutMs }).then(() => 'done' as const), deadline]);
          if (r === 'timeout') logger.warn({ shutdownTimeoutMs }, 'metrics pipeline shutdown timed out; last values may be lost');
        } catch (err) {
          logger.warn({ err: errorText(err) }, 'metrics pipeline shutdown failed');
        } finally {
          clearTimeout(deadlineTimer);
        }
        logger.info(stats(), 'metrics pipeline stopped');
      })();
      return shutdownPromise;
    },
    stats,
  };

  function stats(): ExportStats {
    return exporter?.stats() ?? { exportsOk: 0, exportsFailed: 0, consecutiveFailures: 0 };
  }
}

/**
 * One producer read once per collection, seen by every reader: `fresh` reads it (the OTLP
 * reader's periodic collection, or the pipeline's timer), `latest` returns what the last read
 * returned (a first read if there was none yet) — what a Prometheus scrape gets.
 */
export class SharedCollection {
  private last: Promise<CollectionResult> | undefined;

  constructor(private readonly inner: MetricProducer) {}

  readonly fresh: MetricProducer = {
    collect: (options?: MetricCollectOptions) => this.read(options),
  };

  readonly latest: MetricProducer = {
    collect: (options?: MetricCollectOptions) => this.last ?? this.read(options),
  };

  private read(options?: MetricCollectOptions): Promise<CollectionResult> {
    const p = this.inner.collect(options);
    this.last = p;
    // a failed read is not kept: the next scrape reads again
    p.catch(() => { if (this.last === p) this.last = undefined; });
    return p;
  }
}

type MetricExporterConfig = NonNullable<ConstructorParameters<typeof GrpcMetricExporter>[0]>;

/**
 * The upstream OTLP metric exporters' base (OTLPMetricExporterBase over an export delegate:
 * temporality selection, timeouts, the concurrency limit, partial success), with metric-encoder.ts
 * writing the request (the same bytes, at a fraction of the CPU) and, for gRPC, grpc-transport.ts
 * carrying it (no copies of the request; http/protobuf: the upstream transport, with its retries).
 */
const METRICS_SERIALIZER: ISerializer<ResourceMetrics, ReturnType<typeof ProtobufMetricsSerializer.deserializeResponse>> = {
  serializeRequest: (metrics) => encodedMetricsRequest(metrics),
  deserializeResponse: (bytes) => ProtobufMetricsSerializer.deserializeResponse(bytes),
};

/**
 * Builds the OTLP metrics exporter for `settings` (the transports shared with the event log
 * exporter: grpc-transport.ts, otlp-exporter-options.ts), its requests within MAX_METRICS_REQUEST_BYTES
 * (bounded-requests.ts).
 */
export function createOtlpExporter(settings: OtlpSettings): PushMetricExporter {
  return new BoundedRequestExporter(createTransportExporter(settings));
}

function createTransportExporter(settings: OtlpSettings): PushMetricExporter {
  const temporality: Pick<MetricExporterConfig, 'temporalityPreference'> = { temporalityPreference: AggregationTemporality.CUMULATIVE };
  if (settings.protocol === 'grpc') {
    return new OTLPMetricExporterBase(createGrpcExportDelegate(settings, METRICS_SERIALIZER,
      { path: METRICS_EXPORT_PATH, componentType: 'otlp_grpc_metric_exporter', metricsHelper: MetricsExporterMetricsHelper }), temporality);
  }
  return new OTLPMetricExporterBase(createOtlpHttpExportDelegate(
    convertLegacyHttpOptions(httpExporterOptions(settings), 'METRICS', 'v1/metrics', { 'Content-Type': 'application/x-protobuf' }),
    METRICS_SERIALIZER, 'otlp_http_metric_exporter', MetricsExporterMetricsHelper, undefined), temporality);
}

/**
 * Decorator: counts export results and logs failures at a limited rate (first failure at once,
 * then one line per interval with the number of failures in between, and one line on recovery).
 * Forces cumulative temporality whatever the inner exporter prefers.
 */
export class CountingExporter implements PushMetricExporter {
  private ok = 0;
  private failed = 0;
  private consecutive = 0;
  private lastError: string | undefined;
  private lastSuccessAt: number | undefined;
  private lastLogAt = -Infinity;
  private suppressed = 0;

  constructor(
    private readonly inner: PushMetricExporter,
    private readonly logger: Logger,
    private readonly logIntervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    let settled = false;
    const done = (result: ExportResult): void => {
      if (settled) return;
      settled = true;
      this.count(result);
      resultCallback(result);
    };
    try {
      this.inner.export(metrics, done);
    } catch (err) {
      done({ code: ExportResultCode.FAILED, error: err instanceof Error ? err : new Error(String(err)) });
    }
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  selectAggregationTemporality(_instrumentType: InstrumentType): AggregationTemporality {
    return AggregationTemporality.CUMULATIVE;
  }

  stats(): ExportStats {
    return {
      exportsOk: this.ok,
      exportsFailed: this.failed,
      consecutiveFailures: this.consecutive,
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
      ...(this.lastSuccessAt !== undefined ? { lastSuccessAt: this.lastSuccessAt } : {}),
    };
  }

  private count(result: ExportResult): void {
    const now = this.now();
    if (result.code === ExportResultCode.SUCCESS) {
      this.ok++;
      this.lastSuccessAt = now;
      if (this.consecutive > 0) {
        this.logger.info({ failedExports: this.consecutive }, 'OTLP metrics export recovered');
        this.lastLogAt = -Infinity;
        this.suppressed = 0;
      }
      this.consecutive = 0;
      return;
    }
    this.failed++;
    this.consecutive++;
    this.lastError = errorText(result.error);
    if (now - this.lastLogAt >= this.logIntervalMs) {
      this.logger.warn({ err: this.lastError, consecutiveFailures: this.consecutive, suppressed: this.suppressed },
        'OTLP metrics export failed (cumulative values: totals are sent on the next success)');
      this.lastLogAt = now;
      this.suppressed = 0;
    } else {
      this.suppressed++;
    }
  }
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return err === undefined ? 'unknown error' : String(err);
}


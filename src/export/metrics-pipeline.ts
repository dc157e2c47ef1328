/**
 * The agent's OTLP metrics pipeline: MeterProvider → PeriodicExportingMetricReader →
 * CountingExporter (counts, rate-limited logs) → OTLP exporter (gRPC or http/protobuf).
 * Knows no probe: probes get `meter` and register their instruments on it.
 *
 * - Cumulative temporality for every instrument (DESIGN.md decision 5): an outage loses
 *   resolution, never totals — the next successful export carries the whole count.
 * - An explicit cardinality limit on every instrument (reader-level `cardinalityLimits.default`,
 *   sdk-metrics 2.x); series beyond it fold into one `otel.metric.overflow=true` series.
 * - No OTel globals: the provider is private to this pipeline.
 */
import type { Meter } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPMetricExporter as GrpcMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import type { Resource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  MeterProvider,
  PeriodicExportingMetricReader,
  type InstrumentType,
  type MetricProducer,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import type { Logger } from '../log.js';
import { METER_NAME } from '../names.js';
import { grpcExporterOptions, httpExporterOptions } from './otlp-exporter-options.js';
import type { OtlpSettings } from './otlp-settings.js';
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
}

export interface MetricsPipelineOptions {
  settings: OtlpSettings;
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
  const logger = opts.logger.child({ component: 'otlp-metrics' });
  const inner = opts.exporter ?? createOtlpExporter(settings);
  const exporter = new CountingExporter(inner, logger, opts.failureLogIntervalMs ?? 60_000);
  const reader = new PeriodicExportingMetricReader({
    exporter,
    exportIntervalMillis: settings.intervalMs,
    exportTimeoutMillis: settings.exportTimeoutMs,
    cardinalityLimits: { default: cardinalityLimit },
    metricProducers: opts.metricProducers,
  });
  const provider = new MeterProvider({ resource, readers: [reader] });
  const meter = provider.getMeter(METER_NAME, packageVersion());
  logger.info({ protocol: settings.protocol, endpoint: settings.endpoint, intervalMs: settings.intervalMs,
    compression: settings.compression, tls: settings.tls !== undefined, cardinalityLimit }, 'OTLP metrics pipeline ready');

  const shutdownTimeoutMs = opts.shutdownTimeoutMs ?? settings.exportTimeoutMs + 1_000;
  let shutdownPromise: Promise<void> | undefined;

  return {
    meter,
    async forceFlush() {
      if (shutdownPromise) return;
      // The reader's forceFlush only awaits an export already in flight (its values may predate
      // this call); a second flush then collects afresh, or awaits a periodic run that started
      // after the first flush — either way values recorded before this call are exported.
      await provider.forceFlush({ timeoutMillis: settings.exportTimeoutMs });
      await provider.forceFlush({ timeoutMillis: settings.exportTimeoutMs });
    },
    shutdown() {
      shutdownPromise ??= (async () => {
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), shutdownTimeoutMs);
          timer.unref();
        });
        try {
          // MeterProvider.shutdown → reader.onShutdown: stop the timer, flush, shut the exporter down.
          const r = await Promise.race([provider.shutdown({ timeoutMillis: shutdownTimeoutMs }).then(() => 'done' as const), deadline]);
          if (r === 'timeout') logger.warn({ shutdownTimeoutMs }, 'metrics pipeline shutdown timed out; last values may be lost');
        } catch (err) {
          logger.warn({ err: errorText(err) }, 'metrics pipeline shutdown failed');
        } finally {
          clearTimeout(timer);
        }
        logger.info(exporter.stats(), 'metrics pipeline stopped');
      })();
      return shutdownPromise;
    },
    stats: () => exporter.stats(),
  };
}

/**
 * Builds the OTLP metrics exporter for `settings` (transport options shared with the event log
 * exporter: see otlp-exporter-options.ts).
 */
export function createOtlpExporter(settings: OtlpSettings): PushMetricExporter {
  const temporalityPreference = AggregationTemporality.CUMULATIVE;
  if (settings.protocol === 'grpc') return new GrpcMetricExporter({ ...grpcExporterOptions(settings), temporalityPreference });
  return new ProtoMetricExporter({ ...httpExporterOptions(settings), temporalityPreference });
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


/**
 * Drop and flow events → OTLP log records, with delivery that survives a collector restart.
 *
 * The upstream JS log exporters have no queue, and the gRPC one no retry (DESIGN.md decision 7).
 * EventLogExporter keeps published events in a bounded in-memory queue and one sender loop sends
 * them in batches, oldest first, with at most `maxInFlight` exports in flight (1 unless asked; the
 * agent's default is in the config schema, events.export.maxInFlight). With one in flight the export
 * rate is one batch per round trip, which a burst of flow records can outrun; several overlap the
 * round trips (the collector may then take batches in another order than they were sent).
 *
 * - A batch that fails is kept in the queue, in its place, and retried after an exponential backoff
 *   with jitter; no new batch is sent meanwhile (those already in flight finish), and batches are
 *   sent again oldest first, so nothing is sent twice by us (a retried batch may reach the collector
 *   twice if it had accepted the first attempt: at-least-once). With one export in flight the order
 *   is kept exactly; with more, a retried batch arrives after younger ones that succeeded.
 * - A batch the collector refuses as malformed (gRPC INVALID_ARGUMENT, HTTP 400) cannot succeed
 *   on retry: it is dropped and counted as lost (export_rejected). A batch refused as too large
 *   (HTTP 413, gRPC RESOURCE_EXHAUSTED "larger than max") is split instead, until single events.
 * - When the queue is full, the oldest events that are not in flight are dropped and counted as
 *   lost (queue_full): after an outage the newest events are the ones delivered.
 * - A batch split because it was too large stays in its place as several smaller batches.
 *
 * Every published event ends in exactly one of: exported, lost.queue_full, lost.export_rejected,
 * unsent (still queued at shutdown), or is still queued — `stats()` adds up.
 *
 * Memory is bounded by `maxQueue` events (a fixed-size ring plus the batches taken from it, counted together);
 * records are built per batch at send time. Timers are unref'd; no promise chains grow.
 */
import { RateLimitedLog } from '../agent/rate-limited.js';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http';
import { LogsExporterMetricsHelper, ProtobufLogsSerializer, type ISerializer } from '@opentelemetry/otlp-transformer';
import type { Resource } from '@opentelemetry/resources';
import type { LogRecordExporter, ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { EventSink, NetworkEvent } from '../events/types.js';
import type { Logger } from '../log.js';
import { EVENT_LOSS_STAGE } from '../names.js';
import { encodeLogsExportRequest } from './log-encoder.js';
import { eventToLogRecord } from './log-records.js';
import { GRPC_STATUS, LOGS_EXPORT_PATH, createGrpcExportDelegate } from './grpc-transport.js';
import { httpExporterOptions } from './otlp-exporter-options.js';
import type { OtlpSettings } from './otlp-settings.js';

export const EVENT_EXPORT_DEFAULTS = {
  maxQueue: 10_000,
  maxBatch: 512,
  maxInFlight: 1,
  lingerMs: 200,
  initialBackoffMs: 1_000,
  maxBackoffMs: 30_000,
  /** Backoff delays are drawn from [(1 - jitter) × d, d]. */
  jitter: 0.2,
  failureLogIntervalMs: 60_000,
  shutdownTimeoutMs: 10_000,
} as const;

export interface EventLogExporterOptions {
  exporter: LogRecordExporter;
  resource: Resource;
  logger: Logger;
  /** Events held at most (queued + the batch in flight). Default 10 000. */
  maxQueue?: number;
  /** Events per export at most (clamped to maxQueue). Default 512. */
  maxBatch?: number;
  /** Exports in flight at once at most (each its own batch). Default 1. */
  maxInFlight?: number;
  /** How long a partial batch waits for more events before it is sent. Default 200 ms; 0 = at once. */
  lingerMs?: number;
  /** First retry delay after a failed export, doubled per failure up to maxBackoffMs. Default 1 s. */
  initialBackoffMs?: number;
  /** Default 30 s. */
  maxBackoffMs?: number;
  /**
   * Bound on one export call: past it the export counts as failed and the batch is retried (the
   * upstream exporters bound their own calls by their timeout; this only guards against a call
   * that never reports). Default 30 s.
   */
  exportTimeoutMs?: number;
  /** Minimum time between two log lines about failures or full-queue drops. Default 60 s. */
  failureLogIntervalMs?: number;
  /** For tests. */
  now?: () => number;
  random?: () => number;
}

type LossStage = typeof EVENT_LOSS_STAGE.queueFull | typeof EVENT_LOSS_STAGE.exportRejected;

export interface EventExportStats {
  /** Events handed to publish(). */
  published: number;
  /** Events the collector accepted. */
  exported: number;
  /** Events waiting now, the batches in flight included. */
  queued: number;
  lost: Record<LossStage, number>;
  /** Events still queued when shutdown ended (or published after it began). */
  unsent: number;
  exportsOk: number;
  exportsFailed: number;
  /** Failed exports since the last success that will be retried (the collector unreachable or failing). */
  consecutiveFailures: number;
  lastError?: string;
}

/** What an export failure means for its batch. */
export type ExportErrorClass = 'retry' | 'reject' | 'too_large';

/**
 * Classifies the error of a failed export, as the 0.2xx OTLP exporters report it:
 * - gRPC: the GrpcStatusError of the call (grpc-transport.ts; `code`: a gRPC status number 0–16,
 *   `details`, as grpc-js's ServiceError has them); no retry in the transport. INVALID_ARGUMENT → reject; RESOURCE_EXHAUSTED because the message is over
 *   the server's size limit → too_large; everything else (UNAVAILABLE, DEADLINE_EXCEEDED,
 *   UNAUTHENTICATED ...) → retry.
 * - http/protobuf: the upstream transport already retried 429/502/503/504 and network errors
 *   within its timeout, then reports `OTLPExporterError('Export failed with retryable status')`
 *   (no code) or the network error (string `code`, e.g. ECONNREFUSED) → retry. Other statuses are
 *   an OTLPExporterError whose `code` is the HTTP status: 400 → reject, 413 → too_large, others
 *   (401, 403, 404, 500 ...) → retry: they are configuration or server problems that an operator
 *   can fix while the queue holds the newest events.
 * - Anything else (a timeout of ours, "Concurrent export limit reached") → retry.
 */
export function classifyExportError(err: unknown): ExportErrorClass {
  if (typeof err !== 'object' || err === null) return 'retry';
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'number') return 'retry';
  if ((err as { name?: unknown }).name === 'OTLPExporterError') {
    if (code === 400) return 'reject';
    if (code === 413) return 'too_large';
    return 'retry';
  }
  if (code === GRPC_STATUS.INVALID_ARGUMENT) return 'reject';
  if (code === GRPC_STATUS.RESOURCE_EXHAUSTED && /larger than max|too large/i.test(errorText(err))) return 'too_large';
  return 'retry';
}

/**
 * The upstream OTLP log exporters' base (OTLPExporterBase over an export delegate), with
 * log-encoder.ts writing the request: the same bytes, at a fraction of the CPU.
 */
const LOGS_SERIALIZER: ISerializer<ReadableLogRecord[], ReturnType<typeof ProtobufLogsSerializer.deserializeResponse>> = {
  serializeRequest: (records) => encodeLogsExportRequest(records),
  deserializeResponse: (bytes) => ProtobufLogsSerializer.deserializeResponse(bytes),
};

/**
 * Builds the OTLP log exporter for `settings`: gRPC over grpc-transport.ts (metadata, TLS,
 * compression), or the upstream http/protobuf transport (headers and TLS agent options; see
 * otlp-exporter-options.ts). Resolve the settings with `resolveOtlpSettings(env, overrides, 'logs')`.
 */
export function createOtlpLogExporter(settings: OtlpSettings): LogRecordExporter {
  if (settings.protocol === 'grpc') {
    return new OTLPExporterBase(createGrpcExportDelegate(settings, LOGS_SERIALIZER,
      { path: LOGS_EXPORT_PATH, componentType: 'otlp_grpc_log_exporter', metricsHelper: LogsExporterMetricsHelper }));
  }
  return new OTLPExporterBase(createOtlpHttpExportDelegate(
    convertLegacyHttpOptions(httpExporterOptions(settings), 'LOGS', 'v1/logs', { 'Content-Type': 'application/x-protobuf' }),
    LOGS_SERIALIZER, 'otlp_http_log_exporter', LogsExporterMetricsHelper, undefined));
}

export interface CreateEventLogExporterOptions extends Omit<EventLogExporterOptions, 'exporter'> {
  settings: OtlpSettings;
  /** For tests: replaces the OTLP exporter built from `settings`. */
  exporter?: LogRecordExporter;
}

/** The agent's event exporter: the OTLP log exporter for `settings` behind the queue. */
export function createEventLogExporter(opts: CreateEventLogExporterOptions): EventLogExporter {
  const { settings, exporter, ...rest } = opts;
  const logger = opts.logger.child({ component: 'otlp-events' });
  logger.info({ protocol: settings.protocol, endpoint: settings.endpoint, compression: settings.compression,
    tls: settings.tls !== undefined }, 'OTLP event exporter ready');
  return new EventLogExporter({
    // Past the exporter's own timeout (the http transport's retries included) with a margin.
    exportTimeoutMs: 2 * settings.timeoutMs + 1_000,
    ...rest,
    logger,
    exporter: exporter ?? createOtlpLogExporter(settings),
  });
}

/**
 * The bounded, retrying queue (see the file comment). Also fits the event stage's EventOutput
 * (src/events/pipeline.ts): `name`, `stats()`, `close(timeoutMs)`.
 */
export class EventLogExporter implements EventSink {
  readonly name = 'otlp';
  private readonly exporter: LogRecordExporter;
  private readonly resource: Resource;
  private readonly logger: Logger;
  private readonly maxQueue: number;
  private readonly maxBatch: number;
  private readonly lingerMs: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly exportTimeoutMs: number;
  private readonly now: () => number;
  private readonly random: () => number;

  // The ring: the newest `len` published events not taken into a batch (sequence numbers published-len+1 .. published).
  private readonly ring: (NetworkEvent | undefined)[];
  private readonly ringObserved: Float64Array;
  private head = 0;
  private len = 0;
  /** Batches taken from the ring, oldest first: in flight, or waiting to be sent (again). All older than the ring's events. */
  private batches: Batch[] = [];
  /** Events in `batches` not settled yet (Σ length − off). */
  private batched = 0;
  private inFlight = 0;
  private readonly maxInFlight: number;
  /** Events per export now (maxBatch, halved when the collector says a batch is too large). */
  private batchLimit: number;

  /** Identifies an export in flight; a result for another token is stale and ignored. */
  private token = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerKind: 'linger' | 'backoff' | undefined;
  private attempt = 0;
  private closing = false;
  private stopped = false;
  private shutdownPromise: Promise<void> | undefined;
  private waiters: { target: number; resolve: (drained: boolean) => void }[] = [];

  private published = 0;
  private exported = 0;
  private readonly lost: Record<LossStage, number> = { queue_full: 0, export_rejected: 0 };
  private unsent = 0;
  private exportsOk = 0;
  private exportsFailed = 0;
  private consecutiveFailures = 0;
  private lastError: string | undefined;
  /** rate-limited warnings, keyed 'failure', 'queue_full', 'rejected' */
  private readonly logs: RateLimitedLog;

  constructor(opts: EventLogExporterOptions) {
    this.exporter = opts.exporter;
    this.resource = opts.resource;
    this.logger = opts.logger;
    const d = EVENT_EXPORT_DEFAULTS;
    this.maxQueue = positiveInt('maxQueue', opts.maxQueue ?? d.maxQueue);
    this.maxBatch = Math.min(positiveInt('maxBatch', opts.maxBatch ?? d.maxBatch), this.maxQueue);
    this.maxInFlight = positiveInt('maxInFlight', opts.maxInFlight ?? d.maxInFlight);
    this.lingerMs = nonNegative('lingerMs', opts.lingerMs ?? d.lingerMs);
    this.initialBackoffMs = nonNegative('initialBackoffMs', opts.initialBackoffMs ?? d.initialBackoffMs);
    this.maxBackoffMs = Math.max(this.initialBackoffMs, nonNegative('maxBackoffMs', opts.maxBackoffMs ?? d.maxBackoffMs));
    this.exportTimeoutMs = positiveInt('exportTimeoutMs', opts.exportTimeoutMs ?? 30_000);
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.batchLimit = this.maxBatch;
    this.ring = new Array<NetworkEvent | undefined>(this.maxQueue);
    this.ringObserved = new Float64Array(this.maxQueue);
    const logEvery = opts.failureLogIntervalMs ?? d.failureLogIntervalMs;
    this.logs = new RateLimitedLog(this.logger, logEvery, this.now);
  }

  /** Queues events for export; never throws, never blocks (see the class comment for a full queue). */
  publish(events: readonly NetworkEvent[]): void {
    if (events.length === 0) return;
    if (this.closing) {
      this.published += events.length;
      this.unsent += events.length;
      return;
    }
    const observed = this.now();
    let dropped = 0;
    for (const e of events) {
      this.published++;
      if (this.len + this.batched >= this.maxQueue) {
        dropped++;
        const waiting = this.batches.find((b) => b.token === 0);
        if (waiting) {
          waiting.off++;
          this.batched--;
          if (waiting.off >= waiting.events.length) this.removeBatch(waiting);
        } else if (this.len > 0) {
          this.ring[this.head] = undefined;
          this.head = (this.head + 1) % this.maxQueue;
          this.len--;
        } else {
          continue; // the batches in flight fill the bound: this event is the oldest not in flight
        }
      }
      const tail = (this.head + this.len) % this.maxQueue;
      this.ring[tail] = e;
      this.ringObserved[tail] = observed;
      this.len++;
    }
    if (dropped > 0) {
      this.lost.queue_full += dropped;
      this.logs.note('queue_full', dropped, (n) => this.logger.warn({ dropped: n, maxQueue: this.maxQueue, lastError: this.lastError },
        'event export queue full: oldest events dropped (counted as lost, stage queue_full)'));
      this.settleWaiters();
    }
    this.pump();
  }

  /**
   * Sends what is queued now, without waiting for the linger or a backoff in progress. Resolves
   * true once every event published before the call is exported or counted lost, false when
   * `timeoutMs` passes first (or on shutdown).
   */
  forceFlush(timeoutMs: number = EVENT_EXPORT_DEFAULTS.shutdownTimeoutMs): Promise<boolean> {
    const target = this.published;
    if (this.stopped) return Promise.resolve(false);
    if (this.oldestOutstanding() > target) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      timer.unref();
      const waiter = { target, resolve: (drained: boolean) => { clearTimeout(timer); resolve(drained); } };
      this.waiters.push(waiter);
      if (this.timerKind !== undefined) this.clearTimer();
      this.pump();
    });
  }

  /**
   * Flushes (bounded by `timeoutMs`), then stops the loop and shuts the exporter down. What is still
   * queued then is counted as `unsent` and logged. Idempotent.
   */
  shutdown(timeoutMs: number = EVENT_EXPORT_DEFAULTS.shutdownTimeoutMs): Promise<void> {
    this.shutdownPromise ??= (async () => {
      const deadline = this.now() + timeoutMs;
      this.closing = true;
      await this.forceFlush(timeoutMs);
      this.stopped = true;
      this.clearTimer();
      const left = this.len + this.batched;
      this.unsent += left;
      this.ring.fill(undefined);
      this.len = 0;
      for (const b of this.batches) { clearTimeout(b.watchdog); b.token = 0; } // their answers are stale now
      this.batches = [];
      this.batched = 0;
      this.inFlight = 0;
      for (const w of this.waiters.splice(0)) w.resolve(false);
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          this.exporter.shutdown(),
          new Promise<void>((resolve) => { timer = setTimeout(resolve, Math.max(0, deadline - this.now())); timer.unref(); }),
        ]);
      } catch (err) {
        this.logger.warn({ err: errorText(err) }, 'event exporter shutdown failed');
      } finally {
        clearTimeout(timer);
      }
      if (left > 0) this.logger.warn({ unsent: left, lastError: this.lastError }, 'events still queued at shutdown were not sent');
      this.logger.info(this.stats(), 'event exporter stopped');
    })();
    return this.shutdownPromise;
  }

  /** shutdown(timeoutMs), under the event stage's name for it. */
  close(timeoutMs: number): Promise<void> {
    return this.shutdown(timeoutMs);
  }

  stats(): EventExportStats {
    return {
      published: this.published,
      exported: this.exported,
      queued: this.len + this.batched,
      lost: { ...this.lost },
      unsent: this.unsent,
      exportsOk: this.exportsOk,
      exportsFailed: this.exportsFailed,
      consecutiveFailures: this.consecutiveFailures,
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
    };
  }

  // ---- the sender loop: a state machine driven by publish, timers and export results ----

  /** Sends what can be sent now. `lingered`: the linger timer ran out (a partial batch goes). */
  private pump(lingered = false): void {
    if (this.stopped || this.backingOff()) return;
    while (this.inFlight < this.maxInFlight) {
      let b = this.batches.find((x) => x.token === 0);
      if (!b) {
        if (this.len === 0) {
          if (this.timerKind === 'linger') this.clearTimer();
          return;
        }
        const ready = lingered || this.len >= this.batchLimit || this.waiters.length > 0 || this.lingerMs === 0;
        if (!ready) {
          if (this.timerKind === undefined) this.startTimer('linger', this.lingerMs);
          return;
        }
        b = this.takeBatch();
      }
      if (this.timerKind === 'linger') this.clearTimer();
      this.send(b);
      if (this.stopped || this.backingOff()) return; // a synchronous exporter answered already
    }
  }

  private backingOff(): boolean {
    return this.timerKind === 'backoff';
  }

  private send(b: Batch): void {
    const count = b.events.length - b.off;
    const records: ReadableLogRecord[] = new Array<ReadableLogRecord>(count);
    for (let i = 0; i < count; i++) {
      const at = b.off + i;
      records[i] = eventToLogRecord(b.events[at] as NetworkEvent, this.resource, b.observed[at] as number);
    }
    const token = ++this.token;
    b.token = token;
    this.inFlight++;
    let sync = true;
    const done = (result: ExportResult, kind?: ExportErrorClass): void => {
      if (b.token !== token) return; // stale: timed out or shut down
      b.token = 0;
      clearTimeout(b.watchdog);
      this.inFlight--;
      this.onResult(b, result, kind);
      if (sync) queueMicrotask(() => this.pump()); // no recursion through a synchronous exporter
      else this.pump();
    };
    b.watchdog = setTimeout(() => done({ code: ExportResultCode.FAILED,
      error: new Error(`event export did not complete within ${this.exportTimeoutMs} ms`) }), this.exportTimeoutMs);
    b.watchdog.unref();
    try {
      this.exporter.export(records, done);
    } catch (err) {
      // The exporter could not even serialise the batch: retrying the same records cannot help.
      done({ code: ExportResultCode.FAILED, error: new Error(`export threw: ${errorText(err)}`) }, 'reject');
    }
    sync = false;
  }

  /** The answer to batch `b`'s export (its events [off, length) were sent). */
  private onResult(b: Batch, result: ExportResult, kindOverride?: ExportErrorClass): void {
    const count = b.events.length - b.off;
    if (result.code === ExportResultCode.SUCCESS) {
      this.exported += count;
      this.exportsOk++;
      this.removeBatch(b);
      // an answer to a batch sent before another failed is no recovery: that one still waits for its retry
      if (this.batches.some((x) => x.failed)) {
        this.settleWaiters();
        return;
      }
      this.attempt = 0;
      if (this.consecutiveFailures > 0) {
        this.logger.info({ failedExports: this.consecutiveFailures, queued: this.len + this.batched },
          'OTLP event export recovered');
        this.logs.reset('failure');
      }
      this.consecutiveFailures = 0;
      this.settleWaiters();
      return;
    }
    this.exportsFailed++;
    this.lastError = errorText(result.error);
    const kind = kindOverride ?? classifyExportError(result.error);
    // A refusal is an answer: the collector is reachable, so only 'retry' counts as an outage.
    if (kind === 'too_large' && count > 1) {
      this.batchLimit = Math.min(this.batchLimit, Math.max(1, Math.floor(count / 2)));
      this.splitBatch(b);
      this.logger.warn({ err: this.lastError, events: count, batchLimit: this.batchLimit },
        'the collector refused a batch of events as too large; sending smaller batches');
      return; // retried at once, smaller
    }
    if (kind !== 'retry') {
      this.lost.export_rejected += count;
      this.removeBatch(b);
      if (!this.batches.some((x) => x.failed)) this.attempt = 0;
      this.logs.note('rejected', 1, (n) => this.logger.warn({ err: this.lastError, events: count, rejections: n },
        'the collector rejected a batch of events as invalid: dropped (counted as lost, stage export_rejected)'));
      this.settleWaiters();
      return;
    }
    b.failed = true;
    this.consecutiveFailures++;
    this.attempt++;
    const delay = this.backoffMs(this.attempt);
    this.logs.note('failure', 1, (n) => this.logger.warn({ err: this.lastError, consecutiveFailures: this.consecutiveFailures,
      failures: n, queued: this.len + this.batched, retryInMs: Math.round(delay) },
    'OTLP event export failed; retrying (events stay queued up to the queue bound)'));
    this.startTimer('backoff', delay);
  }

  private backoffMs(attempt: number): number {
    const base = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** Math.min(attempt - 1, 30));
    return base * (1 - EVENT_EXPORT_DEFAULTS.jitter * this.random());
  }

  /** The oldest `batchLimit` events of the ring (at least one there) as a batch at the end of `batches`. */
  private takeBatch(): Batch {
    const n = Math.min(this.batchLimit, this.len);
    const firstSeq = this.published - this.len + 1;
    const events = new Array<NetworkEvent>(n);
    const observed = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      events[i] = this.ring[this.head] as NetworkEvent;
      observed[i] = this.ringObserved[this.head] as number;
      this.ring[this.head] = undefined;
      this.head = (this.head + 1) % this.maxQueue;
    }
    this.len -= n;
    const b: Batch = { events, observed, off: 0, firstSeq, token: 0, watchdog: undefined, failed: false };
    this.batches.push(b);
    this.batched += n;
    return b;
  }

  /** `b` settled (exported or lost), or emptied by queue_full drops. */
  private removeBatch(b: Batch): void {
    const i = this.batches.indexOf(b);
    if (i < 0) return;
    this.batches.splice(i, 1);
    this.batched -= b.events.length - b.off;
  }

  /** `b` (not in flight) as batches of at most batchLimit events, in its place. */
  private splitBatch(b: Batch): void {
    const i = this.batches.indexOf(b);
    if (i < 0) return;
    const parts: Batch[] = [];
    for (let at = b.off; at < b.events.length; at += this.batchLimit) {
      const to = Math.min(b.events.length, at + this.batchLimit);
      parts.push({ events: b.events.slice(at, to), observed: b.observed.slice(at, to), off: 0, firstSeq: b.firstSeq + at, token: 0, watchdog: undefined, failed: b.failed });
    }
    this.batches.splice(i, 1, ...parts);
  }

  /** Sequence number (1-based, publish order) of the oldest event still queued; Infinity when none. */
  private oldestOutstanding(): number {
    const b = this.batches[0];
    if (b) return b.firstSeq + b.off;
    if (this.len > 0) return this.published - this.len + 1;
    return Infinity;
  }

  private settleWaiters(): void {
    if (this.waiters.length === 0) return;
    const oldest = this.oldestOutstanding();
    const left: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (oldest > w.target) w.resolve(true);
      else left.push(w);
    }
    this.waiters = left;
  }

  private startTimer(kind: 'linger' | 'backoff', ms: number): void {
    this.clearTimer();
    this.timerKind = kind;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerKind = undefined;
      this.pump(kind === 'linger');
    }, ms);
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerKind = undefined;
  }
}

/** Events taken from the ring for one export: sent, and on failure kept in place and sent again. [off, length) remain. */
interface Batch {
  readonly events: NetworkEvent[];
  readonly observed: number[];
  off: number;
  /** sequence number of events[0] */
  readonly firstSeq: number;
  /** the export in flight (0: waiting) */
  token: number;
  watchdog: NodeJS.Timeout | undefined;
  /** its last export failed and will be retried (an outage until it succeeds) */
  failed: boolean;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  return v;
}

function nonNegative(name: string, v: number): number {
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`${name} must be a non-negative number, got ${v}`);
  return v;
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const details = (err as { details?: unknown }).details;
    return typeof details === 'string' && details !== '' && !err.message.includes(details) ? `${err.message}: ${details}` : err.message;
  }
  return err === undefined ? 'unknown error' : String(err);
}

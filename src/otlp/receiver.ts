/**
 * A test OTLP receiver built from the official opentelemetry-proto definitions, for metrics and
 * logs: OTLP/gRPC (MetricsService/Export, LogsService/Export on one server) and, optionally,
 * OTLP/HTTP protobuf (POST /v1/metrics, /v1/logs) on a second port. It keeps every request, metrics
 * and logs apart, and answers questions about the latest data points and the log records received.
 *
 * Decoding choices (one place, used by both transports): camelCase field names, 64-bit integers as
 * decimal strings (a counter may exceed 2^53: `rawValue` keeps the exact digits, `value` is the
 * nearest number), enums as their names, oneofs reported (`value: 'asInt' | 'asDouble'`).
 */
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync, inflateSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Logger } from '../log.js';
import { LOGS_SERVICE_PROTO, METRICS_SERVICE_PROTO, otlpProtoDir } from './paths.js';

const SERVICE = 'opentelemetry.proto.collector.metrics.v1.MetricsService';
const LOGS_SERVICE = 'opentelemetry.proto.collector.logs.v1.LogsService';

// ---- Decoded OTLP shapes (subset we read; see metrics.proto / common.proto) ----
export interface AnyValue {
  value?: 'stringValue' | 'boolValue' | 'intValue' | 'doubleValue' | 'arrayValue' | 'kvlistValue' | 'bytesValue';
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string;
  doubleValue?: number;
  arrayValue?: { values: AnyValue[] };
  kvlistValue?: { values: KeyValue[] };
  bytesValue?: Buffer;
}
export interface KeyValue { key: string; value?: AnyValue | null }
export interface NumberDataPoint {
  attributes: KeyValue[];
  startTimeUnixNano: string;
  timeUnixNano: string;
  value?: 'asInt' | 'asDouble';
  asInt?: string;
  asDouble?: number;
}
export interface Metric {
  name: string;
  description: string;
  unit: string;
  data?: 'gauge' | 'sum' | 'histogram' | 'exponentialHistogram' | 'summary';
  gauge?: { dataPoints: NumberDataPoint[] } | null;
  sum?: { dataPoints: NumberDataPoint[]; aggregationTemporality: string; isMonotonic: boolean } | null;
  histogram?: { dataPoints: HistogramDataPoint[]; aggregationTemporality: string } | null;
}
export interface HistogramDataPoint {
  attributes: KeyValue[];
  startTimeUnixNano: string;
  timeUnixNano: string;
  count: string;
  sum?: number;
  bucketCounts: string[];
  explicitBounds: number[];
}
export interface ScopeMetrics { scope?: { name: string; version: string } | null; metrics: Metric[] }
export interface ResourceMetrics { resource?: { attributes: KeyValue[] } | null; scopeMetrics: ScopeMetrics[] }
export interface ExportMetricsServiceRequest { resourceMetrics: ResourceMetrics[] }
export interface LogRecord {
  timeUnixNano: string;
  observedTimeUnixNano: string;
  /** enum name, e.g. SEVERITY_NUMBER_WARN */
  severityNumber: string;
  severityText: string;
  body?: AnyValue | null;
  attributes: KeyValue[];
  eventName: string;
}
export interface ScopeLogs { scope?: { name: string; version: string } | null; logRecords: LogRecord[] }
export interface ResourceLogs { resource?: { attributes: KeyValue[] } | null; scopeLogs: ScopeLogs[] }
export interface ExportLogsServiceRequest { resourceLogs: ResourceLogs[] }

export type AttrValue = string | number | boolean;
export type Attrs = Record<string, AttrValue>;

export interface ReceivedExport {
  transport: 'grpc' | 'http';
  /** gRPC metadata or HTTP headers, lower-case keys, joined with ',' when repeated. */
  headers: Record<string, string>;
  receivedAt: number;
  request: ExportMetricsServiceRequest;
  /** The request's bytes as sent (decompressed): what the exporter's serializer wrote. */
  body: Buffer;
}

export interface ReceivedLogExport {
  transport: 'grpc' | 'http';
  headers: Record<string, string>;
  receivedAt: number;
  request: ExportLogsServiceRequest;
  /** logs requests not answered yet when this one arrived, itself included (see answerLogsAfter) */
  concurrent: number;
}

/** One log record, flattened with its resource and scope. */
export interface ReceivedLogRecord {
  transport: 'grpc' | 'http';
  resource: Attrs;
  scope: { name: string; version: string };
  eventName: string;
  /** Unix nanoseconds as decimal strings (exact). */
  timeUnixNano: string;
  observedTimeUnixNano: string;
  /** enum name, e.g. SEVERITY_NUMBER_WARN */
  severityNumber: string;
  severityText: string;
  /** the body as a string (see anyValueToAttr) */
  body: string;
  attrs: Attrs;
}

export type Temporality = 'cumulative' | 'delta' | 'unspecified';

export interface Series {
  metric: string;
  resource: Attrs;
  scope: { name: string; version: string };
  attrs: Attrs;
  /** Latest value as a number (may round above 2^53 for ints; see rawValue). */
  value: number;
  /** Exact value: decimal digits for int points, the number's string form for doubles. */
  rawValue: string;
  /** Unix nanoseconds as decimal strings (exact). */
  startTime: string;
  time: string;
  /** histogram: `value` is the count; `histogram` the buckets */
  kind: 'sum' | 'gauge' | 'histogram';
  histogram?: { readonly count: number; readonly sum: number; readonly bucketCounts: number[]; readonly explicitBounds: number[] };
  temporality: Temporality;
  isMonotonic: boolean;
  unit: string;
  description: string;
}

export interface OtlpReceiverOptions {
  host?: string;
  /** gRPC port; 0 picks a free one. */
  port?: number;
  /** Also serve OTLP/HTTP protobuf at POST /v1/metrics and /v1/logs on this port (0 = free port); omit to disable. */
  httpPort?: number;
  logger?: Logger;
  /** Serve gRPC over TLS with this key and certificate (PEM); with `clientCa`, require client certificates (mTLS). */
  tls?: { key: Buffer; cert: Buffer; clientCa?: Buffer };
}

interface Decoder<Req> {
  service: grpc.ServiceDefinition;
  decode: (buf: Buffer) => Req;
  encodeResponse: () => Buffer;
}

const decoders = new Map<string, Decoder<unknown>>();

/** An ExportMetricsServiceRequest's bytes decoded as the receiver decodes them. */
export function decodeMetricsRequest(body: Buffer): ExportMetricsServiceRequest {
  return loadDecoder<ExportMetricsServiceRequest>(METRICS_SERVICE_PROTO, SERVICE).decode(body);
}

/** Loads (once per proto dir and service) the official service definition. */
function loadDecoder<Req>(protoFile: string, serviceName: string): Decoder<Req> {
  const dir = otlpProtoDir();
  const cacheKey = `${dir}|${serviceName}`;
  const cached = decoders.get(cacheKey);
  if (cached) return cached as Decoder<Req>;
  const def = protoLoader.loadSync(join(dir, protoFile), {
    includeDirs: [dir],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const service = def[serviceName] as grpc.ServiceDefinition | undefined;
  const exportMethod = service?.['Export'];
  if (!service || !exportMethod) throw new Error(`${serviceName}/Export not found in ${dir}`);
  const decoder: Decoder<Req> = {
    service,
    decode: (buf) => exportMethod.requestDeserialize(buf) as Req,
    encodeResponse: () => exportMethod.responseSerialize({}),
  };
  decoders.set(cacheKey, decoder);
  return decoder;
}

/** Flattens an OTLP AnyValue: ints become numbers when exact, arrays/maps become JSON strings. */
export function anyValueToAttr(v: AnyValue | null | undefined): AttrValue {
  if (!v) return '';
  switch (v.value) {
    case 'stringValue': return v.stringValue ?? '';
    case 'boolValue': return v.boolValue ?? false;
    case 'doubleValue': return v.doubleValue ?? 0;
    case 'intValue': {
      const n = Number(v.intValue ?? '0');
      return Number.isSafeInteger(n) ? n : (v.intValue ?? '0');
    }
    case 'bytesValue': return (v.bytesValue ?? Buffer.alloc(0)).toString('base64');
    case 'arrayValue': return JSON.stringify((v.arrayValue?.values ?? []).map(anyValueToAttr));
    case 'kvlistValue': return JSON.stringify(flattenAttrs(v.kvlistValue?.values ?? []));
    default: return '';
  }
}

export function flattenAttrs(kvs: readonly KeyValue[] | undefined): Attrs {
  const out: Attrs = {};
  for (const kv of kvs ?? []) out[kv.key] = anyValueToAttr(kv.value);
  return out;
}

function temporalityOf(name: string | undefined): Temporality {
  if (name === 'AGGREGATION_TEMPORALITY_CUMULATIVE') return 'cumulative';
  if (name === 'AGGREGATION_TEMPORALITY_DELTA') return 'delta';
  return 'unspecified';
}

function stableKey(a: Attrs): string {
  return JSON.stringify(Object.keys(a).sort().map((k) => [k, a[k]]));
}

/** True when every key of `match` is present in `attrs` with the same value. */
export function attrsMatch(attrs: Attrs, match: Attrs | undefined): boolean {
  if (!match) return true;
  return Object.entries(match).every(([k, v]) => attrs[k] === v);
}

/** How failRequests answers: a gRPC status and an HTTP status. */
export interface FailureKind {
  /** Default UNAVAILABLE. */
  grpc?: grpc.status;
  /** Default 503. */
  http?: number;
}

export class OtlpReceiver extends EventEmitter<{ export: [ReceivedExport]; logs: [ReceivedLogExport] }> {
  readonly host: string;
  readonly port: number;
  readonly httpPort: number | undefined;
  private readonly exports: ReceivedExport[] = [];
  private readonly logExports: ReceivedLogExport[] = [];
  private readonly records: ReceivedLogRecord[] = [];
  private failure: { code: grpc.status; http: number; message: string } | undefined;
  private stopped = false;
  private logsAnswerDelayMs = 0;
  private logsUnanswered = 0;

  private constructor(
    private readonly grpcServer: grpc.Server,
    private readonly httpServer: HttpServer | undefined,
    host: string,
    port: number,
    httpPort: number | undefined,
    private readonly logger: Logger | undefined,
    private readonly secure = false,
  ) {
    super();
    this.host = host;
    this.port = port;
    this.httpPort = httpPort;
  }

  /** gRPC endpoint, e.g. `http://127.0.0.1:4317`. */
  get endpoint(): string {
    return `${this.secure ? 'https' : 'http'}://${this.host}:${this.port}`;
  }

  /** OTLP/HTTP metrics URL, e.g. `http://127.0.0.1:4318/v1/metrics` (only with `httpPort`). */
  get httpEndpoint(): string {
    if (this.httpPort === undefined) throw new Error('OtlpReceiver started without httpPort');
    return `http://${this.host}:${this.httpPort}/v1/metrics`;
  }

  /** OTLP/HTTP logs URL, e.g. `http://127.0.0.1:4318/v1/logs` (only with `httpPort`). */
  get httpLogsEndpoint(): string {
    if (this.httpPort === undefined) throw new Error('OtlpReceiver started without httpPort');
    return `http://${this.host}:${this.httpPort}/v1/logs`;
  }

  static async start(opts: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
    const host = opts.host ?? '127.0.0.1';
    const decoder = loadDecoder<ExportMetricsServiceRequest>(METRICS_SERVICE_PROTO, SERVICE);
    const logsDecoder = loadDecoder<ExportLogsServiceRequest>(LOGS_SERVICE_PROTO, LOGS_SERVICE);
    let self: OtlpReceiver | undefined;
    const server = new grpc.Server();
    // the metrics service with each request's bytes kept beside its decoded form
    const bodies = new WeakMap<object, Buffer>();
    const exportMethod = decoder.service['Export']!;
    const metricsService: grpc.ServiceDefinition = {
      ...decoder.service,
      Export: { ...exportMethod, requestDeserialize: (b: Buffer) => { const req = exportMethod.requestDeserialize(b) as object; bodies.set(req, b); return req; } },
    };
    server.addService(metricsService, {
      Export: (call: grpc.ServerUnaryCall<ExportMetricsServiceRequest, object>, cb: grpc.sendUnaryData<object>) => {
        const r = self;
        if (!r) return cb({ code: grpc.status.UNAVAILABLE, details: 'starting' });
        if (r.failure) return cb({ code: r.failure.code, details: r.failure.message });
        r.record('grpc', metadataToHeaders(call.metadata), call.request, bodies.get(call.request) ?? Buffer.alloc(0));
        cb(null, {});
      },
    });
    server.addService(logsDecoder.service, {
      Export: (call: grpc.ServerUnaryCall<ExportLogsServiceRequest, object>, cb: grpc.sendUnaryData<object>) => {
        const r = self;
        if (!r) return cb({ code: grpc.status.UNAVAILABLE, details: 'starting' });
        if (r.failure) return cb({ code: r.failure.code, details: r.failure.message });
        r.recordLogs('grpc', metadataToHeaders(call.metadata), call.request);
        r.answerLogs(() => cb(null, {}));
      },
    });
    const port = await new Promise<number>((resolve, reject) => {
      const creds = opts.tls
        ? grpc.ServerCredentials.createSsl(opts.tls.clientCa ?? null, [{ private_key: opts.tls.key, cert_chain: opts.tls.cert }], opts.tls.clientCa !== undefined)
        : grpc.ServerCredentials.createInsecure();
      server.bindAsync(`${host}:${opts.port ?? 0}`, creds, (err, p) =>
        err ? reject(err) : resolve(p));
    });

    let httpServer: HttpServer | undefined;
    let httpPort: number | undefined;
    if (opts.httpPort !== undefined) {
      httpServer = createServer((req, res) => {
        const r = self;
        const path = req.url?.split('?')[0];
        if (req.method !== 'POST' || (path !== '/v1/metrics' && path !== '/v1/logs')) {
          res.writeHead(404).end();
          return;
        }
        readBody(req).then((body) => {
          if (!r) throw new Error('starting');
          if (r.failure) {
            res.writeHead(r.failure.http, { 'content-type': 'text/plain' }).end(r.failure.message);
            return;
          }
          if (path === '/v1/logs') {
            r.recordLogs('http', httpHeaders(req), logsDecoder.decode(body));
            r.answerLogs(() => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(logsDecoder.encodeResponse()));
            return;
          }
          const request = decoder.decode(body);
          r.record('http', httpHeaders(req), request, body);
          res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(decoder.encodeResponse());
        }).catch((err: unknown) => {
          res.writeHead(400, { 'content-type': 'text/plain' }).end(String(err));
        });
      });
      const hs = httpServer;
      httpPort = await new Promise<number>((resolve, reject) => {
        hs.once('error', reject);
        hs.listen(opts.httpPort, host, () => resolve((hs.address() as AddressInfo).port));
      }).catch(async (err: unknown) => {
        server.forceShutdown();
        throw err;
      });
    }
    self = new OtlpReceiver(server, httpServer, host, port, httpPort, opts.logger?.child({ component: 'otlp-receiver' }), opts.tls !== undefined);
    self.logger?.info({ endpoint: self.endpoint, httpPort }, 'OTLP receiver listening');
    return self;
  }

  /**
   * Makes every following export, metrics and logs, fail (by default gRPC UNAVAILABLE / HTTP 503;
   * `kind` picks other statuses) until called with `false`.
   */
  failRequests(fail: boolean, message = 'simulated collector outage', kind: FailureKind = {}): void {
    this.failure = fail ? { code: kind.grpc ?? grpc.status.UNAVAILABLE, http: kind.http ?? 503, message } : undefined;
  }

  /**
   * Answers every following logs request `ms` after it arrived (a collector's round trip; 0, the
   * default: at once). Requests are recorded when they arrive; see ReceivedLogExport.concurrent.
   */
  answerLogsAfter(ms: number): void {
    this.logsAnswerDelayMs = ms;
  }

  private answerLogs(answer: () => void): void {
    if (this.logsAnswerDelayMs <= 0) {
      this.logsUnanswered--;
      answer();
      return;
    }
    setTimeout(() => { this.logsUnanswered--; answer(); }, this.logsAnswerDelayMs);
  }

  /** Stops both servers; open client connections are closed after `graceMs`. Idempotent. */
  async stop(graceMs = 500): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const grpcDone = new Promise<void>((resolve) => {
      const t = setTimeout(() => { this.grpcServer.forceShutdown(); resolve(); }, graceMs);
      t.unref();
      this.grpcServer.tryShutdown(() => { clearTimeout(t); resolve(); });
    });
    const hs = this.httpServer;
    const httpDone = hs
      ? new Promise<void>((resolve) => {
        hs.close(() => resolve());
        hs.closeAllConnections();
      })
      : Promise.resolve();
    await Promise.all([grpcDone, httpDone]);
  }

  /** Every metrics request received, oldest first. */
  get requests(): readonly ReceivedExport[] {
    return this.exports;
  }

  /** Every logs request received, oldest first. */
  get logRequests(): readonly ReceivedLogExport[] {
    return this.logExports;
  }

  /** Every log record received, flattened, in arrival order. */
  logRecords(): readonly ReceivedLogRecord[] {
    return this.records;
  }

  get requestCount(): number {
    return this.exports.length;
  }

  /** Forgets everything received so far (metrics and logs). */
  clear(): void {
    this.exports.length = 0;
    this.logExports.length = 0;
    this.records.length = 0;
  }

  /** Names of every metric received. */
  metricNames(): string[] {
    const names = new Set<string>();
    for (const e of this.exports) {
      for (const rm of e.request.resourceMetrics) {
        for (const sm of rm.scopeMetrics) for (const m of sm.metrics) names.add(m.name);
      }
    }
    return [...names].sort();
  }

  /**
   * Latest data point of every series of a Sum, Gauge or Histogram metric. A series is identified by its
   * resource attributes, scope and point attributes; "latest" is by point time, then arrival.
   */
  series(metricName: string): Series[] {
    const latest = new Map<string, Series>();
    for (const e of this.exports) {
      for (const rm of e.request.resourceMetrics) {
        const resource = flattenAttrs(rm.resource?.attributes);
        for (const sm of rm.scopeMetrics) {
          const scope = { name: sm.scope?.name ?? '', version: sm.scope?.version ?? '' };
          for (const m of sm.metrics) {
            if (m.name !== metricName) continue;
            const kind = m.data === 'sum' ? 'sum' : m.data === 'gauge' ? 'gauge' : m.data === 'histogram' ? 'histogram' : undefined;
            const data = kind === 'sum' ? m.sum : kind === 'gauge' ? m.gauge : kind === 'histogram' ? m.histogram : undefined;
            if (!kind || !data) continue;
            for (const dp of data.dataPoints as Array<NumberDataPoint | HistogramDataPoint>) {
              const attrs = flattenAttrs(dp.attributes);
              const h = kind === 'histogram' ? dp as HistogramDataPoint : undefined;
              const n = dp as NumberDataPoint;
              const rawValue = h ? h.count : n.value === 'asInt' ? (n.asInt ?? '0') : String(n.asDouble ?? 0);
              const s: Series = {
                metric: m.name,
                resource,
                scope,
                attrs,
                value: Number(rawValue),
                rawValue,
                startTime: dp.startTimeUnixNano,
                time: dp.timeUnixNano,
                kind,
                ...(h ? { histogram: { count: Number(h.count), sum: h.sum ?? 0, bucketCounts: h.bucketCounts.map(Number), explicitBounds: h.explicitBounds } } : {}),
                temporality: kind === 'sum' ? temporalityOf(m.sum?.aggregationTemporality)
                  : kind === 'histogram' ? temporalityOf(m.histogram?.aggregationTemporality) : 'unspecified',
                isMonotonic: kind === 'sum' ? (m.sum?.isMonotonic ?? false) : false,
                unit: m.unit,
                description: m.description,
              };
              const key = `${stableKey(resource)}|${scope.name}|${scope.version}|${stableKey(attrs)}`;
              const prev = latest.get(key);
              if (!prev || BigInt(prev.time) <= BigInt(s.time)) latest.set(key, s);
            }
          }
        }
      }
    }
    return [...latest.values()];
  }

  /** Sum of the latest values of the series whose attributes match `attrMatch` (undefined when none). */
  latest(metricName: string, attrMatch?: Attrs): number | undefined {
    const matching = this.series(metricName).filter((s) => attrsMatch(s.attrs, attrMatch));
    if (matching.length === 0) return undefined;
    return matching.reduce((acc, s) => acc + s.value, 0);
  }

  /**
   * Resolves once `predicate(this)` is true (checked now and after every export, metrics or logs);
   * rejects after `timeoutMs` with the last state in the message.
   */
  waitFor(predicate: (r: OtlpReceiver) => boolean, timeoutMs = 10_000): Promise<void> {
    if (predicate(this)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onExport = (): void => {
        let ok = false;
        try {
          ok = predicate(this);
        } catch (err) {
          done();
          reject(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        if (ok) { done(); resolve(); }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`OtlpReceiver.waitFor: condition not met within ${timeoutMs} ms ` +
          `(${this.exports.length} requests, metrics: ${this.metricNames().join(', ') || 'none'})`));
      }, timeoutMs);
      const done = (): void => { clearTimeout(timer); this.off('export', onExport); this.off('logs', onExport); };
      this.on('export', onExport);
      this.on('logs', onExport);
    });
  }

  /** Resolves once `predicate(logRecords())` is true (see waitFor). */
  waitForLogs(predicate: (records: readonly ReceivedLogRecord[]) => boolean, timeoutMs = 10_000): Promise<void> {
    return this.waitFor((r) => predicate(r.records), timeoutMs).catch((err: unknown) => {
      throw new Error(`OtlpReceiver.waitForLogs: condition not met within ${timeoutMs} ms ` +
        `(${this.logExports.length} log requests, ${this.records.length} records)`, { cause: err });
    });
  }

  private recordLogs(transport: ReceivedLogExport['transport'], headers: Record<string, string>, request: ExportLogsServiceRequest): void {
    const e: ReceivedLogExport = { transport, headers, receivedAt: Date.now(), request, concurrent: ++this.logsUnanswered };
    this.logExports.push(e);
    for (const rl of request.resourceLogs) {
      const resource = flattenAttrs(rl.resource?.attributes);
      for (const sl of rl.scopeLogs) {
        const scope = { name: sl.scope?.name ?? '', version: sl.scope?.version ?? '' };
        for (const lr of sl.logRecords) {
          this.records.push({
            transport,
            resource,
            scope,
            eventName: lr.eventName,
            timeUnixNano: lr.timeUnixNano,
            observedTimeUnixNano: lr.observedTimeUnixNano,
            severityNumber: lr.severityNumber,
            severityText: lr.severityText,
            body: lr.body ? String(anyValueToAttr(lr.body)) : '',
            attrs: flattenAttrs(lr.attributes),
          });
        }
      }
    }
    this.logger?.debug({ transport, resourceLogs: request.resourceLogs.length }, 'logs export received');
    this.emit('logs', e);
  }

  private record(transport: ReceivedExport['transport'], headers: Record<string, string>, request: ExportMetricsServiceRequest, body: Buffer): void {
    const e: ReceivedExport = { transport, headers, receivedAt: Date.now(), request, body };
    this.exports.push(e);
    this.logger?.debug({ transport, resourceMetrics: request.resourceMetrics.length }, 'export received');
    this.emit('export', e);
  }
}

function metadataToHeaders(md: grpc.Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(md.getMap())) out[k.toLowerCase()] = Buffer.isBuffer(v) ? v.toString('base64') : v;
  return out;
}

function httpHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(',') : v;
  return out;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const body = Buffer.concat(chunks);
  const enc = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (enc === 'gzip') return gunzipSync(body);
  if (enc === 'deflate') return inflateSync(body);
  if (enc === 'identity') return body;
  throw new Error(`unsupported content-encoding ${enc}`);
}

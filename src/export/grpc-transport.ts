/**
 * OTLP/gRPC over Node's own HTTP/2 client: the transport under the upstream OTLP exporters
 * (OTLPMetricExporterBase and OTLPExporterBase over `createOtlpNetworkExportDelegate`, which keep
 * the timeouts, the concurrency limit and the partial-success handling) for both signals.
 *
 * Why not the upstream gRPC transport (@opentelemetry/otlp-grpc-exporter-base over @grpc/grpc-js):
 * it copies every request twice before it reaches the socket — `Buffer.from(data)`, then grpc-js's
 * frame of 5 + n bytes — and the agent's metrics request is a few hundred KB every export interval
 * (348,731 bytes for 50 lab pods). Those copies stayed until V8's next full collection, and were the
 * larger part of what an idle agent's memory grows by between two of them (docs/benchmark.md, "Peak
 * memory"). Here the request's bytes go to the stream as they are, after a 5-byte prefix. And the
 * agent does not load grpc-js unless it serves the Hubble API.
 *
 * What a unary gRPC call is on the wire (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md):
 * a POST of `application/grpc` with `te: trailers`, `grpc-timeout` and the metadata as headers, the
 * message as one length-prefixed frame (flag byte: compressed or not, 4-byte big-endian length);
 * the answer is HTTP 200, the response message framed the same way, and `grpc-status` (with
 * `grpc-message`, percent-encoded) in the trailers — or in the headers alone when there is no body.
 *
 * Failures are reported as the upstream transport reports them: `status: 'failure'` with an error
 * whose numeric `code` is the gRPC status (log-queue.ts classifies it), no retry here (the upstream
 * gRPC exporters do not retry either; the metrics are cumulative, and the event queue retries).
 * One HTTP/2 session per exporter, opened on first use and replaced when it closes, errs or is sent
 * GOAWAY, and after five deadlines in a row (a connection that no longer answers), as upstream does.
 */
import { validateHeaderName, validateHeaderValue } from 'node:http';
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { gunzip, gzip } from 'node:zlib';
import { promisify } from 'node:util';
import { ExporterMetrics, createOtlpNetworkExportDelegate, type ExportResponse, type IExporterTransport, type IOtlpExportDelegate } from '@opentelemetry/otlp-exporter-base';
import type { IExporterMetricsHelper, ISerializer } from '@opentelemetry/otlp-transformer';
import type { OtlpSettings } from './otlp-settings.js';
import { packageVersion } from './resource.js';

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html), by number. */
export const GRPC_STATUS_NAMES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;
/** The same codes by name: `GRPC_STATUS.UNAVAILABLE` is 14. */
export const GRPC_STATUS = Object.fromEntries(GRPC_STATUS_NAMES.map((name, code) => [name, code])) as
  Readonly<Record<(typeof GRPC_STATUS_NAMES)[number], number>>;
const { OK, UNKNOWN, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE } = GRPC_STATUS;

/** Consecutive deadlines after which the session is replaced (the upstream transport's number). */
const MAX_DEADLINES_IN_A_ROW = 5;
/** Headers HTTP/2 forbids (RFC 9113 8.2.2); Node refuses a request that has one. */
const CONNECTION_HEADERS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host']);
/** A response message larger than this is refused (an OTLP export response is a few bytes). */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** A failed call: `code` is the gRPC status, the message `<code> <NAME>: <details>` as grpc-js words it. */
export class GrpcStatusError extends Error {
  constructor(readonly code: number, readonly details: string) {
    super(`${code} ${GRPC_STATUS_NAMES[code] ?? 'UNKNOWN'}: ${details}`);
    this.name = 'GrpcStatusError';
  }
}

/** The gRPC status of an HTTP status other than 200 (gRPC's http-grpc-status-mapping.md). */
export function statusOfHttp(httpStatus: number): number {
  switch (httpStatus) {
    case 400: return INTERNAL;
    case 401: return GRPC_STATUS.UNAUTHENTICATED;
    case 403: return GRPC_STATUS.PERMISSION_DENIED;
    case 404: return UNIMPLEMENTED;
    case 429: case 502: case 503: case 504: return UNAVAILABLE;
    default: return UNKNOWN;
  }
}

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

export interface GrpcTransportOptions {
  /** `http://host:port` (plaintext, HTTP/2 with prior knowledge) or `https://host:port` (TLS, ALPN h2). */
  endpoint: string;
  /** The method, e.g. `/opentelemetry.proto.collector.metrics.v1.MetricsService/Export`. */
  path: string;
  /** Metadata: lower-case names, sent as headers with every call. */
  headers?: Readonly<Record<string, string>>;
  compression?: 'gzip' | 'none';
  /** TLS (https endpoints): CA, and the client's key and certificate for mTLS; no CA: the system's. */
  tls?: { ca?: Buffer; key?: Buffer; cert?: Buffer } | undefined;
}

/** One unary gRPC method over a kept HTTP/2 session (see the file comment). */
export class GrpcTransport implements IExporterTransport {
  private session: ClientHttp2Session | undefined;
  private deadlinesInARow = 0;
  private shut = false;
  private readonly origin: string;
  private readonly fixedHeaders: OutgoingHttpHeaders;

  constructor(private readonly opts: GrpcTransportOptions) {
    const url = new URL(opts.endpoint);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`gRPC endpoint ${opts.endpoint}: use http:// or https://`);
    this.origin = `${url.protocol}//${url.host}`;
    for (const [k, v] of Object.entries(opts.headers ?? {})) {
      if (CONNECTION_HEADERS.has(k.toLowerCase()) || k.startsWith(':')) throw new Error(`header '${k}' cannot be sent over HTTP/2 (gRPC)`);
      try {
        validateHeaderName(k);
        validateHeaderValue(k, v);
      } catch (err) {
        throw new Error(`header '${k}': ${(err as Error).message}`);
      }
    }
    this.fixedHeaders = {
      ...opts.headers,
      [constants.HTTP2_HEADER_METHOD]: 'POST',
      [constants.HTTP2_HEADER_PATH]: opts.path,
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': `fovea/${packageVersion()}`,
      'grpc-accept-encoding': 'identity,gzip',
      ...(opts.compression === 'gzip' ? { 'grpc-encoding': 'gzip' } : {}),
    };
  }

  async send(data: Uint8Array, timeoutMillis: number): Promise<ExportResponse> {
    if (this.shut) return { status: 'failure', error: new GrpcStatusError(UNAVAILABLE, 'the exporter is shut down') };
    let body = data;
    if (this.opts.compression === 'gzip') {
      try {
        body = await gzipAsync(data);
      } catch (err) {
        return { status: 'failure', error: new GrpcStatusError(INTERNAL, `gzip: ${(err as Error).message}`) };
      }
    }
    return this.call(body, this.opts.compression === 'gzip', timeoutMillis);
  }

  /** Closes the session once the calls in flight have ended; later sends fail. */
  shutdown(): void {
    this.shut = true;
    this.session?.close();
    this.session = undefined;
  }

  private call(body: Uint8Array, compressed: boolean, timeoutMillis: number): Promise<ExportResponse> {
    return new Promise((resolve) => {
      let settled = false;
      let stream: ClientHttp2Stream | undefined;
      let timer: NodeJS.Timeout | undefined;
      const finish = (r: ExportResponse): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(r);
      };
      const fail = (code: number, details: string): void => finish({ status: 'failure', error: new GrpcStatusError(code, details) });

      const session = this.currentSession();
      try {
        stream = session.request({ ...this.fixedHeaders, 'grpc-timeout': grpcTimeout(timeoutMillis) });
      } catch (err) {
        // e.g. the session's stream ids are used up, or it was closing: the next call opens another
        this.drop(session, true);
        fail(UNAVAILABLE, `cannot start the call: ${(err as Error).message}`);
        return;
      }
      // the deadline timer keeps the process alive while a call is in flight; the session does not
      timer = setTimeout(() => {
        stream?.close(constants.NGHTTP2_CANCEL);
        if (++this.deadlinesInARow >= MAX_DEADLINES_IN_A_ROW) {
          this.deadlinesInARow = 0;
          this.drop(session, true);
        }
        fail(DEADLINE_EXCEEDED, `no answer within ${timeoutMillis} ms from ${this.origin}`);
      }, timeoutMillis);

      let httpStatus: number | undefined;
      let grpcStatus: number | undefined;
      let grpcMessage = '';
      let encoding = 'identity';
      const chunks: Buffer[] = [];
      let received = 0;
      const takeStatus = (h: IncomingHttpHeaders): void => {
        const s = h['grpc-status'];
        if (typeof s === 'string' && /^\d+$/.test(s)) grpcStatus = Number(s);
        const m = h['grpc-message'];
        if (typeof m === 'string') grpcMessage = percentDecoded(m);
      };
      stream.on('response', (h) => {
        httpStatus = Number(h[constants.HTTP2_HEADER_STATUS]);
        const e = h['grpc-encoding'];
        if (typeof e === 'string') encoding = e;
        takeStatus(h); // a trailers-only answer (an error without a body)
      });
      stream.on('trailers', takeStatus);
      stream.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > MAX_RESPONSE_BYTES + 5) {
          stream?.close(constants.NGHTTP2_CANCEL);
          fail(RESOURCE_EXHAUSTED, `response larger than ${MAX_RESPONSE_BYTES} bytes`);
          return;
        }
        chunks.push(chunk);
      });
      // errors end in 'close' too; what they say is kept for it
      let streamError: Error | undefined;
      stream.on('error', (err: Error) => { streamError = err; });
      stream.on('close', () => {
        if (settled) return;
        if (httpStatus === undefined) {
          const why = sessionError(session)?.message ?? streamError?.message ?? `stream closed (HTTP/2 code ${stream?.rstCode ?? '?'})`;
          fail(UNAVAILABLE, `no answer from ${this.origin}: ${why}`);
          return;
        }
        if (httpStatus !== 200) {
          fail(statusOfHttp(httpStatus), `HTTP status ${httpStatus} from ${this.origin}${grpcMessage ? `: ${grpcMessage}` : ''}`);
          return;
        }
        if (grpcStatus === undefined) {
          fail(streamError ? UNAVAILABLE : UNKNOWN, streamError ? `call ended: ${streamError.message}` : 'the answer has no grpc-status');
          return;
        }
        if (grpcStatus !== OK) {
          fail(grpcStatus, grpcMessage || GRPC_STATUS_NAMES[grpcStatus] || 'error');
          return;
        }
        this.deadlinesInARow = 0;
        messageOf(Buffer.concat(chunks), encoding).then(
          (message) => finish({ status: 'success', ...(message ? { data: message } : {}) }),
          (err: Error) => fail(INTERNAL, `cannot read the response: ${err.message}`));
      });

      const prefix = Buffer.allocUnsafe(5);
      prefix[0] = compressed ? 1 : 0;
      prefix.writeUInt32BE(body.length, 1);
      stream.write(prefix);
      stream.end(body); // the request's own bytes: no copy in JavaScript
    });
  }

  private currentSession(): ClientHttp2Session {
    const s = this.session;
    if (s && !s.closed && !s.destroyed) return s;
    const tls = this.opts.tls;
    const session = connect(this.origin, tls ? { ...(tls.ca ? { ca: tls.ca } : {}), ...(tls.key ? { key: tls.key } : {}), ...(tls.cert ? { cert: tls.cert } : {}) } : {});
    // a session error ends its streams (their 'close' reports it) and the session: the next call connects again
    session.on('error', (err: Error) => {
      (session as SessionWithError)[LAST_ERROR] = err;
      this.drop(session, false);
    });
    session.on('goaway', () => this.drop(session, false));
    session.on('close', () => this.drop(session, false));
    session.unref();
    this.session = session;
    return session;
  }

  /** Forgets `session` (if it is the current one); `destroy`: ends it and its streams now. */
  private drop(session: ClientHttp2Session, destroy: boolean): void {
    if (this.session === session) this.session = undefined;
    if (destroy && !session.destroyed) session.destroy();
  }
}

const LAST_ERROR = Symbol('fovea.grpc.lastError');
type SessionWithError = ClientHttp2Session & { [LAST_ERROR]?: Error };
const sessionError = (s: ClientHttp2Session): Error | undefined => (s as SessionWithError)[LAST_ERROR];

/** `grpc-timeout` in milliseconds (at most 8 digits, per the protocol). */
function grpcTimeout(ms: number): string {
  return `${Math.min(99_999_999, Math.max(1, Math.ceil(ms)))}m`;
}

/** grpc-message is percent-encoded UTF-8; a malformed one is shown as it came. */
function percentDecoded(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The one message of a unary answer (undefined: an empty body). */
async function messageOf(body: Buffer, encoding: string): Promise<Uint8Array | undefined> {
  if (body.length === 0) return undefined;
  if (body.length < 5) throw new Error(`a ${body.length}-byte body is not a gRPC message`);
  const length = body.readUInt32BE(1);
  if (body.length < 5 + length) throw new Error(`the message is cut short (${body.length - 5} of ${length} bytes)`);
  const message = body.subarray(5, 5 + length);
  if (body[0] === 0) return message;
  if (encoding !== 'gzip') throw new Error(`compressed with '${encoding}', which this client did not offer`);
  return gunzipAsync(message);
}

/** The signal's method and the upstream exporter-metrics names. */
export interface GrpcSignal<Internal> {
  path: string;
  componentType: string;
  metricsHelper: IExporterMetricsHelper<Internal>;
}

export const METRICS_EXPORT_PATH = '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export';
export const LOGS_EXPORT_PATH = '/opentelemetry.proto.collector.logs.v1.LogsService/Export';

/**
 * The export delegate of an upstream OTLP exporter over GrpcTransport: what
 * `createOtlpGrpcExportDelegate` builds, with this transport (and the same concurrency limit, 30).
 * `settings` are resolved already (otlp-settings.ts): environment and config, headers, TLS files.
 */
export function createGrpcExportDelegate<Internal, Response>(settings: OtlpSettings, serializer: ISerializer<Internal, Response>,
  signal: GrpcSignal<Internal>): IOtlpExportDelegate<Internal> {
  const transport = new GrpcTransport({
    endpoint: settings.endpoint, path: signal.path, headers: settings.headers, compression: settings.compression, tls: settings.tls,
  });
  const metrics = new ExporterMetrics<Internal>({
    componentType: signal.componentType, metricsHelper: signal.metricsHelper, url: settings.endpoint, meterProvider: undefined,
    responseAttributesFromError: () => ({}),
  });
  return createOtlpNetworkExportDelegate({ timeoutMillis: settings.timeoutMs, concurrencyLimit: 30, compression: settings.compression },
    serializer, metrics, transport);
}

/**
 * OTLP exporter settings, per signal (metrics, logs), from the standard environment variables
 * (https://opentelemetry.io/docs/specs/otel/protocol/exporter/ and the SDK environment spec),
 * with Fovea's own config on top.
 *
 * Precedence, per setting: Fovea config (overrides) > OTEL_EXPORTER_OTLP_<SIGNAL>_* > OTEL_EXPORTER_OTLP_* > default.
 * Headers are the exception: the winning env variable's headers are merged with the config's
 * headers, config keys replacing env keys (a token from a Secret env var plus static config headers).
 *
 * Never throws: every invalid value is reported, all at once.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';

export type OtlpProtocol = 'grpc' | 'http/protobuf';
export type OtlpCompression = 'gzip' | 'none';
/** Metrics: the periodic reader's pipeline. Logs: drop and flow events. */
export type OtlpSignal = 'metrics' | 'logs';

/** Settings from Fovea's config; each one present wins over the environment. */
export interface OtlpOverrides {
  protocol?: string;
  endpoint?: string;
  headers?: Readonly<Record<string, string>>;
  compression?: string;
  timeoutMs?: number;
  /** PEM file of the CA(s) that sign the collector's certificate. */
  certificate?: string;
  /** PEM files for mTLS. */
  clientKey?: string;
  clientCertificate?: string;
  insecure?: boolean;
  intervalMs?: number;
  exportTimeoutMs?: number;
}

export interface OtlpTls {
  /** PEM contents, already read and parsed once. */
  ca?: Buffer;
  key?: Buffer;
  cert?: Buffer;
}

export interface OtlpSettings {
  protocol: OtlpProtocol;
  /** Full URL with scheme. grpc: `http(s)://host:port`; http/protobuf: the URL posted to. */
  endpoint: string;
  headers: Record<string, string>;
  compression: OtlpCompression;
  /** Per-export timeout of the exporter (OTEL_EXPORTER_OTLP_TIMEOUT). */
  timeoutMs: number;
  /** undefined: plaintext. Set when the endpoint is https (its fields are only the files given). */
  tls: OtlpTls | undefined;
  /** Interval of the periodic reader (OTEL_METRIC_EXPORT_INTERVAL). Metrics only: for logs, config or default. */
  intervalMs: number;
  /** Bound on one collect+export cycle (OTEL_METRIC_EXPORT_TIMEOUT), never above intervalMs. Metrics only, as intervalMs. */
  exportTimeoutMs: number;
}

export type OtlpSettingsResult = { ok: true; settings: OtlpSettings } | { ok: false; issues: string[] };

export const OTLP_DEFAULTS = {
  protocol: 'grpc',
  grpcEndpoint: 'http://localhost:4317',
  httpEndpoint: 'http://localhost:4318/v1/metrics',
  httpLogsEndpoint: 'http://localhost:4318/v1/logs',
  compression: 'none',
  timeoutMs: 10_000,
  intervalMs: 60_000,
  exportTimeoutMs: 30_000,
} as const;

type Env = Readonly<Record<string, string | undefined>>;

/** A value and where it came from (for messages). */
interface Sourced<T> { value: T; source: string }
type Scalar = string | number | boolean;

const GENERIC = 'OTEL_EXPORTER_OTLP_';
const SIGNAL_PREFIX: Record<OtlpSignal, string> = { metrics: 'OTEL_EXPORTER_OTLP_METRICS_', logs: 'OTEL_EXPORTER_OTLP_LOGS_' };
/** The OTLP/HTTP path of each signal, appended to a base endpoint. */
const SIGNAL_PATH: Record<OtlpSignal, string> = { metrics: '/v1/metrics', logs: '/v1/logs' };

/**
 * Settings of one signal's exporter.
 *
 * `signal` picks the signal-specific variables (OTEL_EXPORTER_OTLP_METRICS_* or _LOGS_*) and the
 * http/protobuf path (`/v1/metrics`, `/v1/logs`), both for the default endpoint and for the generic
 * OTEL_EXPORTER_OTLP_ENDPOINT (a base URL). A signal-specific endpoint is used as is.
 *
 * `overrides` is Fovea's one `export` config, shared by both signals. Its `endpoint` is used as is,
 * except for logs over http/protobuf: a URL whose path ends in `/v1/metrics` (the usual way to write
 * the metrics URL, e.g. `http://collector:4318/v1/metrics` or VictoriaMetrics'
 * `/opentelemetry/v1/metrics`) becomes the same URL ending in `/v1/logs`, and a URL without a path
 * gets `/v1/logs`; any other path is taken as is. gRPC endpoints have no path, so they are shared.
 *
 * The periodic-reader fields (intervalMs, exportTimeoutMs) come from OTEL_METRIC_EXPORT_* only for
 * metrics; for logs they are the config's or the defaults, and unused.
 */
export function resolveOtlpSettings(env: Env, overrides: OtlpOverrides = {}, signal: OtlpSignal = 'metrics'): OtlpSettingsResult {
  const issues: string[] = [];
  const signalPrefix = SIGNAL_PREFIX[signal];

  /** Config value, else the signal-specific env var, else the generic one (empty env = unset). */
  const pick = (key: Exclude<keyof OtlpOverrides, 'headers'>, suffix: string): Sourced<Scalar> | undefined => {
    const o = overrides[key];
    if (o !== undefined) return { value: o, source: `config ${key}` };
    for (const name of [signalPrefix + suffix, GENERIC + suffix]) {
      const v = env[name]?.trim();
      if (v !== undefined && v !== '') return { value: v, source: name };
    }
    return undefined;
  };

  // PROTOCOL
  let protocol: OtlpProtocol = OTLP_DEFAULTS.protocol;
  const p = pick('protocol', 'PROTOCOL');
  if (p) {
    if (p.value === 'grpc' || p.value === 'http/protobuf') protocol = p.value;
    else if (p.value === 'http/json') issues.push(`${p.source}: protocol 'http/json' is not supported by Fovea; use 'grpc' or 'http/protobuf'`);
    else issues.push(`${p.source}: unknown protocol '${String(p.value)}'; expected 'grpc' or 'http/protobuf'`);
  }

  // INSECURE (only decides the scheme of a gRPC endpoint given without one)
  let insecure = false;
  const ins = pick('insecure', 'INSECURE');
  if (ins) {
    const b = parseBool(ins.value);
    if (b === undefined) issues.push(`${ins.source}: '${String(ins.value)}' is not a boolean (true|false)`);
    else insecure = b;
  }

  // ENDPOINT
  const endpoint = resolveEndpoint(env, overrides, protocol, insecure, signal, issues);

  // HEADERS
  const headers: Record<string, string> = {};
  const envHeaders = envVar(env, signalPrefix + 'HEADERS') ?? envVar(env, GENERIC + 'HEADERS');
  if (envHeaders) Object.assign(headers, parseHeaders(envHeaders.value, envHeaders.source, issues));
  for (const [k, v] of Object.entries(overrides.headers ?? {})) {
    if (!HEADER_KEY.test(k)) issues.push(`config headers: '${k}' is not a valid header name`);
    else headers[k.toLowerCase()] = v;
  }

  // COMPRESSION
  let compression: OtlpCompression = OTLP_DEFAULTS.compression;
  const c = pick('compression', 'COMPRESSION');
  if (c) {
    if (c.value === 'gzip' || c.value === 'none') compression = c.value;
    else issues.push(`${c.source}: unknown compression '${String(c.value)}'; expected 'gzip' or 'none'`);
  }

  // TIMEOUT
  const t = pick('timeoutMs', 'TIMEOUT');
  const timeoutMs = t ? parseMs(t, issues) ?? OTLP_DEFAULTS.timeoutMs : OTLP_DEFAULTS.timeoutMs;

  // Certificates
  const tlsFiles: OtlpTls = {};
  const ca = pick('certificate', 'CERTIFICATE');
  const key = pick('clientKey', 'CLIENT_KEY');
  const cert = pick('clientCertificate', 'CLIENT_CERTIFICATE');
  if (ca) tlsFiles.ca = readPem(ca, 'certificate', issues);
  if (key) tlsFiles.key = readPem(key, 'key', issues);
  if (cert) tlsFiles.cert = readPem(cert, 'certificate', issues);
  if ((key === undefined) !== (cert === undefined)) {
    issues.push(`${(key ?? cert)?.source}: a client key and a client certificate must be given together (mTLS)`);
  }
  const anyTlsFile = ca !== undefined || key !== undefined || cert !== undefined;
  const secure = endpoint?.startsWith('https://') ?? false;
  if (anyTlsFile && endpoint !== undefined && !secure) {
    issues.push(`${[ca, key, cert].find((x) => x)?.source}: TLS files are given but the endpoint ${endpoint} is plaintext (use https://)`);
  }

  // Reader interval and timeout (the metric reader's; a logs exporter only carries them along)
  const metrics = signal === 'metrics';
  const iv: Sourced<string | number> | undefined = overrides.intervalMs !== undefined
    ? { value: overrides.intervalMs, source: 'config intervalMs' }
    : metrics ? envVar(env, 'OTEL_METRIC_EXPORT_INTERVAL') : undefined;
  const intervalMs = iv ? parsePositiveMs(iv, issues) ?? OTLP_DEFAULTS.intervalMs : OTLP_DEFAULTS.intervalMs;
  const et: Sourced<string | number> | undefined = overrides.exportTimeoutMs !== undefined
    ? { value: overrides.exportTimeoutMs, source: 'config exportTimeoutMs' }
    : metrics ? envVar(env, 'OTEL_METRIC_EXPORT_TIMEOUT') : undefined;
  let exportTimeoutMs = et ? parsePositiveMs(et, issues) ?? OTLP_DEFAULTS.exportTimeoutMs : OTLP_DEFAULTS.exportTimeoutMs;
  if (exportTimeoutMs > intervalMs) {
    // The SDK refuses an explicit timeout above the interval; a default one is clamped silently.
    if (et) issues.push(`${et.source}: export timeout ${exportTimeoutMs} ms exceeds the export interval ${intervalMs} ms`);
    exportTimeoutMs = intervalMs;
  }

  if (issues.length > 0 || endpoint === undefined) return { ok: false, issues };
  return {
    ok: true,
    settings: { protocol, endpoint, headers, compression, timeoutMs, tls: secure ? tlsFiles : undefined, intervalMs, exportTimeoutMs },
  };
}

function envVar(env: Env, name: string): Sourced<string> | undefined {
  const v = env[name]?.trim();
  return v !== undefined && v !== '' ? { value: v, source: name } : undefined;
}

function resolveEndpoint(
  env: Env, overrides: OtlpOverrides, protocol: OtlpProtocol, insecure: boolean, signal: OtlpSignal, issues: string[],
): string | undefined {
  let raw: Sourced<string> | undefined;
  let appendPath = false;
  let fromConfig = false;
  if (overrides.endpoint !== undefined) {
    raw = { value: overrides.endpoint.trim(), source: 'config endpoint' };
    fromConfig = true;
  } else {
    raw = envVar(env, SIGNAL_PREFIX[signal] + 'ENDPOINT');
    if (!raw) {
      raw = envVar(env, GENERIC + 'ENDPOINT');
      // The generic endpoint is a base URL: http exporters add the signal path to it.
      appendPath = raw !== undefined && protocol === 'http/protobuf';
    }
  }
  if (!raw) {
    if (protocol === 'grpc') return OTLP_DEFAULTS.grpcEndpoint;
    return signal === 'logs' ? OTLP_DEFAULTS.httpLogsEndpoint : OTLP_DEFAULTS.httpEndpoint;
  }

  let text = raw.value;
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    if (protocol !== 'grpc') {
      issues.push(`${raw.source}: '${raw.value}' must be an http:// or https:// URL`);
      return undefined;
    }
    // gRPC endpoints may omit the scheme; INSECURE then chooses it (spec).
    text = `${insecure ? 'http' : 'https'}://${text}`;
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    issues.push(`${raw.source}: '${raw.value}' is not a valid URL`);
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    issues.push(`${raw.source}: scheme '${url.protocol}' is not supported; use http:// or https://`);
    return undefined;
  }
  if (protocol === 'grpc') {
    if (url.pathname !== '/' && url.pathname !== '') {
      issues.push(`${raw.source}: a gRPC endpoint takes no path ('${url.pathname}')`);
      return undefined;
    }
    return `${url.protocol}//${url.host}`;
  }
  if (fromConfig && signal === 'logs') {
    // One config endpoint for both signals, usually written as the metrics URL (see above).
    const path = url.pathname.replace(/\/+$/, '');
    if (path.endsWith(SIGNAL_PATH.metrics)) url.pathname = path.slice(0, -SIGNAL_PATH.metrics.length) + SIGNAL_PATH.logs;
    else if (path === '') appendPath = true;
  }
  if (appendPath) {
    url.pathname = url.pathname.replace(/\/+$/, '') + SIGNAL_PATH[signal];
  }
  return url.toString();
}

// RFC 7230 token: what an HTTP header name (and a gRPC metadata key, lower-cased) may be.
const HEADER_KEY = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** `k=v,k2=v2`, keys and values percent-decoded, whitespace around entries ignored. */
export function parseHeaders(text: string, source: string, issues: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of text.split(',')) {
    if (entry.trim() === '') continue;
    const eq = entry.indexOf('=');
    if (eq <= 0) {
      issues.push(`${source}: header entry '${entry.trim()}' is not key=value`);
      continue;
    }
    const k = decode(entry.slice(0, eq).trim());
    const v = decode(entry.slice(eq + 1).trim());
    if (k === undefined || v === undefined) {
      issues.push(`${source}: header entry '${entry.trim()}' has invalid percent-encoding`);
      continue;
    }
    if (!HEADER_KEY.test(k)) {
      issues.push(`${source}: '${k}' is not a valid header name`);
      continue;
    }
    out[k.toLowerCase()] = v;
  }
  return out;
}

function decode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

function parseBool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  const s = String(v).trim().toLowerCase();
  if (s === 'true') return true;
  if (s === 'false') return false;
  return undefined;
}

function parseMs(s: Sourced<Scalar>, issues: string[]): number | undefined {
  const n = typeof s.value === 'number' ? s.value : typeof s.value === 'string' && /^\d+$/.test(s.value) ? Number(s.value) : NaN;
  if (!Number.isSafeInteger(n) || n < 0) {
    issues.push(`${s.source}: '${String(s.value)}' is not a whole number of milliseconds`);
    return undefined;
  }
  return n;
}

function parsePositiveMs(s: Sourced<Scalar>, issues: string[]): number | undefined {
  const n = parseMs(s, issues);
  if (n === 0) {
    issues.push(`${s.source}: must be greater than 0 ms`);
    return undefined;
  }
  return n;
}

function readPem(file: Sourced<Scalar>, kind: 'certificate' | 'key', issues: string[]): Buffer | undefined {
  const path = String(file.value);
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (err) {
    issues.push(`${file.source}: cannot read '${path}': ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    return undefined;
  }
  try {
    if (kind === 'certificate') new X509Certificate(pem);
    else createPrivateKey(pem);
  } catch {
    issues.push(`${file.source}: '${path}' is not a PEM ${kind === 'certificate' ? 'X.509 certificate' : 'private key'}`);
    return undefined;
  }
  return pem;
}

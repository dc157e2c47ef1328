import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OTLP_DEFAULTS, resolveOtlpSettings, type OtlpSettings } from '../../src/export/otlp-settings.js';

function ok(env: Record<string, string>, overrides = {}): OtlpSettings {
  const r = resolveOtlpSettings(env, overrides);
  if (!r.ok) throw new Error(`unexpected issues: ${r.issues.join('; ')}`);
  return r.settings;
}

function issues(env: Record<string, string>, overrides = {}): string[] {
  const r = resolveOtlpSettings(env, overrides);
  if (r.ok) throw new Error('expected issues');
  return r.issues;
}

describe('resolveOtlpSettings', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'fovea-settings-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('defaults to gRPC on localhost:4317, no compression, spec intervals', () => {
    expect(ok({})).toEqual({
      protocol: 'grpc',
      endpoint: 'http://localhost:4317',
      headers: {},
      compression: 'none',
      timeoutMs: 10_000,
      tls: undefined,
      intervalMs: 60_000,
      exportTimeoutMs: 30_000,
    });
  });

  it('defaults the http/protobuf endpoint to :4318/v1/metrics', () => {
    expect(ok({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }).endpoint).toBe(OTLP_DEFAULTS.httpEndpoint);
  });

  it('prefers signal-specific variables over generic ones, and config over both', () => {
    const env = {
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'none',
      OTEL_EXPORTER_OTLP_METRICS_COMPRESSION: 'gzip',
      OTEL_EXPORTER_OTLP_TIMEOUT: '1000',
      OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: '2000',
    };
    expect(ok(env)).toMatchObject({ protocol: 'http/protobuf', compression: 'gzip', timeoutMs: 2000 });
    expect(ok(env, { protocol: 'grpc', compression: 'none', timeoutMs: 3000 }))
      .toMatchObject({ protocol: 'grpc', compression: 'none', timeoutMs: 3000, endpoint: 'http://localhost:4317' });
  });

  it('appends /v1/metrics to the generic endpoint for http, uses the signal endpoint as is', () => {
    const http = { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' };
    expect(ok({ ...http, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).endpoint).toBe('http://collector:4318/v1/metrics');
    expect(ok({ ...http, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://gw/otlp/' }).endpoint).toBe('http://gw/otlp/v1/metrics');
    expect(ok({ ...http, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://gw:4318', OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'https://vm:8428/opentelemetry/v1/metrics' }).endpoint)
      .toBe('https://vm:8428/opentelemetry/v1/metrics');
    expect(ok({ ...http, OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://vm:8428/custom' }).endpoint).toBe('http://vm:8428/custom');
    // Config endpoint is taken as is too.
    expect(ok(http, { endpoint: 'http://x:1/y' }).endpoint).toBe('http://x:1/y');
  });

  it('uses the generic endpoint as is for gRPC; a scheme-less one gets https unless INSECURE', () => {
    expect(ok({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317' }).endpoint).toBe('http://collector:4317');
    expect(ok({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317' })).toMatchObject({ endpoint: 'https://collector:4317', tls: {} });
    expect(ok({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317', OTEL_EXPORTER_OTLP_INSECURE: 'true' }))
      .toMatchObject({ endpoint: 'http://collector:4317', tls: undefined });
  });

  it('parses headers: percent-decoding, trimming, signal-specific replaces generic, config keys win', () => {
    expect(ok({ OTEL_EXPORTER_OTLP_HEADERS: 'api-key=a%20b%2Cc , X-Tenant=t1' }).headers).toEqual({ 'api-key': 'a b,c', 'x-tenant': 't1' });
    expect(ok({ OTEL_EXPORTER_OTLP_HEADERS: 'a=1', OTEL_EXPORTER_OTLP_METRICS_HEADERS: 'b=2' }).headers).toEqual({ b: '2' });
    expect(ok({ OTEL_EXPORTER_OTLP_HEADERS: 'a=1,b=2' }, { headers: { b: '3', c: '4' } }).headers).toEqual({ a: '1', b: '3', c: '4' });
    expect(ok({ OTEL_EXPORTER_OTLP_HEADERS: 'k=v=w' }).headers).toEqual({ k: 'v=w' });
  });

  it('reads the reader interval and timeout; config interval wins; a default timeout is clamped to the interval', () => {
    expect(ok({ OTEL_METRIC_EXPORT_INTERVAL: '5000', OTEL_METRIC_EXPORT_TIMEOUT: '4000' })).toMatchObject({ intervalMs: 5000, exportTimeoutMs: 4000 });
    expect(ok({ OTEL_METRIC_EXPORT_INTERVAL: '5000' }, { intervalMs: 200 })).toMatchObject({ intervalMs: 200, exportTimeoutMs: 200 });
  });

  it('reports every invalid value at once and never throws', () => {
    const dir = tmp;
    const notPem = join(dir, 'not.pem');
    writeFileSync(notPem, 'hello');
    const list = issues({
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url',
      OTEL_EXPORTER_OTLP_HEADERS: 'novalue,bad key=1,ok=%E0%A4%A',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'brotli',
      OTEL_EXPORTER_OTLP_TIMEOUT: '10s',
      OTEL_EXPORTER_OTLP_CERTIFICATE: join(dir, 'missing.pem'),
      OTEL_EXPORTER_OTLP_CLIENT_KEY: notPem,
      OTEL_EXPORTER_OTLP_INSECURE: 'yes',
      OTEL_METRIC_EXPORT_INTERVAL: '-1',
      OTEL_METRIC_EXPORT_TIMEOUT: '0',
    });
    const expected = [
      /OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: protocol 'http\/json' is not supported/,
      /OTEL_EXPORTER_OTLP_INSECURE: 'yes' is not a boolean/,
      /OTEL_EXPORTER_OTLP_HEADERS: header entry 'novalue' is not key=value/,
      /OTEL_EXPORTER_OTLP_HEADERS: 'bad key' is not a valid header name/,
      /OTEL_EXPORTER_OTLP_HEADERS: header entry 'ok=%E0%A4%A' has invalid percent-encoding/,
      /OTEL_EXPORTER_OTLP_COMPRESSION: unknown compression 'brotli'/,
      /OTEL_EXPORTER_OTLP_TIMEOUT: '10s' is not a whole number/,
      /OTEL_EXPORTER_OTLP_CERTIFICATE: cannot read '.*missing\.pem': ENOENT/,
      /OTEL_EXPORTER_OTLP_CLIENT_KEY: '.*not\.pem' is not a PEM private key/,
      /OTEL_EXPORTER_OTLP_CLIENT_KEY: a client key and a client certificate must be given together/,
      /OTEL_METRIC_EXPORT_INTERVAL: '-1' is not a whole number/,
      /OTEL_METRIC_EXPORT_TIMEOUT: must be greater than 0/,
    ];
    for (const re of expected) expect(list.some((i) => re.test(i)), `${re} in\n${list.join('\n')}`).toBe(true);
    // 'not a url' with the default grpc would get a scheme; with http/json rejected, protocol stays grpc.
    expect(list.some((i) => i.startsWith('OTEL_EXPORTER_OTLP_ENDPOINT'))).toBe(true);
  });

  it('rejects unknown protocols, non-http endpoints, gRPC paths and a timeout above the interval', () => {
    expect(issues({ OTEL_EXPORTER_OTLP_PROTOCOL: 'thrift' })[0]).toMatch(/unknown protocol 'thrift'/);
    expect(issues({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })[0])
      .toMatch(/must be an http:\/\/ or https:\/\/ URL/);
    expect(issues({}, { endpoint: 'ftp://x' })[0]).toMatch(/scheme 'ftp:' is not supported/);
    expect(issues({}, { endpoint: 'http://x:4317/v1/metrics' })[0]).toMatch(/gRPC endpoint takes no path/);
    expect(issues({ OTEL_METRIC_EXPORT_TIMEOUT: '9000' }, { intervalMs: 1000 })[0]).toMatch(/exceeds the export interval/);
  });

  it('reads and validates TLS files; they require an https endpoint', () => {
    const dir = tmp;
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, TEST_CERT);
    const s = ok({ OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE: ca, OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector:4317' });
    expect(s.tls?.ca?.toString()).toBe(TEST_CERT);
    expect(issues({ OTEL_EXPORTER_OTLP_CERTIFICATE: ca })[0]).toMatch(/endpoint http:\/\/localhost:4317 is plaintext/);
  });
});

describe('resolveOtlpSettings for logs', () => {
  const logs = (env: Record<string, string>, overrides = {}): OtlpSettings => {
    const r = resolveOtlpSettings(env, overrides, 'logs');
    if (!r.ok) throw new Error(`unexpected issues: ${r.issues.join('; ')}`);
    return r.settings;
  };
  const http = { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' };

  it('defaults to gRPC on localhost:4317 and http/protobuf on :4318/v1/logs', () => {
    expect(logs({})).toMatchObject({ protocol: 'grpc', endpoint: 'http://localhost:4317' });
    expect(logs(http).endpoint).toBe('http://localhost:4318/v1/logs');
    expect(OTLP_DEFAULTS.httpLogsEndpoint).toBe('http://localhost:4318/v1/logs');
  });

  it('reads OTEL_EXPORTER_OTLP_LOGS_* over the generic ones, and never the METRICS_* ones', () => {
    const env = {
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'grpc',
      OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_METRICS_COMPRESSION: 'none',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
      OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: '1000',
      OTEL_EXPORTER_OTLP_LOGS_TIMEOUT: '2500',
      OTEL_EXPORTER_OTLP_HEADERS: 'a=1',
      OTEL_EXPORTER_OTLP_METRICS_HEADERS: 'm=1',
      OTEL_EXPORTER_OTLP_LOGS_HEADERS: 'l=1',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://metrics-gw:4317',
    };
    expect(logs(env)).toMatchObject({ protocol: 'http/protobuf', compression: 'gzip', timeoutMs: 2500, headers: { l: '1' },
      endpoint: 'http://localhost:4318/v1/logs' });
    // The metrics signal is unchanged by the LOGS_* variables.
    expect(ok(env)).toMatchObject({ protocol: 'grpc', compression: 'none', timeoutMs: 1000, headers: { m: '1' },
      endpoint: 'http://metrics-gw:4317' });
  });

  it('appends /v1/logs to the generic endpoint for http, uses the logs endpoint as is', () => {
    expect(logs({ ...http, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).endpoint).toBe('http://collector:4318/v1/logs');
    expect(logs({ ...http, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://gw/otlp/' }).endpoint).toBe('http://gw/otlp/v1/logs');
    expect(logs({ ...http, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://gw:4318', OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://vl:9428/insert/opentelemetry/v1/logs' }).endpoint)
      .toBe('http://vl:9428/insert/opentelemetry/v1/logs');
    expect(logs({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317' }).endpoint).toBe('http://collector:4317');
    expect(logs({ OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'collector:4317', OTEL_EXPORTER_OTLP_LOGS_INSECURE: 'true' }).endpoint)
      .toBe('http://collector:4317');
  });

  it('maps a config endpoint written for metrics (…/v1/metrics) to …/v1/logs; a bare one gets /v1/logs; others as is', () => {
    expect(logs(http, { endpoint: 'http://collector:4318/v1/metrics' }).endpoint).toBe('http://collector:4318/v1/logs');
    expect(logs(http, { endpoint: 'https://vm:8428/opentelemetry/v1/metrics/' }).endpoint).toBe('https://vm:8428/opentelemetry/v1/logs');
    expect(logs(http, { endpoint: 'http://collector:4318' }).endpoint).toBe('http://collector:4318/v1/logs');
    expect(logs(http, { endpoint: 'http://x:1/y' }).endpoint).toBe('http://x:1/y');
    expect(logs({}, { endpoint: 'http://collector:4317' }).endpoint).toBe('http://collector:4317');
    // Metrics keep the config endpoint as is.
    expect(ok(http, { endpoint: 'http://collector:4318/v1/metrics' }).endpoint).toBe('http://collector:4318/v1/metrics');
  });

  it('ignores OTEL_METRIC_EXPORT_* (reader settings) and names LOGS_* variables in issues', () => {
    expect(logs({ OTEL_METRIC_EXPORT_INTERVAL: 'bad', OTEL_METRIC_EXPORT_TIMEOUT: '0' }))
      .toMatchObject({ intervalMs: OTLP_DEFAULTS.intervalMs, exportTimeoutMs: OTLP_DEFAULTS.exportTimeoutMs });
    const r = resolveOtlpSettings({ OTEL_EXPORTER_OTLP_LOGS_COMPRESSION: 'brotli', OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://x:4317/v1/logs' }, {}, 'logs');
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.issues).toEqual(expect.arrayContaining([
        expect.stringMatching(/^OTEL_EXPORTER_OTLP_LOGS_COMPRESSION: unknown compression 'brotli'/),
        expect.stringMatching(/^OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: a gRPC endpoint takes no path/),
      ]));
    }
  });
});

// Self-signed test certificate (CN=fovea-test), only parsed, never trusted.
const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBfjCCASWgAwIBAgIUNhJL2txjjCqlEQlMjrosSoIkgFwwCgYIKoZIzj0EAwIw
FTETMBEGA1UEAwwKZm92ZWEtdGVzdDAeFw0yNjExMjYwNDU0NTRaFw0zNjExMjMw
NDU0NTRaMBUxEzARBgNVBAMMCmZvdmVhLXRlc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASUtEAoyPgPRizuuKIsbIubkrft2ZPZCqTP4MYx2HJb+o8xDj9EPGqk
HKr4zJrCsuPnQWFxNrs2wH45SK+VY0/Vo1MwUTAdBgNVHQ4EFgQU1TuAPLHbAE3e
cWApend8Yu8WYz4wHwYDVR0jBBgwFoAU1TuAPLHbAE3ecWApend8Yu8WYz4wDwYD
VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiA7NJI/ijw64jIovrRnFNMF
LKxn4bcSXyfjKkSUzcRm2AIgInT7f12izCWwMKoqCRGVOsMwmMRROZpxfKG5v+1o
+Eo=
-----END CERTIFICATE-----
`;

/**
 * Turns arguments + environment into everything the agent needs (config, OTLP settings, resource)
 * or into the complete list of what is wrong. Shared by `fovea agent` and `fovea demo`.
 */
import { formatIssues, loadConfig, parseAgentArgs, type Config } from '../config/index.js';
import { resolveOtlpSettings, type OtlpOverrides, type OtlpSettings, type OtlpSignal } from '../export/otlp-settings.js';
import { buildResource } from '../export/resource.js';
import type { Resource } from '@opentelemetry/resources';

/** Fovea's export interval when neither the config nor OTEL_METRIC_EXPORT_INTERVAL sets one. */
export const DEFAULT_EXPORT_INTERVAL_MS = 15_000;

export type AgentSetup =
  | { ok: true; config: Config; otlp: OtlpSettings; resource: Resource; warnings: string[];
    /**
     * Whether metrics go out over OTLP (`otlp`). False only with `prometheus.address` set and no
     * OTLP endpoint configured anywhere: Prometheus alone (otlp then only gives the interval).
     */
    otlpMetrics: boolean;
    /** OTLP settings of the event (logs) export; undefined when events are not exported */
    otlpLogs: OtlpSettings | undefined }
  | { ok: 'help' }
  | { ok: false; message: string };

/** Which OTEL_* variables can set an export field (signal-specific first). */
function otelVars(signal: OtlpSignal): Record<keyof OtlpOverrides, string[]> {
  const s = `OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_`;
  const g = 'OTEL_EXPORTER_OTLP_';
  const both = (suffix: string): string[] => [s + suffix, g + suffix];
  return {
    protocol: both('PROTOCOL'), endpoint: both('ENDPOINT'), headers: both('HEADERS'), compression: both('COMPRESSION'),
    timeoutMs: both('TIMEOUT'), certificate: both('CERTIFICATE'), clientKey: both('CLIENT_KEY'),
    clientCertificate: both('CLIENT_CERTIFICATE'), insecure: both('INSECURE'),
    intervalMs: signal === 'metrics' ? ['OTEL_METRIC_EXPORT_INTERVAL'] : [],
    exportTimeoutMs: signal === 'metrics' ? ['OTEL_METRIC_EXPORT_TIMEOUT'] : [],
  };
}

/**
 * Precedence for export settings: flags > OTEL_* environment > config file > defaults.
 * A config-file value is passed on only when no OTEL_* variable sets the same field.
 */
export function exportOverrides(
  config: Config, sources: Readonly<Record<string, string>>, env: NodeJS.ProcessEnv, signal: OtlpSignal = 'metrics',
): OtlpOverrides {
  const out: OtlpOverrides = {};
  const vars = otelVars(signal);
  const e = config.export;
  const set = <K extends keyof OtlpOverrides>(k: K, v: OtlpOverrides[K] | undefined, path: string) => {
    if (v === undefined) return;
    const src = sources[path] ?? (path === 'export.headers' ? 'file' : 'default');
    const envSets = vars[k].some((n) => (env[n] ?? '').trim() !== '');
    if (src === 'flag' || (src === 'file' && !envSets)) out[k] = v;
  };
  set('protocol', e.protocol, 'export.protocol');
  set('endpoint', e.endpoint, 'export.endpoint');
  set('headers', e.headers as Record<string, string> | undefined, 'export.headers');
  set('compression', e.compression, 'export.compression');
  set('timeoutMs', e.timeoutMs, 'export.timeoutMs');
  set('certificate', e.certificate, 'export.certificate');
  set('clientKey', e.clientKey, 'export.clientKey');
  set('clientCertificate', e.clientCertificate, 'export.clientCertificate');
  set('insecure', e.insecure, 'export.insecure');
  if (signal === 'logs') {
    // events may go elsewhere than metrics: events.export.endpoint wins over export.endpoint
    set('endpoint', config.events.export.endpoint, 'events.export.endpoint');
    return out;
  }
  set('intervalMs', e.intervalMs, 'export.intervalMs');
  if (out.intervalMs === undefined && (env.OTEL_METRIC_EXPORT_INTERVAL ?? '').trim() === '') {
    out.intervalMs = DEFAULT_EXPORT_INTERVAL_MS;
  }
  return out;
}

/**
 * Whether an OTLP endpoint is configured for `signal` anywhere: the config file or a flag
 * (`export.endpoint`; for events also `events.export.endpoint`), or the OTEL_* variables.
 */
export function otlpEndpointConfigured(config: Config, env: NodeJS.ProcessEnv, signal: OtlpSignal): boolean {
  if (config.export.endpoint !== undefined) return true;
  if (signal === 'logs' && config.events.export.endpoint !== undefined) return true;
  return otelVars(signal).endpoint.some((n) => (env[n] ?? '').trim() !== '');
}

export function resolveAgentSetup(args: string[], env: NodeJS.ProcessEnv): AgentSetup {
  const parsed = parseAgentArgs(args);
  if (!parsed.ok) return { ok: false, message: formatIssues(parsed.issues) };
  if (parsed.flags.help) return { ok: 'help' };
  if (parsed.positionals.length > 0) {
    return { ok: false, message: `unexpected argument(s): ${parsed.positionals.join(' ')}` };
  }
  const loaded = loadConfig({ env, flags: parsed.flags });
  if (!loaded.ok) return { ok: false, message: formatIssues(loaded.issues) };
  const config = loaded.config;
  const otlp = resolveOtlpSettings(env, exportOverrides(config, loaded.sources, env));
  // Prometheus alone: no OTLP endpoint given means nothing to send to (not the default localhost
  // collector, which is not there and would only fail, export after export).
  const prometheusOn = config.prometheus.address !== '';
  const otlpMetrics = !prometheusOn || otlpEndpointConfigured(config, env, 'metrics');
  const eventsExported = config.events.export.enabled && (config.events.drops.enabled || config.events.flows.enabled)
    && (!prometheusOn || otlpEndpointConfigured(config, env, 'logs'));
  const logs = eventsExported ? resolveOtlpSettings(env, exportOverrides(config, loaded.sources, env, 'logs'), 'logs') : undefined;
  const res = buildResource({ nodeName: config.nodeName || undefined, env });
  const problems = [
    ...(otlp.ok ? [] : otlp.issues.map((p) => `export: ${p}`)),
    // the shared settings' problems are already listed once
    ...(logs && !logs.ok ? logs.issues.filter((p) => otlp.ok || !otlp.issues.includes(p)).map((p) => `events export: ${p}`) : []),
    ...res.issues.map((p) => `export: ${p}`),
  ];
  if (!otlp.ok || (logs && !logs.ok) || res.issues.length > 0) {
    return { ok: false, message: problems.join('\n') };
  }
  return {
    ok: true, config, otlp: otlp.settings, otlpMetrics, resource: res.resource, otlpLogs: logs?.ok ? logs.settings : undefined,
    warnings: loaded.warnings.map((w) => formatIssues([w])),
  };
}

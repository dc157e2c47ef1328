/**
 * Turns arguments + environment into everything the agent needs (config, OTLP settings, resource)
 * or into the complete list of what is wrong. Shared by `fovea agent` and `fovea demo`.
 */
import { formatIssues, loadConfig, parseAgentArgs, type Config } from '../config/index.js';
import { resolveOtlpSettings, type OtlpOverrides, type OtlpSettings } from '../export/otlp-settings.js';
import { buildResource } from '../export/resource.js';
import type { Resource } from '@opentelemetry/resources';

/** Fovea's export interval when neither the config nor OTEL_METRIC_EXPORT_INTERVAL sets one. */
export const DEFAULT_EXPORT_INTERVAL_MS = 15_000;

export type AgentSetup =
  | { ok: true; config: Config; otlp: OtlpSettings; resource: Resource; warnings: string[] }
  | { ok: 'help' }
  | { ok: false; message: string };

/** Which OTEL_* variables can set an export field (signal-specific first). */
const OTEL_VARS: Record<keyof OtlpOverrides, string[]> = {
  protocol: ['OTEL_EXPORTER_OTLP_METRICS_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL'],
  endpoint: ['OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', 'OTEL_EXPORTER_OTLP_ENDPOINT'],
  headers: ['OTEL_EXPORTER_OTLP_METRICS_HEADERS', 'OTEL_EXPORTER_OTLP_HEADERS'],
  compression: ['OTEL_EXPORTER_OTLP_METRICS_COMPRESSION', 'OTEL_EXPORTER_OTLP_COMPRESSION'],
  timeoutMs: ['OTEL_EXPORTER_OTLP_METRICS_TIMEOUT', 'OTEL_EXPORTER_OTLP_TIMEOUT'],
  certificate: ['OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE', 'OTEL_EXPORTER_OTLP_CERTIFICATE'],
  clientKey: ['OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY', 'OTEL_EXPORTER_OTLP_CLIENT_KEY'],
  clientCertificate: ['OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE', 'OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE'],
  insecure: ['OTEL_EXPORTER_OTLP_METRICS_INSECURE', 'OTEL_EXPORTER_OTLP_INSECURE'],
  intervalMs: ['OTEL_METRIC_EXPORT_INTERVAL'],
  exportTimeoutMs: ['OTEL_METRIC_EXPORT_TIMEOUT'],
};

/**
 * Precedence for export settings: flags > OTEL_* environment > config file > defaults.
 * A config-file value is passed on only when no OTEL_* variable sets the same field.
 */
export function exportOverrides(
  config: Config, sources: Readonly<Record<string, string>>, env: NodeJS.ProcessEnv,
): OtlpOverrides {
  const out: OtlpOverrides = {};
  const e = config.export;
  const set = <K extends keyof OtlpOverrides>(k: K, v: OtlpOverrides[K] | undefined, path: string) => {
    if (v === undefined) return;
    const src = sources[path] ?? (path === 'export.headers' ? 'file' : 'default');
    const envSets = OTEL_VARS[k].some((n) => (env[n] ?? '').trim() !== '');
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
  set('intervalMs', e.intervalMs, 'export.intervalMs');
  if (out.intervalMs === undefined && (env.OTEL_METRIC_EXPORT_INTERVAL ?? '').trim() === '') {
    out.intervalMs = DEFAULT_EXPORT_INTERVAL_MS;
  }
  return out;
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
  const res = buildResource({ nodeName: config.nodeName || undefined, env });
  const problems = [...(otlp.ok ? [] : otlp.issues), ...res.issues];
  if (!otlp.ok || res.issues.length > 0) {
    return { ok: false, message: problems.map((p) => `export: ${p}`).join('\n') };
  }
  return {
    ok: true, config, otlp: otlp.settings, resource: res.resource,
    warnings: loaded.warnings.map((w) => formatIssues([w])),
  };
}

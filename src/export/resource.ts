/**
 * The OTel Resource every Fovea signal carries.
 *
 * Precedence, lowest first: SDK defaults (telemetry.sdk.*) < Fovea defaults < OTEL_RESOURCE_ATTRIBUTES
 * < OTEL_SERVICE_NAME (service.name only, as the spec says) < values passed in by the caller
 * (Fovea's config, the Downward API's node name).
 *
 * `service.instance.id`: the caller's `instanceId`, else the Kubernetes node name (one agent per
 * node in a DaemonSet, so it is unique and survives pod restarts — series stay continuous), else
 * the host name (standalone mode: one agent per host). Never a random UUID: a new id on every
 * restart would start new series and break cumulative continuity in Prometheus/Mimir.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { defaultResource, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { DEFAULT_SERVICE_NAME, RESOURCE } from '../names.js';

export interface BuildResourceOptions {
  serviceName?: string;
  /** Kubernetes node name (Downward API `spec.nodeName`), when running in a cluster. */
  nodeName?: string;
  /** Defaults to os.hostname(). */
  hostName?: string;
  instanceId?: string;
  /** Defaults to the version in package.json. */
  serviceVersion?: string;
  env: Readonly<Record<string, string | undefined>>;
}

export interface BuiltResource {
  resource: Resource;
  /** The attributes Fovea set (without the SDK's telemetry.sdk.*), for logs and tests. */
  attributes: Record<string, string>;
  /** Problems found in OTEL_RESOURCE_ATTRIBUTES; when any, that variable was ignored entirely. */
  issues: string[];
}

export function buildResource(opts: BuildResourceOptions): BuiltResource {
  const { attributes: fromEnv, issues } = parseResourceAttributes(opts.env['OTEL_RESOURCE_ATTRIBUTES'] ?? '');
  const host = nonEmpty(opts.hostName) ?? hostname();
  const node = nonEmpty(opts.nodeName);

  const attrs: Record<string, string> = {
    [RESOURCE.serviceName]: DEFAULT_SERVICE_NAME,
    [RESOURCE.serviceVersion]: opts.serviceVersion ?? packageVersion(),
    [RESOURCE.hostName]: host,
    ...fromEnv,
  };
  const envService = nonEmpty(opts.env['OTEL_SERVICE_NAME']);
  if (envService) attrs[RESOURCE.serviceName] = envService;
  const service = nonEmpty(opts.serviceName);
  if (service) attrs[RESOURCE.serviceName] = service;
  if (opts.hostName) attrs[RESOURCE.hostName] = host;
  if (node) attrs[RESOURCE.k8sNodeName] = node;
  const instanceId = nonEmpty(opts.instanceId) ?? (attrs[RESOURCE.serviceInstanceId] === undefined ? node ?? host : undefined);
  if (instanceId) attrs[RESOURCE.serviceInstanceId] = instanceId;

  return { resource: defaultResource().merge(resourceFromAttributes(attrs)), attributes: attrs, issues };
}

/**
 * OTEL_RESOURCE_ATTRIBUTES: `key1=value1,key2=value2`, keys and values percent-decoded, all values
 * strings. Per the SDK spec, on any error the whole variable is discarded (and every bad entry is
 * reported), so a half-applied identity never reaches the backend.
 */
export function parseResourceAttributes(text: string): { attributes: Record<string, string>; issues: string[] } {
  const attributes: Record<string, string> = {};
  const issues: string[] = [];
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    if (eq < 0) {
      issues.push(`OTEL_RESOURCE_ATTRIBUTES: entry '${entry}' is not key=value`);
      continue;
    }
    const key = decode(entry.slice(0, eq).trim());
    const value = decode(entry.slice(eq + 1).trim());
    if (key === undefined || value === undefined) {
      issues.push(`OTEL_RESOURCE_ATTRIBUTES: entry '${entry}' has invalid percent-encoding`);
      continue;
    }
    if (key === '') {
      issues.push(`OTEL_RESOURCE_ATTRIBUTES: entry '${entry}' has an empty key`);
      continue;
    }
    attributes[key] = value;
  }
  if (issues.length > 0) issues.push('OTEL_RESOURCE_ATTRIBUTES ignored entirely (spec: discard the value on any error)');
  return { attributes: issues.length > 0 ? {} : attributes, issues };
}

function decode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

function nonEmpty(s: string | undefined): string | undefined {
  const t = s?.trim();
  return t === undefined || t === '' ? undefined : t;
}

let cachedVersion: string | undefined;

/** Version from the repository's package.json (src/export → ../../package.json, also from dist/src/export). */
export function packageVersion(): string {
  if (cachedVersion) return cachedVersion;
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'fovea' && pkg.version) return (cachedVersion = pkg.version);
    } catch {
      // try the next location
    }
  }
  return (cachedVersion = '0.0.0-unknown');
}

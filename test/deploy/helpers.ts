/**
 * Shared by the deployment tests (test/deploy): where the tools are, rendering kustomize
 * overlays, merging collector configurations the way the collector does, and reading metric and
 * label names out of PromQL.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig, type ValueSource } from '../../src/config/index.js';
import { type Config } from '../../src/config/schema.js';
import { ATTR, INSTRUMENTS, RESOURCE, type InstrumentName } from '../../src/names.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

// ---- tools ---------------------------------------------------------------------------------

/** kubectl (kustomize) and promtool, from Debian 13 packages extracted by `scripts/setup.sh --test`. */
export const TOOLS = {
  kubectl: join(REPO, '.cache/deb13-tools/root/usr/bin/kubectl'),
  promtool: join(REPO, '.cache/deb13-tools/root/usr/bin/promtool'),
} as const;
export type Tool = keyof typeof TOOLS;

export function missingTools(tools: readonly Tool[]): string | undefined {
  const missing = tools.filter((t) => !existsSync(TOOLS[t]));
  if (missing.length === 0) return undefined;
  return `${missing.map((t) => `${t} not found at ${TOOLS[t]}`).join('; ')} — run: bash scripts/setup.sh --test`;
}

/**
 * `describe` for tests that need kubectl/promtool: without them it skips and says why, except in
 * CI (CI=true), where a missing tool is a failure.
 */
export function describeWithTools(name: string, tools: readonly Tool[], fn: () => void): void {
  const missing = missingTools(tools);
  if (missing && process.env['CI'] === 'true') {
    it(`${name} needs ${tools.join(', ')}`, () => { throw new Error(`${name}: ${missing}`); });
    return;
  }
  describe.skipIf(missing !== undefined)(missing ? `${name} — skipped: ${missing}` : name, fn);
}

export interface RunResult { code: number; stdout: string; stderr: string }

/** Runs a program (no shell); never throws for a non-zero exit. */
export function run(cmd: string, args: readonly string[], opts: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): RunResult {
  try {
    const stdout = execFileSync(cmd, args, {
      cwd: opts.cwd ?? REPO, encoding: 'utf8', timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 << 20,
      stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env,
    });
    return { code: 0, stdout, stderr: '' };
  } catch (err) {
    const e = err as { status?: number | null; stdout?: string; stderr?: string; message?: string };
    return { code: e.status ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message ?? '' };
  }
}

// ---- Kubernetes objects ------------------------------------------------------------------------

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

/** `kubectl kustomize <dir>` → objects. Throws with kubectl's message when it cannot render. */
export function kustomize(dir: string): K8sObject[] {
  const r = run(TOOLS.kubectl, ['kustomize', dir]);
  if (r.code !== 0) throw new Error(`kubectl kustomize ${dir} failed (exit ${r.code}):\n${r.stderr}`);
  return parseAllDocuments(r.stdout).map((d) => {
    if (d.errors.length) throw new Error(`kubectl kustomize ${dir}: unparsable output: ${d.errors[0]?.message}`);
    return d.toJS() as K8sObject;
  }).filter((o) => o !== null);
}

export const byKind = (objs: readonly K8sObject[], kind: string): K8sObject[] => objs.filter((o) => o.kind === kind);

export function one(objs: readonly K8sObject[], kind: string, name: string): K8sObject {
  const found = objs.filter((o) => o.kind === kind && o.metadata.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length}`);
  return found[0]!;
}

/** A ConfigMap by its generator name (kustomize appends a content hash: `name-abc123`). */
export function configMap(objs: readonly K8sObject[], name: string): K8sObject & { data: Record<string, string> } {
  const found = objs.filter((o) => o.kind === 'ConfigMap' && (o.metadata.name === name || new RegExp(`^${name}-[a-z0-9]{10}$`).test(o.metadata.name)));
  if (found.length !== 1) throw new Error(`expected one ConfigMap ${name}, found ${found.length}`);
  return found[0] as K8sObject & { data: Record<string, string> };
}

export interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string }; configMapKeyRef?: { name: string; key: string }; secretKeyRef?: { name: string; key: string } } }>;
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string; optional?: boolean } }>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown> & { capabilities?: { add?: string[]; drop?: string[] } };
  command?: string[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean; mountPropagation?: string; subPath?: string }>;
  ports?: Array<{ name?: string; containerPort: number; hostPort?: number; protocol?: string }>;
}

export interface Probe { httpGet?: { port: number | string; path?: string }; grpc?: { port: number; service?: string }; tcpSocket?: { port: number | string } }

/** A ConfigMap's or Secret's keys as files: all of them (by key), or the listed items. */
export interface KeyProjection { items?: Array<{ key: string; path: string }> }

export interface Volume {
  name: string;
  configMap?: { name: string } & KeyProjection;
  secret?: { secretName: string } & KeyProjection;
  projected?: { defaultMode?: number; sources: Array<{ configMap?: { name: string } & KeyProjection; secret?: { name: string } & KeyProjection }> };
  hostPath?: { path: string; type?: string };
  emptyDir?: unknown;
}

export interface PodSpec {
  containers: Container[];
  volumes?: Volume[];
  hostNetwork?: boolean;
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  priorityClassName?: string;
  tolerations?: Array<Record<string, string>>;
}

const posixJoin = (...parts: string[]): string => posix.join(...parts.filter(Boolean));

/**
 * Where a file a container reads comes from: the ConfigMap or Secret key that a configMap, secret
 * or projected volume (or a subPath of one) puts at that path. Undefined for anything else.
 */
export function fileSource(spec: PodSpec, c: Container, path: string): { kind: 'ConfigMap' | 'Secret'; name: string; key: string } | undefined {
  const mount = (c.volumeMounts ?? [])
    .filter((m) => path === m.mountPath || path.startsWith(`${m.mountPath}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  const vol = spec.volumes?.find((v) => v.name === mount?.name);
  if (!mount || !vol) return undefined;
  const rel = path === mount.mountPath ? mount.subPath : posixJoin(mount.subPath ?? '', path.slice(mount.mountPath.length + 1));
  if (!rel) return undefined;
  const keyAt = (p: KeyProjection): string | undefined => (p.items ? p.items.find((i) => i.path === rel)?.key : rel.includes('/') ? undefined : rel);
  const sources = vol.projected?.sources
    ?? (vol.configMap ? [{ configMap: vol.configMap }] : vol.secret ? [{ secret: { ...vol.secret, name: vol.secret.secretName } }] : []);
  for (const src of sources) {
    const key = src.configMap ? keyAt(src.configMap) : src.secret ? keyAt(src.secret) : undefined;
    if (key !== undefined) return { kind: src.configMap ? 'ConfigMap' : 'Secret', name: (src.configMap ?? src.secret)!.name, key };
  }
  return undefined;
}

export function podSpec(o: K8sObject): PodSpec {
  const spec = (o['spec'] as { template?: { spec?: PodSpec } } | undefined)?.template?.spec;
  if (!spec) throw new Error(`${o.kind} ${o.metadata.name} has no pod template`);
  return spec;
}

/** The value an env var gets in the pod, when the render alone determines it. */
export function envValue(objs: readonly K8sObject[], c: Container, name: string): string | undefined {
  const e = c.env?.find((x) => x.name === name);
  if (e?.value !== undefined) return e.value;
  const ref = e?.valueFrom?.configMapKeyRef;
  return ref ? configMap(objs, ref.name.replace(/-[a-z0-9]{10}$/, '')).data[ref.key] : undefined;
}

/**
 * The agent's effective configuration in the pod: its own loader, the mounted file, the pod's env
 * (the node name from the downward API is `node-a`).
 */
export function agentConfig(objs: readonly K8sObject[], spec: PodSpec, c: Container): { config: Config; warnings: string[]; sources: Readonly<Record<string, ValueSource>> } {
  const env: NodeJS.ProcessEnv = {};
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'spec.nodeName') env[e.name] = 'node-a';
    else env[e.name] = envValue(objs, c, e.name);
  }
  const readFile = (path: string): string => {
    const src = fileSource(spec, c, path);
    const data = src?.kind === 'ConfigMap' ? objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === src.name)?.['data'] as Record<string, string> | undefined : undefined;
    const text = src && data?.[src.key];
    if (text === undefined) throw Object.assign(new Error(`${path} not mounted`), { code: 'ENOENT' });
    return text;
  };
  const r = loadConfig({ env, flags: {}, readFile });
  if (!r.ok) throw new Error(`the agent rejects its configuration:\n${r.issues.map((i) => `${i.origin ?? i.path}: ${i.message}`).join('\n')}`);
  return { config: r.config, warnings: r.warnings.map((w) => `${w.origin}: ${w.message}`), sources: r.sources };
}

// ---- collector configurations -------------------------------------------------------------------

export type CollectorConfig = Record<string, unknown> & {
  receivers?: Record<string, unknown>;
  processors?: Record<string, unknown>;
  exporters?: Record<string, unknown>;
  extensions?: Record<string, unknown>;
  connectors?: Record<string, unknown>;
  service?: {
    extensions?: string[];
    pipelines?: Record<string, { receivers?: string[]; processors?: string[]; exporters?: string[] }>;
    telemetry?: unknown;
  };
};

export const readCollectorConfig = (file: string): CollectorConfig => parse(readFileSync(join(REPO, 'collector-config', file), 'utf8')) as CollectorConfig;

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** How the collector merges several --config files: maps key by key, anything else (lists too) replaced. */
export function mergeConfigs(...configs: readonly unknown[]): CollectorConfig {
  const merge = (low: unknown, high: unknown): unknown => {
    if (high === undefined) return low;
    if (isMap(low) && isMap(high)) {
      const out: Record<string, unknown> = { ...low };
      for (const [k, v] of Object.entries(high)) out[k] = merge(low[k], v);
      return out;
    }
    return high;
  };
  return configs.reduce<unknown>((acc, c) => merge(acc, c), {}) as CollectorConfig;
}

/** Every string in a parsed document (values, not keys), depth first. */
export function strings(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => strings(x, out));
  else if (isMap(v)) Object.values(v).forEach((x) => strings(x, out));
  return out;
}

/** `${env:NAME}` references in a configuration. */
export function envRefs(config: unknown): Set<string> {
  const out = new Set<string>();
  for (const s of strings(config)) for (const m of s.matchAll(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}/g)) out.add(m[1]!);
  return out;
}

// ---- Fovea's names in their Prometheus form ------------------------------------------------------

/** OTel attribute / resource key → Prometheus label (`fovea.drop.reason` → `fovea_drop_reason`). */
export const promLabel = (key: string): string => key.replace(/[^a-zA-Z0-9_]/g, '_');

/**
 * The series names an instrument has in Prometheus: its name, or for an explicit-bucket histogram
 * (`kind: 'histogram'`) the classic histogram's three, `_bucket` (with label `le`), `_sum` and
 * `_count`; the bare histogram name is no series.
 */
export function promSeriesNames(i: InstrumentName): string[] {
  return i.kind === 'histogram' ? [`${i.prometheus}_bucket`, `${i.prometheus}_sum`, `${i.prometheus}_count`] : [i.prometheus];
}

export const PROM_METRICS: ReadonlySet<string> = new Set(Object.values(INSTRUMENTS).flatMap(promSeriesNames));
/** The `_bucket` series of Fovea's histograms: the only series that carry `le`. */
export const PROM_BUCKET_METRICS: ReadonlySet<string> = new Set(
  Object.values(INSTRUMENTS).filter((i) => i.kind === 'histogram').map((i) => `${i.prometheus}_bucket`),
);
export const OTEL_METRICS: ReadonlySet<string> = new Set(Object.values(INSTRUMENTS).map((i) => i.name));

/**
 * Resource attributes the gateway's transform/promote copies onto data points
 * (collector-config/gateway.yaml): Fovea's node name, the cluster name the agent tier adds, and
 * the pod (name, uid) and namespace that groupbyattrs lifted to the resource.
 */
export const PROMOTED_RESOURCE_ATTRS = [RESOURCE.k8sNodeName, 'k8s.cluster.name', ATTR.namespace, ATTR.podName, ATTR.podUid] as const;

/** Every label a Fovea series can carry in Prometheus (through deploy/'s gateway). */
export const PROM_LABELS: ReadonlySet<string> = new Set([
  ...Object.values(ATTR).map(promLabel),
  ...PROMOTED_RESOURCE_ATTRS.map(promLabel),
]);

/** The histogram bucket bound label of `_bucket` series. */
export const PROM_BUCKET_LABEL = 'le';

/**
 * Labels a query over these metrics may use: PROM_LABELS, plus `le` when it reads a histogram's
 * `_bucket` series (histogram_quantile, `by (le)`), and only then.
 */
export function promLabelsFor(metrics: Iterable<string>): ReadonlySet<string> {
  for (const m of metrics) if (PROM_BUCKET_METRICS.has(m)) return new Set([...PROM_LABELS, PROM_BUCKET_LABEL]);
  return PROM_LABELS;
}

const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring',
  'group_left', 'group_right', 'Inf', 'NaN', 'inf', 'nan', 'atan2']);

/**
 * The metric names and label names a PromQL expression refers to. A small scanner, enough for the
 * expressions in deploy/ (selectors, aggregations, binary operators, offsets, subqueries-free):
 * label names from matchers, `by`/`without`/`on`/`ignoring`/`group_*` lists; metric names are the
 * identifiers left that are neither functions (followed by `(`) nor keywords.
 */
export function promqlRefs(expr: string): { metrics: Set<string>; labels: Set<string> } {
  const metrics = new Set<string>();
  const labels = new Set<string>();
  let s = expr;
  // selectors' matchers: {label op "value", ...}
  s = s.replace(/\{([^{}]*)\}/g, (_all, inner: string) => {
    for (const m of inner.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"/g)) labels.add(m[1]!);
    return ' ';
  });
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_all, _kw: string, list: string) => {
    for (const l of list.split(',').map((x) => x.trim()).filter(Boolean)) labels.add(l);
    return ' ';
  });
  s = s.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, ' ');
  s = s.replace(/\[[^\]]*\]/g, ' ');
  s = s.replace(/\boffset\s+-?[0-9a-z]+/g, ' ');
  s = s.replace(/(?<![a-zA-Z_:])\d+(?:\.\d+)?(?:e[+-]?\d+)?/gi, ' ');
  for (const m of s.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const id = m[0];
    const rest = s.slice((m.index ?? 0) + id.length);
    if (/^\s*\(/.test(rest) || PROMQL_KEYWORDS.has(id)) continue;
    metrics.add(id);
  }
  return { metrics, labels };
}

/** Grafana's variable functions: `label_values(selector, label)`, `label_values(label)`, else PromQL. */
export function grafanaQueryRefs(query: string): { metrics: Set<string>; labels: Set<string> } {
  const lv = /^\s*label_values\(\s*(?:(.*),\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$/.exec(query);
  if (lv) {
    const refs = lv[1] ? promqlRefs(lv[1]) : { metrics: new Set<string>(), labels: new Set<string>() };
    refs.labels.add(lv[2]!);
    return refs;
  }
  return promqlRefs(query);
}

/** Grafana's built-in and dashboard variables → values promtool accepts. */
export function substituteGrafanaVariables(expr: string): string {
  return expr
    .replace(/\$__rate_interval|\$\{__rate_interval\}/g, '5m')
    .replace(/\$__range|\$\{__range\}/g, '1h')
    .replace(/\$__interval|\$\{__interval\}/g, '1m')
    .replace(/\$\{?[a-zA-Z_][a-zA-Z0-9_]*\}?/g, '.*');
}

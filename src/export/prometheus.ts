/**
 * Prometheus mode: the agent's own `/metrics`, for clusters that scrape (DESIGN.md decision 10).
 *
 * - Collection and the Prometheus text format come from `@opentelemetry/exporter-prometheus`
 *   (its `PrometheusExporter` is a MetricReader of the pipeline's MeterProvider; its own HTTP
 *   server is not started: PrometheusServer below serves it on `prometheus.address`).
 * - Names are those of the OTLP → Prometheus translation with suffixes (the collector's
 *   `prometheus` exporter, VictoriaMetrics' `-opentelemetry.usePrometheusNaming`): unit words
 *   (`By` → `bytes`, `s` → `seconds`; `{packet}`-style annotations dropped) and `_total` on
 *   counters — what src/names.ts declares for every instrument. The library alone would give
 *   no unit suffix (`fovea_network_io_total`, `fovea_tcp_rtt`), so the metric names are
 *   translated before its serializer sees them.
 * - The node and cluster names on the agent's resource become labels of every series
 *   (`k8s_node_name`, `k8s_cluster_name`), as the gateway's transform/promote makes them on the
 *   OTLP path (collector-config/gateway.yaml): the dashboards and alert rules select on them.
 * - OpenMetrics 1.0.0 when the scraper asks for it (Prometheus does by default): the library has
 *   no content negotiation and no OpenMetrics serializer (text format 0.0.4 only), so
 *   `openMetricsText` below writes the same translated data in OpenMetrics form.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Attributes } from '@opentelemetry/api';
import type { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import {
  DataPointType, type DataPoint, type Histogram, type MetricData, type MetricProducer, type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import { loadOnUse } from '../load-on-use.js';
import type { Logger } from '../log.js';
import { RESOURCE } from '../names.js';
import { parseHostPort } from '../net/address.js';

const gzipAsync = promisify(gzip);

// ---- names ---------------------------------------------------------------------------------------

/** OTel unit → the word the Prometheus translation appends (UCUM units of the OTel conventions). */
const UNIT_WORDS: Readonly<Record<string, string>> = {
  d: 'days', h: 'hours', min: 'minutes', s: 'seconds', ms: 'milliseconds', us: 'microseconds', ns: 'nanoseconds',
  By: 'bytes', KiBy: 'kibibytes', MiBy: 'mebibytes', GiBy: 'gibibytes', TiBy: 'tibibytes',
  KBy: 'kilobytes', MBy: 'megabytes', GBy: 'gigabytes', TBy: 'terabytes',
  m: 'meters', V: 'volts', A: 'amperes', J: 'joules', W: 'watts', g: 'grams', Cel: 'celsius', Hz: 'hertz', '%': 'percent',
};
/** The denominator of a `x/y` unit. */
const PER_UNIT_WORDS: Readonly<Record<string, string>> = { s: 'second', m: 'minute', h: 'hour', d: 'day', w: 'week', mo: 'month', y: 'year' };

/** collection and the text format, loaded with the first Prometheus reader (src/load-on-use.ts): only agents with `prometheus.address` have one */
const exporterPrometheus = loadOnUse<typeof import('@opentelemetry/exporter-prometheus')>('@opentelemetry/exporter-prometheus');

export type InstrumentKind = 'counter' | 'gauge' | 'histogram';

/** The unit's word in Prometheus names (`bytes`, `seconds`, `bytes_per_second`), '' when none. */
export function prometheusUnit(unit: string): string {
  const bare = unit.replace(/\{[^}]*\}/g, '').trim();
  if (bare === '' || bare === '1') return '';
  const [main = '', per] = bare.split('/', 2);
  const word = (u: string, table: Readonly<Record<string, string>>) => table[u] ?? u.replace(/[^a-zA-Z0-9]+/g, '_').replace(/^_+|_+$/g, '');
  const m = main === '' ? '' : word(main, UNIT_WORDS);
  const p = per === undefined || per.trim() === '' ? '' : word(per.trim(), PER_UNIT_WORDS);
  return [m, p && `per_${p}`].filter(Boolean).join('_');
}

/**
 * An OTel instrument's name after OTLP → Prometheus translation: the name's words joined by `_`,
 * the unit's words appended unless the name has them already, `_total` for counters, `_ratio` for
 * gauges of unit `1`.
 */
export function prometheusName(name: string, unit: string, kind: InstrumentKind): string {
  let tokens = name.split(/[^a-zA-Z0-9]+/).filter(Boolean);
  // each word of the unit unless the name has it already (`fovea.network.drop.bytes` stays as is)
  for (const w of prometheusUnit(unit).split('_').filter(Boolean)) if (w === 'per' || !tokens.includes(w)) tokens.push(w);
  if (kind === 'counter') tokens = [...tokens.filter((t) => t !== 'total'), 'total'];
  else if (kind === 'gauge' && unit === '1' && !tokens.includes('ratio')) tokens.push('ratio');
  const joined = tokens.join('_');
  return /^[0-9]/.test(joined) ? `_${joined}` : joined;
}

/** An attribute key as a label name, as the library writes it: invalid characters → `_`, runs of `_` → one. */
export function prometheusLabel(key: string): string {
  return key.replace(/[^a-zA-Z0-9_]/g, '_').replace(/_{2,}/g, '_');
}

function kindOf(m: MetricData): InstrumentKind {
  if (m.dataPointType === DataPointType.HISTOGRAM || m.dataPointType === DataPointType.EXPONENTIAL_HISTOGRAM) return 'histogram';
  if (m.dataPointType === DataPointType.SUM && m.isMonotonic) return 'counter';
  return 'gauge';
}

/** Resource attributes every series carries as labels (collector-config/gateway.yaml transform/promote). */
export const PROMOTED_RESOURCE_ATTRIBUTES = [RESOURCE.k8sNodeName, 'k8s.cluster.name'] as const;

/**
 * The collection as Prometheus sees it: metric names translated, `descriptor.unit` the unit's
 * word (for OpenMetrics' UNIT), the node and cluster names added to data points that lack them.
 */
export function toPrometheus(rm: ResourceMetrics): ResourceMetrics {
  const promoted: Attributes = {};
  for (const k of PROMOTED_RESOURCE_ATTRIBUTES) {
    const v = rm.resource.attributes[k];
    if (v !== undefined && v !== null && v !== '') promoted[k] = v;
  }
  const withPromoted = <T>(points: DataPoint<T>[]): DataPoint<T>[] => (Object.keys(promoted).length === 0 ? points
    : points.map((p) => ({ ...p, attributes: { ...promoted, ...p.attributes } })));
  return {
    resource: rm.resource,
    scopeMetrics: rm.scopeMetrics.map((sm) => ({
      scope: sm.scope,
      metrics: sm.metrics.map((m) => {
        const descriptor = { ...m.descriptor, name: prometheusName(m.descriptor.name, m.descriptor.unit, kindOf(m)), unit: prometheusUnit(m.descriptor.unit) };
        return { ...m, descriptor, dataPoints: withPromoted(m.dataPoints as DataPoint<unknown>[]) } as MetricData;
      }),
    })),
  };
}

// ---- formats -------------------------------------------------------------------------------------

export type ExpositionFormat =
  | { readonly kind: 'text'; readonly contentType: string }
  | { readonly kind: 'openmetrics'; readonly contentType: string };

export const TEXT_FORMAT: ExpositionFormat = { kind: 'text', contentType: 'text/plain; version=0.0.4; charset=utf-8' };
const OPENMETRICS = (version: string): ExpositionFormat => ({ kind: 'openmetrics', contentType: `application/openmetrics-text; version=${version}; charset=utf-8` });

/**
 * The format for an Accept header (Prometheus' scrape protocol negotiation): the acceptable media
 * range with the highest q, the first of equals; OpenMetrics 1.0.0 (or 0.0.1, the same text) and
 * the text format (0.0.4; a 1.0.0 request gets 0.0.4, which it lists too), `*\/*` = text. Nothing
 * acceptable, or no header: the text format.
 */
export function negotiate(accept: string | undefined): ExpositionFormat {
  let best: { format: ExpositionFormat; q: number } | undefined;
  for (const range of (accept ?? '').split(',')) {
    const [type = '', ...params] = range.split(';').map((s) => s.trim());
    const p = new Map(params.map((x) => {
      const eq = x.indexOf('=');
      return [x.slice(0, eq).trim().toLowerCase(), x.slice(eq + 1).trim().replace(/^"|"$/g, '')] as const;
    }));
    const q = p.has('q') ? Number(p.get('q')) : 1;
    if (!(q > 0)) continue;
    const version = p.get('version');
    let format: ExpositionFormat | undefined;
    switch (type.toLowerCase()) {
      case 'application/openmetrics-text':
        if (version === undefined || version === '1.0.0') format = OPENMETRICS('1.0.0');
        else if (version === '0.0.1') format = OPENMETRICS('0.0.1');
        break;
      case 'text/plain':
        if (version === undefined || version === '0.0.4' || version === '1.0.0') format = TEXT_FORMAT;
        break;
      case '*/*':
      case 'text/*':
        format = TEXT_FORMAT;
        break;
    }
    if (format && (best === undefined || q > best.q)) best = { format, q };
  }
  return best?.format ?? TEXT_FORMAT;
}

const escapeValue = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const valueText = (v: number): string => (v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v));
const labelText = (v: unknown): string => escapeValue(typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v));

function labels(attrs: Attributes, extra: Readonly<Record<string, string>>): string {
  const parts = [...Object.entries(attrs), ...Object.entries(extra)].map(([k, v]) => `${prometheusLabel(k)}="${labelText(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

/**
 * OpenMetrics 1.0.0 of a translated collection (`toPrometheus`): the same samples and labels as
 * the library's text format (scope labels `otel_scope_name`/`otel_scope_version`, `target_info`
 * from the resource), with OpenMetrics' families — a counter family is named without `_total`,
 * UNIT only where the name ends with the unit, `target` is an info family — and `# EOF`.
 */
export function openMetricsText(rm: ResourceMetrics): string {
  const out: string[] = [
    '# TYPE target info', '# HELP target Target metadata', `target_info${labels(rm.resource.attributes, {})} 1`,
  ];
  for (const sm of rm.scopeMetrics) {
    const scope: Record<string, string> = { otel_scope_name: sm.scope.name };
    if (sm.scope.schemaUrl) scope['otel_scope_schema_url'] = sm.scope.schemaUrl;
    if (sm.scope.version) scope['otel_scope_version'] = sm.scope.version;
    for (const m of sm.metrics) {
      const kind = kindOf(m);
      if (m.dataPointType === DataPointType.EXPONENTIAL_HISTOGRAM) continue; // as the library: no classic form
      const name = m.descriptor.name;
      const family = kind === 'counter' ? name.replace(/_total$/, '') : name;
      const type = kind === 'counter' ? 'counter' : kind === 'histogram' ? 'histogram' : 'gauge';
      out.push(`# TYPE ${family} ${type}`);
      const unit = m.descriptor.unit;
      if (unit !== '' && family.endsWith(`_${unit}`)) out.push(`# UNIT ${family} ${unit}`);
      out.push(`# HELP ${family} ${escapeValue(m.descriptor.description || 'description missing')}`);
      if (m.dataPointType === DataPointType.HISTOGRAM) {
        for (const p of m.dataPoints as DataPoint<Histogram>[]) {
          const h = p.value;
          let cumulative = 0;
          for (const [i, c] of h.buckets.counts.entries()) {
            cumulative += c;
            const bound = h.buckets.boundaries[i];
            out.push(`${family}_bucket${labels(p.attributes, { ...scope, le: bound === undefined || bound === Infinity ? '+Inf' : String(bound) })} ${cumulative}`);
            if (bound === undefined || bound === Infinity) break; // one +Inf bucket, as the library writes it
          }
          out.push(`${family}_count${labels(p.attributes, scope)} ${valueText(h.count)}`);
          if (h.sum !== undefined) out.push(`${family}_sum${labels(p.attributes, scope)} ${valueText(h.sum)}`);
        }
      } else {
        const sample = kind === 'counter' ? `${family}_total` : family;
        for (const p of m.dataPoints as DataPoint<number>[]) out.push(`${sample}${labels(p.attributes, scope)} ${valueText(p.value)}`);
      }
    }
  }
  out.push('# EOF', '');
  return out.join('\n');
}

/** The text format of a translated collection, by the library (units are in the names: no UNIT comments). */
export function prometheusText(rm: ResourceMetrics): string {
  const unitless: ResourceMetrics = {
    resource: rm.resource,
    scopeMetrics: rm.scopeMetrics.map((sm) => ({ scope: sm.scope, metrics: sm.metrics.map((m) => ({ ...m, descriptor: { ...m.descriptor, unit: '' } })) })),
  };
  return new (exporterPrometheus().PrometheusSerializer)(undefined, false).serialize(unitless);
}

// ---- the reader ----------------------------------------------------------------------------------

export interface Exposition {
  readonly contentType: string;
  readonly body: string;
}

/**
 * The pipeline's Prometheus reader: collects on demand (from the producers it is given — the
 * pipeline gives it the latest collection of the agent's counters, see metrics-pipeline.ts) and
 * renders in the negotiated format.
 */
export class PrometheusMetrics {
  readonly reader: PrometheusExporter;

  constructor(opts: { readonly metricProducers?: MetricProducer[] }) {
    this.reader = new (exporterPrometheus().PrometheusExporter)({ preventServerStart: true, ...(opts.metricProducers ? { metricProducers: opts.metricProducers } : {}) });
  }

  async render(accept: string | undefined): Promise<Exposition> {
    const { resourceMetrics } = await this.reader.collect();
    const rm = toPrometheus(resourceMetrics);
    const format = negotiate(accept);
    return { contentType: format.contentType, body: format.kind === 'openmetrics' ? openMetricsText(rm) : prometheusText(rm) };
  }
}

// ---- the endpoint --------------------------------------------------------------------------------

export const METRICS_PATH = '/metrics';

/**
 * GET /metrics on `prometheus.address` (only when set). Bind 127.0.0.1 when the scraper runs on
 * the host; in a cluster the pod (hostNetwork) is scraped on the node's address: bind that
 * address (deploy/components/prometheus-scrape), not every address of the node.
 */
export class PrometheusServer {
  private constructor(private readonly server: Server) {}

  get address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  static async start(opts: { address: string; metrics: PrometheusMetrics; logger: Logger }): Promise<PrometheusServer> {
    const { host, port } = parseHostPort(opts.address, 'prometheus.address');
    const log = opts.logger.child({ component: 'prometheus' });
    let failures = 0;
    const server = createServer((req, res) => {
      void handle(req, res).catch((err: unknown) => {
        if (failures++ === 0 || failures % 100 === 0) log.warn({ err: (err as Error).message, failures }, 'a /metrics request failed');
        if (!res.headersSent) res.writeHead(503, { 'content-type': 'text/plain' });
        res.end(`collection failed: ${(err as Error).message}\n`);
      });
    });
    async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
      const path = req.url?.split('?')[0];
      if (path !== METRICS_PATH) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: GET ${METRICS_PATH}\n`);
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }).end(`method not allowed: GET ${METRICS_PATH}\n`);
        return;
      }
      const { contentType, body } = await opts.metrics.render(req.headers.accept);
      const gzipped = /(^|[\s,])gzip(\s*(;|,|$))/i.test(req.headers['accept-encoding'] ?? '');
      const payload = gzipped ? await gzipAsync(body) : Buffer.from(body);
      res.writeHead(200, {
        'content-type': contentType, 'content-length': payload.length, ...(gzipped ? { 'content-encoding': 'gzip' } : {}), vary: 'Accept, Accept-Encoding',
      });
      res.end(req.method === 'HEAD' ? undefined : payload);
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new Error(`cannot serve prometheus.address ${opts.address}: ${err.message}`)));
      server.listen(port, host, () => resolve());
    });
    const self = new PrometheusServer(server);
    log.info({ address: self.address, path: METRICS_PATH }, 'Prometheus endpoint listening');
    return self;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

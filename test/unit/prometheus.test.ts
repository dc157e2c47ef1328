/**
 * Prometheus mode (src/export/prometheus.ts, the pipeline's shared collection, the agent setup):
 * - the name every instrument is served under is the Prometheus name src/names.ts declares (and
 *   docs/metrics.md lists), in the text format and in OpenMetrics — the OTLP → Prometheus
 *   translation with unit suffixes, which the library alone does not apply;
 * - both formats carry the same samples; OpenMetrics is well formed (families, UNIT, EOF);
 * - content negotiation as Prometheus asks; the endpoint over real HTTP on 127.0.0.1;
 * - one collection of the agent's counters per interval, whatever reads it: alongside OTLP the
 *   scrape serves what the OTLP export carried; alone, no OTLP exporter and no export errors;
 * - the settings (flag, env, file) and when OTLP is off.
 */
import { gunzipSync } from 'node:zlib';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { type PushMetricExporter, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { otlpEndpointConfigured, resolveAgentSetup } from '../../src/commands/agent-setup.js';
import { loadConfig } from '../../src/config/index.js';
import { createMetricsPipeline } from '../../src/export/metrics-pipeline.js';
import { resolveOtlpSettings } from '../../src/export/otlp-settings.js';
import {
  PrometheusServer, TEXT_FORMAT, negotiate, prometheusName, prometheusUnit, type PrometheusMetrics,
} from '../../src/export/prometheus.js';
import { SeriesProducer, type ProducedSeries } from '../../src/export/series-producer.js';
import { INSTRUMENTS, TCP_LATENCY_BOUNDS_S, type InstrumentName } from '../../src/names.js';

const silent = pino({ level: 'silent' });
const settings = (intervalMs = 60_000) => {
  const r = resolveOtlpSettings({}, { intervalMs });
  if (!r.ok) throw new Error(r.issues.join());
  return r.settings;
};
const ALL = Object.values(INSTRUMENTS) as InstrumentName[];

/** One series per instrument (a histogram for histogram instruments), values from `base`. */
function everyInstrument(base: number): Array<{ instrument: InstrumentName; series: ProducedSeries[] }> {
  return ALL.map((instrument, i) => {
    const attributes = { 'fovea.probe': `p${i}`, 'network.io.direction': 'receive' };
    if (instrument.kind !== 'histogram') return { instrument, series: [{ attributes, value: base + i }] };
    const counts = TCP_LATENCY_BOUNDS_S.map(() => 0).concat([0]);
    counts[2] = base;
    counts[counts.length - 1] = 1;
    const histogram = { boundaries: [...TCP_LATENCY_BOUNDS_S], counts, count: base + 1, sum: base * 0.0004 + 20 };
    return { instrument, series: [{ attributes, value: histogram.count, histogram }] };
  });
}

function producerOf(families: () => ReturnType<typeof everyInstrument>): { producer: SeriesProducer; reads: () => number } {
  let reads = 0;
  const producer = new SeriesProducer({ scope: { name: 'fovea', version: '9.9.9' }, cardinalityLimit: 100 });
  producer.addSource({ collect: () => { reads++; return families(); } });
  return { producer, reads: () => reads };
}

/** Samples of an exposition, text or OpenMetrics: `name{sorted labels}` → value. */
function samples(body: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable sample line: ${line}`);
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((x) => `${x[1]}=${x[2]}`).sort();
    out.set(`${m[1]}{${labels.join(',')}}`, m[3] === '+Inf' ? Infinity : Number(m[3]));
  }
  return out;
}
const names = (s: Map<string, number>): Set<string> => new Set([...s.keys()].map((k) => k.slice(0, k.indexOf('{'))));
const seriesNames = (i: InstrumentName): string[] => (i.kind === 'histogram' ? ['_bucket', '_sum', '_count'].map((x) => i.prometheus + x) : [i.prometheus]);

const OM_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

async function prometheusOnly(families: () => ReturnType<typeof everyInstrument>, resource = resourceFromAttributes({ 'service.name': 'fovea' })) {
  const { producer, reads } = producerOf(families);
  const p = createMetricsPipeline({ settings: settings(), otlp: false, prometheus: true, resource, logger: silent, cardinalityLimit: 100, metricProducers: [producer] });
  return { p, metrics: p.prometheus!, reads };
}

describe('Prometheus names', () => {
  it('the OTLP → Prometheus translation gives, for every instrument, the Prometheus name src/names.ts declares', () => {
    const wrong = ALL.filter((i) => prometheusName(i.name, i.unit, i.kind) !== i.prometheus)
      .map((i) => `${i.name} [${i.unit}]: ${prometheusName(i.name, i.unit, i.kind)} ≠ ${i.prometheus}`);
    expect(wrong).toEqual([]);
  });

  it('follows the translation rules beyond Fovea\'s own units', () => {
    expect(prometheusName('http.server.request.duration', 's', 'histogram')).toBe('http_server_request_duration_seconds');
    expect(prometheusName('system.cpu.utilization', '1', 'gauge')).toBe('system_cpu_utilization_ratio');
    expect(prometheusName('queue.total', '{item}', 'counter')).toBe('queue_total');
    expect(prometheusName('net.rate', 'By/s', 'gauge')).toBe('net_rate_bytes_per_second');
    expect(prometheusName('disk.io', 'KiBy', 'counter')).toBe('disk_io_kibibytes_total');
    expect(prometheusUnit('{packet}')).toBe('');
    expect(prometheusUnit('ms')).toBe('milliseconds');
  });

  it('serves every instrument under its declared name, and nothing else, in both formats', async () => {
    const { p, metrics } = await prometheusOnly(() => everyInstrument(5));
    try {
      const expected = new Set([...ALL.flatMap(seriesNames), 'target_info']);
      const text = (await metrics.render(undefined)).body;
      const om = (await metrics.render(OM_ACCEPT)).body;
      expect([...names(samples(text))].sort()).toEqual([...expected].sort());
      expect([...names(samples(om))].sort()).toEqual([...expected].sort());
      for (const i of ALL) {
        const type = i.kind === 'counter' ? 'counter' : i.kind;
        expect(text, i.name).toContain(`\n# TYPE ${i.prometheus} ${type}\n`);
        // OpenMetrics: a counter's family is its name without _total
        expect(om, i.name).toContain(`\n# TYPE ${i.kind === 'counter' ? i.prometheus.replace(/_total$/, '') : i.prometheus} ${type}\n`);
      }
    } finally {
      await p.shutdown();
    }
  });
});

describe('Prometheus exposition', () => {
  it('text and OpenMetrics carry the same samples: values, attributes as labels, scope labels, histograms', async () => {
    const { p, metrics } = await prometheusOnly(() => everyInstrument(7));
    try {
      const text = samples((await metrics.render('text/plain;version=0.0.4')).body);
      const om = samples((await metrics.render(OM_ACCEPT)).body);
      expect(om).toEqual(text);
      const drops = INSTRUMENTS.dropPackets;
      const i = ALL.indexOf(drops);
      expect(text.get(`${drops.prometheus}{fovea_probe=p${i},network_io_direction=receive,otel_scope_name=fovea,otel_scope_version=9.9.9}`)).toBe(7 + i);
      const h = INSTRUMENTS.tcpRtt.prometheus;
      const j = ALL.indexOf(INSTRUMENTS.tcpRtt);
      const l = `fovea_probe=p${j},network_io_direction=receive,otel_scope_name=fovea,otel_scope_version=9.9.9`;
      expect(text.get(`${h}_bucket{${['le=0.0001', ...l.split(',')].sort().join(',')}}`)).toBe(0);
      expect(text.get(`${h}_bucket{${['le=0.0005', ...l.split(',')].sort().join(',')}}`)).toBe(7);
      expect(text.get(`${h}_bucket{${['le=+Inf', ...l.split(',')].sort().join(',')}}`)).toBe(8);
      expect(text.get(`${h}_count{${l}}`)).toBe(8);
    } finally {
      await p.shutdown();
    }
  });

  it('OpenMetrics: counter families without _total, UNIT only where the name ends with it, target info, # EOF', async () => {
    const { p, metrics } = await prometheusOnly(() => everyInstrument(1));
    try {
      const om = (await metrics.render(OM_ACCEPT)).body;
      expect(om.endsWith('\n# EOF\n')).toBe(true);
      expect(om.startsWith('# TYPE target info\n# HELP target Target metadata\ntarget_info{')).toBe(true);
      expect(om).toContain('# TYPE fovea_network_io_bytes counter\n# UNIT fovea_network_io_bytes bytes\n');
      expect(om).toContain('# TYPE fovea_tcp_rtt_seconds histogram\n# UNIT fovea_tcp_rtt_seconds seconds\n');
      expect(om).toContain('# TYPE fovea_agent_map_read_duration_seconds counter\n# UNIT fovea_agent_map_read_duration_seconds seconds\n');
      expect(om).not.toMatch(/# UNIT \S+ \{/);
      const units = [...om.matchAll(/^# UNIT (\S+) (\S+)$/gm)];
      expect(units.length).toBeGreaterThan(5);
      for (const [, family, unit] of units) expect(family!.endsWith(`_${unit}`), family).toBe(true);
      // every family's samples are contiguous (OpenMetrics forbids interleaving)
      const seen: string[] = [];
      for (const line of om.split('\n')) {
        const family = /^# TYPE (\S+)/.exec(line)?.[1];
        if (family) { expect(seen).not.toContain(family); seen.push(family); }
      }
      // the text format: no UNIT comments (the unit is in the name)
      expect((await metrics.render(undefined)).body).not.toContain('# UNIT');
    } finally {
      await p.shutdown();
    }
  });

  it('the node and cluster names of the resource become labels, as the gateway promotes them; a data point\'s own value wins', async () => {
    const resource = resourceFromAttributes({ 'service.name': 'fovea', 'k8s.node.name': 'node-a', 'k8s.cluster.name': 'prod', 'host.name': 'h' });
    const { p, metrics } = await prometheusOnly(() => [
      { instrument: INSTRUMENTS.probeUp, series: [{ attributes: { 'fovea.probe': 'drop' }, value: 1 }, { attributes: { 'fovea.probe': 'tcp', 'k8s.node.name': 'other' }, value: 0 }] },
    ], resource);
    try {
      for (const accept of [undefined, OM_ACCEPT]) {
        const s = samples((await metrics.render(accept)).body);
        expect(s.get('fovea_agent_probe_up{fovea_probe=drop,k8s_cluster_name=prod,k8s_node_name=node-a,otel_scope_name=fovea,otel_scope_version=9.9.9}')).toBe(1);
        expect(s.get('fovea_agent_probe_up{fovea_probe=tcp,k8s_cluster_name=prod,k8s_node_name=other,otel_scope_name=fovea,otel_scope_version=9.9.9}')).toBe(0);
        // host.name and the others stay on target_info only
        expect([...s.keys()].filter((k) => k.includes('host_name='))).toEqual([expect.stringMatching(/^target_info\{/)]);
      }
    } finally {
      await p.shutdown();
    }
  });

  it('escapes label values and help text; writes booleans and numbers as the OTLP translation does', async () => {
    const { p, metrics } = await prometheusOnly(() => [
      { instrument: INSTRUMENTS.flowPackets, series: [{ attributes: { 'fovea.source.workload.name': 'a"b\\c\nd', 'fovea.server.port': 53, 'otel.metric.overflow': true }, value: 3 }] },
    ]);
    try {
      for (const accept of [undefined, OM_ACCEPT]) {
        const body = (await metrics.render(accept)).body;
        expect(body).toContain('fovea_source_workload_name="a\\"b\\\\c\\nd"');
        expect(body).toContain('fovea_server_port="53"');
        expect(body).toContain('otel_metric_overflow="true"');
      }
    } finally {
      await p.shutdown();
    }
  });
});

describe('negotiate', () => {
  it('OpenMetrics when Prometheus asks for it (its default), the text format otherwise', () => {
    expect(negotiate(OM_ACCEPT).contentType).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    // Prometheus 3's default, and a scrape_protocols list without OpenMetrics
    expect(negotiate('application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.4,application/openmetrics-text;version=0.0.1;q=0.3,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.2,text/plain;version=0.0.4;q=0.1,*/*;q=0.05').kind).toBe('openmetrics');
    expect(negotiate('text/plain;version=0.0.4,*/*;q=0.1')).toEqual(TEXT_FORMAT);
    expect(negotiate('application/openmetrics-text;version=0.0.1').contentType).toBe('application/openmetrics-text; version=0.0.1; charset=utf-8');
    expect(negotiate(undefined)).toEqual(TEXT_FORMAT);
    expect(negotiate('*/*')).toEqual(TEXT_FORMAT);
    expect(negotiate('application/json')).toEqual(TEXT_FORMAT);
    expect(negotiate('application/openmetrics-text;q=0,text/plain;q=0.2').kind).toBe('text');
    expect(negotiate('text/plain;q=0.3,application/openmetrics-text;version=2.0.0,application/openmetrics-text;q=0.5').kind).toBe('openmetrics');
    expect(negotiate('text/plain;q=0.9,application/openmetrics-text;q=0.5').kind).toBe('text');
  });
});

describe('PrometheusServer', () => {
  it('serves GET /metrics in the negotiated format, gzip when asked; 404 elsewhere, 405 for other methods; refuses a taken port', async () => {
    const { p, metrics } = await prometheusOnly(() => everyInstrument(2));
    const server = await PrometheusServer.start({ address: '127.0.0.1:0', metrics, logger: silent });
    const url = (path: string) => `http://127.0.0.1:${server.address.port}${path}`;
    try {
      let r = await fetch(url('/metrics'));
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      const text = await r.text();
      expect(text).toContain('# TYPE fovea_network_drop_packets_total counter');
      r = await fetch(url('/metrics?x=1'), { headers: { accept: OM_ACCEPT } });
      expect(r.headers.get('content-type')).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
      expect((await r.text()).endsWith('# EOF\n')).toBe(true);
      // gzip (Node's fetch would decode it: ask with node:http semantics through a raw body check)
      const raw = await new Promise<{ encoding: string | undefined; body: Buffer }>((resolve, reject) => {
        import('node:http').then(({ get }) => get(url('/metrics'), { headers: { 'accept-encoding': 'gzip' } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }));
        }).on('error', reject), reject);
      });
      expect(raw.encoding).toBe('gzip');
      expect(samples(gunzipSync(raw.body).toString())).toEqual(samples(text));
      expect((await fetch(url('/'))).status).toBe(404);
      expect((await fetch(url('/metricsx'))).status).toBe(404);
      r = await fetch(url('/metrics'), { method: 'POST', body: '' });
      expect(r.status).toBe(405);
      expect(r.headers.get('allow')).toBe('GET, HEAD');
      r = await fetch(url('/metrics'), { method: 'HEAD' });
      expect(r.status).toBe(200);
      await expect(PrometheusServer.start({ address: `127.0.0.1:${server.address.port}`, metrics, logger: silent }))
        .rejects.toThrow(/cannot serve prometheus.address 127.0.0.1:\d+: .*EADDRINUSE/);
      await expect(PrometheusServer.start({ address: 'nope', metrics, logger: silent })).rejects.toThrow(/prometheus.address must be host:port/);
    } finally {
      await server.stop();
      await p.shutdown();
    }
  });

  it('answers 503 when the collection fails', async () => {
    const failing = { render: () => Promise.reject(new Error('reader is shut down')) } as unknown as PrometheusMetrics;
    const server = await PrometheusServer.start({ address: '127.0.0.1:0', metrics: failing, logger: silent });
    try {
      const r = await fetch(`http://127.0.0.1:${server.address.port}/metrics`);
      expect(r.status).toBe(503);
      expect(await r.text()).toContain('reader is shut down');
    } finally {
      await server.stop();
    }
  });
});

/** In-memory OTLP exporter. */
class FakeExporter implements PushMetricExporter {
  exported: ResourceMetrics[] = [];
  export(m: ResourceMetrics, cb: (r: ExportResult) => void): void { this.exported.push(m); cb({ code: ExportResultCode.SUCCESS }); }
  forceFlush(): Promise<void> { return Promise.resolve(); }
  shutdown(): Promise<void> { return Promise.resolve(); }
}

describe('one collection, every reader', () => {
  it('alongside OTLP: a scrape serves the values of the last OTLP export; scrapes do not read the maps again', async () => {
    let base = 10;
    const { producer, reads } = producerOf(() => everyInstrument(base));
    const exporter = new FakeExporter();
    const p = createMetricsPipeline({
      settings: settings(), prometheus: true, resource: resourceFromAttributes({}), logger: silent, cardinalityLimit: 100,
      metricProducers: [producer], exporter,
    });
    try {
      await p.forceFlush();
      const readsAfterExport = reads();
      const exportedDrops = () => exporter.exported.at(-1)!.scopeMetrics.flatMap((s) => s.metrics)
        .find((m) => m.descriptor.name === INSTRUMENTS.dropPackets.name)!.dataPoints[0]!.value;
      expect(exportedDrops()).toBe(10 + ALL.indexOf(INSTRUMENTS.dropPackets));
      base = 1_000; // the kernel counted more since: not seen until the next collection
      const served = () => p.prometheus!.render(undefined).then((r) => [...samples(r.body)].find(([k]) => k.startsWith('fovea_network_drop_packets_total{'))![1]);
      expect(await served()).toBe(exportedDrops());
      expect(await served()).toBe(exportedDrops());
      expect(reads()).toBe(readsAfterExport);
      await p.forceFlush();
      expect(exportedDrops()).toBe(1_000 + ALL.indexOf(INSTRUMENTS.dropPackets));
      expect(await served()).toBe(exportedDrops());
      expect(p.stats()).toMatchObject({ exportsFailed: 0 });
    } finally {
      await p.shutdown();
    }
  });

  it('Prometheus alone: no OTLP exporter, no export failures; the pipeline reads on its interval; a first scrape reads at once', async () => {
    let base = 1;
    const { producer, reads } = producerOf(() => everyInstrument(base));
    const p = createMetricsPipeline({
      settings: settings(50), otlp: false, prometheus: true, resource: resourceFromAttributes({}), logger: silent, cardinalityLimit: 100, metricProducers: [producer],
    });
    try {
      const served = () => p.prometheus!.render(undefined).then((r) => [...samples(r.body)].find(([k]) => k.startsWith('fovea_network_drop_packets_total{'))![1]);
      const i = ALL.indexOf(INSTRUMENTS.dropPackets);
      expect(await served()).toBe(1 + i);
      base = 2;
      const n = reads();
      await new Promise((r) => setTimeout(r, 300));
      expect(reads()).toBeGreaterThan(n + 2); // every 50 ms
      expect(await served()).toBe(2 + i);
      base = 3;
      await p.forceFlush(); // reads now
      expect(await served()).toBe(3 + i);
      expect(p.stats()).toEqual({ exportsOk: 0, exportsFailed: 0, consecutiveFailures: 0 });
    } finally {
      await p.shutdown();
    }
    const after = reads();
    await new Promise((r) => setTimeout(r, 150));
    expect(reads()).toBe(after); // the timer stopped
  });

  it('refuses a pipeline with no way out', () => {
    expect(() => createMetricsPipeline({ settings: settings(), otlp: false, resource: resourceFromAttributes({}), logger: silent, cardinalityLimit: 1 }))
      .toThrow(/OTLP export, Prometheus or both/);
  });
});

describe('prometheus.address and OTLP', () => {
  it('is off by default; a flag, FOVEA_PROMETHEUS_ADDRESS or the file sets it; a bad address is refused', () => {
    const load = (env: NodeJS.ProcessEnv, flags: Record<string, unknown> = {}, file?: string) =>
      loadConfig({ env, flags, ...(file !== undefined ? { file: 'f.yaml', readFile: () => file } : {}) });
    const ok = (r: ReturnType<typeof load>) => { if (!r.ok) throw new Error(JSON.stringify(r.issues)); return r; };
    expect(ok(load({})).config.prometheus.address).toBe('');
    expect(ok(load({ FOVEA_PROMETHEUS_ADDRESS: '127.0.0.1:9464' })).config.prometheus.address).toBe('127.0.0.1:9464');
    expect(ok(load({}, { 'prometheus-address': ':9464' })).config.prometheus.address).toBe(':9464');
    expect(ok(load({}, {}, 'prometheus:\n  address: "[::1]:9464"\n')).config.prometheus.address).toBe('[::1]:9464');
    const bad = load({ FOVEA_PROMETHEUS_ADDRESS: '9464' });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.issues[0]).toMatchObject({ origin: 'FOVEA_PROMETHEUS_ADDRESS', message: expect.stringMatching(/host:port/) });
  });

  it('Prometheus alone when no OTLP endpoint is configured anywhere: no OTLP metrics, no OTLP events', () => {
    const setup = (args: string[], env: NodeJS.ProcessEnv = {}) => {
      const s = resolveAgentSetup(args, env);
      if (s.ok !== true) throw new Error(String(s.ok === false ? s.message : 'help'));
      return s;
    };
    // no Prometheus: as always, OTLP to the default endpoint
    expect(setup([])).toMatchObject({ otlpMetrics: true, otlpLogs: expect.anything() });
    expect(setup(['--prometheus-address', '127.0.0.1:9464'])).toMatchObject({ otlpMetrics: false, otlpLogs: undefined });
    expect(setup(['--prometheus-address', ':9464', '--endpoint', 'http://c:4317'])).toMatchObject({ otlpMetrics: true, otlpLogs: expect.anything() });
    expect(setup([], { FOVEA_PROMETHEUS_ADDRESS: ':9464', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317' })).toMatchObject({ otlpMetrics: true, otlpLogs: expect.anything() });
    // a metrics endpoint alone: events have none of their own, so they are not sent over OTLP
    expect(setup(['--prometheus-address', ':9464'], { OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://c:4317' })).toMatchObject({ otlpMetrics: true, otlpLogs: undefined });
    expect(setup(['--prometheus-address', ':9464'], { OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://c:4318/v1/logs', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }))
      .toMatchObject({ otlpMetrics: false, otlpLogs: { endpoint: 'http://c:4318/v1/logs' } });
    const config = (() => { const r = loadConfig({ env: {}, flags: {} }); if (!r.ok) throw new Error(); return r.config; })();
    expect(otlpEndpointConfigured(config, { OTEL_EXPORTER_OTLP_ENDPOINT: ' ' }, 'metrics')).toBe(false);
    expect(otlpEndpointConfigured(config, { OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://x' }, 'metrics')).toBe(false);
    expect(otlpEndpointConfigured(config, { OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://x' }, 'logs')).toBe(true);
  });
});

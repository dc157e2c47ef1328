/**
 * collector-config/: every configuration (and every gateway destination merged over gateway.yaml,
 * as the gateway Deployment loads them) is well formed for the pinned collector-contrib release:
 * pipelines reference only defined components, every defined component is used, every component
 * type exists in the release, processors that filter or transform have statements for the
 * signal of each pipeline they sit in, and every Fovea name mentioned is one Fovea emits.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ATTR, EVENT, INSTRUMENTS, RESOURCE } from '../../src/names.js';
import {
  OTEL_METRICS, PROMOTED_RESOURCE_ATTRS, REPO, envRefs, mergeConfigs, readCollectorConfig, strings,
  type CollectorConfig,
} from './helpers.js';
import { EXPORTER_SIGNALS, moduleOf, type ComponentKind } from './otelcol-contrib.js';

const GATEWAY_DESTINATIONS = readdirSync(join(REPO, 'collector-config')).filter((f) => /^gateway-.+\.yaml$/.test(f)).sort();

/** Each configuration as a collector would load it. */
const CONFIGS: ReadonlyArray<readonly [string, CollectorConfig]> = [
  ['agent.yaml', readCollectorConfig('agent.yaml')],
  ['standalone.yaml', readCollectorConfig('standalone.yaml')],
  ['gateway.yaml', readCollectorConfig('gateway.yaml')],
  ...GATEWAY_DESTINATIONS.map((f) => [`gateway.yaml + ${f}`, mergeConfigs(readCollectorConfig('gateway.yaml'), readCollectorConfig(f))] as const),
  ['gateway.yaml + every destination', mergeConfigs(readCollectorConfig('gateway.yaml'),
    ...GATEWAY_DESTINATIONS.filter((f) => f !== 'gateway-mimir-otlp.yaml').map(readCollectorConfig))],
];

const KINDS: readonly ComponentKind[] = ['receivers', 'processors', 'exporters', 'extensions', 'connectors'];
const SIGNALS = ['metrics', 'logs', 'traces'] as const;
const typeOf = (id: string): string => id.split('/')[0]!;

/** Attribute keys Fovea's metrics and events carry, and resource keys the pipeline sets. */
const KNOWN_ATTRIBUTE_KEYS = new Set<string>([
  ...Object.values(ATTR), ...Object.values(RESOURCE), ...PROMOTED_RESOURCE_ATTRS,
  // the name of an event in SDKs that predate the OTLP LogRecord.event_name field
  'event.name',
]);

function problems(config: CollectorConfig): string[] {
  const out: string[] = [];
  const allowedTop = new Set([...KINDS, 'service']);
  for (const k of Object.keys(config)) if (!allowedTop.has(k)) out.push(`unknown top-level key ${k}`);
  const defined = new Map<ComponentKind, Set<string>>(KINDS.map((k) => [k, new Set(Object.keys(config[k] ?? {}))]));
  for (const kind of KINDS) {
    for (const id of defined.get(kind)!) {
      if (!moduleOf(kind, typeOf(id))) out.push(`${kind}.${id}: no ${typeOf(id)} ${kind.slice(0, -1)} in otelcol-contrib 0.136.0`);
    }
  }
  const used = new Map<ComponentKind, Set<string>>(KINDS.map((k) => [k, new Set<string>()]));
  const pipelines = config.service?.pipelines ?? {};
  if (Object.keys(pipelines).length === 0) out.push('no pipelines');
  for (const [pid, p] of Object.entries(pipelines)) {
    const signal = typeOf(pid);
    if (!(SIGNALS as readonly string[]).includes(signal)) out.push(`pipeline ${pid}: unknown signal ${signal}`);
    if (!p.receivers?.length) out.push(`pipeline ${pid}: no receivers`);
    if (!p.exporters?.length) out.push(`pipeline ${pid}: no exporters`);
    for (const [field, kind] of [['receivers', 'receivers'], ['processors', 'processors'], ['exporters', 'exporters']] as const) {
      for (const id of p[field] ?? []) {
        if (!defined.get(kind)!.has(id)) out.push(`pipeline ${pid}: ${field} ${id} is not defined`);
        used.get(kind)!.add(id);
      }
    }
    for (const id of p.exporters ?? []) {
      const signals = EXPORTER_SIGNALS[typeOf(id)];
      if (!signals) out.push(`pipeline ${pid}: exporter ${id}: signals not listed in test/deploy/otelcol-contrib.ts`);
      else if (!signals.includes(signal)) out.push(`pipeline ${pid}: exporter ${id} does not export ${signal}`);
    }
    for (const id of p.processors ?? []) {
      const cfg = (config.processors?.[id] ?? {}) as Record<string, unknown>;
      if (typeOf(id) === 'filter' && cfg[signal] === undefined) out.push(`pipeline ${pid}: filter ${id} has no ${signal} conditions`);
      if (typeOf(id) === 'transform' && cfg[`${signal.replace(/s$/, '')}_statements`] === undefined) {
        out.push(`pipeline ${pid}: transform ${id} has no ${signal.replace(/s$/, '')}_statements`);
      }
    }
    if (p.processors?.length && p.processors[0] !== 'memory_limiter') out.push(`pipeline ${pid}: memory_limiter must come first`);
  }
  for (const id of config.service?.extensions ?? []) {
    if (!defined.get('extensions')!.has(id)) out.push(`service.extensions: ${id} is not defined`);
    used.get('extensions')!.add(id);
  }
  for (const kind of KINDS) {
    for (const id of defined.get(kind)!) if (!used.get(kind)!.has(id)) out.push(`${kind}.${id} is defined but used by no pipeline`);
  }
  return out;
}

describe('collector-config', () => {
  it('gateway destinations are the four deploy/ offers', () => {
    expect(GATEWAY_DESTINATIONS).toEqual([
      'gateway-mimir-otlp.yaml', 'gateway-mimir-remote-write.yaml', 'gateway-s3-archive.yaml', 'gateway-vendor-otlp.yaml',
    ]);
  });

  for (const [name, config] of CONFIGS) {
    describe(name, () => {
      it('pipelines use only defined components of otelcol-contrib 0.136.0, and use all of them', () => {
        expect(problems(config)).toEqual([]);
      });

      it('mentions only metric, attribute and event names Fovea emits', () => {
        const text = strings(config);
        const bad: string[] = [];
        for (const s of text) {
          for (const m of s.matchAll(/metric\.name\s*==\s*"([^"]+)"/g)) if (!OTEL_METRICS.has(m[1]!)) bad.push(`metric ${m[1]}`);
          for (const m of s.matchAll(/attributes\["([^"]+)"\]/g)) if (!KNOWN_ATTRIBUTE_KEYS.has(m[1]!)) bad.push(`attribute ${m[1]}`);
          for (const m of s.matchAll(/"(fovea\.network\.(?:packet\.drop|flow))"/g)) {
            if (!(Object.values(EVENT) as string[]).includes(m[1]!)) bad.push(`event ${m[1]}`);
          }
          // any other fovea.* identifier must be one of the names too
          for (const m of s.matchAll(/\bfovea\.[a-z0-9_.]*[a-z0-9_]/g)) {
            const id = m[0];
            if (!OTEL_METRICS.has(id) && !KNOWN_ATTRIBUTE_KEYS.has(id) && !(Object.values(EVENT) as string[]).includes(id)) bad.push(`name ${id}`);
          }
        }
        for (const p of Object.values(config.processors ?? {})) {
          const keys = (p as { keys?: unknown }).keys;
          if (Array.isArray(keys)) for (const k of keys) if (!KNOWN_ATTRIBUTE_KEYS.has(String(k))) bad.push(`groupbyattrs key ${String(k)}`);
        }
        expect(bad).toEqual([]);
      });
    });
  }

  it('agent tier: k8sattributes associates pods only by keys groupbyattrs lifted to the resource', () => {
    const agent = readCollectorConfig('agent.yaml');
    const processors = agent.processors as Record<string, { keys?: string[]; pod_association?: Array<{ sources: Array<{ from: string; name?: string }> }> }>;
    const lifted = new Set(processors['groupbyattrs/pod']!.keys);
    expect([...lifted].sort()).toEqual([ATTR.namespace, ATTR.podName, ATTR.podUid].sort());
    const sources = processors['k8sattributes']!.pod_association!.flatMap((a) => a.sources);
    expect(sources.length).toBeGreaterThan(0);
    for (const s of sources) {
      expect(s.from).toBe('resource_attribute');
      expect(lifted.has(s.name!)).toBe(true);
    }
    // metrics and events (whose records carry k8s.pod.* of their local end) alike; the order
    // matters: regroup before associating, both before batching
    for (const signal of ['metrics', 'logs']) {
      const p = agent.service!.pipelines![signal]!.processors!;
      expect(p.indexOf('groupbyattrs/pod'), signal).toBeGreaterThan(0);
      expect(p.indexOf('groupbyattrs/pod'), signal).toBeLessThan(p.indexOf('k8sattributes'));
      expect(p.indexOf('k8sattributes'), signal).toBeLessThan(p.indexOf('batch'));
    }
  });

  it('agent tier: the cluster name the gateway promotes is set here; metrics and events both go to the gateway through the persistent queue', () => {
    const agent = readCollectorConfig('agent.yaml');
    const attrs = (agent.processors!['resource/cluster'] as { attributes: Array<{ key: string }> }).attributes.map((a) => a.key);
    expect(attrs).toContain('k8s.cluster.name');
    const pipelines = agent.service!.pipelines!;
    expect(Object.keys(pipelines).sort()).toEqual(['logs', 'metrics']);
    for (const p of Object.values(pipelines)) {
      expect(p.processors).toContain('resource/cluster');
      expect(p.exporters).toEqual(['otlp/gateway']);
    }
    const gw = agent.exporters!['otlp/gateway'] as { sending_queue: { enabled: boolean; storage: string }; retry_on_failure: { enabled: boolean } };
    expect(gw.sending_queue).toMatchObject({ enabled: true, storage: 'file_storage/queue' });
    expect(gw.retry_on_failure.enabled).toBe(true);
  });

  it('gateway: every Prometheus-shaped metrics pipeline filters and promotes the same way', () => {
    const all = mergeConfigs(readCollectorConfig('gateway.yaml'), ...GATEWAY_DESTINATIONS.map(readCollectorConfig));
    const base = all.service!.pipelines!['metrics/prometheus']!.processors;
    expect(base).toEqual(['memory_limiter', 'filter/pod-interfaces', 'filter/opt-in-attributes', 'transform/promote', 'batch']);
    for (const f of ['gateway-mimir-remote-write.yaml', 'gateway-mimir-otlp.yaml']) {
      expect(readCollectorConfig(f).service!.pipelines!['metrics/mimir']!.processors).toEqual(base);
    }
    // transform/promote copies exactly the resource attributes the dashboards and rules use as labels
    const statements = (all.processors!['transform/promote'] as { metric_statements: Array<{ context: string; statements: string[] }> }).metric_statements;
    expect(statements.map((s) => s.context)).toEqual(['datapoint']);
    const promoted = statements[0]!.statements.map((s) => /^set\(attributes\["([^"]+)"\], resource\.attributes\["\1"\]\)/.exec(s)?.[1]);
    expect(promoted.sort()).toEqual([...PROMOTED_RESOURCE_ATTRS].sort());
  });

  it('metrics of every kind (sums, gauges, histograms) and level (node, pod, flow, TCP) pass the metrics pipelines the same way', () => {
    // OTTL's datapoint context covers number, histogram and summary points alike; conditions on a
    // metric's type or on number-only fields (value_int, value_double) would single some out.
    const metricNames = new Set<string>();
    const bad: string[] = [];
    const configs: Array<[string, CollectorConfig]> = [['agent.yaml', readCollectorConfig('agent.yaml')],
      ['gateway.yaml + every destination', mergeConfigs(readCollectorConfig('gateway.yaml'), ...GATEWAY_DESTINATIONS.map(readCollectorConfig))]];
    for (const [name, config] of configs) {
      const ids = new Set(Object.entries(config.service!.pipelines!).filter(([pid]) => typeOf(pid) === 'metrics').flatMap(([, p]) => p.processors ?? []));
      for (const id of ids) {
        const cfg = config.processors?.[id] as Record<string, unknown> | undefined;
        for (const text of strings(cfg)) {
          for (const m of text.matchAll(/metric\.name\s*==\s*"([^"]+)"/g)) metricNames.add(m[1]!);
          if (/\bmetric\.(?:type|data_type|is_monotonic|aggregation_temporality)\b|\bvalue_(?:int|double)\b|\bIsMatch\(\s*metric\.name/.test(text)) bad.push(`${name}: ${id}: ${text}`);
        }
        for (const st of (cfg?.['metric_statements'] ?? []) as Array<{ context: string }>) {
          if (!['datapoint', 'resource'].includes(st.context)) bad.push(`${name}: ${id}: context ${st.context}`);
        }
      }
    }
    expect(bad).toEqual([]);
    // the only metrics singled out by name: the node interface counters of pods' veths (filter/pod-interfaces)
    expect([...metricNames].sort()).toEqual([INSTRUMENTS.io.name, INSTRUMENTS.packets.name].sort());
    // the agent tier regroups pod-level points (k8s.pod.* on fovea.pod.* data points, histograms
    // included) by keys alone, whatever the metric
    const groupby = readCollectorConfig('agent.yaml').processors!['groupbyattrs/pod'] as Record<string, unknown>;
    expect(Object.keys(groupby)).toEqual(['keys']);
    expect(Object.values(INSTRUMENTS).some((i) => i.kind === 'histogram' && i.name.startsWith('fovea.pod.'))).toBe(true);
  });

  it('gateway: S3 archives only drop events, named as Fovea names them', () => {
    const s3 = readCollectorConfig('gateway-s3-archive.yaml');
    const cond = (s3.processors!['filter/drop-events-only'] as { logs: { log_record: string[] } }).logs.log_record;
    expect(cond).toEqual([`event_name != "${EVENT.drop}" and attributes["event.name"] != "${EVENT.drop}"`]);
    expect(s3.service!.pipelines!['logs/s3']!.processors).toContain('filter/drop-events-only');
  });

  it('lists the environment each configuration needs (the manifests test checks they are set)', () => {
    expect([...envRefs(readCollectorConfig('agent.yaml'))].sort()).toEqual(['FOVEA_GATEWAY_ENDPOINT', 'K8S_CLUSTER_NAME', 'NODE_IP']);
    expect([...envRefs(readCollectorConfig('gateway.yaml'))]).toEqual([]);
  });
});

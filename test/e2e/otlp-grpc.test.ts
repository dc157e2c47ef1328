/**
 * The agent's metrics pipeline over real loopback sockets into the OTLP receiver built from the
 * official proto files: exact values, names, units, attributes, resource, cumulative temporality,
 * headers, gzip, and no loss across a collector outage.
 */
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMetricsPipeline, type MetricsPipeline } from '../../src/export/metrics-pipeline.js';
import { resolveOtlpSettings, type OtlpOverrides, type OtlpSettings } from '../../src/export/otlp-settings.js';
import { buildResource } from '../../src/export/resource.js';
import { ATTR, INSTRUMENTS, METER_NAME } from '../../src/names.js';
import { otlpProtoDir } from '../../src/otlp/paths.js';
import { OtlpReceiver } from '../../src/otlp/receiver.js';
import { requestsUnlikeUpstream } from '../helpers/upstream-bytes.js';
import { freePort, missingArtifacts } from '../helpers/victoria.js';

const missing = missingArtifacts(() => otlpProtoDir());
const logger = pino({ level: 'silent' });

function settings(overrides: OtlpOverrides, env: Record<string, string> = {}): OtlpSettings {
  const r = resolveOtlpSettings(env, { intervalMs: 60_000, timeoutMs: 2_000, ...overrides });
  if (!r.ok) throw new Error(r.issues.join('\n'));
  return r.settings;
}

describe.skipIf(missing !== undefined)(`OTLP export → receiver${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let rx: OtlpReceiver;
  const pipelines: MetricsPipeline[] = [];
  const resource = buildResource({ env: { OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test' }, nodeName: 'node-a', hostName: 'host-a' }).resource;

  function pipeline(s: OtlpSettings): MetricsPipeline {
    const p = createMetricsPipeline({ settings: s, resource, logger, cardinalityLimit: 100 });
    pipelines.push(p);
    return p;
  }

  beforeAll(async () => {
    rx = await OtlpReceiver.start({ httpPort: 0 });
  });
  afterEach(async () => {
    await Promise.all(pipelines.splice(0).map((p) => p.shutdown()));
    rx.clear();
  });
  afterAll(async () => {
    await rx?.stop();
  });

  for (const protocol of ['grpc', 'http/protobuf'] as const) {
    it(`exports exact cumulative values, names, units, attributes and resource (${protocol})`, async () => {
      const endpoint = protocol === 'grpc' ? rx.endpoint : rx.httpEndpoint;
      const p = pipeline(settings({ protocol, endpoint }));
      let drops = 0;
      const def = INSTRUMENTS.dropPackets;
      p.meter.createObservableCounter(def.name, { unit: def.unit, description: def.description }).addCallback((o) => {
        o.observe(drops, { [ATTR.dropReason]: 'NETFILTER_DROP', [ATTR.transport]: 'tcp' });
        o.observe(2 * drops, { [ATTR.dropReason]: 'NO_SOCKET', [ATTR.transport]: 'udp' });
      });
      drops = 7;
      await p.forceFlush();
      drops = 1_000_003;
      await p.forceFlush();

      const series = rx.series(def.name);
      expect(series).toHaveLength(2);
      const netfilter = series.find((s) => s.attrs[ATTR.dropReason] === 'NETFILTER_DROP');
      expect(netfilter).toMatchObject({
        value: 1_000_003,
        rawValue: '1000003',
        attrs: { [ATTR.dropReason]: 'NETFILTER_DROP', [ATTR.transport]: 'tcp' },
        unit: '{packet}',
        description: def.description,
        kind: 'sum',
        temporality: 'cumulative',
        isMonotonic: true,
        scope: { name: METER_NAME },
        resource: {
          'service.name': 'fovea', 'host.name': 'host-a', 'k8s.node.name': 'node-a',
          'service.instance.id': 'node-a', 'deployment.environment': 'test',
        },
      });
      // Cumulative: the start time stays, the values only grow.
      const first = rx.requests[0]?.request.resourceMetrics[0]?.scopeMetrics[0]?.metrics[0]?.sum?.dataPoints[0];
      expect(first?.startTimeUnixNano).toBe(netfilter?.startTime);
      expect(rx.latest(def.name)).toBe(3_000_009);
      expect(rx.latest(def.name, { [ATTR.transport]: 'udp' })).toBe(2_000_006);
      expect(rx.requests.every((r) => r.transport === (protocol === 'grpc' ? 'grpc' : 'http'))).toBe(true);
      expect(p.stats()).toMatchObject({ exportsFailed: 0 });
      expect(p.stats().exportsOk).toBeGreaterThanOrEqual(2);
      // the agent's encoder wrote exactly what the upstream serializer writes
      expect(requestsUnlikeUpstream(rx.requests)).toEqual([]);
    });

    it(`sends headers and gzip-compressed payloads (${protocol})`, async () => {
      const endpoint = protocol === 'grpc' ? rx.endpoint : rx.httpEndpoint;
      const p = pipeline(settings({ protocol, endpoint, compression: 'gzip' },
        { OTEL_EXPORTER_OTLP_METRICS_HEADERS: 'authorization=Bearer%20t0k3n,x-scope-orgid=tenant-1' }));
      p.meter.createCounter('fovea.test.counter', { unit: '{event}' }).add(5, { k: 'v' });
      await p.forceFlush();
      expect(rx.latest('fovea.test.counter', { k: 'v' })).toBe(5);
      const headers = rx.requests.at(-1)?.headers;
      expect(headers).toMatchObject({ authorization: 'Bearer t0k3n', 'x-scope-orgid': 'tenant-1' });
      // grpc-js hides grpc-encoding from the server's metadata; over HTTP the header is visible.
      if (protocol === 'http/protobuf') expect(headers?.['content-encoding']).toBe('gzip');
      expect(requestsUnlikeUpstream(rx.requests)).toEqual([]);
    });
  }

  it('counts failures while the collector is down and sends the full total once it is back (gRPC)', async () => {
    const port = await freePort();
    const p = pipeline(settings({ protocol: 'grpc', endpoint: `http://127.0.0.1:${port}`, timeoutMs: 1_000 }));
    const c = p.meter.createCounter('fovea.test.outage', { unit: '{packet}' });
    c.add(3);
    await p.forceFlush();
    c.add(4);
    await p.forceFlush();
    expect(p.stats().exportsFailed).toBeGreaterThanOrEqual(2);
    expect(p.stats().exportsOk).toBe(0);
    expect(p.stats().lastError).toBeTruthy();

    const back = await OtlpReceiver.start({ port });
    try {
      c.add(5);
      // The channel reconnects with backoff: flush until an export gets through.
      const deadline = Date.now() + 15_000;
      while (back.requestCount === 0 && Date.now() < deadline) await p.forceFlush();
      expect(back.latest('fovea.test.outage')).toBe(12);
      expect(p.stats().consecutiveFailures).toBe(0);

      // Outage by refusal (UNAVAILABLE) and a restart on the same port: still nothing lost.
      back.failRequests(true);
      c.add(10);
      await p.forceFlush();
      expect(p.stats().consecutiveFailures).toBeGreaterThan(0);
      back.failRequests(false);
      await p.forceFlush();
      expect(back.latest('fovea.test.outage')).toBe(22);
    } finally {
      await back.stop();
    }
    const again = await OtlpReceiver.start({ port });
    try {
      c.add(1);
      const deadline = Date.now() + 15_000;
      while (again.requestCount === 0 && Date.now() < deadline) await p.forceFlush();
      expect(again.latest('fovea.test.outage')).toBe(23);
    } finally {
      await again.stop();
    }
  });

  it('exports periodically at the configured interval and emits live export events', async () => {
    const p = pipeline(settings({ protocol: 'grpc', endpoint: rx.endpoint, intervalMs: 200, timeoutMs: 150 }));
    let v = 0;
    p.meter.createObservableCounter('fovea.test.periodic').addCallback((o) => o.observe(++v));
    const seen: number[] = [];
    rx.on('export', () => seen.push(rx.latest('fovea.test.periodic') ?? -1));
    await rx.waitFor((r) => (r.latest('fovea.test.periodic') ?? 0) >= 3, 5_000);
    expect(seen.slice(0, 3)).toEqual([1, 2, 3]);
    rx.removeAllListeners('export');
  });

  it('waitFor rejects with the state when the condition is not met', async () => {
    await expect(rx.waitFor(() => false, 50)).rejects.toThrow(/condition not met within 50 ms \(0 requests/);
  });
});

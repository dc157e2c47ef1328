/**
 * The agent's metrics pipeline over OTLP/HTTP protobuf into a real backend (VictoriaMetrics from
 * Debian 13), queried back by the Prometheus names listed in src/names.ts, with exact values.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetricsPipeline } from '../../src/export/metrics-pipeline.js';
import { resolveOtlpSettings } from '../../src/export/otlp-settings.js';
import { buildResource } from '../../src/export/resource.js';
import { ATTR, DIRECTION, INSTRUMENTS } from '../../src/names.js';
import { victoriaMetricsBinary } from '../../src/otlp/paths.js';
import { missingArtifacts, Victoria } from '../helpers/victoria.js';

const missing = missingArtifacts(() => victoriaMetricsBinary());

describe.skipIf(missing !== undefined)(`OTLP http/protobuf → VictoriaMetrics${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let vm: Victoria;
  beforeAll(async () => {
    vm = await Victoria.start();
  });
  afterAll(async () => {
    await vm?.stop();
  });

  it('stores counters under their Prometheus names with exact values and resource labels', async () => {
    const r = resolveOtlpSettings(
      { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: vm.otlpMetricsUrl },
      { intervalMs: 60_000, compression: 'gzip' },
    );
    if (!r.ok) throw new Error(r.issues.join('\n'));
    const { resource } = buildResource({ env: {}, nodeName: 'node-vm', hostName: 'host-vm' });
    const p = createMetricsPipeline({ settings: r.settings, resource, logger: pino({ level: 'silent' }), cardinalityLimit: 100 });
    try {
      const drops = p.meter.createCounter(INSTRUMENTS.dropPackets.name, { unit: INSTRUMENTS.dropPackets.unit });
      drops.add(41, { [ATTR.dropReason]: 'NETFILTER_DROP' });
      drops.add(1, { [ATTR.dropReason]: 'NETFILTER_DROP' });
      drops.add(9, { [ATTR.dropReason]: 'NO_SOCKET' });
      p.meter.createObservableCounter(INSTRUMENTS.io.name, { unit: INSTRUMENTS.io.unit })
        .addCallback((o) => o.observe(123_456_789_012, { [ATTR.interfaceName]: 'eth0', [ATTR.ioDirection]: DIRECTION.receive }));
      await p.forceFlush();
      expect(p.stats()).toMatchObject({ exportsFailed: 0 });

      const q = await vm.queryUntil(`${INSTRUMENTS.dropPackets.prometheus}{fovea_drop_reason="NETFILTER_DROP"}`, (x) => x.series.length === 1);
      expect(q.series[0]?.value).toBe(42);
      expect(q.series[0]?.labels).toMatchObject({
        __name__: 'fovea_network_drop_packets_total',
        service_name: 'fovea', host_name: 'host-vm', k8s_node_name: 'node-vm', service_instance_id: 'node-vm',
      });
      const sum = await vm.queryUntil(`sum(${INSTRUMENTS.dropPackets.prometheus})`, (x) => x.series[0]?.value === 51);
      expect(sum.series[0]?.value).toBe(51);
      const io = await vm.queryUntil(`${INSTRUMENTS.io.prometheus}{network_io_direction="receive"}`, (x) => x.series.length === 1);
      expect(io.series[0]).toMatchObject({ value: 123_456_789_012, labels: { network_interface_name: 'eth0' } });

      // Cumulative: a later export replaces nothing and loses nothing.
      drops.add(8, { [ATTR.dropReason]: 'NETFILTER_DROP' });
      await p.forceFlush();
      const later = await vm.queryUntil(`${INSTRUMENTS.dropPackets.prometheus}{fovea_drop_reason="NETFILTER_DROP"}`,
        (x) => x.series[0]?.value === 50);
      expect(later.series[0]?.value).toBe(50);
    } finally {
      await p.shutdown();
    }
  });
});

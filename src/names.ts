/**
 * Every instrument, attribute and event name Fovea emits lives in this file (DESIGN.md "Names").
 * Collector configs, dashboards and alert rules are checked against it by tests.
 */

export const METER_NAME = 'fovea';

/** Instrument definitions: OTel name, unit, description and the Prometheus name after translation. */
export interface InstrumentName {
  readonly name: string;
  /** counter: cumulative monotonic sum; gauge: current value */
  readonly kind: 'counter' | 'gauge';
  readonly unit: string;
  readonly description: string;
  /** Name after OTLP → Prometheus translation (counters get `_total`, unit suffixes added). */
  readonly prometheus: string;
}

function counter(name: string, unit: string, description: string, prometheus: string): InstrumentName {
  return { name, kind: 'counter', unit, description, prometheus };
}

function gauge(name: string, unit: string, description: string, prometheus: string): InstrumentName {
  return { name, kind: 'gauge', unit, description, prometheus };
}

export const INSTRUMENTS = {
  dropPackets: counter('fovea.network.drop.packets', '{packet}',
    'Packets the kernel dropped (skb:kfree_skb), by kernel drop reason', 'fovea_network_drop_packets_total'),
  dropBytes: counter('fovea.network.drop.bytes', 'By',
    'Bytes of packets the kernel dropped, by kernel drop reason', 'fovea_network_drop_bytes_total'),
  packets: counter('fovea.network.packets', '{packet}',
    'Packets seen by the tc probe per interface and direction', 'fovea_network_packets_total'),
  io: counter('fovea.network.io', 'By',
    'Bytes seen by the tc probe per interface and direction', 'fovea_network_io_bytes_total'),

  // Agent health (self-observability).
  probeUp: gauge('fovea.agent.probe.up', '{probe}',
    '1 when the probe is loaded and attached, 0 when it failed or was skipped', 'fovea_agent_probe_up'),
  mapReadDuration: counter('fovea.agent.map.read.duration', 's',
    'Time spent reading eBPF maps, cumulative', 'fovea_agent_map_read_duration_seconds_total'),
  mapReadErrors: counter('fovea.agent.map.read.errors', '{error}',
    'Failed eBPF map reads', 'fovea_agent_map_read_errors_total'),
  recordFailures: counter('fovea.agent.kernel.record.failures', '{failure}',
    'Kernel-side failures to record a packet (full map, failed update), by probe and kind',
    'fovea_agent_kernel_record_failures_total'),
  exportFailures: counter('fovea.agent.export.failures', '{failure}',
    'OTLP exports that failed', 'fovea_agent_export_failures_total'),
  attachedInterfaces: gauge('fovea.agent.interfaces.attached', '{interface}',
    'Interfaces the traffic probe is attached to', 'fovea_agent_interfaces_attached'),
  attachFailures: counter('fovea.agent.attach.failures', '{failure}',
    'Failed attachments of the traffic probe to an interface', 'fovea_agent_attach_failures_total'),
  seriesOverflow: counter('fovea.agent.series.overflow', '{series}',
    'Series folded into the otel.metric.overflow series because an instrument hit its cardinality limit',
    'fovea_agent_series_overflow_total'),
} as const satisfies Record<string, InstrumentName>;

export const ATTR = {
  dropReason: 'fovea.drop.reason',
  transport: 'network.transport',
  networkType: 'network.type',
  interfaceName: 'network.interface.name',
  ioDirection: 'network.io.direction',
  probe: 'fovea.probe',
  failureKind: 'fovea.failure.kind',
  hook: 'fovea.hook',
  instrument: 'fovea.instrument',
} as const;

/** Values of `network.io.direction` (OTel semantic conventions). */
export const DIRECTION = { receive: 'receive', transmit: 'transmit' } as const;

/** Resource attribute keys Fovea sets. */
export const RESOURCE = {
  serviceName: 'service.name',
  serviceInstanceId: 'service.instance.id',
  serviceVersion: 'service.version',
  hostName: 'host.name',
  k8sNodeName: 'k8s.node.name',
} as const;

export const DEFAULT_SERVICE_NAME = 'fovea';

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

  // Pods (pod-level, Kubernetes identity on data points; see ATTR.k8s*)
  podPackets: counter('fovea.pod.network.packets', '{packet}',
    'Packets sent/received by a pod (counted on its host-side veth)', 'fovea_pod_network_packets_total'),
  podIo: counter('fovea.pod.network.io', 'By',
    'Bytes sent/received by a pod (counted on its host-side veth)', 'fovea_pod_network_io_bytes_total'),
  podDropPackets: counter('fovea.pod.network.drop.packets', '{packet}',
    'Packets the kernel dropped that a pod sent or that were on their way to it, by drop reason',
    'fovea_pod_network_drop_packets_total'),
  podDropBytes: counter('fovea.pod.network.drop.bytes', 'By',
    'Bytes of packets the kernel dropped that a pod sent or that were on their way to it',
    'fovea_pod_network_drop_bytes_total'),
  // Workload-to-workload flows (counted once per packet)
  flowPackets: counter('fovea.flow.packets', '{packet}',
    'Packets between workloads (source → destination), counted once', 'fovea_flow_packets_total'),
  flowBytes: counter('fovea.flow.bytes', 'By',
    'Bytes between workloads (source → destination), counted once', 'fovea_flow_bytes_total'),
  flowDropPackets: counter('fovea.flow.drop.packets', '{packet}',
    'Dropped packets between workloads, by kernel drop reason', 'fovea_flow_drop_packets_total'),
  flowDropBytes: counter('fovea.flow.drop.bytes', 'By',
    'Dropped bytes between workloads, by kernel drop reason', 'fovea_flow_drop_bytes_total'),

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
  flowRecords: gauge('fovea.agent.flows.active', '{flow}',
    'Flow records in the kernel flow table now', 'fovea_agent_flows_active'),
  flowEvictions: counter('fovea.agent.flows.evicted', '{flow}',
    'Flow records the kernel evicted because the flow table was full (their last counts are lost)',
    'fovea_agent_flows_evicted_total'),
  identityErrors: counter('fovea.agent.identity.errors', '{error}',
    'Kubernetes API watch errors (the identity cache is kept and resumed)', 'fovea_agent_identity_errors_total'),
  identityRelists: counter('fovea.agent.identity.relists', '{relist}',
    'Full relists of a Kubernetes resource (after 410 Gone or a lost watch)', 'fovea_agent_identity_relists_total'),
  seriesOverflow: counter('fovea.agent.series.overflow', '{series}',
    'Series folded into the otel.metric.overflow series because an instrument hit its cardinality limit',
    'fovea_agent_series_overflow_total'),
  // Events (drop and flow events as OTLP log records; see EVENT below)
  eventsRead: counter('fovea.agent.events.read', '{event}',
    'Events the agent read from the kernel ring buffer, by event name', 'fovea_agent_events_read_total'),
  eventsSuppressed: counter('fovea.agent.events.suppressed', '{event}',
    'Drops the in-kernel rate limit did not send as events (counted exactly, carried on the next event), by drop reason',
    'fovea_agent_events_suppressed_total'),
  eventsLost: counter('fovea.agent.events.lost', '{event}',
    'Events lost, by stage (ring_full: kernel ring buffer full; queue_full: export queue over its bound; export_rejected: the collector refused them for good; observe_slow_client: skipped for a fovea observe client that read too slowly; hubble_slow_client: overwritten in the Hubble flow buffer before a Hubble client read them)',
    'fovea_agent_events_lost_total'),
  eventsExported: counter('fovea.agent.events.exported', '{event}',
    'Events the collector accepted as OTLP log records', 'fovea_agent_events_exported_total'),
  eventsQueued: gauge('fovea.agent.events.queued', '{event}',
    'Events waiting in the export queue now', 'fovea_agent_events_queued'),
  observeClients: gauge('fovea.agent.observe.clients', '{client}',
    'fovea observe clients connected to the local socket now', 'fovea_agent_observe_clients'),
  hubbleClients: gauge('fovea.agent.hubble.clients', '{client}',
    'Hubble API GetFlows calls open now (hubble observe, Relay, UI)', 'fovea_agent_hubble_clients'),
  hubbleFlowsSent: counter('fovea.agent.hubble.flows.sent', '{flow}',
    'Flows the Hubble API sent to its clients', 'fovea_agent_hubble_flows_sent_total'),
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
  // the local pod (data-point attributes; the collector's groupbyattrs lifts them to the resource)
  podUid: 'k8s.pod.uid',
  podName: 'k8s.pod.name',
  namespace: 'k8s.namespace.name',
  workloadKind: 'fovea.workload.kind',
  workloadName: 'fovea.workload.name',
  // both ends of a flow
  srcNamespace: 'fovea.source.namespace',
  srcWorkloadKind: 'fovea.source.workload.kind',
  srcWorkload: 'fovea.source.workload.name',
  srcPod: 'fovea.source.pod.name',
  dstNamespace: 'fovea.destination.namespace',
  dstWorkloadKind: 'fovea.destination.workload.kind',
  dstWorkload: 'fovea.destination.workload.name',
  dstPod: 'fovea.destination.pod.name',
  serverPort: 'fovea.server.port',
  srcAddress: 'source.address',
  dstAddress: 'destination.address',
  clientPort: 'fovea.client.port',
  // events
  eventName: 'fovea.event.name',
  lossStage: 'fovea.loss.stage',
  verdict: 'fovea.verdict',
  // event log records (network.interface.name: ATTR.interfaceName; network.io.direction is for metrics)
  srcPort: 'source.port',
  dstPort: 'destination.port',
  srcPodUid: 'fovea.source.pod.uid',
  srcNode: 'fovea.source.node.name',
  srcService: 'fovea.source.service.name',
  dstPodUid: 'fovea.destination.pod.uid',
  dstNode: 'fovea.destination.node.name',
  dstService: 'fovea.destination.service.name',
  netns: 'fovea.netns',
  eventDirection: 'fovea.direction',
  dropLocation: 'fovea.drop.location',
  eventsSuppressed: 'fovea.events.suppressed',
  tcpFlags: 'fovea.tcp.flags',
  packetLength: 'fovea.packet.length',
  srcKind: 'fovea.source.kind',
  dstKind: 'fovea.destination.kind',
  flowState: 'fovea.flow.state',
  // not fovea.flow.packets/bytes: those are metric names (metric and attribute names share one namespace)
  flowRecordPackets: 'fovea.flow.record.packets',
  flowRecordBytes: 'fovea.flow.record.bytes',
  flowTotalPackets: 'fovea.flow.total.packets',
  flowTotalBytes: 'fovea.flow.total.bytes',
} as const;

/** Event names of the OTLP log records (DESIGN.md "Names"). */
export const EVENT = {
  drop: 'fovea.network.packet.drop',
  flow: 'fovea.network.flow',
} as const;

/** Values of `fovea.verdict` on events. */
export const VERDICT = { forwarded: 'FORWARDED', dropped: 'DROPPED' } as const;

/** Values of `fovea.loss.stage` on fovea.agent.events.lost. */
export const EVENT_LOSS_STAGE = {
  ringFull: 'ring_full',
  queueFull: 'queue_full',
  exportRejected: 'export_rejected',
  /** a `fovea observe` client read too slowly: events skipped for that client only */
  observeSlowClient: 'observe_slow_client',
  /** a Hubble client read too slowly: flows overwritten in the buffer before it read them (it gets a LostEvent) */
  hubbleSlowClient: 'hubble_slow_client',
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

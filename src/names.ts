/**
 * Every instrument, attribute and event name Fovea emits lives in this file (DESIGN.md "Names").
 * Collector configs, dashboards and alert rules are checked against it by tests.
 */

export const METER_NAME = 'fovea';

/** Instrument definitions: OTel name, unit, description and the Prometheus name after translation. */
export interface InstrumentName {
  readonly name: string;
  /** counter: cumulative monotonic sum; gauge: current value; histogram: cumulative explicit-bucket histogram */
  readonly kind: 'counter' | 'gauge' | 'histogram';
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

function histogram(name: string, unit: string, description: string, prometheus: string): InstrumentName {
  return { name, kind: 'histogram', unit, description, prometheus };
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

  // TCP health (probe "tcp": tcp:* and sock:inet_sock_set_state tracepoints). Three levels like
  // drops: the node (every network namespace), a local pod, and workload pairs (source → destination).
  tcpRetransmits: counter('fovea.tcp.retransmits', '{segment}',
    'TCP segments retransmitted by this node\'s kernel (data and SYN/SYN-ACK), every network namespace',
    'fovea_tcp_retransmits_total'),
  tcpResets: counter('fovea.tcp.resets', '{segment}',
    'TCP resets sent (transmit) and received (receive) by this node\'s kernel', 'fovea_tcp_resets_total'),
  tcpOpened: counter('fovea.tcp.connections.opened', '{connection}',
    'TCP connections established, active (connect) or passive (accept)', 'fovea_tcp_connections_opened_total'),
  tcpFailed: counter('fovea.tcp.connections.failed', '{connection}',
    'TCP connects that never reached ESTABLISHED, by what the kernel saw (reset, timeout, unreachable, other)',
    'fovea_tcp_connections_failed_total'),
  tcpClosed: counter('fovea.tcp.connections.closed', '{connection}',
    'Established TCP connections that ended', 'fovea_tcp_connections_closed_total'),
  tcpHandshake: histogram('fovea.tcp.handshake.duration', 's',
    'Active TCP opens: time from SYN sent to ESTABLISHED', 'fovea_tcp_handshake_duration_seconds'),
  tcpRtt: histogram('fovea.tcp.rtt', 's',
    'Smoothed round-trip time of TCP connections, sampled when they become established and when they end',
    'fovea_tcp_rtt_seconds'),
  tcpConnections: gauge('fovea.tcp.connections', '{connection}',
    'TCP connections now, by state (sockets the probe has seen change state)', 'fovea_tcp_connections'),
  podTcpRetransmits: counter('fovea.pod.tcp.retransmits', '{segment}',
    'TCP segments a pod retransmitted (transmit) or that were retransmitted to it by a socket on this node (receive)',
    'fovea_pod_tcp_retransmits_total'),
  podTcpResets: counter('fovea.pod.tcp.resets', '{segment}',
    'TCP resets a pod sent (transmit) or received (receive)', 'fovea_pod_tcp_resets_total'),
  podTcpOpened: counter('fovea.pod.tcp.connections.opened', '{connection}',
    'TCP connections a pod established, active or passive', 'fovea_pod_tcp_connections_opened_total'),
  podTcpFailed: counter('fovea.pod.tcp.connections.failed', '{connection}',
    'TCP connects of a pod that never reached ESTABLISHED, by what the kernel saw', 'fovea_pod_tcp_connections_failed_total'),
  podTcpClosed: counter('fovea.pod.tcp.connections.closed', '{connection}',
    'Established TCP connections of a pod that ended', 'fovea_pod_tcp_connections_closed_total'),
  podTcpHandshake: histogram('fovea.pod.tcp.handshake.duration', 's',
    'A pod\'s active TCP opens: time from SYN sent to ESTABLISHED', 'fovea_pod_tcp_handshake_duration_seconds'),
  podTcpConnections: gauge('fovea.pod.tcp.connections', '{connection}',
    'A pod\'s TCP connections now, by state', 'fovea_pod_tcp_connections'),
  flowTcpRetransmits: counter('fovea.flow.tcp.retransmits', '{segment}',
    'TCP segments retransmitted between workloads (source = the sender)', 'fovea_flow_tcp_retransmits_total'),
  flowTcpResets: counter('fovea.flow.tcp.resets', '{segment}',
    'TCP resets between workloads (source = the sender)', 'fovea_flow_tcp_resets_total'),
  flowTcpOpened: counter('fovea.flow.tcp.connections.opened', '{connection}',
    'TCP connections established between workloads (source = client)', 'fovea_flow_tcp_connections_opened_total'),
  flowTcpFailed: counter('fovea.flow.tcp.connections.failed', '{connection}',
    'TCP connects between workloads that never reached ESTABLISHED (source = client)', 'fovea_flow_tcp_connections_failed_total'),
  flowTcpClosed: counter('fovea.flow.tcp.connections.closed', '{connection}',
    'Established TCP connections between workloads that ended (source = client)', 'fovea_flow_tcp_connections_closed_total'),
  flowTcpHandshake: histogram('fovea.flow.tcp.handshake.duration', 's',
    'TCP handshake time between workloads, SYN sent to ESTABLISHED (source = client)',
    'fovea_flow_tcp_handshake_duration_seconds'),
  flowTcpRtt: histogram('fovea.flow.tcp.rtt', 's',
    'Smoothed TCP round-trip time between workloads (source = the socket\'s side), sampled at established and at end',
    'fovea_flow_tcp_rtt_seconds'),

  // Kernel network counters (probe "netstack"): each network namespace's own /proc/net/snmp, netstat
  // and snmp6, a bounded set named by `fovea.counter.name` (src/probes/netstack/snmp.ts NETSTACK_COUNTERS).
  netstackCounter: counter('fovea.netstack.counter', '{event}',
    'The node\'s kernel network counters (host network namespace: /proc/net/snmp, netstat, snmp6), by counter name',
    'fovea_netstack_counter_total'),
  podNetstackCounter: counter('fovea.pod.netstack.counter', '{event}',
    'A pod\'s own kernel network counters (its network namespace\'s /proc/net/snmp, netstat, snmp6), by counter name',
    'fovea_pod_netstack_counter_total'),

  // DNS (seen on pods' host-side veths by the traffic probe's tc programs; bpf/dns.h). A message is
  // counted in its view: the client pod's (its queries, the responses it gets) or the server pod's.
  dnsQueries: counter('fovea.dns.queries', '{query}',
    'DNS queries seen on pods\' veths, by view (client pod / server pod), query type and transport', 'fovea_dns_queries_total'),
  dnsResponses: counter('fovea.dns.responses', '{response}',
    'DNS responses seen on pods\' veths, by view, response code and whether a NOERROR answer was empty', 'fovea_dns_responses_total'),
  dnsTimeouts: counter('fovea.dns.timeouts', '{query}',
    'DNS queries that got no response within probes.dns.timeoutMs', 'fovea_dns_timeouts_total'),
  dnsDuration: histogram('fovea.dns.lookup.duration', 's',
    'Time from a DNS query to its response, as seen at the pod\'s veth (client view: the client\'s wait; server view: the server\'s work)',
    'fovea_dns_lookup_duration_seconds'),
  dnsNameQueries: counter('fovea.dns.name.queries', '{query}',
    'DNS queries by question name, for the names with the most queries (probes.dns.names: top N per collection, at most max series), by view and query type',
    'fovea_dns_name_queries_total'),
  dnsNameResponses: counter('fovea.dns.name.responses', '{response}',
    'DNS responses by question name (the same names as fovea.dns.name.queries), by view, query type and response code',
    'fovea_dns_name_responses_total'),
  dnsNameOverflow: counter('fovea.dns.name.overflow', '{message}',
    'DNS queries and responses (fovea.dns.kind) whose name has no fovea.dns.name.* series: not among the top N when counted, or beyond the cap',
    'fovea_dns_name_overflow_total'),
  podDnsQueries: counter('fovea.pod.dns.queries', '{query}',
    'DNS queries a pod sent (role client) or received (role server), by query type', 'fovea_pod_dns_queries_total'),
  podDnsResponses: counter('fovea.pod.dns.responses', '{response}',
    'DNS responses a pod received (client) or sent (server), by response code', 'fovea_pod_dns_responses_total'),
  podDnsTimeouts: counter('fovea.pod.dns.timeouts', '{query}',
    'A pod\'s DNS queries without a response in time (client), or queries it did not answer (server)', 'fovea_pod_dns_timeouts_total'),
  podDnsDuration: histogram('fovea.pod.dns.lookup.duration', 's',
    'A pod\'s DNS latency: its wait for answers (client) or its time to answer (server)', 'fovea_pod_dns_lookup_duration_seconds'),
  flowDnsQueries: counter('fovea.flow.dns.queries', '{query}',
    'DNS queries between workloads (source = client, destination = server), counted once', 'fovea_flow_dns_queries_total'),
  flowDnsResponses: counter('fovea.flow.dns.responses', '{response}',
    'DNS responses between workloads, by response code (source = client)', 'fovea_flow_dns_responses_total'),
  flowDnsTimeouts: counter('fovea.flow.dns.timeouts', '{query}',
    'DNS queries between workloads without a response in time', 'fovea_flow_dns_timeouts_total'),
  flowDnsDuration: histogram('fovea.flow.dns.lookup.duration', 's',
    'DNS latency between workloads, as the client waits', 'fovea_flow_dns_lookup_duration_seconds'),

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
    'Events the in-kernel rate limit did not send (counted exactly, carried on the next event): drops by drop reason, TCP events by event name and kind',
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
  // TCP health
  tcpOpen: 'fovea.tcp.open',
  tcpFailure: 'fovea.tcp.failure',
  connectionState: 'network.connection.state',
  // DNS
  dnsView: 'fovea.dns.view',
  dnsRole: 'fovea.dns.role',
  dnsQuestionType: 'fovea.dns.question.type',
  dnsQuestionName: 'dns.question.name',
  dnsResponseCode: 'fovea.dns.response.code',
  dnsAnswerEmpty: 'fovea.dns.answer.empty',
  dnsAnswers: 'fovea.dns.answers',
  dnsId: 'fovea.dns.id',
  dnsLatency: 'fovea.dns.latency',
  dnsKind: 'fovea.dns.kind',
  dnsEventSlot: 'fovea.dns.event.slot',
  dnsMalformed: 'fovea.dns.malformed',
  // TCP events
  tcpEventKind: 'fovea.tcp.event',
  tcpSide: 'fovea.tcp.side',
  tcpSegments: 'fovea.tcp.segments',
  errorType: 'error.type',
  // kernel network counters: `<Proto>.<Field>` as the kernel spells them (Tcp.RetransSegs, Udp6.NoPorts)
  counterName: 'fovea.counter.name',
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
  tcpReset: 'fovea.tcp.reset',
  tcpConnectFailed: 'fovea.tcp.connect.failed',
  tcpRetransmit: 'fovea.tcp.retransmit',
  dns: 'fovea.dns.message',
  dnsTimeout: 'fovea.dns.timeout',
} as const;

/** Values of `fovea.tcp.open`. */
export const TCP_OPEN = { active: 'active', passive: 'passive' } as const;

/** Values of `fovea.tcp.failure`: what the kernel saw when a connect failed (the socket's error). */
export const TCP_FAILURE = {
  /** a reset answered the SYN (ECONNREFUSED) */
  reset: 'reset',
  /** no answer: SYN retransmissions ran out (ETIMEDOUT) */
  timeout: 'timeout',
  /** an ICMP error said the destination cannot be reached (EHOSTUNREACH, ENETUNREACH) */
  unreachable: 'unreachable',
  /** any other error, or the application gave up (closed the socket) before an answer */
  other: 'other',
} as const;

/** Histogram bucket bounds (seconds) of TCP handshake time and RTT: 0.1 ms to 10 s. */
export const TCP_LATENCY_BOUNDS_S = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;

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

/**
 * Which environment variables and flags feed which setting. Values, bounds and defaults are the
 * schema's business; this table only says where raw strings come from and how to shape them.
 */
import type { AgentFlagName } from './flags.js';

/** How a raw string becomes the value the schema checks. */
export type SettingKind =
  | 'string'   // as is (trimmed for env)
  | 'list'     // comma-separated; each item trimmed, empty items dropped; repeated flags concatenate
  | 'bool'     // true/false/1/0/yes/no/on/off
  | 'number'   // numeric strings → number; anything else passes through for the schema to report
  | 'duration'; // passes through: the schema accepts "2s", "500ms", "1m" and bare milliseconds

export interface Setting {
  readonly path: string;
  readonly kind: SettingKind;
  /** First non-empty variable wins. */
  readonly env?: readonly string[];
  readonly flag?: AgentFlagName;
  /** A boolean `--no-x` flag that sets the setting to false. */
  readonly negate?: boolean;
}

export const SETTINGS: readonly Setting[] = [
  { path: 'logLevel', kind: 'string', env: ['FOVEA_LOG_LEVEL'], flag: 'log-level' },
  { path: 'nodeName', kind: 'string', env: ['FOVEA_NODE_NAME', 'K8S_NODE_NAME', 'NODE_NAME'], flag: 'node-name' },
  { path: 'interfaces', kind: 'list', env: ['FOVEA_INTERFACES'], flag: 'interfaces' },
  { path: 'excludeInterfaces', kind: 'list', env: ['FOVEA_EXCLUDE_INTERFACES'], flag: 'exclude-interfaces' },
  { path: 'interfaceRescanIntervalMs', kind: 'duration', env: ['FOVEA_INTERFACE_RESCAN_INTERVAL'], flag: 'rescan-interval' },
  { path: 'probes.drop.enabled', kind: 'bool', env: ['FOVEA_PROBE_DROP'], flag: 'no-drop', negate: true },
  { path: 'probes.drop.hook', kind: 'string', env: ['FOVEA_DROP_HOOK'], flag: 'drop-hook' },
  { path: 'probes.traffic.enabled', kind: 'bool', env: ['FOVEA_PROBE_TRAFFIC'], flag: 'no-traffic', negate: true },
  { path: 'probes.traffic.maxInterfaces', kind: 'number', env: ['FOVEA_TRAFFIC_MAX_INTERFACES'], flag: 'max-interfaces' },
  { path: 'probes.flows.enabled', kind: 'bool', env: ['FOVEA_PROBE_FLOWS'], flag: 'no-flows', negate: true },
  { path: 'probes.flows.maxFlows', kind: 'number', env: ['FOVEA_MAX_FLOWS'], flag: 'max-flows' },
  { path: 'probes.flows.idleTimeoutMs', kind: 'duration', env: ['FOVEA_FLOW_IDLE_TIMEOUT'], flag: 'flow-idle-timeout' },
  { path: 'probes.dns.enabled', kind: 'bool', env: ['FOVEA_PROBE_DNS'], flag: 'no-dns', negate: true },
  { path: 'probes.dns.timeoutMs', kind: 'duration', env: ['FOVEA_DNS_TIMEOUT'], flag: 'dns-timeout' },
  { path: 'probes.dns.hostInterfaces', kind: 'list', env: ['FOVEA_DNS_HOST_INTERFACES'], flag: 'dns-host-interfaces' },
  { path: 'probes.dns.names.top', kind: 'number', env: ['FOVEA_DNS_TOP_NAMES'], flag: 'dns-top-names' },
  { path: 'probes.tcp.enabled', kind: 'bool', env: ['FOVEA_PROBE_TCP'], flag: 'no-tcp', negate: true },
  { path: 'probes.tcp.maxSockets', kind: 'number', env: ['FOVEA_TCP_MAX_SOCKETS'], flag: 'tcp-max-sockets' },
  { path: 'probes.netstack.enabled', kind: 'bool', env: ['FOVEA_PROBE_NETSTACK'], flag: 'no-netstack', negate: true },
  { path: 'kubernetes.mode', kind: 'string', env: ['FOVEA_KUBERNETES_MODE'], flag: 'kubernetes' },
  { path: 'kubernetes.kubeconfig', kind: 'string', env: ['FOVEA_KUBECONFIG'], flag: 'kubeconfig' },
  { path: 'pods.seriesTtlMs', kind: 'duration', env: ['FOVEA_POD_SERIES_TTL'], flag: 'pod-series-ttl' },
  { path: 'standalone.netns', kind: 'list', env: ['FOVEA_NETNS'], flag: 'netns' },
  { path: 'probes.traffic.attachMode', kind: 'string', env: ['FOVEA_TC_ATTACH_MODE'], flag: 'attach-mode' },
  // export.*: no FOVEA_* variables on purpose — OTEL_EXPORTER_OTLP_* / OTEL_METRIC_EXPORT_INTERVAL
  // are the environment interface there. Flags sit above those; file values below.
  { path: 'export.intervalMs', kind: 'duration', flag: 'export-interval' },
  { path: 'export.endpoint', kind: 'string', flag: 'endpoint' },
  { path: 'export.protocol', kind: 'string', flag: 'protocol' },
  { path: 'export.cardinalityLimit', kind: 'number', flag: 'cardinality-limit' },
  { path: 'events.drops.enabled', kind: 'bool', env: ['FOVEA_DROP_EVENTS'], flag: 'no-drop-events', negate: true },
  { path: 'events.drops.ratePerCpu', kind: 'number', env: ['FOVEA_DROP_EVENT_RATE'], flag: 'drop-event-rate' },
  { path: 'events.dns.mode', kind: 'string', env: ['FOVEA_DNS_EVENTS'], flag: 'dns-events' },
  { path: 'events.tcp.enabled', kind: 'bool', env: ['FOVEA_TCP_EVENTS'], flag: 'no-tcp-events', negate: true },
  { path: 'events.tcp.ratePerCpu', kind: 'number', env: ['FOVEA_TCP_EVENT_RATE'], flag: 'tcp-event-rate' },
  { path: 'events.flows.enabled', kind: 'bool', env: ['FOVEA_FLOW_EVENTS'], flag: 'flow-events' },
  { path: 'events.export.enabled', kind: 'bool', env: ['FOVEA_EVENT_EXPORT'], flag: 'no-event-export', negate: true },
  { path: 'observe.socket', kind: 'string', env: ['FOVEA_OBSERVE_SOCKET'], flag: 'observe-socket' },
  { path: 'observe.address', kind: 'string', env: ['FOVEA_OBSERVE_ADDRESS'], flag: 'observe-address' },
  { path: 'health.address', kind: 'string', env: ['FOVEA_HEALTH_ADDRESS'], flag: 'health-address' },
  { path: 'prometheus.address', kind: 'string', env: ['FOVEA_PROMETHEUS_ADDRESS'], flag: 'prometheus-address' },
  { path: 'hubble.enabled', kind: 'bool', env: ['FOVEA_HUBBLE'], flag: 'hubble' },
  { path: 'hubble.address', kind: 'string', env: ['FOVEA_HUBBLE_ADDRESS'], flag: 'hubble-address' },
  { path: 'hubble.socket', kind: 'string', env: ['FOVEA_HUBBLE_SOCKET'], flag: 'hubble-socket' },
  { path: 'hubble.bufferSize', kind: 'number', env: ['FOVEA_HUBBLE_BUFFER_SIZE'] },
  { path: 'hubble.clusterName', kind: 'string', env: ['FOVEA_HUBBLE_CLUSTER_NAME'] },
  { path: 'hubble.tls.certFile', kind: 'string', env: ['FOVEA_HUBBLE_TLS_CERT_FILE'] },
  { path: 'hubble.tls.keyFile', kind: 'string', env: ['FOVEA_HUBBLE_TLS_KEY_FILE'] },
  { path: 'hubble.tls.clientCaFile', kind: 'string', env: ['FOVEA_HUBBLE_TLS_CLIENT_CA_FILE'] },
  { path: 'hubble.tls.insecure', kind: 'bool', env: ['FOVEA_HUBBLE_TLS_INSECURE'], flag: 'hubble-insecure' },
  { path: 'bpfObjectDir', kind: 'string', env: ['FOVEA_BPF_DIR'], flag: 'bpf-dir' },
  { path: 'shutdownTimeoutMs', kind: 'duration', env: ['FOVEA_SHUTDOWN_TIMEOUT'], flag: 'shutdown-timeout' },
];

/** Names the config file path. Read by loadConfig, not a setting itself. */
export const CONFIG_FILE_ENV = 'FOVEA_CONFIG';
/** Writes a CPU profile of the agent to this file when it stops (src/agent/cpu-profile.ts). Not a setting. */
export const CPU_PROFILE_ENV = 'FOVEA_CPU_PROFILE';
/** Writes a heap snapshot of the agent to this file when it stops (src/agent/cpu-profile.ts). Not a setting. */
export const HEAP_SNAPSHOT_ENV = 'FOVEA_HEAP_SNAPSHOT';
/** Writes a sampling profile of what the agent allocates, garbage included, when it stops (src/agent/cpu-profile.ts). Not a setting. */
export const ALLOC_PROFILE_ENV = 'FOVEA_ALLOC_PROFILE';
/** Writes a sampling profile of what the agent allocated that outlived a scavenge (promoted), when it stops (src/agent/cpu-profile.ts). Not a setting. */
export const PROMOTED_PROFILE_ENV = 'FOVEA_PROMOTED_PROFILE';
/** On SIGUSR2, writes the agent's memory after a full collection to this file (src/agent/memory-report.ts). Not a setting. */
export const MEMORY_REPORT_ENV = 'FOVEA_MEMORY_REPORT';

/** Every FOVEA_* variable the agent reads. */
export const KNOWN_ENV: readonly string[] = [
  CONFIG_FILE_ENV,
  CPU_PROFILE_ENV,
  HEAP_SNAPSHOT_ENV,
  ALLOC_PROFILE_ENV,
  PROMOTED_PROFILE_ENV,
  MEMORY_REPORT_ENV,
  ...SETTINGS.flatMap((s) => s.env ?? []).filter((e) => e.startsWith('FOVEA_')),
];

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);
const NUMBER_RE = /^[+-]?\d+(\.\d+)?$/;

/** Shape one raw string for `kind`. Unparseable values pass through so the schema reports them. */
export function shapeValue(kind: SettingKind, raw: string): unknown {
  const v = raw.trim();
  switch (kind) {
    case 'list': return splitList(v);
    case 'bool': {
      const l = v.toLowerCase();
      return TRUE.has(l) ? true : FALSE.has(l) ? false : v;
    }
    case 'number': return NUMBER_RE.test(v) ? Number(v) : v;
    case 'string':
    case 'duration':
      return v;
  }
}

export function splitList(raw: string): string[] {
  return raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

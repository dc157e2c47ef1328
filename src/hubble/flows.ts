/**
 * Drop and flow events → Hubble flows. A drop event becomes a DROPPED flow (Cilium's drop reason
 * mapped by name, the kernel's own name in Summary and extensions); a flow record (new, active,
 * ended) becomes a FORWARDED flow seen where Fovea counts it: the pod's host-side veth, i.e.
 * `from-endpoint` when the pod sent it and `to-endpoint` when it was on its way to the pod.
 */
import { randomUUID } from 'node:crypto';
import type { EventEndpoint, NetworkEvent } from '../events/types.js';
import type { PodInfo } from '../k8s/types.js';
import { serverPort } from '../pods/endpoints.js';
import { VERDICT as EVENT_VERDICT } from '../names.js';
import { DropReasonMap } from './drop-reasons.js';
import { encodeExtensionStruct } from './flow-encoder.js';
import { IdentityMapper, type EndpointIdentity } from './identity.js';
import {
  FLOW_TYPE, IP_VERSION, MONITOR_TYPE, OBSERVATION_POINT, STRUCT_TYPE_URL, TRACE_SUBTYPE, TRAFFIC_DIRECTION, VERDICT,
  type AnyMessage, type Flow, type FlowEndpoint, type Layer4, type TcpFlagsMessage, type Timestamp,
} from './types.js';

export const EMITTER_NAME = 'Fovea';
/** Cilium's default cluster name: node names carry no cluster prefix under it. */
export const DEFAULT_CLUSTER = 'default';

export interface FlowBuilderOptions {
  /** the cluster name Hubble shows (Cilium's `cluster-name`; "default" unless configured) */
  readonly cluster: string;
  /** this agent's node */
  readonly node: string;
  readonly version: string;
  /** pod details (labels, service account) by uid; standalone: the netns workloads */
  readonly podByUid?: (uid: string) => PodInfo | undefined;
  /** this node's labels, `key=value` (Flow.node_labels) */
  readonly nodeLabels?: () => readonly string[];
}

/** "<cluster>/<node>", or just the node in the default cluster (Cilium's absolute node name). */
export function absoluteNodeName(cluster: string, node: string): string {
  return cluster === DEFAULT_CLUSTER || cluster === '' ? node : `${cluster}/${node}`;
}

export function timestampOf(ms: number): Timestamp {
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6);
  // a fraction that rounds up to a whole second belongs to the next second
  return nanos >= 1_000_000_000 ? { seconds: seconds + 1, nanos: nanos - 1_000_000_000 } : { seconds, nanos };
}

export function timestampMs(t: { seconds?: unknown; nanos?: unknown } | null | undefined): number | undefined {
  if (!t) return undefined;
  const s = Number(typeof t.seconds === 'object' && t.seconds !== null ? String(t.seconds) : t.seconds ?? 0);
  const n = Number(t.nanos ?? 0);
  return s * 1000 + n / 1e6;
}

const FLAG_NAMES = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR'] as const;

function tcpFlagsMessage(names: string | undefined): TcpFlagsMessage | undefined {
  if (!names) return undefined;
  const out: Record<string, boolean> = {};
  for (const n of names.split('|')) if ((FLAG_NAMES as readonly string[]).includes(n)) out[n] = true;
  return out;
}

/** "SYN, ACK" as Cilium's summaries write TCP flags (wire order). */
function flagsText(f: TcpFlagsMessage | undefined): string {
  if (!f) return '';
  return FLAG_NAMES.filter((n) => f[n]).join(', ');
}

/**
 * Request or reply: a lone SYN opens a connection (request) and SYN+ACK answers it (reply) when
 * one packet's flags are known (drops); otherwise the side with the service port is the server
 * (src/pods/endpoints.ts serverPort). Unknown (unset) for protocols without ports.
 */
export function isReplyOf(ev: NetworkEvent): boolean | undefined {
  if (ev.transport !== 'tcp' && ev.transport !== 'udp') return undefined;
  if (ev.transport === 'tcp' && !ev.flow && ev.tcpFlags) {
    const f = ev.tcpFlags.split('|');
    if (f.includes('SYN')) return f.includes('ACK');
  }
  const sport = ev.source.port, dport = ev.destination.port;
  if (sport === undefined || dport === undefined) return undefined;
  return !serverPort(ev.protocol, sport, dport).serverIsDestination;
}

const REPLY = { value: true } as const;
const REQUEST = { value: false } as const;

export class FlowBuilder {
  private readonly ids: IdentityMapper;
  private readonly drops = new DropReasonMap();
  private readonly nodeName: string;
  private readonly emitter: { name: string; version: string };
  /** one endpoint object per pod (and per reserved identity): filters and the encoder cache by object */
  private readonly endpointCache = new Map<string, { id: EndpointIdentity; e: EventEndpoint; out: FlowEndpoint }>();
  private readonly eventTypes = new Map<number, { type: number; sub_type: number }>();
  private readonly interfaces = new Map<string, { index?: number; name?: string }>();
  private readonly flagSets = new Map<string, TcpFlagsMessage>();

  constructor(private readonly opts: FlowBuilderOptions) {
    this.ids = new IdentityMapper(opts.cluster, opts.node, opts.podByUid ?? (() => undefined));
    this.nodeName = absoluteNodeName(opts.cluster, opts.node);
    this.emitter = { name: EMITTER_NAME, version: opts.version };
  }

  /** The absolute node name on every flow. */
  get node(): string {
    return this.nodeName;
  }

  /**
   * The endpoints of an event, resolved now (cheap: one shared object per pod), so that a flow
   * built later (FlowBuilder.build, when a client reads it) still shows a pod deleted meanwhile.
   */
  endpoints(ev: NetworkEvent): { source: FlowEndpoint; destination: FlowEndpoint } {
    return { source: this.endpoint(ev.source), destination: this.endpoint(ev.destination) };
  }

  build(ev: NetworkEvent, ends: { source: FlowEndpoint; destination: FlowEndpoint } = this.endpoints(ev)): Flow {
    const dropped = ev.verdict === EVENT_VERDICT.dropped;
    const flags = ev.transport === 'tcp' ? this.tcpFlags(ev.tcpFlags) : undefined;
    const reply = isReplyOf(ev);
    const drop = dropped ? this.drops.map(ev.reason) : undefined;
    const dropCode = drop && drop.code !== 0 ? drop.code : undefined;
    const point = dropped || !ev.direction ? undefined
      : ev.direction === 'egress' ? OBSERVATION_POINT.fromEndpoint : OBSERVATION_POINT.toEndpoint;
    const nodeLabels = this.opts.nodeLabels?.();
    // one literal with every field (absent = undefined): a fixed object shape for V8, and the
    // field order of the .proto
    const flow: Flow = {
      time: timestampOf(ev.timeMs),
      uuid: randomUUID(),
      emitter: this.emitter,
      verdict: dropped ? VERDICT.dropped : VERDICT.forwarded,
      drop_reason: dropCode,
      IP: ev.ipVersion ? { source: ev.source.ip, destination: ev.destination.ip, ipVersion: ev.ipVersion === 4 ? IP_VERSION.v4 : IP_VERSION.v6 } : undefined,
      l4: this.layer4(ev, flags),
      source: ends.source,
      destination: ends.destination,
      Type: FLOW_TYPE.l3l4,
      node_name: this.nodeName,
      node_labels: nodeLabels && nodeLabels.length ? nodeLabels : undefined,
      reply,
      event_type: this.eventType(dropped ? MONITOR_TYPE.drop : MONITOR_TYPE.trace,
        dropped ? drop!.code : point === OBSERVATION_POINT.fromEndpoint ? TRACE_SUBTYPE.fromEndpoint : TRACE_SUBTYPE.toEndpoint),
      source_service: ev.source.kind === 'service' ? { name: ev.source.service, namespace: ev.source.namespace } : undefined,
      destination_service: ev.destination.kind === 'service' ? { name: ev.destination.service, namespace: ev.destination.namespace } : undefined,
      traffic_direction: ev.direction === 'egress' ? TRAFFIC_DIRECTION.egress : ev.direction === 'ingress' ? TRAFFIC_DIRECTION.ingress : undefined,
      trace_observation_point: point,
      drop_reason_desc: dropCode,
      is_reply: reply === undefined ? undefined : reply ? REPLY : REQUEST,
      interface: ev.ifindex || ev.interface ? this.iface(ev.ifindex, ev.interface) : undefined,
      Summary: this.summary(ev, flags),
      extensions: this.extension(ev),
    };
    return flow;
  }

  private tcpFlags(names: string | undefined): TcpFlagsMessage | undefined {
    if (!names) return undefined;
    let f = this.flagSets.get(names);
    if (!f) this.flagSets.set(names, f = tcpFlagsMessage(names)!);
    return f;
  }

  private eventType(type: number, sub: number): { type: number; sub_type: number } {
    const key = type * 65536 + sub;
    let t = this.eventTypes.get(key);
    if (!t) this.eventTypes.set(key, t = { type, sub_type: sub });
    return t;
  }

  private iface(index: number | undefined, name: string | undefined): { index?: number; name?: string } {
    const key = `${index ?? 0}/${name ?? ''}`;
    let i = this.interfaces.get(key);
    if (!i) {
      if (this.interfaces.size > 10_000) this.interfaces.clear();
      i = {};
      if (index) i.index = index;
      if (name) i.name = name;
      this.interfaces.set(key, i);
    }
    return i;
  }

  private layer4(ev: NetworkEvent, flags: TcpFlagsMessage | undefined): Layer4 | undefined {
    const ports: { source_port?: number; destination_port?: number; flags?: TcpFlagsMessage } = {};
    if (ev.source.port) ports.source_port = ev.source.port;
    if (ev.destination.port) ports.destination_port = ev.destination.port;
    switch (ev.transport) {
      case 'tcp':
        if (flags) ports.flags = flags;
        return { TCP: ports };
      case 'udp': return { UDP: ports };
      // the events carry no ICMP type and code: the protocol alone
      case 'icmp': return ev.ipVersion === 6 ? { ICMPv6: {} } : { ICMPv4: {} };
      default: return undefined;
    }
  }

  /** The Endpoint of an event end: one shared object per pod, node or reserved identity. */
  private endpoint(e: EventEndpoint): FlowEndpoint {
    const id = this.ids.of(e);
    // a pod's uid names it; its identity object changes when its PodInfo does (IdentityMapper)
    const key = e.kind === 'pod' ? (e.podUid ?? `?${e.namespace}/${e.pod}`)
      : e.kind === 'service' ? `s${e.namespace ?? ''}/${e.service ?? ''}` : `${e.kind}${id.identity}`;
    const hit = this.endpointCache.get(key);
    if (hit && hit.id === id && hit.e.workloadName === e.workloadName && hit.e.pod === e.pod) return hit.out;
    const out: { -readonly [K in keyof FlowEndpoint]: FlowEndpoint[K] } = {};
    if (id.identity) out.identity = id.identity;
    if (e.kind === 'pod') {
      out.cluster_name = this.opts.cluster;
      if (e.namespace) out.namespace = e.namespace;
    }
    if (id.labels.length) out.labels = id.labels;
    if (e.pod) out.pod_name = e.pod;
    if (e.workloadName) out.workloads = [{ name: e.workloadName, kind: e.workloadKind ?? '' }];
    if (this.endpointCache.size > 100_000) this.endpointCache.clear(); // bounded: pods come and go
    this.endpointCache.set(key, { id, e, out });
    return out;
  }

  /** One line for people; the kernel's reason name first. */
  private summary(ev: NetworkEvent, flags: TcpFlagsMessage | undefined): string {
    let s = ev.verdict === EVENT_VERDICT.dropped
      ? `${ev.reason ?? 'UNKNOWN'} (kernel drop reason)${ev.location ? ` at ${ev.location}` : ''}; ` : '';
    const f = flagsText(flags);
    if (f) s += `TCP Flags: ${f}`;
    else if (ev.transport === 'udp') s += 'UDP';
    else if (ev.transport === 'icmp') s += ev.ipVersion === 6 ? 'ICMPv6' : 'ICMPv4';
    else s += ev.transport === 'unknown' ? 'not IP' : `IP protocol ${ev.protocol}`;
    const fl = ev.flow;
    if (fl) s += `; ${fl.state} flow: ${count(fl.packets, 'packet')}, ${count(fl.bytes, 'byte')} (${count(fl.totalPackets, 'packet')} in all)`;
    if (ev.suppressed) s += `; +${count(ev.suppressed, 'more drop')} of this reason on CPU ${ev.cpu ?? '?'} not shown (rate limit)`;
    return s;
  }

  /**
   * Fovea's own fields as a google.protobuf.Struct inside the Any (a well-known type: the real CLI
   * prints it with -o json; an Any of a Fovea message would make it fail).
   */
  private extension(ev: NetworkEvent): AnyMessage {
    // keys in sorted order (the map order protobuf writes deterministically)
    const f: Record<string, string | number> = {};
    const dropped = ev.verdict === EVENT_VERDICT.dropped;
    const fl = ev.flow;
    if (fl) f['bytes'] = fl.bytes;
    if (dropped && ev.cpu !== undefined) f['cpu'] = ev.cpu;
    if (dropped && ev.location) f['drop_location'] = ev.location;
    if (fl) {
      f['first_seen'] = new Date(fl.firstSeenMs).toISOString();
      f['flow_state'] = fl.state;
    }
    if (dropped) {
      f['kernel_drop_reason'] = ev.reason ?? 'UNKNOWN';
      if (ev.reasonCode !== undefined) f['kernel_drop_reason_code'] = ev.reasonCode;
    }
    if (fl) f['last_seen'] = new Date(fl.lastSeenMs).toISOString();
    if (ev.netns) f['netns'] = ev.netns;
    if (dropped && ev.length !== undefined) f['packet_length'] = ev.length;
    if (fl) f['packets'] = fl.packets;
    if (dropped) f['suppressed'] = ev.suppressed ?? 0;
    if (fl) {
      f['total_bytes'] = fl.totalBytes;
      f['total_packets'] = fl.totalPackets;
    }
    return { type_url: STRUCT_TYPE_URL, value: encodeExtensionStruct(f) };
  }
}

function count(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

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
import { timestampOf } from './time.js';
import { encodeExtensionStruct, type ExtensionFields } from './flow-encoder.js';
import { IdentityMapper, type EndpointIdentity } from './identity.js';
import {
  FLOW_TYPE, IP_VERSION, MONITOR_TYPE, OBSERVATION_POINT, STRUCT_TYPE_URL, TRACE_SUBTYPE, TRAFFIC_DIRECTION, VERDICT,
  type AnyMessage, type Flow, type FlowEndpoint, type FlowFacts, type Layer4, type TcpFlagsMessage,
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

export { timestampMs, timestampOf } from './time.js';

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

interface DropParts { readonly summary: string; readonly extension: AnyMessage }

function getOrSet<K, V>(m: Map<K, V>, k: K, make: () => V): V {
  let v = m.get(k);
  if (v === undefined) m.set(k, v = make());
  return v;
}

const REPLY = { value: true } as const;
const REQUEST = { value: false } as const;

/** The Flow message of a flow's facts: one literal with every field (absent = undefined), a fixed object shape for V8, in the .proto's order. */
export function toFlow(f: FlowFacts): Flow {
  const dropCode = f.dropCode !== 0 ? f.dropCode : undefined;
  return {
    time: timestampOf(f.timeMs),
    uuid: f.uuid,
    emitter: f.emitter,
    verdict: f.verdict,
    drop_reason: dropCode,
    IP: f.ipVersion ? { source: f.src, destination: f.dst, ipVersion: f.ipVersion === 4 ? IP_VERSION.v4 : IP_VERSION.v6 } : undefined,
    l4: layer4Of(f),
    source: f.source,
    destination: f.destination,
    Type: FLOW_TYPE.l3l4,
    node_name: f.node,
    node_labels: f.nodeLabels,
    reply: f.reply,
    event_type: f.eventType,
    source_service: f.sourceService,
    destination_service: f.destinationService,
    traffic_direction: f.direction || undefined,
    trace_observation_point: f.point,
    drop_reason_desc: dropCode,
    is_reply: f.reply === undefined ? undefined : f.reply ? REPLY : REQUEST,
    interface: f.iface,
    Summary: f.summary,
    extensions: f.extension,
  };
}

function layer4Of(f: FlowFacts): Layer4 | undefined {
  if (f.l4 === 'none') return undefined;
  if (f.l4 === 'ICMPv4' || f.l4 === 'ICMPv6') return { [f.l4]: {} };
  const ports: { source_port?: number; destination_port?: number; flags?: TcpFlagsMessage } = {};
  if (f.sport) ports.source_port = f.sport;
  if (f.dport) ports.destination_port = f.dport;
  if (f.l4 === 'TCP' && f.flags) ports.flags = f.flags;
  return { [f.l4]: ports };
}

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
  private readonly dropCache = new Map<string, Map<string, Map<string, Map<number, Map<number, Map<number, DropParts>>>>>>();
  private dropCacheSize = 0;

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
    return { source: this.endpointOf(ev.source), destination: this.endpointOf(ev.destination) };
  }

  /** The Flow of an event. `extension: false` leaves `extensions` out (a field mask without it). */
  build(ev: NetworkEvent, ends: { source: FlowEndpoint; destination: FlowEndpoint } = this.endpoints(ev), extension = true): Flow {
    return toFlow(this.facts(ev, ends, extension));
  }

  /** What the flow of an event says (build() and the encoder's direct path both start here). */
  facts(ev: NetworkEvent, ends: { source: FlowEndpoint; destination: FlowEndpoint }, extension = true): FlowFacts {
    const dropped = ev.verdict === EVENT_VERDICT.dropped;
    const tcp = ev.transport === 'tcp';
    const flags = tcp ? this.tcpFlags(ev.tcpFlags) : undefined;
    const drop = dropped ? this.drops.map(ev.reason) : undefined;
    const point = dropped || !ev.direction ? undefined
      : ev.direction === 'egress' ? OBSERVATION_POINT.fromEndpoint : OBSERVATION_POINT.toEndpoint;
    const nodeLabels = this.opts.nodeLabels?.();
    const parts = this.dropParts(ev, flags);
    return {
      timeMs: ev.timeMs,
      uuid: randomUUID(),
      verdict: dropped ? VERDICT.dropped : VERDICT.forwarded,
      dropCode: drop ? drop.code : 0,
      ipVersion: ev.ipVersion,
      src: ev.source.ip,
      dst: ev.destination.ip,
      // the events carry no ICMP type and code: the protocol alone
      l4: tcp ? 'TCP' : ev.transport === 'udp' ? 'UDP' : ev.transport === 'icmp' ? (ev.ipVersion === 6 ? 'ICMPv6' : 'ICMPv4') : 'none',
      sport: ev.source.port ?? 0,
      dport: ev.destination.port ?? 0,
      flags,
      source: ends.source,
      destination: ends.destination,
      node: this.nodeName,
      nodeLabels: nodeLabels && nodeLabels.length ? nodeLabels : undefined,
      emitter: this.emitter,
      reply: isReplyOf(ev),
      eventType: this.eventType(dropped ? MONITOR_TYPE.drop : MONITOR_TYPE.trace,
        dropped ? drop!.code : point === OBSERVATION_POINT.fromEndpoint ? TRACE_SUBTYPE.fromEndpoint : TRACE_SUBTYPE.toEndpoint),
      sourceService: ev.source.kind === 'service' ? this.service(ev.source) : undefined,
      destinationService: ev.destination.kind === 'service' ? this.service(ev.destination) : undefined,
      direction: ev.direction === 'egress' ? TRAFFIC_DIRECTION.egress : ev.direction === 'ingress' ? TRAFFIC_DIRECTION.ingress : 0,
      point,
      iface: ev.ifindex || ev.interface ? this.iface(ev.ifindex, ev.interface) : undefined,
      summary: parts ? parts.summary : this.summaryText(ev, flags),
      extension: !extension ? undefined : parts ? parts.extension : this.extension(ev),
    };
  }

  private service(e: EventEndpoint): { name?: string; namespace?: string } {
    return { name: e.service, namespace: e.namespace };
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

  /** The Endpoint of an event end: one shared object per pod, node or reserved identity. */
  endpointOf(e: EventEndpoint): FlowEndpoint {
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

  /**
   * A drop's Summary and extension repeat from event to event (same reason, function, flags, CPU,
   * length): made once per distinct set, one lookup for both (bounded). Not for flow records (their
   * counts differ every time) nor drops carrying suppressed counts.
   */
  private dropParts(ev: NetworkEvent, flags: TcpFlagsMessage | undefined): DropParts | undefined {
    if (ev.flow || ev.suppressed) return undefined;
    // nested maps of primitives (no key string to build per event): reason, function, flags, netns,
    // then reason code/protocol/IP version and CPU/length packed in numbers
    const byLocation = getOrSet(this.dropCache, ev.reason ?? '', () => new Map());
    const byFlags = getOrSet(byLocation, ev.location ?? '', () => new Map());
    const byNetns = getOrSet(byFlags, ev.tcpFlags ?? '', () => new Map());
    const byKind = getOrSet(byNetns, ev.netns ?? 0, () => new Map());
    const bySize = getOrSet(byKind, ((ev.reasonCode ?? 0) * 256 + ev.protocol) * 8 + ev.ipVersion, () => new Map());
    const sizeKey = (ev.cpu ?? 0) * 4_294_967_296 + (ev.length ?? 0);
    let p = bySize.get(sizeKey);
    if (!p) {
      if (++this.dropCacheSize > 4_096) { this.dropCache.clear(); this.dropCacheSize = 0; }
      p = { summary: this.summaryText(ev, flags), extension: this.extension(ev) };
      bySize.set(sizeKey, p);
    }
    return p;
  }

  /** One line for people; the kernel's reason name first. */
  private summaryText(ev: NetworkEvent, flags: TcpFlagsMessage | undefined): string {
    let s = ev.verdict === EVENT_VERDICT.dropped
      ? `${ev.reason ?? 'UNKNOWN'} (kernel drop reason)${ev.location ? ` at ${ev.location}` : ''}; ` : '';
    const f = flagsText(flags);
    if (f) s += `TCP Flags: ${f}`;
    else if (ev.transport === 'udp') s += 'UDP';
    else if (ev.transport === 'icmp') s += ev.ipVersion === 6 ? 'ICMPv6' : 'ICMPv4';
    else s += ev.transport === 'unknown' ? 'not IP' : `IP protocol ${ev.protocol}`;
    const fl = ev.flow;
    if (fl) s += `; ${fl.state} flow: ${count(fl.packets, 'packet')}, ${count(fl.bytes, 'byte')} (${count(fl.totalPackets, 'packet')} in all)`;
    // the kernel carries both kinds on the next event: drops the rate limit held back and drops whose
    // event found the ring buffer full (those are also reported once as a PERF_EVENT_RING_BUFFER loss)
    if (ev.suppressed) s += `; +${count(ev.suppressed, 'more drop')} of this reason on CPU ${ev.cpu ?? '?'} not shown (rate limit or full ring buffer)`;
    return s;
  }

  /** The Any of Fovea's own fields. */
  private extension(ev: NetworkEvent): AnyMessage {
    return { type_url: STRUCT_TYPE_URL, value: encodeExtensionStruct(this.extensionFields(ev)) };
  }

  /**
   * Fovea's own fields, which travel as a google.protobuf.Struct inside the Any (a well-known type:
   * the real CLI prints it with -o json; an Any of a Fovea message would make it fail).
   */
  extensionFields(ev: NetworkEvent): ExtensionFields {
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
    return f;
  }
}

function count(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

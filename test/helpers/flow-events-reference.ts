/**
 * FlowEventSource as it was before its read was made incremental (2026-12-03): the reference its
 * unit test compares the current one with, event for event and key for key.
 */
import type { IdentitySource, PodInfo } from '../../src/k8s/types.js';
import { EVENT, VERDICT } from '../../src/names.js';
import { FLOW_KEY, FLOW_VALUE, FlowView, TRAFFIC_INGRESS } from '../../src/probes/traffic/layout.js';
import { eventEndpoint, hasPorts, LocalPods, transportOf } from '../../src/events/endpoints.js';

const TCP_FLAGS = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR'] as const;
function tcpFlagNames(flags: number): string | undefined {
  const names = TCP_FLAGS.filter((_, i) => flags & (1 << i));
  return names.length > 0 ? names.join('|') : undefined;
}
import { InterfaceNames } from '../../src/events/interface-names.js';
import type { EventEndpoint, NetworkEvent } from '../../src/events/types.js';

interface FlowEventSourceOptions {
  /** the kernel flow table, read now (valid until the next read) */
  readonly flowView: () => FlowView;
  readonly identity?: IdentitySource;
  /** host-side interface → the local pod behind it */
  readonly podInterfaces?: () => ReadonlyMap<number, PodInfo>;
  readonly node: string;
  readonly interfaceNames?: () => ReadonlyMap<number, string>;
  readonly monotonicNs?: () => bigint;
  readonly nowMs?: () => number;
}

/**
 * What the last read saw of a flow: numbers only (a flow table holds hundreds of thousands of
 * records; the event's other fields are rebuilt from the key when an event is sent).
 */
interface Seen {
  packets: number;
  bytes: number;
  lastSeenNs: number;
  tcpFlags: number;
  readonly firstSeenNs: number;
}

export class ReferenceFlowEventSource {
  private seen = new Map<string, Seen>();
  private readonly local: LocalPods;
  private readonly ifnames: InterfaceNames;
  private readonly monotonicNs: () => bigint;
  private readonly nowMs: () => number;

  constructor(private readonly opts: FlowEventSourceOptions) {
    this.local = new LocalPods(opts.identity);
    this.monotonicNs = opts.monotonicNs ?? (() => process.hrtime.bigint());
    this.nowMs = opts.nowMs ?? Date.now;
    this.ifnames = new InterfaceNames(opts.interfaceNames, this.nowMs);
  }

  /** Flows tracked (bounded by the kernel table's size). */
  get tracked(): number {
    return this.seen.size;
  }

  /** Reads the flow table and returns the flow records since the previous read. */
  read(): NetworkEvent[] {
    const view = this.opts.flowView();
    const offsetMs = this.nowMs() - Number(this.monotonicNs()) / 1e6;
    const wall = (ns: number): number => ns / 1e6 + offsetMs;
    const out: NetworkEvent[] = [];
    const next = new Map<string, Seen>();
    for (let i = 0; i < view.count; i++) {
      const key = view.keyText(i);
      const packets = view.packets(i);
      const prev = this.seen.get(key);
      if (prev && prev.packets === packets) {
        next.set(key, prev);
        continue;
      }
      const bytes = view.bytes(i);
      const s: Seen = prev ?? { packets: 0, bytes: 0, lastSeenNs: 0, tcpFlags: 0, firstSeenNs: view.firstSeenNs(i) };
      const dp = packets - s.packets;
      const db = bytes - s.bytes;
      s.packets = packets;
      s.bytes = bytes;
      s.lastSeenNs = view.lastSeenNs(i);
      s.tcpFlags = view.tcpFlags(i);
      next.set(key, s);
      out.push(this.event(this.base(view, i), s, prev ? 'active' : 'new', dp, db, wall));
    }
    for (const [key, s] of this.seen) {
      if (!next.has(key)) out.push(this.event(this.base(keyView(key), 0), s, 'ended', 0, 0, wall));
    }
    this.seen = next;
    return out;
  }

  private event(
    base: Omit<NetworkEvent, 'timeMs' | 'flow' | 'tcpFlags'>, s: Seen, state: 'new' | 'active' | 'ended',
    packets: number, bytes: number, wall: (ns: number) => number,
  ): NetworkEvent {
    const tcpFlags = base.protocol === 6 ? tcpFlagNames(s.tcpFlags) : undefined;
    return {
      ...base,
      timeMs: state === 'ended' ? this.nowMs() : wall(s.lastSeenNs),
      ...(tcpFlags ? { tcpFlags } : {}),
      flow: {
        state, packets, bytes, totalPackets: s.packets, totalBytes: s.bytes,
        firstSeenMs: wall(s.firstSeenNs), lastSeenMs: wall(s.lastSeenNs),
      },
    };
  }

  private base(view: FlowView, i: number): Omit<NetworkEvent, 'timeMs' | 'flow' | 'tcpFlags'> {
    const proto = view.proto(i);
    const ipVersion = view.ipVersion(i);
    const ports = hasPorts(proto);
    const ifindex = view.ifindex(i);
    const ifname = this.ifnames.name(ifindex);
    const identity = this.opts.identity;
    const pod = this.opts.podInterfaces?.().get(ifindex);
    const end = (ip: string, port: number): EventEndpoint => eventEndpoint(identity, ip, ports ? port : undefined, this.local);
    return {
      name: EVENT.flow,
      verdict: VERDICT.forwarded,
      source: end(view.src(i), view.sport(i)),
      destination: end(view.dst(i), view.dport(i)),
      ipVersion: ipVersion === 4 || ipVersion === 6 ? ipVersion : 0,
      transport: transportOf(proto, ipVersion),
      protocol: proto,
      ...(ifname ? { interface: ifname } : {}),
      ifindex,
      // a pod's host-side veth: what enters it on the host side left the pod
      ...(pod ? { direction: view.direction(i) === TRAFFIC_INGRESS ? 'egress' as const : 'ingress' as const } : {}),
      node: this.opts.node,
    };
  }
}

/** A one-record view over a remembered key (for the `ended` record of a flow no longer in the table). */
function keyView(key: string): FlowView {
  return new FlowView({
    count: 1, keys: Buffer.from(key, 'latin1'), values: Buffer.alloc(FLOW_VALUE.size),
    keySize: FLOW_KEY.size, valueStride: FLOW_VALUE.size, cpus: 1,
  });
}

/**
 * Flow events (verdict FORWARDED) from the kernel flow table on pods' host-side veths: at every
 * read, a `new` record for a flow seen for the first time, an `active` record for a flow that
 * carried packets since the last read, and an `ended` record for a flow that left the table (idle
 * and deleted, or evicted). Direction is the pod's: host-side ingress = the pod sent (egress).
 */
import type { Endpoint, IdentitySource, PodInfo } from '../k8s/types.js';
import { EVENT, VERDICT } from '../names.js';
import { FLOW_KEY, FLOW_VALUE, FlowView, TRAFFIC_INGRESS } from '../probes/traffic/layout.js';
import { endpointFromIdentity, hasPorts, LocalPods, tcpFlagNames, transportOf } from './endpoints.js';
import { InterfaceNames } from './interface-names.js';
import type { EventEndpoint, NetworkEvent } from './types.js';

export interface FlowEventSourceOptions {
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
  /** the read that last saw it, and where in that read's table */
  read: number;
  index: number;
}

/** An address of this read: its text and what the identity source says of it. */
interface Address {
  readonly ip: string;
  readonly endpoint: Endpoint | undefined;
  readonly local: boolean;
}

/**
 * The flow table is read every `events.flows.intervalMs` (1 s in part j of the benchmark) and most of
 * its records did not change since the last read: an unchanged record costs a key and one lookup,
 * the map of what was seen is updated in place, and events are built field by field (no object
 * spread), their two ends from addresses resolved once per read.
 */
export class FlowEventSource {
  private readonly seen = new Map<string, Seen>();
  private reads = 0;
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
    const read = ++this.reads;
    const out: NetworkEvent[] = [];
    const ctx = new ReadContext(this.opts, this.local, this.ifnames, this.nowMs, view, offsetMs);
    for (let i = 0; i < view.count; i++) {
      const key = view.keyText(i);
      const packets = view.packets(i);
      let s = this.seen.get(key);
      const prev = s !== undefined;
      if (s) {
        s.read = read;
        s.index = i;
        if (s.packets === packets) continue;
      } else {
        s = { packets: 0, bytes: 0, lastSeenNs: 0, tcpFlags: 0, firstSeenNs: view.firstSeenNs(i), read, index: i };
        this.seen.set(key, s);
      }
      const bytes = view.bytes(i);
      const dp = packets - s.packets;
      const db = bytes - s.bytes;
      s.packets = packets;
      s.bytes = bytes;
      s.lastSeenNs = view.lastSeenNs(i);
      s.tcpFlags = view.tcpFlags(i);
      out.push(ctx.event(view, i, s, prev ? 'active' : 'new', dp, db));
    }
    // flows no longer in the table, in the order the previous read saw them
    let ended: [string, Seen][] | undefined;
    for (const entry of this.seen) {
      if (entry[1].read !== read) (ended ??= []).push(entry);
    }
    if (ended) {
      ended.sort((a, b) => a[1].index - b[1].index);
      for (const [key, s] of ended) {
        this.seen.delete(key);
        out.push(ctx.event(keyView(key), 0, s, 'ended', 0, 0));
      }
    }
    return out;
  }
}

/** Per read: the clock offset and the addresses resolved so far. */
class ReadContext {
  private readonly addresses = new Map<string, Address>();
  private readonly pods: ReadonlyMap<number, PodInfo> | undefined;

  constructor(
    private readonly opts: FlowEventSourceOptions, private readonly local: LocalPods, private readonly ifnames: InterfaceNames,
    private readonly nowMs: () => number, private readonly view: FlowView, private readonly offsetMs: number,
  ) {
    this.pods = opts.podInterfaces?.();
  }

  private wall(ns: number): number {
    return ns / 1e6 + this.offsetMs;
  }

  private address(view: FlowView, i: number, side: 'src' | 'dst'): Address {
    const cache = view === this.view;
    // the address text depends on the record's IP version as well as its 16 bytes
    const key = cache ? (side === 'src' ? view.srcKey(i) : view.dstKey(i)) + String.fromCharCode(view.ipVersion(i)) : '';
    let a = cache ? this.addresses.get(key) : undefined;
    if (!a) {
      const ip = side === 'src' ? view.src(i) : view.dst(i);
      const identity = this.opts.identity;
      const endpoint = ip && identity ? identity.resolve(ip) : undefined;
      a = { ip, endpoint, local: endpoint?.kind === 'pod' ? this.local.has(endpoint.pod.uid) : false };
      if (cache) this.addresses.set(key, a);
    }
    return a;
  }

  event(view: FlowView, i: number, s: Seen, state: 'new' | 'active' | 'ended', packets: number, bytes: number): NetworkEvent {
    // the same fields, in the same order, as `{ ...base, timeMs, tcpFlags?, flow }` built before
    const proto = view.proto(i);
    const ipVersion = view.ipVersion(i);
    const ports = hasPorts(proto);
    const ifindex = view.ifindex(i);
    const ifname = this.ifnames.name(ifindex);
    const pod = this.pods?.get(ifindex);
    const e: Mutable<NetworkEvent> = {
      name: EVENT.flow,
      verdict: VERDICT.forwarded,
      source: endpointOf(this.address(view, i, 'src'), ports ? view.sport(i) : undefined),
      destination: endpointOf(this.address(view, i, 'dst'), ports ? view.dport(i) : undefined),
      ipVersion: ipVersion === 4 || ipVersion === 6 ? ipVersion : 0,
      transport: transportOf(proto, ipVersion),
      protocol: proto,
    } as Mutable<NetworkEvent>;
    if (ifname) e.interface = ifname;
    e.ifindex = ifindex;
    // a pod's host-side veth: what enters it on the host side left the pod
    if (pod) e.direction = view.direction(i) === TRAFFIC_INGRESS ? 'egress' : 'ingress';
    e.node = this.opts.node;
    e.timeMs = state === 'ended' ? this.nowMs() : this.wall(s.lastSeenNs);
    const tcpFlags = proto === 6 ? tcpFlagNames(s.tcpFlags) : undefined;
    if (tcpFlags) e.tcpFlags = tcpFlags;
    e.flow = {
      state, packets, bytes, totalPackets: s.packets, totalBytes: s.bytes,
      firstSeenMs: this.wall(s.firstSeenNs), lastSeenMs: this.wall(s.lastSeenNs),
    };
    return e;
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** What eventEndpoint (endpoints.ts) builds, from an address resolved once per read. */
function endpointOf(a: Address, port: number | undefined): EventEndpoint {
  return endpointFromIdentity(a.ip, port, a.endpoint, a.local);
}

/** A one-record view over a remembered key (for the `ended` record of a flow no longer in the table). */
function keyView(key: string): FlowView {
  return new FlowView({
    count: 1, keys: Buffer.from(key, 'latin1'), values: Buffer.alloc(FLOW_VALUE.size),
    keySize: FLOW_KEY.size, valueStride: FLOW_VALUE.size, cpus: 1,
  });
}

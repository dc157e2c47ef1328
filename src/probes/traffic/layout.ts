/**
 * ABI of the traffic probe (mirror of bpf/traffic.h). test/abi compares these numbers with the BTF
 * of bpf/build/traffic.bpf.o and checks golden bytes.
 */
import { sumPerCpuU64, u64Number as u64, type MapSnapshot } from '../../kernel/map.js';
import { addressText } from '../addresses.js';

/** key of traffic_counts: __u32 ifindex */
export const TRAFFIC_KEY = { size: 4, ifindex: 0 } as const;

export const TRAFFIC_VALUE = {
  size: 40,
  packets: 0,  // __u64[2], [TRAFFIC_INGRESS, TRAFFIC_EGRESS]
  bytes: 16,   // __u64[2]
  flags: 32,   // __u32 TRAFFIC_F_*
  pad: 36,     // __u32, zero
} as const;

/** traffic_value.flags: track flows on this interface */
export const TRAFFIC_F_FLOWS = 1;
/** DNS only, on a node interface, with the host's views (bpf/traffic.h) */
export const TRAFFIC_F_DNS_HOST = 2;

/** value of traffic_slots (struct traffic_slot); key: __u32 slot = ifindex & (TRAFFIC_SLOTS - 1) */
export const TRAFFIC_SLOT = {
  size: 48,
  ifindex: 0,  // __u32, owner; 0 = free
  pad: 4,      // __u32, zero
  counts: 8,   // struct traffic_value
} as const;

/** Number of fast-path slots (TRAFFIC_SLOTS in bpf/traffic.h; a power of two). */
export const TRAFFIC_SLOTS = 1024;

export function slotOf(ifindex: number): number {
  return ifindex & (TRAFFIC_SLOTS - 1);
}

export const TRAFFIC_INGRESS = 0;
export const TRAFFIC_EGRESS = 1;

/** enum traffic_error → `fovea.failure.kind`; all lose data. */
export const TRAFFIC_ERRORS = ['map_full', 'update_failed', 'flow_insert_failed'] as const;
/** enum traffic_stat */
export const TRAFFIC_STATS = ['flows_created'] as const;
export const TRAFFIC_ERRORS_LOSING = new Set<string>(TRAFFIC_ERRORS);

export interface InterfaceCount {
  readonly ifindex: number;
  readonly rxPackets: bigint;
  readonly rxBytes: bigint;
  readonly txPackets: bigint;
  readonly txBytes: bigint;
}

export function encodeTrafficKey(ifindex: number): Buffer {
  const b = Buffer.alloc(TRAFFIC_KEY.size);
  b.writeUInt32LE(ifindex, TRAFFIC_KEY.ifindex);
  return b;
}

function countsAt(s: MapSnapshot, i: number, ifindex: number, base: number): InterfaceCount {
  return {
    ifindex,
    rxPackets: sumPerCpuU64(s, i, base + TRAFFIC_VALUE.packets + 8 * TRAFFIC_INGRESS),
    txPackets: sumPerCpuU64(s, i, base + TRAFFIC_VALUE.packets + 8 * TRAFFIC_EGRESS),
    rxBytes: sumPerCpuU64(s, i, base + TRAFFIC_VALUE.bytes + 8 * TRAFFIC_INGRESS),
    txBytes: sumPerCpuU64(s, i, base + TRAFFIC_VALUE.bytes + 8 * TRAFFIC_EGRESS),
  };
}

/** traffic_counts (hash, keyed by ifindex) → counts per interface. */
export function decodeTrafficCounts(s: MapSnapshot): InterfaceCount[] {
  const out: InterfaceCount[] = [];
  for (let i = 0; i < s.count; i++) out.push(countsAt(s, i, s.keys.readUInt32LE(i * s.keySize + TRAFFIC_KEY.ifindex), 0));
  return out;
}

/** traffic_slots (per-CPU array) → counts of the owned slots (owner read from CPU 0's copy). */
export function decodeTrafficSlots(s: MapSnapshot): InterfaceCount[] {
  const out: InterfaceCount[] = [];
  for (let i = 0; i < s.count; i++) {
    const owner = s.values.readUInt32LE(i * s.valueStride + TRAFFIC_SLOT.ifindex);
    if (owner !== 0) out.push(countsAt(s, i, owner, TRAFFIC_SLOT.counts));
  }
  return out;
}

/** A slot value as the kernel takes it for a per-CPU array: `cpus` copies owned by `ifindex`, zero counters. */
export function encodeTrafficSlot(ifindex: number, cpus: number, stride: number, flags = 0): Buffer {
  const b = Buffer.alloc(stride);
  const per = stride / cpus;
  for (let c = 0; c < cpus; c++) {
    b.writeUInt32LE(ifindex, c * per + TRAFFIC_SLOT.ifindex);
    b.writeUInt32LE(flags, c * per + TRAFFIC_SLOT.counts + TRAFFIC_VALUE.flags);
  }
  return b;
}

/** A traffic_counts value for every CPU: zero counters with `flags`. */
export function encodeTrafficValue(cpus: number, stride: number, flags = 0): Buffer {
  const b = Buffer.alloc(stride);
  const per = stride / cpus;
  for (let c = 0; c < cpus; c++) b.writeUInt32LE(flags, c * per + TRAFFIC_VALUE.flags);
  return b;
}

/** struct flow_key (bpf/traffic.h) */
export const FLOW_KEY = {
  size: 44,
  src: 0,         // __u8[16], IPv4-mapped for IPv4
  dst: 16,        // __u8[16]
  sport: 32,      // __u16, network order
  dport: 34,      // __u16, network order
  ifindex: 36,    // __u32
  proto: 40,      // __u8
  ipVersion: 41,  // __u8
  direction: 42,  // __u8 enum traffic_direction
  pad: 43,        // __u8
} as const;

/** struct flow_value */
export const FLOW_VALUE = {
  size: 40,
  packets: 0, bytes: 8, firstSeenNs: 16, lastSeenNs: 24, tcpFlags: 32, // then 7 bytes of padding
} as const;

export interface FlowRecord {
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
  readonly ifindex: number;
  readonly proto: number;
  readonly ipVersion: number;
  /** TRAFFIC_INGRESS / TRAFFIC_EGRESS at the interface */
  readonly direction: number;
  readonly packets: bigint;
  readonly bytes: bigint;
  readonly firstSeenNs: bigint;
  readonly lastSeenNs: bigint;
  readonly tcpFlags: number;
  /** the raw key, to delete the record */
  readonly key: Buffer;
}

/**
 * Field access to a traffic_flows snapshot without decoding it into objects: the agent walks
 * hundreds of thousands of records per export, so it reads numbers straight from the buffers.
 */
export class FlowView {
  constructor(readonly snap: MapSnapshot) {}
  get count(): number { return this.snap.count; }
  private k(i: number): number { return i * this.snap.keySize; }
  private v(i: number): number { return i * this.snap.valueStride; }
  ifindex(i: number): number { return this.snap.keys.readUInt32LE(this.k(i) + FLOW_KEY.ifindex); }
  direction(i: number): number { return this.snap.keys[this.k(i) + FLOW_KEY.direction]!; }
  proto(i: number): number { return this.snap.keys[this.k(i) + FLOW_KEY.proto]!; }
  ipVersion(i: number): number { return this.snap.keys[this.k(i) + FLOW_KEY.ipVersion]!; }
  sport(i: number): number { return this.snap.keys.readUInt16BE(this.k(i) + FLOW_KEY.sport); }
  dport(i: number): number { return this.snap.keys.readUInt16BE(this.k(i) + FLOW_KEY.dport); }
  /** the 16 address bytes as a (latin1) string: a cheap cache key */
  srcKey(i: number): string { const o = this.k(i) + FLOW_KEY.src; return this.snap.keys.toString('latin1', o, o + 16); }
  dstKey(i: number): string { const o = this.k(i) + FLOW_KEY.dst; return this.snap.keys.toString('latin1', o, o + 16); }
  src(i: number): string { return addressText(this.snap.keys, this.k(i) + FLOW_KEY.src, this.ipVersion(i)); }
  dst(i: number): string { return addressText(this.snap.keys, this.k(i) + FLOW_KEY.dst, this.ipVersion(i)); }
  packets(i: number): number { return u64(this.snap.values, this.v(i) + FLOW_VALUE.packets); }
  bytes(i: number): number { return u64(this.snap.values, this.v(i) + FLOW_VALUE.bytes); }
  /** ns of CLOCK_MONOTONIC (as a double: sub-µs precision lost after ~104 days of uptime) */
  lastSeenNs(i: number): number { return u64(this.snap.values, this.v(i) + FLOW_VALUE.lastSeenNs); }
  firstSeenNs(i: number): number { return u64(this.snap.values, this.v(i) + FLOW_VALUE.firstSeenNs); }
  /** TCP flags OR-ed over the record's packets */
  tcpFlags(i: number): number { return this.snap.values[this.v(i) + FLOW_VALUE.tcpFlags]!; }
  /** the raw key as a (latin1) string: a cheap map key */
  keyText(i: number): string { const o = this.k(i); return this.snap.keys.toString('latin1', o, o + this.snap.keySize); }
  /** a copy of the raw key, e.g. to delete the record */
  key(i: number): Buffer { return Buffer.from(this.snap.keys.subarray(this.k(i), this.k(i) + this.snap.keySize)); }
}

/** traffic_flows (a shared LRU hash, not per-CPU) → records. */
export function decodeFlows(s: MapSnapshot): FlowRecord[] {
  const out: FlowRecord[] = [];
  for (let i = 0; i < s.count; i++) {
    const k = i * s.keySize;
    const v = i * s.valueStride;
    const ipVersion = s.keys[k + FLOW_KEY.ipVersion]!;
    out.push({
      src: addressText(s.keys, k + FLOW_KEY.src, ipVersion),
      dst: addressText(s.keys, k + FLOW_KEY.dst, ipVersion),
      sport: s.keys.readUInt16BE(k + FLOW_KEY.sport),
      dport: s.keys.readUInt16BE(k + FLOW_KEY.dport),
      ifindex: s.keys.readUInt32LE(k + FLOW_KEY.ifindex),
      proto: s.keys[k + FLOW_KEY.proto]!,
      ipVersion,
      direction: s.keys[k + FLOW_KEY.direction]!,
      packets: s.values.readBigUInt64LE(v + FLOW_VALUE.packets),
      bytes: s.values.readBigUInt64LE(v + FLOW_VALUE.bytes),
      firstSeenNs: s.values.readBigUInt64LE(v + FLOW_VALUE.firstSeenNs),
      lastSeenNs: s.values.readBigUInt64LE(v + FLOW_VALUE.lastSeenNs),
      tcpFlags: s.values[v + FLOW_VALUE.tcpFlags]!,
      key: Buffer.from(s.keys.subarray(k, k + s.keySize)),
    });
  }
  return out;
}

/** Adds up counts of the same interface (an interface may have both a slot and a hash entry). */
export function mergeCounts(...lists: InterfaceCount[][]): InterfaceCount[] {
  const by = new Map<number, InterfaceCount>();
  for (const c of lists.flat()) {
    const p = by.get(c.ifindex);
    by.set(c.ifindex, p ? {
      ifindex: c.ifindex, rxPackets: p.rxPackets + c.rxPackets, txPackets: p.txPackets + c.txPackets,
      rxBytes: p.rxBytes + c.rxBytes, txBytes: p.txBytes + c.txBytes,
    } : c);
  }
  return [...by.values()];
}

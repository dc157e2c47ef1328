/**
 * ABI of the drop probe (mirror of bpf/drop.h). test/abi compares these numbers with the BTF of
 * bpf/build/drop.bpf.o and checks golden bytes.
 */
import { sumPerCpuU64, u64Number as u64, type MapSnapshot } from '../../kernel/map.js';
import { addressText } from '../addresses.js';

export const DROP_KEY = {
  size: 8,
  reason: 0,      // __u32
  ipVersion: 4,   // __u8
  transport: 5,   // __u8
  pad: 6,         // __u16, zero
} as const;

export const DROP_VALUE = {
  size: 16,
  packets: 0,     // __u64
  bytes: 8,       // __u64
} as const;

/** enum drop_transport → `network.transport` value (ICMP and "other" are Fovea's own values). */
export const DROP_TRANSPORT: Record<number, string | undefined> = {
  0: undefined, // unknown: attribute omitted
  1: 'tcp',
  2: 'udp',
  3: 'icmp',
  4: 'other',
};

/** enum drop_error → `fovea.failure.kind` */
export const DROP_ERRORS = ['map_full', 'update_failed', 'header_unreadable', 'pod_map_full', 'flow_insert_failed'] as const;
/** Which of DROP_ERRORS mean a packet was not recorded (header_unreadable is still counted). */
export const DROP_ERRORS_LOSING = new Set(['map_full', 'update_failed', 'pod_map_full', 'flow_insert_failed']);

export interface DropCount {
  readonly reason: number;
  readonly ipVersion: number;
  readonly transport: number;
  readonly packets: bigint;
  readonly bytes: bigint;
}

export function decodeDropKey(buf: Buffer, off = 0): { reason: number; ipVersion: number; transport: number } {
  return {
    reason: buf.readUInt32LE(off + DROP_KEY.reason),
    ipVersion: buf.readUInt8(off + DROP_KEY.ipVersion),
    transport: buf.readUInt8(off + DROP_KEY.transport),
  };
}

export function encodeDropKey(k: { reason: number; ipVersion: number; transport: number }): Buffer {
  const b = Buffer.alloc(DROP_KEY.size);
  b.writeUInt32LE(k.reason, DROP_KEY.reason);
  b.writeUInt8(k.ipVersion, DROP_KEY.ipVersion);
  b.writeUInt8(k.transport, DROP_KEY.transport);
  return b;
}

/** Decodes a drop_counts snapshot, summing the per-CPU values. */
export function decodeDropCounts(s: MapSnapshot): DropCount[] {
  const out: DropCount[] = [];
  for (let i = 0; i < s.count; i++) {
    const k = decodeDropKey(s.keys, i * s.keySize);
    out.push({
      ...k,
      packets: sumPerCpuU64(s, i, DROP_VALUE.packets),
      bytes: sumPerCpuU64(s, i, DROP_VALUE.bytes),
    });
  }
  return out;
}

/**
 * drop_reason_counts (bpf/drop.h): a per-CPU array with one slot per (reason, family, transport) for
 * the kernel's core reasons, index reason * DROP_KEY_SLOTS + family * DROP_TRANSPORTS + transport,
 * family 0 (not IP), 1 (IPv4), 2 (IPv6). Reasons from DROP_ARRAY_REASONS on (and any past the
 * array's end) are in the hash drop_counts, keyed by struct drop_key.
 */
export const DROP_ARRAY_REASONS = 1024;
export const DROP_TRANSPORTS = 5;
export const DROP_KEY_SLOTS = 3 * DROP_TRANSPORTS;
const FAMILY_IP_VERSION = [0, 4, 6] as const;

/** Entries of drop_reason_counts for `reasons` kernel reasons (0 .. reasons − 1), at most DROP_ARRAY_REASONS of them. */
export function dropReasonSlots(reasons: number): number {
  return Math.max(1, Math.min(reasons, DROP_ARRAY_REASONS)) * DROP_KEY_SLOTS;
}

/** The slot of drop_reason_counts that counts this key (mirror of count_reason() in bpf/drop.bpf.c). */
export function dropReasonIndex(k: { reason: number; ipVersion: number; transport: number }): number {
  const family = k.ipVersion === 4 ? 1 : k.ipVersion === 6 ? 2 : 0;
  return k.reason * DROP_KEY_SLOTS + family * DROP_TRANSPORTS + k.transport;
}

/** Decodes a drop_reason_counts snapshot (key: __u32 index), summing the per-CPU values; slots never hit are left out. */
export function decodeDropReasonCounts(s: MapSnapshot): DropCount[] {
  const out: DropCount[] = [];
  for (let i = 0; i < s.count; i++) {
    const packets = sumPerCpuU64(s, i, DROP_VALUE.packets);
    if (packets === 0n) continue;
    const idx = s.keys.readUInt32LE(i * s.keySize);
    const slot = idx % DROP_KEY_SLOTS;
    out.push({
      reason: Math.floor(idx / DROP_KEY_SLOTS),
      ipVersion: FAMILY_IP_VERSION[Math.floor(slot / DROP_TRANSPORTS)]!,
      transport: slot % DROP_TRANSPORTS,
      packets,
      bytes: sumPerCpuU64(s, i, DROP_VALUE.bytes),
    });
  }
  return out;
}

/** DROP_REASON_NONE_GIVEN: the reason recorded where the kernel gives none (skb:kfree_skb < 5.17). */
export const DROP_REASON_NONE_GIVEN = 0xffffffff;

/** struct drop_location_key (drop_location_counts, kernels without drop reasons) */
export const DROP_LOCATION_KEY = {
  size: 16,
  location: 0,    // __u64 kernel address that freed the packet
  ipVersion: 8,   // __u8
  transport: 9,   // __u8
  pad: 10,        // __u16, zero
  pad2: 12,       // __u32, zero
} as const;

export interface DropLocationCount {
  readonly location: bigint;
  readonly ipVersion: number;
  readonly transport: number;
  readonly packets: bigint;
  readonly bytes: bigint;
}

export function decodeDropLocationCounts(s: MapSnapshot): DropLocationCount[] {
  const out: DropLocationCount[] = [];
  for (let i = 0; i < s.count; i++) {
    const off = i * s.keySize;
    out.push({
      location: s.keys.readBigUInt64LE(off + DROP_LOCATION_KEY.location),
      ipVersion: s.keys.readUInt8(off + DROP_LOCATION_KEY.ipVersion),
      transport: s.keys.readUInt8(off + DROP_LOCATION_KEY.transport),
      packets: sumPerCpuU64(s, i, DROP_VALUE.packets),
      bytes: sumPerCpuU64(s, i, DROP_VALUE.bytes),
    });
  }
  return out;
}

/** key of drop_pod_ips: struct drop_ip (16 bytes, IPv4-mapped for IPv4); value: __u32 pod id */
export const DROP_IP = { size: 16 } as const;

/** struct drop_pod_key */
export const DROP_POD_KEY = {
  size: 12,
  podId: 0,      // __u32
  reason: 4,     // __u32
  side: 8,       // __u8 enum drop_side
  transport: 9,  // __u8 enum drop_transport
  ipVersion: 10, // __u8
  pad: 11,       // __u8
} as const;

/** enum drop_side */
export const DROP_SIDE_SOURCE = 0;
export const DROP_SIDE_DESTINATION = 1;

/** struct drop_flow_key */
export const DROP_FLOW_KEY = {
  size: 44,
  src: 0, dst: 16, sport: 32, dport: 34, reason: 36, proto: 40, ipVersion: 41, pad: 42,
} as const;

export interface PodDropCount {
  readonly podId: number;
  readonly reason: number;
  readonly side: number;
  readonly transport: number;
  readonly ipVersion: number;
  readonly packets: bigint;
  readonly bytes: bigint;
}

export interface DropFlow {
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
  readonly reason: number;
  readonly proto: number;
  readonly ipVersion: number;
  readonly packets: bigint;
  readonly bytes: bigint;
  /** the raw key, to delete the record */
  readonly key: Buffer;
}

export function decodePodDrops(s: MapSnapshot): PodDropCount[] {
  const out: PodDropCount[] = [];
  for (let i = 0; i < s.count; i++) {
    const k = i * s.keySize;
    out.push({
      podId: s.keys.readUInt32LE(k + DROP_POD_KEY.podId),
      reason: s.keys.readUInt32LE(k + DROP_POD_KEY.reason),
      side: s.keys[k + DROP_POD_KEY.side]!,
      transport: s.keys[k + DROP_POD_KEY.transport]!,
      ipVersion: s.keys[k + DROP_POD_KEY.ipVersion]!,
      packets: sumPerCpuU64(s, i, DROP_VALUE.packets),
      bytes: sumPerCpuU64(s, i, DROP_VALUE.bytes),
    });
  }
  return out;
}

/**
 * Field access to a drop_flows snapshot without decoding it into objects (the pod stage walks every
 * record at every export; most are unchanged since the last one).
 */
export class DropFlowView {
  constructor(readonly snap: MapSnapshot) {}
  get count(): number { return this.snap.count; }
  private k(i: number): number { return i * this.snap.keySize; }
  private v(i: number): number { return i * this.snap.valueStride; }
  ipVersion(i: number): number { return this.snap.keys[this.k(i) + DROP_FLOW_KEY.ipVersion]!; }
  proto(i: number): number { return this.snap.keys[this.k(i) + DROP_FLOW_KEY.proto]!; }
  sport(i: number): number { return this.snap.keys.readUInt16BE(this.k(i) + DROP_FLOW_KEY.sport); }
  dport(i: number): number { return this.snap.keys.readUInt16BE(this.k(i) + DROP_FLOW_KEY.dport); }
  reason(i: number): number { return this.snap.keys.readUInt32LE(this.k(i) + DROP_FLOW_KEY.reason); }
  /** the 16 address bytes as a (latin1) string: a cheap cache key */
  srcKey(i: number): string { const o = this.k(i) + DROP_FLOW_KEY.src; return this.snap.keys.toString('latin1', o, o + 16); }
  dstKey(i: number): string { const o = this.k(i) + DROP_FLOW_KEY.dst; return this.snap.keys.toString('latin1', o, o + 16); }
  src(i: number): string { return addressText(this.snap.keys, this.k(i) + DROP_FLOW_KEY.src, this.ipVersion(i)); }
  dst(i: number): string { return addressText(this.snap.keys, this.k(i) + DROP_FLOW_KEY.dst, this.ipVersion(i)); }
  /** exact below 2^53 */
  packets(i: number): number { return u64(this.snap.values, this.v(i) + DROP_VALUE.packets); }
  bytes(i: number): number { return u64(this.snap.values, this.v(i) + DROP_VALUE.bytes); }
  /** the raw key as a (latin1) string: a cheap map key */
  keyText(i: number): string { const o = this.k(i); return this.snap.keys.toString('latin1', o, o + this.snap.keySize); }
  /** a copy of the raw key, e.g. to delete the record */
  key(i: number): Buffer { return Buffer.from(this.snap.keys.subarray(this.k(i), this.k(i) + this.snap.keySize)); }
}

export function decodeDropFlows(s: MapSnapshot): DropFlow[] {
  const out: DropFlow[] = [];
  for (let i = 0; i < s.count; i++) {
    const k = i * s.keySize;
    const v = i * s.valueStride;
    const ipVersion = s.keys[k + DROP_FLOW_KEY.ipVersion]!;
    out.push({
      src: addressText(s.keys, k + DROP_FLOW_KEY.src, ipVersion),
      dst: addressText(s.keys, k + DROP_FLOW_KEY.dst, ipVersion),
      sport: s.keys.readUInt16BE(k + DROP_FLOW_KEY.sport),
      dport: s.keys.readUInt16BE(k + DROP_FLOW_KEY.dport),
      reason: s.keys.readUInt32LE(k + DROP_FLOW_KEY.reason),
      proto: s.keys[k + DROP_FLOW_KEY.proto]!,
      ipVersion,
      packets: s.values.readBigUInt64LE(v + DROP_VALUE.packets),
      bytes: s.values.readBigUInt64LE(v + DROP_VALUE.bytes),
      key: Buffer.from(s.keys.subarray(k, k + s.keySize)),
    });
  }
  return out;
}

// ---- drop events (ring buffer drop_events) ----

/** struct drop_event_config (value of drop_event_cfg[0]) */
export const DROP_EVENT_CONFIG = {
  size: 16,
  enabled: 0,     // __u32
  perWindow: 4,   // __u32
  windowNs: 8,    // __u64
} as const;

/** Rate-limit slots (DROP_EVENT_SLOTS): reasons 0..510 own one; larger values share the last. */
export const DROP_EVENT_SLOTS = 512;

/** struct drop_event_limit (per-CPU value of drop_event_limits[slot]) */
export const DROP_EVENT_LIMIT = {
  size: 48,
  windowStartNs: 0, // __u64
  pending: 8,       // __u64
  suppressed: 16,   // __u64 cumulative
  ringFull: 24,     // __u64 cumulative
  emitted: 32,      // __u64 cumulative
  inWindow: 40,     // __u32
  tick: 44,         // __u32 low bits of jiffies at the last clock read over the limit (drop: kernel-private)
} as const;

/** struct drop_event (a ring buffer record) */
export const DROP_EVENT = {
  size: 88,
  timestampNs: 0,  // __u64 CLOCK_MONOTONIC
  location: 8,     // __u64 kernel address
  suppressed: 16,  // __u64
  reason: 24,      // __u32
  len: 28,         // __u32
  ifindex: 32,     // __u32
  netns: 36,       // __u32
  src: 40,         // __u8[16]
  dst: 56,         // __u8[16]
  sport: 72,       // __u16 network order
  dport: 74,       // __u16 network order
  proto: 76,       // __u8
  ipVersion: 77,   // __u8
  tcpFlags: 78,    // __u8
  transport: 79,   // __u8 enum drop_transport
  cpu: 80,         // __u32
  pad: 84,         // __u32
} as const;

export function encodeDropEventConfig(c: { enabled: boolean; perWindow: number; windowNs: bigint }): Buffer {
  const b = Buffer.alloc(DROP_EVENT_CONFIG.size);
  b.writeUInt32LE(c.enabled ? 1 : 0, DROP_EVENT_CONFIG.enabled);
  b.writeUInt32LE(c.perWindow, DROP_EVENT_CONFIG.perWindow);
  b.writeBigUInt64LE(c.windowNs, DROP_EVENT_CONFIG.windowNs);
  return b;
}

/** A decoded drop_event, before identity and names. */
export interface RawDropEvent {
  readonly timestampNs: bigint;
  readonly location: bigint;
  readonly suppressed: number;
  readonly reason: number;
  readonly len: number;
  readonly ifindex: number;
  readonly netns: number;
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
  readonly proto: number;
  readonly ipVersion: number;
  readonly tcpFlags: number;
  readonly transport: number;
  readonly cpu: number;
}

/** Decodes one ring record (a DataView over the ring, the record's offset). Short records throw. */
export function decodeDropEvent(v: DataView, off: number, len: number): RawDropEvent {
  if (len < DROP_EVENT.size) throw new RangeError(`drop event of ${len} bytes, expected ${DROP_EVENT.size}`);
  const ipVersion = v.getUint8(off + DROP_EVENT.ipVersion);
  const addr = (at: number): string => {
    if (ipVersion !== 4 && ipVersion !== 6) return '';
    const b = Buffer.from(v.buffer, v.byteOffset + off + at, 16);
    return addressText(b, 0, ipVersion);
  };
  return {
    timestampNs: v.getBigUint64(off + DROP_EVENT.timestampNs, true),
    location: v.getBigUint64(off + DROP_EVENT.location, true),
    suppressed: Number(v.getBigUint64(off + DROP_EVENT.suppressed, true)),
    reason: v.getUint32(off + DROP_EVENT.reason, true),
    len: v.getUint32(off + DROP_EVENT.len, true),
    ifindex: v.getUint32(off + DROP_EVENT.ifindex, true),
    netns: v.getUint32(off + DROP_EVENT.netns, true),
    src: addr(DROP_EVENT.src),
    dst: addr(DROP_EVENT.dst),
    sport: v.getUint16(off + DROP_EVENT.sport, false),
    dport: v.getUint16(off + DROP_EVENT.dport, false),
    proto: v.getUint8(off + DROP_EVENT.proto),
    ipVersion,
    tcpFlags: v.getUint8(off + DROP_EVENT.tcpFlags),
    transport: v.getUint8(off + DROP_EVENT.transport),
    cpu: v.getUint32(off + DROP_EVENT.cpu, true),
  };
}

/** Cumulative rate-limit numbers of one reason slot, summed over CPUs. */
export interface EventLimitCount {
  readonly slot: number;
  readonly emitted: bigint;
  readonly suppressed: bigint;
  readonly ringFull: bigint;
  /** drops not yet carried by an event (they will be, on the next event of the slot and CPU) */
  readonly pending: bigint;
}

/** drop_event_limits snapshot (a per-CPU array: every slot is present) → slots with any count. */
export function decodeEventLimits(s: MapSnapshot): EventLimitCount[] {
  const out: EventLimitCount[] = [];
  for (let i = 0; i < s.count; i++) {
    const emitted = sumPerCpuU64(s, i, DROP_EVENT_LIMIT.emitted);
    const suppressed = sumPerCpuU64(s, i, DROP_EVENT_LIMIT.suppressed);
    const ringFull = sumPerCpuU64(s, i, DROP_EVENT_LIMIT.ringFull);
    if (emitted === 0n && suppressed === 0n && ringFull === 0n) continue;
    out.push({
      slot: s.keys.readUInt32LE(i * s.keySize), emitted, suppressed, ringFull,
      pending: sumPerCpuU64(s, i, DROP_EVENT_LIMIT.pending),
    });
  }
  return out;
}

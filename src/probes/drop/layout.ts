/**
 * ABI of the drop probe (mirror of bpf/drop.h). test/abi compares these numbers with the BTF of
 * bpf/build/drop.bpf.o and checks golden bytes.
 */
import { sumPerCpuU64, type MapSnapshot } from '../../kernel/map.js';
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

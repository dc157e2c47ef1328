/**
 * ABI of the drop probe (mirror of bpf/drop.h). test/abi compares these numbers with the BTF of
 * bpf/build/drop.bpf.o and checks golden bytes.
 */
import { sumPerCpuU64, type MapSnapshot } from '../../kernel/map.js';

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
export const DROP_ERRORS = ['map_full', 'update_failed', 'header_unreadable'] as const;
/** Which of DROP_ERRORS mean a packet was not recorded (header_unreadable is still counted). */
export const DROP_ERRORS_LOSING = new Set(['map_full', 'update_failed']);

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

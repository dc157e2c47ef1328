/**
 * ABI of the traffic probe (mirror of bpf/traffic.h). test/abi compares these numbers with the BTF
 * of bpf/build/traffic.bpf.o and checks golden bytes.
 */
import { sumPerCpuU64, type MapSnapshot } from '../../kernel/map.js';

/** key of traffic_counts: __u32 ifindex */
export const TRAFFIC_KEY = { size: 4, ifindex: 0 } as const;

export const TRAFFIC_VALUE = {
  size: 32,
  packets: 0,  // __u64[2], [TRAFFIC_INGRESS, TRAFFIC_EGRESS]
  bytes: 16,   // __u64[2]
} as const;

/** value of traffic_slots (struct traffic_slot); key: __u32 slot = ifindex & (TRAFFIC_SLOTS - 1) */
export const TRAFFIC_SLOT = {
  size: 40,
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

/** enum traffic_error → `fovea.failure.kind`; both lose data. */
export const TRAFFIC_ERRORS = ['map_full', 'update_failed'] as const;
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
export function encodeTrafficSlot(ifindex: number, cpus: number, stride: number): Buffer {
  const b = Buffer.alloc(stride);
  const per = stride / cpus;
  for (let c = 0; c < cpus; c++) b.writeUInt32LE(ifindex, c * per + TRAFFIC_SLOT.ifindex);
  return b;
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

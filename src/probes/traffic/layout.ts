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

export function decodeTrafficCounts(s: MapSnapshot): InterfaceCount[] {
  const out: InterfaceCount[] = [];
  for (let i = 0; i < s.count; i++) {
    out.push({
      ifindex: s.keys.readUInt32LE(i * s.keySize + TRAFFIC_KEY.ifindex),
      rxPackets: sumPerCpuU64(s, i, TRAFFIC_VALUE.packets + 8 * TRAFFIC_INGRESS),
      txPackets: sumPerCpuU64(s, i, TRAFFIC_VALUE.packets + 8 * TRAFFIC_EGRESS),
      rxBytes: sumPerCpuU64(s, i, TRAFFIC_VALUE.bytes + 8 * TRAFFIC_INGRESS),
      txBytes: sumPerCpuU64(s, i, TRAFFIC_VALUE.bytes + 8 * TRAFFIC_EGRESS),
    });
  }
  return out;
}

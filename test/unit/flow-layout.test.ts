/**
 * Golden bytes of the flow and pod-drop ABI (bpf/traffic.h, bpf/drop.h): snapshots laid out the
 * way BpfMap.readAll() returns them, every byte commented — padding included — and decoded by
 * decodeFlows / decodePodDrops / decodeDropFlows. test/abi checks the offsets against the BTF of
 * the compiled objects; these pin what the decoders make of the bytes at those offsets (byte
 * order of each field, ports in network order, IPv4-mapped addresses, per-CPU sums).
 * Plus the values the agent writes: encodeTrafficSlot / encodeTrafficValue with flags, which the
 * datapath reads on whatever CPU the packet lands, so every CPU copy must carry them.
 *
 * Little-endian throughout (x86-64 and arm64 BPF are both LE). No kernel, no root.
 */
import { describe, expect, it } from 'vitest';
import type { MapSnapshot } from '../../src/kernel/map.js';
import {
  DROP_FLOW_KEY, DROP_POD_KEY, DROP_SIDE_DESTINATION, DROP_SIDE_SOURCE, DROP_VALUE, decodeDropFlows, decodePodDrops,
} from '../../src/probes/drop/layout.js';
import {
  FLOW_KEY, FLOW_VALUE, TRAFFIC_EGRESS, TRAFFIC_F_FLOWS, TRAFFIC_INGRESS, TRAFFIC_SLOT, TRAFFIC_VALUE, decodeFlows,
  decodeTrafficCounts, decodeTrafficSlots, encodeTrafficSlot, encodeTrafficValue,
} from '../../src/probes/traffic/layout.js';
import { snapshotOf, u64s } from '../helpers/fakes.js';

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

describe('golden bytes: traffic_flows snapshot (shared LRU hash: one value per entry, no per-CPU slots)', () => {
  // Two entries: an IPv4/TCP flow at ingress of ifindex 7 and an IPv6/UDP flow at egress of ifindex
  // 0x01020304 (shows the byte order). keySize 44, valueStride = sizeof(struct flow_value) = 40.
  const keys = Buffer.from([
    // entry 0
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0,                   //  0..9   src[0..9]   zero (IPv4-mapped prefix)
    0xff, 0xff,                                     // 10..11  src[10..11] ff ff
    10, 0, 0, 1,                                    // 12..15  src[12..15] 10.0.0.1
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0,                   // 16..25  dst[0..9]
    0xff, 0xff,                                     // 26..27  dst[10..11]
    10, 0, 0, 2,                                    // 28..31  dst[12..15] 10.0.0.2
    0x9c, 0x40,                                     // 32..33  sport __u16, network order = 40000
    0x00, 0x50,                                     // 34..35  dport __u16, network order = 80
    0x07, 0x00, 0x00, 0x00,                         // 36..39  ifindex __u32 LE = 7
    0x06,                                           // 40      proto = IPPROTO_TCP
    0x04,                                           // 41      ip_version = 4
    0x00,                                           // 42      direction = TRAFFIC_INGRESS
    0x00,                                           // 43      pad, always zero
    // entry 1
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,             // 44..51  src 2001:db8:0:0:
    0, 0, 0, 0, 0, 0, 0, 0x01,                      // 52..59  src         0:0:0:1
    0xfd, 0x00, 0xf0, 0xea, 0, 0, 0x01, 0xf4,       // 60..67  dst fd00:f0ea:0:1f4:
    0, 0, 0, 0, 0, 0, 0, 0x0a,                      // 68..75  dst         0:0:0:a
    0x00, 0x35,                                     // 76..77  sport = 53
    0xff, 0xfe,                                     // 78..79  dport = 65534 (high byte first: network order)
    0x04, 0x03, 0x02, 0x01,                         // 80..83  ifindex = 0x01020304
    0x11,                                           // 84      proto = IPPROTO_UDP
    0x06,                                           // 85      ip_version = 6
    0x01,                                           // 86      direction = TRAFFIC_EGRESS
    0x00,                                           // 87      pad
  ]);
  const values = Buffer.from([
    // entry 0
    0x02, 0, 0, 0, 0, 0, 0, 0,                      //  0..7   packets __u64 = 2
    0x6c, 0, 0, 0, 0, 0, 0, 0,                      //  8..15  bytes   __u64 = 108
    0x00, 0xca, 0x9a, 0x3b, 0, 0, 0, 0,             // 16..23  first_seen_ns = 1_000_000_000
    0x01, 0xca, 0x9a, 0x3b, 0, 0, 0, 0,             // 24..31  last_seen_ns  = 1_000_000_001
    0x12,                                           // 32      tcp_flags = SYN|ACK (0x02 | 0x10)
    0, 0, 0, 0, 0, 0, 0,                            // 33..39  pad[7]
    // entry 1: 64-bit values that need the high word
    0x00, 0, 0, 0, 0x01, 0, 0, 0,                   // 40..47  packets = 0x1_0000_0000
    0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // 48..55  bytes = 0xffff_ffff_ffff_fff0
    0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, // 56..63  first_seen_ns = 0x0102030405060708
    0x09, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, // 64..71  last_seen_ns  = 0x0102030405060709
    0x00,                                           // 72      tcp_flags = 0 (UDP)
    0, 0, 0, 0, 0, 0, 0,                            // 73..79  pad[7]
  ]);
  const snap: MapSnapshot = { count: 2, keys, values, keySize: FLOW_KEY.size, valueStride: FLOW_VALUE.size, cpus: 1 };

  it('sizes: key 44, value 40 (what the offsets in the comments add up to)', () => {
    expect(FLOW_KEY.size).toBe(44);
    expect(FLOW_VALUE.size).toBe(40);
    expect(keys.length).toBe(2 * FLOW_KEY.size);
    expect(values.length).toBe(2 * FLOW_VALUE.size);
  });

  it('decodes both records', () => {
    const [a, b] = decodeFlows(snap);
    expect(a).toEqual({
      src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 80, ifindex: 7, proto: IPPROTO_TCP, ipVersion: 4,
      direction: TRAFFIC_INGRESS, packets: 2n, bytes: 108n, firstSeenNs: 1_000_000_000n, lastSeenNs: 1_000_000_001n,
      tcpFlags: 0x12, key: keys.subarray(0, 44),
    });
    expect(b).toEqual({
      src: '2001:db8::1', dst: 'fd00:f0ea:0:1f4::a', sport: 53, dport: 65534, ifindex: 0x01020304, proto: IPPROTO_UDP,
      ipVersion: 6, direction: TRAFFIC_EGRESS, packets: 0x1_0000_0000n, bytes: 0xffff_ffff_ffff_fff0n,
      firstSeenNs: 0x0102030405060708n, lastSeenNs: 0x0102030405060709n, tcpFlags: 0, key: keys.subarray(44, 88),
    });
  });

  it('the raw key is a copy (usable for deleteFlows after the batch buffer is reused)', () => {
    const copy = Buffer.from(keys);
    const [a] = decodeFlows({ ...snap, keys: copy });
    copy.fill(0xee);
    expect(a!.key).toEqual(keys.subarray(0, 44));
  });

  it('reads only `count` entries of over-allocated batch buffers', () => {
    const big: MapSnapshot = { ...snap, count: 1, keys: Buffer.concat([keys, Buffer.alloc(88, 0xee)]), values: Buffer.concat([values, Buffer.alloc(80, 0xee)]) };
    expect(decodeFlows(big)).toHaveLength(1);
    expect(decodeFlows({ ...snap, count: 0 })).toEqual([]);
  });
});

describe('golden bytes: drop_pod_counts snapshot, 2 CPUs', () => {
  // keySize 12; per-CPU value slot = sizeof(struct drop_value) = 16 (a multiple of 8: no slot
  // padding); valueStride = 2 * 16 = 32.
  const keys = Buffer.from([
    // entry 0: pod 1 sent a UDP/IPv4 packet dropped by netfilter (NETFILTER_DROP = 9 on 6.18)
    0x01, 0x00, 0x00, 0x00, //  0..3   pod_id __u32 LE = 1
    0x09, 0x00, 0x00, 0x00, //  4..7   reason __u32 LE = 9
    0x00,                   //  8      side = DROP_SIDE_SOURCE
    0x02,                   //  9      transport = DROP_TRANSPORT_UDP
    0x04,                   // 10      ip_version = 4
    0x00,                   // 11      pad, always zero
    // entry 1: pod 0x01020304 was the destination of a TCP/IPv6 packet; a subsystem reason
    0x04, 0x03, 0x02, 0x01, // 12..15  pod_id = 0x01020304
    0x01, 0x00, 0x03, 0x00, // 16..19  reason = 0x00030001
    0x01,                   // 20      side = DROP_SIDE_DESTINATION
    0x01,                   // 21      transport = DROP_TRANSPORT_TCP
    0x06,                   // 22      ip_version = 6
    0x00,                   // 23      pad
  ]);
  const values = Buffer.from([
    // entry 0, CPU 0
    0x03, 0, 0, 0, 0, 0, 0, 0,       //  0..7   packets = 3
    0x2a, 0x01, 0, 0, 0, 0, 0, 0,    //  8..15  bytes = 298
    // entry 0, CPU 1
    0x02, 0, 0, 0, 0, 0, 0, 0,       // 16..23  packets = 2
    0xc4, 0, 0, 0, 0, 0, 0, 0,       // 24..31  bytes = 196
    // entry 1, CPU 0: nothing here
    0, 0, 0, 0, 0, 0, 0, 0,          // 32..39  packets = 0
    0, 0, 0, 0, 0, 0, 0, 0,          // 40..47  bytes = 0
    // entry 1, CPU 1: the high word
    0x01, 0, 0, 0, 0x01, 0, 0, 0,    // 48..55  packets = 0x1_0000_0001
    0, 0, 0, 0, 0, 0, 0, 0x01,       // 56..63  bytes = 0x0100_0000_0000_0000
  ]);
  const snap: MapSnapshot = { count: 2, keys, values, keySize: DROP_POD_KEY.size, valueStride: 2 * DROP_VALUE.size, cpus: 2 };

  it('decodes and sums both CPU slots exactly', () => {
    expect(decodePodDrops(snap)).toEqual([
      { podId: 1, reason: 9, side: DROP_SIDE_SOURCE, transport: 2, ipVersion: 4, packets: 5n, bytes: 494n },
      { podId: 0x01020304, reason: 0x30001, side: DROP_SIDE_DESTINATION, transport: 1, ipVersion: 6, packets: 0x1_0000_0001n, bytes: 0x0100_0000_0000_0000n },
    ]);
  });

  it('the same from snapshotOf (the fake map packing) — the comments above match how per-CPU maps are read', () => {
    const perCpu = (e: number, c: number): Buffer => values.subarray(e * 32 + c * 16, e * 32 + c * 16 + 16);
    const packed = snapshotOf([
      { key: keys.subarray(0, 12), perCpuValues: [perCpu(0, 0), perCpu(0, 1)] },
      { key: keys.subarray(12, 24), perCpuValues: [u64s(0, 0), u64s(0x1_0000_0001n, 0x0100_0000_0000_0000n)] },
    ], { keySize: 12, valueSize: 16, cpus: 2 });
    expect(packed.keys).toEqual(keys);
    expect(packed.values).toEqual(values);
    expect(decodePodDrops(packed)).toEqual(decodePodDrops(snap));
  });
});

describe('golden bytes: drop_flows snapshot (shared LRU hash)', () => {
  // keySize 44; value struct drop_value, 16 bytes, one per entry.
  const keys = Buffer.from([
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   //  0..9   src[0..9] zero
    0xff, 0xff,                     // 10..11  src[10..11]: IPv4-mapped
    198, 18, 252, 10,               // 12..15  src 198.18.252.10
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   // 16..25  dst[0..9]
    0xff, 0xff,                     // 26..27  dst[10..11]
    198, 18, 252, 11,               // 28..31  dst 198.18.252.11
    0xa4, 0x10,                     // 32..33  sport, network order = 42000
    0x1e, 0x61,                     // 34..35  dport, network order = 7777
    0x09, 0x00, 0x00, 0x00,         // 36..39  reason __u32 LE = 9
    0x11,                           // 40      proto = IPPROTO_UDP
    0x04,                           // 41      ip_version = 4
    0x00, 0x00,                     // 42..43  pad __u16, always zero
  ]);
  const values = Buffer.from([
    0xf4, 0x01, 0, 0, 0, 0, 0, 0,   //  0..7   packets = 500
    0x20, 0x4e, 0, 0, 0, 0, 0, 0,   //  8..15  bytes = 20000
  ]);
  const snap: MapSnapshot = { count: 1, keys, values, keySize: DROP_FLOW_KEY.size, valueStride: DROP_VALUE.size, cpus: 1 };

  it('decodes the 5-tuple, reason and counters', () => {
    expect(DROP_FLOW_KEY.size).toBe(keys.length);
    const flows = decodeDropFlows(snap);
    expect(flows).toHaveLength(1);
    expect(flows[0]).toMatchObject({
      src: '198.18.252.10', dst: '198.18.252.11', sport: 42000, dport: 7777, reason: 9, proto: IPPROTO_UDP, ipVersion: 4,
      packets: 500n, bytes: 20000n,
    });
  });

  it('IPv6 addresses print as IPv6 when ip_version is 6', () => {
    const k6 = Buffer.from(keys);
    k6.fill(0, 0, 32);
    k6[0] = 0xfe; k6[1] = 0x80; k6[15] = 1;          // src fe80::1
    k6[16] = 0xfe; k6[17] = 0x80; k6[31] = 2;        // dst fe80::2
    k6[DROP_FLOW_KEY.ipVersion] = 6;
    expect(decodeDropFlows({ ...snap, keys: k6 })[0]).toMatchObject({ src: 'fe80::1', dst: 'fe80::2', ipVersion: 6 });
  });
});

describe('values the agent writes: flags on every CPU copy', () => {
  // A per-CPU value as the kernel takes it: `cpus` slots, each sizeof rounded up to 8 (48 and 40
  // already are). The datapath reads the copy of whatever CPU runs the packet.
  const CPUS = 3;

  it('encodeTrafficSlot: ifindex and flags in each of the CPU copies, everything else zero', () => {
    const b = encodeTrafficSlot(0x0102_0304, CPUS, CPUS * TRAFFIC_SLOT.size, TRAFFIC_F_FLOWS);
    const one = Buffer.from([
      0x04, 0x03, 0x02, 0x01, //  0..3   ifindex (owner) = 0x01020304
      0, 0, 0, 0,             //  4..7   pad
      ...Array(32).fill(0),   //  8..39  counts.packets[2], counts.bytes[2] = 0
      0x01, 0, 0, 0,          // 40..43  counts.flags = TRAFFIC_F_FLOWS
      0, 0, 0, 0,             // 44..47  counts.pad
    ]);
    expect(one.length).toBe(TRAFFIC_SLOT.size);
    expect(b).toEqual(Buffer.concat([one, one, one]));
  });

  it('encodeTrafficSlot without flags: flags zero (as before flows existed)', () => {
    const b = encodeTrafficSlot(7, CPUS, CPUS * TRAFFIC_SLOT.size);
    for (let c = 0; c < CPUS; c++) {
      expect(b.readUInt32LE(c * 48 + TRAFFIC_SLOT.ifindex)).toBe(7);
      expect(b.readUInt32LE(c * 48 + TRAFFIC_SLOT.counts + TRAFFIC_VALUE.flags)).toBe(0);
    }
    // an owned slot decodes with zero counters
    expect(decodeTrafficSlots({ count: 1, keys: Buffer.alloc(4), values: b, keySize: 4, valueStride: 144, cpus: CPUS }))
      .toEqual([{ ifindex: 7, rxPackets: 0n, txPackets: 0n, rxBytes: 0n, txBytes: 0n }]);
  });

  it('encodeTrafficValue: flags in each CPU copy of a traffic_counts value, counters zero', () => {
    const b = encodeTrafficValue(CPUS, CPUS * TRAFFIC_VALUE.size, TRAFFIC_F_FLOWS);
    const one = Buffer.from([
      ...Array(32).fill(0),   //  0..31  packets[2], bytes[2] = 0
      0x01, 0, 0, 0,          // 32..35  flags = TRAFFIC_F_FLOWS
      0, 0, 0, 0,             // 36..39  pad
    ]);
    expect(b).toEqual(Buffer.concat([one, one, one]));
    // flags are not counters: the decoder ignores them
    expect(decodeTrafficCounts({ count: 1, keys: Buffer.from([9, 0, 0, 0]), values: b, keySize: 4, valueStride: 120, cpus: CPUS }))
      .toEqual([{ ifindex: 9, rxPackets: 0n, txPackets: 0n, rxBytes: 0n, txBytes: 0n }]);
    expect(encodeTrafficValue(CPUS, 120)).toEqual(Buffer.alloc(120));
  });

  it('the CPU count of the host (e.g. 1, 2, 64, 128): every copy flagged, no copy left over', () => {
    for (const cpus of [1, 2, 64, 128]) {
      const s = encodeTrafficSlot(5, cpus, cpus * 48, TRAFFIC_F_FLOWS);
      const v = encodeTrafficValue(cpus, cpus * 40, TRAFFIC_F_FLOWS);
      for (let c = 0; c < cpus; c++) {
        expect(s.readUInt32LE(c * 48 + 40), `slot cpu ${c}/${cpus}`).toBe(TRAFFIC_F_FLOWS);
        expect(v.readUInt32LE(c * 40 + 32), `value cpu ${c}/${cpus}`).toBe(TRAFFIC_F_FLOWS);
      }
      expect(s.length).toBe(cpus * 48);
      expect(v.length).toBe(cpus * 40);
    }
  });
});

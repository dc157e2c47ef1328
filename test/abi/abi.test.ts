/**
 * ABI: the structs and enums that cross from the eBPF objects to user space must match the TS
 * layout tables byte by byte (bpf/drop.h ↔ src/probes/drop/layout.ts, bpf/traffic.h ↔
 * src/probes/traffic/layout.ts).
 *
 * 1. Struct sizes and member offsets from the BTF of the compiled objects (bpf/build).
 * 2. Enum values. The ABI enums type nothing in the programs, so clang does not emit them into
 *    the objects' BTF; the test compiles the ABI header alone (clang -g -target bpf) into a
 *    BTF-only object and reads them from there. The header is the source of truth, so this
 *    checks the same thing. (If a later change types a map key with the enum, the object's own
 *    BTF is used instead.)
 * 3. Golden bytes: hand-written map entries, every byte commented (padding included), through
 *    the decoders with a 3-CPU per-CPU snapshot → exact values.
 * 4. Map names and key/value sizes the probes use, from the objects opened but not loaded.
 *
 * Needs: libbpf.so.1 and bpf/build/*.bpf.o (`bash scripts/build-bpf.sh`). No root.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Btf, type BtfEnumValue, type StructLayout } from '../../src/kernel/btf.js';
import type { MapSnapshot } from '../../src/kernel/map.js';
import { BpfObject } from '../../src/kernel/object.js';
import {
  DROP_ERRORS, DROP_FLOW_KEY, DROP_IP, DROP_KEY, DROP_POD_KEY, DROP_TRANSPORT, DROP_VALUE, decodeDropCounts, decodeDropKey, encodeDropKey,
  DROP_EVENT, DROP_EVENT_CONFIG, DROP_EVENT_LIMIT, DROP_EVENT_SLOTS, decodeDropEvent, encodeDropEventConfig,
} from '../../src/probes/drop/layout.js';
import { DROP_OBJECT, DROP_OBJECT_NO_EVENTS } from '../../src/probes/drop/probe.js';
import {
  TRAFFIC_EGRESS, TRAFFIC_ERRORS, TRAFFIC_INGRESS, TRAFFIC_KEY, TRAFFIC_VALUE, decodeTrafficCounts, encodeTrafficKey,
  TRAFFIC_SLOT, TRAFFIC_SLOTS, FLOW_KEY, FLOW_VALUE,
} from '../../src/probes/traffic/layout.js';
import { TRAFFIC_OBJECT } from '../../src/probes/traffic/probe.js';

const BUILD = resolve('bpf/build');
const DROP_O = join(BUILD, DROP_OBJECT);
const DROP_NOEV_O = join(BUILD, DROP_OBJECT_NO_EVENTS);
const TRAFFIC_O = join(BUILD, TRAFFIC_OBJECT);

/** Which objects are missing; in CI a missing object fails instead of skipping. */
const missing = [DROP_O, DROP_NOEV_O, TRAFFIC_O].filter((p) => !existsSync(p));
if (missing.length && process.env['CI'] === 'true') {
  throw new Error(`ABI test needs ${missing.join(', ')}: run \`bash scripts/build-bpf.sh\``);
}
const describeObjects = missing.length ? describe.skip : describe;
if (missing.length) console.warn(`[abi] skipped: ${missing.join(', ')} missing — run \`bash scripts/build-bpf.sh\``);

function layout(btf: Btf, name: string): StructLayout {
  const l = btf.structLayout(name);
  if (!l) throw new Error(`struct ${name} not in BTF of ${btf.source}`);
  return l;
}

/** offset of every member, by name */
const offsets = (l: StructLayout): Record<string, number> => Object.fromEntries(l.members.map((m) => [m.name, m.offset]));
const sizes = (l: StructLayout): Record<string, number> => Object.fromEntries(l.members.map((m) => [m.name, m.size]));

describeObjects('struct layouts: object BTF == TS layout tables', () => {
  let dropBtf: Btf;
  let trafficBtf: Btf;
  beforeAll(() => {
    dropBtf = Btf.parse(DROP_O);
    trafficBtf = Btf.parse(TRAFFIC_O);
  });
  afterAll(() => {
    dropBtf?.close();
    trafficBtf?.close();
  });

  it('struct drop_key', () => {
    const l = layout(dropBtf, 'drop_key');
    expect(l.size).toBe(DROP_KEY.size);
    // every member, in order: a new C member without a TS entry fails here
    expect(offsets(l)).toEqual({
      reason: DROP_KEY.reason, ip_version: DROP_KEY.ipVersion, transport: DROP_KEY.transport, pad: DROP_KEY.pad,
    });
    expect(sizes(l)).toEqual({ reason: 4, ip_version: 1, transport: 1, pad: 2 });
    expect(l.members.map((m) => m.name)).toEqual(['reason', 'ip_version', 'transport', 'pad']);
  });

  it('struct drop_value', () => {
    const l = layout(dropBtf, 'drop_value');
    expect(l.size).toBe(DROP_VALUE.size);
    expect(offsets(l)).toEqual({ packets: DROP_VALUE.packets, bytes: DROP_VALUE.bytes });
    expect(sizes(l)).toEqual({ packets: 8, bytes: 8 });
  });

  it('struct traffic_value', () => {
    const l = layout(trafficBtf, 'traffic_value');
    expect(l.size).toBe(TRAFFIC_VALUE.size);
    expect(offsets(l)).toEqual({ packets: TRAFFIC_VALUE.packets, bytes: TRAFFIC_VALUE.bytes, flags: TRAFFIC_VALUE.flags, pad: TRAFFIC_VALUE.pad });
    // __u64[2] each, indexed by enum traffic_direction; __u32 flags; __u32 pad
    expect(sizes(l)).toEqual({ packets: 16, bytes: 16, flags: 4, pad: 4 });
  });

  it('struct flow_key / flow_value', () => {
    const k = layout(trafficBtf, 'flow_key');
    expect(k.size).toBe(FLOW_KEY.size);
    expect(offsets(k)).toEqual({ src: FLOW_KEY.src, dst: FLOW_KEY.dst, sport: FLOW_KEY.sport, dport: FLOW_KEY.dport,
      ifindex: FLOW_KEY.ifindex, proto: FLOW_KEY.proto, ip_version: FLOW_KEY.ipVersion, direction: FLOW_KEY.direction, pad: FLOW_KEY.pad });
    const v = layout(trafficBtf, 'flow_value');
    expect(v.size).toBe(FLOW_VALUE.size);
    expect(offsets(v)).toEqual({ packets: FLOW_VALUE.packets, bytes: FLOW_VALUE.bytes, first_seen_ns: FLOW_VALUE.firstSeenNs,
      last_seen_ns: FLOW_VALUE.lastSeenNs, tcp_flags: FLOW_VALUE.tcpFlags, pad: FLOW_VALUE.tcpFlags + 1 });
  });

  it('struct drop_pod_key / drop_flow_key / drop_ip', () => {
    const p = layout(dropBtf, 'drop_pod_key');
    expect(p.size).toBe(DROP_POD_KEY.size);
    expect(offsets(p)).toEqual({ pod_id: DROP_POD_KEY.podId, reason: DROP_POD_KEY.reason, side: DROP_POD_KEY.side,
      transport: DROP_POD_KEY.transport, ip_version: DROP_POD_KEY.ipVersion, pad: DROP_POD_KEY.pad });
    const f = layout(dropBtf, 'drop_flow_key');
    expect(f.size).toBe(DROP_FLOW_KEY.size);
    expect(offsets(f)).toEqual({ src: DROP_FLOW_KEY.src, dst: DROP_FLOW_KEY.dst, sport: DROP_FLOW_KEY.sport, dport: DROP_FLOW_KEY.dport,
      reason: DROP_FLOW_KEY.reason, proto: DROP_FLOW_KEY.proto, ip_version: DROP_FLOW_KEY.ipVersion, pad: DROP_FLOW_KEY.pad });
    expect(layout(dropBtf, 'drop_ip').size).toBe(DROP_IP.size);
  });

  it('struct drop_event / drop_event_limit / drop_event_config', () => {
    const e = headerStruct('drop.h', 'drop_event');
    expect(e.size).toBe(DROP_EVENT.size);
    expect(offsets(e)).toEqual({
      timestamp_ns: DROP_EVENT.timestampNs, location: DROP_EVENT.location, suppressed: DROP_EVENT.suppressed,
      reason: DROP_EVENT.reason, len: DROP_EVENT.len, ifindex: DROP_EVENT.ifindex, netns: DROP_EVENT.netns,
      src: DROP_EVENT.src, dst: DROP_EVENT.dst, sport: DROP_EVENT.sport, dport: DROP_EVENT.dport, proto: DROP_EVENT.proto,
      ip_version: DROP_EVENT.ipVersion, tcp_flags: DROP_EVENT.tcpFlags, transport: DROP_EVENT.transport, cpu: DROP_EVENT.cpu, pad: DROP_EVENT.pad,
    });
    expect(sizes(e)).toMatchObject({ timestamp_ns: 8, location: 8, suppressed: 8, src: 16, dst: 16, sport: 2, dport: 2, tcp_flags: 1, cpu: 4 });
    const l = layout(dropBtf, 'drop_event_limit');
    expect(l.size).toBe(DROP_EVENT_LIMIT.size);
    expect(offsets(l)).toEqual({
      window_start_ns: DROP_EVENT_LIMIT.windowStartNs, pending: DROP_EVENT_LIMIT.pending, suppressed: DROP_EVENT_LIMIT.suppressed,
      ring_full: DROP_EVENT_LIMIT.ringFull, emitted: DROP_EVENT_LIMIT.emitted, in_window: DROP_EVENT_LIMIT.inWindow, pad: DROP_EVENT_LIMIT.pad,
    });
    const c = layout(dropBtf, 'drop_event_config');
    expect(c.size).toBe(DROP_EVENT_CONFIG.size);
    expect(offsets(c)).toEqual({ enabled: DROP_EVENT_CONFIG.enabled, per_window: DROP_EVENT_CONFIG.perWindow, window_ns: DROP_EVENT_CONFIG.windowNs });
  });

  it('struct traffic_slot', () => {
    const l = layout(trafficBtf, 'traffic_slot');
    expect(l.size).toBe(TRAFFIC_SLOT.size);
    expect(offsets(l)).toEqual({ ifindex: TRAFFIC_SLOT.ifindex, pad: TRAFFIC_SLOT.pad, counts: TRAFFIC_SLOT.counts });
    expect(sizes(l)).toEqual({ ifindex: 4, pad: 4, counts: TRAFFIC_VALUE.size });
  });
});

/**
 * Enum values of an ABI header: from the object's BTF when present there, else from a BTF-only
 * object compiled from the header alone.
 */
function headerEnums(header: string, names: readonly string[]): Record<string, BtfEnumValue[]> {
  // a global of each enum type makes clang emit the enum into BTF
  return withHeaderBtf(header, names.map((n) => `enum ${n} abi_${n};`), (btf) => Object.fromEntries(names.map((n) => {
    const v = btf.enumValues(n);
    if (!v) throw new Error(`enum ${n} not in BTF compiled from bpf/${header}`);
    return [n, v];
  })));
}

/**
 * Layout of a struct of an ABI header that the object's BTF does not carry (a ring buffer record
 * is only reached through a pointer in the program): compiled for BPF from the header alone.
 */
function headerStruct(header: string, name: string): StructLayout {
  return withHeaderBtf(header, [`struct ${name} abi_${name};`], (btf) => layout(btf, name));
}

function withHeaderBtf<T>(header: string, decls: readonly string[], use: (btf: Btf) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'fovea-abi-'));
  try {
    const src = join(dir, 'abi.c');
    writeFileSync(src, [
      'typedef unsigned char __u8; typedef unsigned short __u16;',
      'typedef unsigned int __u32; typedef unsigned long long __u64;',
      `#include "${resolve('bpf', header)}"`,
      ...decls,
      '',
    ].join('\n'));
    const obj = join(dir, 'abi.o');
    execFileSync(process.env['CLANG'] ?? 'clang', ['-g', '-O2', '-target', 'bpf', '-c', src, '-o', obj], { stdio: 'pipe' });
    const btf = Btf.parse(obj);
    try {
      return use(btf);
    } finally {
      btf.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function enumsOf(objectPath: string, header: string, names: readonly string[]): Record<string, BtfEnumValue[]> {
  const btf = Btf.parse(objectPath);
  let fromObject: Record<string, BtfEnumValue[]> | undefined;
  try {
    const found = names.map((n) => [n, btf.enumValues(n)] as const);
    if (found.every(([, v]) => v)) fromObject = Object.fromEntries(found) as Record<string, BtfEnumValue[]>;
  } finally {
    btf.close();
  }
  return fromObject ?? headerEnums(header, names);
}

const asRecord = (v: BtfEnumValue[]): Record<string, number> => Object.fromEntries(v.map((e) => [e.name, e.value]));

let clang = true;
try {
  execFileSync(process.env['CLANG'] ?? 'clang', ['--version'], { stdio: 'pipe' });
} catch {
  clang = false;
  if (process.env['CI'] === 'true') throw new Error('ABI enum test needs clang (apt-get install clang)');
  console.warn('[abi] enum checks skipped: clang not installed (apt-get install clang)');
}

describe.skipIf(missing.length > 0 || !clang)('enum values: C header == TS tables', () => {
  it('enum drop_transport ↔ DROP_TRANSPORT', () => {
    const { drop_transport: e } = enumsOf(DROP_O, 'drop.h', ['drop_transport']);
    expect(asRecord(e!)).toEqual({
      DROP_TRANSPORT_UNKNOWN: 0, DROP_TRANSPORT_TCP: 1, DROP_TRANSPORT_UDP: 2, DROP_TRANSPORT_ICMP: 3, DROP_TRANSPORT_OTHER: 4,
    });
    // the TS table maps exactly those values, UNKNOWN to "no attribute"
    const fromTs = Object.fromEntries(e!.map(({ name, value }) => [name, DROP_TRANSPORT[value]]));
    expect(fromTs).toEqual({
      DROP_TRANSPORT_UNKNOWN: undefined, DROP_TRANSPORT_TCP: 'tcp', DROP_TRANSPORT_UDP: 'udp',
      DROP_TRANSPORT_ICMP: 'icmp', DROP_TRANSPORT_OTHER: 'other',
    });
    expect(Object.keys(DROP_TRANSPORT).map(Number).sort()).toEqual(e!.map((x) => x.value).sort());
  });

  it('enum drop_error ↔ DROP_ERRORS (index = value, MAX = length)', () => {
    const { drop_error: e } = enumsOf(DROP_O, 'drop.h', ['drop_error']);
    const r = asRecord(e!);
    expect(r).toEqual({ DROP_ERR_MAP_FULL: 0, DROP_ERR_UPDATE: 1, DROP_ERR_HEADER_READ: 2, DROP_ERR_POD_MAP_FULL: 3, DROP_ERR_FLOW_INSERT: 4, DROP_ERR_MAX: 5 });
    expect(DROP_ERRORS[r['DROP_ERR_POD_MAP_FULL']!]).toBe('pod_map_full');
    expect(DROP_ERRORS[r['DROP_ERR_FLOW_INSERT']!]).toBe('flow_insert_failed');
    expect(DROP_ERRORS[r['DROP_ERR_MAP_FULL']!]).toBe('map_full');
    expect(DROP_ERRORS[r['DROP_ERR_UPDATE']!]).toBe('update_failed');
    expect(DROP_ERRORS[r['DROP_ERR_HEADER_READ']!]).toBe('header_unreadable');
    expect(DROP_ERRORS).toHaveLength(r['DROP_ERR_MAX']!);
  });

  it('enum traffic_direction ↔ TRAFFIC_INGRESS/EGRESS, enum traffic_error ↔ TRAFFIC_ERRORS', () => {
    const { traffic_direction: d, traffic_error: e } = enumsOf(TRAFFIC_O, 'traffic.h', ['traffic_direction', 'traffic_error']);
    expect(asRecord(d!)).toEqual({ TRAFFIC_INGRESS, TRAFFIC_EGRESS });
    const r = asRecord(e!);
    expect(r).toEqual({ TRAFFIC_ERR_MAP_FULL: 0, TRAFFIC_ERR_UPDATE: 1, TRAFFIC_ERR_FLOW_INSERT: 2, TRAFFIC_ERR_MAX: 3 });
    expect(TRAFFIC_ERRORS[r['TRAFFIC_ERR_FLOW_INSERT']!]).toBe('flow_insert_failed');
    expect(TRAFFIC_ERRORS[r['TRAFFIC_ERR_MAP_FULL']!]).toBe('map_full');
    expect(TRAFFIC_ERRORS[r['TRAFFIC_ERR_UPDATE']!]).toBe('update_failed');
    expect(TRAFFIC_ERRORS).toHaveLength(r['TRAFFIC_ERR_MAX']!);
  });
});

describeObjects('maps the probes use: names and sizes in the objects (opened, not loaded)', () => {
  const cases = [
    // object, map, key size, value size (one CPU slot), the TS table that decodes it
    { obj: DROP_O, map: 'drop_counts', key: DROP_KEY.size, value: DROP_VALUE.size },
    { obj: DROP_O, map: 'drop_errors', key: 4 /* __u32 enum drop_error */, value: 8 /* __u64 */ },
    { obj: TRAFFIC_O, map: 'traffic_counts', key: TRAFFIC_KEY.size, value: TRAFFIC_VALUE.size },
    { obj: TRAFFIC_O, map: 'traffic_errors', key: 4 /* __u32 enum traffic_error */, value: 8 /* __u64 */ },
    { obj: TRAFFIC_O, map: 'traffic_slots', key: 4 /* __u32 slot index */, value: TRAFFIC_SLOT.size },
  ];
  for (const c of cases) {
    it(`${c.map}: key ${c.key} B, value ${c.value} B, per-CPU`, () => {
      const obj = BpfObject.open(c.obj);
      try {
        expect(obj.isLoaded).toBe(false);
        const m = obj.map(c.map);
        expect({ key: m.keySize, value: m.valueSize, perCpu: m.perCpu }).toEqual({ key: c.key, value: c.value, perCpu: true });
      } finally {
        obj.close();
      }
    });
  }

  it('error arrays have one slot per TS failure kind', () => {
    const d = BpfObject.open(DROP_O);
    const t = BpfObject.open(TRAFFIC_O);
    try {
      expect(d.map('drop_errors').maxEntries).toBe(DROP_ERRORS.length);
      expect(d.map('drop_event_limits').maxEntries).toBe(DROP_EVENT_SLOTS);
      expect(d.map('drop_event_limits').valueSize).toBe(DROP_EVENT_LIMIT.size);
      expect(d.map('drop_event_cfg').valueSize).toBe(DROP_EVENT_CONFIG.size);
      expect(d.map('drop_events').maxEntries % 4096).toBe(0);
      expect(t.map('traffic_errors').maxEntries).toBe(TRAFFIC_ERRORS.length);
      expect(t.map('traffic_slots').maxEntries).toBe(TRAFFIC_SLOTS);
    } finally {
      d.close();
      t.close();
    }
  });

  it('the drop object without events has the same programs and counting maps, and no ring buffer', () => {
    const d = BpfObject.open(DROP_NOEV_O);
    try {
      for (const p of ['drop_tp_btf', 'drop_raw_tp']) expect(d.program(p).name).toBe(p);
      for (const m of ['drop_counts', 'drop_errors', 'drop_pod_ips', 'drop_pod_counts', 'drop_flows']) expect(d.map(m).name).toBe(m);
      for (const m of ['drop_events', 'drop_event_cfg', 'drop_event_limits']) expect(() => d.map(m)).toThrow(/ENOENT|find map/);
    } finally {
      d.close();
    }
  });

  it('programs the probes load exist', () => {
    const d = BpfObject.open(DROP_O);
    const t = BpfObject.open(TRAFFIC_O);
    try {
      for (const p of ['drop_tp_btf', 'drop_raw_tp']) expect(d.program(p).name).toBe(p);
      for (const p of ['traffic_ingress', 'traffic_egress']) expect(t.program(p).name).toBe(p);
    } finally {
      d.close();
      t.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Golden bytes. Little-endian throughout (x86-64 and arm64 BPF are both LE).

describe('golden bytes: struct drop_key', () => {
  // reason 0x0102_0304 (arbitrary: shows the byte order), IPv6, UDP
  const key = Buffer.from([
    0x04, 0x03, 0x02, 0x01, // 0..3  reason   __u32 LE = 0x01020304
    0x06,                   // 4     ip_version __u8 = 6
    0x02,                   // 5     transport  __u8 = DROP_TRANSPORT_UDP
    0x00, 0x00,             // 6..7  pad        __u16, always zero (a non-zero pad would be a different hash key)
  ]);

  it('decodes', () => {
    expect(decodeDropKey(key)).toEqual({ reason: 0x01020304, ipVersion: 6, transport: 2 });
  });

  it('encodes to exactly the same 8 bytes (pad zeroed) — lookups by key depend on it', () => {
    expect(encodeDropKey({ reason: 0x01020304, ipVersion: 6, transport: 2 })).toEqual(key);
  });

  it('decodes at an offset inside a packed key array', () => {
    const two = Buffer.concat([Buffer.alloc(8, 0xff), key]);
    expect(decodeDropKey(two, 8)).toEqual({ reason: 0x01020304, ipVersion: 6, transport: 2 });
  });

  it('subsystem reasons use the upper 16 bits of the u32', () => {
    const k = Buffer.from([
      0x01, 0x00, 0x03, 0x00, // reason = 0x0003_0001 (subsystem 3, reason 1)
      0x00,                   // ip_version = 0: not IP
      0x00,                   // transport = DROP_TRANSPORT_UNKNOWN
      0x00, 0x00,             // pad
    ]);
    expect(decodeDropKey(k)).toEqual({ reason: 0x30001, ipVersion: 0, transport: 0 });
  });
});

describe('golden bytes: drop_counts snapshot, 3 CPUs', () => {
  // Two entries. keySize 8; per-CPU value slot = sizeof(struct drop_value) = 16 (already a
  // multiple of 8, so no slot padding); valueStride = 3 * 16 = 48.
  const keys = Buffer.from([
    // entry 0: reason 3 (NO_SOCKET on 6.18; values differ between kernels), IPv4, UDP
    0x03, 0x00, 0x00, 0x00, //  0..3  reason = 3
    0x04,                   //  4     ip_version = 4
    0x02,                   //  5     transport = UDP
    0x00, 0x00,             //  6..7  pad
    // entry 1: reason 0x10000 + 5 (subsystem reason), not IP
    0x05, 0x00, 0x01, 0x00, //  8..11 reason = 0x00010005
    0x00,                   // 12     ip_version = 0
    0x00,                   // 13     transport = UNKNOWN
    0x00, 0x00,             // 14..15 pad
  ]);
  const values = Buffer.from([
    // entry 0, CPU 0: packets = 1, bytes = 60
    0x01, 0, 0, 0, 0, 0, 0, 0,          //   0..7   packets __u64
    0x3c, 0, 0, 0, 0, 0, 0, 0,          //   8..15  bytes   __u64
    // entry 0, CPU 1: packets = 0x1_0000_0000 (needs the high word), bytes = 0x0102 (258)
    0, 0, 0, 0, 0x01, 0, 0, 0,          //  16..23  packets
    0x02, 0x01, 0, 0, 0, 0, 0, 0,       //  24..31  bytes
    // entry 0, CPU 2: packets = 2, bytes = 0
    0x02, 0, 0, 0, 0, 0, 0, 0,          //  32..39  packets
    0, 0, 0, 0, 0, 0, 0, 0,             //  40..47  bytes
    // entry 1, CPU 0: nothing
    0, 0, 0, 0, 0, 0, 0, 0,             //  48..55  packets
    0, 0, 0, 0, 0, 0, 0, 0,             //  56..63  bytes
    // entry 1, CPU 1: nothing
    0, 0, 0, 0, 0, 0, 0, 0,             //  64..71  packets
    0, 0, 0, 0, 0, 0, 0, 0,             //  72..79  bytes
    // entry 1, CPU 2: packets = 7, bytes = 0xffff_ffff_ffff_fff0 (near u64 max: stays exact as bigint)
    0x07, 0, 0, 0, 0, 0, 0, 0,          //  80..87  packets
    0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // 88..95 bytes
  ]);
  const snap: MapSnapshot = { count: 2, keys, values, keySize: DROP_KEY.size, valueStride: 48, cpus: 3 };

  it('sums the CPU slots exactly', () => {
    expect(decodeDropCounts(snap)).toEqual([
      { reason: 3, ipVersion: 4, transport: 2, packets: 1n + 0x1_0000_0000n + 2n, bytes: 60n + 258n },
      { reason: 0x10005, ipVersion: 0, transport: 0, packets: 7n, bytes: 0xffff_ffff_ffff_fff0n },
    ]);
  });

  it('reads only `count` entries even when the buffers are larger (batch reads over-allocate)', () => {
    const big: MapSnapshot = { ...snap, count: 1, keys: Buffer.concat([keys, Buffer.alloc(64, 0xee)]), values: Buffer.concat([values, Buffer.alloc(480, 0xee)]) };
    expect(decodeDropCounts(big)).toHaveLength(1);
  });
});

describe('golden bytes: traffic_counts snapshot, 3 CPUs', () => {
  // keySize 4 (__u32 ifindex); value slot = sizeof(struct traffic_value) = 40; stride = 120.
  const keys = Buffer.from([
    0x07, 0x00, 0x00, 0x00, // 0..3 ifindex = 7
  ]);
  const slot = (rxP: number, txP: number, rxB: number, txB: number): number[] => {
    const b = Buffer.alloc(40);           // 32..39: flags (__u32) and pad, zero here
    b.writeBigUInt64LE(BigInt(rxP), 0);  // packets[TRAFFIC_INGRESS]
    b.writeBigUInt64LE(BigInt(txP), 8);  // packets[TRAFFIC_EGRESS]
    b.writeBigUInt64LE(BigInt(rxB), 16); // bytes[TRAFFIC_INGRESS]
    b.writeBigUInt64LE(BigInt(txB), 24); // bytes[TRAFFIC_EGRESS]
    return [...b];
  };
  const values = Buffer.from([
    // CPU 0, written out byte by byte:
    0x0a, 0, 0, 0, 0, 0, 0, 0,    //  0..7   packets[0] ingress = 10
    0x14, 0, 0, 0, 0, 0, 0, 0,    //  8..15  packets[1] egress  = 20
    0xe8, 0x03, 0, 0, 0, 0, 0, 0, // 16..23  bytes[0]   ingress = 1000
    0xd0, 0x07, 0, 0, 0, 0, 0, 0, // 24..31  bytes[1]   egress  = 2000
    0x01, 0, 0, 0,                // 32..35  flags = TRAFFIC_F_FLOWS (not a counter: ignored by the decoder)
    0, 0, 0, 0,                   // 36..39  pad
    // CPU 1 (same layout; built by slot() to keep the table readable)
    ...slot(1, 2, 100, 200),      // 40..79
    // CPU 2
    ...slot(0, 3, 0, 300),        // 80..119
  ]);
  const snap: MapSnapshot = { count: 1, keys, values, keySize: TRAFFIC_KEY.size, valueStride: 120, cpus: 3 };

  it('decodes per direction, summed over CPUs', () => {
    expect(decodeTrafficCounts(snap)).toEqual([
      { ifindex: 7, rxPackets: 11n, txPackets: 25n, rxBytes: 1100n, txBytes: 2500n },
    ]);
  });

  it('encodes the key as 4 LE bytes', () => {
    expect(encodeTrafficKey(7)).toEqual(keys);
    expect(encodeTrafficKey(0x01020304)).toEqual(Buffer.from([0x04, 0x03, 0x02, 0x01]));
  });
});

describe('golden bytes: struct drop_event and drop_event_config', () => {
  // An IPv4 TCP SYN dropped on CPU 1: 10.0.0.1:40000 → 10.0.0.2:80, reason 6, 60 bytes, ifindex 7,
  // netns 4026531840, 3 drops suppressed before it, kernel location 0xffffffff81234567.
  const hex =
    '0100000000000000' + // timestamp_ns = 1
    '67452381ffffffff' + // location
    '0300000000000000' + // suppressed = 3
    '06000000' + '3c000000' + '07000000' + '000000f0' + // reason, len, ifindex, netns (0xf0000000)
    '00000000000000000000ffff0a000001' + // src ::ffff:10.0.0.1
    '00000000000000000000ffff0a000002' + // dst
    '9c40' + '0050' + // sport 40000, dport 80 (network order)
    '06' + '04' + '02' + '01' + // proto TCP, ipv4, flags SYN, transport TCP
    '01000000' + '00000000'; // cpu 1, pad
  it('decodes every field', () => {
    const b = Buffer.from(hex, 'hex');
    expect(b.length).toBe(DROP_EVENT.size);
    // the record sits at an offset inside a bigger area, like in the ring
    const area = new Uint8Array(8 + b.length + 8);
    area.set(b, 8);
    const e = decodeDropEvent(new DataView(area.buffer), 8, b.length);
    expect(e).toEqual({
      timestampNs: 1n, location: 0xffffffff81234567n, suppressed: 3, reason: 6, len: 60, ifindex: 7, netns: 0xf0000000,
      src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 80, proto: 6, ipVersion: 4, tcpFlags: 2, transport: 1, cpu: 1,
    });
  });
  it('a short record is refused, not misread', () => {
    expect(() => decodeDropEvent(new DataView(new ArrayBuffer(64)), 0, 40)).toThrow(/40 bytes, expected 88/);
  });
  it('config encodes little-endian', () => {
    expect(encodeDropEventConfig({ enabled: true, perWindow: 100, windowNs: 1_000_000_000n }).toString('hex'))
      .toBe('01000000' + '64000000' + '00ca9a3b00000000');
  });
});

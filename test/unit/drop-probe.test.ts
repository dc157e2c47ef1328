/**
 * Drop probe, user-space half: drop_counts entries → metric families, and the reason table read
 * from BTF. Pure functions and fake BTF/map handles; no kernel.
 */
import { describe, expect, it } from 'vitest';
import type { BtfEnumValue } from '../../src/kernel/btf.js';
import { ATTR, INSTRUMENTS } from '../../src/names.js';
import { readFailureCounters } from '../../src/probes/counters.js';
import {
  DROP_ARRAY_REASONS, DROP_ERRORS, DROP_ERRORS_LOSING, DROP_KEY, DROP_KEY_SLOTS, DROP_VALUE, decodeDropCounts, decodeDropReasonCounts,
  dropReasonIndex, dropReasonSlots, encodeDropKey, type DropCount,
} from '../../src/probes/drop/layout.js';
import { dropFamilies, dropLocationFamilies, kfreeSkbHasReason, locationName, mergeDropCounts } from '../../src/probes/drop/probe.js';
import { DROP_REASON_NONE_GIVEN } from '../../src/probes/drop/layout.js';
import { NO_KERNEL_REASON } from '../../src/probes/drop/reasons.js';
import { DropReasons, SUBSYSTEM_REASON_ENUMS, dropReasonsFromBtf } from '../../src/probes/drop/reasons.js';
import { FakeMap, u64s } from '../helpers/fakes.js';

// A small slice of enum skb_drop_reason as a 6.x kernel's BTF has it.
const SKB_DROP_REASON: BtfEnumValue[] = [
  { name: 'SKB_NOT_DROPPED_YET', value: 0 },
  { name: 'SKB_CONSUMED', value: 1 },
  { name: 'SKB_DROP_REASON_NOT_SPECIFIED', value: 2 },
  { name: 'SKB_DROP_REASON_NO_SOCKET', value: 3 },
  { name: 'SKB_DROP_REASON_NETFILTER_DROP', value: 9 },
  { name: 'SKB_DROP_REASON_MAX', value: 120 },
  { name: 'SKB_DROP_REASON_SUBSYS_MASK', value: 0xffff0000 },
];
// Subsystem enums: values carry the subsystem id in the upper 16 bits.
const OVS: BtfEnumValue[] = [
  { name: 'OVS_DROP_LAST_ACTION', value: 0x30000 },
  { name: 'OVS_DROP_ACTION_ERROR', value: 0x30001 },
];
const MAC80211: BtfEnumValue[] = [
  { name: 'RX_DROP_U_MIC_FAIL', value: 0x10001 },
  // a subsystem value colliding with a core one: the core name wins
  { name: 'MAC80211_COLLIDES', value: 3 },
];

const reasons = new DropReasons([SKB_DROP_REASON, OVS, MAC80211]);

const count = (c: Partial<DropCount> & { reason: number }): DropCount =>
  ({ ipVersion: 4, transport: 1, packets: 1n, bytes: 100n, ...c });

describe('DropReasons', () => {
  it('strips SKB_DROP_REASON_ and keeps names without the prefix as they are', () => {
    expect(reasons.name(3)).toBe('NO_SOCKET');
    expect(reasons.name(9)).toBe('NETFILTER_DROP');
    expect(reasons.name(2)).toBe('NOT_SPECIFIED');
    expect(reasons.name(1)).toBe('SKB_CONSUMED');
    expect(reasons.name(0)).toBe('SKB_NOT_DROPPED_YET');
  });

  it('names subsystem reasons from their own enums', () => {
    expect(reasons.name(0x30001)).toBe('OVS_DROP_ACTION_ERROR');
    expect(reasons.name(0x10001)).toBe('RX_DROP_U_MIC_FAIL');
  });

  it('earlier enums win on collisions', () => {
    expect(reasons.name(3)).toBe('NO_SOCKET');
  });

  it('skips the MAX and SUBSYS_* markers, which are not reasons', () => {
    expect(reasons.name(120)).toBe('UNKNOWN_120');
    expect(reasons.name(0xffff0000)).toBe(`UNKNOWN_${0xffff0000}`);
    expect(reasons.entries().map((e) => e.name)).not.toContain('MAX');
  });

  it('unknown values are UNKNOWN_<n>', () => {
    expect(reasons.name(77)).toBe('UNKNOWN_77');
    expect(reasons.name(0x30099)).toBe(`UNKNOWN_${0x30099}`);
  });

  it('size and sorted entries', () => {
    expect(reasons.size).toBe(8); // 5 core + 2 ovs + 1 mac80211 (its colliding value dropped)
    const values = reasons.entries().map((e) => e.value);
    expect(values).toEqual([...values].sort((a, b) => a - b));
    expect(reasons.entries()[0]).toEqual({ value: 0, name: 'SKB_NOT_DROPPED_YET' });
  });
});

describe('dropReasonsFromBtf', () => {
  const fakeBtf = (enums: Record<string, BtfEnumValue[]>) => {
    const asked: string[] = [];
    return { asked, enumValues: (n: string) => { asked.push(n); return enums[n]; } };
  };

  it('reads skb_drop_reason and every subsystem enum', () => {
    const btf = fakeBtf({ skb_drop_reason: SKB_DROP_REASON, ovs_drop_reason: OVS, mac80211_drop_reason: MAC80211 });
    const r = dropReasonsFromBtf(btf);
    expect(btf.asked).toEqual(['skb_drop_reason', ...SUBSYSTEM_REASON_ENUMS]);
    expect(r.name(3)).toBe('NO_SOCKET');
    expect(r.name(0x30000)).toBe('OVS_DROP_LAST_ACTION');
  });

  it('works without subsystem enums (module not built into the kernel)', () => {
    const r = dropReasonsFromBtf(fakeBtf({ skb_drop_reason: SKB_DROP_REASON }));
    expect(r.name(9)).toBe('NETFILTER_DROP');
    expect(r.name(0x30000)).toBe(`UNKNOWN_${0x30000}`);
  });

  it('fails with a clear message when the kernel has no enum skb_drop_reason', () => {
    expect(() => dropReasonsFromBtf(fakeBtf({}))).toThrow(/no enum skb_drop_reason.*5\.17/);
  });
});

describe('dropFamilies', () => {
  it('two families, same attributes in both, exact values', () => {
    const fams = dropFamilies([count({ reason: 3, ipVersion: 4, transport: 2, packets: 5n, bytes: 420n })], reasons);
    expect(fams).toEqual([
      { instrument: INSTRUMENTS.dropPackets, series: [{ attributes: { [ATTR.dropReason]: 'NO_SOCKET', [ATTR.transport]: 'udp', [ATTR.networkType]: 'ipv4' }, value: 5 }] },
      { instrument: INSTRUMENTS.dropBytes, series: [{ attributes: { [ATTR.dropReason]: 'NO_SOCKET', [ATTR.transport]: 'udp', [ATTR.networkType]: 'ipv4' }, value: 420 }] },
    ]);
  });

  it('maps every transport value; ICMP and other are Fovea values', () => {
    const fams = dropFamilies([1, 2, 3, 4].map((t) => count({ reason: 9, ipVersion: 6, transport: t })), reasons);
    expect(fams[0]!.series.map((s) => s.attributes[ATTR.transport])).toEqual(['tcp', 'udp', 'icmp', 'other']);
    expect(fams[0]!.series.every((s) => s.attributes[ATTR.networkType] === 'ipv6')).toBe(true);
  });

  it('omits network.transport for unknown (0) and out-of-range transports', () => {
    const fams = dropFamilies([count({ reason: 9, transport: 0 }), count({ reason: 2, transport: 99 })], reasons);
    for (const s of fams[0]!.series) {
      expect(s.attributes).not.toHaveProperty(ATTR.transport);
      expect(s.attributes[ATTR.networkType]).toBe('ipv4');
    }
  });

  it('omits network.type (and transport) for non-IP packets', () => {
    const fams = dropFamilies([count({ reason: 3, ipVersion: 0, transport: 0, packets: 2n, bytes: 84n })], reasons);
    expect(fams[0]!.series).toEqual([{ attributes: { [ATTR.dropReason]: 'NO_SOCKET' }, value: 2 }]);
    expect(fams[1]!.series).toEqual([{ attributes: { [ATTR.dropReason]: 'NO_SOCKET' }, value: 84 }]);
  });

  it('unknown reasons export as UNKNOWN_<n>', () => {
    const fams = dropFamilies([count({ reason: 4242 })], reasons);
    expect(fams[0]!.series[0]!.attributes[ATTR.dropReason]).toBe('UNKNOWN_4242');
  });

  it('skips entries with zero packets (key inserted, increment not yet visible)', () => {
    const fams = dropFamilies([count({ reason: 3, packets: 0n, bytes: 0n }), count({ reason: 9, packets: 1n })], reasons);
    expect(fams[0]!.series).toHaveLength(1);
    expect(fams[1]!.series).toHaveLength(1);
    expect(fams[0]!.series[0]!.attributes[ATTR.dropReason]).toBe('NETFILTER_DROP');
  });

  it('no entries: both families present with no series (every series ended)', () => {
    expect(dropFamilies([], reasons)).toEqual([
      { instrument: INSTRUMENTS.dropPackets, series: [] },
      { instrument: INSTRUMENTS.dropBytes, series: [] },
    ]);
  });

  it('from a fake per-CPU map to families: sums CPUs', () => {
    const slot = (p: number, b: number): Buffer => u64s(p, b);
    const map = new FakeMap('drop_counts', [
      { key: encodeDropKey({ reason: 3, ipVersion: 4, transport: 2 }), perCpuValues: [slot(1, 50), slot(0, 0), slot(2, 100)] },
      { key: encodeDropKey({ reason: 9, ipVersion: 6, transport: 1 }), perCpuValues: [slot(0, 0), slot(0, 0), slot(0, 0)] },
    ], { keySize: DROP_KEY.size, valueSize: DROP_VALUE.size, cpus: 3 });
    const fams = dropFamilies(decodeDropCounts(map.readAll()), reasons);
    expect(fams[0]!.series).toEqual([{ attributes: { [ATTR.dropReason]: 'NO_SOCKET', [ATTR.transport]: 'udp', [ATTR.networkType]: 'ipv4' }, value: 3 }]);
    expect(fams[1]!.series[0]!.value).toBe(150);
  });
});

describe('drop_reason_counts: the per-CPU array of the core reasons', () => {
  const u32 = (i: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(i); return b; };

  it('one slot per (reason, family, transport): every key of a reason lands on its own slot, reasons side by side', () => {
    const seen = new Set<number>();
    for (let reason = 0; reason < 3; reason++) {
      for (const ipVersion of [0, 4, 6]) {
        for (let transport = 0; transport < 5; transport++) seen.add(dropReasonIndex({ reason, ipVersion, transport }));
      }
    }
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 3 * DROP_KEY_SLOTS }, (_, i) => i));
    expect(dropReasonIndex({ reason: 9, ipVersion: 4, transport: 2 })).toBe(9 * 15 + 5 + 2);
  });

  it('decodes slots back to (reason, family, transport), sums CPUs, leaves out slots never hit', () => {
    const keys = [dropReasonIndex({ reason: 9, ipVersion: 4, transport: 2 }), 0, dropReasonIndex({ reason: 3, ipVersion: 6, transport: 1 }),
      dropReasonIndex({ reason: 2, ipVersion: 0, transport: 0 })];
    const map = new FakeMap('drop_reason_counts', [
      { key: u32(keys[0]!), perCpuValues: [u64s(5, 290), u64s(7, 406)] },
      { key: u32(keys[1]!), perCpuValues: [u64s(0, 0), u64s(0, 0)] },
      { key: u32(keys[2]!), perCpuValues: [u64s(0, 0), u64s(1, 60)] },
      { key: u32(keys[3]!), perCpuValues: [u64s(2, 84), u64s(0, 0)] },
    ], { keySize: 4, valueSize: DROP_VALUE.size, cpus: 2 });
    expect(decodeDropReasonCounts(map.readAll())).toEqual([
      { reason: 9, ipVersion: 4, transport: 2, packets: 12n, bytes: 696n },
      { reason: 3, ipVersion: 6, transport: 1, packets: 1n, bytes: 60n },
      { reason: 2, ipVersion: 0, transport: 0, packets: 2n, bytes: 84n },
    ]);
  });

  it('is sized to the kernel\'s core reasons (SKB_DROP_REASON_MAX), at most DROP_ARRAY_REASONS of them', () => {
    expect(reasons.coreReasons).toBe(120);
    expect(dropReasonSlots(reasons.coreReasons)).toBe(120 * DROP_KEY_SLOTS);
    expect(dropReasonSlots(5000)).toBe(DROP_ARRAY_REASONS * DROP_KEY_SLOTS);
    expect(dropReasonSlots(0)).toBe(DROP_KEY_SLOTS); // a map has at least one entry
    // no MAX marker in BTF: one past the largest core value; subsystem values do not count
    expect(new DropReasons([SKB_DROP_REASON.filter((v) => v.name !== 'SKB_DROP_REASON_MAX'), OVS]).coreReasons).toBe(10);
    expect(new DropReasons([]).coreReasons).toBe(0);
  });

  it('merged with drop_counts (subsystem reasons): each key once, sums if one were in both', () => {
    const a = [count({ reason: 9, packets: 4n, bytes: 40n }), count({ reason: 3, ipVersion: 6 })];
    const h = [count({ reason: 0x30001, ipVersion: 0, transport: 0, packets: 2n }), count({ reason: 9, packets: 1n, bytes: 10n })];
    expect(mergeDropCounts(a, [])).toEqual(a);
    expect(mergeDropCounts(a, h)).toEqual([
      count({ reason: 9, packets: 5n, bytes: 50n }), count({ reason: 3, ipVersion: 6 }), count({ reason: 0x30001, ipVersion: 0, transport: 0, packets: 2n }),
    ]);
  });
});

describe('drop_errors → record failures', () => {
  it('sums CPUs, names kinds, marks which lost data, ignores unknown indexes', () => {
    const key = (i: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(i); return b; };
    const map = new FakeMap('drop_errors', [
      { key: key(0), perCpuValues: [u64s(1), u64s(2)] },
      { key: key(1), perCpuValues: [u64s(0), u64s(0)] },
      { key: key(2), perCpuValues: [u64s(5), u64s(6)] },
      { key: key(7), perCpuValues: [u64s(9), u64s(9)] }, // not a known kind
    ], { keySize: 4, valueSize: 8, cpus: 2 });
    expect(readFailureCounters(map, DROP_ERRORS, DROP_ERRORS_LOSING)).toEqual([
      { kind: 'map_full', count: 3, lost: true },
      { kind: 'update_failed', count: 0, lost: true },
      { kind: 'header_unreadable', count: 11, lost: false },
    ]);
  });
});

describe('kernels without drop reasons (< 5.17): counted by freeing function', () => {
  const symbols = {
    known: (a: bigint) => (a === 0xffffffff81a00044n ? 'nf_hook_slow+0x44' : a === 0xffffffff81a00090n ? 'nf_hook_slow+0x90'
      : a === 0xffffffff81b00010n ? '__udp4_lib_rcv+0x10' : a === 0xffffffff81d00000n ? null : undefined),
  };

  it('the tracepoint\'s BTF prototype decides: (skb, location) has no reason; (skb, location, reason[, rx_sk]) has', () => {
    const btf = (arity: number | undefined, hasEnum: boolean) => ({
      tracepointArity: (n: string) => (n === 'kfree_skb' ? arity : undefined),
      enumValues: (n: string) => (n === 'skb_drop_reason' && hasEnum ? SKB_DROP_REASON : undefined),
    });
    expect(kfreeSkbHasReason(btf(2, false))).toBe(false); // 5.10
    expect(kfreeSkbHasReason(btf(3, true))).toBe(true);   // 5.17 .. 6.x
    expect(kfreeSkbHasReason(btf(4, true))).toBe(true);   // 6.11+: rx_sk
    // no tracepoint typedef in BTF: the enum (same kernel commit) decides
    expect(kfreeSkbHasReason(btf(undefined, true))).toBe(true);
    expect(kfreeSkbHasReason(btf(undefined, false))).toBe(false);
  });

  it('the sentinel is NO_KERNEL_REASON, never a kernel value nor UNKNOWN_<n>', () => {
    const r = new DropReasons([SKB_DROP_REASON]);
    expect(r.name(DROP_REASON_NONE_GIVEN)).toBe(NO_KERNEL_REASON);
    expect(new DropReasons([]).name(DROP_REASON_NONE_GIVEN)).toBe(NO_KERNEL_REASON);
    expect(r.entries().map((e) => e.name)).not.toContain(NO_KERNEL_REASON);
  });

  it('locationName: the function without its offset; the address in hex when symbols are hidden', () => {
    expect(locationName(0xffffffff81a00044n, symbols)).toBe('nf_hook_slow');
    expect(locationName(0xffffffff81c00000n, symbols)).toBe('0xffffffff81c00000');
    expect(locationName(0xffffffff81d00000n, symbols)).toBeNull(); // not read yet
  });

  it('call sites of one function sum into one series per transport and IP version, with reason NO_KERNEL_REASON', () => {
    const c = (location: bigint, ipVersion: number, transport: number, packets: bigint) => ({ location, ipVersion, transport, packets, bytes: packets * 100n });
    const fams = dropLocationFamilies([
      c(0xffffffff81a00044n, 4, 2, 5n), c(0xffffffff81a00090n, 4, 2, 7n), c(0xffffffff81a00044n, 6, 2, 1n),
      c(0xffffffff81b00010n, 4, 2, 3n), c(0xffffffff81b00010n, 4, 1, 0n),
      c(0xffffffff81d00000n, 4, 2, 9n), // its name not read yet: left out until it is
    ], symbols);
    const [packets, bytes] = fams;
    expect(packets!.instrument).toBe(INSTRUMENTS.dropPackets);
    expect(bytes!.instrument).toBe(INSTRUMENTS.dropBytes);
    expect(packets!.series).toEqual([
      { attributes: { [ATTR.dropReason]: NO_KERNEL_REASON, [ATTR.transport]: 'udp', [ATTR.networkType]: 'ipv4', [ATTR.dropLocation]: 'nf_hook_slow' }, value: 12 },
      { attributes: { [ATTR.dropReason]: NO_KERNEL_REASON, [ATTR.transport]: 'udp', [ATTR.networkType]: 'ipv6', [ATTR.dropLocation]: 'nf_hook_slow' }, value: 1 },
      { attributes: { [ATTR.dropReason]: NO_KERNEL_REASON, [ATTR.transport]: 'udp', [ATTR.networkType]: 'ipv4', [ATTR.dropLocation]: '__udp4_lib_rcv' }, value: 3 },
    ]);
    expect(bytes!.series.map((s) => s.value)).toEqual([1200, 100, 300]);
  });
});

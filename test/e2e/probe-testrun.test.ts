/**
 * The traffic probe's tc programs through BPF_PROG_TEST_RUN: crafted, odd and truncated packets
 * run inside the kernel without any interface. Every run must return TC_ACT_UNSPEC (-1: never
 * change a verdict) and the map must count exactly the runs and bytes, per direction.
 *
 * Findings pinned here (kernel 6.18):
 * - test-run skbs for tc need at least ETH_HLEN (14) bytes: shorter input is refused with EINVAL
 *   before the program runs, so a 1-byte packet cannot reach the program. And when the
 *   ethertype says IPv4 / IPv6 the kernel also wants the fixed IP header (>= 14+20 / 14+40
 *   bytes): an Ethernet-only frame that claims IPv4 is refused too. A 14-byte frame with a non-IP
 *   ethertype, and an IP header without its transport header, do run.
 * - without a ctx the skb's device is the netns loopback (ifindex 1); a struct __sk_buff ctx
 *   with `ifindex` set moves it to that device.
 * - skb->len at tc is the whole frame, L2 header included.
 *
 * Root only (loads programs); skips with the reason elsewhere, fails in CI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Btf } from '../../src/kernel/btf.js';
import { BpfError } from '../../src/kernel/errors.js';
import type { BpfMap } from '../../src/kernel/map.js';
import { listInterfaces } from '../../src/kernel/netdev.js';
import { BpfObject } from '../../src/kernel/object.js';
import { testRun } from '../../src/kernel/test-run.js';
import { readFailureCounters } from '../../src/probes/counters.js';
import {
  TRAFFIC_ERRORS, TRAFFIC_ERRORS_LOSING, TRAFFIC_SLOTS, decodeTrafficCounts, decodeTrafficSlots, encodeTrafficKey,
  encodeTrafficSlot, mergeCounts, slotOf, type InterfaceCount,
} from '../../src/probes/traffic/layout.js';
import { describeRoot } from '../helpers/root.js';

const OBJ = 'bpf/build/traffic.bpf.o';
const TC_ACT_UNSPEC = -1;
const ETH_HLEN = 14;
const SIZEOF_SK_BUFF = 192; // struct __sk_buff (BTF of traffic.bpf.o, checked below)
const SK_BUFF_IFINDEX = 40; // offsetof(struct __sk_buff, ifindex)

// --- packet crafting (checksums are not checked on this path; lengths are consistent) ------------

function eth(type: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(ETH_HLEN);
  Buffer.from([0x02, 0, 0, 0, 0, 0x02]).copy(h, 0); // dst: locally administered
  Buffer.from([0x02, 0, 0, 0, 0, 0x01]).copy(h, 6); // src
  h.writeUInt16BE(type, 12);
  return Buffer.concat([h, payload]);
}

function ipv4(proto: number, l4: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45; // version 4, IHL 5
  h.writeUInt16BE(20 + l4.length, 2);
  h[8] = 64; // TTL
  h[9] = proto;
  Buffer.from([10, 0, 0, 1]).copy(h, 12);
  Buffer.from([10, 0, 0, 2]).copy(h, 16);
  return Buffer.concat([h, l4]);
}

function ipv6(next: number, l4: Buffer): Buffer {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(l4.length, 4);
  h[6] = next;
  h[7] = 64;
  h[23] = 1; // src ::1
  h[39] = 1; // dst ::1
  return Buffer.concat([h, l4]);
}

function tcpSyn(): Buffer {
  const t = Buffer.alloc(20);
  t.writeUInt16BE(40000, 0);
  t.writeUInt16BE(80, 2);
  t[12] = 0x50; // data offset 5
  t[13] = 0x02; // SYN
  t.writeUInt16BE(65535, 14);
  return t;
}

function udp(payload: Buffer): Buffer {
  const u = Buffer.alloc(8);
  u.writeUInt16BE(40000, 0);
  u.writeUInt16BE(53, 2);
  u.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([u, payload]);
}

/** IPv4 header only; its total length says 40 (20 bytes of TCP are missing). */
function truncatedIpv4(): Buffer {
  const h = ipv4(6, Buffer.alloc(0));
  h.writeUInt16BE(40, 2);
  return h;
}

function arpRequest(): Buffer {
  const a = Buffer.alloc(28);
  a.writeUInt16BE(1, 0); // htype ethernet
  a.writeUInt16BE(0x0800, 2); // ptype IPv4
  a[4] = 6; a[5] = 4;
  a.writeUInt16BE(1, 6); // request
  return a;
}

const PACKETS = {
  'IPv4/TCP SYN': eth(0x0800, ipv4(6, tcpSyn())), // 54 B
  'IPv6/UDP': eth(0x86dd, ipv6(17, udp(Buffer.from('fovea-test-run')))), // 76 B
  'Ethernet header only (ethertype 0x88b5, local experimental)': eth(0x88b5, Buffer.alloc(0)), // 14 B
  'IPv4 header only, total length claims 40 (truncated TCP)': eth(0x0800, truncatedIpv4()), // 34 B
  'ARP (not IP)': eth(0x0806, arpRequest()), // 42 B
} as const;

function countsByIfindex(map: BpfMap): Map<number, InterfaceCount> {
  return new Map(decodeTrafficCounts(map.readAll()).map((c) => [c.ifindex, c]));
}

function skbCtx(ifindex: number): Buffer {
  const c = Buffer.alloc(SIZEOF_SK_BUFF);
  c.writeUInt32LE(ifindex, SK_BUFF_IFINDEX);
  return c;
}

describeRoot('traffic tc programs under BPF_PROG_TEST_RUN', 'loading eBPF programs needs root', () => {
  let obj: BpfObject;
  let counts: BpfMap;

  beforeAll(() => {
    obj = BpfObject.open(OBJ);
    obj.load();
    counts = obj.map('traffic_counts');
  });
  afterAll(() => obj?.close());

  it('every crafted packet: TC_ACT_UNSPEC, and exactly one packet + its length counted, per direction (on lo)', () => {
    for (const [dir, prog] of [['ingress', 'traffic_ingress'], ['egress', 'traffic_egress']] as const) {
      for (const [name, data] of Object.entries(PACKETS)) {
        const before = countsByIfindex(counts).get(1);
        const r = testRun(obj.program(prog), { data });
        expect(r.retval, `${prog} ${name}`).toBe(TC_ACT_UNSPEC);
        const after = countsByIfindex(counts).get(1)!;
        const d = (k: Exclude<keyof InterfaceCount, 'ifindex'>): bigint => after[k] - (before?.[k] ?? 0n);
        const expected = dir === 'ingress'
          ? { rxPackets: 1n, rxBytes: BigInt(data.length), txPackets: 0n, txBytes: 0n }
          : { rxPackets: 0n, rxBytes: 0n, txPackets: 1n, txBytes: BigInt(data.length) };
        expect({ rxPackets: d('rxPackets'), rxBytes: d('rxBytes'), txPackets: d('txPackets'), txBytes: d('txBytes') }, `${prog} ${name}`)
          .toEqual(expected);
      }
    }
    // the counters landed on ifindex 1 (the test-run skb's device is the netns loopback) only
    expect([...countsByIfindex(counts).keys()]).toEqual([1]);
  });

  it('repeat=N counts N runs and N × length', () => {
    const data = PACKETS['IPv4/TCP SYN'];
    const before = countsByIfindex(counts).get(1)!;
    const r = testRun(obj.program('traffic_ingress'), { data, repeat: 1000 });
    expect(r.retval).toBe(TC_ACT_UNSPEC);
    const after = countsByIfindex(counts).get(1)!;
    expect(after.rxPackets - before.rxPackets).toBe(1000n);
    expect(after.rxBytes - before.rxBytes).toBe(1000n * BigInt(data.length));
    expect(after.txPackets).toBe(before.txPackets);
  });

  it('the minimum input is ETH_HLEN, plus the fixed IP header when the ethertype says IP: shorter is EINVAL, nothing counted', () => {
    const refused = (data: Buffer): string | undefined => {
      try {
        testRun(obj.program('traffic_ingress'), { data });
        return undefined;
      } catch (e) {
        expect(e).toBeInstanceOf(BpfError);
        return (e as BpfError).code;
      }
    };
    const before = countsByIfindex(counts).get(1)!;
    for (const size of [0, 1, 13]) expect(refused(Buffer.alloc(size, 0xff)), `${size} bytes`).toBe('EINVAL');
    // an IPv4 ethertype with less than a full IPv4 header, and IPv6 with less than 40 bytes of header
    expect(refused(eth(0x0800, Buffer.alloc(0))), 'IPv4 ethertype, 14 B').toBe('EINVAL');
    expect(refused(eth(0x0800, Buffer.alloc(19, 0x45))), 'IPv4 ethertype, 33 B').toBe('EINVAL');
    expect(refused(eth(0x86dd, Buffer.alloc(39, 0x60))), 'IPv6 ethertype, 53 B').toBe('EINVAL');
    expect(countsByIfindex(counts).get(1)).toEqual(before);
    // exactly ETH_HLEN bytes of garbage (ethertype 0xffff) are accepted and counted
    expect(refused(Buffer.alloc(ETH_HLEN, 0xff))).toBeUndefined();
    expect(countsByIfindex(counts).get(1)!.rxPackets).toBe(before.rxPackets + 1n);
    expect(countsByIfindex(counts).get(1)!.rxBytes).toBe(before.rxBytes + BigInt(ETH_HLEN));
  });

  const other = listInterfaces().find((i) => i.ifindex > 1);
  it.skipIf(!other)(`a __sk_buff ctx with ifindex moves the counters to that interface${other ? '' : ' — skipped: only lo here'}`, () => {
    if (!other) return;
    const btf = Btf.parse(OBJ);
    try {
      const skb = btf.structLayout('__sk_buff')!;
      expect(skb.size).toBe(SIZEOF_SK_BUFF);
      expect(skb.members.find((m) => m.name === 'ifindex')?.offset).toBe(SK_BUFF_IFINDEX);
    } finally {
      btf.close();
    }
    const data = PACKETS['IPv6/UDP'];
    const before = countsByIfindex(counts).get(other.ifindex);
    const r = testRun(obj.program('traffic_egress'), { data, ctx: skbCtx(other.ifindex) });
    expect(r.retval).toBe(TC_ACT_UNSPEC);
    const after = countsByIfindex(counts).get(other.ifindex)!;
    expect(after.txPackets - (before?.txPackets ?? 0n)).toBe(1n);
    expect(after.txBytes - (before?.txBytes ?? 0n)).toBe(BigInt(data.length));
  });

  it('no record failures on the way', () => {
    const f = readFailureCounters(obj.map('traffic_errors'), TRAFFIC_ERRORS, TRAFFIC_ERRORS_LOSING);
    expect(f).toEqual([{ kind: 'map_full', count: 0, lost: true }, { kind: 'update_failed', count: 0, lost: true }, { kind: 'flow_insert_failed', count: 0, lost: true }]);
  });
});

describeRoot('traffic tc programs: the fast-path slot', 'loading eBPF programs needs root', () => {
  it('an interface owning its slot is counted there (not in the hash map); a slot owned by another ifindex is ignored', () => {
    const obj = BpfObject.open(OBJ);
    try {
      obj.load();
      const slots = obj.map('traffic_slots');
      const counts = obj.map('traffic_counts');
      const data = PACKETS['IPv4/TCP SYN'];
      // slot of ifindex 1 owned by ifindex 1 + TRAFFIC_SLOTS (same slot): lo must use the hash map
      slots.update(encodeTrafficKey(slotOf(1)), encodeTrafficSlot(1 + TRAFFIC_SLOTS, slots.cpus, slots.valueStride));
      expect(testRun(obj.program('traffic_ingress'), { data, repeat: 3 }).retval).toBe(TC_ACT_UNSPEC);
      expect(decodeTrafficSlots(slots.readAll())).toEqual([{ ifindex: 1 + TRAFFIC_SLOTS, rxPackets: 0n, txPackets: 0n, rxBytes: 0n, txBytes: 0n }]);
      expect(countsByIfindex(counts).get(1)?.rxPackets).toBe(3n);
      // now lo owns its slot: counted there, the hash entry stays as it was
      slots.update(encodeTrafficKey(slotOf(1)), encodeTrafficSlot(1, slots.cpus, slots.valueStride));
      expect(testRun(obj.program('traffic_egress'), { data, repeat: 7 }).retval).toBe(TC_ACT_UNSPEC);
      expect(testRun(obj.program('traffic_ingress'), { data, repeat: 2 }).retval).toBe(TC_ACT_UNSPEC);
      const slot = decodeTrafficSlots(slots.readAll());
      expect(slot).toEqual([{ ifindex: 1, rxPackets: 2n, txPackets: 7n, rxBytes: 2n * BigInt(data.length), txBytes: 7n * BigInt(data.length) }]);
      expect(countsByIfindex(counts).get(1)?.rxPackets).toBe(3n);
      // what the probe exports is the sum of both
      const merged = mergeCounts(slot, decodeTrafficCounts(counts.readAll()));
      expect(merged.find((c) => c.ifindex === 1)?.rxPackets).toBe(5n);
    } finally {
      obj.close();
    }
  });
});

describeRoot('traffic tc programs: traffic_counts full', 'loading eBPF programs needs root', () => {
  it('a packet on an interface with no room: counted in traffic_errors[map_full], verdict unchanged, nothing else breaks', () => {
    const obj = BpfObject.open(OBJ);
    try {
      obj.map('traffic_counts').setMaxEntries(1);
      obj.load();
      const counts = obj.map('traffic_counts');
      expect(counts.maxEntries).toBe(1);
      // the one slot is taken by another interface (as the agent pre-inserts attached ones)
      counts.update(encodeTrafficKey(4242), Buffer.alloc(counts.valueStride), 1 /* BPF_NOEXIST */);
      const data = PACKETS['IPv4/TCP SYN'];
      for (let i = 0; i < 3; i++) {
        expect(testRun(obj.program('traffic_ingress'), { data }).retval).toBe(TC_ACT_UNSPEC);
      }
      expect(testRun(obj.program('traffic_egress'), { data, repeat: 5 }).retval).toBe(TC_ACT_UNSPEC);
      const f = readFailureCounters(obj.map('traffic_errors'), TRAFFIC_ERRORS, TRAFFIC_ERRORS_LOSING);
      expect(f).toEqual([{ kind: 'map_full', count: 8, lost: true }, { kind: 'update_failed', count: 0, lost: true }, { kind: 'flow_insert_failed', count: 0, lost: true }]);
      // the existing entry is untouched and lo got none
      expect(decodeTrafficCounts(counts.readAll())).toEqual([{ ifindex: 4242, rxPackets: 0n, txPackets: 0n, rxBytes: 0n, txBytes: 0n }]);
    } finally {
      obj.close();
    }
  });
});

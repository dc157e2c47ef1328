/**
 * Flow records of the traffic probe (TRAFFIC_F_FLOWS → traffic_flows), against the kernel.
 *
 * 1. BPF_PROG_TEST_RUN on bpf/build/traffic.bpf.o loaded directly, with lo's fast-path slot (the
 *    test-run skb's device is the netns loopback, ifindex 1) flagged: crafted packets → exactly
 *    the records the parser should make (5-tuple, direction, flags OR, first/last seen), odd and
 *    truncated ones included; no flag → no record; a tiny LRU → bounded, counted evictions.
 * 2. The real TrafficProbe on a veth pair into a private netns, trackFlows selecting that veth:
 *    N UDP datagrams of a known 5-tuple from the netns → one ingress record of N packets, the
 *    same as `ip -s link` of the host-side veth; deleteFlows removes it.
 *
 * Root only; skips with the reason elsewhere, fails in CI.
 */
import { createSocket, type Socket } from 'node:dgram';
import { writeFile } from 'node:fs/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkStats } from '../../src/lab/kernel-truth.js';
import { run } from '../../src/lab/run.js';
import type { BpfMap } from '../../src/kernel/map.js';
import { BpfObject } from '../../src/kernel/object.js';
import { testRun } from '../../src/kernel/test-run.js';
import { INSTRUMENTS, ATTR, DIRECTION } from '../../src/names.js';
import { readFailureCounters } from '../../src/probes/counters.js';
import {
  TRAFFIC_EGRESS, TRAFFIC_ERRORS, TRAFFIC_ERRORS_LOSING, TRAFFIC_F_FLOWS, TRAFFIC_INGRESS, TRAFFIC_SLOTS, TRAFFIC_STATS,
  decodeFlows, decodeTrafficCounts, decodeTrafficSlots, encodeTrafficKey, encodeTrafficSlot, encodeTrafficValue, slotOf,
  type FlowRecord,
} from '../../src/probes/traffic/layout.js';
import { TrafficProbe } from '../../src/probes/traffic/probe.js';
import type { ProbeSettings } from '../../src/probes/types.js';
import { describeRoot } from '../helpers/root.js';

const OBJ = 'bpf/build/traffic.bpf.o';
const TC_ACT_UNSPEC = -1;
const LO = 1;
const TCP = 6;
const UDP = 17;
const TCP_SYN = 0x02;
const TCP_ACK = 0x10;
/** the flow records' clock lags by at most one timer tick (bpf/traffic.bpf.c tick_clock_ns): 1/CONFIG_HZ, ≤ 10 ms for HZ ≥ 100 */
const TICK_MAX_NS = 10_000_000n;

// --- packet crafting (checksums are not checked on this path; lengths are consistent) ------------

const v4 = (ip: string): Buffer => Buffer.from(ip.split('.').map(Number));
const v6 = (ip: string): Buffer => {
  // test addresses are written out in full here ("2001:db8:0:0:0:0:0:1") to keep this trivial
  const b = Buffer.alloc(16);
  ip.split(':').forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), 2 * i));
  return b;
};

function eth(type: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(14);
  Buffer.from([0x02, 0, 0, 0, 0, 0x02]).copy(h, 0);
  Buffer.from([0x02, 0, 0, 0, 0, 0x01]).copy(h, 6);
  h.writeUInt16BE(type, 12);
  return Buffer.concat([h, payload]);
}

function ipv4(o: { proto: number; src: string; dst: string; l4: Buffer; fragOff?: number; totalLen?: number }): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45; // version 4, IHL 5
  h.writeUInt16BE(o.totalLen ?? 20 + o.l4.length, 2);
  h.writeUInt16BE(o.fragOff ?? 0, 6); // flags (3 bits) + fragment offset (13 bits, 8-byte units)
  h[8] = 64;
  h[9] = o.proto;
  v4(o.src).copy(h, 12);
  v4(o.dst).copy(h, 16);
  return eth(0x0800, Buffer.concat([h, o.l4]));
}

function ipv6(o: { next: number; src: string; dst: string; payload: Buffer }): Buffer {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(o.payload.length, 4);
  h[6] = o.next;
  h[7] = 64;
  v6(o.src).copy(h, 8);
  v6(o.dst).copy(h, 24);
  return eth(0x86dd, Buffer.concat([h, o.payload]));
}

function tcp(sport: number, dport: number, flags: number): Buffer {
  const t = Buffer.alloc(20);
  t.writeUInt16BE(sport, 0);
  t.writeUInt16BE(dport, 2);
  t[12] = 0x50; // data offset 5
  t[13] = flags;
  t.writeUInt16BE(65535, 14);
  return t;
}

function udp(sport: number, dport: number, payload = Buffer.from('fovea-flow')): Buffer {
  const u = Buffer.alloc(8);
  u.writeUInt16BE(sport, 0);
  u.writeUInt16BE(dport, 2);
  u.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([u, payload]);
}

/**
 * IPv6 hop-by-hop / destination options header: (hdrlen + 1) * 8 bytes, padded with one PadN
 * option whose content is 0xa5 (receivers ignore it; not zero, so that a parser stepping a wrong
 * length lands on bytes that do not happen to look like a valid header).
 */
function optionsHeader(next: number, hdrlen: number, rest: Buffer): Buffer {
  const h = Buffer.alloc((hdrlen + 1) * 8, 0xa5);
  h[0] = next;
  h[1] = hdrlen;
  h[2] = 1; // PadN
  h[3] = h.length - 4;
  return Buffer.concat([h, rest]);
}

/** IPv6 fragment header (8 bytes): offset in 8-byte units, M flag. */
function fragmentHeader(next: number, offset: number, more: boolean, rest: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = next;
  h.writeUInt16BE((offset << 3) | (more ? 1 : 0), 2);
  h.writeUInt32LE(0xf0ea, 4);
  return Buffer.concat([h, rest]);
}

function arpRequest(): Buffer {
  const a = Buffer.alloc(28);
  a.writeUInt16BE(1, 0);
  a.writeUInt16BE(0x0800, 2);
  a[4] = 6; a[5] = 4;
  a.writeUInt16BE(1, 6);
  return eth(0x0806, a);
}

// --- map helpers ------------------------------------------------------------------------------

function flowsCreated(obj: BpfObject): number {
  return readFailureCounters(obj.map('traffic_stats'), TRAFFIC_STATS, new Set()).find((c) => c.kind === 'flows_created')!.count;
}

function lostRecords(obj: BpfObject): Array<[string, number]> {
  return readFailureCounters(obj.map('traffic_errors'), TRAFFIC_ERRORS, TRAFFIC_ERRORS_LOSING).map((f) => [f.kind, f.count]);
}

/** Owns lo's fast-path slot with `flags` (as the agent does when it attaches). */
function claimLoSlot(obj: BpfObject, flags: number): BpfMap {
  const slots = obj.map('traffic_slots');
  slots.update(encodeTrafficKey(slotOf(LO)), encodeTrafficSlot(LO, slots.cpus, slots.valueStride, flags));
  return slots;
}

const matching = (flows: FlowRecord[], want: Partial<FlowRecord>): FlowRecord[] =>
  flows.filter((f) => Object.entries(want).every(([k, v]) => f[k as keyof FlowRecord] === v));

function ingress(obj: BpfObject, data: Buffer, repeat = 1): void {
  expect(testRun(obj.program('traffic_ingress'), { data, repeat }).retval).toBe(TC_ACT_UNSPEC);
}

describeRoot('flow records under BPF_PROG_TEST_RUN (lo slot flagged TRAFFIC_F_FLOWS)', 'loading eBPF programs needs root', () => {
  let obj: BpfObject;
  let flowMap: BpfMap;
  const flows = (): FlowRecord[] => decodeFlows(flowMap.readAll());

  beforeAll(() => {
    obj = BpfObject.open(OBJ);
    obj.load();
    flowMap = obj.map('traffic_flows');
    claimLoSlot(obj, TRAFFIC_F_FLOWS);
  });
  afterAll(() => obj?.close());

  it('IPv4/TCP: SYN then a SYN+ACK-flagged packet of the same 5-tuple → one record: 2 packets, bytes summed, flags OR 0x12', () => {
    const syn = ipv4({ proto: TCP, src: '10.0.0.1', dst: '10.0.0.2', l4: tcp(40000, 80, TCP_SYN) });
    const synAck = ipv4({ proto: TCP, src: '10.0.0.1', dst: '10.0.0.2', l4: tcp(40000, 80, TCP_SYN | TCP_ACK) });
    const t0 = process.hrtime.bigint(); // CLOCK_MONOTONIC, like bpf_ktime_get_ns()
    ingress(obj, syn);
    ingress(obj, synAck);
    const t1 = process.hrtime.bigint();
    const rec = matching(flows(), { proto: TCP, sport: 40000 });
    expect(rec).toHaveLength(1);
    const r = rec[0]!;
    expect(r).toMatchObject({
      src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 80, proto: TCP, ipVersion: 4, ifindex: LO,
      direction: TRAFFIC_INGRESS, packets: 2n, bytes: BigInt(syn.length + synAck.length), tcpFlags: 0x12,
    });
    // the records' clock is read once per timer tick per CPU: never ahead, at most a tick behind
    expect(r.firstSeenNs).toBeGreaterThanOrEqual(t0 - TICK_MAX_NS);
    expect(r.firstSeenNs).toBeLessThanOrEqual(r.lastSeenNs);
    expect(r.lastSeenNs).toBeLessThanOrEqual(t1);
    // IPv4-mapped in the raw key
    expect(r.key.subarray(0, 16).toString('hex')).toBe('00000000000000000000ffff0a000001');
  });

  it('first and last seen follow CLOCK_MONOTONIC to within a timer tick: a packet, a pause, another packet', async () => {
    const p = ipv4({ proto: TCP, src: '10.0.0.1', dst: '10.0.0.2', l4: tcp(40009, 80, TCP_ACK) });
    const t0 = process.hrtime.bigint();
    ingress(obj, p);
    const t1 = process.hrtime.bigint();
    const [first] = matching(flows(), { sport: 40009 });
    expect(first!.firstSeenNs).toBe(first!.lastSeenNs);
    expect(first!.firstSeenNs).toBeGreaterThanOrEqual(t0 - TICK_MAX_NS);
    expect(first!.firstSeenNs).toBeLessThanOrEqual(t1);
    await new Promise((r) => setTimeout(r, 50)); // several ticks at any CONFIG_HZ
    const t2 = process.hrtime.bigint();
    ingress(obj, p);
    const t3 = process.hrtime.bigint();
    const [second] = matching(flows(), { sport: 40009 });
    expect(second!.packets).toBe(2n);
    expect(second!.firstSeenNs).toBe(first!.firstSeenNs);
    expect(second!.lastSeenNs).toBeGreaterThanOrEqual(t2 - TICK_MAX_NS);
    expect(second!.lastSeenNs).toBeLessThanOrEqual(t3);
    expect(second!.lastSeenNs - first!.lastSeenNs).toBeGreaterThanOrEqual(50_000_000n - TICK_MAX_NS);
  });

  it('the same 5-tuple at egress is another record (direction is part of the key)', () => {
    const p = ipv4({ proto: TCP, src: '10.0.0.1', dst: '10.0.0.2', l4: tcp(40001, 80, TCP_ACK) });
    ingress(obj, p);
    expect(testRun(obj.program('traffic_egress'), { data: p, repeat: 3 }).retval).toBe(TC_ACT_UNSPEC);
    const rec = matching(flows(), { sport: 40001 });
    expect(rec.map((f) => [f.direction, f.packets, f.tcpFlags]).sort()).toEqual([[TRAFFIC_INGRESS, 1n, TCP_ACK], [TRAFFIC_EGRESS, 3n, TCP_ACK]]);
  });

  it('IPv6/UDP → a record with the IPv6 addresses, RFC 5952 text', () => {
    const p = ipv6({ next: UDP, src: '2001:db8:0:0:0:0:0:1', dst: 'fd00:f0ea:0:0:0:0:0:2', payload: udp(40100, 53) });
    ingress(obj, p, 5);
    const rec = matching(flows(), { sport: 40100 });
    expect(rec).toHaveLength(1);
    expect(rec[0]).toMatchObject({
      src: '2001:db8::1', dst: 'fd00:f0ea::2', dport: 53, proto: UDP, ipVersion: 6, direction: TRAFFIC_INGRESS,
      packets: 5n, bytes: BigInt(5 * p.length), tcpFlags: 0,
    });
  });

  it('IPv4 fragments: the first (MF, offset 0) has ports; a non-first one has none (ports 0)', () => {
    const first = ipv4({ proto: UDP, src: '10.0.1.1', dst: '10.0.1.2', l4: udp(40200, 5353), fragOff: 0x2000 /* MF */ });
    // offset 185 × 8: the "ports" at the start of the payload are somebody's data
    const later = ipv4({ proto: UDP, src: '10.0.1.1', dst: '10.0.1.2', l4: udp(40299, 9999), fragOff: 185 });
    ingress(obj, first);
    ingress(obj, later);
    const rec = matching(flows(), { src: '10.0.1.1' });
    expect(rec.map((f) => [f.sport, f.dport, f.packets]).sort()).toEqual([[0, 0, 1n], [40200, 5353, 1n]]);
  });

  it('IPv6 with a hop-by-hop header before UDP: ports found behind it', () => {
    const p = ipv6({ next: 0, src: '2001:db8:0:0:0:0:1:1', dst: '2001:db8:0:0:0:0:1:2', payload: optionsHeader(UDP, 0, udp(40300, 443)) });
    ingress(obj, p);
    expect(matching(flows(), { src: '2001:db8::1:1' })).toMatchObject([{ sport: 40300, dport: 443, proto: UDP, packets: 1n }]);
  });

  it('IPv6 with a 16-byte hop-by-hop header, then a destination-options header, then TCP: ports and flags found', () => {
    const p = ipv6({
      next: 0, src: '2001:db8:0:0:0:0:2:1', dst: '2001:db8:0:0:0:0:2:2',
      payload: optionsHeader(60, 1, optionsHeader(TCP, 0, tcp(40400, 22, TCP_SYN))),
    });
    ingress(obj, p);
    expect(matching(flows(), { src: '2001:db8::2:1' })).toMatchObject([{ sport: 40400, dport: 22, proto: TCP, tcpFlags: TCP_SYN }]);
  });

  it('IPv6 with a 16-byte hop-by-hop header then a first fragment: the hop-by-hop length is its own, not 8 — ports found', () => {
    const p = ipv6({
      next: 0, src: '2001:db8:0:0:0:0:3:1', dst: '2001:db8:0:0:0:0:3:2',
      payload: optionsHeader(44, 1, fragmentHeader(UDP, 0, true, udp(40500, 4789))),
    });
    ingress(obj, p);
    expect(matching(flows(), { src: '2001:db8::3:1' })).toMatchObject([{ sport: 40500, dport: 4789, proto: UDP }]);
  });

  it('IPv6 non-first fragment: ports 0, protocol the fragment\'s', () => {
    const p = ipv6({ next: 44, src: '2001:db8:0:0:0:0:4:1', dst: '2001:db8:0:0:0:0:4:2', payload: fragmentHeader(UDP, 100, false, udp(40600, 53)) });
    ingress(obj, p);
    expect(matching(flows(), { src: '2001:db8::4:1' })).toMatchObject([{ sport: 0, dport: 0, proto: UDP }]);
  });

  it('truncated TCP (IP header only, total length says 40): a record with ports 0 and no flags', () => {
    const p = ipv4({ proto: TCP, src: '10.0.2.1', dst: '10.0.2.2', l4: Buffer.alloc(0), totalLen: 40 });
    ingress(obj, p);
    expect(matching(flows(), { src: '10.0.2.1' })).toMatchObject([{ sport: 0, dport: 0, proto: TCP, tcpFlags: 0, packets: 1n, bytes: BigInt(p.length) }]);
  });

  it('TCP cut after the ports (14 bytes short of the flags byte): ports found, flags 0', () => {
    const p = ipv4({ proto: TCP, src: '10.0.3.1', dst: '10.0.3.2', l4: tcp(40700, 8080, TCP_SYN).subarray(0, 4), totalLen: 40 });
    ingress(obj, p);
    expect(matching(flows(), { src: '10.0.3.1' })).toMatchObject([{ sport: 40700, dport: 8080, tcpFlags: 0 }]);
  });

  it('ARP and a bare Ethernet header: counted, but no record', () => {
    const before = flows().length;
    const c0 = decodeTrafficSlots(obj.map('traffic_slots').readAll()).find((c) => c.ifindex === LO)!;
    ingress(obj, arpRequest());
    ingress(obj, eth(0x88b5, Buffer.alloc(0)));
    const c1 = decodeTrafficSlots(obj.map('traffic_slots').readAll()).find((c) => c.ifindex === LO)!;
    expect(c1.rxPackets - c0.rxPackets).toBe(2n);
    expect(flows()).toHaveLength(before);
  });

  it('flows_created equals the number of distinct records; nothing lost', () => {
    const n = flows().length;
    expect(n).toBe(13);
    expect(flowsCreated(obj)).toBe(n);
    expect(lostRecords(obj)).toEqual([['map_full', 0], ['update_failed', 0], ['flow_insert_failed', 0]]);
  });
});

describeRoot('flow records off: no flag, no record', 'loading eBPF programs needs root', () => {
  it('slot without TRAFFIC_F_FLOWS: counters count, traffic_flows stays empty, flows_created 0', () => {
    const obj = BpfObject.open(OBJ);
    try {
      obj.load();
      const slots = claimLoSlot(obj, 0);
      const p = ipv4({ proto: TCP, src: '10.0.0.1', dst: '10.0.0.2', l4: tcp(40000, 80, TCP_SYN) });
      ingress(obj, p, 4);
      ingress(obj, ipv6({ next: UDP, src: '0:0:0:0:0:0:0:1', dst: '0:0:0:0:0:0:0:1', payload: udp(1, 2) }));
      expect(decodeTrafficSlots(slots.readAll())).toMatchObject([{ ifindex: LO, rxPackets: 5n }]);
      expect(obj.map('traffic_flows').readAll().count).toBe(0);
      expect(flowsCreated(obj)).toBe(0);
    } finally {
      obj.close();
    }
  });

  it('the hash path reads the flag too: lo in traffic_counts with TRAFFIC_F_FLOWS → records; without → none', () => {
    const obj = BpfObject.open(OBJ);
    try {
      obj.load();
      const slots = obj.map('traffic_slots');
      const counts = obj.map('traffic_counts');
      // lo's slot belongs to another interface: lo is counted in the hash map
      slots.update(encodeTrafficKey(slotOf(LO)), encodeTrafficSlot(LO + TRAFFIC_SLOTS, slots.cpus, slots.valueStride));
      counts.update(encodeTrafficKey(LO), encodeTrafficValue(counts.cpus, counts.valueStride, TRAFFIC_F_FLOWS), 1 /* NOEXIST */);
      ingress(obj, ipv4({ proto: UDP, src: '10.9.0.1', dst: '10.9.0.2', l4: udp(1000, 2000) }), 2);
      expect(decodeFlows(obj.map('traffic_flows').readAll())).toMatchObject([{ src: '10.9.0.1', sport: 1000, ifindex: LO, packets: 2n }]);
      // flag cleared (as the agent does when an interface stops being a pod's): counted, not recorded
      counts.update(encodeTrafficKey(LO), encodeTrafficValue(counts.cpus, counts.valueStride, 0));
      ingress(obj, ipv4({ proto: UDP, src: '10.9.0.1', dst: '10.9.0.2', l4: udp(1000, 2000) }), 3);
      expect(decodeFlows(obj.map('traffic_flows').readAll())).toMatchObject([{ packets: 2n }]);
      expect(decodeTrafficCounts(counts.readAll())).toMatchObject([{ ifindex: LO, rxPackets: 3n }]); // value rewritten: 0 + 3
    } finally {
      obj.close();
    }
  });
});

describeRoot('flow records: LRU full', 'loading eBPF programs needs root', () => {
  const MAX = 16;
  const DISTINCT = 300;

  it(`traffic_flows of ${MAX}: ${DISTINCT} distinct flows → never more than ${MAX} live, every packet counted, evictions = created − live`, () => {
    const obj = BpfObject.open(OBJ);
    try {
      obj.map('traffic_flows').setMaxEntries(MAX);
      obj.load();
      const flowMap = obj.map('traffic_flows');
      expect(flowMap.maxEntries).toBe(MAX); // common LRU (not BPF_F_NO_COMMON_LRU): no rounding to the CPU count
      const slots = claimLoSlot(obj, TRAFFIC_F_FLOWS);
      let maxLive = 0;
      for (let i = 0; i < DISTINCT; i++) {
        ingress(obj, ipv4({ proto: UDP, src: '10.8.0.1', dst: '10.8.0.2', l4: udp(10000 + i, 53) }));
        if (i % 10 === 9) maxLive = Math.max(maxLive, flowMap.readAll().count);
      }
      const live = decodeFlows(flowMap.readAll());
      maxLive = Math.max(maxLive, live.length);
      expect(maxLive).toBeLessThanOrEqual(MAX);
      expect(live.length).toBeGreaterThan(0);
      // the interface counters do not depend on the flow table
      expect(decodeTrafficSlots(slots.readAll())).toMatchObject([{ ifindex: LO, rxPackets: BigInt(DISTINCT) }]);
      // LRU inserts evict instead of failing: every distinct flow was created once
      const created = flowsCreated(obj);
      expect(created).toBe(DISTINCT);
      expect(lostRecords(obj)).toEqual([['map_full', 0], ['update_failed', 0], ['flow_insert_failed', 0]]);
      // TrafficProbe.flowStats arithmetic (nothing deleted by user space here)
      const evicted = created - 0 - live.length;
      expect(evicted).toBeGreaterThanOrEqual(DISTINCT - MAX);
      // the survivors are the most recent flows, each with its one packet
      for (const f of live) {
        expect(f.packets).toBe(1n);
        expect(f.sport).toBeGreaterThanOrEqual(10000);
      }
      expect(Math.max(...live.map((f) => f.sport))).toBe(10000 + DISTINCT - 1);
    } finally {
      obj.close();
    }
  });
});

// --- the real probe on a veth ------------------------------------------------------------------

const TAG = process.pid % 100000;
const NS = `fvft-${TAG}`;
const VETH_HOST = `fvft${TAG}h`; // <= 15 chars
const VETH_NS = `fvft${TAG}n`;
const HOST_IP = '10.213.61.1';
const NS_IP = '10.213.61.2';
const HOST_MAC = '02:f0:0f:7e:00:01';
const NS_MAC = '02:f0:0f:7e:00:02';
const SPORT = 41234;
const DPORT = 41235;
const N = 200;

describeRoot('flow records through TrafficProbe on a veth (trackFlows)', 'attaching tc programs needs root', () => {
  let probe: TrafficProbe;
  let rx: Socket;
  let received = 0;
  let hostIfindex = 0;

  beforeAll(async () => {
    await run(['ip', 'link', 'del', VETH_HOST], { allowFail: true });
    await run(['ip', 'netns', 'del', NS], { allowFail: true });
    await run(['ip', 'netns', 'add', NS]);
    await run(['ip', 'link', 'add', VETH_HOST, 'address', HOST_MAC, 'type', 'veth', 'peer', 'name', VETH_NS, 'address', NS_MAC, 'netns', NS]);
    // no IPv6 (RS/MLD) and permanent neighbours (no ARP): only our datagrams cross the veth
    await writeFile(`/proc/sys/net/ipv6/conf/${VETH_HOST}/disable_ipv6`, '1');
    await run(['ip', 'netns', 'exec', NS, 'sysctl', '-q', '-w', `net.ipv6.conf.${VETH_NS}.disable_ipv6=1`]);
    await run(['ip', '-n', NS, 'addr', 'add', `${NS_IP}/30`, 'dev', VETH_NS]);
    await run(['ip', '-n', NS, 'neigh', 'replace', HOST_IP, 'lladdr', HOST_MAC, 'dev', VETH_NS, 'nud', 'permanent']);
    await run(['ip', '-n', NS, 'link', 'set', VETH_NS, 'up']);
    await run(['ip', 'addr', 'add', `${HOST_IP}/30`, 'dev', VETH_HOST]);
    await run(['ip', 'neigh', 'replace', NS_IP, 'lladdr', NS_MAC, 'dev', VETH_HOST, 'nud', 'permanent']);
    await run(['ip', 'link', 'set', VETH_HOST, 'up']);
    const { stdout } = await run(['ip', '-j', 'link', 'show', 'dev', VETH_HOST]);
    hostIfindex = (JSON.parse(stdout) as Array<{ ifindex: number }>)[0]!.ifindex;

    rx = createSocket('udp4');
    rx.on('message', () => { received++; });
    await new Promise<void>((resolve) => rx.bind(DPORT, HOST_IP, resolve));

    const settings: ProbeSettings = {
      bpfObjectDir: 'bpf/build', interfaces: [VETH_HOST], excludeInterfaces: [], interfaceRescanIntervalMs: 60_000,
      trafficMaxInterfaces: 16, tcMode: 'auto', dropHook: 'auto', maxFlows: 1024,
      trackFlows: (i) => i.name === VETH_HOST,
    };
    probe = new TrafficProbe({ logger: pino({ level: 'silent' }), settings });
    probe.start();
  });

  afterAll(async () => {
    probe?.stop();
    rx?.close();
    await run(['ip', 'link', 'del', VETH_HOST], { allowFail: true });
    await run(['ip', 'netns', 'del', NS], { allowFail: true });
  });

  const rxPacketsOfVeth = (): number => {
    const fam = probe.collect().find((f) => f.instrument.name === INSTRUMENTS.packets.name);
    const s = fam?.series.find((x) => x.attributes[ATTR.interfaceName] === VETH_HOST && x.attributes[ATTR.ioDirection] === DIRECTION.receive);
    return s?.value ?? 0;
  };

  it('attached to the veth only, flows on', () => {
    expect([...probe.attachedInterfaces().values()]).toEqual([VETH_HOST]);
    expect(probe.status()).toMatchObject({ state: 'up' });
  });

  it(`${N} UDP datagrams sent by the netns → one ingress record of ${N} packets at the host-side veth, like ip -s link`, async () => {
    const link0 = await linkStats(VETH_HOST);
    const probe0 = rxPacketsOfVeth();
    const script = `
      const s = require('dgram').createSocket('udp4');
      s.bind(${SPORT}, '${NS_IP}', () => {
        let left = ${N};
        const next = () => { if (left-- === 0) return s.close(); s.send(Buffer.from('fovea-flow-veth'), ${DPORT}, '${HOST_IP}', next); };
        next();
      });`;
    await run(['ip', 'netns', 'exec', NS, process.execPath, '-e', script]);
    const deadline = Date.now() + 5_000;
    while (received < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(received).toBe(N);
    const link1 = await linkStats(VETH_HOST);

    const ours = matching(probe.readFlows(), { ifindex: hostIfindex, sport: SPORT, dport: DPORT });
    expect(ours).toHaveLength(1);
    const r = ours[0]!;
    expect(r).toMatchObject({ src: NS_IP, dst: HOST_IP, proto: UDP, ipVersion: 4, direction: TRAFFIC_INGRESS, packets: BigInt(N), tcpFlags: 0 });
    // the kernel's own counters of the same interface, same period: nothing else crossed it
    expect(link1.rxPackets - link0.rxPackets).toBe(N);
    expect(r.bytes).toBe(BigInt(link1.rxBytes - link0.rxBytes));
    expect(r.bytes).toBe(BigInt(N * (14 + 20 + 8 + 'fovea-flow-veth'.length)));
    expect(rxPacketsOfVeth() - probe0).toBe(N);
    // the host sent nothing back (the socket was listening): no egress record
    expect(matching(probe.readFlows(), { ifindex: hostIfindex, direction: TRAFFIC_EGRESS })).toEqual([]);
    expect(r.firstSeenNs).toBeLessThanOrEqual(r.lastSeenNs);
  });

  it('deleteFlows removes exactly that record; flowStats counts it as deleted, not evicted', () => {
    const all = probe.readFlows();
    const [r] = matching(all, { ifindex: hostIfindex, sport: SPORT });
    expect(r).toBeDefined();
    const before = probe.flowStats(all.length);
    probe.deleteFlows([r!.key]);
    const after = probe.readFlows();
    expect(matching(after, { sport: SPORT })).toEqual([]);
    expect(after).toHaveLength(all.length - 1);
    const stats = probe.flowStats(after.length);
    expect(stats).toEqual({ created: before.created, deleted: before.deleted + 1, live: after.length, evicted: 0 });
    expect(stats.created).toBeGreaterThanOrEqual(1);
    // deleting again is a no-op, not a second deletion
    probe.deleteFlows([r!.key]);
    expect(probe.flowStats(after.length).deleted).toBe(stats.deleted);
    expect(probe.recordFailures().filter((f) => f.count > 0)).toEqual([]);
  });
});

describeRoot('TrafficProbe rescans: on its own timer until the caller takes them over', 'loading tc programs needs root', () => {
  it('every interfaceRescanIntervalMs on its own; after leaveRescansToCaller (the agent in pod mode) only when the caller asks', async () => {
    const settings: ProbeSettings = {
      bpfObjectDir: 'bpf/build', interfaces: ['fvnomatch-*'], excludeInterfaces: [], interfaceRescanIntervalMs: 100,
      trafficMaxInterfaces: 16, tcMode: 'auto', dropHook: 'auto', maxFlows: 1024,
    };
    const probe = new TrafficProbe({ logger: pino({ level: 'silent' }), settings });
    let rescans = 0;
    probe.onRescan = () => { rescans++; };
    probe.start();
    try {
      await new Promise((r) => setTimeout(r, 550));
      expect(rescans, 'at start, then every 100 ms').toBeGreaterThanOrEqual(4);
      probe.leaveRescansToCaller();
      const before = rescans;
      await new Promise((r) => setTimeout(r, 350));
      expect(rescans, 'its own timer stopped').toBe(before);
      probe.safeRescan();
      expect(rescans).toBe(before + 1);
    } finally {
      probe.stop();
    }
  });
});

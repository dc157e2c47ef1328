/**
 * Traffic probe, user-space half: interface counters → metric families, and the interface
 * churn plan (attach / detach / rename). Pure functions and fake map handles; no kernel.
 */
import { describe, expect, it } from 'vitest';
import type { NetInterface } from '../../src/kernel/netdev.js';
import { ATTR, DIRECTION, INSTRUMENTS } from '../../src/names.js';
import { readFailureCounters } from '../../src/probes/counters.js';
import { planInterfaces } from '../../src/probes/traffic/interfaces.js';
import {
  TRAFFIC_ERRORS, TRAFFIC_ERRORS_LOSING, TRAFFIC_KEY, TRAFFIC_SLOT, TRAFFIC_SLOTS, TRAFFIC_VALUE, decodeTrafficCounts,
  decodeTrafficSlots, encodeTrafficKey, encodeTrafficSlot, mergeCounts, slotOf, type InterfaceCount,
} from '../../src/probes/traffic/layout.js';
import { trafficFamilies } from '../../src/probes/traffic/probe.js';
import { FakeMap, u64s } from '../helpers/fakes.js';

const rx = (name: string) => ({ [ATTR.interfaceName]: name, [ATTR.ioDirection]: DIRECTION.receive });
const tx = (name: string) => ({ [ATTR.interfaceName]: name, [ATTR.ioDirection]: DIRECTION.transmit });
const c = (ifindex: number, rxPackets: number, txPackets: number, rxBytes: number, txBytes: number): InterfaceCount => ({
  ifindex, rxPackets: BigInt(rxPackets), txPackets: BigInt(txPackets), rxBytes: BigInt(rxBytes), txBytes: BigInt(txBytes),
});

describe('trafficFamilies', () => {
  it('one receive and one transmit series per interface, exact values', () => {
    const fams = trafficFamilies([c(2, 10, 20, 1000, 2000), c(3, 1, 0, 60, 0)], new Map([[2, 'eth0'], [3, 'veth1']]));
    expect(fams).toEqual([
      { instrument: INSTRUMENTS.packets, series: [
        { attributes: rx('eth0'), value: 10 }, { attributes: tx('eth0'), value: 20 },
        { attributes: rx('veth1'), value: 1 }, { attributes: tx('veth1'), value: 0 },
      ] },
      { instrument: INSTRUMENTS.io, series: [
        { attributes: rx('eth0'), value: 1000 }, { attributes: tx('eth0'), value: 2000 },
        { attributes: rx('veth1'), value: 60 }, { attributes: tx('veth1'), value: 0 },
      ] },
    ]);
  });

  it('drops counters of interfaces not attached (no name): never exported with a number as label', () => {
    const fams = trafficFamilies([c(2, 1, 1, 1, 1), c(99, 5, 5, 5, 5)], new Map([[2, 'eth0']]));
    expect(fams[0]!.series.map((s) => s.attributes[ATTR.interfaceName])).toEqual(['eth0', 'eth0']);
  });

  it('zero-traffic interfaces still export (a new interface is visible at 0)', () => {
    const fams = trafficFamilies([c(4, 0, 0, 0, 0)], new Map([[4, 'eth1']]));
    expect(fams[0]!.series).toHaveLength(2);
  });

  it('from a fake per-CPU map: CPUs summed per direction', () => {
    const map = new FakeMap('traffic_counts', [
      //                                 packets[in], packets[out], bytes[in], bytes[out]
      { key: encodeTrafficKey(2), perCpuValues: [u64s(1, 2, 100, 200, 0), u64s(3, 4, 300, 400, 0)] },
    ], { keySize: TRAFFIC_KEY.size, valueSize: TRAFFIC_VALUE.size, cpus: 2 });
    const fams = trafficFamilies(decodeTrafficCounts(map.readAll()), new Map([[2, 'eth0']]));
    expect(fams[0]!.series.map((s) => s.value)).toEqual([4, 6]);
    expect(fams[1]!.series.map((s) => s.value)).toEqual([400, 600]);
  });

  it('fast-path slots: free slots skipped, owner from the slot, merged with hash entries of the same interface', () => {
    const slot = (owner: number, ...counters: number[]): Buffer => Buffer.concat([u32pair(owner), u64s(...counters, 0)]); // + flags/pad
    const slots = new FakeMap('traffic_slots', [
      { key: encodeTrafficKey(0), perCpuValues: [slot(0, 0, 0, 0, 0), slot(0, 0, 0, 0, 0)] },           // free
      { key: encodeTrafficKey(2), perCpuValues: [slot(2, 1, 2, 10, 20), slot(2, 1, 0, 10, 0)] },        // eth0
      { key: encodeTrafficKey(3), perCpuValues: [slot(1027, 5, 0, 50, 0), slot(1027, 0, 0, 0, 0)] },    // 1027 & 1023 = 3
    ], { keySize: 4, valueSize: TRAFFIC_SLOT.size, cpus: 2 });
    const hash = new FakeMap('traffic_counts', [
      { key: encodeTrafficKey(2), perCpuValues: [u64s(1, 1, 1, 1, 0), u64s(0, 0, 0, 0, 0)] },
    ], { keySize: TRAFFIC_KEY.size, valueSize: TRAFFIC_VALUE.size, cpus: 2 });
    expect(slotOf(1027)).toBe(3);
    expect(slotOf(2 + TRAFFIC_SLOTS)).toBe(2);
    const merged = mergeCounts(decodeTrafficSlots(slots.readAll()), decodeTrafficCounts(hash.readAll()));
    expect(merged).toEqual([
      { ifindex: 2, rxPackets: 3n, txPackets: 3n, rxBytes: 21n, txBytes: 21n },
      { ifindex: 1027, rxPackets: 5n, txPackets: 0n, rxBytes: 50n, txBytes: 0n },
    ]);
  });

  it('encodeTrafficSlot writes the owner into every CPU copy and zero counters', () => {
    const b = encodeTrafficSlot(7, 3, 3 * TRAFFIC_SLOT.size);
    for (let c = 0; c < 3; c++) {
      expect(b.readUInt32LE(c * TRAFFIC_SLOT.size + TRAFFIC_SLOT.ifindex)).toBe(7);
      expect(b.subarray(c * TRAFFIC_SLOT.size + 4, (c + 1) * TRAFFIC_SLOT.size).every((x) => x === 0)).toBe(true);
    }
  });
});

function u32pair(owner: number): Buffer {
  const b = Buffer.alloc(8); // __u32 ifindex, __u32 pad
  b.writeUInt32LE(owner, 0);
  return b;
}

describe('traffic_errors → record failures', () => {
  it('both kinds lose data', () => {
    const key = (i: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(i); return b; };
    const map = new FakeMap('traffic_errors', [
      { key: key(0), perCpuValues: [u64s(2)] },
      { key: key(1), perCpuValues: [u64s(0)] },
    ], { keySize: 4, valueSize: 8, cpus: 1 });
    expect(readFailureCounters(map, TRAFFIC_ERRORS, TRAFFIC_ERRORS_LOSING)).toEqual([
      { kind: 'map_full', count: 2, lost: true },
      { kind: 'update_failed', count: 0, lost: true },
    ]);
  });
});

describe('planInterfaces', () => {
  const i = (name: string, ifindex: number): NetInterface => ({ name, ifindex });
  const attachedOf = (...l: NetInterface[]) => new Map(l.map((x) => [x.ifindex, x]));
  const all = (n: string) => n !== 'lo';

  it('nothing attached yet: attaches every selected interface', () => {
    const p = planInterfaces(new Map(), [i('lo', 1), i('eth0', 2), i('veth1', 5)], all);
    expect(p).toEqual({ attach: [i('eth0', 2), i('veth1', 5)], detach: [], rename: [] });
  });

  it('steady state: no work', () => {
    const p = planInterfaces(attachedOf(i('eth0', 2)), [i('lo', 1), i('eth0', 2)], all);
    expect(p).toEqual({ attach: [], detach: [], rename: [] });
  });

  it('new interface appears: attaches it only', () => {
    const p = planInterfaces(attachedOf(i('eth0', 2)), [i('eth0', 2), i('vethab', 7)], all);
    expect(p).toEqual({ attach: [i('vethab', 7)], detach: [], rename: [] });
  });

  it('interface vanished: detach (its counters are forgotten)', () => {
    const p = planInterfaces(attachedOf(i('eth0', 2), i('vethab', 7)), [i('eth0', 2)], all);
    expect(p).toEqual({ attach: [], detach: [i('vethab', 7)], rename: [] });
  });

  it('renamed (same ifindex, new name, still selected): rename only, no re-attach', () => {
    const p = planInterfaces(attachedOf(i('eth0', 2)), [i('wan0', 2)], all);
    expect(p).toEqual({ attach: [], detach: [], rename: [i('wan0', 2)] });
  });

  it('renamed to a name the filter rejects: detach', () => {
    const sel = (n: string) => n.startsWith('eth');
    const p = planInterfaces(attachedOf(i('eth0', 2)), [i('wan0', 2)], sel);
    expect(p).toEqual({ attach: [], detach: [i('eth0', 2)], rename: [] });
  });

  it('deselected (configuration filter no longer matches): detach', () => {
    const p = planInterfaces(attachedOf(i('eth0', 2), i('eth1', 3)), [i('eth0', 2), i('eth1', 3)], (n) => n === 'eth0');
    expect(p).toEqual({ attach: [], detach: [i('eth1', 3)], rename: [] });
  });

  it('ifindex reused by a new interface with another name: keeps the slot, relabels it', () => {
    // veth 7 deleted and a new veth created that got index 7 between two rescans. By ifindex
    // alone this is indistinguishable from a rename: the plan relabels, and the counter (which
    // the kernel keeps by ifindex) continues. The SeriesProducer sees a *new* attribute set for
    // the new name, so no counter goes backwards under the old label.
    const p = planInterfaces(attachedOf(i('vethold', 7)), [i('vethnew', 7)], all);
    expect(p).toEqual({ attach: [], detach: [], rename: [i('vethnew', 7)] });
  });

  it('ifindex reused by an interface the filter rejects: detach, not rename', () => {
    const p = planInterfaces(attachedOf(i('veth1', 7)), [i('docker0', 7)], (n) => n.startsWith('veth'));
    expect(p).toEqual({ attach: [], detach: [i('veth1', 7)], rename: [] });
  });

  it('a retry-blocked ifindex is not attached until unblocked; others are', () => {
    const present = [i('eth0', 2), i('bad0', 9)];
    expect(planInterfaces(new Map(), present, all, new Set([9]))).toEqual({ attach: [i('eth0', 2)], detach: [], rename: [] });
    expect(planInterfaces(attachedOf(i('eth0', 2)), present, all, new Set()).attach).toEqual([i('bad0', 9)]);
  });

  it('retry-blocked does not affect interfaces already attached', () => {
    const p = planInterfaces(attachedOf(i('eth0', 2)), [i('eth0', 2)], all, new Set([2]));
    expect(p).toEqual({ attach: [], detach: [], rename: [] });
  });

  it('churn in one scan: vanish + appear + rename together', () => {
    const p = planInterfaces(
      attachedOf(i('eth0', 2), i('veth1', 5), i('veth2', 6)),
      [i('eth0', 2), i('veth2x', 6), i('veth3', 8)],
      all,
    );
    expect(p).toEqual({ attach: [i('veth3', 8)], detach: [i('veth1', 5)], rename: [i('veth2x', 6)] });
  });
});

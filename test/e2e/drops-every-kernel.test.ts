/**
 * The drop probe on any kernel, in both of its modes, against the kernel's own counters:
 *
 * - "as this kernel runs it": with the kernel's reasons from 5.17 on (nft drops are
 *   NETFILTER_DROP), by the freeing function before (drops are NO_KERNEL_REASON, and the nft drops
 *   are those freed in netfilter: nf_hook_slow, or nft_do_chain on newer kernels — the function
 *   is taken from the drop events, which name it on every kernel) — the kernel matrix (npm run test:kernels) runs this file on
 *   5.10 as on 6.x and 7.x;
 * - "by freeing function, forced" (settings.dropByLocation): the *_loc programs on this kernel,
 *   so the path of kernels < 5.17 is also tested wherever the suite runs.
 *
 * In each: a lab of three netns "pods" (src/lab/lab.ts, IPv4 only: any kernel), whose root-netns
 * nft table drops UDP to DENY_PORT when forwarding. N datagrams pod 0 → pod 1 : DENY_PORT must be
 * exactly the rule's counter Δ three times over: in the node's drop series, in the pod drop
 * counters (pod 0 as source, pod 1 as destination), and as drop events with the lab's 5-tuple (the
 * rate limit is set above N: one event per drop). UDP to a closed port must equal `Udp NoPorts`
 * of the receiving pod's netns, in events and node series: NO_SOCKET where reasons exist, else
 * freed in one function (__udp4_lib_rcv on 5.10; taken from the events, as for the nft drops).
 *
 * The probe sees the whole host: node series of other drops with the same reason (or, by
 * location, in the same function) would add to its count; the lab's /24 and the lab's own nft
 * table keep the pod and event numbers exact on a busy host, and the node series are compared
 * as Δ in a quiet lab (a busy host's NETFILTER_DROP elsewhere would show here as a failure).
 *
 * Root only; skips with the reason elsewhere, fails in CI.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DropEventSource } from '../../src/events/drop-events.js';
import { KernelSymbols } from '../../src/events/kallsyms.js';
import { StaticIdentity } from '../../src/k8s/static.js';
import type { PodInfo } from '../../src/k8s/types.js';
import { snmpCounters } from '../../src/lab/kernel-truth.js';
import { DENY_PORT, Lab } from '../../src/lab/lab.js';
import { sendUdp } from '../../src/lab/traffic.js';
import { ATTR, INSTRUMENTS } from '../../src/names.js';
import { DROP_SIDE_DESTINATION, DROP_SIDE_SOURCE } from '../../src/probes/drop/layout.js';
import { DropProbe } from '../../src/probes/drop/probe.js';
import { NO_KERNEL_REASON } from '../../src/probes/drop/reasons.js';
import type { MetricFamily, ProbeSettings } from '../../src/probes/types.js';
import { describeRoot } from '../helpers/root.js';

const N = 200;
const SPORT = 42300;
const CLOSED_PORT = 9911;
const PAYLOAD_BYTES = 20; // IP length 20 + 8 + 20 = 48

function settings(byLocation: boolean): ProbeSettings {
  return {
    bpfObjectDir: 'bpf/build', interfaces: [], excludeInterfaces: ['lo'], interfaceRescanIntervalMs: 2_000,
    trafficMaxInterfaces: 16, tcMode: 'auto', dropHook: 'auto', maxFlows: 1024,
    // one event per drop: the rate limit (per CPU per second) is above everything sent here
    dropEvents: { enabled: true, ratePerCpu: 100_000, ringBufferBytes: 1 << 20 },
    ...(byLocation ? { dropByLocation: true } : {}),
  };
}

function podInfo(lab: Lab, i: number, workload: string): PodInfo {
  return {
    uid: `uid-${i}`, name: `${workload}-${i}`, namespace: 'shop', nodeName: 'node-a', ips: [lab.pod(i).ip],
    hostNetwork: false, workload: { kind: 'Deployment', name: workload }, phase: 'Running',
  };
}

for (const forced of [false, true]) {
  const title = forced ? 'by freeing function, forced (the path of kernels < 5.17)' : 'as this kernel runs it';
  describeRoot(`drop probe on every kernel: ${title}`, 'attaching to skb:kfree_skb and building a lab need root', () => {
    let lab: Lab;
    let probe: DropProbe;
    let source: DropEventSource;
    let byLocation = false;

    beforeAll(async () => {
      lab = await Lab.create({ name: forced ? 'dkf' : 'dkn', pods: 3 });
      probe = new DropProbe({ logger: pino({ level: 'silent' }), settings: settings(forced) });
      probe.start();
      byLocation = probe.countsByLocation;
      const identity = new StaticIdentity({ nodeName: 'node-a', pods: [podInfo(lab, 0, 'client'), podInfo(lab, 1, 'server')] });
      source = new DropEventSource({ probe, identity, node: 'node-a', symbols: new KernelSymbols({ bpfObject: 'bpf/build/symbol.bpf.o' }) });
      probe.setPodAddresses(new Map([[lab.pod(0).ip, 1], [lab.pod(1).ip, 2]]));
    });

    afterAll(async () => {
      probe?.stop();
      await lab?.destroy();
    });

    /** The probe's families once the freeing functions counted so far are named (their series start then). */
    async function collectNamed(): Promise<MetricFamily[]> {
      probe.collect();
      await probe.locationsNamed();
      return probe.collect();
    }

    /** The node's drop packets of one cause: by reason, or (no reasons) by freeing function. */
    function nodeDrops(reason: string, fn: string, families: MetricFamily[]): number {
      const fam = families.find((f) => f.instrument.name === INSTRUMENTS.dropPackets.name)!;
      return fam.series
        .filter((s) => (byLocation
          ? s.attributes[ATTR.dropReason] === NO_KERNEL_REASON && s.attributes[ATTR.dropLocation] === fn
          : s.attributes[ATTR.dropReason] === reason) && s.attributes[ATTR.transport] === 'udp')
        .reduce((a, s) => a + s.value, 0);
    }

    async function denied(before: number, n: number): Promise<{ packets: number; bytes: number }> {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const c = (await lab.denyCounters())['deny-udp']!;
        if (c.packets - before >= n || Date.now() > deadline) return c;
        await new Promise((r) => setTimeout(r, 25));
      }
    }

    it('the probe is up in the mode the kernel calls for', () => {
      expect(probe.status()).toMatchObject({ state: 'up' });
      if (forced) expect(byLocation).toBe(true);
      else expect(byLocation).toBe(DropProbe.kernelReasonsIfGiven() === undefined);
      if (byLocation) expect(probe.status().detail).toMatch(/counted by the kernel function that freed the packet/);
    });

    it(`${N} UDP datagrams to the denied port: node series, pod counters and drop events each equal the nft counter`, async () => {
      const nft0 = (await lab.denyCounters())['deny-udp']!;
      const nodeBefore = await collectNamed();
      const pods0 = probe.readPodDrops();
      await source.drainAll();
      await sendUdp(lab, 0, lab.pod(1).ip, DENY_PORT, N, { sport: SPORT, size: PAYLOAD_BYTES });
      const nft1 = await denied(nft0.packets, N);
      const packets = nft1.packets - nft0.packets;
      const bytes = nft1.bytes - nft0.bytes;
      expect(packets, 'nft deny-udp counter').toBe(N);
      expect(bytes).toBe(N * (20 + 8 + PAYLOAD_BYTES));

      const reason = byLocation ? NO_KERNEL_REASON : 'NETFILTER_DROP';
      const names = probe.reasonNames()!;
      const podDelta = (podId: number, side: number) => {
        const sum = (list: typeof pods0) => list
          .filter((p) => p.podId === podId && p.side === side && names.name(p.reason) === reason && p.ipVersion === 4)
          .reduce((a, p) => ({ packets: a.packets + Number(p.packets), bytes: a.bytes + Number(p.bytes) }), { packets: 0, bytes: 0 });
        const a = sum(pods0);
        const b = sum(probe.readPodDrops());
        return { packets: b.packets - a.packets, bytes: b.bytes - a.bytes };
      };
      expect(podDelta(1, DROP_SIDE_SOURCE), 'pod 0 as source').toEqual({ packets, bytes });
      expect(podDelta(2, DROP_SIDE_DESTINATION), 'pod 1 as destination').toEqual({ packets, bytes });

      const events = (await source.drainAll()).filter((e) => e.source?.ip === lab.pod(0).ip && e.source?.port === SPORT
        && e.destination?.ip === lab.pod(1).ip && e.destination?.port === DENY_PORT);
      expect(events.length, 'drop events of the lab\'s 5-tuple').toBe(packets);
      expect(events.every((e) => (e.suppressed ?? 0) === 0)).toBe(true);
      const e = events[0]!;
      expect(e).toMatchObject({
        name: 'fovea.network.packet.drop', verdict: 'DROPPED', reason, ipVersion: 4, transport: 'udp',
        length: 20 + 8 + PAYLOAD_BYTES,
        source: { kind: 'pod', pod: 'client-0', workloadName: 'client', local: true },
        destination: { kind: 'pod', pod: 'server-1', workloadName: 'server', local: true },
      });
      // The function that freed them, as the kernel says (nf_hook_slow on 5.10, nft_do_chain on
      // 6.18: it moves between kernels): one function for all of them, and, where there are no
      // reasons, the node series of that function moved by exactly the nft counter.
      const freedIn = new Set(events.map((x) => x.location?.split('+')[0]));
      expect(freedIn.size, [...freedIn].join(', ')).toBe(1);
      const fn = [...freedIn][0]!;
      expect(fn).toMatch(/^(nf_hook_slow|nft_do_chain|nf_hook_slow_list)$/);
      const node0 = nodeDrops('NETFILTER_DROP', fn, nodeBefore);
      expect(nodeDrops('NETFILTER_DROP', fn, await collectNamed()) - node0, `node drop series Δ (${byLocation ? `freed in ${fn}` : 'NETFILTER_DROP'})`).toBe(packets);
    });

    it('UDP to a closed port in a pod: the pod netns\' Udp NoPorts, as NO_SOCKET or freed in the function the events name', async () => {
      const ns = lab.pod(1).netns;
      const before = await snmpCounters(ns);
      const nodeBefore = await collectNamed();
      await source.drainAll();
      await sendUdp(lab, 0, lab.pod(1).ip, CLOSED_PORT, N, { sport: SPORT + 1, size: PAYLOAD_BYTES });
      // local delivery completes before the sender returns; allow a deferred softirq a moment
      const deadline = Date.now() + 10_000;
      let noPorts = 0;
      while (Date.now() < deadline) {
        noPorts = (await snmpCounters(ns))['Udp']!['NoPorts']! - before['Udp']!['NoPorts']!;
        if (noPorts >= N) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      expect(noPorts, 'Udp NoPorts of pod 1').toBe(N);
      const events = (await source.drainAll()).filter((e) => e.source?.port === SPORT + 1 && e.destination?.port === CLOSED_PORT);
      expect(events.length, 'drop events of the 5-tuple').toBe(noPorts);
      expect(new Set(events.map((e) => e.reason))).toEqual(new Set([byLocation ? NO_KERNEL_REASON : 'NO_SOCKET']));
      // __udp4_lib_rcv on 5.10 and 6.18; the events say where on this kernel
      const freedIn = new Set(events.map((x) => x.location?.split('+')[0]));
      expect(freedIn.size, [...freedIn].join(', ')).toBe(1);
      const fn = [...freedIn][0]!;
      expect(nodeDrops('NO_SOCKET', fn, await collectNamed()) - nodeDrops('NO_SOCKET', fn, nodeBefore)).toBe(noPorts);
    });

    it('no record lost on the way', () => {
      expect(probe.recordFailures().filter((f) => f.lost && f.count > 0)).toEqual([]);
    });
  });
}

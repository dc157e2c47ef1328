/**
 * Drop events end to end in the kernel: the real DropProbe with events on, a lab of three netns
 * "pods" whose forwarding nft table drops DENY_PORT (→ NETFILTER_DROP), and the DropEventSource
 * that drains the ring buffer. The truth is the nft rule's own counter and the probe's drop_counts.
 *
 * Reconciliation (per rate-limit slot, i.e. per reason): every drop is exactly one of emitted,
 * suppressed (rate limit) or ring_full; events carry the drops before them that got no event, so
 * Σ over events of (1 + suppressed) + what is still pending = the drops.
 *
 * Root only; skips with the reason elsewhere, fails in CI.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DropEventSource } from '../../src/events/drop-events.js';
import { KernelSymbols } from '../../src/events/kallsyms.js';
import type { NetworkEvent } from '../../src/events/types.js';
import { StaticIdentity } from '../../src/k8s/static.js';
import type { PodInfo } from '../../src/k8s/types.js';
import { DENY_PORT, Lab } from '../../src/lab/lab.js';
import { run } from '../../src/lab/run.js';
import { sendUdp as labSendUdp } from '../../src/lab/traffic.js';
import { DropProbe } from '../../src/probes/drop/probe.js';
import type { ProbeSettings } from '../../src/probes/types.js';
import { describeRoot } from '../helpers/root.js';

const RATE = 20; // events per second per CPU per reason
const SPORT = 42100;
const PAYLOAD_BYTES = 16; // IP length 20 + 8 + 16 = 44

function settings(ratePerCpu: number, ringBufferBytes: number): ProbeSettings {
  return {
    bpfObjectDir: 'bpf/build', interfaces: [], excludeInterfaces: ['lo'], interfaceRescanIntervalMs: 2_000,
    trafficMaxInterfaces: 16, tcMode: 'auto', dropHook: 'auto', maxFlows: 1024,
    dropEvents: { enabled: true, ratePerCpu, ringBufferBytes },
  };
}

function podInfo(lab: Lab, i: number, workload: string): PodInfo {
  return {
    uid: `uid-${i}`, name: `${workload}-${i}`, namespace: 'shop', nodeName: 'node-a', ips: [lab.pod(i).ip, lab.pod(i).ipv6!],
    hostNetwork: false, workload: { kind: 'Deployment', name: workload }, phase: 'Running',
  };
}

describeRoot('drop events: ring buffer, in-kernel rate limit, exact reconciliation (lab + nft deny rule)', 'attaching to skb:kfree_skb and building a lab need root', () => {
  let lab: Lab;
  let identity: StaticIdentity;
  let netfilterDrop = -1;

  beforeAll(async () => {
    lab = await Lab.create({ name: 'evd', pods: 3, ipv6: true });
    identity = new StaticIdentity({
      nodeName: 'node-a',
      pods: [podInfo(lab, 0, 'client'), podInfo(lab, 1, 'server'), { ...podInfo(lab, 2, 'remote'), nodeName: 'node-b' }],
    });
  });

  afterAll(async () => {
    await lab?.destroy();
  });

  const sendUdp = (from: number, host: string, port: number, n: number) =>
    labSendUdp(lab, from, host, port, n, { sport: SPORT, size: PAYLOAD_BYTES });

  async function denied(kind: 'deny-udp' | 'deny-tcp', before: number, n: number): Promise<number> {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const c = (await lab.denyCounters())[kind]!;
      if (c.packets - before >= n || Date.now() > deadline) return c.packets - before;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  function withProbe(ratePerCpu: number, ringBytes: number) {
    const probe = new DropProbe({ logger: pino({ level: 'silent' }), settings: settings(ratePerCpu, ringBytes) });
    probe.start();
    netfilterDrop = probe.reasonNames()!.entries().find((e) => e.name === 'NETFILTER_DROP')!.value;
    const source = new DropEventSource({ probe, identity, node: 'node-a', symbols: new KernelSymbols({ bpfObject: 'bpf/build/symbol.bpf.o' }) });
    const slot = () => probe.readEventLimits().find((l) => l.slot === netfilterDrop) ?? { emitted: 0n, suppressed: 0n, ringFull: 0n, pending: 0n };
    const dropCount = () => probe.collect()[0]!.series
      .filter((s) => s.attributes['fovea.drop.reason'] === 'NETFILTER_DROP').reduce((a, s) => a + s.value, 0);
    return { probe, source, slot, dropCount };
  }

  it(`N UDP drops at a rate limit of ${RATE}/s per CPU: events + suppressed = N exactly, = nft counter; 5-tuple and both identities right`, async () => {
    const N = 600;
    const { probe, source, slot, dropCount } = withProbe(RATE, 1 << 20);
    try {
      const nft0 = (await lab.denyCounters())['deny-udp']!.packets;
      const drops0 = dropCount();
      await sendUdp(0, lab.pod(1).ip, DENY_PORT, N);
      expect(await denied('deny-udp', nft0, N), 'nft deny-udp counter').toBe(N);
      const events = (await source.drainAll()).filter((e) => e.reason === 'NETFILTER_DROP');
      const s = slot();
      const droppedByKernel = dropCount() - drops0;
      expect(droppedByKernel, 'drop_counts NETFILTER_DROP Δ').toBe(N);
      // every drop is exactly one of: an event, suppressed by the rate limit, lost to a full ring
      expect(Number(s.emitted + s.suppressed + s.ringFull)).toBe(N);
      expect(Number(s.ringFull)).toBe(0);
      expect(events.length).toBe(Number(s.emitted));
      // the storm was faster than the limit: events are bounded by it (≤ RATE per CPU per window touched)
      expect(events.length).toBeGreaterThan(0);
      expect(events.length).toBeLessThan(N);
      const carried = events.reduce((a, e) => a + 1 + (e.suppressed ?? 0), 0);
      expect(carried + Number(s.pending)).toBe(N);

      const e = events[0]!;
      expect(e).toMatchObject({
        name: 'fovea.network.packet.drop', verdict: 'DROPPED', reason: 'NETFILTER_DROP', reasonCode: netfilterDrop,
        ipVersion: 4, transport: 'udp', protocol: 17, length: 20 + 8 + PAYLOAD_BYTES, node: 'node-a',
        source: { ip: lab.pod(0).ip, port: SPORT, kind: 'pod', namespace: 'shop', pod: 'client-0', podUid: 'uid-0', workloadKind: 'Deployment', workloadName: 'client', local: true },
        destination: { ip: lab.pod(1).ip, port: DENY_PORT, kind: 'pod', namespace: 'shop', pod: 'server-1', workloadName: 'server', local: true },
      });
      expect(e.tcpFlags).toBeUndefined();
      expect(Math.abs(e.timeMs - Date.now())).toBeLessThan(10_000);
      // the drop happened in the root netns' forward path: the device is the host-side veth of pod 1 or 0
      expect([lab.pod(0).hostIfname, lab.pod(1).hostIfname]).toContain(e.interface);
      expect(e.location, 'kernel function that dropped it').toMatch(/^[\w.]+\+0x[0-9a-f]+$/);
    } finally {
      probe.stop();
    }
  });

  it('a TCP connection to the denied port gives events with the SYN flag and the peer outside the node', async () => {
    const { probe, source } = withProbe(1_000, 1 << 20);
    try {
      const nft0 = (await lab.denyCounters())['deny-tcp']!.packets;
      const script = `
        const s = require('net').connect({ host: '${lab.pod(2).ip}', port: ${DENY_PORT}, localPort: 42200 });
        s.on('error', () => {}); setTimeout(() => { s.destroy(); }, 1500);`;
      await lab.exec(0, [process.execPath, '-e', script]);
      const n = await denied('deny-tcp', nft0, 1);
      expect(n).toBeGreaterThanOrEqual(1); // SYN and its retransmits
      const events = (await source.drainAll()).filter((e: NetworkEvent) => e.reason === 'NETFILTER_DROP' && e.transport === 'tcp');
      expect(events.length).toBe(n);
      expect(events[0]).toMatchObject({
        tcpFlags: 'SYN', protocol: 6,
        source: { ip: lab.pod(0).ip, port: 42200, pod: 'client-0', local: true },
        destination: { ip: lab.pod(2).ip, port: DENY_PORT, pod: 'remote-2', node: 'node-b', local: false },
      });
    } finally {
      probe.stop();
    }
  });

  it('IPv6: drop events carry the IPv6 5-tuple and both identities', async () => {
    const { probe, source } = withProbe(1_000, 1 << 20);
    try {
      const nft0 = (await lab.denyCounters())['deny-udp']!.packets;
      await sendUdp(0, lab.pod(1).ipv6!, DENY_PORT, 20);
      expect(await denied('deny-udp', nft0, 20)).toBe(20);
      const events = (await source.drainAll()).filter((e) => e.reason === 'NETFILTER_DROP' && e.ipVersion === 6);
      expect(events).toHaveLength(20);
      expect(events[0]).toMatchObject({
        ipVersion: 6, transport: 'udp', protocol: 17, length: 40 + 8 + PAYLOAD_BYTES, direction: 'egress',
        source: { ip: lab.pod(0).ipv6, port: SPORT, pod: 'client-0', local: true },
        destination: { ip: lab.pod(1).ipv6, port: DENY_PORT, pod: 'server-1', local: true },
      });
    } finally {
      probe.stop();
    }
  });

  it('a full ring loses events, never counts: ring_full counted, carried on the next event, reconciles exactly', async () => {
    const N = 2_000;
    // one page of ring (~46 events of 88+8 bytes), no rate limit to speak of, not drained during the burst
    const { probe, source, slot } = withProbe(1_000_000, 4096);
    try {
      const nft0 = (await lab.denyCounters())['deny-udp']!.packets;
      await sendUdp(0, lab.pod(1).ip, DENY_PORT, N);
      expect(await denied('deny-udp', nft0, N)).toBe(N);
      const first = (await source.drainAll()).filter((e) => e.reason === 'NETFILTER_DROP');
      const s1 = slot();
      expect(Number(s1.ringFull)).toBeGreaterThan(0);
      expect(Number(s1.suppressed)).toBe(0);
      expect(Number(s1.emitted + s1.ringFull)).toBe(N);
      expect(first.length).toBe(Number(s1.emitted));
      // the lost ones are pending until the next event of the slot on that CPU carries them
      await sendUdp(0, lab.pod(1).ip, DENY_PORT, 4);
      await denied('deny-udp', nft0 + N, 4);
      const second = (await source.drainAll()).filter((e) => e.reason === 'NETFILTER_DROP');
      const s2 = slot();
      const all = [...first, ...second];
      expect(Number(s2.emitted + s2.ringFull)).toBe(N + 4);
      expect(all.reduce((a, e) => a + 1 + (e.suppressed ?? 0), 0) + Number(s2.pending)).toBe(N + 4);
    } finally {
      probe.stop();
    }
  });

  it('paged skbs (a packet socket\'s TX ring keeps headers in page fragments): never a wrong 5-tuple — unreadable, counted; linear ones parsed', async () => {
    const tag = process.pid % 10000;
    const [a, b] = [`fvpg${tag}a`, `fvpg${tag}b`];
    const table = `fovea_pg_${tag}`;
    const cfg = join(tmpdir(), `fovea-pg-${tag}.trafgen`);
    writeFileSync(cfg, `{ eth(da=02:00:00:00:5f:02, sa=02:00:00:00:5f:01, type=0x0800), ipv4(saddr=198.19.253.1, daddr=198.19.253.2, ttl=64, proto=17), udp(sp=40001, dp=${DENY_PORT}), "fovea-paged-0000" }\n`);
    const rules = join(tmpdir(), `fovea-pg-${tag}.nft`);
    writeFileSync(rules, `table netdev ${table} {\n  chain in {\n    type filter hook ingress device "${b}" priority 0;\n    udp dport ${DENY_PORT} counter drop\n  }\n}\n`);
    const { probe, source } = withProbe(1_000, 1 << 20);
    try {
      await run(['ip', 'link', 'add', a, 'address', '02:00:00:00:5f:01', 'type', 'veth', 'peer', 'name', b, 'address', '02:00:00:00:5f:02']);
      await run(['ip', 'link', 'set', a, 'up']);
      await run(['ip', 'link', 'set', b, 'up']);
      await run(['nft', '-f', rules]);
      const unreadable0 = probe.recordFailures().find((f) => f.kind === 'header_unreadable')!.count;
      await run(['trafgen', '-o', a, '-i', cfg, '-n', '30', '-q']); // TX ring: zero-copy page fragments
      await run(['trafgen', '-o', a, '-i', cfg, '-n', '30', '-q', '-t', '1ms']); // sendto(): copied, linear
      await new Promise((r) => setTimeout(r, 200));
      const events = (await source.drainAll()).filter((e) => e.reason === 'NETFILTER_DROP' && e.interface === b);
      expect(events).toHaveLength(60);
      const tuples = new Map<string, number>();
      for (const e of events) {
        const k = `${e.source.ip}:${e.source.port ?? ''}>${e.destination.ip}:${e.destination.port ?? ''}/${e.transport}`;
        tuples.set(k, (tuples.get(k) ?? 0) + 1);
      }
      expect(Object.fromEntries(tuples)).toEqual({ ':>:/unknown': 30, [`198.19.253.1:40001>198.19.253.2:${DENY_PORT}/udp`]: 30 });
      expect(probe.recordFailures().find((f) => f.kind === 'header_unreadable')!.count - unreadable0).toBe(30);
    } finally {
      probe.stop();
      await run(['nft', 'delete', 'table', 'netdev', table], { allowFail: true });
      await run(['ip', 'link', 'del', a], { allowFail: true });
    }
  });

  it('events off: the object without a ring buffer is loaded, no event is read, drops are still counted exactly', async () => {
    const probe = new DropProbe({ logger: pino({ level: 'silent' }), settings: { ...settings(RATE, 1 << 20), dropEvents: { enabled: false, ratePerCpu: RATE, ringBufferBytes: 1 << 20 } } });
    probe.start();
    try {
      expect(probe.eventsEnabled).toBe(false);
      expect(probe.eventRing()).toBeUndefined();
      expect(probe.readEventLimits()).toEqual([]);
      const count = () => probe.collect()[0]!.series.filter((s) => s.attributes['fovea.drop.reason'] === 'NETFILTER_DROP').reduce((a, s) => a + s.value, 0);
      const nft0 = (await lab.denyCounters())['deny-udp']!.packets;
      const c0 = count();
      await sendUdp(0, lab.pod(1).ip, DENY_PORT, 50);
      expect(await denied('deny-udp', nft0, 50)).toBe(50);
      expect(count() - c0).toBe(50);
    } finally {
      probe.stop();
    }
  });
});

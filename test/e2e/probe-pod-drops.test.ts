/**
 * Drops attributed to pods (drop_pod_ips → drop_pod_counts, drop_flows), with the real DropProbe
 * attached to skb:kfree_skb and a lab of three netns "pods" (src/lab/lab.ts): pod-to-pod traffic is
 * routed by the root netns, whose nft table drops UDP/TCP to DENY_PORT in `forward` →
 * NETFILTER_DROP. The kernel's own truth is that rule's counter.
 *
 * Pods 0 and 1 are registered (ids 1 and 2); pod 2 never is. N datagrams pod 0 → pod 1 : DENY_PORT
 * must show as exactly N for pod 1 (source) and pod 2 (destination), and one 5-tuple of N packets;
 * drops between unregistered addresses are not attributed; after unregistering nothing more is;
 * deletePodDrops forgets one pod's keys only.
 *
 * The probe sees the whole host, but only drops involving the lab's addresses (a /24 no one else
 * uses: Lab checks) can reach the pod maps, so the numbers are exact even on a busy host.
 *
 * Root only; skips with the reason elsewhere, fails in CI.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { snmpCounters } from '../../src/lab/kernel-truth.js';
import { DENY_PORT, Lab } from '../../src/lab/lab.js';
import { run } from '../../src/lab/run.js';
import { DROP_SIDE_DESTINATION, DROP_SIDE_SOURCE, type PodDropCount } from '../../src/probes/drop/layout.js';
import { DropProbe } from '../../src/probes/drop/probe.js';
import type { ProbeSettings } from '../../src/probes/types.js';
import { describeRoot } from '../helpers/root.js';

const N = 300;
const M = 40;
const SPORT = 42000;
const UDP = 17;
const TRANSPORT_UDP = 2; // enum drop_transport
const PAYLOAD = 'fovea-pod-drop'; // 14 bytes: IP length 20 + 8 + 14 = 42

const settings: ProbeSettings = {
  bpfObjectDir: 'bpf/build',
  interfaces: [],
  excludeInterfaces: ['lo'],
  interfaceRescanIntervalMs: 2_000,
  trafficMaxInterfaces: 16,
  tcMode: 'auto',
  dropHook: 'auto', maxFlows: 1024,
};

describeRoot('drop probe: drops attributed to registered pod addresses (lab + nft deny rule)', 'attaching to skb:kfree_skb and building a lab need root', () => {
  let lab: Lab;
  let probe: DropProbe;
  let netfilterDrop = -1;
  let ip0 = '';
  let ip1 = '';

  beforeAll(async () => {
    lab = await Lab.create({ name: 'pdt', pods: 3 });
    ip0 = lab.pod(0).ip;
    ip1 = lab.pod(1).ip;
    probe = new DropProbe({ logger: pino({ level: 'silent' }), settings });
    probe.start();
    netfilterDrop = probe.reasonNames()!.entries().find((e) => e.name === 'NETFILTER_DROP')!.value;
  });

  afterAll(async () => {
    probe?.stop();
    await lab?.destroy();
  });

  /** `n` UDP datagrams from pod `from` (source port SPORT) to `host:port`; returns when all were sent. */
  async function sendUdp(from: number, host: string, port: number, n: number): Promise<void> {
    const script = `
      const s = require('dgram').createSocket('udp4');
      s.bind(${SPORT}, () => {
        let left = ${n};
        const next = () => { if (left-- === 0) return s.close(); s.send(Buffer.from('${PAYLOAD}'), ${port}, '${host}', next); };
        next();
      });`;
    await lab.exec(from, [process.execPath, '-e', script]);
  }

  /** Waits (bounded) until the nft deny-udp counter has moved by `n` since `before`. */
  async function denied(before: number, n: number): Promise<{ packets: number; bytes: number }> {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const c = (await lab.denyCounters())['deny-udp']!;
      if (c.packets - before >= n || Date.now() > deadline) return c;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  const key = (p: PodDropCount): string => `${p.podId}/${p.reason}/${p.side}/${p.transport}/${p.ipVersion}`;
  const podDrops = (): Map<string, PodDropCount> => new Map(probe.readPodDrops().map((p) => [key(p), p]));

  it('the probe is up and the kernel has a NETFILTER_DROP reason', () => {
    expect(probe.status()).toMatchObject({ state: 'up' });
    expect(netfilterDrop).toBeGreaterThan(0);
    expect(probe.readPodDrops()).toEqual([]);
    expect(probe.readDropFlows()).toEqual([]);
  });

  it(`${N} UDP datagrams pod0 → pod1:${DENY_PORT} with both registered: N for pod 1 as source and pod 2 as destination, = the nft counter`, async () => {
    probe.setPodAddresses(new Map([[ip0, 1], [ip1, 2]]));
    const nft0 = (await lab.denyCounters())['deny-udp']!;
    await sendUdp(0, ip1, DENY_PORT, N);
    const nft1 = await denied(nft0.packets, N);
    expect(nft1.packets - nft0.packets, 'nft deny-udp counter').toBe(N);
    const nftBytes = nft1.bytes - nft0.bytes;
    expect(nftBytes).toBe(N * (20 + 8 + PAYLOAD.length)); // skb->len in forward: the IP packet

    const drops = probe.readPodDrops();
    expect(drops.map((d) => ({ ...d })).sort((a, b) => a.podId - b.podId)).toEqual([
      { podId: 1, reason: netfilterDrop, side: DROP_SIDE_SOURCE, transport: TRANSPORT_UDP, ipVersion: 4, packets: BigInt(N), bytes: BigInt(nftBytes) },
      { podId: 2, reason: netfilterDrop, side: DROP_SIDE_DESTINATION, transport: TRANSPORT_UDP, ipVersion: 4, packets: BigInt(N), bytes: BigInt(nftBytes) },
    ]);

    const flows = probe.readDropFlows();
    expect(flows).toHaveLength(1);
    expect(flows[0]).toMatchObject({
      src: ip0, dst: ip1, sport: SPORT, dport: DENY_PORT, reason: netfilterDrop, proto: UDP, ipVersion: 4,
      packets: BigInt(N), bytes: BigInt(nftBytes),
    });
  });

  it('drops not involving a registered address are not attributed (pod 2 → its own closed port, and to 127.0.0.1)', async () => {
    const before = podDrops();
    const flowsBefore = probe.readDropFlows();
    await sendUdp(2, lab.pod(2).ip, 9, M);
    await sendUdp(2, '127.0.0.1', 9, M);
    // the drops happened (NO_SOCKET in pod 2's netns: local delivery completes before send returns)
    const { stdout } = await lab.exec(2, ['cat', '/proc/net/snmp']);
    const udp = stdout.split('\n').filter((l) => l.startsWith('Udp:'));
    const noPorts = Number(udp[1]!.split(/\s+/)[udp[0]!.split(/\s+/).indexOf('NoPorts')]);
    expect(noPorts).toBeGreaterThanOrEqual(2 * M);
    expect(podDrops()).toEqual(before);
    expect(probe.readDropFlows()).toEqual(flowsBefore);
  });

  it('a drop with only one registered end counts for that pod only (pod 0 → unregistered pod 2, denied)', async () => {
    const before = podDrops();
    const nft0 = (await lab.denyCounters())['deny-udp']!;
    await sendUdp(0, lab.pod(2).ip, DENY_PORT, M);
    await denied(nft0.packets, M);
    const after = podDrops();
    const src = `1/${netfilterDrop}/${DROP_SIDE_SOURCE}/${TRANSPORT_UDP}/4`;
    expect(after.get(src)!.packets - before.get(src)!.packets).toBe(BigInt(M));
    // pod 2 of the lab is not registered: pod id 2 (pod 1 of the lab) did not move, no other key appeared
    const dst = `2/${netfilterDrop}/${DROP_SIDE_DESTINATION}/${TRANSPORT_UDP}/4`;
    expect(after.get(dst)).toEqual(before.get(dst));
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    expect(probe.readDropFlows().find((f) => f.dst === lab.pod(2).ip)).toMatchObject({ src: ip0, packets: BigInt(M) });
  });

  it('an address that moves to another pod id is attributed to the new id', async () => {
    probe.setPodAddresses(new Map([[ip0, 3], [ip1, 2]]));
    const nft0 = (await lab.denyCounters())['deny-udp']!;
    await sendUdp(0, ip1, DENY_PORT, M);
    await denied(nft0.packets, M);
    const moved = probe.readPodDrops().filter((p) => p.podId === 3);
    expect(moved).toMatchObject([{ side: DROP_SIDE_SOURCE, packets: BigInt(M) }]);
  });

  it('deletePodDrops(1) removes pod 1\'s keys only', () => {
    const before = probe.readPodDrops();
    expect(before.some((p) => p.podId === 1)).toBe(true);
    probe.deletePodDrops(1);
    const after = probe.readPodDrops();
    expect(after.filter((p) => p.podId === 1)).toEqual([]);
    expect(after.map(key).sort()).toEqual(before.filter((p) => p.podId !== 1).map(key).sort());
    probe.deletePodDrops(1); // nothing left: a no-op
    expect(probe.readPodDrops().map(key).sort()).toEqual(after.map(key).sort());
  });

  it('after setPodAddresses(new Map()) nothing more is attributed; the kernel still drops', async () => {
    probe.setPodAddresses(new Map());
    const before = podDrops();
    const flowsBefore = probe.readDropFlows();
    const nft0 = (await lab.denyCounters())['deny-udp']!;
    await sendUdp(0, ip1, DENY_PORT, M);
    const nft1 = await denied(nft0.packets, M);
    expect(nft1.packets - nft0.packets).toBe(M);
    expect(podDrops()).toEqual(before);
    expect(probe.readDropFlows()).toEqual(flowsBefore);
  });

  it('no record lost on the way', () => {
    const lost = probe.recordFailures().filter((f) => f.lost && f.count > 0);
    expect(lost).toEqual([]);
  });
});

// --- IPv6: a dropped non-first fragment has no ports ------------------------------------------

const TAG = process.pid % 100000;
const NS = `fvft-pd-${TAG}`;
const VETH_HOST = `fvft${TAG}p`; // <= 15 chars
const VETH_NS = `fvft${TAG}q`;
const POD6 = 'fd00:f0ea:fe::2';
const PEER6 = 'fd00:f0ea:fe::1';
const FRAGS = 20;

/** Ethernet + IPv6 (PEER6 → POD6) + fragment header (UDP, offset 800 bytes, last) + 16 bytes whose first 4 look like ports. */
function laterFragment(dstMac: Buffer, id: number): Buffer {
  const ethHdr = Buffer.alloc(14);
  dstMac.copy(ethHdr, 0);
  Buffer.from([0x02, 0, 0, 0, 0x2f, 0x02]).copy(ethHdr, 6);
  ethHdr.writeUInt16BE(0x86dd, 12);
  const ip6 = Buffer.alloc(40);
  ip6[0] = 0x60;
  ip6.writeUInt16BE(8 + 16, 4); // payload length: fragment header + data
  ip6[6] = 44;                  // next header: fragment
  ip6[7] = 64;
  Buffer.from([0xfd, 0x00, 0xf0, 0xea, 0x00, 0xfe]).copy(ip6, 8);
  ip6[23] = 1;                  // src PEER6
  Buffer.from([0xfd, 0x00, 0xf0, 0xea, 0x00, 0xfe]).copy(ip6, 24);
  ip6[39] = 2;                  // dst POD6
  const frag = Buffer.alloc(8);
  frag[0] = UDP;
  frag.writeUInt16BE(100 << 3, 2); // offset 100 × 8 bytes, M = 0
  frag.writeUInt32BE(id, 4);
  const data = Buffer.alloc(16, 0x11);
  data.writeUInt16BE(0x1234, 0);   // not a UDP header: somebody's bytes 800..803
  data.writeUInt16BE(0x5678, 2);
  return Buffer.concat([ethHdr, ip6, frag, data]);
}

describeRoot('drop probe: a dropped IPv6 non-first fragment of a registered pod', 'attaching to skb:kfree_skb and building a netns need root', () => {
  let probe: DropProbe;
  let nsMac: Buffer;

  beforeAll(async () => {
    await run(['ip', 'link', 'del', VETH_HOST], { allowFail: true });
    await run(['ip', 'netns', 'del', NS], { allowFail: true });
    await run(['ip', 'netns', 'add', NS]);
    await run(['ip', 'link', 'add', VETH_HOST, 'type', 'veth', 'peer', 'name', VETH_NS, 'netns', NS]);
    // fragments without their first part expire after ip6frag_time: 1 s in this netns only
    await run(['ip', 'netns', 'exec', NS, 'sysctl', '-q', '-w', 'net.ipv6.ip6frag_time=1']);
    await run(['ip', '-n', NS, 'addr', 'add', `${POD6}/128`, 'dev', VETH_NS, 'nodad']);
    await run(['ip', '-n', NS, 'link', 'set', VETH_NS, 'up']);
    await run(['ip', 'link', 'set', VETH_HOST, 'up']);
    const { stdout } = await run(['ip', '-n', NS, '-j', 'link', 'show', 'dev', VETH_NS]);
    nsMac = Buffer.from(((JSON.parse(stdout) as Array<{ address: string }>)[0]!.address).split(':').map((h) => parseInt(h, 16)));
    probe = new DropProbe({ logger: pino({ level: 'silent' }), settings });
    probe.start();
    probe.setPodAddresses(new Map([[POD6, 9]]));
  });

  afterAll(async () => {
    probe?.stop();
    await run(['ip', 'link', 'del', VETH_HOST], { allowFail: true });
    await run(['ip', 'netns', 'del', NS], { allowFail: true });
  });

  it(`${FRAGS} lone later fragments expire (FRAG_REASM_TIMEOUT, NOT_SPECIFIED before 6.2; like Ip6 ReasmTimeout): attributed to the pod, ports 0 — not payload bytes`, async () => {
    const reasmTimeout = async (): Promise<number> => (await snmpCounters(NS))['Ip6']?.['ReasmTimeout'] ?? 0;
    const t0 = await reasmTimeout();
    // one queue per fragment id; AF_PACKET out of the host side, received by the netns
    const py = 'import socket,sys\ns=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\ns.bind((sys.argv[1],0))\n'
      + 'for f in sys.argv[2:]: s.send(bytes.fromhex(f))\n';
    await run(['python3', '-c', py, VETH_HOST, ...Array.from({ length: FRAGS }, (_, i) => laterFragment(nsMac, 0xf0ea0000 + i).toString('hex'))]);
    const deadline = Date.now() + 10_000;
    while ((await reasmTimeout()) - t0 < FRAGS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect((await reasmTimeout()) - t0, 'Ip6 ReasmTimeout').toBe(FRAGS);

    // FRAG_REASM_TIMEOUT came in 6.2; before it the kernel frees expired fragments with a plain
    // kfree_skb(): NOT_SPECIFIED (seen on 6.1 by the kernel matrix)
    const reasons = probe.reasonNames()!.entries();
    const timeout = (reasons.find((e) => e.name === 'FRAG_REASM_TIMEOUT') ?? reasons.find((e) => e.name === 'NOT_SPECIFIED'))!.value;
    expect(probe.readPodDrops()).toEqual([
      { podId: 9, reason: timeout, side: DROP_SIDE_DESTINATION, transport: TRANSPORT_UDP, ipVersion: 6, packets: BigInt(FRAGS), bytes: expect.any(BigInt) },
    ]);
    const flows = probe.readDropFlows();
    expect(flows).toHaveLength(1);
    expect(flows[0]).toMatchObject({ src: PEER6, dst: POD6, proto: UDP, ipVersion: 6, reason: timeout, sport: 0, dport: 0, packets: BigInt(FRAGS) });
  });
});

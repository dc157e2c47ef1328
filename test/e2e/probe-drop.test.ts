/**
 * The drop probe against the real kernel: load + attach to skb:kfree_skb, cause drops whose
 * number the kernel counts itself, in a private network namespace, and compare exactly.
 *
 * - N UDP datagrams to a closed port (IPv4 and IPv6 on lo) → NO_SOCKET/udp; truth: `Udp NoPorts`
 *   / `Udp6 NoPorts` of that netns.
 * - Malformed IPv4 sent as raw frames (AF_PACKET) over a veth into the netns: bad header checksum
 *   → IP_CSUM (truth: `IpExt InCsumErrors`), IHL < 5 → IP_INHDR (truth: `Ip InHdrErrors` minus
 *   InCsumErrors, which the kernel counts as header errors too), total length past the end →
 *   PKT_TOO_SMALL (truth: `IpExt InTruncatedPkts`).
 *
 * The probe sees the whole host (every netns). Drops of the same reason elsewhere at the same
 * moment (another test suite's lab, the host itself) would add to its count, so the kernel
 * counters are read around the probe's reads in the root netns and in every named netns too:
 * the probe's delta must be at least N and at most N + what the other namespaces counted — in a
 * quiet host that is exactly N. (Unnamed namespaces, e.g. containers, are not visible here.)
 *
 * Root only; skips with the reason elsewhere, fails in CI.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRoot } from '../helpers/root.js';
import { run } from '../../src/lab/run.js';
import { snmpCounters, type SnmpCounters } from '../../src/lab/kernel-truth.js';
import { ATTR, INSTRUMENTS } from '../../src/names.js';
import { DropProbe } from '../../src/probes/drop/probe.js';
import type { ProbeSettings } from '../../src/probes/types.js';

const NS_ADDR = '10.213.47.2';
const N = 500;
const M = 50; // malformed frames of each kind

const baseSettings: ProbeSettings = {
  bpfObjectDir: 'bpf/build',
  interfaces: [],
  excludeInterfaces: ['lo'],
  interfaceRescanIntervalMs: 2_000,
  trafficMaxInterfaces: 16,
  tcMode: 'auto',
  dropHook: 'auto', maxFlows: 1024,
};

/** packets of one drop series (reason, transport, network.type), 0 when absent */
function dropPackets(probe: DropProbe, reason: string, transport: string | undefined, type: 'ipv4' | 'ipv6'): number {
  const fam = probe.collect().find((f) => f.instrument.name === INSTRUMENTS.dropPackets.name);
  const s = fam?.series.find((x) =>
    x.attributes[ATTR.dropReason] === reason && x.attributes[ATTR.transport] === transport && x.attributes[ATTR.networkType] === type);
  return s?.value ?? 0;
}

/** snmp counters of our netns, and the sum over every other visible netns (root + named) */
async function truth(NS: string): Promise<{ ours: SnmpCounters; others: SnmpCounters }> {
  const { stdout } = await run(['ip', '-j', 'netns', 'list'], { allowFail: true });
  const names = (stdout.trim() ? (JSON.parse(stdout) as Array<{ name: string }>) : []).map((n) => n.name).filter((n) => n !== NS);
  const [ours, root, ...named] = await Promise.all([
    snmpCounters(NS), snmpCounters(),
    ...names.map((n) => snmpCounters(n).catch(() => ({}) as SnmpCounters)), // a netns deleted meanwhile
  ]);
  const others: SnmpCounters = {};
  for (const c of [root!, ...named]) {
    for (const [g, vals] of Object.entries(c)) {
      const og = (others[g] ??= {});
      for (const [k, v] of Object.entries(vals)) og[k] = (og[k] ?? 0) + v;
    }
  }
  return { ours: ours!, others };
}

const delta = (a: SnmpCounters, b: SnmpCounters, g: string, k: string): number => (b[g]?.[k] ?? 0) - (a[g]?.[k] ?? 0);

/**
 * Runs `cause`, then checks the probe's delta for one series against the kernel's counter:
 * exactly `expected` in our netns, and the probe within [expected, expected + others' delta].
 * Frames sent over veth/lo are normally processed before the sender returns; if the softirq
 * was deferred (ksoftirqd), wait — on the condition, bounded — until both have seen them.
 */
async function expectCounted(
  NS: string, probe: DropProbe, series: [reason: string, transport: string | undefined, type: 'ipv4' | 'ipv6'],
  kernel: (before: SnmpCounters, after: SnmpCounters) => number, expected: number, cause: () => Promise<void>,
): Promise<void> {
  const t0 = await truth(NS);
  const p0 = dropPackets(probe, ...series);
  await cause();
  const deadline = Date.now() + 5_000;
  for (;;) {
    const seen = kernel(t0.ours, (await snmpCounters(NS))) >= expected && dropPackets(probe, ...series) - p0 >= expected;
    if (seen || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const p1 = dropPackets(probe, ...series);
  const t1 = await truth(NS);
  const ours = kernel(t0.ours, t1.ours);
  const noise = kernel(t0.others, t1.others);
  expect(ours, `kernel counter in ${NS}`).toBe(expected);
  const got = p1 - p0;
  const what = `probe ${series.join('/')}: expected ${expected}, other namespaces counted ${noise}`;
  expect(got, what).toBeGreaterThanOrEqual(expected);
  expect(got, what).toBeLessThanOrEqual(expected + Math.max(0, noise));
  if (noise === 0) expect(got, what).toBe(expected);
}

/** N datagrams to a closed port, from inside the netns; returns when all were sent. */
async function udpToClosedPort(NS: string, host: string, n: number): Promise<void> {
  const family = host.includes(':') ? 'udp6' : 'udp4';
  const script = `
    const s = require('dgram').createSocket('${family}');
    let left = ${n};
    const next = () => { if (left-- === 0) return s.close(); s.send(Buffer.from('fovea'), 9, '${host}', next); };
    next();`;
  await run(['ip', 'netns', 'exec', NS, process.execPath, '-e', script]);
}

/** Sends `frame` (hex) `count` times out of VETH_HOST with a raw AF_PACKET socket. */
async function sendRaw(VETH_HOST: string, frame: Buffer, count: number): Promise<void> {
  const py = 'import socket,sys\ns=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\ns.bind((sys.argv[1],0))\n'
    + 'f=bytes.fromhex(sys.argv[2])\nfor _ in range(int(sys.argv[3])): s.send(f)\n';
  await run(['python3', '-c', py, VETH_HOST, frame.toString('hex'), String(count)]);
}

function csum(b: Buffer): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += b.readUInt16BE(i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** Ethernet + IPv4 (+ 8 bytes UDP) to NS_ADDR, then `mangle` applied to the IP header. */
function ipv4Frame(dstMac: Buffer, mangle: (ip: Buffer) => void): Buffer {
  const ethHdr = Buffer.alloc(14);
  dstMac.copy(ethHdr, 0);
  Buffer.from([0x02, 0, 0, 0, 0x2f, 0x01]).copy(ethHdr, 6);
  ethHdr.writeUInt16BE(0x0800, 12);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(28, 2);
  ip[8] = 64;
  ip[9] = 17; // UDP
  Buffer.from([10, 213, 47, 1]).copy(ip, 12);
  Buffer.from(NS_ADDR.split('.').map(Number)).copy(ip, 16);
  ip.writeUInt16BE(csum(ip), 10);
  mangle(ip);
  const udpHdr = Buffer.alloc(8);
  udpHdr.writeUInt16BE(40000, 0);
  udpHdr.writeUInt16BE(9, 2);
  udpHdr.writeUInt16BE(8, 4);
  return Buffer.concat([ethHdr, ip, udpHdr]);
}

for (const hook of ['tp_btf', 'raw_tp'] as const) {
const NS = `fovea-pt-${process.pid}-${hook}`;
const VETH_HOST = `fpt${process.pid % 100000}${hook[0]}h`; // root-netns side (<= 15 chars)
const VETH_NS = `fpt${process.pid % 100000}${hook[0]}n`; // inside NS
const settings: ProbeSettings = { ...baseSettings, dropHook: hook };

describeRoot(`drop probe (${hook}) in a private netns (real kfree_skb drops)`, 'attaching to skb:kfree_skb needs root', () => {
  let probe: DropProbe;
  let nsMac: Buffer;

  beforeAll(async () => {
    await run(['ip', 'netns', 'add', NS]);
    await run(['ip', '-n', NS, 'link', 'set', 'lo', 'up']);
    await run(['ip', 'link', 'add', VETH_HOST, 'type', 'veth', 'peer', 'name', VETH_NS, 'netns', NS]);
    await run(['ip', '-n', NS, 'addr', 'add', `${NS_ADDR}/24`, 'dev', VETH_NS]);
    await run(['ip', '-n', NS, 'link', 'set', VETH_NS, 'up']);
    await run(['ip', 'link', 'set', VETH_HOST, 'up']);
    const { stdout } = await run(['ip', '-n', NS, '-j', 'link', 'show', 'dev', VETH_NS]);
    nsMac = Buffer.from(((JSON.parse(stdout) as Array<{ address: string }>)[0]!.address).split(':').map((h) => parseInt(h, 16)));
    probe = new DropProbe({ logger: pino({ level: 'silent' }), settings });
    probe.start();
  });

  afterAll(async () => {
    probe?.stop();
    await run(['ip', 'link', 'del', VETH_HOST], { allowFail: true });
    await run(['ip', 'netns', 'del', NS], { allowFail: true });
  });

  it('is up on a tracepoint hook', () => {
    expect(probe.status()).toMatchObject({ name: 'drop', state: 'up' });
    expect(probe.status().hook).toBe(`${hook}/kfree_skb`);
  });

  it(`${N} UDP datagrams to a closed IPv4 port: NO_SOCKET/udp/ipv4 grows by exactly N, like Udp NoPorts`, async () => {
    await expectCounted(NS, probe, ['NO_SOCKET', 'udp', 'ipv4'], (a, b) => delta(a, b, 'Udp', 'NoPorts'), N,
      () => udpToClosedPort(NS, '127.0.0.1', N));
  });

  it(`${N} UDP datagrams to a closed IPv6 port (::1): NO_SOCKET/udp/ipv6 grows by exactly N, like Udp6 NoPorts`, async () => {
    await expectCounted(NS, probe, ['NO_SOCKET', 'udp', 'ipv6'], (a, b) => delta(a, b, 'Udp6', 'NoPorts'), N,
      () => udpToClosedPort(NS, '::1', N));
  });

  it(`${M} IPv4 frames with a bad header checksum: IP_CSUM/udp/ipv4, like IpExt InCsumErrors`, async () => {
    const frame = ipv4Frame(nsMac, (ip) => { ip.writeUInt16BE(ip.readUInt16BE(10) ^ 0x5a5a, 10); });
    await expectCounted(NS, probe, ['IP_CSUM', 'udp', 'ipv4'], (a, b) => delta(a, b, 'IpExt', 'InCsumErrors'), M,
      () => sendRaw(VETH_HOST, frame, M));
  });

  it(`${M} IPv4 frames with IHL 4: IP_INHDR, transport unknown (attribute omitted), like Ip InHdrErrors - IpExt InCsumErrors`, async () => {
    const frame = ipv4Frame(nsMac, (ip) => { ip[0] = 0x44; ip.writeUInt16BE(0, 10); ip.writeUInt16BE(csum(ip.subarray(0, 16)), 10); });
    await expectCounted(NS, probe, ['IP_INHDR', undefined, 'ipv4'],
      (a, b) => delta(a, b, 'Ip', 'InHdrErrors') - delta(a, b, 'IpExt', 'InCsumErrors'), M, () => sendRaw(VETH_HOST, frame, M));
  });

  it(`${M} IPv4 frames whose total length runs past the end: PKT_TOO_SMALL/udp/ipv4, like IpExt InTruncatedPkts`, async () => {
    const frame = ipv4Frame(nsMac, (ip) => { ip.writeUInt16BE(1400, 2); ip.writeUInt16BE(0, 10); ip.writeUInt16BE(csum(ip), 10); });
    await expectCounted(NS, probe, ['PKT_TOO_SMALL', 'udp', 'ipv4'], (a, b) => delta(a, b, 'IpExt', 'InTruncatedPkts'), M,
      () => sendRaw(VETH_HOST, frame, M));
  });

  it('nothing broke: still up, no lost records; stop() is idempotent and leaves nothing readable', () => {
    expect(probe.status().state).toBe('up');
    const lost = probe.recordFailures().filter((f) => f.lost);
    expect(lost.map((f) => [f.kind, f.count])).toEqual([['map_full', 0], ['update_failed', 0], ['pod_map_full', 0], ['flow_insert_failed', 0]]);
    probe.stop();
    probe.stop(); // idempotent
    expect(probe.status()).toMatchObject({ state: 'down', detail: 'stopped' });
    expect(probe.collect()).toEqual([]);
  });
});
}

/**
 * The tcp probe against the real kernel, each figure compared with a counter the kernel keeps
 * itself in the pod's own network namespace (/proc/net/snmp and /proc/net/netstat read inside it):
 *
 * - N connects to a closed port: the server pod's resets sent == its `Tcp OutRsts` delta (0 on
 *   Linux < 6.10, whose tcp:tcp_send_reset misses resets sent with no socket; OutRsts still N); the
 *   client's resets received and failed connects (reset) == its `Tcp AttemptFails` delta; one
 *   event of each kind per connect.
 * - K connects whose SYNs the lab's nft policy drops, with tcp_syn_retries=1 in the client: failed
 *   connects (timeout) == `AttemptFails` delta, and the SYN retransmissions == `RetransSegs` delta
 *   (two per connect on 6.18: the SYN timeouts are linear at first, tcp_syn_linear_timeouts).
 * - A bulk transfer through an nft rule that drops 5% of the client's data segments (numgen): the
 *   client's retransmitted segments == its `RetransSegs` delta (`TCPRetransFail` stays 0, checked,
 *   so the two count the same thing: segments handed to the device again).
 * - M connects through a 300 ms delay line towards the client (every SYN-ACK held 300 ms): opened ==
 *   `ActiveOpens` / `PassiveOpens` deltas, every handshake in the (250 ms, 500 ms] bucket, as every
 *   RTT sample; the mean handshake within [300 ms, 400 ms] (the delay line is a user-space process
 *   whose timers run late on a loaded machine: the bucket leaves room above the true value).
 * - L connections held open: the state gauge's established sockets of each pod == what
 *   `ss state established` lists in that pod.
 * - State entries read as 0 for the idle timeout (a fake clock) are deleted from the kernel map;
 *   entries in use are not, and the gauge equals `ss` before and after, also for entries inserted again.
 *
 * The probe sees the whole host; every assertion is on records of the lab pods' own addresses.
 * Root only; skips with the reason elsewhere, fails in CI.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRoot } from '../helpers/root.js';
import { Lab } from '../../src/lab/lab.js';
import { run } from '../../src/lab/run.js';
import { snmpCounters, snmpDelta, type SnmpCounters } from '../../src/lab/kernel-truth.js';
import { holdTcpConnections, startTcpServer, tcpConnectAttempts, tcpTransfer } from '../../src/lab/traffic.js';
import { TcpProbe } from '../../src/probes/tcp/probe.js';
import {
  TCP_EVENT_TYPE, TCP_FAILURES, TCP_SIDE, decodeTcpEvent, type RawTcpEvent, type TcpConnRecord,
} from '../../src/probes/tcp/layout.js';
import type { ProbeSettings } from '../../src/probes/types.js';

const settings: ProbeSettings = {
  bpfObjectDir: 'bpf/build', interfaces: [], excludeInterfaces: ['lo'], interfaceRescanIntervalMs: 2_000,
  trafficMaxInterfaces: 16, tcMode: 'auto', dropHook: 'auto', maxFlows: 1024,
  tcp: { maxConnections: 16_384, maxSockets: 131_072, idleTimeoutMs: 3_600_000 },
  tcpEvents: { enabled: true, ratePerCpu: 100_000, ringBufferBytes: 1 << 20 },
};

const CLOSED_PORT = 9;
const SERVER_PORT = 8080;

describeRoot('tcp probe (real kernel)', 'loads eBPF programs and creates network namespaces', () => {
  let lab: Lab;
  let probe: TcpProbe;
  const events: RawTcpEvent[] = [];

  /** Reads the maps now; returns the records and drains the event ring. */
  function read(): { conns: readonly TcpConnRecord[]; states: ReturnType<TcpProbe['connections']>['states'] } {
    probe.collect();
    probe.eventRing()?.consume((v, off, len) => { events.push(decodeTcpEvent(v, off, len)); });
    return probe.connections();
  }

  /** The record of (local, remote, side, server port), or zeros. */
  function record(local: string, remote: string, side: number, serverPort: number): TcpConnRecord | undefined {
    return read().conns.find((r) => r.local === local && r.remote === remote && r.side === side && r.serverPort === serverPort);
  }

  const sum = (local: string, pick: (r: TcpConnRecord) => number): number =>
    read().conns.filter((r) => r.local === local).reduce((a, r) => a + pick(r), 0);

  async function snmp(pod: number): Promise<SnmpCounters> {
    return snmpCounters(lab.pod(pod).netns);
  }

  beforeAll(async () => {
    lab = await Lab.create({ name: 'tcp', pods: 2 });
    probe = new TcpProbe({ logger: pino({ level: 'silent' }), settings });
    probe.start();
  }, 60_000);

  afterAll(async () => {
    probe?.stop();
    await lab?.destroy();
  });

  it('attaches every hook, choosing the retransmit program by the tracepoint\'s arity', () => {
    expect(probe.status()).toMatchObject({ state: 'up' });
    expect(probe.status().hook).toContain('inet_sock_set_state');
  });

  it('N connects to a closed port: resets sent == OutRsts (0 where the kernel does not trace them), resets received and failed connects == AttemptFails, events too', async () => {
    const N = 200;
    // Linux < 6.10 does not fire tcp:tcp_send_reset for a reset sent with no socket (tcpPrograms)
    const sentSeen = probe.everyResetSent ? N : 0;
    const [c, s] = [lab.pod(0).ip, lab.pod(1).ip];
    const before = { c: await snmp(0), s: await snmp(1) };
    const base = {
      sent: record(s, c, TCP_SIDE.server, CLOSED_PORT)?.resetsSent ?? 0,
      received: record(c, s, TCP_SIDE.client, CLOSED_PORT)?.resetsReceived ?? 0,
      failed: record(c, s, TCP_SIDE.client, CLOSED_PORT)?.failed[0] ?? 0,
    };
    events.length = 0;
    const r = await tcpConnectAttempts(lab, 0, s, CLOSED_PORT, N);
    expect(r.refused).toBe(N);
    const after = { c: await snmp(0), s: await snmp(1) };
    const server = record(s, c, TCP_SIDE.server, CLOSED_PORT);
    const client = record(c, s, TCP_SIDE.client, CLOSED_PORT)!;
    expect(snmpDelta(before.s, after.s, 'Tcp', 'OutRsts')).toBe(N);
    expect((server?.resetsSent ?? 0) - base.sent).toBe(sentSeen);
    expect(snmpDelta(before.c, after.c, 'Tcp', 'AttemptFails')).toBe(N);
    expect(client.resetsReceived - base.received).toBe(N);
    expect(client.failed[TCP_FAILURES.indexOf('reset')]! - base.failed).toBe(N);
    // ActiveOpens counts every SYN sent: established + failed
    expect(snmpDelta(before.c, after.c, 'Tcp', 'ActiveOpens')).toBe(N);
    const ours = (e: RawTcpEvent, local: string, remote: string): boolean => e.local === local && e.remote === remote;
    expect(events.filter((e) => e.type === TCP_EVENT_TYPE.resetSent && ours(e, s, c) && e.localPort === CLOSED_PORT).length).toBe(sentSeen);
    expect(events.filter((e) => e.type === TCP_EVENT_TYPE.resetReceived && ours(e, c, s) && e.remotePort === CLOSED_PORT).length).toBe(N);
    const failed = events.filter((e) => e.type === TCP_EVENT_TYPE.connectFailed && ours(e, c, s));
    expect(failed.length).toBe(N);
    expect(failed.every((e) => e.error === 111 && e.detail === TCP_FAILURES.indexOf('reset'))).toBe(true);
  }, 60_000);

  it('K connects that time out (SYNs dropped): failed (timeout) == AttemptFails, SYN retransmissions == RetransSegs', async () => {
    const K = 3;
    const [c, s] = [lab.pod(0).ip, lab.pod(1).ip];
    await lab.exec(0, ['sysctl', '-q', '-w', 'net.ipv4.tcp_syn_retries=1']);
    const before = await snmp(0);
    const rec0 = record(c, s, TCP_SIDE.client, lab.denyPort);
    const base = { timeout: rec0?.failed[TCP_FAILURES.indexOf('timeout')] ?? 0, retrans: rec0?.retransSegs ?? 0 };
    const r = await tcpConnectAttempts(lab, 0, s, lab.denyPort, K, { timeoutMs: 10_000 });
    expect(r.other).toBe(K); // ETIMEDOUT from the kernel, before the worker's own timeout
    const after = await snmp(0);
    const rec = record(c, s, TCP_SIDE.client, lab.denyPort)!;
    expect(snmpDelta(before, after, 'Tcp', 'AttemptFails')).toBe(K);
    expect(rec.failed[TCP_FAILURES.indexOf('timeout')]! - base.timeout).toBe(K);
    const retrans = snmpDelta(before, after, 'Tcp', 'RetransSegs');
    expect(retrans).toBeGreaterThanOrEqual(K); // at least one SYN retry each
    expect(rec.retransSegs - base.retrans).toBe(retrans);
  }, 60_000);

  it('bulk transfer with 5% of the client\'s segments dropped: retransmitted segments == RetransSegs', async () => {
    const [c, s] = [lab.pod(0).ip, lab.pod(1).ip];
    const server = await startTcpServer(lab, 1, SERVER_PORT);
    // drop ~5% of the client's data segments on their way through the host (nft numgen)
    await run(['nft', 'add', 'rule', 'inet', lab.nftTable, 'forward', 'ip', 'saddr', c, 'tcp', 'dport', String(SERVER_PORT),
      'meta', 'length', 'gt', '100', 'numgen', 'random', 'mod', '100', 'lt', '5', 'counter', 'drop', 'comment', '"loss"']);
    try {
      const before = { c: await snmp(0), s: await snmp(1) };
      const base = { c: sum(c, (r) => r.retransSegs), s: sum(s, (r) => r.retransSegs) };
      await tcpTransfer(lab, 0, s, SERVER_PORT, 8 << 20);
      const after = { c: await snmp(0), s: await snmp(1) };
      const kernel = snmpDelta(before.c, after.c, 'Tcp', 'RetransSegs');
      expect(kernel).toBeGreaterThan(10); // the loss did happen
      expect(snmpDelta(before.c, after.c, 'TcpExt', 'TCPRetransFail')).toBe(0);
      expect(sum(c, (r) => r.retransSegs) - base.c).toBe(kernel);
      expect(sum(s, (r) => r.retransSegs) - base.s).toBe(snmpDelta(before.s, after.s, 'Tcp', 'RetransSegs'));
    } finally {
      const { stdout } = await run(['nft', '-a', 'list', 'chain', 'inet', lab.nftTable, 'forward']);
      const handle = /comment "loss" # handle (\d+)/.exec(stdout)?.[1];
      if (handle) await run(['nft', 'delete', 'rule', 'inet', lab.nftTable, 'forward', 'handle', handle]);
      await server.stop();
    }
  }, 120_000);

  it('M connects through a 300 ms delay: opened == Active/PassiveOpens; every handshake and RTT in the (250, 500] ms bucket', async () => {
    const M = 10;
    const [c, s] = [lab.pod(0).ip, lab.pod(1).ip];
    const server = await startTcpServer(lab, 1, SERVER_PORT + 1);
    const delay = await lab.delayTowards(0, 300);
    try {
      const before = { c: await snmp(0), s: await snmp(1) };
      const b0 = record(c, s, TCP_SIDE.client, SERVER_PORT + 1);
      const bs = record(s, c, TCP_SIDE.server, SERVER_PORT + 1);
      const r = await tcpConnectAttempts(lab, 0, s, SERVER_PORT + 1, M, { timeoutMs: 5_000 });
      expect(r.connected).toBe(M);
      await new Promise((res) => setTimeout(res, 700)); // the closes cross the delay too
      const after = { c: await snmp(0), s: await snmp(1) };
      const client = record(c, s, TCP_SIDE.client, SERVER_PORT + 1)!;
      const srv = record(s, c, TCP_SIDE.server, SERVER_PORT + 1)!;
      expect(client.opened - (b0?.opened ?? 0)).toBe(snmpDelta(before.c, after.c, 'Tcp', 'ActiveOpens'));
      expect(client.opened - (b0?.opened ?? 0)).toBe(M);
      expect(srv.opened - (bs?.opened ?? 0)).toBe(snmpDelta(before.s, after.s, 'Tcp', 'PassiveOpens'));
      const bucket = 11; // (0.25 s, 0.5 s]: TCP_LATENCY_BOUNDS_S[10] < x <= [11]; room for a loaded machine's late timers
      const hs = client.handshake;
      // (a socket the kernel could not follow is counted in recordFailures(): shown if this fails)
      expect(hs.count - (b0?.handshake.count ?? 0), JSON.stringify(probe.recordFailures())).toBe(M);
      expect(hs.buckets[bucket]! - (b0?.handshake.buckets[bucket] ?? 0)).toBe(M);
      const meanMs = (hs.sumNs - (b0?.handshake.sumNs ?? 0)) / M / 1e6;
      expect(meanMs).toBeGreaterThanOrEqual(300);
      expect(meanMs).toBeLessThanOrEqual(400);
      // RTT samples: the client's at ESTABLISHED and at its close, the server's likewise
      for (const [rec, base] of [[client, b0], [srv, bs]] as const) {
        const n = rec.rtt.count - (base?.rtt.count ?? 0);
        expect(n).toBeGreaterThanOrEqual(M);
        expect(rec.rtt.buckets[bucket]! - (base?.rtt.buckets[bucket] ?? 0)).toBe(n);
      }
    } finally {
      const { delayed } = await delay.stop();
      expect(delayed).toBeGreaterThanOrEqual(M);
      await server.stop();
    }
  }, 120_000);

  it('a full map and a tight event rate: failures counted; every failed connect is an event, carried on one, or pending', async () => {
    const N = 40;
    const small = new TcpProbe({
      logger: pino({ level: 'silent' }),
      settings: { ...settings, tcp: { maxConnections: 1, maxSockets: 1024, idleTimeoutMs: 3_600_000 }, tcpEvents: { enabled: true, ratePerCpu: 1, ringBufferBytes: 4096 } },
    });
    small.start();
    try {
      const [c, s] = [lab.pod(0).ip, lab.pod(1).ip];
      const limit = () => small.readEventLimits().find((l) => l.slot === TCP_EVENT_TYPE.connectFailed);
      const l0 = limit();
      // two closed ports, N/2 connects each: two client keys, so the map overflows on every kernel
      // (where resets sent are traced, the server's keys overflow too)
      expect((await tcpConnectAttempts(lab, 0, s, CLOSED_PORT + 1, N / 2)).refused).toBe(N / 2);
      expect((await tcpConnectAttempts(lab, 0, s, CLOSED_PORT + 2, N / 2)).refused).toBe(N / 2);
      const got: RawTcpEvent[] = [];
      small.collect();
      small.eventRing()!.consume((v, off, len) => { got.push(decodeTcpEvent(v, off, len)); });
      const mine = got.filter((e) => e.type === TCP_EVENT_TYPE.connectFailed && e.local === c && e.remote === s);
      const l1 = limit()!;
      const emitted = Number(l1.emitted - (l0?.emitted ?? 0n));
      const suppressed = Number(l1.suppressed - (l0?.suppressed ?? 0n));
      expect(mine.length).toBe(emitted); // a quiet host: no other failed connect meanwhile
      expect(emitted + suppressed).toBe(N);
      expect(mine.reduce((a, e) => a + e.suppressed, 0) + Number(l1.pending)).toBe(suppressed);
      expect(emitted).toBeLessThan(N); // the limit did bite
      // one key fits: each connect needs its client's key and, where resets sent are traced, the
      // server's — at least one of them fails every time; without the server's, the second port's
      const fails = small.recordFailures();
      expect(fails.find((f) => f.kind === 'map_full')!.count, JSON.stringify(fails)).toBeGreaterThanOrEqual(small.everyResetSent ? N : N / 2);
      expect(small.connections().conns.length).toBe(1);
    } finally {
      small.stop();
    }
  }, 60_000);

  it('L connections held open: established sockets per pod == `ss state established` in that pod', async () => {
    const L = 10;
    const [c, s] = [lab.pod(0).ip, lab.pod(1).ip];
    const server = await startTcpServer(lab, 1, SERVER_PORT + 2);
    const hold = await holdTcpConnections(lab, 0, s, SERVER_PORT + 2, L);
    try {
      const established = (local: string): number => read().states
        .filter((x) => x.local === local && x.state === 1).reduce((a, x) => a + x.sockets, 0);
      const ss = async (pod: number): Promise<number> => {
        const { stdout } = await lab.exec(pod, ['ss', '-Htn', 'state', 'established']);
        return stdout.trim() ? stdout.trim().split('\n').length : 0;
      };
      expect(await ss(0)).toBe(L);
      expect(established(c)).toBe(await ss(0));
      expect(established(s)).toBe(await ss(1));
    } finally {
      await hold.stop();
      await server.stop();
    }
  }, 60_000);

  it('state entries at 0 for the idle timeout are deleted from the kernel map; entries in use are kept, and the gauge still equals ss after', async () => {
    let clock = 1_000_000;
    const idleMs = 60_000;
    const p = new TcpProbe({ logger: pino({ level: 'silent' }), settings: { ...settings, tcp: { ...settings.tcp!, idleTimeoutMs: idleMs } } }, () => clock);
    p.start();
    const [c, s] = [lab.pod(0).ip, lab.pod(1).ip];
    const port = SERVER_PORT + 3;
    const server = await startTcpServer(lab, 1, port);
    const ss = async (pod: number): Promise<number> => {
      const { stdout } = await lab.exec(pod, ['ss', '-Htn', 'state', 'established']);
      return stdout.trim() ? stdout.trim().split('\n').length : 0;
    };
    const states = () => { p.collect(); return p.connections().states.filter((x) => x.local === c || x.local === s); };
    const established = (local: string): number => states().filter((x) => x.local === local && x.state === 1).reduce((a, x) => a + x.sockets, 0);
    let held: Awaited<ReturnType<typeof holdTcpConnections>> | undefined;
    try {
      // 5 connections opened and closed: SYN_SENT, ESTABLISHED, FIN_WAIT*, CLOSE_WAIT, LAST_ACK… back at 0
      const gone = await holdTcpConnections(lab, 0, s, port, 5);
      await gone.stop();
      // 3 held open through the idle timeout: their ESTABLISHED entries are never 0
      held = await holdTcpConnections(lab, 0, s, port, 3);
      const zeroBefore = states().filter((x) => x.sockets === 0);
      // the states the closed ones went through and left: SYN_SENT, FIN_WAIT1/2 (client), CLOSE_WAIT, LAST_ACK (server)
      expect(zeroBefore.length, JSON.stringify(zeroBefore)).toBeGreaterThanOrEqual(2);
      const before = p.stateEntriesReclaimed();
      clock += idleMs; // the next reading is the timeout after the first that read them at 0
      const after = states();
      expect(after.filter((x) => zeroBefore.some((z) => z.recordKey === x.recordKey))).toEqual([]);
      const deleted = p.stateEntriesReclaimed().deleted - before.deleted;
      expect(deleted).toBeGreaterThanOrEqual(zeroBefore.length);
      // the kernel map itself (read again): none of those entries left, unless a socket took the state again
      const keys = new Set(states().map((x) => x.recordKey));
      expect(zeroBefore.filter((x) => keys.has(x.recordKey))).toEqual([]);
      // entries in use untouched: still equal to ss in each pod
      expect(await ss(0)).toBe(3);
      expect(established(c)).toBe(await ss(0));
      expect(established(s)).toBe(await ss(1));
      // and counting goes on in entries the programs insert again: 4 more held, then all closed
      const more = await holdTcpConnections(lab, 0, s, port, 4);
      expect(established(c)).toBe(7);
      expect(established(c)).toBe(await ss(0));
      await more.stop();
      await held.stop();
      held = undefined;
      expect(established(c)).toBe(await ss(0));
      expect(established(s)).toBe(await ss(1));
      expect(established(c)).toBe(0);
    } finally {
      await held?.stop();
      await server.stop();
      p.stop();
    }
  }, 60_000);
});

/**
 * TCP probe, user-space half: which programs a kernel gets (by its tracepoints' arity in BTF), and
 * tcp_stats / tcp_state_counts readings → the node's `fovea.tcp.*` families. Hand-made records; no
 * kernel, except the arity check against this machine's /sys/kernel/btf/vmlinux (readable
 * without root).
 */
import { existsSync } from 'node:fs';
import { release } from 'node:os';
import { describe, expect, it } from 'vitest';
import { Btf } from '../../src/kernel/btf.js';
import { TCP_LATENCY_BOUNDS_S } from '../../src/names.js';
import { VectorAccumulator } from '../../src/pods/accumulator.js';
import type { LatencyHistogram, TcpConnRecord, TcpStateCount } from '../../src/probes/tcp/layout.js';
import { TCP_TRACEPOINTS, nodeTcpFamilies, tcpPrograms } from '../../src/probes/tcp/probe.js';
import type { MetricFamily } from '../../src/probes/types.js';

const BUCKETS = 17;

/** A histogram from {bucket index: samples}; count = the samples. */
function hist(sumNs: number, at: Record<number, number> = {}): LatencyHistogram {
  const buckets = Array<number>(BUCKETS).fill(0);
  for (const [i, n] of Object.entries(at)) buckets[Number(i)] = n;
  return { count: buckets.reduce((a, b) => a + b, 0), sumNs, buckets };
}

const CLIENT = 1;
const SERVER = 2;
const UNKNOWN = 0;

function rec(p: Partial<TcpConnRecord> & Pick<TcpConnRecord, 'local' | 'remote' | 'side'>): TcpConnRecord {
  const serverPort = p.serverPort ?? 5432;
  return {
    netns: 1, serverPort, ipVersion: 4, retransSegs: 0, resetsSent: 0, resetsReceived: 0, opened: 0,
    failed: [0, 0, 0, 0], closed: 0, handshake: hist(0), rtt: hist(0),
    recordKey: `${p.local}|${p.remote}|${serverPort}|${p.side}|${p.netns ?? 1}`, ...p,
  };
}

const fam = (fams: MetricFamily[], name: string): MetricFamily | undefined => fams.find((f) => f.instrument.name === name);
const series = (fams: MetricFamily[], name: string) => fam(fams, name)?.series ?? [];

describe('tcpPrograms: programs by the tracepoints\' arity', () => {
  const arities = (retransmitArgs: number | undefined, missing: string[] = [], sendResetArgs = 3) => (tp: string): number | undefined => {
    if (missing.includes(tp)) return undefined;
    if (tp === 'tcp_retransmit_skb') return retransmitArgs;
    return { tcp_retransmit_synack: 2, tcp_send_reset: sendResetArgs, tcp_receive_reset: 1, inet_sock_set_state: 3 }[tp];
  };

  it('3 arguments (Linux >= 6.13, with err): tcp_retransmit_err', () => {
    expect(tcpPrograms(arities(3))).toEqual({
      programs: ['tcp_retransmit_err', 'tcp_retransmit_synack', 'tcp_send_reset', 'tcp_receive_reset', 'tcp_set_state'],
      missing: [],
      everyResetSent: true,
    });
  });

  it('2 arguments: tcp_retransmit', () => {
    expect(tcpPrograms(arities(2))).toEqual({
      programs: ['tcp_retransmit', 'tcp_retransmit_synack', 'tcp_send_reset', 'tcp_receive_reset', 'tcp_set_state'],
      missing: [],
      everyResetSent: true,
    });
  });

  it('tcp_send_reset with 2 arguments (Linux < 6.10): resets sent with no socket are not traced', () => {
    expect(tcpPrograms(arities(2, [], 2)).everyResetSent).toBe(false);
    expect(tcpPrograms(arities(2, ['tcp_send_reset'])).everyResetSent).toBe(false);
    expect(tcpPrograms(arities(2, [], 3)).everyResetSent).toBe(true);
  });

  it('reports every missing tracepoint, in the probe\'s order', () => {
    expect(tcpPrograms(arities(2, ['inet_sock_set_state', 'tcp_retransmit_synack'])).missing)
      .toEqual(['tcp_retransmit_synack', 'inet_sock_set_state']);
    const none = tcpPrograms(() => undefined);
    expect(none.missing).toEqual(['tcp_retransmit_skb', 'tcp_retransmit_synack', 'tcp_send_reset', 'tcp_receive_reset', 'inet_sock_set_state']);
    expect(none.programs[0]).toBe('tcp_retransmit'); // no arity known: the program that reads two arguments only
    expect(tcpPrograms(arities(undefined, ['tcp_retransmit_skb'])).missing).toEqual(['tcp_retransmit_skb']);
  });

  it('asks only for the tracepoints it attaches to', () => {
    const asked = new Set<string>();
    tcpPrograms((tp) => { asked.add(tp); return 2; });
    expect([...asked].sort()).toEqual([...TCP_TRACEPOINTS].sort());
  });
});

// ---- Btf.tracepointArity against this machine's kernel (no root: /sys/kernel/btf/vmlinux is 0444) ----

const VMLINUX = '/sys/kernel/btf/vmlinux';
const hasVmlinux = existsSync(VMLINUX);
if (!hasVmlinux && process.env['CI'] === 'true') {
  throw new Error(`tracepointArity test needs ${VMLINUX} (a kernel built with CONFIG_DEBUG_INFO_BTF)`);
}
if (!hasVmlinux) console.warn(`[tcp-probe] tracepointArity skipped: ${VMLINUX} missing (kernel without CONFIG_DEBUG_INFO_BTF)`);

/** major.minor of the running kernel, e.g. 6.18 → [6, 18] */
function kernelVersion(): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(release());
  if (!m) throw new Error(`cannot parse kernel release ${release()}`);
  return [Number(m[1]), Number(m[2])];
}
const atLeast = ([a, b]: [number, number], [x, y]: [number, number]): boolean => a > x || (a === x && b >= y);

describe.skipIf(!hasVmlinux)('Btf.tracepointArity (this machine\'s kernel BTF)', () => {
  function withVmlinux<T>(use: (btf: Btf) => T): T {
    const btf = Btf.vmlinux();
    try {
      return use(btf);
    } finally {
      btf.close();
    }
  }

  it('tcp_retransmit_skb: 3 (sk, skb, err) since Linux 6.13, 2 (sk, skb) before', () => {
    const expected = atLeast(kernelVersion(), [6, 13]) ? 3 : 2;
    expect(withVmlinux((b) => b.tracepointArity('tcp_retransmit_skb'))).toBe(expected);
  });

  it('inet_sock_set_state: 3 (sk, oldstate, newstate); tcp_receive_reset: 1 (sk); a made-up name: undefined', () => {
    withVmlinux((b) => {
      expect(b.tracepointArity('inet_sock_set_state')).toBe(3);
      expect(b.tracepointArity('tcp_receive_reset')).toBe(1);
      expect(b.tracepointArity('fovea_no_such_tracepoint')).toBeUndefined();
    });
  });

  it('this kernel has every tracepoint the probe needs', () => {
    const chosen = withVmlinux((b) => tcpPrograms((tp) => b.tracepointArity(tp)));
    expect(chosen.missing).toEqual([]);
    expect(chosen.programs[0]).toBe(atLeast(kernelVersion(), [6, 13]) ? 'tcp_retransmit_err' : 'tcp_retransmit');
  });

  it('a closed handle refuses, not crashes', () => {
    const b = Btf.vmlinux();
    b.close();
    expect(() => b.tracepointArity('tcp_retransmit_skb')).toThrow(/closed/);
  });
});

// ---- nodeTcpFamilies ----

describe('nodeTcpFamilies: the node\'s series from hand-made records', () => {
  const web = '10.0.0.10';
  const db = '10.0.0.11';

  it('counters: opened split active/passive by side (unknown = active), failed by kind, resets by direction, closed', () => {
    const records = [
      rec({ local: web, remote: db, side: CLIENT, retransSegs: 3, resetsSent: 1, resetsReceived: 2, opened: 4, failed: [1, 2, 0, 0], closed: 2 }),
      rec({ local: db, remote: web, side: SERVER, retransSegs: 5, resetsSent: 7, opened: 6, failed: [0, 0, 0, 1], closed: 3 }),
      rec({ local: web, remote: '8.8.8.8', side: UNKNOWN, serverPort: 443, opened: 1, failed: [0, 0, 1, 0], closed: 1 }),
    ];
    const fams = nodeTcpFamilies(new VectorAccumulator(Number.POSITIVE_INFINITY), records, [], 1_000);
    expect(fams.map((f) => f.instrument.name)).toEqual([
      'fovea.tcp.retransmits', 'fovea.tcp.resets', 'fovea.tcp.connections.opened', 'fovea.tcp.connections.failed',
      'fovea.tcp.connections.closed',
    ]); // no histogram family without a sample, no state gauge without states
    expect(series(fams, 'fovea.tcp.retransmits')).toEqual([{ attributes: {}, value: 8 }]);
    expect(series(fams, 'fovea.tcp.resets')).toEqual([
      { attributes: { 'network.io.direction': 'transmit' }, value: 8 },
      { attributes: { 'network.io.direction': 'receive' }, value: 2 },
    ]);
    expect(series(fams, 'fovea.tcp.connections.opened')).toEqual([
      { attributes: { 'fovea.tcp.open': 'active' }, value: 5 },
      { attributes: { 'fovea.tcp.open': 'passive' }, value: 6 },
    ]);
    expect(series(fams, 'fovea.tcp.connections.failed')).toEqual([
      { attributes: { 'fovea.tcp.failure': 'reset' }, value: 1 },
      { attributes: { 'fovea.tcp.failure': 'timeout' }, value: 2 },
      { attributes: { 'fovea.tcp.failure': 'unreachable' }, value: 1 },
      { attributes: { 'fovea.tcp.failure': 'other' }, value: 1 },
    ]);
    expect(series(fams, 'fovea.tcp.connections.closed')).toEqual([{ attributes: {}, value: 6 }]);
    expect(fam(fams, 'fovea.tcp.connections.opened')!.instrument.kind).toBe('counter');
  });

  it('histograms: HistogramPoint with the bounds in seconds, buckets summed over records, sum in seconds', () => {
    const records = [
      rec({ local: web, remote: db, side: CLIENT, opened: 3, handshake: hist(2_600_000, { 3: 2, 4: 1 }), rtt: hist(300_000, { 1: 1, 2: 1 }) }),
      rec({ local: web, remote: db, side: CLIENT, netns: 2, opened: 2, handshake: hist(12_000_000_000, { 4: 1, 16: 1 }) }),
      rec({ local: db, remote: web, side: SERVER, opened: 5, rtt: hist(100_000, { 0: 1 }) }),
    ];
    const fams = nodeTcpFamilies(new VectorAccumulator(Number.POSITIVE_INFINITY), records, [], 1_000);
    const hs = fam(fams, 'fovea.tcp.handshake.duration')!;
    expect(hs.instrument.kind).toBe('histogram');
    expect(hs.series).toEqual([{
      attributes: {}, value: 5,
      histogram: {
        boundaries: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        counts: [0, 0, 0, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        count: 5,
        sum: 12.0026, // (2_600_000 + 12_000_000_000) ns
      },
    }]);
    expect(hs.series[0]!.histogram!.boundaries).toEqual(TCP_LATENCY_BOUNDS_S);
    expect(series(fams, 'fovea.tcp.rtt')).toEqual([{
      attributes: {}, value: 3,
      histogram: { boundaries: TCP_LATENCY_BOUNDS_S, counts: [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], count: 3, sum: 0.0004 },
    }]);
  });

  it('state gauge: network.connection.state names summed over addresses; CLOSE and unknown numbers left out', () => {
    const st = (local: string, state: number, sockets: number, netns = 1): TcpStateCount => ({ local, netns, state, ipVersion: 4, sockets, recordKey: `${local}/${netns}/${state}` });
    const states = [
      st(web, 1, 3), st(db, 1, 2, 2), // established, two addresses
      st(web, 10, 1),                 // listen
      st(web, 7, 4),                  // close: a socket leaves the gauge there
      st(web, 12, 9),                 // TCP_NEW_SYN_RECV: not a socket state of a connection
      st(web, 0, 1),                  // no such state
      { local: '::1', netns: 1, state: 6, ipVersion: 6, sockets: 2, recordKey: '::1/1/6' }, // time_wait, IPv6
      st(db, 8, 1), st(db, 2, 1), st(db, 3, 1), st(db, 4, 1), st(db, 5, 1), st(db, 9, 1), st(db, 11, 1),
    ];
    const fams = nodeTcpFamilies(new VectorAccumulator(Number.POSITIVE_INFINITY), [], states, 1_000);
    expect(fams.map((f) => f.instrument.name)).toEqual(['fovea.tcp.connections']);
    expect(fam(fams, 'fovea.tcp.connections')!.instrument.kind).toBe('gauge');
    expect(series(fams, 'fovea.tcp.connections')).toEqual([
      { attributes: { 'network.connection.state': 'established' }, value: 5 },
      { attributes: { 'network.connection.state': 'listen' }, value: 1 },
      { attributes: { 'network.connection.state': 'time_wait' }, value: 2 },
      { attributes: { 'network.connection.state': 'close_wait' }, value: 1 },
      { attributes: { 'network.connection.state': 'syn_sent' }, value: 1 },
      { attributes: { 'network.connection.state': 'syn_received' }, value: 1 },
      { attributes: { 'network.connection.state': 'fin_wait_1' }, value: 1 },
      { attributes: { 'network.connection.state': 'fin_wait_2' }, value: 1 },
      { attributes: { 'network.connection.state': 'last_ack' }, value: 1 },
      { attributes: { 'network.connection.state': 'closing' }, value: 1 },
    ]);
  });

  it('state gauge: a state whose entries were deleted at 0 is reported at 0 while the probe runs (the names it has reported)', () => {
    const st = (local: string, state: number, sockets: number): TcpStateCount => ({ local, netns: 1, state, ipVersion: 4, sockets, recordKey: `${local}/${state}` });
    const acc = new VectorAccumulator(Number.POSITIVE_INFINITY);
    const names = new Set<string>();
    const gauge = (states: TcpStateCount[]) => series(nodeTcpFamilies(acc, [], states, 1_000, names), 'fovea.tcp.connections');
    expect(gauge([st(web, 1, 2), st(web, 2, 0)])).toEqual([
      { attributes: { 'network.connection.state': 'established' }, value: 2 },
      { attributes: { 'network.connection.state': 'syn_sent' }, value: 0 },
    ]);
    // syn_sent's entry deleted (0 for the idle timeout); time_wait new
    expect(gauge([st(web, 1, 1), st(web, 6, 1)])).toEqual([
      { attributes: { 'network.connection.state': 'established' }, value: 1 },
      { attributes: { 'network.connection.state': 'time_wait' }, value: 1 },
      { attributes: { 'network.connection.state': 'syn_sent' }, value: 0 },
    ]);
    // without the set (pure use): only what the entries say
    expect(series(nodeTcpFamilies(acc, [], [st(web, 1, 1)], 2_000), 'fovea.tcp.connections')).toEqual([
      { attributes: { 'network.connection.state': 'established' }, value: 1 },
    ]);
  });

  it('monotonic: a deleted (idle) record keeps its totals; the same key back from 0 adds to them', () => {
    const acc = new VectorAccumulator(Number.POSITIVE_INFINITY);
    const a = (retransSegs: number, opened: number, handshake: LatencyHistogram) =>
      rec({ local: web, remote: db, side: CLIENT, retransSegs, opened, handshake });
    const b = (retransSegs: number) => rec({ local: db, remote: web, side: SERVER, retransSegs, opened: 3 });
    const read = (records: TcpConnRecord[], now: number) => {
      const fams = nodeTcpFamilies(acc, records, [], now);
      const opened = series(fams, 'fovea.tcp.connections.opened');
      const h = series(fams, 'fovea.tcp.handshake.duration')[0]?.histogram;
      return {
        retrans: series(fams, 'fovea.tcp.retransmits')[0]?.value,
        active: opened[0]?.value, passive: opened[1]?.value,
        handshakes: h?.count, sum: h?.sum, counts: h?.counts.slice(0, 6),
      };
    };
    expect(read([a(10, 2, hist(1_000_000, { 3: 2 })), b(1)], 0))
      .toEqual({ retrans: 11, active: 2, passive: 3, handshakes: 2, sum: 0.001, counts: [0, 0, 0, 2, 0, 0] });
    // a deleted from the kernel (idle): its totals stay
    expect(read([b(2)], 1_000))
      .toEqual({ retrans: 12, active: 2, passive: 3, handshakes: 2, sum: 0.001, counts: [0, 0, 0, 2, 0, 0] });
    // the same key again, counting from 0
    expect(read([a(1, 1, hist(4_000_000, { 5: 1 })), b(2)], 2_000))
      .toEqual({ retrans: 13, active: 3, passive: 3, handshakes: 3, sum: 0.005, counts: [0, 0, 0, 2, 0, 1] });
    // deleted and re-created between two reads (never seen missing): its counts went down
    expect(read([a(0, 0, hist(0)), b(2)], 3_000))
      .toEqual({ retrans: 13, active: 3, passive: 3, handshakes: 3, sum: 0.005, counts: [0, 0, 0, 2, 0, 1] });
    expect(read([a(4, 1, hist(200_000, { 1: 1 })), b(2)], 4_000))
      .toEqual({ retrans: 17, active: 4, passive: 3, handshakes: 4, sum: 0.0052, counts: [0, 1, 0, 2, 0, 1] });
    // no records at all: the node's series stay (no TTL at node level)
    expect(read([], 10_000_000))
      .toEqual({ retrans: 17, active: 4, passive: 3, handshakes: 4, sum: 0.0052, counts: [0, 1, 0, 2, 0, 1] });
  });
});

/**
 * The netstack probe reads a pod's /proc/net/netstat only when its snmp or snmp6 changed at that
 * reading or the one before (or once a minute: NETSTACK_DEPENDENT, src/probes/netstack/probe.ts),
 * on the ground that the counters it takes from netstat — TcpExt ListenOverflows and ListenDrops —
 * move only on received packets, which snmp counts. Checked here on the real kernel: a listener
 * whose accept queue is full in a namespace of its own, clients connecting to it; netstat's two
 * counters move, snmp's text moves with them, and the probe's next reading carries netstat's
 * values exactly as the kernel prints them then.
 */
import { execFileSync } from 'node:child_process';
import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { NetstackProbe } from '../../src/probes/netstack/probe.js';
import type { ProbeContext } from '../../src/probes/types.js';
import { describeRoot } from '../helpers/root.js';

const NS = 'fovea-exq-nstat';
const PATH = `/var/run/netns/${NS}`;
const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const cat = (file: string) => ip('netns', 'exec', NS, 'cat', `/proc/net/${file}`);

/** A TcpExt field of a netstat text. */
function tcpExt(netstat: string, field: string): number {
  const [names, values] = netstat.split('\n').filter((l) => l.startsWith('TcpExt:')).map((l) => l.split(' '));
  return Number(values![names!.indexOf(field)]);
}

/** A listener with a backlog of 0 that never accepts, and 8 clients connecting to it: accept-queue overflows. */
function overflowListener(): void {
  execFileSync('ip', ['netns', 'exec', NS, 'python3', '-c', [
    'import socket, time',
    's = socket.socket(); s.bind(("127.0.0.1", 9555)); s.listen(0)',
    'cs = []',
    'for _ in range(8):',
    '    c = socket.socket(); c.setblocking(False)',
    '    try: c.connect(("127.0.0.1", 9555))',
    '    except BlockingIOError: pass',
    '    cs.append(c)',
    'time.sleep(0.5)',
  ].join('\n')]);
}

describeRoot('netstack: netstat read when snmp moved (real kernel)', 'creates a network namespace', () => {
  let probe: NetstackProbe;
  beforeAll(() => {
    try { ip('netns', 'del', NS); } catch { /* none */ }
    ip('netns', 'add', NS);
    ip('-n', NS, 'link', 'set', 'lo', 'up');
    probe = new NetstackProbe({ logger: pino({ level: 'silent' }), settings: {} } as unknown as ProbeContext);
  });
  afterAll(() => {
    probe?.stop();
    try { ip('netns', 'del', NS); } catch { /* gone */ }
  });

  it('listen overflows move snmp too, and the next reading has netstat\'s values', () => {
    const value = (name: string) => probe.readNetns(PATH).find((c) => c.counter === name)?.value;
    expect(value('TcpExt.ListenOverflows')).toBe(0); // entered: every file read
    for (let i = 0; i < 3; i++) probe.readNetns(PATH); // idle readings: netstat left unread after the second
    const snmpBefore = cat('snmp');
    const netstatBefore = cat('netstat');
    overflowListener();
    const snmpAfter = cat('snmp');
    const netstatAfter = cat('netstat');
    const overflows = tcpExt(netstatAfter, 'ListenOverflows');
    const drops = tcpExt(netstatAfter, 'ListenDrops');
    expect(overflows).toBeGreaterThan(tcpExt(netstatBefore, 'ListenOverflows'));
    expect(drops).toBeGreaterThan(tcpExt(netstatBefore, 'ListenDrops'));
    expect(snmpAfter).not.toBe(snmpBefore); // what the probe's skip relies on
    const counters = probe.readNetns(PATH);
    expect(counters.find((c) => c.counter === 'TcpExt.ListenOverflows')?.value).toBe(overflows);
    expect(counters.find((c) => c.counter === 'TcpExt.ListenDrops')?.value).toBe(drops);
  });
});

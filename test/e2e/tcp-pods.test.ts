/**
 * TCP health per pod and per workload pair, end to end: the real agent (standalone, named netns
 * as workloads), real connects in a lab, the OTLP it exports compared with each pod's own kernel
 * counters (/proc/net/snmp inside the pod's network namespace).
 *
 * - N connects from pod 0 to a closed port of pod 1: pod 1's resets sent == its `Tcp OutRsts`
 *   delta; pod 0's resets received, failed connects (reset) == its `Tcp AttemptFails` delta; the pair
 *   pod 0 → pod 1 shows N failed connects, the pair pod 1 → pod 0 N resets.
 *   One OTLP log record per reset sent, reset received and failed connect.
 * - M connects to a listening port: pod 0 opened M active (== `ActiveOpens`), pod 1 M passive
 *   (== `PassiveOpens`); the pair counts them once, with M handshakes in its histogram.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Lab } from '../../src/lab/lab.js';
import { snmpCounters, snmpDelta } from '../../src/lab/kernel-truth.js';
import { startTcpServer, tcpConnectAttempts } from '../../src/lab/traffic.js';
import { OtlpReceiver } from '../../src/otlp/receiver.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { describeRoot } from '../helpers/root.js';

const CLOSED_PORT = 9;
const SERVER_PORT = 8081;

describeRoot('TCP health per pod and workload pair (agent, standalone)', 'loads eBPF programs and builds network namespaces', () => {
  let lab: Lab;
  let rx: OtlpReceiver;
  let agent: AgentProcess;
  beforeAll(async () => {
    lab = await Lab.create({ name: 'tcpp', pods: 2 });
    rx = await OtlpReceiver.start({});
    agent = AgentProcess.start(['--endpoint', rx.endpoint, '--interfaces', 'fvtcpp-*', '--netns', 'fovea-tcpp-*',
      '--export-interval', '300ms', '--rescan-interval', '200ms']);
    await agent.waitStarted();
    await rx.waitFor((r) => new Set(r.series('fovea.pod.network.packets').map((s) => s.attrs['k8s.pod.name'])).size === 2, 15_000);
  });
  afterAll(async () => {
    await agent?.stop();
    await rx?.stop();
    await lab?.destroy();
  });

  const v = (metric: string, attrs: Record<string, unknown>): number => rx.latest(metric, attrs as Record<string, string>) ?? 0;
  /** waits for two more exports after `cond` holds, so the values are settled */
  async function settle(cond: () => boolean): Promise<void> {
    await rx.waitFor(cond, 10_000);
    const n = rx.requestCount;
    await rx.waitFor((r) => r.requestCount >= n + 2, 5_000);
  }

  it('closed port: resets and failed connects per pod equal OutRsts and AttemptFails; the pairs name both ends', async () => {
    const N = 50;
    const [p0, p1] = [lab.pod(0), lab.pod(1)];
    const sent = { 'k8s.pod.name': p1.netns, 'network.io.direction': 'transmit' };
    const received = { 'k8s.pod.name': p0.netns, 'network.io.direction': 'receive' };
    const failed = { 'k8s.pod.name': p0.netns, 'fovea.tcp.failure': 'reset' };
    const pairFailed = { 'fovea.source.workload.name': p0.netns, 'fovea.destination.workload.name': p1.netns, 'fovea.server.port': CLOSED_PORT, 'fovea.tcp.failure': 'reset' };
    const pairResets = { 'fovea.source.workload.name': p1.netns, 'fovea.destination.workload.name': p0.netns, 'fovea.server.port': CLOSED_PORT };
    const base = {
      sent: v('fovea.pod.tcp.resets', sent), received: v('fovea.pod.tcp.resets', received),
      failed: v('fovea.pod.tcp.connections.failed', failed), pairFailed: v('fovea.flow.tcp.connections.failed', pairFailed),
      pairResets: v('fovea.flow.tcp.resets', pairResets),
    };
    const before = { c: await snmpCounters(p0.netns), s: await snmpCounters(p1.netns) };
    expect((await tcpConnectAttempts(lab, 0, p1.ip, CLOSED_PORT, N)).refused).toBe(N);
    const after = { c: await snmpCounters(p0.netns), s: await snmpCounters(p1.netns) };
    expect(snmpDelta(before.s, after.s, 'Tcp', 'OutRsts')).toBe(N);
    expect(snmpDelta(before.c, after.c, 'Tcp', 'AttemptFails')).toBe(N);
    await settle(() => v('fovea.flow.tcp.connections.failed', pairFailed) - base.pairFailed >= N);
    expect(v('fovea.pod.tcp.resets', sent) - base.sent).toBe(snmpDelta(before.s, after.s, 'Tcp', 'OutRsts'));
    expect(v('fovea.pod.tcp.resets', received) - base.received).toBe(N);
    expect(v('fovea.pod.tcp.connections.failed', failed) - base.failed).toBe(snmpDelta(before.c, after.c, 'Tcp', 'AttemptFails'));
    expect(v('fovea.flow.tcp.connections.failed', pairFailed) - base.pairFailed).toBe(N);
    expect(v('fovea.flow.tcp.resets', pairResets) - base.pairResets).toBe(N);
    // events: one OTLP log record of each kind per connect, both ends named
    const records = (name: string, kind: string, src: string, dst: string) => rx.logRecords().filter((r) => r.eventName === name
      && r.attrs['fovea.tcp.event'] === kind && r.attrs['fovea.source.workload.name'] === src && r.attrs['fovea.destination.workload.name'] === dst
      && (r.attrs['destination.port'] === CLOSED_PORT || r.attrs['source.port'] === CLOSED_PORT));
    await rx.waitForLogs(() => records('fovea.tcp.connect.failed', 'connect_failed', p0.netns, p1.netns).length >= N, 10_000);
    const failedRecords = records('fovea.tcp.connect.failed', 'connect_failed', p0.netns, p1.netns);
    expect(failedRecords.length).toBe(N);
    expect(failedRecords.every((r) => r.attrs['fovea.tcp.failure'] === 'reset' && r.attrs['error.type'] === 'ECONNREFUSED'
      && r.attrs['k8s.pod.name'] === p0.netns)).toBe(true);
    expect(records('fovea.tcp.reset', 'reset_sent', p1.netns, p0.netns).length).toBe(N);
    expect(records('fovea.tcp.reset', 'reset_received', p1.netns, p0.netns).length).toBe(N);
  }, 60_000);

  it('listening port: opened per pod equal ActiveOpens / PassiveOpens; the pair counts each once, with its handshakes', async () => {
    const M = 30;
    const [p0, p1] = [lab.pod(0), lab.pod(1)];
    const server = await startTcpServer(lab, 1, SERVER_PORT);
    const active = { 'k8s.pod.name': p0.netns, 'fovea.tcp.open': 'active' };
    const passive = { 'k8s.pod.name': p1.netns, 'fovea.tcp.open': 'passive' };
    const pair = { 'fovea.source.workload.name': p0.netns, 'fovea.destination.workload.name': p1.netns, 'fovea.server.port': SERVER_PORT };
    const base = {
      active: v('fovea.pod.tcp.connections.opened', active), passive: v('fovea.pod.tcp.connections.opened', passive),
      pair: v('fovea.flow.tcp.connections.opened', pair), handshakes: v('fovea.flow.tcp.handshake.duration', pair),
    };
    const before = { c: await snmpCounters(p0.netns), s: await snmpCounters(p1.netns) };
    try {
      expect((await tcpConnectAttempts(lab, 0, p1.ip, SERVER_PORT, M)).connected).toBe(M);
    } finally {
      await server.stop();
    }
    const after = { c: await snmpCounters(p0.netns), s: await snmpCounters(p1.netns) };
    await settle(() => v('fovea.flow.tcp.handshake.duration', pair) - base.handshakes >= M);
    expect(v('fovea.pod.tcp.connections.opened', active) - base.active).toBe(snmpDelta(before.c, after.c, 'Tcp', 'ActiveOpens'));
    expect(v('fovea.pod.tcp.connections.opened', passive) - base.passive).toBe(snmpDelta(before.s, after.s, 'Tcp', 'PassiveOpens'));
    expect(v('fovea.flow.tcp.connections.opened', pair) - base.pair).toBe(M); // counted once, at the client
    expect(rx.series('fovea.flow.tcp.connections.opened').every((s) => s.attrs['fovea.tcp.open'] === undefined)).toBe(true);
    expect(v('fovea.flow.tcp.handshake.duration', pair) - base.handshakes).toBe(M);
    const h = rx.series('fovea.flow.tcp.handshake.duration').find((s) => s.attrs['fovea.source.workload.name'] === p0.netns)!;
    expect(h.histogram!.explicitBounds[0]).toBe(0.0001);
    expect(h.histogram!.bucketCounts.reduce((a, b) => a + b, 0)).toBe(h.histogram!.count);
    // the node level has them too (with whatever else the host did meanwhile)
    expect(v('fovea.tcp.connections.opened', { 'fovea.tcp.open': 'active' })).toBeGreaterThanOrEqual(M);
  }, 60_000);
});

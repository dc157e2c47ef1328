/**
 * Drop and flow events through the real agent process (`fovea agent`): OTLP log records at a
 * receiver built from the official protos, the agent's own event metrics, and `fovea observe` on
 * the agent's socket — compared with each other and with the kernel's counters (nft rule counters).
 *
 * Standalone pod attribution: the lab's named netns are the workloads (`--netns`), so both ends of
 * a pod-to-pod drop carry a workload. The lab's nft table drops DENY_PORT in forward
 * (NETFILTER_DROP); the agent's drop probe counts every NETFILTER_DROP on the host, and the host
 * has no other source of them while the suite runs (files run one at a time).
 *
 * Root only; skips with the reason elsewhere, fails in CI.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DENY_PORT, Lab } from '../../src/lab/lab.js';
import { sendUdp, startUdpSink, udpFlood } from '../../src/lab/traffic.js';
import { OtlpReceiver, type ReceivedLogRecord } from '../../src/otlp/receiver.js';
import type { NetworkEvent } from '../../src/events/types.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { describeRoot } from '../helpers/root.js';

const ROOT = join(import.meta.dirname, '..', '..');
const SOCKET = join(tmpdir(), `fovea-agent-events-${process.pid}.sock`);
const RATE = 50;

/** `fovea observe ...` against the test agent's socket: its stdout lines (JSON events). */
function observe(args: string[]): Promise<{ code: number | null; events: NetworkEvent[]; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(ROOT, 'bin', 'fovea.js'), 'observe', '--socket', SOCKET, '-o', 'json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('close', (code) => resolve({
      code, stderr: err, events: out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as NetworkEvent),
    }));
  });
}

describeRoot('events through the real agent: OTLP logs, event metrics and `fovea observe` agree with the kernel', 'loads eBPF programs and builds network namespaces', () => {
  let lab: Lab;
  let rx: OtlpReceiver;
  let agent: AgentProcess;
  const grpcPort = () => rx.port;

  beforeAll(async () => {
    lab = await Lab.create({ name: 'aev', pods: 3 });
    rx = await OtlpReceiver.start({});
    agent = AgentProcess.start([
      '--endpoint', rx.endpoint, '--interfaces', 'fvaev-*', '--netns', 'fovea-aev-*',
      '--export-interval', '300ms', '--rescan-interval', '200ms', '--drop-event-rate', String(RATE), '--flow-events',
      '--health-address', '127.0.0.1:0',
    ], { FOVEA_OBSERVE_SOCKET: SOCKET });
    await agent.waitStarted();
    await rx.waitFor((r) => new Set(r.series('fovea.pod.network.packets').map((s) => s.attrs['k8s.pod.name'])).size === 3, 15_000);
    await new Promise((r) => setTimeout(r, 500));
  });
  afterAll(async () => {
    await agent?.stop();
    await rx?.stop();
    await lab?.destroy();
  });

  /** Resolves after `n` more metric exports (each carries every cumulative total). */
  const metricExports = async (n: number): Promise<void> => {
    const start = rx.requestCount;
    await rx.waitFor((r) => r.requestCount >= start + n, 10_000);
  };
  const drops = (records: readonly ReceivedLogRecord[]) => records.filter((r) => r.eventName === 'fovea.network.packet.drop' && r.attrs['fovea.drop.reason'] === 'NETFILTER_DROP');
  const metric = (name: string, attrs: Record<string, string> = {}) => rx.latest(name, attrs) ?? 0;

  it('N denied datagrams: OTLP drop events + suppressed = the agent\'s NETFILTER_DROP count = the nft counter; identities of both ends', async () => {
    const N = 400;
    const nft0 = (await lab.denyCounters())['deny-udp']!.packets;
    const [p0, p1] = [lab.pod(0), lab.pod(1)];
    await sendUdp(lab, 0, p1.ip, DENY_PORT, N, { sport: 41000 });
    const deadline = Date.now() + 5_000;
    while ((await lab.denyCounters())['deny-udp']!.packets - nft0 < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const nft = (await lab.denyCounters())['deny-udp']!.packets;
    expect(nft - nft0).toBe(N);
    // a metric export collected after the events were exported: everything below is cumulative since start
    await rx.waitForLogs((r) => drops(r).length > 0, 10_000);
    await metricExports(2);
    const events = drops(rx.logRecords());
    const suppressed = metric('fovea.agent.events.suppressed', { 'fovea.drop.reason': 'NETFILTER_DROP' });
    const ringFull = metric('fovea.agent.events.lost', { 'fovea.loss.stage': 'ring_full' });
    const counted = metric('fovea.network.drop.packets', { 'fovea.drop.reason': 'NETFILTER_DROP' });
    expect(counted, 'agent NETFILTER_DROP = nft (no other NETFILTER_DROP on the host)').toBe(nft);
    expect(events.length + suppressed + ringFull, 'events + suppressed + ring_full = drops').toBe(counted);
    expect(events.length).toBeLessThan(N); // the rate limit held the storm back
    expect(metric('fovea.agent.events.exported')).toBeGreaterThanOrEqual(events.length);
    expect(metric('fovea.agent.events.lost', { 'fovea.loss.stage': 'queue_full' })).toBe(0);

    const e = events.find((r) => r.attrs['source.port'] === 41000)!;
    expect(e).toBeDefined();
    expect(e.severityText).toBe('WARN');
    expect(e.attrs).toMatchObject({
      'fovea.verdict': 'DROPPED', 'network.transport': 'udp', 'network.type': 'ipv4',
      'source.address': p0.ip, 'destination.address': p1.ip, 'destination.port': DENY_PORT,
      'fovea.source.workload.name': p0.netns, 'fovea.destination.workload.name': p1.netns,
      'fovea.source.pod.name': p0.netns, 'fovea.destination.pod.name': p1.netns,
      'k8s.pod.name': p0.netns,
    });
    expect(e.body).toContain('NETFILTER_DROP');

    // where it dropped, named by the kernel (5.13+: no /proc/kallsyms read): every event's location is
    // `function+0xoffset` of a function the kernel's own symbol table (read here as root) has, in
    // netfilter (nft_do_chain, or nf_hook_slow on older kernels)
    const textSymbols = new Set(readFileSync('/proc/kallsyms', 'latin1').split('\n')
      .map((l) => /^[0-9a-f]{16} [tT] (\S+)/.exec(l)?.[1]).filter((n): n is string => n !== undefined));
    const locations = new Set(events.map((r) => String(r.attrs['fovea.drop.location'])));
    for (const loc of locations) {
      const m = /^(\S+)\+0x[0-9a-f]+$/.exec(loc);
      expect(m, loc).not.toBeNull();
      expect(textSymbols.has(m![1]!), loc).toBe(true);
      expect(m![1], loc).toMatch(/^(nft_do_chain|nf_hook_slow)$/);
    }
    expect(agent.logs.filter((l) => /kallsyms|will not name/.test(String(l['msg']))), 'names from the kernel, not the file').toEqual([]);
  });

  it('`fovea observe` shows the same drop events as the OTLP receiver; filters apply', async () => {
    const otlp = drops(rx.logRecords()).length;
    const all = await observe(['--reason', 'netfilter_drop', '--last', '100000']);
    expect(all.code).toBe(0);
    expect(all.events.length).toBe(otlp);
    expect(all.events.every((e) => e.verdict === 'DROPPED' && e.reason === 'NETFILTER_DROP')).toBe(true);
    const byPod = await observe(['--pod', lab.pod(1).netns, '--verdict', 'DROPPED', '--port', String(DENY_PORT), '--protocol', 'udp', '--last', '100000']);
    expect(byPod.events.length).toBe(otlp);
    const none = await observe(['--pod', lab.pod(2).netns, '--verdict', 'DROPPED', '--last', '100000']);
    expect(none.events.filter((e) => e.reason === 'NETFILTER_DROP')).toEqual([]);
  });

  it('a collector outage in the middle of the stream: no event lost within the queue bound', async () => {
    const before = rx.logRecords().length;
    await rx.stop();
    const nft0 = (await lab.denyCounters())['deny-udp']!.packets;
    await sendUdp(lab, 0, lab.pod(1).ip, DENY_PORT, 100, { sport: 41001 });
    await new Promise((r) => setTimeout(r, 1_500)); // a new rate-limit window: more events while down
    await sendUdp(lab, 0, lab.pod(1).ip, DENY_PORT, 100, { sport: 41002 });
    expect((await lab.denyCounters())['deny-udp']!.packets - nft0).toBe(200);
    const old = rx;
    rx = await OtlpReceiver.start({ port: grpcPort() });
    expect(rx.port).toBe(old.port);
    // the agent's observe history has every event it read: the restarted receiver must get those of the outage.
    // A trickle reaches the agent within events.idleDrainIntervalMs (1 s): read the history until it stops growing.
    let outage: NetworkEvent[] = [];
    for (let i = 0, prev = -1; i < 10 && (outage.length === 0 || outage.length !== prev); i++) {
      prev = outage.length;
      if (i > 0) await new Promise((r) => setTimeout(r, 1_500));
      const seen = await observe(['--reason', 'NETFILTER_DROP', '--last', '100000']);
      outage = seen.events.filter((e) => e.source.port === 41001 || e.source.port === 41002);
    }
    expect(outage.length).toBeGreaterThan(0);
    await rx.waitForLogs((r) => drops(r).filter((x) => x.attrs['source.port'] === 41001 || x.attrs['source.port'] === 41002).length >= outage.length, 60_000);
    const got = drops(rx.logRecords()).filter((x) => x.attrs['source.port'] === 41001 || x.attrs['source.port'] === 41002);
    expect(got.length).toBe(outage.length);
    expect(before).toBeGreaterThan(0);
    await metricExports(2);
    expect(metric('fovea.agent.events.lost', { 'fovea.loss.stage': 'queue_full' })).toBe(0);
  });

  it('the health endpoint: /readyz and /livez answer 200 on 127.0.0.1 once probes are up and collecting', async () => {
    const line = await agent.waitForLog((l) => l['msg'] === 'health endpoint listening (/livez, /readyz)');
    const { address, port } = line['address'] as { address: string; port: number };
    expect(address).toBe('127.0.0.1');
    for (const path of ['/livez', '/readyz']) {
      const r = await fetch(`http://127.0.0.1:${port}${path}`);
      expect([path, r.status]).toEqual([path, 200]);
      expect(await r.text()).toMatch(/^ok: /);
    }
  });

  it('a drop storm does not grow memory: the kernel holds events back, the agent reads at most the rate limit', async () => {
    const rss = (): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${agent.pid}/status`, 'utf8'))![1]) * 1024;
    await metricExports(1);
    const read0 = metric('fovea.agent.events.read', { 'fovea.event.name': 'fovea.network.packet.drop' });
    const rss0 = rss();
    const t0 = Date.now();
    const nft0 = (await lab.denyCounters())['deny-udp']!.packets;
    const flood = await udpFlood(lab, 0, lab.pod(1).ip, DENY_PORT, { pps: 'max', durationMs: 3_000, processes: 1 });
    const seconds = (Date.now() - t0) / 1000;
    const denied = (await lab.denyCounters())['deny-udp']!.packets - nft0;
    expect(flood.sent).toBeGreaterThan(50_000);
    expect(denied).toBeGreaterThan(50_000);
    await metricExports(2);
    const read = metric('fovea.agent.events.read', { 'fovea.event.name': 'fovea.network.packet.drop' }) - read0;
    // at most RATE per CPU per started 1 s window (the windows touched: the storm's seconds, rounded up, + 1)
    expect(read).toBeLessThanOrEqual(RATE * cpus().length * (Math.ceil(seconds) + 2));
    expect(metric('fovea.agent.events.queued')).toBeLessThanOrEqual(10_000);
    const grew = rss() - rss0;
    expect(grew, `agent RSS grew by ${(grew / 1e6).toFixed(1)} MB over a storm of ${denied} drops`).toBeLessThan(40e6);
  });

  it('flow events (opt-in): a UDP flow pod 0 → pod 2 is FORWARDED, with packet counts = what was sent, both ends named', async () => {
    const sink = await startUdpSink(lab, 2, 5353);
    try {
      await sendUdp(lab, 0, lab.pod(2).ip, 5353, 30, { sport: 41003 });
      const isFlow = (r: ReceivedLogRecord) => r.eventName === 'fovea.network.flow' && r.attrs['source.port'] === 41003 && r.attrs['fovea.direction'] === 'egress';
      await rx.waitForLogs((r) => r.filter(isFlow).reduce((a, x) => a + Number(x.attrs['fovea.flow.record.packets']), 0) >= 30, 20_000);
      const recs = rx.logRecords().filter(isFlow);
      expect(recs.reduce((a, x) => a + Number(x.attrs['fovea.flow.record.packets']), 0)).toBe(30);
      expect(recs[0]!.attrs).toMatchObject({
        'fovea.verdict': 'FORWARDED', 'fovea.flow.state': 'new', 'network.transport': 'udp',
        'source.address': lab.pod(0).ip, 'destination.address': lab.pod(2).ip, 'destination.port': 5353,
        'fovea.source.workload.name': lab.pod(0).netns, 'fovea.destination.workload.name': lab.pod(2).netns,
        'network.interface.name': lab.pod(0).hostIfname,
      });
      expect(recs[0]!.severityText).toBe('INFO');
      const viaObserve = await observe(['--verdict', 'FORWARDED', '--port', '41003', '--last', '1000']);
      expect(viaObserve.events.length).toBeGreaterThanOrEqual(recs.length);
    } finally {
      await sink.stop();
    }
  });
});

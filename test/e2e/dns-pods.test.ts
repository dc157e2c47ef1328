/**
 * DNS end to end: the real agent (standalone, named netns as pods), a real DNS server (dnsmasq)
 * in one lab pod with known records, dig in another, and the OTLP the agent exports compared
 * with what the client sent and what the server logged.
 *
 * - The client pod sends, one dig per query: G lookups of an existing name (A over UDP, AAAA over
 *   TCP), G6 over IPv6, X of a name in the server's local zone that does not exist (NXDOMAIN), R of a name outside
 *   it (REFUSED: dnsmasq has no upstream), and T to a "server" whose port 53 the lab's nft policy
 *   drops (timeouts). Client role: queries and responses by code equal those numbers; timeouts
 *   equal T. Server role (the dnsmasq pod): queries equal the `query[` lines dnsmasq logged.
 * - By question name (half the A lookups in capitals: names are counted case-insensitively): the
 *   client view per name equals what dig sent, the server view what dnsmasq logged per name.
 * - Through a 300 ms delay line towards the client, every client-view latency lands in the
 *   (250, 500] ms bucket (the delay line is a user-space process: on a loaded 2-core machine its
 *   timers run late by tens of ms, so the bucket is chosen with room above the true value).
 * - Events: one client-view event per NXDOMAIN and REFUSED response, with the name; one timeout
 *   event per unanswered query, with the name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Lab } from '../../src/lab/lab.js';
import { run } from '../../src/lab/run.js';
import { OtlpReceiver } from '../../src/otlp/receiver.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { describeRoot } from '../helpers/root.js';

const G = 12;
const X = 7;
const R = 5;
const T = 3;
const G6 = 6;

describeRoot('DNS per pod and workload pair (agent, standalone, dnsmasq)', 'loads eBPF programs and builds network namespaces', () => {
  let lab: Lab;
  let rx: OtlpReceiver;
  let agent: AgentProcess;
  let dnsmasq: ChildProcess;
  let dnsmasqLog = '';
  beforeAll(async () => {
    lab = await Lab.create({ name: 'dns', pods: 3, ipv6: true });
    const server = lab.pod(1);
    dnsmasq = lab.spawn(1, ['dnsmasq', '--no-daemon', '--no-resolv', '--no-hosts', `--listen-address=${server.ip},${server.ipv6}`, '--bind-interfaces',
      '--address=/good.lab/10.9.8.7', '--address=/good.lab/fd00::7', '--local=/lab/', '--log-queries', '--log-facility=-']);
    dnsmasq.stderr?.setEncoding('utf8').on('data', (d: string) => { dnsmasqLog += d; });
    dnsmasq.stdout?.setEncoding('utf8').on('data', (d: string) => { dnsmasqLog += d; });
    // the "dead server": its DNS port dropped by the lab's policy, so queries time out
    await run(['nft', 'add', 'rule', 'inet', lab.nftTable, 'forward', 'ip', 'daddr', lab.pod(2).ip, 'udp', 'dport', '53', 'drop']);
    rx = await OtlpReceiver.start({});
    agent = AgentProcess.start(['--endpoint', rx.endpoint, '--interfaces', 'fvdns-*', '--netns', 'fovea-dns-*',
      '--export-interval', '300ms', '--rescan-interval', '200ms', '--dns-timeout', '1s', '--dns-top-names', '10', '--no-tcp']);
    await agent.waitStarted();
    await rx.waitFor((r) => new Set(r.series('fovea.pod.network.packets').map((s) => s.attrs['k8s.pod.name'])).size === 3, 15_000);
    await agent.waitForLog((l) => l['msg'] === 'flow records switched' || (l['msg'] === 'attached' && l['flows'] === true), 5_000).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 500));
    if (!dnsmasqLog.includes('started')) throw new Error(`dnsmasq did not start: ${dnsmasqLog}`);
  });
  afterAll(async () => {
    dnsmasq?.kill('SIGTERM');
    await agent?.stop();
    await rx?.stop();
    await lab?.destroy();
  });

  const v = (metric: string, attrs: Record<string, unknown>): number => rx.latest(metric, attrs as Record<string, string>) ?? 0;
  async function dig(args: string[], times: number): Promise<void> {
    for (let i = 0; i < times; i++) await lab.exec(0, ['dig', '+tries=1', '+time=1', ...args], { allowFail: true });
  }
  async function settle(cond: () => boolean): Promise<void> {
    await rx.waitFor(cond, 15_000);
    const n = rx.requestCount;
    await rx.waitFor((r) => r.requestCount >= n + 2, 5_000);
  }

  it('client and server roles count what dig sent and what dnsmasq logged; timeouts count the unanswered', async () => {
    const [c, s, dead] = [lab.pod(0), lab.pod(1), lab.pod(2)];
    const client = (extra: Record<string, unknown>) => ({ 'k8s.pod.name': c.netns, 'fovea.dns.role': 'client', ...extra });
    const server = (extra: Record<string, unknown>) => ({ 'k8s.pod.name': s.netns, 'fovea.dns.role': 'server', ...extra });
    const queriesLogged = () => (dnsmasqLog.match(/query\[/g) ?? []).length;
    const logged0 = queriesLogged();
    await dig([`@${s.ip}`, 'good.lab', 'A'], G / 2);
    await dig([`@${s.ip}`, 'GOOD.Lab', 'A'], G / 2); // names are counted case-insensitively
    await dig(['+tcp', `@${s.ip}`, 'good.lab', 'AAAA'], G);
    await dig([`@${s.ipv6}`, 'good.lab', 'AAAA'], G6);
    await dig([`@${s.ip}`, 'nope.lab', 'A'], X);
    await dig([`@${s.ip}`, 'example.com', 'A'], R);
    await dig([`@${dead.ip}`, 'lost.lab', 'A'], T);
    await settle(() => v('fovea.pod.dns.timeouts', client({})) >= T);
    expect(queriesLogged() - logged0).toBe(2 * G + G6 + X + R);

    expect(v('fovea.pod.dns.queries', client({ 'fovea.dns.question.type': 'A', 'network.transport': 'udp' }))).toBe(G + X + R + T);
    expect(v('fovea.pod.dns.queries', client({ 'fovea.dns.question.type': 'AAAA', 'network.transport': 'tcp' }))).toBe(G);
    expect(v('fovea.pod.dns.queries', client({ 'fovea.dns.question.type': 'AAAA', 'network.transport': 'udp' }))).toBe(G6); // over IPv6
    expect(v('fovea.pod.dns.responses', client({ 'fovea.dns.response.code': 'NOERROR', 'fovea.dns.answer.empty': false }))).toBe(2 * G + G6);
    expect(v('fovea.pod.dns.responses', client({ 'fovea.dns.response.code': 'NXDOMAIN' }))).toBe(X);
    expect(v('fovea.pod.dns.responses', client({ 'fovea.dns.response.code': 'REFUSED' }))).toBe(R);
    expect(v('fovea.pod.dns.timeouts', client({}))).toBe(T);
    expect(v('fovea.pod.dns.lookup.duration', client({}))).toBe(2 * G + G6 + X + R);
    // the server pod saw the same queries (dnsmasq logged them) and answered each
    expect(v('fovea.pod.dns.queries', server({}))).toBe(queriesLogged() - logged0);
    expect(v('fovea.pod.dns.responses', server({}))).toBe(2 * G + G6 + X + R);
    // the pair client → server, counted once
    const pair = { 'fovea.source.workload.name': c.netns, 'fovea.destination.workload.name': s.netns };
    expect(v('fovea.flow.dns.queries', pair)).toBe(2 * G + G6 + X + R);
    expect(v('fovea.flow.dns.responses', { ...pair, 'fovea.dns.response.code': 'NXDOMAIN' })).toBe(X);
    expect(v('fovea.flow.dns.timeouts', { 'fovea.source.workload.name': c.netns, 'fovea.destination.workload.name': dead.netns })).toBe(T);

    // by question name (--dns-top-names 10: every name here gets a series): client view = what dig
    // sent, server view = what dnsmasq logged per name; nothing in the overflow
    const byName = (name: string, type: string, view: string) =>
      v('fovea.dns.name.queries', { 'dns.question.name': name, 'fovea.dns.question.type': type, 'fovea.dns.view': view });
    expect(byName('good.lab', 'A', 'client')).toBe(G);
    expect(byName('good.lab', 'AAAA', 'client')).toBe(G + G6);
    expect(byName('nope.lab', 'A', 'client')).toBe(X);
    expect(byName('example.com', 'A', 'client')).toBe(R);
    expect(byName('lost.lab', 'A', 'client')).toBe(T);
    const logged = (name: string, type: string) =>
      (dnsmasqLog.toLowerCase().match(new RegExp(`query\\[${type.toLowerCase()}\\] ${name.replace('.', '\\.')} from`, 'g')) ?? []).length;
    for (const [name, type] of [['good.lab', 'A'], ['good.lab', 'AAAA'], ['nope.lab', 'A'], ['example.com', 'A']] as const) {
      expect(byName(name, type, 'server')).toBe(logged(name, type));
    }
    expect(v('fovea.dns.name.responses', { 'dns.question.name': 'nope.lab', 'fovea.dns.view': 'client', 'fovea.dns.response.code': 'NXDOMAIN' })).toBe(X);
    expect(v('fovea.dns.name.overflow', { 'fovea.dns.kind': 'query' })).toBe(0);

    // events: failed responses (client view) and timeouts, with the question
    await rx.waitForLogs((recs) => recs.filter((r) => r.eventName === 'fovea.dns.timeout').length >= T, 10_000);
    const logs = rx.logRecords();
    const failed = (code: string) => logs.filter((r) => r.eventName === 'fovea.dns.message' && r.attrs['fovea.dns.view'] === 'client'
      && r.attrs['fovea.dns.response.code'] === code);
    expect(failed('NXDOMAIN').length).toBe(X);
    expect(failed('NXDOMAIN').every((r) => r.attrs['dns.question.name'] === 'nope.lab' && r.attrs['fovea.source.workload.name'] === s.netns)).toBe(true);
    expect(failed('REFUSED').length).toBe(R);
    const timeouts = logs.filter((r) => r.eventName === 'fovea.dns.timeout');
    expect(timeouts.length).toBe(T);
    expect(timeouts.every((r) => r.attrs['dns.question.name'] === 'lost.lab' && r.attrs['fovea.destination.workload.name'] === dead.netns)).toBe(true);
  }, 120_000);

  it('through a 300 ms delay towards the client, every client-view latency is in the (250, 500] ms bucket', async () => {
    const [c, s] = [lab.pod(0), lab.pod(1)];
    const N = 10;
    const series = () => rx.series('fovea.pod.dns.lookup.duration').find((x) => x.attrs['k8s.pod.name'] === c.netns
      && x.attrs['fovea.dns.question.type'] === 'A' && x.attrs['network.transport'] === 'udp' && x.attrs['fovea.dns.role'] === 'client');
    const before = series()?.histogram;
    const delay = await lab.delayTowards(0, 300);
    try {
      await dig([`@${s.ip}`, 'good.lab', 'A'], N);
    } finally {
      await delay.stop();
    }
    await settle(() => (series()?.histogram?.count ?? 0) - (before?.count ?? 0) >= N);
    const after = series()!.histogram!;
    const bucket = 11; // (0.25, 0.5]: the delay plus up to 200 ms of a loaded machine's timer lateness
    expect(after.count - (before?.count ?? 0)).toBe(N);
    expect(after.bucketCounts[bucket]! - (before?.bucketCounts[bucket] ?? 0)).toBe(N);
  }, 60_000);
});

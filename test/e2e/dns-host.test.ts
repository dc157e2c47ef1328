/**
 * DNS on a node interface (probes.dns.hostInterfaces): host-network DNS servers and clients, and
 * no double counting of this node's pods.
 *
 * Topology: the lab's pods behind their veths, plus an "other node" — a network namespace
 * (fvout-dnsh, not a pod) behind a veth whose root end fvdnsh-up is the node interface configured
 * for DNS. dnsmasq runs twice: in the root namespace (a host-network server, on 10.250.7.1) and in
 * the other node (10.250.7.2).
 *
 * - S queries from the other node to the host-network server: the server view counts S queries
 *   and S responses (= what dnsmasq logged); the host's dnsmasq is no pod, so no pod series.
 * - H queries from the root namespace (a host-network client) to the other node: client view, H.
 * - P queries from lab pod 0 to the other node cross the pod's veth and the node interface: the
 *   pod's client role counts P, and the node's client view counts H + P — not H + 2P.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Lab } from '../../src/lab/lab.js';
import { run } from '../../src/lab/run.js';
import { OtlpReceiver } from '../../src/otlp/receiver.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { describeRoot } from '../helpers/root.js';

const S = 9;
const H = 6;
const P = 8;
const OUT_NS = 'fvout-dnsh';
const UP = 'fvdnsh-up'; // a lab-prefixed name: the lab's cleanup removes it with the pods' veths
const HOST_IP = '10.250.7.1';
const OUT_IP = '10.250.7.2';

describeRoot('DNS on a node interface (host-network server and client, agent, standalone)', 'loads eBPF programs and builds network namespaces', () => {
  let lab: Lab;
  let rx: OtlpReceiver;
  let agent: AgentProcess;
  const servers: ChildProcess[] = [];
  const logs = { host: '', out: '' };

  function dnsmasq(prefix: string[], listen: string, into: 'host' | 'out'): void {
    const p = spawn(prefix[0]!, [...prefix.slice(1), 'dnsmasq', '--no-daemon', '--no-resolv', '--no-hosts', `--listen-address=${listen}`, '--bind-interfaces',
      '--address=/svc.lab/10.9.8.7', '--local=/lab/', '--log-queries', '--log-facility=-', '--pid-file='], { stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout.setEncoding('utf8').on('data', (d: string) => { logs[into] += d; });
    p.stderr.setEncoding('utf8').on('data', (d: string) => { logs[into] += d; });
    servers.push(p);
  }

  beforeAll(async () => {
    lab = await Lab.create({ name: 'dnsh', pods: 1 });
    await run(['ip', 'netns', 'del', OUT_NS], { allowFail: true });
    await run(['ip', 'netns', 'add', OUT_NS]);
    await run(['ip', 'link', 'add', UP, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', OUT_NS]);
    await run(['sysctl', '-q', '-w', `net.ipv4.conf.${UP}.forwarding=1`, `net.ipv4.conf.${UP}.rp_filter=0`, `net.ipv6.conf.${UP}.disable_ipv6=1`]);
    await run(['ip', 'addr', 'add', `${HOST_IP}/30`, 'dev', UP]);
    await run(['ip', 'link', 'set', UP, 'up']);
    const inOut = ['ip', 'netns', 'exec', OUT_NS];
    await run([...inOut, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1']);
    await run([...inOut, 'ip', 'addr', 'add', `${OUT_IP}/30`, 'dev', 'eth0']);
    await run([...inOut, 'ip', 'link', 'set', 'eth0', 'up']);
    await run([...inOut, 'ip', 'link', 'set', 'lo', 'up']);
    await run([...inOut, 'ip', 'route', 'add', 'default', 'via', HOST_IP]);
    dnsmasq(['env'], HOST_IP, 'host');
    dnsmasq(inOut, OUT_IP, 'out');
    rx = await OtlpReceiver.start({});
    agent = AgentProcess.start(['--endpoint', rx.endpoint, '--interfaces', 'fvdnsh-*', '--netns', 'fovea-dnsh-*',
      '--dns-host-interfaces', UP, '--dns-top-names', '10', '--export-interval', '300ms', '--rescan-interval', '200ms', '--no-tcp', '--no-drop']);
    await agent.waitStarted();
    await agent.waitForLog((l) => l['msg'] === 'attached' && l['interface'] === UP && l['dnsHost'] === true, 10_000);
    await rx.waitFor((r) => r.series('fovea.pod.network.packets').some((s) => s.attrs['k8s.pod.name'] === lab.pod(0).netns), 15_000);
    await agent.waitForLog((l) => l['msg'] === 'flow records switched' || (l['msg'] === 'attached' && l['flows'] === true), 5_000).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 800)); // a pod sync: the pod's address reaches the kernel
    for (const [k, v] of Object.entries(logs)) if (!v.includes('started')) throw new Error(`dnsmasq (${k}) did not start: ${v}`);
  });
  afterAll(async () => {
    for (const s of servers) s.kill('SIGTERM');
    await agent?.stop();
    await rx?.stop();
    await run(['ip', 'netns', 'del', OUT_NS], { allowFail: true });
    await lab?.destroy();
  });

  const v = (metric: string, attrs: Record<string, unknown>): number => rx.latest(metric, attrs as Record<string, string>) ?? 0;
  async function dig(prefix: string[], server: string, name: string, times: number): Promise<void> {
    for (let i = 0; i < times; i++) await run([...prefix, 'dig', '+tries=1', '+time=1', `@${server}`, name, 'A'], { allowFail: true });
  }
  const logged = (which: 'host' | 'out') => (logs[which].match(/query\[A\]/g) ?? []).length;

  it('counts a host-network server\'s and a host client\'s DNS, and this node\'s pods once', async () => {
    const inOut = ['ip', 'netns', 'exec', OUT_NS];
    const inPod = ['ip', 'netns', 'exec', lab.pod(0).netns];
    await dig(inOut, HOST_IP, 'a.svc.lab', S);
    await dig([], OUT_IP, 'b.svc.lab', H);
    await dig(inPod, OUT_IP, 'c.svc.lab', P);
    await rx.waitFor(() => v('fovea.dns.queries', { 'fovea.dns.view': 'client' }) >= H + P && v('fovea.dns.queries', { 'fovea.dns.view': 'server' }) >= S, 15_000);
    const n = rx.requestCount;
    await rx.waitFor((r) => r.requestCount >= n + 3, 5_000);

    expect(logged('host')).toBe(S);
    expect(logged('out')).toBe(H + P);
    // the host-network server (root namespace): its view, at the node interface
    expect(v('fovea.dns.queries', { 'fovea.dns.view': 'server' })).toBe(S);
    expect(v('fovea.dns.responses', { 'fovea.dns.view': 'server', 'fovea.dns.response.code': 'NOERROR', 'fovea.dns.answer.empty': false })).toBe(S);
    // clients: the host's own lookups plus the pod's, each once
    expect(v('fovea.dns.queries', { 'fovea.dns.view': 'client' })).toBe(H + P);
    expect(v('fovea.dns.lookup.duration', { 'fovea.dns.view': 'client' })).toBe(H + P);
    expect(v('fovea.pod.dns.queries', { 'k8s.pod.name': lab.pod(0).netns, 'fovea.dns.role': 'client' })).toBe(P);
    // by name: the same split
    const byName = (name: string, view: string) => v('fovea.dns.name.queries', { 'dns.question.name': name, 'fovea.dns.view': view });
    expect([byName('a.svc.lab', 'server'), byName('b.svc.lab', 'client'), byName('c.svc.lab', 'client')]).toEqual([S, H, P]);
  }, 90_000);
});

/**
 * Each pod's own kernel network counters, end to end, outside Kubernetes: the real agent
 * (`--netns`: named network namespaces are the pods) opens, inside every pod's network namespace, its
 * /proc/net/snmp, netstat and snmp6. Known events are caused inside the pods — datagrams to a
 * closed port (Udp.NoPorts at the receiver), connects to a closed port (Tcp.AttemptFails at the
 * client, Tcp.OutRsts at the server) — and the exported values are compared with what
 * `ip netns exec <pod> cat /proc/net/...` says once the traffic stopped: exactly, and the deltas
 * are what was sent. The node's values are checked against the host's own files read just before
 * and just after an export (equal where the counter did not move meanwhile, within the two where it
 * did). Every thread of the agent is in the host's network namespace at the end. The agent keeps
 * each namespace's files open between reads, and lets go of a pod's when the pod leaves: the
 * deleted namespace is freed (its veth's host end vanishes).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { networkNamespaceGone } from '../../src/kernel/netns.js';
import { Lab } from '../../src/lab/lab.js';
import { netnsPath } from '../../src/netns/pod-interfaces.js';
import { sendUdp, tcpConnectAttempts } from '../../src/lab/traffic.js';
import { OtlpReceiver } from '../../src/otlp/receiver.js';
import { NETSTACK_COUNTERS } from '../../src/probes/netstack/snmp.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { describeRoot } from '../helpers/root.js';

const CLOSED_PORT = 9; // nothing listens in the lab pods
const UDP_COUNT = 37;
const TCP_COUNT = 23;
const POD_METRIC = 'fovea.pod.netstack.counter';
const NODE_METRIC = 'fovea.netstack.counter';

/**
 * Every counter of one namespace's snmp, netstat and snmp6 texts as `<Proto>.<Field>` → value.
 * Written apart from src/probes/netstack/snmp.ts on purpose: the truth must not share the parser.
 */
function kernelTruth(snmp: string, netstat: string, snmp6: string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const text of [snmp, netstat]) {
    const lines = text.trim().split('\n').map((l) => l.split(/\s+/));
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const [h, v] = [lines[i]!, lines[i + 1]!];
      const proto = h[0]!.replace(/:$/, '');
      h.slice(1).forEach((name, k) => out.set(`${proto}.${name}`, Number(v[k + 1])));
    }
  }
  for (const line of (snmp6 ?? '').trim().split('\n')) {
    const m = /^(Ip6|Icmp6|Udp6|UdpLite6)(\w+)\s+(\d+)$/.exec(line.trim());
    if (m) out.set(`${m[1]}.${m[2]}`, Number(m[3]));
  }
  return out;
}

function podTruth(netns: string): Map<string, number> {
  const cat = (f: string) => execFileSync('ip', ['netns', 'exec', netns, 'cat', `/proc/net/${f}`], { encoding: 'utf8' });
  let snmp6: string | undefined;
  try { snmp6 = cat('snmp6'); } catch { snmp6 = undefined; }
  return kernelTruth(cat('snmp'), cat('netstat'), snmp6);
}

function hostTruth(): Map<string, number> {
  const read = (f: string) => readFileSync(`/proc/thread-self/net/${f}`, 'utf8');
  let snmp6: string | undefined;
  try { snmp6 = read('snmp6'); } catch { snmp6 = undefined; }
  return kernelTruth(read('snmp'), read('netstat'), snmp6);
}

/** /proc/net files of a namespace the agent reads (snmp, netstat, and snmp6 where IPv6 is on). */
const FILES_PER_NETNS = existsSync('/proc/thread-self/net/snmp6') ? 3 : 2;

/** The process's fds open on a /proc/<tid>/net file (any namespace's). */
function procNetFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try { return /^\/proc\/\d+\/(task\/\d+\/)?net\//.test(readlinkSync(`/proc/${pid}/fd/${fd}`)); } catch { return false; }
  }).length;
}

/** Data points of `metric` in the newest export: counter name → value, per pod name ('' = node). */
function lastExport(rx: OtlpReceiver, metric: string): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  const last = rx.requests[rx.requests.length - 1];
  for (const rm of last?.request.resourceMetrics ?? []) for (const sm of rm.scopeMetrics) for (const m of sm.metrics) {
    if (m.name !== metric || !m.sum) continue;
    for (const dp of m.sum.dataPoints) {
      const attrs = Object.fromEntries((dp.attributes ?? []).map((a) => [a.key, a.value?.stringValue]));
      const pod = attrs['k8s.pod.name'] ?? '';
      let byCounter = out.get(pod);
      if (!byCounter) out.set(pod, (byCounter = new Map()));
      byCounter.set(attrs['fovea.counter.name']!, Number(dp.asInt ?? dp.asDouble ?? NaN));
    }
  }
  return out;
}

/** Resolves after `n` more exports (the newest then was collected after this call, give or take one interval). */
async function exportsLater(rx: OtlpReceiver, n: number): Promise<void> {
  const at = rx.requestCount;
  await rx.waitFor((r) => r.requestCount >= at + n, 10_000);
}

/** Exported counters of one pod must equal its namespace's /proc, counter by counter. */
function expectEqualsKernel(exported: Map<string, number> | undefined, truth: Map<string, number>, pod: string): void {
  expect(exported, `${pod}: exported`).toBeDefined();
  const want = Object.fromEntries(NETSTACK_COUNTERS.filter((c) => truth.has(c)).map((c) => [c, truth.get(c)]));
  expect(Object.fromEntries(exported!), pod).toEqual(want);
}

describeRoot('netstack: each pod\'s own kernel counters (standalone, named netns as pods)', 'enters network namespaces and loads eBPF programs', () => {
  let lab: Lab;
  let rx: OtlpReceiver;
  let agent: AgentProcess;
  beforeAll(async () => {
    lab = await Lab.create({ name: 'nsk', pods: 3 });
    rx = await OtlpReceiver.start({});
    agent = AgentProcess.start(['--endpoint', rx.endpoint, '--interfaces', 'fvnsk-*', '--netns', 'fovea-nsk-*',
      '--export-interval', '300ms', '--rescan-interval', '200ms']);
    await agent.waitStarted();
    await rx.waitFor((r) => lastExport(r, POD_METRIC).size === 3, 15_000);
  });
  afterAll(async () => {
    await agent?.stop();
    await rx?.stop();
    await lab?.destroy();
  });

  it('per pod: exactly what the pod\'s own /proc/net says; the deltas are the events caused', async () => {
    const [a, b, c] = [lab.pod(0), lab.pod(1), lab.pod(2)];
    const before = lastExport(rx, POD_METRIC);
    for (const p of [a, b, c]) expectEqualsKernel(before.get(p.netns), podTruth(p.netns), p.netns); // quiet namespaces

    await sendUdp(lab, 0, b.ip, CLOSED_PORT, UDP_COUNT);
    const tcp = await tcpConnectAttempts(lab, 0, c.ip, CLOSED_PORT, TCP_COUNT);
    expect(tcp.refused).toBe(TCP_COUNT);

    // traffic has stopped: the kernel's numbers now, then an export collected after them
    const truth = new Map([a, b, c].map((p) => [p.netns, podTruth(p.netns)]));
    await exportsLater(rx, 3);
    const after = lastExport(rx, POD_METRIC);
    for (const p of [a, b, c]) expectEqualsKernel(after.get(p.netns), truth.get(p.netns)!, p.netns);

    const delta = (pod: string, counter: string) => after.get(pod)!.get(counter)! - before.get(pod)!.get(counter)!;
    expect(delta(b.netns, 'Udp.NoPorts')).toBe(UDP_COUNT);
    expect(delta(a.netns, 'Tcp.ActiveOpens')).toBe(TCP_COUNT);
    expect(delta(a.netns, 'Tcp.AttemptFails')).toBe(TCP_COUNT);
    expect(delta(c.netns, 'Tcp.OutRsts')).toBe(TCP_COUNT);
    // and nowhere else
    expect(delta(a.netns, 'Udp.NoPorts')).toBe(0);
    expect(delta(c.netns, 'Udp.NoPorts')).toBe(0);
    expect(delta(b.netns, 'Tcp.OutRsts')).toBe(0);
    expect(delta(c.netns, 'Tcp.AttemptFails')).toBe(0);

    // identity on the points: the pod, as the other pod metrics carry it
    const s = rx.series(POD_METRIC).find((x) => x.attrs['k8s.pod.name'] === b.netns && x.attrs['fovea.counter.name'] === 'Udp.NoPorts')!;
    expect(s.attrs).toEqual({
      'k8s.pod.uid': `netns:${b.netns}`, 'k8s.pod.name': b.netns, 'k8s.namespace.name': '',
      'fovea.workload.kind': 'NetworkNamespace', 'fovea.workload.name': b.netns, 'fovea.counter.name': 'Udp.NoPorts',
    });
    expect(s).toMatchObject({ kind: 'sum', temporality: 'cumulative', isMonotonic: true, unit: '{event}' });
    // no pod was skipped
    expect(rx.latest('fovea.agent.kernel.record.failures', { 'fovea.probe': 'netstack', 'fovea.failure.kind': 'netns_unreadable' })).toBe(0);
    expect(rx.latest('fovea.agent.kernel.record.failures', { 'fovea.probe': 'netstack', 'fovea.failure.kind': 'malformed' })).toBe(0);
  });

  it('node: the host\'s own counters (equal where they did not move around the export, within the window where they did)', async () => {
    const t0 = hostTruth();
    await exportsLater(rx, 3);
    const t1 = hostTruth();
    const node = lastExport(rx, NODE_METRIC).get('')!;
    expect([...node.keys()]).toEqual(NETSTACK_COUNTERS.filter((c) => t0.has(c)));
    let exact = 0;
    for (const [counter, value] of node) {
      const [lo, hi] = [t0.get(counter)!, t1.get(counter)!];
      if (lo === hi) { expect(value, counter).toBe(lo); exact++; } else {
        expect(value, counter).toBeGreaterThanOrEqual(lo);
        expect(value, counter).toBeLessThanOrEqual(hi);
      }
    }
    expect(exact).toBeGreaterThanOrEqual(NETSTACK_COUNTERS.length - 6); // the agent's own exports move a few TCP ones at most
  });

  it('every thread of the agent is in the host\'s network namespace', () => {
    const own = readlinkSync('/proc/self/ns/net');
    const threads = readdirSync(`/proc/${agent.pid}/task`);
    expect(threads.length).toBeGreaterThan(1);
    for (const t of threads) expect(readlinkSync(`/proc/${agent.pid}/task/${t}/ns/net`), `thread ${t}`).toBe(own);
    expect(agent.logs.filter((l) => l['level'] === 60)).toEqual([]);
  });

  it('the agent reads each namespace through files it keeps open: its own and each pod\'s, one fd per file', () => {
    expect(procNetFds(agent.pid)).toBe(4 * FILES_PER_NETNS);
  });

  it('a pod that left: its series are gone at once; the others stay; the agent lets go of its namespace, which the kernel frees', async () => {
    const gone = lab.pod(2);
    execFileSync('ip', ['netns', 'del', gone.netns]);
    await rx.waitFor((r) => {
      const pods = lastExport(r, POD_METRIC);
      return !pods.has(gone.netns) && pods.has(lab.pod(0).netns) && pods.has(lab.pod(1).netns);
    }, 10_000);
    expect(agent.exited).toBeUndefined();
    // a kept fd would hold the deleted namespace alive, and with it the pod's end of its veth pair:
    // the host end vanishing shows the kernel freed it
    const t0 = Date.now();
    while (existsSync(`/sys/class/net/${gone.hostIfname}`) && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(`/sys/class/net/${gone.hostIfname}`), 'host end of the deleted pod\'s veth').toBe(false);
    expect(procNetFds(agent.pid)).toBe(3 * FILES_PER_NETNS);
  });

  it('the deleted pod\'s namespace is verifiably gone (a read racing the deletion is skipped at debug, not warned); a live pod\'s is not', () => {
    expect(networkNamespaceGone(netnsPath(lab.pod(2).netns))).toBe(true);
    expect(networkNamespaceGone(netnsPath(lab.pod(0).netns))).toBe(false);
  });
});

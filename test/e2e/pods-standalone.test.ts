/**
 * Pod-level attribution end to end, outside Kubernetes: named network namespaces are the
 * workloads (`--netns`). The real agent, real traffic and drops in a lab; per-pod numbers compared
 * with the kernel's own counters of the pods' veths and the nft rule — exactly.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Lab, DENY_PORT } from '../../src/lab/lab.js';
import { linkStats, nftRuleCounters } from '../../src/lab/kernel-truth.js';
import { sendUdp, startUdpSink } from '../../src/lab/traffic.js';
import { OtlpReceiver } from '../../src/otlp/receiver.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { describeRoot } from '../helpers/root.js';

const SINK_PORT = 5000;

/** Series of a metric in the newest export only. */
function lastExport(rx: OtlpReceiver, metric: string): Array<{ attrs: Record<string, unknown>; value: number }> {
  const last = rx.requests[rx.requests.length - 1];
  const out: Array<{ attrs: Record<string, unknown>; value: number }> = [];
  for (const rm of last?.request.resourceMetrics ?? []) for (const sm of rm.scopeMetrics) for (const m of sm.metrics) {
    if (m.name !== metric || !m.sum) continue;
    for (const dp of m.sum.dataPoints) {
      out.push({
        attrs: Object.fromEntries((dp.attributes ?? []).map((a) => [a.key, a.value?.stringValue ?? Number(a.value?.intValue ?? NaN)])),
        value: Number(dp.asInt ?? dp.asDouble ?? 0),
      });
    }
  }
  return out;
}

describeRoot('pod attribution, standalone (named netns as workloads)', 'loads eBPF programs and builds network namespaces', () => {
  let lab: Lab;
  let rx: OtlpReceiver;
  let agent: AgentProcess;
  beforeAll(async () => {
    lab = await Lab.create({ name: 'pods', pods: 3 });
    rx = await OtlpReceiver.start({});
    agent = AgentProcess.start(['--endpoint', rx.endpoint, '--interfaces', 'fvpods-*', '--netns', 'fovea-pods-*',
      '--export-interval', '300ms', '--rescan-interval', '200ms', '--pod-series-ttl', '1s']);
    await agent.waitStarted();
    // all three pods known and their veths flow-tracked before traffic starts
    await rx.waitFor((r) => new Set(lastExport(r, 'fovea.pod.network.packets').map((s) => s.attrs['k8s.pod.name'])).size === 3, 15_000);
    await agent.waitForLog((l) => l['msg'] === 'flow records switched' || (l['msg'] === 'attached' && l['flows'] === true), 5_000).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 500));
  });
  afterAll(async () => {
    await agent?.stop();
    await rx?.stop();
    await lab?.destroy();
  });

  const podValue = (metric: string, pod: string, attrs: Record<string, unknown> = {}) =>
    rx.latest(metric, { 'k8s.pod.name': pod, ...attrs } as Record<string, string>) ?? 0;

  it('per-pod traffic equals ip -s link of the pod\'s veth (direction from the pod), a policy drop is the pod\'s with reason and peer workload', async () => {
    const [p0, p1] = [lab.pod(0), lab.pod(1)];
    const sink = await startUdpSink(lab, 1, SINK_PORT);
    const base = {
      tx0: podValue('fovea.pod.network.packets', p0.netns, { 'network.io.direction': 'transmit' }),
      rx1: podValue('fovea.pod.network.packets', p1.netns, { 'network.io.direction': 'receive' }),
      bytesTx0: podValue('fovea.pod.network.io', p0.netns, { 'network.io.direction': 'transmit' }),
      drop0: podValue('fovea.pod.network.drop.packets', p0.netns, { 'fovea.drop.reason': 'NETFILTER_DROP', 'network.io.direction': 'transmit' }),
      drop1: podValue('fovea.pod.network.drop.packets', p1.netns, { 'fovea.drop.reason': 'NETFILTER_DROP', 'network.io.direction': 'receive' }),
    };
    const l0 = await linkStats(p0.hostIfname);
    const l1 = await linkStats(p1.hostIfname);
    const nft0 = await nftRuleCounters(lab.nftTable);
    await sendUdp(lab, 0, p1.ip, SINK_PORT, 400, { size: 200 });
    await sendUdp(lab, 0, p1.ip, DENY_PORT, 150, { size: 60 });
    await sink.stop();
    const nft1 = await nftRuleCounters(lab.nftTable);
    const l0b = await linkStats(p0.hostIfname);
    const l1b = await linkStats(p1.hostIfname);
    const denied = nft1['deny-udp']!.packets - nft0['deny-udp']!.packets;
    expect(denied).toBe(150);
    const want = { tx0: l0b.rxPackets - l0.rxPackets, bytesTx0: l0b.rxBytes - l0.rxBytes, rx1: l1b.txPackets - l1.txPackets };
    expect(want.tx0).toBe(550);
    await rx.waitFor(() => podValue('fovea.pod.network.packets', p0.netns, { 'network.io.direction': 'transmit' }) - base.tx0 >= want.tx0
      && podValue('fovea.pod.network.drop.packets', p1.netns, { 'fovea.drop.reason': 'NETFILTER_DROP', 'network.io.direction': 'receive' }) - base.drop1 >= denied, 10_000);
    const n = rx.requestCount;
    await rx.waitFor((r) => r.requestCount >= n + 2, 5_000);
    expect(podValue('fovea.pod.network.packets', p0.netns, { 'network.io.direction': 'transmit' }) - base.tx0).toBe(want.tx0);
    expect(podValue('fovea.pod.network.io', p0.netns, { 'network.io.direction': 'transmit' }) - base.bytesTx0).toBe(want.bytesTx0);
    expect(podValue('fovea.pod.network.packets', p1.netns, { 'network.io.direction': 'receive' }) - base.rx1).toBe(want.rx1);
    expect(podValue('fovea.pod.network.drop.packets', p0.netns, { 'fovea.drop.reason': 'NETFILTER_DROP', 'network.io.direction': 'transmit' }) - base.drop0).toBe(denied);
    expect(podValue('fovea.pod.network.drop.packets', p1.netns, { 'fovea.drop.reason': 'NETFILTER_DROP', 'network.io.direction': 'receive' }) - base.drop1).toBe(denied);
    // the drop between the two workloads, with the peer named
    expect(rx.latest('fovea.flow.drop.packets', {
      'fovea.source.workload.name': p0.netns, 'fovea.destination.workload.name': p1.netns,
      'fovea.drop.reason': 'NETFILTER_DROP', 'fovea.server.port': DENY_PORT,
    } as unknown as Record<string, string>)).toBe(denied);
    // workload-to-workload: the 400 datagrams crossed two veths but count once
    expect(rx.latest('fovea.flow.packets', {
      'fovea.source.workload.name': p0.netns, 'fovea.destination.workload.name': p1.netns,
      'network.transport': 'udp', 'fovea.server.port': SINK_PORT,
    } as unknown as Record<string, string>)).toBe(400);
    // identity attributes for the collector
    const s = rx.series('fovea.pod.network.packets').find((x) => x.attrs['k8s.pod.name'] === p0.netns)!;
    expect(s.attrs).toMatchObject({ 'k8s.pod.uid': `netns:${p0.netns}`, 'fovea.workload.kind': 'NetworkNamespace', 'fovea.workload.name': p0.netns });
  });

  it('a deleted pod\'s series are gone after the TTL; the others stay', async () => {
    const gone = lab.pod(2);
    execFileSync('ip', ['netns', 'del', gone.netns]); // the veth pair goes with it
    await rx.waitFor((r) => {
      const names = new Set(lastExport(r, 'fovea.pod.network.packets').map((s) => s.attrs['k8s.pod.name']));
      return !names.has(gone.netns) && names.has(lab.pod(0).netns);
    }, 10_000);
    expect(agent.exited).toBeUndefined();
  });
});

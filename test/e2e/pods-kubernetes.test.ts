/**
 * Pod attribution with Kubernetes identity, end to end: the real agent in cluster mode, reading
 * pods, ReplicaSets and Services through the real client from a fake API server over real HTTP;
 * the "pods" are lab network namespaces whose addresses the API reports. Both ends of a flow get
 * namespace and workload (ReplicaSet → Deployment); numbers equal the kernel's own counters.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Lab, DENY_PORT } from '../../src/lab/lab.js';
import { nftRuleCounters } from '../../src/lab/kernel-truth.js';
import { sendUdp, startUdpSink } from '../../src/lab/traffic.js';
import { OtlpReceiver } from '../../src/otlp/receiver.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { FakeApiServer } from '../helpers/fake-apiserver.js';
import { describeRoot } from '../helpers/root.js';

const NODE = 'node-a';
const SINK_PORT = 5001;

function podObject(name: string, ns: string, ip: string, owner: { kind: string; name: string; uid: string }, labels: Record<string, string> = {}) {
  return {
    metadata: {
      name, namespace: ns, uid: `uid-${name}`, labels, creationTimestamp: '2026-11-26T00:00:00Z',
      ownerReferences: [{ apiVersion: 'apps/v1', kind: owner.kind, name: owner.name, uid: owner.uid, controller: true }],
    },
    spec: { nodeName: NODE, hostNetwork: false },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], hostIP: '192.0.2.10', hostIPs: [{ ip: '192.0.2.10' }] },
  };
}

/** Series of a metric in the newest export only. */
function lastExportPods(rx: OtlpReceiver, metric: string): Set<unknown> {
  const last = rx.requests[rx.requests.length - 1];
  const names = new Set<unknown>();
  for (const rm of last?.request.resourceMetrics ?? []) for (const sm of rm.scopeMetrics) for (const m of sm.metrics) {
    if (m.name !== metric || !m.sum) continue;
    for (const dp of m.sum.dataPoints) names.add(dp.attributes?.find((a) => a.key === 'k8s.pod.name')?.value?.stringValue);
  }
  return names;
}

describeRoot('pod attribution with Kubernetes identity (fake API server)', 'loads eBPF programs and builds network namespaces', () => {
  let lab: Lab;
  let api: FakeApiServer;
  let rx: OtlpReceiver;
  let agent: AgentProcess;
  beforeAll(async () => {
    lab = await Lab.create({ name: 'kube', pods: 2 });
    api = await FakeApiServer.start();
    api.put('replicasets', {
      metadata: { name: 'web-5d4f8', namespace: 'shop', uid: 'uid-rs-web',
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'uid-dep-web', controller: true }] },
    });
    api.put('pods', podObject('web-5d4f8-x7k2p', 'shop', lab.pod(0).ip, { kind: 'ReplicaSet', name: 'web-5d4f8', uid: 'uid-rs-web' }, { 'pod-template-hash': '5d4f8' }));
    api.put('pods', podObject('db-0', 'data', lab.pod(1).ip, { kind: 'StatefulSet', name: 'db', uid: 'uid-sts-db' }));
    api.put('services', { metadata: { name: 'db', namespace: 'data', uid: 'uid-svc-db' }, spec: { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'] } });
    const dir = mkdtempSync(join(tmpdir(), 'fovea-kube-'));
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, api.kubeConfig().exportConfig());
    rx = await OtlpReceiver.start({});
    agent = AgentProcess.start(['--endpoint', rx.endpoint, '--interfaces', 'fvkube-*', '--kubernetes', 'cluster', '--kubeconfig', kubeconfig,
      '--node-name', NODE, '--export-interval', '300ms', '--rescan-interval', '200ms', '--pod-series-ttl', '1s']);
    await agent.waitStarted();
    await rx.waitFor((r) => lastExportPods(r, 'fovea.pod.network.packets').size === 2, 15_000);
    await new Promise((r) => setTimeout(r, 500)); // flow records switched on for both veths
  });
  afterAll(async () => {
    await agent?.stop();
    await rx?.stop();
    await api?.close();
    await lab?.destroy();
  });

  it('both ends named by workload (ReplicaSet → Deployment, StatefulSet), drops attributed to the pod, counts exact', async () => {
    const sink = await startUdpSink(lab, 1, SINK_PORT);
    const nft0 = await nftRuleCounters(lab.nftTable);
    const flowAttrs = {
      'fovea.source.namespace': 'shop', 'fovea.source.workload.kind': 'Deployment', 'fovea.source.workload.name': 'web',
      'fovea.destination.namespace': 'data', 'fovea.destination.workload.kind': 'StatefulSet', 'fovea.destination.workload.name': 'db',
    };
    const base = {
      flow: rx.latest('fovea.flow.packets', { ...flowAttrs, 'fovea.server.port': SINK_PORT } as unknown as Record<string, string>) ?? 0,
      drop: rx.latest('fovea.flow.drop.packets', { ...flowAttrs, 'fovea.drop.reason': 'NETFILTER_DROP' }) ?? 0,
      podDrop: rx.latest('fovea.pod.network.drop.packets', { 'k8s.pod.name': 'web-5d4f8-x7k2p', 'fovea.drop.reason': 'NETFILTER_DROP' }) ?? 0,
    };
    await sendUdp(lab, 0, lab.pod(1).ip, SINK_PORT, 321, { size: 100 });
    await sendUdp(lab, 0, lab.pod(1).ip, DENY_PORT, 123, { size: 100 });
    await sink.stop();
    const nft1 = await nftRuleCounters(lab.nftTable);
    const denied = nft1['deny-udp']!.packets - nft0['deny-udp']!.packets;
    expect(denied).toBe(123);
    const flow = () => (rx.latest('fovea.flow.packets', { ...flowAttrs, 'fovea.server.port': SINK_PORT } as unknown as Record<string, string>) ?? 0) - base.flow;
    await rx.waitFor(() => flow() >= 321, 10_000);
    const n = rx.requestCount;
    await rx.waitFor((r) => r.requestCount >= n + 2, 5_000);
    expect(flow()).toBe(321);
    expect((rx.latest('fovea.flow.drop.packets', { ...flowAttrs, 'fovea.drop.reason': 'NETFILTER_DROP' }) ?? 0) - base.drop).toBe(denied);
    expect((rx.latest('fovea.pod.network.drop.packets', { 'k8s.pod.name': 'web-5d4f8-x7k2p', 'fovea.drop.reason': 'NETFILTER_DROP' }) ?? 0) - base.podDrop).toBe(denied);
    const s = rx.series('fovea.pod.network.packets').find((x) => x.attrs['k8s.pod.name'] === 'db-0')!;
    expect(s.attrs).toMatchObject({ 'k8s.pod.uid': 'uid-db-0', 'k8s.namespace.name': 'data', 'fovea.workload.kind': 'StatefulSet', 'fovea.workload.name': 'db' });
    expect(rx.latest('fovea.agent.identity.errors')).toBe(0);
  });

  it('a pod deleted in the API: its series are gone after the TTL', async () => {
    api.delete('pods', 'data', 'db-0');
    await rx.waitFor((r) => {
      const pods = lastExportPods(r, 'fovea.pod.network.packets');
      return !pods.has('db-0') && pods.has('web-5d4f8-x7k2p');
    }, 10_000);
    expect(agent.exited).toBeUndefined();
  });
});

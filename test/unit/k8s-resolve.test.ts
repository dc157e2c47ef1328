/**
 * Identity rules without HTTP: workload resolution through owners (watched and heuristic), the IP
 * index and its reuse rules, host-network pods, dual-stack, services, and StaticIdentity.
 */
import { describe, expect, it } from 'vitest';
import {
  IdentityIndex, canonicalIp, podRecordFromObject, serviceInfoFromObject, workloadOf,
  type ObjectMeta, type OwnerLookup, type PodObject,
} from '../../src/k8s/resolve.js';
import { StaticIdentity } from '../../src/k8s/static.js';
import type { PodInfo } from '../../src/k8s/types.js';

interface PodSpec {
  uid?: string; ns?: string; node?: string; ips?: string[]; hostIPs?: string[]; hostNetwork?: boolean;
  phase?: string; owner?: { kind: string; name: string; controller?: boolean }; hash?: string;
  created?: string; deleting?: boolean;
}
function pod(name: string, s: PodSpec = {}): PodObject {
  return {
    metadata: {
      name, namespace: s.ns ?? 'default', uid: s.uid ?? `uid-${name}`,
      creationTimestamp: s.created ?? '2024-05-01T10:00:00Z',
      ...(s.deleting ? { deletionTimestamp: '2024-05-01T11:00:00Z' } : {}),
      ...(s.hash ? { labels: { 'pod-template-hash': s.hash, app: 'x' } } : {}),
      ...(s.owner ? { ownerReferences: [{ controller: true, ...s.owner }] } : {}),
    },
    spec: { nodeName: s.node ?? 'node-a', hostNetwork: s.hostNetwork ?? false },
    status: {
      phase: s.phase ?? 'Running',
      ...(s.ips ? { podIP: s.ips[0], podIPs: s.ips.map((ip) => ({ ip })) } : {}),
      hostIPs: (s.hostIPs ?? ['192.168.1.10']).map((ip) => ({ ip })),
      hostIP: (s.hostIPs ?? ['192.168.1.10'])[0],
    },
  };
}
const rec = (p: PodObject, owners?: OwnerLookup) => podRecordFromObject(p, owners)!;
const meta = (p: PodObject): ObjectMeta => p.metadata!;
const podName = (ix: IdentityIndex, ip: string): string | undefined => {
  const e = ix.resolve(ip);
  return e?.kind === 'pod' ? e.pod.name : e ? `<${e.kind}>` : undefined;
};

describe('canonicalIp', () => {
  it('keeps IPv4, canonicalises IPv6 (RFC 5952), unmaps IPv4-mapped IPv6, rejects non-IPs', () => {
    expect(canonicalIp('10.0.0.1')).toBe('10.0.0.1');
    expect(canonicalIp('FD00:0:0:0:0:0:0:0005')).toBe('fd00::5');
    expect(canonicalIp('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(canonicalIp('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(canonicalIp('::ffff:a01:203')).toBe('10.1.2.3');
    expect(canonicalIp('fe80::1%eth0')).toBe('fe80::1');
    expect(canonicalIp('None')).toBeUndefined();
    expect(canonicalIp('')).toBeUndefined();
  });
});

describe('workloadOf', () => {
  const none: OwnerLookup = () => undefined;
  it('a pod without a controller is its own workload (kind Pod); non-controller owner refs do not count', () => {
    expect(workloadOf(meta(pod('solo')))).toEqual({ kind: 'Pod', name: 'solo' });
    expect(workloadOf(meta(pod('p', { owner: { kind: 'StatefulSet', name: 'db', controller: false } })))).toEqual({ kind: 'Pod', name: 'p' });
  });
  it('mirror pods (owned by their Node) are kind Pod', () => {
    expect(workloadOf(meta(pod('kube-proxy-node-a', { owner: { kind: 'Node', name: 'node-a' } })))).toEqual({ kind: 'Pod', name: 'kube-proxy-node-a' });
  });
  it('StatefulSet, DaemonSet, ReplicationController and custom kinds are taken directly', () => {
    for (const kind of ['StatefulSet', 'DaemonSet', 'ReplicationController', 'Workflow']) {
      expect(workloadOf(meta(pod('p', { owner: { kind, name: 'w' } })), none)).toEqual({ kind, name: 'w' });
    }
  });
  it('ReplicaSet → Deployment: watched owner wins; heuristic from pod-template-hash otherwise', () => {
    const p = meta(pod('web-7f9c-abcde', { owner: { kind: 'ReplicaSet', name: 'web-7f9c' }, hash: '7f9c' }));
    expect(workloadOf(p, none)).toEqual({ kind: 'Deployment', name: 'web' });
    expect(workloadOf(p)).toEqual({ kind: 'Deployment', name: 'web' });
    // watched: the RS belongs to something else (e.g. an Argo Rollout)
    expect(workloadOf(p, (k, ns, n) => (k === 'ReplicaSet' && ns === 'default' && n === 'web-7f9c' ? { kind: 'Rollout', name: 'web' } : undefined)))
      .toEqual({ kind: 'Rollout', name: 'web' });
  });
  it('orphan ReplicaSet: known without controller, or no matching pod-template-hash label', () => {
    const p = meta(pod('cache-x1', { owner: { kind: 'ReplicaSet', name: 'cache' }, hash: 'zz' }));
    expect(workloadOf(p, none)).toEqual({ kind: 'ReplicaSet', name: 'cache' });
    const hashed = meta(pod('web-7f9c-abcde', { owner: { kind: 'ReplicaSet', name: 'web-7f9c' }, hash: '7f9c' }));
    expect(workloadOf(hashed, () => null)).toEqual({ kind: 'ReplicaSet', name: 'web-7f9c' });
    const noLabel = meta(pod('rs-abc', { owner: { kind: 'ReplicaSet', name: 'rs' } }));
    expect(workloadOf(noLabel, none)).toEqual({ kind: 'ReplicaSet', name: 'rs' });
  });
  it('Job → CronJob: watched owner; heuristic needs the 8+ digit scheduled-minute suffix', () => {
    const cj = meta(pod('backup-28934520-x7k2p', { owner: { kind: 'Job', name: 'backup-28934520' } }));
    expect(workloadOf(cj, none)).toEqual({ kind: 'CronJob', name: 'backup' });
    const manual = meta(pod('migrate-2-abcde', { owner: { kind: 'Job', name: 'migrate-2' } }));
    expect(workloadOf(manual, none)).toEqual({ kind: 'Job', name: 'migrate-2' });
    expect(workloadOf(manual, () => ({ kind: 'CronJob', name: 'migrate' }))).toEqual({ kind: 'CronJob', name: 'migrate' });
    expect(workloadOf(cj, () => null)).toEqual({ kind: 'Job', name: 'backup-28934520' });
  });
});

describe('IdentityIndex: IP reuse', () => {
  const old = pod('old', { ips: ['10.0.0.7'], created: '2024-05-01T10:00:00Z' });
  const young = pod('young', { ips: ['10.0.0.7'], created: '2024-05-01T10:05:00Z' });

  it('new pod ADDED before the old one is DELETED: the new one wins, deleting the old keeps it', () => {
    const ix = new IdentityIndex('node-a');
    ix.upsertPod(rec(old));
    expect(podName(ix, '10.0.0.7')).toBe('old');
    ix.upsertPod(rec(young));
    expect(podName(ix, '10.0.0.7')).toBe('young');
    ix.upsertPod(rec(old)); // a stale MODIFIED of the old pod does not win the IP back
    expect(podName(ix, '10.0.0.7')).toBe('young');
    ix.deletePod('uid-old');
    expect(podName(ix, '10.0.0.7')).toBe('young');
  });

  it('old pod DELETED before the new one is ADDED', () => {
    const ix = new IdentityIndex('node-a');
    ix.upsertPod(rec(old));
    ix.deletePod('uid-old');
    expect(ix.resolve('10.0.0.7')).toBeUndefined();
    ix.upsertPod(rec(young));
    ix.deletePod('uid-old'); // a late duplicate delete is harmless
    expect(podName(ix, '10.0.0.7')).toBe('young');
  });

  it('a pod in Succeeded/Failed owns no IP and is not local; a deleting pod keeps it until a live pod claims it', () => {
    const ix = new IdentityIndex('node-a');
    ix.upsertPod(rec(pod('done', { ips: ['10.0.0.8'], phase: 'Succeeded' })));
    ix.upsertPod(rec(pod('crashed', { ips: ['10.0.0.9'], phase: 'Failed' })));
    expect(ix.resolve('10.0.0.8')).toBeUndefined();
    expect(ix.resolve('10.0.0.9')).toBeUndefined();
    expect(ix.localPods()).toEqual([]);
    expect(ix.podByUid('uid-done')?.phase).toBe('Succeeded');

    // graceful termination: still the pod's traffic, until the IP is handed out again
    ix.upsertPod(rec(pod('leaving', { ips: ['10.0.0.10'], deleting: true, created: '2024-05-01T12:00:00Z' })));
    expect(podName(ix, '10.0.0.10')).toBe('leaving');
    ix.upsertPod(rec(pod('arriving', { ips: ['10.0.0.10'], created: '2024-05-01T11:00:00Z' })));
    expect(podName(ix, '10.0.0.10')).toBe('arriving'); // live beats deleting, whatever the ages
    ix.deletePod('uid-arriving');
    expect(podName(ix, '10.0.0.10')).toBe('leaving');
  });

  it('an old pod turning Succeeded while the new one exists leaves the new mapping', () => {
    const ix = new IdentityIndex('node-a');
    ix.upsertPod(rec(old));
    ix.upsertPod(rec(young));
    ix.upsertPod(rec(pod('old', { ips: ['10.0.0.7'], phase: 'Succeeded' })));
    expect(podName(ix, '10.0.0.7')).toBe('young');
  });

  it('a pod whose IP changes releases the old one', () => {
    const ix = new IdentityIndex('node-a');
    ix.upsertPod(rec(pod('p', { ips: ['10.0.0.1'] })));
    ix.upsertPod(rec(pod('p', { ips: ['10.0.0.2'] })));
    expect(ix.resolve('10.0.0.1')).toBeUndefined();
    expect(podName(ix, '10.0.0.2')).toBe('p');
  });
});

describe('IdentityIndex: nodes, host network, dual stack, services, pending', () => {
  it('host-network pods: resolve(nodeIP) is the node, never one of them; they stay in localPods', () => {
    const ix = new IdentityIndex('node-a');
    for (const n of ['kube-proxy', 'node-exporter', 'fovea']) {
      ix.upsertPod(rec(pod(n, { hostNetwork: true, ips: ['192.168.1.10', 'fd00:1::10'], hostIPs: ['192.168.1.10', 'fd00:1::10'], owner: { kind: 'DaemonSet', name: n } })));
    }
    ix.upsertPod(rec(pod('app', { ips: ['10.0.0.5'] })));
    ix.upsertPod(rec(pod('remote', { node: 'node-b', ips: ['10.0.1.5'], hostIPs: ['192.168.1.11'] })));
    expect(ix.resolve('192.168.1.10')).toEqual({ kind: 'node', nodeName: 'node-a' });
    expect(ix.resolve('fd00:1::10')).toEqual({ kind: 'node', nodeName: 'node-a' });
    expect(ix.resolve('192.168.1.11')).toEqual({ kind: 'node', nodeName: 'node-b' });
    const local = ix.localPods();
    expect(local.map((p) => p.name).sort()).toEqual(['app', 'fovea', 'kube-proxy', 'node-exporter']);
    expect(local.find((p) => p.name === 'fovea')).toMatchObject({ hostNetwork: true, ips: ['192.168.1.10', 'fd00:1::10'], workload: { kind: 'DaemonSet', name: 'fovea' } });
    // the node stays known while any pod on it says so
    for (const n of ['kube-proxy', 'node-exporter', 'fovea', 'app']) ix.deletePod(`uid-${n}`);
    expect(ix.resolve('192.168.1.10')).toBeUndefined();
  });

  it('IPv6 and dual-stack pods resolve by every IP, whatever the spelling', () => {
    const ix = new IdentityIndex('node-a');
    ix.upsertPod(rec(pod('dual', { ips: ['10.0.0.5', 'FD00:10::5'] })));
    ix.upsertPod(rec(pod('v6', { ips: ['fd00:10::6'] })));
    expect(podName(ix, '10.0.0.5')).toBe('dual');
    expect(podName(ix, 'fd00:10::5')).toBe('dual');
    expect(podName(ix, 'fd00:10:0:0:0:0:0:5')).toBe('dual');
    expect(podName(ix, '::ffff:10.0.0.5')).toBe('dual');
    expect(podName(ix, 'fd00:10::6')).toBe('v6');
    expect(ix.podByUid('uid-dual')?.ips).toEqual(['10.0.0.5', 'fd00:10::5']);
  });

  it('services: cluster IPs (dual-stack) resolve; headless None is ignored; a pod wins over a service', () => {
    const ix = new IdentityIndex('node-a');
    const svc = serviceInfoFromObject({ metadata: { uid: 's1', name: 'api', namespace: 'shop' }, spec: { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10', 'fd00:96::a'] } })!;
    const headless = serviceInfoFromObject({ metadata: { uid: 's2', name: 'db', namespace: 'shop' }, spec: { clusterIP: 'None', clusterIPs: ['None'] } })!;
    const legacy = serviceInfoFromObject({ metadata: { uid: 's3', name: 'old', namespace: 'shop' }, spec: { clusterIP: '10.96.0.11' } })!;
    expect(headless.clusterIPs).toEqual([]);
    expect(legacy.clusterIPs).toEqual(['10.96.0.11']);
    for (const s of [svc, headless, legacy]) ix.upsertService(s);
    expect(ix.resolve('10.96.0.10')).toEqual({ kind: 'service', service: svc });
    expect(ix.resolve('fd00:96::a')).toEqual({ kind: 'service', service: svc });
    expect(ix.resolve('None')).toBeUndefined();
    expect(ix.serviceCount).toBe(3);
    // a recreated service reusing the IP: deleting the old one leaves the new mapping
    const again = { ...svc, uid: 's1b' };
    ix.upsertService(again);
    ix.deleteService('s1');
    expect(ix.resolve('10.96.0.10')).toEqual({ kind: 'service', service: again });
    ix.upsertPod(rec(pod('weird', { ips: ['10.96.0.11'] })));
    expect(podName(ix, '10.96.0.11')).toBe('weird');
  });

  it('a pending pod without IP is local but resolves nothing until it gets one; generation follows', () => {
    const ix = new IdentityIndex('node-a');
    const g0 = ix.generation;
    ix.upsertPod(rec(pod('p', { phase: 'Pending' })));
    expect(ix.generation).toBe(g0 + 1);
    expect(ix.localPods()).toMatchObject([{ name: 'p', ips: [], phase: 'Pending' }]);
    ix.upsertPod(rec(pod('p', { phase: 'Pending' }))); // nothing changed
    expect(ix.generation).toBe(g0 + 1);
    ix.upsertPod(rec(pod('p', { ips: ['10.0.0.3'] })));
    expect(ix.generation).toBe(g0 + 2);
    expect(podName(ix, '10.0.0.3')).toBe('p');
    ix.upsertPod(rec(pod('remote', { node: 'node-b', ips: ['10.0.1.3'] })));
    expect(ix.generation).toBe(g0 + 2); // remote pods are not local
    expect(ix.localPods()).toBe(ix.localPods()); // cached between changes
    ix.deletePod('uid-p');
    expect(ix.generation).toBe(g0 + 3);
    expect(ix.localPods()).toEqual([]);
  });

  it('podsControlledBy finds the pods of a ReplicaSet/Job (for re-deriving workloads)', () => {
    const ix = new IdentityIndex('node-a');
    ix.upsertPod(rec(pod('a', { owner: { kind: 'ReplicaSet', name: 'rs' } })));
    ix.upsertPod(rec(pod('b', { owner: { kind: 'ReplicaSet', name: 'rs' } })));
    ix.upsertPod(rec(pod('c', { ns: 'other', owner: { kind: 'ReplicaSet', name: 'rs' } })));
    expect(ix.podsControlledBy('default', 'ReplicaSet', 'rs').map((r) => r.info.name).sort()).toEqual(['a', 'b']);
    ix.deletePod('uid-a');
    expect(ix.podsControlledBy('default', 'ReplicaSet', 'rs').map((r) => r.info.name)).toEqual(['b']);
  });
});

describe('StaticIdentity', () => {
  const web: PodInfo = { uid: 'u1', name: 'web-1', namespace: 'shop', nodeName: 'host', ips: ['10.0.0.1'], hostNetwork: false, workload: { kind: 'Deployment', name: 'web' }, phase: 'Running' };
  const remote: PodInfo = { ...web, uid: 'u2', name: 'web-2', nodeName: 'other', ips: ['10.0.0.2'] };

  it('answers like the informer-backed source, with node IPs and services', async () => {
    const id = new StaticIdentity({
      nodeName: 'host', pods: [web, remote],
      services: [{ uid: 's', name: 'web', namespace: 'shop', clusterIPs: ['10.96.0.1'] }],
      nodes: [{ name: 'host', ips: ['192.168.0.2'] }],
    });
    await id.start();
    expect(id.resolve('10.0.0.1')).toEqual({ kind: 'pod', pod: web });
    expect(id.resolve('10.96.0.1')).toMatchObject({ kind: 'service', service: { name: 'web' } });
    expect(id.resolve('192.168.0.2')).toEqual({ kind: 'node', nodeName: 'host' });
    expect(id.localPods()).toEqual([web]);
    expect(id.podByUid('u2')).toEqual(remote);
    expect(id.stats()).toEqual({ pods: 2, localPods: 1, services: 1, relists: 0, watchErrors: 0, synced: true });
    const g = id.generation;
    id.deletePod('u1');
    expect(id.generation).toBe(g + 1);
    expect(id.resolve('10.0.0.1')).toBeUndefined();
    id.stop();
    id.stop();
  });

  it('without nodeName every pod is local (standalone)', () => {
    const id = new StaticIdentity({ pods: [web, remote] });
    expect(id.localPods()).toHaveLength(2);
  });
});

/**
 * The real @kubernetes/client-node informers against a fake API server over real HTTP: initial
 * lists, watch events, bookmarks, 410 Gone and relists, dropped watches, API errors, RBAC, node mode.
 * Real timers with short backoffs; every wait polls a condition (no fixed sleeps).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { Writable } from 'node:stream';
import { FakeApiServer, type K8sObject } from '../helpers/fake-apiserver.js';
import { KubernetesIdentity, REQUIRED_RBAC, defaultKubeConfig, type KubernetesIdentityOptions } from '../../src/k8s/kubernetes.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

async function waitFor(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function capture(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({ write(chunk, _enc, cb) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); cb(); } });
  return { logger: pino({ level: 'info' }, stream), lines };
}

interface PodSpec { node?: string; ip?: string; ips?: string[]; hostIP?: string; phase?: string; owner?: { kind: string; name: string }; hash?: string; hostNetwork?: boolean; uid?: string }
function pod(name: string, s: PodSpec = {}, ns = 'default'): K8sObject {
  const ips = s.ips ?? (s.ip ? [s.ip] : []);
  return {
    metadata: {
      name, namespace: ns, ...(s.uid ? { uid: s.uid } : {}),
      ...(s.hash ? { labels: { 'pod-template-hash': s.hash } } : {}),
      ...(s.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: s.owner.kind, name: s.owner.name, uid: 'x', controller: true }] } : {}),
    },
    spec: { nodeName: s.node ?? 'node-a', hostNetwork: s.hostNetwork ?? false, containers: [{ name: 'c', image: 'i' }] },
    status: {
      phase: s.phase ?? 'Running', hostIP: s.hostIP ?? '192.168.1.10', hostIPs: [{ ip: s.hostIP ?? '192.168.1.10' }],
      ...(ips.length ? { podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) } : {}),
    },
  };
}
const owned = (name: string, owner?: { kind: string; name: string }, ns = 'default'): K8sObject => ({
  metadata: { name, namespace: ns, ...(owner ? { ownerReferences: [{ apiVersion: 'x/v1', kind: owner.kind, name: owner.name, uid: 'y', controller: true }] } : {}) },
  spec: { template: { spec: { containers: [] } } },
});
const service = (name: string, clusterIPs: string[], ns = 'default'): K8sObject => ({
  metadata: { name, namespace: ns }, spec: { clusterIP: clusterIPs[0], clusterIPs, ports: [{ port: 80 }] },
});

let api: FakeApiServer;
let id: KubernetesIdentity | undefined;
beforeEach(async () => { api = await FakeApiServer.start(); });
afterEach(async () => {
  id?.stop();
  id = undefined;
  await api.close();
});

function identity(over: Partial<KubernetesIdentityOptions> = {}): KubernetesIdentity {
  id = new KubernetesIdentity({
    nodeName: 'node-a', mode: 'cluster', logger: pino({ level: 'silent' }), kubeConfig: api.kubeConfig(),
    backoff: { initialMs: 10, maxMs: 50 }, startTimeoutMs: 2000, ...over,
  });
  return id;
}
const name = (ip: string): string | undefined => {
  const e = id!.resolve(ip);
  return e?.kind === 'pod' ? e.pod.name : e?.kind === 'service' ? `svc/${e.service.name}` : e ? `node/${e.nodeName}` : undefined;
};
const watchesUp = (n: number) => waitFor(() => api.activeWatches === n, `${n} watches`);

describe('KubernetesIdentity against a fake API server', () => {
  it('cluster mode: initial lists resolve pods, workloads (watched owners), services and nodes', async () => {
    api.put('replicasets', owned('web-7f9c', { kind: 'Deployment', name: 'web' }));
    api.put('replicasets', owned('canary-5d8f', { kind: 'Rollout', name: 'canary' }));
    api.put('replicasets', owned('lonely'));
    api.put('jobs', owned('report-1', { kind: 'CronJob', name: 'nightly' }));
    api.put('pods', pod('web-7f9c-aaaaa', { ip: '10.0.0.1', owner: { kind: 'ReplicaSet', name: 'web-7f9c' }, hash: '7f9c' }));
    api.put('pods', pod('canary-5d8f-bbbbb', { ip: '10.0.0.2', owner: { kind: 'ReplicaSet', name: 'canary-5d8f' } }));
    api.put('pods', pod('lonely-ccccc', { ip: '10.0.0.3', owner: { kind: 'ReplicaSet', name: 'lonely' } }));
    api.put('pods', pod('report-1-ddddd', { ip: '10.0.0.4', owner: { kind: 'Job', name: 'report-1' } }));
    api.put('pods', pod('db-0', { ip: '10.0.1.9', node: 'node-b', hostIP: '192.168.1.11', owner: { kind: 'StatefulSet', name: 'db' } }, 'data'));
    api.put('services', service('web', ['10.96.0.10', 'fd00:96::a']));
    api.put('services', service('db', ['None'], 'data'));

    const ident = identity();
    await ident.start();
    expect(ident.stats()).toMatchObject({ pods: 5, localPods: 4, services: 2, relists: 0, watchErrors: 0, synced: true });
    expect(ident.resolve('10.0.0.1')).toMatchObject({ kind: 'pod', pod: { name: 'web-7f9c-aaaaa', namespace: 'default', nodeName: 'node-a', workload: { kind: 'Deployment', name: 'web' } } });
    expect(ident.resolve('10.0.0.2')).toMatchObject({ pod: { workload: { kind: 'Rollout', name: 'canary' } } });
    expect(ident.resolve('10.0.0.3')).toMatchObject({ pod: { workload: { kind: 'ReplicaSet', name: 'lonely' } } });
    expect(ident.resolve('10.0.0.4')).toMatchObject({ pod: { workload: { kind: 'CronJob', name: 'nightly' } } });
    expect(ident.resolve('10.0.1.9')).toMatchObject({ pod: { name: 'db-0', nodeName: 'node-b', workload: { kind: 'StatefulSet', name: 'db' } } });
    expect(name('fd00:96::a')).toBe('svc/web');
    expect(name('192.168.1.11')).toBe('node/node-b');
    expect(ident.localPods().map((p) => p.name).sort()).toEqual(['canary-5d8f-bbbbb', 'lonely-ccccc', 'report-1-ddddd', 'web-7f9c-aaaaa']);
    const uid = api.get('pods', 'data', 'db-0')!.metadata.uid!;
    expect(ident.podByUid(uid)?.name).toBe('db-0');

    // the first list is served from the API server's cache; watches ask for bookmarks
    const lists = api.requests.filter((r) => !r.watch);
    expect(lists.map((r) => r.resource).sort()).toEqual(['jobs', 'pods', 'replicasets', 'services']);
    expect(lists.every((r) => r.query['resourceVersion'] === '0')).toBe(true);
    await watchesUp(4);
    expect(api.requests.filter((r) => r.watch).every((r) => r.query['allowWatchBookmarks'] === 'true' && r.query['resourceVersion'] !== '')).toBe(true);
  });

  it('watch ADDED/MODIFIED/DELETED show in resolve() and localPods(); generation bumps; bookmarks are harmless', async () => {
    const ident = identity();
    await ident.start();
    await watchesUp(4);
    const g0 = ident.generation;
    api.put('pods', pod('p', { phase: 'Pending' }));
    await waitFor(() => ident.localPods().length === 1, 'pending pod');
    expect(ident.generation).toBe(g0 + 1);
    api.bookmark();
    api.put('pods', pod('p', { ip: '10.0.0.5' }));
    await waitFor(() => name('10.0.0.5') === 'p', 'pod IP');
    expect(ident.generation).toBe(g0 + 2);
    api.put('pods', pod('remote', { node: 'node-b', ip: '10.0.1.5' }));
    await waitFor(() => name('10.0.1.5') === 'remote', 'remote pod');
    expect(ident.generation).toBe(g0 + 2);
    api.bookmark();
    api.delete('pods', 'default', 'p');
    await waitFor(() => ident.localPods().length === 0, 'delete');
    expect(name('10.0.0.5')).toBeUndefined();
    expect(ident.generation).toBe(g0 + 3);

    // after a bookmark, a resumed watch starts from the bookmark's resourceVersion
    api.put('services', service('s', ['10.96.0.1']));
    await waitFor(() => name('10.96.0.1') === 'svc/s', 'service');
    api.bookmark();
    const rv = api.resourceVersion;
    const before = api.requests.length;
    api.dropWatches();
    await watchesUp(4);
    const resumed = api.requests.slice(before).filter((r) => r.watch);
    expect(resumed.map((r) => r.query['resourceVersion'])).toEqual([rv, rv, rv, rv]);
    expect(ident.stats()).toMatchObject({ relists: 0, watchErrors: 0 });
  });

  it('IP reuse through the watch: new pod ADDED before the old DELETED, and the other way round', async () => {
    api.put('pods', pod('old', { ip: '10.0.0.7' }));
    const ident = identity();
    await ident.start();
    await watchesUp(4);
    await new Promise((r) => setTimeout(r, 1100)); // creationTimestamp has 1 s resolution: the new pod is younger
    api.put('pods', pod('new', { ip: '10.0.0.7' }));
    await waitFor(() => name('10.0.0.7') === 'new', 'new pod wins the IP');
    api.delete('pods', 'default', 'old');
    await waitFor(() => ident.stats().pods === 1, 'old pod gone');
    expect(name('10.0.0.7')).toBe('new');
    api.put('pods', pod('new', { ip: '10.0.0.7', phase: 'Succeeded' }));
    await waitFor(() => name('10.0.0.7') === undefined, 'terminated pod releases the IP');
    api.delete('pods', 'default', 'new');
    api.put('pods', pod('newer', { ip: '10.0.0.7' }));
    await waitFor(() => name('10.0.0.7') === 'newer', 'newest pod');
  });

  it('cluster mode re-derives workloads when a ReplicaSet becomes known after its pods', async () => {
    api.put('pods', pod('app-6c7d-xxxxx', { ip: '10.0.0.8', owner: { kind: 'ReplicaSet', name: 'app-6c7d' }, hash: '6c7d' }));
    const ident = identity();
    await ident.start();
    expect(ident.resolve('10.0.0.8')).toMatchObject({ pod: { workload: { kind: 'Deployment', name: 'app' } } }); // heuristic
    await watchesUp(4);
    const g = ident.generation;
    api.put('replicasets', owned('app-6c7d', { kind: 'Rollout', name: 'app-rollout' }));
    await waitFor(() => ident.localPods()[0]?.workload.kind === 'Rollout', 're-derived workload');
    expect(ident.generation).toBe(g + 1);
    api.delete('replicasets', 'default', 'app-6c7d');
    await waitFor(() => ident.localPods()[0]?.workload.kind === 'Deployment', 'back to the heuristic');
  });

  it.each(['event', 'http'] as const)('410 Gone (%s) forces a relist: deleted-in-the-gap pods go, new ones come, the cache stays readable', async (how) => {
    api.expireAs = how;
    api.put('pods', pod('stays', { ip: '10.0.0.1' }));
    api.put('pods', pod('goes', { ip: '10.0.0.2' }));
    const ident = identity();
    await ident.start();
    await watchesUp(4);
    api.dropWatches({ hold: true });
    await waitFor(() => api.heldWatches === 4, 'reconnects held');
    api.delete('pods', 'default', 'goes');
    api.put('pods', pod('comes', { ip: '10.0.0.3' }));
    api.expireHistory();
    expect(name('10.0.0.2')).toBe('goes'); // disconnected: the cache still answers
    api.releaseWatches();
    await waitFor(() => name('10.0.0.3') === 'comes' && name('10.0.0.2') === undefined, 'relisted state');
    expect(name('10.0.0.1')).toBe('stays');
    await watchesUp(4);
    expect(ident.stats()).toMatchObject({ relists: 4, watchErrors: 0, pods: 2 }); // every informer's history expired
    // relists are paginated consistent reads, not the API server's cache
    const relists = api.requests.filter((r) => !r.watch).slice(4);
    expect(relists.every((r) => r.query['limit'] === '500' && r.query['resourceVersion'] === undefined)).toBe(true);
    // and the watch goes on
    api.put('pods', pod('later', { ip: '10.0.0.4' }));
    await waitFor(() => name('10.0.0.4') === 'later', 'watch after relist');
  });

  it('a relist after a gap replaces a same-name pod recreated with a new uid', async () => {
    api.put('pods', pod('db-0', { ip: '10.0.0.20', uid: 'uid-1', owner: { kind: 'StatefulSet', name: 'db' } }));
    const ident = identity({ mode: 'node' });
    await ident.start();
    await watchesUp(1);
    api.dropWatches({ hold: true });
    api.delete('pods', 'default', 'db-0');
    api.put('pods', pod('db-0', { ip: '10.0.0.21', uid: 'uid-2', owner: { kind: 'StatefulSet', name: 'db' } }));
    api.expireHistory();
    api.releaseWatches();
    await waitFor(() => ident.podByUid('uid-2') !== undefined, 'new uid');
    expect(ident.podByUid('uid-1')).toBeUndefined();
    expect(name('10.0.0.20')).toBeUndefined();
    expect(ident.localPods().map((p) => p.uid)).toEqual(['uid-2']);
  });

  it('a dropped watch resumes from its resourceVersion without a relist (clean end and connection reset)', async () => {
    api.put('pods', pod('a', { ip: '10.0.0.1' }));
    const ident = identity();
    await ident.start();
    await watchesUp(4);
    api.dropWatches({ hold: true });
    api.delete('pods', 'default', 'a');
    api.put('pods', pod('b', { ip: '10.0.0.2' }));
    api.releaseWatches();
    await waitFor(() => name('10.0.0.2') === 'b' && name('10.0.0.1') === undefined, 'replayed events');
    expect(ident.stats()).toMatchObject({ relists: 0, watchErrors: 0 });
    await watchesUp(4); // every watch back after the release (pods' replay alone does not say so): all 4 are reset below

    // a reset mid-stream is an error for client-node (Premature close): restarted after backoff, still no relist
    api.dropWatches({ how: 'reset' });
    api.put('pods', pod('c', { ip: '10.0.0.3' }));
    await waitFor(() => name('10.0.0.3') === 'c', 'resumed after reset');
    await watchesUp(4);
    const s = ident.stats();
    expect(s.relists).toBe(0);
    expect(s.watchErrors).toBe(4);
    expect(s.lastError).toMatch(/Premature close/);
  });

  it('500s on watch, then recovery: errors counted, logged at a limited rate, no relist', async () => {
    const { logger, lines } = capture();
    const ident = identity({ logger, errorLogIntervalMs: 60_000 });
    await ident.start();
    await watchesUp(4);
    api.failNext(5, 500, { resource: 'pods', watch: true });
    api.dropWatches();
    await waitFor(() => ident.stats().watchErrors === 5, '5 failed watches');
    api.put('pods', pod('p', { ip: '10.0.0.9' }));
    await waitFor(() => name('10.0.0.9') === 'p', 'recovered');
    expect(ident.stats()).toMatchObject({ relists: 0, watchErrors: 5 });
    expect(ident.stats().lastError).toMatch(/watch pods failed: HTTP 500/);
    const warns = lines.filter((l) => l['msg'] === 'kubernetes watch failed; retrying');
    expect(warns).toHaveLength(1);
    expect(lines.some((l) => l['msg'] === 'kubernetes watch recovered')).toBe(true);
  });

  it('500s during the initial list are retried; start() resolves once the list succeeds', async () => {
    api.put('pods', pod('p', { ip: '10.0.0.9' }));
    api.failNext(3, 500, { resource: 'pods', watch: false });
    const ident = identity({ mode: 'node' });
    await ident.start();
    expect(name('10.0.0.9')).toBe('p');
    expect(ident.stats()).toMatchObject({ watchErrors: 3, relists: 0, synced: true });
  });

  it('403 at start rejects, naming the missing RBAC rule, and leaves nothing running', async () => {
    api.failNext(1, 403, { resource: 'replicasets' });
    const ident = identity();
    await expect(ident.start()).rejects.toThrow(/forbids list replicasets\.apps \(403\).*apiGroups: \["apps"\], resources: \["replicasets"\], verbs: \["list", "watch"\].*cannot list resource "replicasets"/);
    await new Promise((r) => setTimeout(r, 50));
    expect(api.activeWatches).toBe(0);
    expect(REQUIRED_RBAC.cluster).toContainEqual({ apiGroups: ['apps'], resources: ['replicasets'], verbs: ['list', 'watch'] });
    expect(REQUIRED_RBAC.node).toEqual([{ apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] }]);
  });

  it('403 on the watch (list allowed) also rejects', async () => {
    api.failNext(1, 403, { resource: 'pods', watch: true });
    await expect(identity({ mode: 'node' }).start()).rejects.toThrow(/forbids watch pods \(403\)/);
  });

  it('401 (bad token) and an unreachable API server reject with clear errors', async () => {
    await expect(identity({ kubeConfig: api.kubeConfig('wrong') }).start()).rejects.toThrow(/credentials \(401\)/);
    const url = api.url;
    await api.close();
    api = await FakeApiServer.start(); // afterEach closes this one
    const kc = api.kubeConfig();
    kc.clusters[0] = { ...kc.clusters[0]!, server: url };
    await expect(identity({ kubeConfig: kc, startTimeoutMs: 200 }).start()).rejects.toThrow(/unreachable on list .*ECONNREFUSED/);
  });

  it('defaultKubeConfig(path) loads a kubeconfig file', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'fovea-kc-')), 'config');
    writeFileSync(file, api.kubeConfig().exportConfig());
    api.put('pods', pod('p', { ip: '10.0.0.1' }));
    const ident = identity({ mode: 'node', kubeConfig: defaultKubeConfig(file) });
    await ident.start();
    expect(name('10.0.0.1')).toBe('p');
  });

  it('node mode: only this node\'s pods (field selector), workloads by heuristic, no other resources', async () => {
    api.put('pods', pod('web-7f9c-aaaaa', { ip: '10.0.0.1', owner: { kind: 'ReplicaSet', name: 'web-7f9c' }, hash: '7f9c' }));
    api.put('pods', pod('backup-28934520-x', { ip: '10.0.0.2', owner: { kind: 'Job', name: 'backup-28934520' } }));
    api.put('pods', pod('proxy', { hostNetwork: true, ip: '192.168.1.10', owner: { kind: 'DaemonSet', name: 'proxy' } }));
    api.put('pods', pod('elsewhere', { node: 'node-b', ip: '10.0.1.1' }));
    api.put('pods', pod('unscheduled', { node: '', phase: 'Pending' }));
    api.put('services', service('web', ['10.96.0.10']));
    const ident = identity({ mode: 'node' });
    await ident.start();
    expect(new Set(api.requests.map((r) => r.resource))).toEqual(new Set(['pods']));
    expect(api.requests.every((r) => r.query['fieldSelector'] === 'spec.nodeName=node-a')).toBe(true);
    expect(ident.stats()).toMatchObject({ pods: 3, localPods: 3, services: 0 });
    expect(ident.resolve('10.0.0.1')).toMatchObject({ pod: { workload: { kind: 'Deployment', name: 'web' } } });
    expect(ident.resolve('10.0.0.2')).toMatchObject({ pod: { workload: { kind: 'CronJob', name: 'backup' } } });
    expect(name('192.168.1.10')).toBe('node/node-a');
    expect(ident.localPods().find((p) => p.name === 'proxy')?.hostNetwork).toBe(true);
    expect(name('10.0.1.1')).toBeUndefined();
    expect(name('10.96.0.10')).toBeUndefined();

    // scheduled onto this node later: enters the field selection as ADDED; moved away: DELETED
    await watchesUp(1);
    api.put('pods', pod('unscheduled', { ip: '10.0.0.3' }));
    await waitFor(() => name('10.0.0.3') === 'unscheduled', 'scheduled pod');
    api.put('pods', pod('web-7f9c-aaaaa', { node: 'node-b', ip: '10.0.0.1' }));
    await waitFor(() => name('10.0.0.1') === undefined, 'pod left the selection');
  });

  it('resyncMs relists periodically without errors; stop() is idempotent and ends every watch', async () => {
    api.put('pods', pod('p', { ip: '10.0.0.1' }));
    const { logger, lines } = capture();
    const ident = identity({ mode: 'node', resyncMs: 50, logger });
    await ident.start();
    await waitFor(() => ident.stats().relists >= 2, 'periodic relists');
    expect(name('10.0.0.1')).toBe('p');
    expect(ident.stats().watchErrors).toBe(0);
    ident.stop();
    ident.stop();
    await waitFor(() => api.activeWatches === 0, 'watches closed');
    const relists = ident.stats().relists;
    await new Promise((r) => setTimeout(r, 150));
    expect(ident.stats().relists).toBe(relists);
    expect(api.activeWatches).toBe(0);
    expect(lines.filter((l) => (l['level'] as number) >= 40)).toEqual([]);
    await expect(ident.start()).rejects.toThrow(/after stop/);
  });
});

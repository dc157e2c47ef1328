/**
 * Kubernetes identity from the API server: client-node informers (ListWatch) over pods (this
 * node's, or all), and in cluster mode services, ReplicaSets and Jobs, feeding IdentityIndex.
 *
 * client-node 1.4's ListWatch, as verified against test/helpers/fake-apiserver.ts:
 * - a watch that ends cleanly (the API server's watch timeout) is resumed at once from the last
 *   resourceVersion, without a relist;
 * - `410 Gone`, as an HTTP status or as an ERROR event with code 410 followed by the end of the
 *   stream, clears the resourceVersion and relists; the relist replaces the cache (objects missing
 *   from it get a `delete` callback, the others `add`/`update`) and the cache stays readable meanwhile;
 * - any other failure (HTTP 500/403 on list or watch, a connection cut mid-stream: "Premature
 *   close") fires the `error` callbacks and the informer stays stopped: restarting it is ours;
 * - `start()` resolves even when the initial list failed (only the `error` callback says so);
 * - `stop()` aborts the watch and fires `error` with an AbortError;
 * - it never asks for bookmarks, and makeInformer() takes no field selector.
 * So each informer here is a ListWatch built directly (with a field selector in node mode) over a
 * Watch subclass that asks for bookmarks and a server-side timeout, slims objects to the fields
 * we read (the ListWatch cache holds those, not whole pods), and can end a watch on purpose
 * (renewal, forced relist); a supervisor restarts it after errors with bounded, jittered backoff
 * and logs at a limited rate.
 */
import {
  AppsV1Api, BatchV1Api, CoreV1Api, KubeConfig, ListWatch, Watch,
  type KubernetesListObject, type KubernetesObject,
} from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import {
  IdentityIndex, POD_TEMPLATE_HASH_LABEL, controllerOf, nodeInfoFromObject, podRecordFromObject, sameNodeInfo, serviceInfoFromObject,
  type NodeObject, type ObjectMeta, type OwnedObject, type OwnerLookup, type OwnerReference, type PodObject, type ServiceObject,
} from './resolve.js';
import { isIdentityLabel } from './labels.js';
import type { Endpoint, IdentitySource, IdentityStats, NodeChange, NodeInfo, NodeSource, PodInfo } from './types.js';

/**
 * The ClusterRole rules the agent needs, per mode (for deploy/ manifests). Node mode lists pods
 * across namespaces with a field selector, so it needs a ClusterRole too, not a Role.
 */
export const REQUIRED_RBAC = {
  node: [
    { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
  ],
  cluster: [
    { apiGroups: [''], resources: ['pods', 'services'], verbs: ['list', 'watch'] },
    { apiGroups: ['apps'], resources: ['replicasets'], verbs: ['list', 'watch'] },
    { apiGroups: ['batch'], resources: ['jobs'], verbs: ['list', 'watch'] },
  ],
} as const;

/** The extra rule of the node watch (`watchNodes`: the Hubble server's peer list), in either mode. */
export const NODE_WATCH_RBAC = { apiGroups: [''], resources: ['nodes'], verbs: ['list', 'watch'] } as const;

export interface KubernetesIdentityOptions {
  /** This node (`spec.nodeName` of the agent's pod, from the downward API). */
  readonly nodeName: string;
  /** `node`: only this node's pods; `cluster`: every pod, services, ReplicaSets, Jobs (remote ends too). */
  readonly mode: 'cluster' | 'node';
  readonly logger: Logger;
  /** Default: in-cluster when KUBERNETES_SERVICE_HOST is set, else ~/.kube/config (KUBECONFIG). */
  readonly kubeConfig?: KubeConfig;
  /** Full relist at this interval, a safety net against missed events. 0 or absent: never. */
  readonly resyncMs?: number;
  /** start() retries transient errors (5xx, unreachable) until this long, then rejects. Default 60 s. */
  readonly startTimeoutMs?: number;
  /** Retry backoff after errors: doubles from `initialMs` up to `maxMs`, ±20% jitter. Default 500 ms → 30 s. */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
  /** Watches ask the server to end after this long and are renewed (no relist). Default 300 s. */
  readonly watchTimeoutSeconds?: number;
  /** At most one error log line per informer per this interval. Default 30 s. */
  readonly errorLogIntervalMs?: number;
  /** Also watch the cluster's Nodes (NodeSource; RBAC NODE_WATCH_RBAC). Default false. */
  readonly watchNodes?: boolean;
}

type Resource = 'pods' | 'services' | 'replicasets' | 'jobs' | 'nodes';
const GROUPS: Record<Resource, string> = { pods: '', services: '', replicasets: 'apps', jobs: 'batch', nodes: '' };
const PATHS: Record<Resource, string> = {
  pods: '/api/v1/pods', services: '/api/v1/services', nodes: '/api/v1/nodes',
  replicasets: '/apis/apps/v1/replicasets', jobs: '/apis/batch/v1/jobs',
};
/** Relists are paginated; the first list uses resourceVersion=0 (the API server's cache, cheap for a DaemonSet of agents) and is not. */
const LIST_PAGE = 500;

interface ListParams { fieldSelector?: string; limit?: number; _continue?: string; resourceVersion?: string }
interface ListPage { metadata?: { resourceVersion?: string; _continue?: string }; items: readonly unknown[] }
type Lister = (p: ListParams) => Promise<ListPage>;

// ---- slimming: the informer caches keep only what identity reads ----

type Raw = Record<string, unknown> & { metadata?: ObjectMeta };
function slimMeta(m: ObjectMeta | undefined, keepLabel?: (key: string) => boolean): ObjectMeta {
  const out: Record<string, unknown> = {
    name: m?.name, namespace: m?.namespace, uid: m?.uid, resourceVersion: m?.resourceVersion,
    creationTimestamp: m?.creationTimestamp,
  };
  if (m?.deletionTimestamp) out['deletionTimestamp'] = m.deletionTimestamp;
  const owners = m?.ownerReferences?.map((o: OwnerReference) => ({ kind: o.kind, name: o.name, controller: o.controller === true }));
  if (owners?.length) out['ownerReferences'] = owners;
  const kept = keepLabel ? Object.entries(m?.labels ?? {}).filter(([k]) => keepLabel(k)) : [];
  if (kept.length) out['labels'] = Object.fromEntries(kept);
  return out as ObjectMeta;
}
const SLIM: Record<Resource, (o: Raw) => KubernetesObject> = {
  pods: (o) => {
    const p = o as PodObject;
    const slim: PodObject = {
      // the template hash tells a Deployment's ReplicaSet apart; the others are the pod's identity labels
      metadata: slimMeta(p.metadata, (k) => k === POD_TEMPLATE_HASH_LABEL || isIdentityLabel(k)),
      spec: { nodeName: p.spec?.nodeName, hostNetwork: p.spec?.hostNetwork, serviceAccountName: p.spec?.serviceAccountName },
      status: { phase: p.status?.phase, podIP: p.status?.podIP, podIPs: p.status?.podIPs, hostIP: p.status?.hostIP, hostIPs: p.status?.hostIPs },
    };
    return slim as KubernetesObject;
  },
  services: (o) => {
    const s = o as ServiceObject;
    return { metadata: slimMeta(s.metadata), spec: { clusterIP: s.spec?.clusterIP, clusterIPs: s.spec?.clusterIPs } } as KubernetesObject;
  },
  replicasets: (o) => ({ metadata: slimMeta(o.metadata) }) as KubernetesObject,
  jobs: (o) => ({ metadata: slimMeta(o.metadata) }) as KubernetesObject,
  nodes: (o) => {
    const n = o as NodeObject;
    const addresses = n.status?.addresses?.filter((a) => a.type === 'InternalIP' || a.type === 'ExternalIP');
    return { metadata: slimMeta(n.metadata, () => true), status: { addresses } } as KubernetesObject;
  },
};

// ---- errors ----

interface HttpishError { code?: unknown; statusCode?: unknown; body?: unknown; message?: unknown; name?: unknown; errno?: unknown }

function statusOf(err: unknown): number | undefined {
  const e = err as HttpishError | undefined;
  const s = typeof e?.statusCode === 'number' ? e.statusCode : typeof e?.code === 'number' ? e.code : undefined;
  return s;
}

/** The API server's own message, from a Status body (ApiException carries it as a JSON string). */
function serverMessage(err: unknown): string | undefined {
  let body = (err as HttpishError | undefined)?.body;
  if (typeof body === 'string') {
    const text = body;
    try { body = JSON.parse(text); } catch { return text || undefined; }
  }
  const msg = (body as { message?: unknown } | undefined)?.message;
  return typeof msg === 'string' ? msg : undefined;
}

function isPermanent(err: unknown): boolean {
  const s = statusOf(err);
  return s === 401 || s === 403 || s === 404;
}

function describe(err: unknown, resource: Resource, verb: 'list' | 'watch', server: string): string {
  const s = statusOf(err);
  const said = serverMessage(err);
  const tail = said ? ` — API server: ${said}` : '';
  const group = GROUPS[resource];
  if (s === 403) {
    return `Kubernetes API forbids ${verb} ${resource}${group ? `.${group}` : ''} (403): the agent's ClusterRole needs `
      + `{apiGroups: ["${group}"], resources: ["${resource}"], verbs: ["list", "watch"]} (REQUIRED_RBAC)${tail}`;
  }
  if (s === 401) return `Kubernetes API rejected the agent's credentials (401) on ${verb} ${resource}: check the service account token${tail}`;
  if (s === 404) return `Kubernetes API has no ${resource}${group ? ` in ${group}` : ''} (404 on ${verb})${tail}`;
  if (s !== undefined) return `Kubernetes API ${verb} ${resource} failed: HTTP ${s}${tail || ` ${String((err as HttpishError).message ?? '')}`}`;
  const e = err as HttpishError | undefined;
  const m = e?.message !== undefined ? String(e.message) : String(err);
  return `Kubernetes API at ${server} unreachable on ${verb} ${resource}: ${m}`;
}

const GONE = (): Error => Object.assign(new Error('relist requested'), { statusCode: 410 });
const aborted = (): AbortController => { const c = new AbortController(); c.abort(); return c; };

// ---- one informer ----

interface Tuning {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly watchTimeoutSeconds: number;
  readonly errorLogIntervalMs: number;
  readonly resyncMs: number;
}

/**
 * client-node's Watch with what the informer lacks: bookmarks, a server-side timeout plus a
 * client-side deadline (a half-open connection cannot freeze the cache), slim objects, a pause
 * before re-watching when watches keep ending at once, and interrupt(): end the watch on purpose,
 * resuming (`renew`) or relisting (`relist`, reported to ListWatch as a 410).
 */
class TunedWatch extends Watch {
  private active: { controller?: AbortController; interrupt?: 'renew' | 'relist' } | undefined;
  private relistPending = false;
  private quickCloses = 0;
  /** Every watch not yet done: ListWatch keeps only its latest request, which can be stale after a relist. */
  private readonly live = new Set<AbortController>();

  constructor(kc: KubeConfig, private readonly r: Reflector) { super(kc); }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    if (this.relistPending) {
      this.relistPending = false;
      done(GONE());
      return aborted();
    }
    if (this.quickCloses > 0) await this.r.pause(this.quickCloses);
    if (this.r.stopped) return aborted();
    const entry: { controller?: AbortController; interrupt?: 'renew' | 'relist'; done?: boolean } = {};
    this.active = entry;
    const started = Date.now();
    let events = 0;
    const { watchTimeoutSeconds } = this.r.tuning;
    const deadline = setTimeout(() => this.interrupt('renew'), (watchTimeoutSeconds + 30) * 1000);
    deadline.unref();
    const onDone = (err: unknown): void => {
      clearTimeout(deadline);
      if (entry.controller) this.live.delete(entry.controller);
      entry.done = true;
      if (this.active === entry) this.active = undefined;
      if (entry.interrupt) {
        err = entry.interrupt === 'relist' ? GONE() : null;
      } else if (!err) {
        // a server (or proxy) that ends every watch at once must not make us spin
        this.quickCloses = Date.now() - started < 1000 && events === 0 ? this.quickCloses + 1 : 0;
      }
      done(err);
    };
    const onEvent = (phase: string, obj: unknown, watchObj?: unknown): void => {
      events++;
      if (phase !== 'ERROR') this.r.healthy();
      if (phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED') obj = this.r.slim(obj as Raw);
      callback(phase, obj, watchObj);
    };
    this.r.phase = 'watch';
    const controller = await super.watch(path, { ...queryParams, allowWatchBookmarks: true, timeoutSeconds: watchTimeoutSeconds }, onEvent, onDone);
    entry.controller = controller;
    if (!entry.done) this.live.add(controller);
    if (entry.interrupt || this.r.stopped) controller.abort();
    return controller;
  }

  interrupt(kind: 'renew' | 'relist'): void {
    const a = this.active;
    if (!a) {
      if (kind === 'relist') this.relistPending = true;
      return;
    }
    a.interrupt ??= kind;
    a.controller?.abort();
  }

  abort(): void {
    for (const c of this.live) c.abort();
    this.live.clear();
  }
}

/** A ListWatch and its supervisor: initial start with retries, restarts after errors, counters. */
class Reflector {
  stopped = false;
  phase: 'list' | 'watch' = 'list';
  synced = false;
  relists = 0;
  errors = 0;
  lastError: string | undefined;
  readonly tuning: Tuning;
  readonly slim: (o: Raw) => KubernetesObject;

  private readonly lw: ListWatch<KubernetesObject>;
  private readonly tw: TunedWatch;
  private listedOnce = false;
  private starting = false;
  private startError: unknown;
  private failures = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private readonly sleeps = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  private lastLogMs = -Infinity;
  private suppressed = 0;

  constructor(
    readonly resource: Resource,
    kc: KubeConfig,
    private readonly lister: Lister,
    private readonly fieldSelector: string | undefined,
    handlers: { upsert: (o: KubernetesObject) => void; remove: (o: KubernetesObject) => void },
    tuning: Tuning,
    private readonly log: Logger,
    private readonly server: string,
  ) {
    this.tuning = tuning;
    this.slim = SLIM[resource];
    this.tw = new TunedWatch(kc, this);
    this.lw = new ListWatch<KubernetesObject>(PATHS[resource], this.tw, () => this.list(), false, undefined, fieldSelector);
    this.lw.on('add', handlers.upsert);
    this.lw.on('update', handlers.upsert);
    this.lw.on('delete', handlers.remove);
    this.lw.on('error', (err: unknown) => this.onError(err));
  }

  get(name: string, namespace: string): KubernetesObject | undefined { return this.lw.get(name, namespace); }

  /** Lists and starts watching; retries transient errors until `deadline`; rejects on 401/403/404. */
  async start(deadline: number): Promise<void> {
    this.starting = true;
    try {
      for (;;) {
        this.startError = undefined;
        try { await this.lw.start(); } catch (err) { this.startError = err ?? new Error('informer start failed'); }
        if (this.stopped) throw new Error(`stopped while starting the ${this.resource} informer`);
        const err = this.startError;
        if (err === undefined) break;
        const wait = this.nextBackoff();
        const msg = describe(err, this.resource, this.phase, this.server);
        if (isPermanent(err) || Date.now() + wait > deadline) throw new Error(msg, { cause: err });
        await this.pauseMs(wait);
        if (this.stopped) throw new Error(`stopped while starting the ${this.resource} informer`);
      }
    } finally {
      this.starting = false;
    }
    if (this.tuning.resyncMs > 0) {
      this.resyncTimer = setInterval(() => this.tw.interrupt('relist'), this.tuning.resyncMs);
      this.resyncTimer.unref();
    }
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.restartTimer);
    clearInterval(this.resyncTimer);
    for (const s of this.sleeps) { clearTimeout(s.timer); s.resolve(); }
    this.sleeps.clear();
    void this.lw.stop();
    this.tw.abort();
  }

  /** A list or a watch event got through: the next error starts the backoff over. */
  healthy(): void {
    if (this.failures > 0 && !this.starting) {
      this.log.info({ resource: this.resource, failures: this.failures }, 'kubernetes watch recovered');
    }
    this.failures = 0;
  }

  /** Wait before re-watching after `n` watches in a row ended at once. */
  pause(n: number): Promise<void> {
    return this.pauseMs(Math.min(this.tuning.maxMs, this.tuning.initialMs * 2 ** (n - 1)));
  }

  private pauseMs(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const s = { timer: setTimeout(() => { this.sleeps.delete(s); resolve(); }, ms), resolve };
      s.timer.unref();
      this.sleeps.add(s);
    });
  }

  private async list(): Promise<KubernetesListObject<KubernetesObject>> {
    this.phase = 'list';
    const first = !this.listedOnce;
    if (!first) this.relists++;
    const items: KubernetesObject[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.lister({
        ...(this.fieldSelector ? { fieldSelector: this.fieldSelector } : {}),
        ...(first ? { resourceVersion: '0' } : { limit: LIST_PAGE, ...(cont ? { _continue: cont } : {}) }),
      });
      for (const item of page.items) items.push(this.slim(item as Raw));
      rv = page.metadata?.resourceVersion ?? '';
      cont = page.metadata?._continue || undefined;
    } while (cont);
    this.listedOnce = true;
    this.synced = true;
    this.healthy();
    this.phase = 'watch';
    return { metadata: { resourceVersion: rv }, items };
  }

  private onError(err: unknown): void {
    if (this.stopped) return; // stop() aborts the watch, which ListWatch reports as an error
    this.errors++;
    this.lastError = describe(err, this.resource, this.phase, this.server);
    if (this.starting) { this.startError = err ?? new Error('unknown error'); return; }
    const wait = this.nextBackoff();
    const now = Date.now();
    if (now - this.lastLogMs >= this.tuning.errorLogIntervalMs) {
      this.log.warn({ resource: this.resource, err: this.lastError, retryInMs: wait, suppressed: this.suppressed }, 'kubernetes watch failed; retrying');
      this.lastLogMs = now;
      this.suppressed = 0;
    } else {
      this.suppressed++;
    }
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopped) return;
      // resumes from the last resourceVersion when there is one, relists otherwise
      this.lw.start().catch((e: unknown) => this.onError(e));
    }, wait);
    this.restartTimer.unref();
  }

  private nextBackoff(): number {
    const base = Math.min(this.tuning.maxMs, this.tuning.initialMs * 2 ** this.failures);
    this.failures++;
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }
}

// ---- the identity source ----

export class KubernetesIdentity implements IdentitySource, NodeSource {
  private readonly index: IdentityIndex;
  private readonly log: Logger;
  private readonly reflectors: Reflector[] = [];
  private readonly pods: Reflector;
  private readonly owners: Reflector[] = [];
  private readonly podUidByKey = new Map<string, string>();
  private readonly serviceUidByKey = new Map<string, string>();
  private readonly ownerOf = new Map<string, OwnerReference | null>();
  private readonly nodeByName = new Map<string, NodeInfo>();
  private nodeList: readonly NodeInfo[] | undefined;
  private readonly nodeListeners = new Set<(change: NodeChange) => void>();
  private readonly startTimeoutMs: number;
  private starting: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly opts: KubernetesIdentityOptions) {
    if (!opts.nodeName) throw new Error('KubernetesIdentity: nodeName is required (spec.nodeName via the downward API)');
    const kc = opts.kubeConfig ?? defaultKubeConfig();
    const server = kc.getCurrentCluster()?.server ?? '(no cluster in kubeconfig)';
    this.index = new IdentityIndex(opts.nodeName);
    this.log = opts.logger.child({ component: 'k8s' });
    this.startTimeoutMs = opts.startTimeoutMs ?? 60_000;
    const tuning: Tuning = {
      initialMs: opts.backoff?.initialMs ?? 500,
      maxMs: opts.backoff?.maxMs ?? 30_000,
      watchTimeoutSeconds: opts.watchTimeoutSeconds ?? 300,
      errorLogIntervalMs: opts.errorLogIntervalMs ?? 30_000,
      resyncMs: opts.resyncMs ?? 0,
    };
    const core = kc.makeApiClient(CoreV1Api);
    const make = (resource: Resource, lister: Lister, fieldSelector: string | undefined,
      upsert: (o: KubernetesObject) => void, remove: (o: KubernetesObject) => void): Reflector => {
      const r = new Reflector(resource, kc, lister, fieldSelector, { upsert, remove }, tuning, this.log, server);
      this.reflectors.push(r);
      return r;
    };
    if (opts.mode === 'cluster') {
      const apps = kc.makeApiClient(AppsV1Api);
      const batch = kc.makeApiClient(BatchV1Api);
      for (const [resource, kind, lister] of [
        ['replicasets', 'ReplicaSet', (p: ListParams) => apps.listReplicaSetForAllNamespaces(p)],
        ['jobs', 'Job', (p: ListParams) => batch.listJobForAllNamespaces(p)],
      ] as const) {
        this.owners.push(make(resource, lister, undefined,
          (o) => this.upsertOwner(kind, o as OwnedObject), (o) => this.removeOwner(kind, o as OwnedObject)));
      }
      make('services', (p) => core.listServiceForAllNamespaces(p), undefined,
        (o) => this.upsertService(o as ServiceObject), (o) => this.removeService(o as ServiceObject));
    }
    if (opts.watchNodes) {
      make('nodes', (p) => core.listNode(p), undefined,
        (o) => this.upsertNode(o as NodeObject), (o) => this.removeNode(o as NodeObject));
    }
    this.pods = make('pods', (p) => core.listPodForAllNamespaces(p),
      opts.mode === 'node' ? `spec.nodeName=${opts.nodeName}` : undefined,
      (o) => this.upsertPod(o as PodObject), (o) => this.removePod(o as PodObject));
  }

  /** ReplicaSets and Jobs first, so pods resolve to their Deployment/CronJob from the start. */
  start(): Promise<void> {
    if (this.stopped) return Promise.reject(new Error('KubernetesIdentity: start() after stop()'));
    this.starting ??= (async () => {
      const deadline = Date.now() + this.startTimeoutMs;
      const t0 = Date.now();
      try {
        await Promise.all(this.owners.map((r) => r.start(deadline)));
        await Promise.all(this.reflectors.filter((r) => !this.owners.includes(r)).map((r) => r.start(deadline)));
      } catch (err) {
        this.stop();
        throw err;
      }
      this.log.info({ mode: this.opts.mode, node: this.opts.nodeName, ...this.stats(), ms: Date.now() - t0 }, 'kubernetes identity synced');
    })();
    return this.starting;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const r of this.reflectors) r.stop();
  }

  resolve(ip: string): Endpoint | undefined { return this.index.resolve(ip); }
  localPods(): readonly PodInfo[] { return this.index.localPods(); }
  podByUid(uid: string): PodInfo | undefined { return this.index.podByUid(uid); }
  get generation(): number { return this.index.generation; }

  /** The cluster's nodes (empty unless `watchNodes`). */
  nodes(): readonly NodeInfo[] {
    this.nodeList ??= [...this.nodeByName.values()];
    return this.nodeList;
  }

  watchNodes(listener: (change: NodeChange) => void): () => void {
    this.nodeListeners.add(listener);
    return () => { this.nodeListeners.delete(listener); };
  }

  stats(): IdentityStats {
    let relists = 0, watchErrors = 0;
    let lastError: string | undefined;
    for (const r of this.reflectors) {
      relists += r.relists;
      watchErrors += r.errors;
      lastError = r.lastError ?? lastError;
    }
    return {
      pods: this.index.podCount, localPods: this.index.localCount, services: this.index.serviceCount,
      relists, watchErrors, ...(lastError !== undefined ? { lastError } : {}),
      synced: this.reflectors.every((r) => r.synced),
    };
  }

  // ---- informer callbacks ----

  private readonly ownerLookup: OwnerLookup = (kind, namespace, name) => this.ownerOf.get(ownerKey(kind, namespace, name));

  private upsertPod(o: PodObject): void {
    const rec = podRecordFromObject(o, this.opts.mode === 'cluster' ? this.ownerLookup : undefined);
    if (!rec) return;
    const key = `${rec.info.namespace}/${rec.info.name}`;
    // a relist after a gap may show a same-name pod with a new uid as an update
    const prevUid = this.podUidByKey.get(key);
    if (prevUid !== undefined && prevUid !== rec.info.uid) this.index.deletePod(prevUid);
    this.podUidByKey.set(key, rec.info.uid);
    this.index.upsertPod(rec);
  }

  private removePod(o: PodObject): void {
    const uid = o.metadata?.uid;
    if (!uid) return;
    const key = `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
    if (this.podUidByKey.get(key) === uid) this.podUidByKey.delete(key);
    this.index.deletePod(uid);
  }

  private upsertNode(o: NodeObject): void {
    const node = nodeInfoFromObject(o);
    if (!node) return;
    const previous = this.nodeByName.get(node.name);
    if (previous && sameNodeInfo(previous, node)) return;
    this.nodeByName.set(node.name, node);
    this.nodeList = undefined;
    // a node's own addresses resolve to it even with no host-network pod on it
    this.index.setNodeIps(node.name, [...node.internalIPs, ...node.externalIPs]);
    this.emitNode(previous ? { type: 'updated', node, previous } : { type: 'added', node });
  }

  private removeNode(o: NodeObject): void {
    const name = o.metadata?.name;
    const node = name ? this.nodeByName.get(name) : undefined;
    if (!name || !node) return;
    this.nodeByName.delete(name);
    this.nodeList = undefined;
    this.index.setNodeIps(name, []);
    this.emitNode({ type: 'deleted', node });
  }

  private emitNode(change: NodeChange): void {
    for (const l of this.nodeListeners) {
      try {
        l(change);
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'a node watch listener failed');
      }
    }
  }

  private upsertService(o: ServiceObject): void {
    const info = serviceInfoFromObject(o);
    if (!info) return;
    const key = `${info.namespace}/${info.name}`;
    const prevUid = this.serviceUidByKey.get(key);
    if (prevUid !== undefined && prevUid !== info.uid) this.index.deleteService(prevUid);
    this.serviceUidByKey.set(key, info.uid);
    this.index.upsertService(info);
  }

  private removeService(o: ServiceObject): void {
    const uid = o.metadata?.uid;
    if (!uid) return;
    const key = `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
    if (this.serviceUidByKey.get(key) === uid) this.serviceUidByKey.delete(key);
    this.index.deleteService(uid);
  }

  private upsertOwner(kind: 'ReplicaSet' | 'Job', o: OwnedObject): void {
    const ns = o.metadata?.namespace ?? '', name = o.metadata?.name;
    if (!name) return;
    const ctl = controllerOf(o.metadata);
    const next = ctl?.kind && ctl.name ? { kind: ctl.kind, name: ctl.name } : null;
    const key = ownerKey(kind, ns, name);
    const prev = this.ownerOf.get(key);
    this.ownerOf.set(key, next);
    if (prev === undefined || prev?.kind !== next?.kind || prev?.name !== next?.name) this.rederive(kind, ns, name);
  }

  private removeOwner(kind: 'ReplicaSet' | 'Job', o: OwnedObject): void {
    const ns = o.metadata?.namespace ?? '', name = o.metadata?.name;
    if (!name || !this.ownerOf.delete(ownerKey(kind, ns, name))) return;
    this.rederive(kind, ns, name);
  }

  /** The pods of a ReplicaSet/Job whose ownership became known or changed get their workload again. */
  private rederive(kind: string, namespace: string, name: string): void {
    for (const rec of this.index.podsControlledBy(namespace, kind, name)) {
      const obj = this.pods.get(rec.info.name, rec.info.namespace);
      if (obj) this.upsertPod(obj as PodObject);
    }
  }
}

function ownerKey(kind: string, namespace: string, name: string): string {
  return `${kind}\0${namespace}\0${name}`;
}

/**
 * A kubeconfig file when `path` is given; otherwise in a pod the service account
 * (KUBERNETES_SERVICE_HOST is set), elsewhere KUBECONFIG or ~/.kube/config.
 */
export function defaultKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else if (process.env['KUBERNETES_SERVICE_HOST']) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

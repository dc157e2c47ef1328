/**
 * A small fake Kubernetes API server over real HTTP (127.0.0.1, random port) for testing the real
 * `@kubernetes/client-node` against: list and watch of pods (fieldSelector `spec.nodeName=`
 * honoured), services, replicasets (apps/v1) and jobs (batch/v1), with one global resourceVersion,
 * a bounded event history (a watch from before it gets `410 Gone`), bookmarks, and controls to cut
 * watches, hold reconnects and fail requests.
 *
 * Semantics kept close to kube-apiserver's: list returns `metadata.resourceVersion`; a watch
 * from resourceVersion R replays the events after R, then streams; a watch without R (or "0")
 * starts with ADDED for every current object; with a field selector, an object entering the
 * selection arrives as ADDED and one leaving it as DELETED; an expired R gets a 200 response with
 * one `ERROR` event (Status code 410) and the stream ends (or, `expireAs = 'http'`, an HTTP 410).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';

export type Resource = 'pods' | 'services' | 'replicasets' | 'jobs' | 'nodes';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type K8sObject = { metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string; [k: string]: any }; [k: string]: any };

const KINDS: Record<Resource, { prefix: string; kind: string; apiVersion: string; group: string }> = {
  pods: { prefix: '/api/v1', kind: 'Pod', apiVersion: 'v1', group: '' },
  services: { prefix: '/api/v1', kind: 'Service', apiVersion: 'v1', group: '' },
  replicasets: { prefix: '/apis/apps/v1', kind: 'ReplicaSet', apiVersion: 'apps/v1', group: 'apps' },
  jobs: { prefix: '/apis/batch/v1', kind: 'Job', apiVersion: 'batch/v1', group: 'batch' },
  nodes: { prefix: '/api/v1', kind: 'Node', apiVersion: 'v1', group: '' },
};

interface Event { readonly rv: number; readonly resource: Resource; readonly type: 'ADDED' | 'MODIFIED' | 'DELETED'; readonly object: K8sObject; readonly prev?: K8sObject }

interface Query {
  readonly resource: Resource;
  readonly namespace?: string;
  readonly watch: boolean;
  readonly resourceVersion: string;
  readonly fieldSelector?: string;
  readonly bookmarks: boolean;
  readonly limit?: number;
  readonly continueToken?: string;
}

interface Watcher { readonly q: Query; readonly res: ServerResponse }

export interface RequestLog { readonly resource: Resource; readonly watch: boolean; readonly query: Readonly<Record<string, string>>; readonly status: number }

const clone = <T>(o: T): T => structuredClone(o);
const keyOf = (o: K8sObject): string => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

export class FakeApiServer {
  /** How an expired resourceVersion is answered: an ERROR event in a 200 stream (kube-apiserver's way) or an HTTP 410. */
  expireAs: 'event' | 'http' = 'event';
  readonly token = 'fake-token';
  /** Every request, in order. */
  readonly requests: RequestLog[] = [];

  private rv = 100;
  private historyStart = 0;
  private readonly objects = new Map<Resource, Map<string, K8sObject>>(
    (Object.keys(KINDS) as Resource[]).map((r) => [r, new Map()]));
  private history: Event[] = [];
  private readonly watchers = new Set<Watcher>();
  private held: { q: Query; res: ServerResponse }[] = [];
  private holding = false;
  private failures: { n: number; status: number; resource?: Resource; watch?: boolean }[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;

  private constructor() {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
  }

  static async start(): Promise<FakeApiServer> {
    const f = new FakeApiServer();
    await new Promise<void>((resolve) => f.server.listen(0, '127.0.0.1', resolve));
    return f;
  }

  get port(): number { return (this.server.address() as AddressInfo).port; }
  get url(): string { return `http://127.0.0.1:${this.port}`; }
  get resourceVersion(): string { return String(this.rv); }
  /** Watch connections currently streaming (held reconnects not counted). */
  get activeWatches(): number { return this.watchers.size; }
  get heldWatches(): number { return this.held.length; }

  /**
   * A KubeConfig pointing at this server with a bearer token. client-node 1.x only makes plain
   * http requests when the cluster has `skipTLSVerify: true` (KubeConfig.createAgent: an
   * http.Agent then; otherwise it throws "HTTP protocol is not allowed ...").
   */
  kubeConfig(token = this.token): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'fovea', token }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fovea' }],
      currentContext: 'fake',
    });
    return kc;
  }

  // ---- object changes (each bumps the global resourceVersion and reaches the watches) ----

  /** Creates or replaces (by namespace/name) an object; fills uid and creationTimestamp when missing. */
  put(resource: Resource, obj: K8sObject): K8sObject {
    const store = this.objects.get(resource)!;
    const prev = store.get(keyOf(obj));
    const o = clone(obj);
    o['apiVersion'] = KINDS[resource].apiVersion;
    o['kind'] = KINDS[resource].kind;
    o.metadata.uid ??= prev?.metadata.uid ?? randomUUID();
    o.metadata['creationTimestamp'] ??= prev?.metadata['creationTimestamp'] ?? new Date().toISOString();
    o.metadata.resourceVersion = String(++this.rv);
    store.set(keyOf(o), o);
    this.emit({ rv: this.rv, resource, type: prev ? 'MODIFIED' : 'ADDED', object: o, ...(prev ? { prev } : {}) });
    return clone(o);
  }

  delete(resource: Resource, namespace: string, name: string): void {
    const store = this.objects.get(resource)!;
    const prev = store.get(`${namespace}/${name}`);
    if (!prev) throw new Error(`fake apiserver: no ${resource} ${namespace}/${name}`);
    store.delete(`${namespace}/${name}`);
    const o = clone(prev);
    o.metadata.resourceVersion = String(++this.rv);
    this.emit({ rv: this.rv, resource, type: 'DELETED', object: o, prev });
  }

  get(resource: Resource, namespace: string, name: string): K8sObject | undefined {
    const o = this.objects.get(resource)!.get(`${namespace}/${name}`);
    return o && clone(o);
  }

  // ---- controls ----

  /** Sends a BOOKMARK at the current resourceVersion to every watch that asked for bookmarks. */
  bookmark(): void {
    for (const w of this.watchers) {
      if (!w.q.bookmarks) continue;
      const { kind, apiVersion } = KINDS[w.q.resource];
      w.res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { kind, apiVersion, metadata: { resourceVersion: String(this.rv) } } })}\n`);
    }
  }

  /** Forgets every event so far: a watch from an older resourceVersion now gets 410 Gone. */
  expireHistory(): void {
    this.historyStart = this.rv;
    this.history = [];
  }

  /**
   * Ends every live watch: `end` closes the stream cleanly (as kube-apiserver does when a watch
   * times out), `reset` cuts the connection mid-stream (a load balancer or network failure).
   * With `hold`, new watch requests wait unanswered until releaseWatches().
   */
  dropWatches(opts: { hold?: boolean; how?: 'end' | 'reset' } = {}): void {
    if (opts.hold) this.holding = true;
    for (const w of this.watchers) {
      if (opts.how === 'reset') w.res.destroy(); else w.res.end();
    }
    this.watchers.clear();
  }

  releaseWatches(): void {
    this.holding = false;
    const held = this.held;
    this.held = [];
    for (const h of held) if (!h.res.destroyed) this.serveWatch(h.q, h.res);
  }

  /** The next `n` requests (optionally only for one resource, or only watches/lists) fail with `status`. */
  failNext(n: number, status: number, filter: { resource?: Resource; watch?: boolean } = {}): void {
    this.failures.push({ n, status, ...filter });
  }

  async close(): Promise<void> {
    for (const w of this.watchers) w.res.destroy();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- HTTP ----

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    const q = this.parse(url);
    const log = (status: number): void => {
      this.requests.push({ resource: q?.resource ?? ('?' as Resource), watch: q?.watch ?? false, query: Object.fromEntries(url.searchParams), status });
    };
    if (req.headers.authorization !== `Bearer ${this.token}`) {
      log(401);
      return this.status(res, 401, 'Unauthorized', 'Unauthorized');
    }
    if (!q || req.method !== 'GET') {
      log(404);
      return this.status(res, 404, 'NotFound', `the server could not find the requested resource (${req.method} ${url.pathname})`);
    }
    const failure = this.failures.find((f) => f.n > 0 && (f.resource === undefined || f.resource === q.resource) && (f.watch === undefined || f.watch === q.watch));
    if (failure) {
      failure.n--;
      this.failures = this.failures.filter((f) => f.n > 0);
      log(failure.status);
      const { group } = KINDS[q.resource];
      const verb = q.watch ? 'watch' : 'list';
      if (failure.status === 403) {
        return this.status(res, 403, 'Forbidden', `${q.resource}${group ? `.${group}` : ''} is forbidden: User "system:serviceaccount:fovea:fovea" cannot ${verb} resource "${q.resource}" in API group "${group}" at the cluster scope`);
      }
      return this.status(res, failure.status, 'InternalError', `fake failure ${failure.status}`);
    }
    log(200);
    if (!q.watch) return this.serveList(q, res);
    if (this.holding) {
      this.held.push({ q, res });
      return;
    }
    this.serveWatch(q, res);
  }

  private parse(url: URL): Query | undefined {
    for (const [resource, { prefix }] of Object.entries(KINDS) as [Resource, (typeof KINDS)[Resource]][]) {
      if (!url.pathname.startsWith(prefix + '/')) continue;
      const rest = url.pathname.slice(prefix.length + 1).split('/');
      let namespace: string | undefined;
      if (rest.length === 3 && rest[0] === 'namespaces' && rest[2] === resource) namespace = rest[1];
      else if (!(rest.length === 1 && rest[0] === resource)) continue;
      const p = url.searchParams;
      const limit = p.get('limit');
      return {
        resource, watch: p.get('watch') === 'true', resourceVersion: p.get('resourceVersion') ?? '',
        bookmarks: p.get('allowWatchBookmarks') === 'true',
        ...(namespace !== undefined ? { namespace } : {}),
        ...(p.get('fieldSelector') ? { fieldSelector: p.get('fieldSelector')! } : {}),
        ...(limit ? { limit: Number(limit) } : {}),
        ...(p.get('continue') ? { continueToken: p.get('continue')! } : {}),
      };
    }
    return undefined;
  }

  private matches(q: Query, o: K8sObject | undefined): boolean {
    if (!o) return false;
    if (q.namespace !== undefined && o.metadata.namespace !== q.namespace) return false;
    if (q.fieldSelector) {
      for (const term of q.fieldSelector.split(',')) {
        const m = /^spec\.nodeName=(.*)$/.exec(term);
        if (!m) throw new Error(`fake apiserver: unsupported field selector ${term}`);
        if ((o['spec']?.nodeName ?? '') !== m[1]) return false;
      }
    }
    return true;
  }

  private serveList(q: Query, res: ServerResponse): void {
    const all = [...this.objects.get(q.resource)!.values()].filter((o) => this.matches(q, o))
      .sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
    // kube-apiserver ignores limit for resourceVersion=0 (served from its watch cache)
    const paged = q.limit !== undefined && q.resourceVersion !== '0';
    let offset = 0, rv = this.rv;
    if (paged && q.continueToken) [rv, offset] = JSON.parse(Buffer.from(q.continueToken, 'base64').toString()) as [number, number];
    const items = paged ? all.slice(offset, offset + q.limit!) : all;
    const more = paged && offset + q.limit! < all.length;
    const { kind, apiVersion } = KINDS[q.resource];
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({
      kind: `${kind}List`, apiVersion,
      metadata: { resourceVersion: String(rv), ...(more ? { continue: Buffer.from(JSON.stringify([rv, offset + q.limit!])).toString('base64') } : {}) },
      items,
    }));
  }

  private serveWatch(q: Query, res: ServerResponse): void {
    const from = q.resourceVersion === '' || q.resourceVersion === '0' ? undefined : Number(q.resourceVersion);
    if (from !== undefined && from < this.historyStart) {
      const message = `too old resource version: ${from} (${this.historyStart})`;
      if (this.expireAs === 'http') return this.status(res, 410, 'Expired', message);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'Expired', code: 410 } })}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const w: Watcher = { q, res };
    if (from === undefined) {
      for (const o of this.objects.get(q.resource)!.values()) if (this.matches(q, o)) this.send(w, 'ADDED', o);
    } else {
      for (const e of this.history) if (e.rv > from) this.deliver(w, e);
    }
    this.watchers.add(w);
    res.on('close', () => this.watchers.delete(w));
  }

  private emit(e: Event): void {
    this.history.push(e);
    for (const w of this.watchers) this.deliver(w, e);
  }

  private deliver(w: Watcher, e: Event): void {
    if (w.q.resource !== e.resource) return;
    const was = e.type !== 'ADDED' && this.matches(w.q, e.prev);
    const is = this.matches(w.q, e.object);
    if (e.type === 'DELETED') { if (was) this.send(w, 'DELETED', e.object); return; }
    if (is) this.send(w, was ? 'MODIFIED' : 'ADDED', e.object);
    else if (was) this.send(w, 'DELETED', e.object);
  }

  private send(w: Watcher, type: string, object: K8sObject): void {
    w.res.write(`${JSON.stringify({ type, object })}\n`);
  }

  private status(res: ServerResponse, code: number, reason: string, message: string): void {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }));
  }
}

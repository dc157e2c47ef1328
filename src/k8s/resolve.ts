/**
 * Pure identity logic, no I/O: the shapes of the Kubernetes objects we read, workload resolution
 * through owners, and the IP index with its reuse rules. `KubernetesIdentity` feeds it from
 * informers, `StaticIdentity` from a list; both answer through it.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { Endpoint, NodeInfo, PodInfo, ServiceInfo, Workload } from './types.js';
import { canonicalIp } from '../net/ip.js';
import { identityLabels, sameLabels } from './labels.js';

export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';

// ---- the fields we read (satisfied by client-node's models and by raw watch JSON alike) ----

export interface OwnerReference { readonly kind?: string; readonly name?: string; readonly controller?: boolean }
export interface ObjectMeta {
  readonly name?: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly resourceVersion?: string;
  readonly creationTimestamp?: Date | string;
  readonly deletionTimestamp?: Date | string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly ownerReferences?: readonly OwnerReference[];
}
export interface PodObject {
  readonly metadata?: ObjectMeta;
  readonly spec?: { readonly nodeName?: string; readonly hostNetwork?: boolean; readonly serviceAccountName?: string };
  readonly status?: {
    readonly phase?: string;
    readonly podIP?: string;
    readonly podIPs?: readonly { readonly ip?: string }[];
    readonly hostIP?: string;
    readonly hostIPs?: readonly { readonly ip?: string }[];
  };
}
export interface ServiceObject {
  readonly metadata?: ObjectMeta;
  readonly spec?: { readonly clusterIP?: string; readonly clusterIPs?: readonly string[] };
}
export interface NodeObject {
  readonly metadata?: ObjectMeta;
  readonly status?: { readonly addresses?: readonly { readonly type?: string; readonly address?: string }[] };
}
/** ReplicaSet, Job: only their metadata matters (who controls them). */
export interface OwnedObject { readonly metadata?: ObjectMeta }

// ---- addresses ----

export { canonicalIp };

function canonicalIps(list: readonly (string | undefined)[]): string[] {
  const out: string[] = [];
  for (const t of list) {
    const ip = t ? canonicalIp(t) : undefined;
    if (ip && !out.includes(ip)) out.push(ip);
  }
  return out;
}

// ---- workloads ----

/**
 * What is known about a ReplicaSet or Job: `undefined` = not (yet) in the cache; `null` = known,
 * without a controller (an orphan); otherwise its controller.
 */
export type OwnerLookup = (kind: string, namespace: string, name: string) => OwnerReference | null | undefined;

/**
 * CronJob-created Jobs are named `<cronjob>-<scheduled time in minutes since the Unix epoch>`
 * (the CronJob controller's getJobName); today that number has 8 digits. Requiring ≥ 8 digits keeps
 * hand-made Jobs such as `migrate-2` from passing for a CronJob.
 */
const CRONJOB_JOB_NAME = /^(.+)-(\d{8,})$/;

export function controllerOf(meta: ObjectMeta | undefined): OwnerReference | undefined {
  return meta?.ownerReferences?.find((o) => o.controller === true && o.kind && o.name);
}

/**
 * The workload of a pod, from its controller owner reference:
 * - ReplicaSet → its controller (a Deployment, or e.g. an Argo Rollout); an orphan ReplicaSet is the
 *   workload itself. When the ReplicaSet is not known (node mode, or not seen yet), a heuristic: the
 *   Deployment controller names ReplicaSets `<deployment>-<pod-template-hash>` and labels their pods
 *   with that hash, so a ReplicaSet name ending in `-<the pod's pod-template-hash label>` is taken
 *   as that Deployment. (A ReplicaSet orphaned by deleting its Deployment with `--cascade=orphan`
 *   keeps the label and still reads as the Deployment.)
 * - Job → its controller (a CronJob); an orphan Job is the workload. Unknown Job: a name matching
 *   `<cronjob>-<8+ digits>` is taken as that CronJob (see CRONJOB_JOB_NAME).
 * - Node (mirror pods of static pods) or no controller → `{ kind: 'Pod', name: <pod name> }`.
 * - Anything else (StatefulSet, DaemonSet, ReplicationController, custom controllers) → itself.
 */
export function workloadOf(pod: ObjectMeta | undefined, owners?: OwnerLookup): Workload {
  const podName = pod?.name ?? '';
  const ctl = controllerOf(pod);
  if (!ctl?.kind || !ctl.name || ctl.kind === 'Node') return { kind: 'Pod', name: podName };
  const ns = pod?.namespace ?? '';
  if (ctl.kind === 'ReplicaSet' || ctl.kind === 'Job') {
    const known = owners?.(ctl.kind, ns, ctl.name);
    if (known === null) return { kind: ctl.kind, name: ctl.name };
    if (known?.kind && known.name) return { kind: known.kind, name: known.name };
    if (ctl.kind === 'ReplicaSet') {
      const hash = pod?.labels?.[POD_TEMPLATE_HASH_LABEL];
      if (hash && ctl.name.length > hash.length + 1 && ctl.name.endsWith(`-${hash}`)) {
        return { kind: 'Deployment', name: ctl.name.slice(0, -hash.length - 1) };
      }
    } else {
      const m = CRONJOB_JOB_NAME.exec(ctl.name);
      if (m) return { kind: 'CronJob', name: m[1]! };
    }
  }
  return { kind: ctl.kind, name: ctl.name };
}

// ---- pods and services ----

/** A pod as the index keeps it: its PodInfo plus what the IP rules need. */
export interface PodRecord {
  readonly info: PodInfo;
  /** `status.hostIPs`: the IPs of the node it runs on. */
  readonly hostIPs: readonly string[];
  readonly createdMs: number;
  /** `metadata.deletionTimestamp` is set: still running (graceful termination), about to go. */
  readonly deleting: boolean;
  /** Its controller reference, to re-derive the workload when a ReplicaSet/Job becomes known. */
  readonly controller?: { readonly kind: string; readonly name: string };
}

export function isTerminated(info: PodInfo): boolean {
  return info.phase === 'Succeeded' || info.phase === 'Failed';
}

function timeMs(t: Date | string | undefined): number {
  if (t === undefined) return 0;
  const ms = (t instanceof Date ? t : new Date(t)).getTime();
  return Number.isFinite(ms) ? ms : 0;
}

/** Undefined for an object without uid or name (never seen from an API server). */
export function podRecordFromObject(pod: PodObject, owners?: OwnerLookup): PodRecord | undefined {
  const meta = pod.metadata;
  if (!meta?.uid || !meta.name) return undefined;
  const st = pod.status;
  const ips = canonicalIps(st?.podIPs?.length ? st.podIPs.map((p) => p.ip) : [st?.podIP]);
  const hostIPs = canonicalIps(st?.hostIPs?.length ? st.hostIPs.map((p) => p.ip) : [st?.hostIP]);
  const ctl = controllerOf(meta);
  return {
    info: {
      uid: meta.uid,
      name: meta.name,
      namespace: meta.namespace ?? '',
      nodeName: pod.spec?.nodeName ?? '',
      ips,
      hostNetwork: pod.spec?.hostNetwork === true,
      workload: workloadOf(meta, owners),
      phase: st?.phase ?? 'Pending',
      ...identityFields(meta.labels, pod.spec?.serviceAccountName),
    },
    hostIPs,
    createdMs: timeMs(meta.creationTimestamp),
    deleting: meta.deletionTimestamp !== undefined && meta.deletionTimestamp !== null,
    ...(ctl?.kind && ctl.name ? { controller: { kind: ctl.kind, name: ctl.name } } : {}),
  };
}

function identityFields(labels: ObjectMeta['labels'], serviceAccount: string | undefined): Pick<PodInfo, 'labels' | 'serviceAccount'> {
  const kept = identityLabels(labels);
  return { ...(kept ? { labels: kept } : {}), ...(serviceAccount ? { serviceAccount } : {}) };
}

/** A Node object → NodeInfo; undefined without a name. */
export function nodeInfoFromObject(node: NodeObject): NodeInfo | undefined {
  const meta = node.metadata;
  if (!meta?.name) return undefined;
  const of = (type: string): string[] => canonicalIps((node.status?.addresses ?? []).filter((a) => a.type === type).map((a) => a.address));
  return {
    name: meta.name, uid: meta.uid ?? '', labels: { ...(meta.labels ?? {}) },
    internalIPs: of('InternalIP'), externalIPs: of('ExternalIP'),
  };
}

export function sameNodeInfo(a: NodeInfo, b: NodeInfo): boolean {
  return a.name === b.name && a.uid === b.uid && sameLabels(a.labels, b.labels)
    && sameStrings(a.internalIPs, b.internalIPs) && sameStrings(a.externalIPs, b.externalIPs);
}

/** A record from a PodInfo alone (StaticIdentity): host-network pods' IPs are their node's. */
export function podRecordFromInfo(info: PodInfo): PodRecord {
  const ips = canonicalIps(info.ips);
  return { info: { ...info, ips }, hostIPs: info.hostNetwork ? ips : [], createdMs: 0, deleting: false };
}

export function serviceInfoFromObject(svc: ServiceObject): ServiceInfo | undefined {
  const meta = svc.metadata;
  if (!meta?.uid || !meta.name) return undefined;
  const spec = svc.spec;
  const raw = spec?.clusterIPs?.length ? spec.clusterIPs : [spec?.clusterIP];
  return {
    uid: meta.uid,
    name: meta.name,
    namespace: meta.namespace ?? '',
    // headless services say `None`; canonicalIp drops it with any other non-address
    clusterIPs: canonicalIps(raw),
  };
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export function samePodInfo(a: PodInfo, b: PodInfo): boolean {
  return a.uid === b.uid && a.name === b.name && a.namespace === b.namespace && a.nodeName === b.nodeName
    && a.hostNetwork === b.hostNetwork && a.phase === b.phase && sameStrings(a.ips, b.ips)
    && a.workload.kind === b.workload.kind && a.workload.name === b.workload.name
    && a.serviceAccount === b.serviceAccount && sameLabels(a.labels, b.labels);
}

// ---- the index ----

/**
 * IP → claimants (keyed by uid). Several objects may claim one IP for a while (a pod's IP reused
 * before the old pod's end reached us); the best rank wins, then the latest claim. Removing one
 * claimant never touches another's claim.
 */
class ClaimMap<T> {
  private readonly byIp = new Map<string, Map<string, { value: T; rank: number; seq: number }>>();
  private readonly byUid = new Map<string, readonly string[]>();
  private seq = 0;

  set(uid: string, ips: readonly string[], value: T, rank: number): void {
    const before = this.byUid.get(uid) ?? [];
    for (const ip of before) if (!ips.includes(ip)) this.drop(ip, uid);
    for (const ip of ips) {
      let claims = this.byIp.get(ip);
      if (!claims) this.byIp.set(ip, claims = new Map());
      const prev = claims.get(uid);
      // an update keeps its place: a stale MODIFIED of an old pod must not win the IP back
      claims.set(uid, { value, rank, seq: prev?.seq ?? ++this.seq });
    }
    if (ips.length) this.byUid.set(uid, ips); else this.byUid.delete(uid);
  }

  remove(uid: string): void {
    for (const ip of this.byUid.get(uid) ?? []) this.drop(ip, uid);
    this.byUid.delete(uid);
  }

  get(ip: string): T | undefined {
    const claims = this.byIp.get(ip);
    if (!claims) return undefined;
    let best: { value: T; rank: number; seq: number } | undefined;
    for (const c of claims.values()) {
      if (!best || c.rank > best.rank || (c.rank === best.rank && c.seq > best.seq)) best = c;
    }
    return best?.value;
  }

  private drop(ip: string, uid: string): void {
    const claims = this.byIp.get(ip);
    if (!claims) return;
    claims.delete(uid);
    if (claims.size === 0) this.byIp.delete(ip);
  }
}

/** Live pods outrank deleting ones whatever their age; among equals the newer pod wins. */
const LIVE_RANK = 1e14;

/**
 * Pods, services and node IPs, with the reuse rules:
 * - a pod in phase Succeeded/Failed owns no IP (its sandbox, and so its IP, is gone);
 * - a pod being deleted keeps its IP only until a live pod claims it (graceful termination still
 *   sends traffic from it; the CNI may hand the IP out again before the pod object is gone);
 * - among live claimants the most recently created pod wins, and deleting the old pod never
 *   removes the new pod's mapping;
 * - host-network pods own no pod IP: their IPs, like every pod's `status.hostIPs`, map to the
 *   node, so resolve(nodeIP) is `{kind:'node'}`, never one of the host-network pods on it.
 * resolve() prefers a pod, then a service cluster IP, then a node.
 */
export class IdentityIndex {
  private readonly pods = new Map<string, PodRecord>();
  private readonly podIps = new ClaimMap<PodRecord>();
  private readonly nodeIps = new ClaimMap<string>();
  private readonly services = new Map<string, ServiceInfo>();
  private readonly serviceIps = new ClaimMap<ServiceInfo>();
  private readonly byController = new Map<string, Set<string>>();
  private readonly local = new Map<string, PodInfo>();
  private localList: readonly PodInfo[] = [];
  private localListGen = -1;
  private gen = 0;

  /** `nodeName`: the node whose pods are local (undefined: every pod is, e.g. standalone). */
  constructor(private readonly nodeName: string | undefined) {}

  get generation(): number { return this.gen; }
  get podCount(): number { return this.pods.size; }
  get serviceCount(): number { return this.services.size; }
  get localCount(): number { return this.local.size; }

  upsertPod(rec: PodRecord): void {
    const { info } = rec;
    const prev = this.pods.get(info.uid);
    this.pods.set(info.uid, rec);
    if (prev?.controller) this.unindexController(prev, info.uid);
    if (rec.controller) {
      const key = controllerKey(info.namespace, rec.controller.kind, rec.controller.name);
      let set = this.byController.get(key);
      if (!set) this.byController.set(key, set = new Set());
      set.add(info.uid);
    }
    if (!info.hostNetwork && !isTerminated(info) && info.ips.length) {
      this.podIps.set(info.uid, info.ips, rec, (rec.deleting ? 0 : LIVE_RANK) + rec.createdMs);
    } else {
      this.podIps.remove(info.uid);
    }
    const nodeIps = info.hostNetwork ? [...new Set([...rec.hostIPs, ...info.ips])] : rec.hostIPs;
    if (info.nodeName && nodeIps.length) this.nodeIps.set(info.uid, nodeIps, info.nodeName, 0);
    else this.nodeIps.remove(info.uid);

    const isLocal = (this.nodeName === undefined || info.nodeName === this.nodeName) && !isTerminated(info);
    const before = this.local.get(info.uid);
    if (isLocal) {
      this.local.set(info.uid, info);
      if (!before || !samePodInfo(before, info)) this.gen++;
    } else if (before) {
      this.local.delete(info.uid);
      this.gen++;
    }
  }

  deletePod(uid: string): void {
    const prev = this.pods.get(uid);
    if (!prev) return;
    this.pods.delete(uid);
    this.unindexController(prev, uid);
    this.podIps.remove(uid);
    this.nodeIps.remove(uid);
    if (this.local.delete(uid)) this.gen++;
  }

  upsertService(info: ServiceInfo): void {
    this.services.set(info.uid, info);
    this.serviceIps.set(info.uid, info.clusterIPs, info, 0);
  }

  deleteService(uid: string): void {
    this.services.delete(uid);
    this.serviceIps.remove(uid);
  }

  /** A node's own IPs, known without any pod (the Node object, or the host in standalone mode). */
  setNodeIps(nodeName: string, ips: readonly string[]): void {
    this.nodeIps.set(`node\0${nodeName}`, canonicalIps(ips), nodeName, 0);
  }

  resolve(ip: string): Endpoint | undefined {
    const hit = this.lookup(ip);
    if (hit || !ip.includes(':')) return hit;
    // other IPv6 spellings, IPv4-mapped IPv6
    const canon = canonicalIp(ip);
    return canon && canon !== ip ? this.lookup(canon) : undefined;
  }

  localPods(): readonly PodInfo[] {
    if (this.localListGen !== this.gen) {
      this.localList = [...this.local.values()];
      this.localListGen = this.gen;
    }
    return this.localList;
  }

  podByUid(uid: string): PodInfo | undefined {
    return this.pods.get(uid)?.info;
  }

  allPods(): IterableIterator<PodRecord> { return this.pods.values(); }
  allServices(): IterableIterator<ServiceInfo> { return this.services.values(); }

  /** Pods whose controller is `kind/name` in `namespace` (to re-derive their workload). */
  podsControlledBy(namespace: string, kind: string, name: string): PodRecord[] {
    const uids = this.byController.get(controllerKey(namespace, kind, name));
    const out: PodRecord[] = [];
    for (const uid of uids ?? []) {
      const rec = this.pods.get(uid);
      if (rec) out.push(rec);
    }
    return out;
  }

  private lookup(ip: string): Endpoint | undefined {
    const pod = this.podIps.get(ip);
    if (pod) return { kind: 'pod', pod: pod.info };
    const service = this.serviceIps.get(ip);
    if (service) return { kind: 'service', service };
    const nodeName = this.nodeIps.get(ip);
    if (nodeName) return { kind: 'node', nodeName };
    return undefined;
  }

  private unindexController(rec: PodRecord, uid: string): void {
    if (!rec.controller) return;
    const key = controllerKey(rec.info.namespace, rec.controller.kind, rec.controller.name);
    const set = this.byController.get(key);
    set?.delete(uid);
    if (set?.size === 0) this.byController.delete(key);
  }
}

function controllerKey(namespace: string, kind: string, name: string): string {
  return `${namespace}\0${kind}\0${name}`;
}

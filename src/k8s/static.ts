/**
 * A fixed identity: standalone mode (a host outside Kubernetes, where named network namespaces or
 * containers are the "pods") and a test double for the stages that consume identity. Same rules
 * as the informer-backed one, since both answer through IdentityIndex.
 */
import { IdentityIndex, podRecordFromInfo } from './resolve.js';
import type { Endpoint, IdentitySource, IdentityStats, PodInfo, ServiceInfo } from './types.js';

export interface StaticIdentityOptions {
  readonly pods?: readonly PodInfo[];
  readonly services?: readonly ServiceInfo[];
  /** This node: its pods are the local ones. Undefined: every pod is local (standalone). */
  readonly nodeName?: string;
  /** Node IPs (resolve to `{kind:'node'}`), e.g. the host's own addresses in standalone mode. */
  readonly nodes?: readonly { readonly name: string; readonly ips: readonly string[] }[];
}

export class StaticIdentity implements IdentitySource {
  private readonly index: IdentityIndex;
  /** the node whose pods are local (undefined: every pod is) */
  readonly nodeName: string | undefined;

  constructor(opts: StaticIdentityOptions = {}) {
    this.nodeName = opts.nodeName;
    this.index = new IdentityIndex(opts.nodeName);
    for (const node of opts.nodes ?? []) this.index.setNodeIps(node.name, node.ips);
    for (const pod of opts.pods ?? []) this.upsertPod(pod);
    for (const svc of opts.services ?? []) this.index.upsertService(svc);
  }

  async start(): Promise<void> {}
  stop(): void {}

  /** Adds or replaces a pod (by uid); bumps `generation` when local pods change. */
  upsertPod(pod: PodInfo): void { this.index.upsertPod(podRecordFromInfo(pod)); }
  deletePod(uid: string): void { this.index.deletePod(uid); }
  upsertService(svc: ServiceInfo): void { this.index.upsertService(svc); }
  deleteService(uid: string): void { this.index.deleteService(uid); }

  resolve(ip: string): Endpoint | undefined { return this.index.resolve(ip); }
  localPods(): readonly PodInfo[] { return this.index.localPods(); }
  podByUid(uid: string): PodInfo | undefined { return this.index.podByUid(uid); }
  get generation(): number { return this.index.generation; }

  stats(): IdentityStats {
    return {
      pods: this.index.podCount, localPods: this.index.localCount, services: this.index.serviceCount,
      relists: 0, watchErrors: 0, synced: true,
    };
  }
}

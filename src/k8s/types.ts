/**
 * Kubernetes identity: what the agent knows about the pods, services and nodes behind an IP.
 * Implementations: `KubernetesIdentity` (informers against the API server) and `StaticIdentity`
 * (a fixed list, for standalone mode and for tests of the stages that consume identity).
 */

/** The controller a pod belongs to, resolved through its owners (ReplicaSet → Deployment, Job → CronJob). */
export interface Workload {
  /** Deployment, StatefulSet, DaemonSet, CronJob, Job, ReplicaSet (an orphan one), ReplicationController, a custom kind, or `Pod` when there is no controller. */
  readonly kind: string;
  readonly name: string;
}

export interface PodInfo {
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  /** `spec.nodeName`; empty while the pod is not scheduled. */
  readonly nodeName: string;
  /** `status.podIPs` (dual-stack), canonical text; empty while pending. For host-network pods these are the node's IPs. */
  readonly ips: readonly string[];
  readonly hostNetwork: boolean;
  readonly workload: Workload;
  /** `status.phase`: Pending, Running, Succeeded, Failed, Unknown. */
  readonly phase: string;
  /**
   * The pod's labels that say what it is, without those that differ pod by pod or come from
   * Kubernetes itself (see identityLabels in labels.ts): the same for every replica of a workload.
   */
  readonly labels?: Readonly<Record<string, string>>;
  /** `spec.serviceAccountName` */
  readonly serviceAccount?: string;
}

export interface ServiceInfo {
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  /** `spec.clusterIPs` without `None` (headless services have none). */
  readonly clusterIPs: readonly string[];
}

/** A Kubernetes Node as the agent keeps it (Hubble's peer list, node labels on flows). */
export interface NodeInfo {
  readonly name: string;
  readonly uid: string;
  readonly labels: Readonly<Record<string, string>>;
  /** `status.addresses` of type InternalIP, canonical text, in the order the node lists them */
  readonly internalIPs: readonly string[];
  /** `status.addresses` of type ExternalIP */
  readonly externalIPs: readonly string[];
}

export type NodeChange =
  | { readonly type: 'added' | 'updated'; readonly node: NodeInfo; readonly previous?: NodeInfo }
  | { readonly type: 'deleted'; readonly node: NodeInfo };

/** The cluster's nodes, kept current by a watch (Kubernetes), or just this host (standalone). */
export interface NodeSource {
  nodes(): readonly NodeInfo[];
  /** Calls `listener` on every change after the initial list; returns the unsubscribe. */
  watchNodes(listener: (change: NodeChange) => void): () => void;
}

export type Endpoint =
  | { readonly kind: 'pod'; readonly pod: PodInfo }
  | { readonly kind: 'service'; readonly service: ServiceInfo }
  | { readonly kind: 'node'; readonly nodeName: string };

export interface IdentityStats {
  /** Pods in the cache (all of the cluster in `cluster` mode, this node's in `node` mode). */
  pods: number;
  /** Pods on this node that are not terminated. */
  localPods: number;
  services: number;
  /** Full lists after the initial ones (410 Gone, errors during a list, forced resyncs). */
  relists: number;
  /** Failed list or watch requests (not counting the ones `stop()` ended). */
  watchErrors: number;
  lastError?: string;
  /** All initial lists are done. */
  synced: boolean;
}

export interface IdentitySource {
  /** Resolves after the initial lists; rejects with a clear error (unreachable API, 401, 403 naming the missing RBAC rule, ...). */
  start(): Promise<void>;
  /** Idempotent: ends watches and clears timers. */
  stop(): void;
  /** IPv4 or IPv6 text (any valid spelling; IPv4-mapped IPv6 counts as IPv4). A pod wins over a service, a service over a node. */
  resolve(ip: string): Endpoint | undefined;
  /** Pods on this node (`spec.nodeName`), not terminated (phase Succeeded/Failed); host-network pods included. */
  localPods(): readonly PodInfo[];
  podByUid(uid: string): PodInfo | undefined;
  /** Bumps on every change of `localPods()` (added, removed, or any field of a PodInfo changed). */
  readonly generation: number;
  stats(): IdentityStats;
}

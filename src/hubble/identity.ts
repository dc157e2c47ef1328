/**
 * Hubble's view of an address: a numeric security identity and Cilium-style labels.
 *
 * Cilium allocates identities through its own control plane; Fovea has none, so a workload's
 * identity is derived from what every node sees the same way — the cluster name, the namespace and
 * the pod's identity labels (src/k8s/labels.ts leaves out the per-pod ones) — hashed into
 * Cilium's cluster-scoped range. Every node computes the same number for the same workload, with
 * no coordination, and a restart keeps it. Two different label sets can collide (a 24-bit space:
 * about a 1% chance somewhere among 580 distinct label sets); the labels on the flow stay exact.
 * Addresses that are not pods get Cilium's reserved identities.
 */
import type { EventEndpoint } from '../events/types.js';
import type { PodInfo } from '../k8s/types.js';

/** Cilium's reserved identities (pkg/identity: ReservedIdentity*). */
export const RESERVED_IDENTITY = {
  unknown: 0, host: 1, world: 2, unmanaged: 3, health: 4, init: 5, remoteNode: 6, kubeApiserver: 7,
} as const;

/** Cluster-scoped identities start here (below are reserved). */
export const MIN_WORKLOAD_IDENTITY = 256;
/** From 2^24 on, Cilium's identities are node-local (CIDR and the like): stay below. */
export const WORKLOAD_IDENTITY_LIMIT = 1 << 24;

/** Cilium's label keys for what Kubernetes knows of a pod. */
export const NAMESPACE_LABEL = 'io.kubernetes.pod.namespace';
export const SERVICE_ACCOUNT_LABEL = 'io.cilium.k8s.policy.serviceaccount';
export const CLUSTER_LABEL = 'io.cilium.k8s.policy.cluster';

/** FNV-1a, 32 bits, over UTF-16 code units (stable across runs and nodes). */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The identity of a label set (its sorted `source:key=value` strings). */
export function identityOfLabels(labels: readonly string[]): number {
  return MIN_WORKLOAD_IDENTITY + (fnv1a(labels.join('\n')) % (WORKLOAD_IDENTITY_LIMIT - MIN_WORKLOAD_IDENTITY));
}

/**
 * A pod's labels as Cilium writes them on flows: its identity labels with source `k8s`, plus the
 * namespace, the service account and the cluster; sorted. Outside Kubernetes a network namespace
 * workload is `fovea:netns=<name>`.
 */
export function podLabels(pod: PodInfo, cluster: string): string[] {
  if (pod.namespace === '' && pod.workload.kind === 'NetworkNamespace') return [`fovea:netns=${pod.name}`];
  const out: string[] = [];
  for (const [k, v] of Object.entries(pod.labels ?? {})) out.push(`k8s:${k}=${v}`);
  out.push(`k8s:${CLUSTER_LABEL}=${cluster}`);
  if (pod.serviceAccount) out.push(`k8s:${SERVICE_ACCOUNT_LABEL}=${pod.serviceAccount}`);
  out.push(`k8s:${NAMESPACE_LABEL}=${pod.namespace}`);
  return out.sort();
}

export interface EndpointIdentity {
  readonly identity: number;
  readonly labels: readonly string[];
}

const RESERVED_LABELS = {
  host: { identity: RESERVED_IDENTITY.host, labels: ['reserved:host'] },
  remoteNode: { identity: RESERVED_IDENTITY.remoteNode, labels: ['reserved:remote-node'] },
  world: { identity: RESERVED_IDENTITY.world, labels: ['reserved:world'] },
  unknown: { identity: RESERVED_IDENTITY.unknown, labels: [] as string[] },
} as const satisfies Record<string, EndpointIdentity>;

/**
 * Identity and labels per endpoint, cached per pod (by uid and the PodInfo object: a pod whose
 * labels change gets a new PodInfo) so a flow costs a map lookup.
 */
export class IdentityMapper {
  private readonly byPod = new Map<string, { pod: PodInfo; id: EndpointIdentity }>();

  constructor(
    private readonly cluster: string,
    /** this agent's node name: its addresses are `host`, other nodes' `remote-node` */
    private readonly node: string,
    private readonly podByUid: (uid: string) => PodInfo | undefined,
  ) {}

  of(e: EventEndpoint): EndpointIdentity {
    switch (e.kind) {
      case 'pod': {
        const pod = e.podUid ? this.podByUid(e.podUid) : undefined;
        if (!pod) return RESERVED_LABELS.world;
        const hit = this.byPod.get(pod.uid);
        if (hit && hit.pod === pod) return hit.id;
        const labels = podLabels(pod, this.cluster);
        const id = { identity: identityOfLabels(labels), labels };
        if (this.byPod.size > 100_000) this.byPod.clear(); // bounded: pods come and go
        this.byPod.set(pod.uid, { pod, id });
        return id;
      }
      case 'node':
        return e.node === this.node ? RESERVED_LABELS.host : RESERVED_LABELS.remoteNode;
      case 'service':
        // a Service VIP before translation is no endpoint: world, as Cilium's ipcache has it (the
        // service itself travels in source_service / destination_service)
        return RESERVED_LABELS.world;
      case 'external':
        // loopback is this node (Fovea's own connections, a node-local cache on 127.0.0.x)
        if (e.ip.startsWith('127.') || e.ip === '::1') return RESERVED_LABELS.host;
        return e.ip ? RESERVED_LABELS.world : RESERVED_LABELS.unknown;
    }
  }
}

/**
 * What a flow's two ends are, as attributes: a pod's workload, a Service, a node, or "external".
 */
import type { Attributes } from '@opentelemetry/api';
import type { Endpoint, IdentitySource, PodInfo } from '../k8s/types.js';
import { ATTR } from '../names.js';

export interface EndpointLabels {
  readonly namespace: string;
  readonly kind: string;
  readonly name: string;
  readonly pod?: string;
}

/** Labels of an address as the identity source resolves it now. */
export function endpointLabels(e: Endpoint | undefined): EndpointLabels {
  if (!e) return { namespace: '', kind: 'External', name: 'external' };
  switch (e.kind) {
    case 'pod': return { namespace: e.pod.namespace, kind: e.pod.workload.kind, name: e.pod.workload.name, pod: e.pod.name };
    case 'service': return { namespace: e.service.namespace, kind: 'Service', name: e.service.name };
    case 'node': return { namespace: '', kind: 'Node', name: e.nodeName };
  }
}

/** Optional pair attributes (cardinality): pod names and addresses of both ends. */
export interface PairOptions {
  readonly podNames: boolean;
  readonly addresses: boolean;
}

/**
 * Both ends of a flow between two addresses as the attributes every `fovea.flow.*` series carries
 * (namespace, workload kind and name of source and destination), plus pod names and addresses
 * when asked for.
 */
export function pairAttributes(identity: IdentitySource, opts: PairOptions, src: string, dst: string): Attributes {
  const s = endpointLabels(identity.resolve(src));
  const d = endpointLabels(identity.resolve(dst));
  const a: Attributes = {
    [ATTR.srcNamespace]: s.namespace, [ATTR.srcWorkloadKind]: s.kind, [ATTR.srcWorkload]: s.name,
    [ATTR.dstNamespace]: d.namespace, [ATTR.dstWorkloadKind]: d.kind, [ATTR.dstWorkload]: d.name,
  };
  if (opts.podNames) {
    if (s.pod) a[ATTR.srcPod] = s.pod;
    if (d.pod) a[ATTR.dstPod] = d.pod;
  }
  if (opts.addresses) {
    a[ATTR.srcAddress] = src;
    a[ATTR.dstAddress] = dst;
  }
  return a;
}

/**
 * Whether an address is a pod of the cluster (not host-network), on this node or another: its own
 * node's agent (the DaemonSet runs on every node) counts what it sends and the connections and
 * lookups it makes, so the receiving node must not count them again. In `kubernetes.mode: node`
 * only this node's pods are known, and traffic from other nodes' pods counts on both nodes.
 */
export function isClusterPod(identity: IdentitySource, ip: string): boolean {
  const e = identity.resolve(ip);
  return e?.kind === 'pod' && !e.pod.hostNetwork;
}

export function podAttributes(p: PodInfo): Attributes {
  return {
    'k8s.pod.uid': p.uid,
    'k8s.pod.name': p.name,
    'k8s.namespace.name': p.namespace,
    'fovea.workload.kind': p.workload.kind,
    'fovea.workload.name': p.workload.name,
  };
}

const TCP = 6;
const UDP = 17;
const EPHEMERAL_START = 32768;

/**
 * The server side of a 5-tuple: the port below the ephemeral range (32768) when exactly one is,
 * else the lower port. (TCP flags OR-ed over a record can't tell: both directions see SYN and ACK.)
 * Protocols without ports give 0.
 */
export function serverPort(proto: number, sport: number, dport: number): { server: number; client: number; serverIsDestination: boolean } {
  if (proto !== TCP && proto !== UDP) return { server: 0, client: 0, serverIsDestination: true };
  const dLow = dport < EPHEMERAL_START;
  const sLow = sport < EPHEMERAL_START;
  if (dLow !== sLow) return dLow ? { server: dport, client: sport, serverIsDestination: true } : { server: sport, client: dport, serverIsDestination: false };
  return dport <= sport
    ? { server: dport, client: sport, serverIsDestination: true }
    : { server: sport, client: dport, serverIsDestination: false };
}

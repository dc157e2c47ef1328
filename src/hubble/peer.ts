/**
 * Hubble's Peer service: tells Hubble Relay which nodes serve the Hubble API and where. Each
 * Notify call gets every node now (PEER_ADDED), then every change the node watch sees, and stays
 * open until the client leaves — as a Cilium agent's peer service does.
 */
import { isIPv4 } from 'node:net';
import type { NodeChange, NodeInfo, NodeSource } from '../k8s/types.js';
import { absoluteNodeName, DEFAULT_CLUSTER } from './flows.js';

/** peer.ChangeNotificationType */
export const CHANGE = { added: 1, deleted: 2, updated: 3 } as const;

export interface ChangeNotification {
  readonly name: string;
  readonly address: string;
  readonly type: number;
  readonly tls?: { readonly server_name: string };
}

export interface PeerOptions {
  readonly nodes: NodeSource;
  readonly cluster: string;
  /** the Hubble port every node serves on (a function: the port bound, when the configured one is 0) */
  readonly port: number | (() => number);
  /** announce TLS server names (nodes serve TLS); absent = Relay talks plaintext to them */
  readonly tls: boolean;
}

/** `<node>.<cluster>.hubble-grpc.cilium.io`, dots in either name turned into dashes (Cilium's TLSServerName). */
export function tlsServerName(node: string, cluster: string): string {
  const c = cluster === '' ? DEFAULT_CLUSTER : cluster;
  return `${node.replaceAll('.', '-')}.${c.replaceAll('.', '-')}.hubble-grpc.cilium.io`;
}

/** The address Relay should dial: an IPv4 address first (internal before external, as Cilium prefers), else the first IPv6 one. */
export function nodeAddress(node: NodeInfo, port: number): string {
  const all = [...node.internalIPs, ...node.externalIPs];
  const ip = all.find((a) => isIPv4(a)) ?? all[0];
  if (ip === undefined) return '';
  return isIPv4(ip) ? `${ip}:${port}` : `[${ip}]:${port}`;
}

export class PeerService {
  constructor(private readonly opts: PeerOptions) {}

  private notification(node: NodeInfo, type: number): ChangeNotification {
    return {
      name: absoluteNodeName(this.opts.cluster, node.name),
      address: nodeAddress(node, typeof this.opts.port === 'function' ? this.opts.port() : this.opts.port),
      type,
      ...(this.opts.tls ? { tls: { server_name: tlsServerName(node.name, this.opts.cluster) } } : {}),
    };
  }

  /**
   * Streams notifications to `send` until the returned function is called. Nodes without an
   * address are announced once they have one (Relay cannot dial them before).
   */
  notify(send: (n: ChangeNotification) => void): () => void {
    const announced = new Map<string, string>();
    const added = (node: NodeInfo): void => {
      const n = this.notification(node, CHANGE.added);
      if (!n.address) return;
      announced.set(node.name, n.address);
      send(n);
    };
    for (const node of this.opts.nodes.nodes()) added(node);
    return this.opts.nodes.watchNodes((change: NodeChange) => {
      const node = change.node;
      const before = announced.get(node.name);
      if (change.type === 'deleted') {
        if (before === undefined) return;
        announced.delete(node.name);
        send({ ...this.notification(node, CHANGE.deleted), address: before });
        return;
      }
      if (before === undefined) { added(node); return; }
      const n = this.notification(node, CHANGE.updated);
      if (n.address === before) return; // the same peer for Relay
      if (!n.address) {
        announced.delete(node.name);
        send({ ...this.notification(node, CHANGE.deleted), address: before });
        return;
      }
      announced.set(node.name, n.address);
      send(n);
    });
  }
}

/** Outside Kubernetes: this host is the only node. */
export function selfNodeSource(name: string, ips: readonly string[]): NodeSource {
  const node: NodeInfo = { name, uid: '', labels: {}, internalIPs: ips, externalIPs: [] };
  return { nodes: () => [node], watchNodes: () => () => {} };
}

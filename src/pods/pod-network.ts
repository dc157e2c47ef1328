/**
 * Which local pod is behind which host-side interface, kept fresh: pod interfaces found on the
 * host (routes, bridge ports, netns peers — src/netns) joined with the identity source by address.
 *
 * Standalone (no Kubernetes): named network namespaces matching the configured globs are the
 * workloads; this class keeps a StaticIdentity in step with them (kind `NetworkNamespace`).
 */
import { hostname } from 'node:os';
import type { StaticIdentity } from '../k8s/static.js';
import type { IdentitySource, PodInfo } from '../k8s/types.js';
import { globToRegExp } from '../kernel/netdev.js';
import type { Logger } from '../log.js';
import { netnsPath, type DiscoveryResult, type PodInterface } from '../netns/pod-interfaces.js';
import { RateLimitedLog } from '../agent/rate-limited.js';

export interface PodNetworkOptions {
  readonly identity: IdentitySource;
  readonly discover: () => Promise<DiscoveryResult>;
  readonly logger: Logger;
  /** Standalone: named netns globs whose namespaces become workloads in this static identity. */
  readonly standalone?: { readonly identity: StaticIdentity; readonly netns: readonly string[] };
}

/** A local pod and its network namespace (a path), as pod-interface discovery found it. */
export interface PodNamespace {
  readonly pod: PodInfo;
  readonly netns: string;
}

/** The PodInfo a named network namespace stands for, outside Kubernetes. */
export function netnsWorkload(i: PodInterface, node = hostname()): PodInfo {
  const name = (i.netns ?? i.ifname).split('/').pop()!;
  return {
    uid: `netns:${name}`, name, namespace: '', nodeName: node, ips: i.ips, hostNetwork: false,
    workload: { kind: 'NetworkNamespace', name }, phase: 'Running',
  };
}

export class PodNetwork {
  private byIfindex = new Map<number, PodInfo>();
  private byUid = new Map<string, PodNamespace>();
  private readonly warn: RateLimitedLog;
  private readonly log: Logger;
  /** standalone pods as last given to the identity, by uid */
  private standalonePods = new Map<string, PodInfo>();
  private refreshing: Promise<void> | undefined;
  /** interfaces found last time, for status */
  lastFound = 0;

  constructor(private readonly opts: PodNetworkOptions) {
    this.log = opts.logger.child({ component: 'pod-network' });
    this.warn = new RateLimitedLog(this.log);
  }

  /** host-side ifindex → local pod, as of the last refresh */
  interfaces(): ReadonlyMap<number, PodInfo> {
    return this.byIfindex;
  }

  /** pod uid → the pod and its network namespace, for pods whose namespace discovery found (netns method) */
  namespaces(): ReadonlyMap<string, PodNamespace> {
    return this.byUid;
  }

  isPodInterface(ifindex: number): boolean {
    return this.byIfindex.has(ifindex);
  }

  /** Rediscovers pod interfaces and joins them with identity. Never throws; one at a time. */
  refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => { this.refreshing = undefined; });
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    let found: DiscoveryResult;
    try {
      found = await this.opts.discover();
    } catch (err) {
      this.warn.warn('discover', { err: (err as Error).message }, 'pod interface discovery failed; keeping the last known mapping');
      return;
    }
    for (const w of found.warnings) this.warn.warn(`discover:${w.method}`, { method: w.method, warning: w.message }, 'pod interface discovery');
    if (this.opts.standalone) this.syncStandalone(found.interfaces);
    const next = new Map<number, PodInfo>();
    const nextNs = new Map<string, PodNamespace>();
    for (const i of found.interfaces) {
      for (const ip of i.ips) {
        const e = this.opts.identity.resolve(ip);
        if (e?.kind === 'pod' && !e.pod.hostNetwork) {
          next.set(i.ifindex, e.pod);
          if (i.netns !== undefined && !nextNs.has(e.pod.uid)) nextNs.set(e.pod.uid, { pod: e.pod, netns: netnsPath(i.netns) });
          break;
        }
      }
    }
    const added = [...next.keys()].filter((k) => !this.byIfindex.has(k));
    const removed = [...this.byIfindex.keys()].filter((k) => !next.has(k));
    if (added.length || removed.length) {
      this.log.info({ pods: next.size, added: added.length, removed: removed.length }, 'pod interfaces changed');
    }
    this.byIfindex = next;
    this.byUid = nextNs;
    this.lastFound = found.interfaces.length;
  }

  private syncStandalone(found: readonly PodInterface[]): void {
    const { identity, netns } = this.opts.standalone!;
    const globs = netns.map(globToRegExp);
    const seen = new Map<string, PodInfo>();
    for (const i of found) {
      if (!i.netns || i.ips.length === 0) continue;
      const name = i.netns.split('/').pop()!;
      if (!globs.some((g) => g.test(name))) continue;
      const pod = netnsWorkload(i, identity.nodeName ?? hostname()); // the identity's node, so the pod is local
      const last = this.standalonePods.get(pod.uid);
      // unchanged: the identity keeps its object (what keys series by pod object stays valid)
      if (last && last.nodeName === pod.nodeName && last.ips.join() === pod.ips.join()) {
        seen.set(pod.uid, last);
        continue;
      }
      seen.set(pod.uid, pod);
      identity.upsertPod(pod);
    }
    for (const uid of this.standalonePods.keys()) if (!seen.has(uid)) identity.deletePod(uid);
    this.standalonePods = seen;
  }
}

/**
 * Chooses where pod identity comes from: the Kubernetes API (cluster or node mode), named network
 * namespaces (standalone), or nowhere (node-level metrics only).
 */
import { hostname } from 'node:os';
import type { Config } from '../config/index.js';
import { StaticIdentity } from '../k8s/static.js';
import type { IdentitySource } from '../k8s/types.js';
import type { Logger } from '../log.js';
import { CachedDiscovery } from '../netns/discovery-cache.js';
import { NetlinkChangeWatch, RTMGRP } from '../kernel/netlink-changes.js';
import { DEFAULT_NETNS_DIRS, type DiscoveryOptions, type DiscoveryResult } from '../netns/pod-interfaces.js';
import { anyChange, NetnsDirWatch } from '../netns/netns-watch.js';
import { globToRegExp } from '../kernel/netdev.js';
import type { AgentOptions } from '../agent/agent.js';

export type IdentityChoice =
  | { kind: 'none' }
  | { kind: 'standalone'; netns: readonly string[] }
  | { kind: 'kubernetes'; mode: 'cluster' | 'node'; kubeconfig: string };

/** What the configuration asks for; `auto` means Kubernetes when running in a cluster or given a kubeconfig. */
export function chooseIdentity(config: Config, env: NodeJS.ProcessEnv): IdentityChoice {
  const k = config.kubernetes;
  const inCluster = (env['KUBERNETES_SERVICE_HOST'] ?? '') !== '';
  const mode = k.mode === 'auto' ? (inCluster || k.kubeconfig !== '' ? 'cluster' : 'off') : k.mode;
  if (mode !== 'off') return { kind: 'kubernetes', mode, kubeconfig: k.kubeconfig };
  if (config.standalone.netns.length > 0) return { kind: 'standalone', netns: config.standalone.netns };
  return { kind: 'none' };
}

/** What pod-interface discovery depends on, as rtnetlink groups (the signature's links, routes and neighbours; addresses too). */
const DISCOVERY_GROUPS = RTMGRP.link | RTMGRP.neigh | RTMGRP.ipv4Ifaddr | RTMGRP.ipv6Ifaddr | RTMGRP.ipv4Route | RTMGRP.ipv6Route;

/** Pod-interface discovery for one agent: runs only when the host changed (src/netns/discovery-cache.ts). */
function cachedDiscover(): () => Promise<DiscoveryResult> {
  const cache = new CachedDiscovery({ changes: anyChange([new NetlinkChangeWatch(DISCOVERY_GROUPS), new NetnsDirWatch(DEFAULT_NETNS_DIRS)]) });
  return () => cache.discover();
}

/**
 * Standalone: the workloads are the namespaces named by the globs, found by the netns method alone
 * (routes and bridges add no workload), so discovery looks at those namespaces only, reads links
 * through rtnetlink, and waits for a link change or a matching namespace mount to appear or vanish.
 */
export function standaloneDiscover(netns: readonly string[], seams: Pick<DiscoveryOptions, 'netnsDirs' | 'reader'> = {}): () => Promise<DiscoveryResult> {
  const globs = netns.map(globToRegExp);
  const filter = (name: string): boolean => globs.some((g) => g.test(name));
  const dirs = seams.netnsDirs ?? DEFAULT_NETNS_DIRS;
  const cache = new CachedDiscovery({
    discovery: { ...seams, methods: ['netns'], netnsFilter: filter },
    changes: anyChange([new NetlinkChangeWatch(RTMGRP.link), new NetnsDirWatch(dirs, filter)]),
    readSignature: false,
  });
  return () => cache.discover();
}

/** Builds (and starts) the identity source; throws with a clear message when it cannot start. */
export async function buildPods(
  choice: IdentityChoice, config: Config, logger: Logger,
  makeKubernetes?: (mode: 'cluster' | 'node', kubeconfig: string, nodeName: string) => Promise<IdentitySource>,
): Promise<AgentOptions['pods']> {
  switch (choice.kind) {
    case 'none':
      return undefined;
    case 'standalone': {
      const identity = new StaticIdentity({ nodeName: config.nodeName || hostname() });
      return { identity, discover: standaloneDiscover(choice.netns), standalone: { identity, netns: choice.netns } };
    }
    case 'kubernetes': {
      if (!config.nodeName) {
        throw new Error('Kubernetes identity needs the node name: set FOVEA_NODE_NAME (downward API spec.nodeName) or --node-name');
      }
      if (!makeKubernetes) throw new Error('Kubernetes identity is not available in this build');
      const identity = await makeKubernetes(choice.mode, choice.kubeconfig, config.nodeName);
      logger.info({ mode: choice.mode }, 'starting Kubernetes identity (initial list)');
      await identity.start();
      return { identity, discover: cachedDiscover() };
    }
  }
}

/**
 * Pod-interface discovery without the idle cost: discovery runs `ip`/`bridge`/`nsenter` processes
 * (route, bridge and netns methods: a few plus one per network namespace), which on a node with 50
 * pods cost a fifth of a core at a 2 s rescan. Most rescans find nothing new, and what discovery
 * reads is visible from the root namespace in a few cheap files: the links (/sys/class/net, with
 * their ifindex and bridge master), the routes (/proc/net/route, /proc/net/ipv6_route), the IPv4
 * neighbours (/proc/net/arp) and the namespace mounts. So a rescan first reads those (no process)
 * and runs discovery only when they changed, when the last discovery was incomplete (a pod
 * interface without an address yet), or when the last one is older than `maxAgeMs`; the netns
 * method keeps each namespace's addresses between discoveries (pod-interfaces.ts, netnsCache).
 *
 * With a change watch (src/kernel/netlink-changes.ts: rtnetlink notifications for links,
 * addresses, routes and neighbours), a rescan does not even read those files while the kernel
 * reported nothing; namespace mounts send no notification, so a namespace that appears without a
 * link of its own is found by a watch on the mounts' directories (src/netns/netns-watch.ts) when
 * one is given, else by the full discovery at `maxAgeMs` (a pod's veth, the usual case, is a link).
 * Where discovery itself reads no more than the signature would (standalone: links through
 * rtnetlink and the matching namespaces only), `readSignature: false` skips that step.
 */
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChangeWatch } from '../kernel/netlink-changes.js';
import {
  DEFAULT_NETNS_DIRS, discoverPodInterfacesDetailed, type DiscoveryOptions, type DiscoveryResult, type NetnsCache,
} from './pod-interfaces.js';

const read = (path: string): Promise<string> => readFile(path, 'utf8').catch(() => '');

/** What discovery depends on, as seen from the root namespace without starting a process. */
export async function hostSignature(netnsDirs: readonly string[] = DEFAULT_NETNS_DIRS, sysNet = '/sys/class/net'): Promise<string> {
  const names = (await readdir(sysNet).catch(() => [] as string[])).sort();
  const links = await Promise.all(names.map(async (n) => {
    const [ifindex, master] = await Promise.all([read(join(sysNet, n, 'ifindex')), readlink(join(sysNet, n, 'master')).catch(() => '')]);
    return `${n}:${ifindex.trim()}:${master.split('/').pop() ?? ''}`;
  }));
  const mounts: string[] = [];
  for (const dir of netnsDirs) {
    for (const n of (await readdir(dir).catch(() => [] as string[])).sort()) {
      const st = await stat(join(dir, n)).catch(() => undefined);
      mounts.push(`${dir}/${n}:${st ? `${st.dev}:${st.ino}` : '-'}`);
    }
  }
  const [r4, r6, arp] = await Promise.all([read('/proc/net/route'), read('/proc/net/ipv6_route'), read('/proc/net/arp')]);
  return [links.join(','), mounts.join(','), r4, r6, arp].join('\n');
}

export interface CachedDiscoveryOptions {
  readonly discovery?: Omit<DiscoveryOptions, 'netnsCache' | 'now'>;
  /** a full discovery at least this often, changed or not (default 60 s) */
  readonly maxAgeMs?: number;
  /** changes the kernel reported since the last rescan; absent: the signature is read every time */
  readonly changes?: ChangeWatch;
  /** read the host signature before a discovery, to skip it when nothing it depends on changed (default true) */
  readonly readSignature?: boolean;
  /** test seams */
  readonly discover?: (opts: DiscoveryOptions) => Promise<DiscoveryResult>;
  readonly signature?: () => Promise<string>;
  readonly now?: () => number;
}

export class CachedDiscovery {
  private last: DiscoveryResult | undefined;
  private lastSignature = '';
  private lastAt = 0;
  private readonly netnsCache: NetnsCache = new Map();
  /** discoveries run, and rescans answered from the last one */
  runs = 0;
  skipped = 0;
  /** rescans answered without reading the signature: the change watch reported nothing */
  quiet = 0;

  constructor(private readonly opts: CachedDiscoveryOptions = {}) {}

  async discover(): Promise<DiscoveryResult> {
    const now = (this.opts.now ?? Date.now)();
    // the last result may answer: it is recent and has nothing a second look could complete
    const last = this.last && now - this.lastAt < (this.opts.maxAgeMs ?? 60_000) && isComplete(this.last) ? this.last : undefined;
    const changed = this.opts.changes?.changed() ?? true; // drained before reading, so nothing falls between
    if (last && !changed) {
      this.quiet++;
      return { interfaces: last.interfaces, warnings: [] };
    }
    const signature = this.opts.readSignature === false ? '' : await (this.opts.signature ?? (() => hostSignature(this.opts.discovery?.netnsDirs)))();
    if (last && this.opts.readSignature !== false && signature === this.lastSignature) {
      this.skipped++;
      return { interfaces: last.interfaces, warnings: [] }; // its warnings were reported when it ran
    }
    const run = this.opts.discover ?? discoverPodInterfacesDetailed;
    const result = await run({ ...this.opts.discovery, netnsCache: this.netnsCache, now: () => now });
    this.runs++;
    this.last = result;
    this.lastSignature = signature;
    this.lastAt = now;
    return result;
  }
}

/** No pod interface without an address: nothing a rescan could add by looking again. */
function isComplete(r: DiscoveryResult): boolean {
  return r.interfaces.every((i) => i.ips.length > 0);
}

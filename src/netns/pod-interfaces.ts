/**
 * Pod interfaces: which host-side interface in the root network namespace carries which pod
 * addresses, whatever the CNI — where the agent attaches its tc programs (DESIGN.md decision 3)
 * and how it attributes that interface's traffic to a pod.
 *
 * Three methods, run side by side and merged by ifindex (union of addresses):
 *
 *   route   host routes to a single address (/32, /128) straight onto a pod-facing device
 *           (Calico `cali*`, Cilium endpoint routes `lxc*`, AWS VPC CNI `eni*`, Azure `azv*`).
 *   bridge  neighbours on a bridge (IP → MAC) through the bridge's FDB (MAC → port) to a veth
 *           port (bridge/flannel `veth*` on `cni0`, `docker0`).
 *   netns   the pods' own view: for each network namespace mount, its interfaces whose veth peer
 *           is a host-side veth pointing back at them; their global addresses are the pod's.
 *           The most exact, but needs the netns mounts (containerd/CRI-O: /var/run/netns,
 *           Docker: /run/docker/netns) and CAP_SYS_ADMIN to enter them.
 *
 * Links and the namespaces' interfaces are read through rtnetlink (src/kernel/rtnetlink.ts: no
 * process; a namespace is entered only to create a netlink socket there); routes, bridge neighbours
 * and FDBs with `ip`/`bridge` (execFile, no shell, bounded timeouts). Everything is parsed by the
 * pure functions below, which the unit tests feed with JSON captured on a real machine (given a
 * CommandRunner, links and namespaces are read with `ip`/`nsenter` too). A failing method becomes
 * a warning and never hides what the others found; only the link listing, which every method
 * needs, fails the whole discovery.
 *
 * `netnsFilter` restricts the netns method to the namespaces whose name passes (standalone mode:
 * the `--netns` globs): others are neither stat'ed nor entered — on a shared node, other tools'
 * namespaces come and go.
 */
import { execFile } from 'node:child_process';
import { readdir, realpath, stat } from 'node:fs/promises';
import { isIPv4, isIPv6 } from 'node:net';
import { join } from 'node:path';
import { canonicalIp } from '../net/ip.js';
import { NetnsEnter } from '../kernel/netns.js';
import { ARPHRD_LOOPBACK, IFF_LOOPBACK, Rtnetlink, type RtnlAddr, type RtnlLink } from '../kernel/rtnetlink.js';

export type DiscoverySource = 'route' | 'bridge' | 'netns';

export interface PodInterface {
  /** Host side, root netns. */
  readonly ifindex: number;
  readonly ifname: string;
  /** The pod's addresses behind it (IPv4/IPv6 text, no prefix), IPv4 first, sorted. */
  readonly ips: readonly string[];
  /** The peer's network namespace name (/var/run/netns) or path, when the netns method found it. */
  readonly netns?: string;
  /** The most exact method that found it: netns > route > bridge. */
  readonly source: DiscoverySource;
  /** Every method that found it, in the order route, bridge, netns. */
  readonly sources: readonly DiscoverySource[];
}

/** Runs argv (no shell) and resolves with its stdout; rejects with a clear message. */
export type CommandRunner = (argv: readonly string[], timeoutMs: number) => Promise<string>;

export interface DiscoveryOptions {
  /** Directories of network namespace mounts; default ['/var/run/netns', '/run/docker/netns']. [] disables the netns method. */
  readonly netnsDirs?: readonly string[];
  /** Keeps only host-side interfaces whose name passes. */
  readonly include?: (ifname: string) => boolean;
  /** Per-command timeout; default 5 s. */
  readonly timeoutMs?: number;
  /** Network namespaces entered at once by the netns method; default 8. */
  readonly concurrency?: number;
  /** Test seam: replaces execFile (and, without `reader`, reads links and namespaces with `ip` too). */
  readonly run?: CommandRunner;
  /** How links and namespaces' interfaces are read; default rtnetlink (NetlinkReader), or `ip` when `run` is given. */
  readonly reader?: NetworkReader;
  /** Only namespaces whose name (the file's name in its directory) passes are looked at by the netns method. */
  readonly netnsFilter?: (name: string) => boolean;
  /** The methods to run; default all three. */
  readonly methods?: readonly DiscoverySource[];
  /**
   * Addresses read inside each network namespace, kept between discoveries (the caller owns the
   * map): a namespace is entered again only when it is new, its entry is older than
   * `netnsMaxAgeMs`, or what it gave last time was incomplete (no host peer, or a peer without a
   * global address yet). Its findings are always matched against this discovery's host links.
   */
  readonly netnsCache?: NetnsCache;
  /** default 5 min */
  readonly netnsMaxAgeMs?: number;
  readonly now?: () => number;
}

/** Per namespace mount (by device:inode): its interfaces as read, and when. */
export type NetnsCache = Map<string, { readonly ifaces: readonly NetnsInterface[]; readonly nsid: number | undefined; readonly at: number }>;

export interface DiscoveryWarning {
  /** The method that met the problem, or `merge` for conflicts between findings. */
  readonly method: DiscoverySource | 'merge';
  readonly message: string;
}

export interface DiscoveryResult {
  readonly interfaces: PodInterface[];
  readonly warnings: DiscoveryWarning[];
}

/** One method's claim: host interface `ifindex` carries `ips` (possibly none, for netns). */
export interface Finding {
  readonly ifindex: number;
  readonly ifname: string;
  readonly ips: readonly string[];
  readonly source: DiscoverySource;
  readonly netns?: string;
}

/** A link of the root netns, from `ip -j -d link show`. */
export interface HostLink {
  readonly ifindex: number;
  readonly ifname: string;
  /** `linkinfo.info_kind` (veth, bridge, vxlan, ...); undefined for physical devices. */
  readonly kind?: string;
  /** The bridge (or bond, vrf, ...) this link is enslaved to. */
  readonly master?: string;
  /** `linkinfo.info_slave_kind`: 'bridge' for bridge ports. */
  readonly slaveKind?: string;
  /** `link_index`: for a veth, the peer's ifindex (in the peer's netns). */
  readonly peerIfindex?: number;
  /** `link_netnsid`: set when the peer lives in another netns (the id is the root netns's for it). */
  readonly peerNetnsid?: number;
  readonly loopback: boolean;
}

/** A network namespace mount the netns method looks into. */
export interface NetnsFile {
  /** its name in PodInterface.netns: the name for `ip netns` mounts, else the path */
  readonly label: string;
  readonly path: string;
  /** set for mounts in the directory of `ip netns` */
  readonly named?: string;
  /** st_dev:st_ino */
  readonly key: string;
}

/** Reads links of the root namespace and the interfaces inside another. */
export interface NetworkReader {
  links(): Promise<HostLink[]>;
  /** The namespace's interfaces, and the root namespace's id for it when it has one. */
  netns(file: NetnsFile): Promise<{ readonly ifaces: NetnsInterface[]; readonly nsid: number | undefined }>;
}

export const DEFAULT_NETNS_DIRS: readonly string[] = ['/var/run/netns', '/run/docker/netns'];
const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_CONCURRENCY = 8;
const DEFAULT_NETNS_MAX_AGE_MS = 300_000;
/** Route dumps of big hosts run to megabytes; far above any real output, below a runaway. */
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;
const SOURCE_ORDER: readonly DiscoverySource[] = ['route', 'bridge', 'netns'];
const PRECEDENCE: readonly DiscoverySource[] = ['netns', 'route', 'bridge'];
const WARNING_ORDER: readonly DiscoveryWarning['method'][] = [...SOURCE_ORDER, 'merge'];

/** Pairs whose host end faces a pod: the peer sits in another netns. */
const PAIR_KINDS = new Set(['veth', 'netkit']);
/**
 * Devices a /32 can point at without a pod behind them: bridges (bridge CNIs route the subnet, not
 * the pod), overlays and tunnels (remote pods, e.g. Calico's `wireguard.cali` or `vxlan.calico`),
 * shared uplinks and helpers (bond, team, vrf, dummy such as `kube-ipvs0`, OVS).
 */
const NOT_POD_KINDS = new Set(['bridge', 'openvswitch', 'vxlan', 'geneve', 'ipip', 'gre', 'gretap', 'ip6gre', 'ip6gretap',
  'ip6tnl', 'sit', 'wireguard', 'vti', 'vti6', 'xfrm', 'bond', 'team', 'vrf', 'dummy', 'macsec', 'macvlan', 'ipvlan', 'ifb']);

const PACKAGE_OF: Record<string, string> = { ip: 'iproute2', bridge: 'iproute2', nsenter: 'util-linux' };

// ---------------------------------------------------------------------------------------------
// Addresses

export { canonicalIp };

/** Unicast addresses a pod can own: no loopback, link-local, multicast, broadcast or unspecified. */
export function isPodAddress(ip: string): boolean {
  if (isIPv4(ip)) {
    const [a = 0, b = 0] = ip.split('.').map(Number);
    return a !== 0 && a !== 127 && !(a === 169 && b === 254) && a < 224;
  }
  if (!isIPv6(ip)) return false;
  const first = parseInt(expandV6(ip).slice(0, 4), 16);
  if ((first & 0xffc0) === 0xfe80 || (first & 0xff00) === 0xff00) return false;
  return ip !== '::' && ip !== '::1';
}

/** 32 hex digits of an IPv6 address (for ordering and prefix tests). */
function expandV6(ip: string): string {
  let text = ip.toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [, a, b, c, d] = v4.map(Number) as [number, number, number, number, number];
    text = text.slice(0, v4.index) + ((a << 8) | b).toString(16) + ':' + ((c << 8) | d).toString(16);
  }
  const [head = '', tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => g.padStart(4, '0')).join('');
}

function ipSortKey(ip: string): string {
  return isIPv4(ip) ? '4' + ip.split('.').map((o) => o.padStart(3, '0')).join('.') : '6' + expandV6(ip);
}

export function sortIps(ips: Iterable<string>): string[] {
  return [...new Set(ips)].sort((a, b) => (ipSortKey(a) < ipSortKey(b) ? -1 : ipSortKey(a) > ipSortKey(b) ? 1 : 0));
}

// ---------------------------------------------------------------------------------------------
// Parsers (pure)

function parseJsonArray(text: string, what: string): unknown[] {
  if (!text.trim()) return []; // `ip -j` prints nothing at all for an empty dump
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new Error(`${what}: not JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(v)) throw new Error(`${what}: expected a JSON array`);
  return v;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const int = (v: unknown): number | undefined => (typeof v === 'number' && Number.isInteger(v) ? v : undefined);

/** `ip -j -d link show` → links. */
export function parseLinks(text: string): HostLink[] {
  const out: HostLink[] = [];
  for (const l of parseJsonArray(text, 'ip link')) {
    if (!isObj(l)) continue;
    const ifindex = int(l['ifindex']);
    const ifname = str(l['ifname']);
    if (ifindex === undefined || ifname === undefined) continue;
    const info = isObj(l['linkinfo']) ? l['linkinfo'] : {};
    const kind = str(info['info_kind']);
    const master = str(l['master']);
    const slaveKind = str(info['info_slave_kind']);
    const peerIfindex = int(l['link_index']);
    const peerNetnsid = int(l['link_netnsid']);
    out.push({
      ifindex, ifname,
      ...(kind !== undefined ? { kind } : {}),
      ...(master !== undefined ? { master } : {}),
      ...(slaveKind !== undefined ? { slaveKind } : {}),
      ...(peerIfindex !== undefined ? { peerIfindex } : {}),
      ...(peerNetnsid !== undefined ? { peerNetnsid } : {}),
      loopback: str(l['link_type']) === 'loopback' || (Array.isArray(l['flags']) && l['flags'].includes('LOOPBACK')),
    });
  }
  return out.sort((a, b) => a.ifindex - b.ifindex);
}

/** A host-side end of a pair whose other end is in another netns: a pod (or container) interface. */
export function isPodFacingPair(l: HostLink): boolean {
  return l.kind !== undefined && PAIR_KINDS.has(l.kind) && l.peerNetnsid !== undefined && l.peerIfindex !== undefined;
}

/** Bridges → their pod-facing ports (veth/netkit with the peer in another netns); bridges without any are left out. */
export function parseBridgePorts(links: readonly HostLink[]): Map<string, HostLink[]> {
  const bridges = new Set(links.filter((l) => l.kind === 'bridge').map((l) => l.ifname));
  const out = new Map<string, HostLink[]>();
  for (const l of links) {
    if (l.master === undefined || !bridges.has(l.master) || (l.slaveKind !== undefined && l.slaveKind !== 'bridge')) continue;
    if (!isPodFacingPair(l)) continue; // e.g. the uplink NIC of a host bridge: its neighbours are not pods
    const ports = out.get(l.master) ?? [];
    ports.push(l);
    out.set(l.master, ports);
  }
  return out;
}

const SINGLE_ADDRESS = /^([^/]+)(?:\/(32|128))?$/;
const ROUTE_SKIP_TYPES = new Set(['local', 'broadcast', 'multicast', 'anycast', 'blackhole', 'unreachable', 'prohibit', 'throw', 'nat']);

/**
 * `ip -j route show table all` (v4 and v6 dumps) → one finding per single-address route straight
 * onto a pod-facing device. Excluded: routes via a gateway (a remote host, not a neighbour behind
 * the device), local/broadcast/multicast tables and types, the host's own addresses (Cilium's
 * `cilium_host` router IP), devices that carry a default route in any table (the uplinks),
 * loopback, bridges, tunnels and other shared devices, and veths whose peer is in the root netns.
 */
export function parseRoutes(dumps: readonly string[], links: readonly HostLink[]): Finding[] {
  const routes = dumps.flatMap((d) => parseJsonArray(d, 'ip route').filter(isObj));
  const byName = new Map(links.map((l) => [l.ifname, l]));
  const defaultDevs = new Set<string>();
  const localAddrs = new Set<string>();
  for (const r of routes) {
    const dst = str(r['dst']);
    if (dst === 'default' || dst === '0.0.0.0/0' || dst === '::/0') {
      const dev = str(r['dev']);
      if (dev) defaultDevs.add(dev);
      for (const nh of Array.isArray(r['nexthops']) ? r['nexthops'] : []) {
        const d = isObj(nh) ? str(nh['dev']) : undefined;
        if (d) defaultDevs.add(d);
      }
    }
    if (str(r['type']) === 'local' && dst) {
      const ip = canonicalIp(SINGLE_ADDRESS.exec(dst)?.[1] ?? '');
      if (ip) localAddrs.add(ip);
    }
  }
  const out: Finding[] = [];
  const seen = new Set<string>();
  for (const r of routes) {
    const type = str(r['type']) ?? 'unicast';
    const table = r['table'];
    if (ROUTE_SKIP_TYPES.has(type) || table === 'local' || table === 255) continue;
    if (r['gateway'] !== undefined || r['via'] !== undefined) continue;
    const m = SINGLE_ADDRESS.exec(str(r['dst']) ?? '');
    const dev = str(r['dev']);
    if (!m || !dev) continue; // prefixes, default, multipath (no dev)
    const ip = canonicalIp(m[1]!);
    if (!ip || !isPodAddress(ip) || localAddrs.has(ip)) continue;
    if ((m[2] === '32' && !isIPv4(ip)) || (m[2] === '128' && !isIPv6(ip))) continue;
    const link = byName.get(dev);
    if (!link || link.loopback || defaultDevs.has(dev)) continue;
    if (link.kind !== undefined && NOT_POD_KINDS.has(link.kind)) continue;
    if (link.kind !== undefined && PAIR_KINDS.has(link.kind) && link.peerNetnsid === undefined) continue; // both ends in root (cilium_host/cilium_net)
    const key = `${link.ifindex} ${ip}`;
    if (seen.has(key)) continue; // the same route in several tables
    seen.add(key);
    out.push({ ifindex: link.ifindex, ifname: link.ifname, ips: [ip], source: 'route' });
  }
  return out;
}

export interface NeighEntry { readonly ip: string; readonly mac: string }
const NEIGH_UNUSABLE = new Set(['FAILED', 'INCOMPLETE', 'NOARP']);

/** `ip -j neigh show dev <bridge>` → IP → MAC of pod-owned addresses with a resolved MAC. */
export function parseNeigh(text: string): NeighEntry[] {
  const out: NeighEntry[] = [];
  for (const n of parseJsonArray(text, 'ip neigh')) {
    if (!isObj(n)) continue;
    const ip = canonicalIp(str(n['dst']) ?? '');
    const mac = str(n['lladdr'])?.toLowerCase();
    const state = Array.isArray(n['state']) ? n['state'] : [];
    if (!ip || !mac || !isPodAddress(ip) || state.some((s) => NEIGH_UNUSABLE.has(String(s)))) continue;
    out.push({ ip, mac });
  }
  return out;
}

export interface FdbEntry { readonly mac: string; readonly port: string }

/**
 * `bridge -j fdb show br <bridge>` → MAC → port, learned entries only: `self` entries (the device's
 * own table) and `permanent` ones (the ports' and bridge's own MACs) say nothing about pods.
 */
export function parseFdb(text: string, bridge: string): FdbEntry[] {
  const byMac = new Map<string, string | null>();
  for (const e of parseJsonArray(text, 'bridge fdb')) {
    if (!isObj(e)) continue;
    const mac = str(e['mac'])?.toLowerCase();
    const port = str(e['ifname']);
    const flags = Array.isArray(e['flags']) ? e['flags'] : [];
    const master = str(e['master']);
    if (!mac || !port || port === bridge || flags.includes('self') || str(e['state']) === 'permanent') continue;
    if (master !== undefined && master !== bridge) continue;
    const prev = byMac.get(mac);
    byMac.set(mac, prev === undefined || prev === port ? port : null); // a MAC on two ports (VLANs): ambiguous
  }
  return [...byMac].flatMap(([mac, port]) => (port === null ? [] : [{ mac, port }]));
}

/** Joins a bridge's neighbours and FDB onto its pod-facing ports. */
export function bridgeFindings(neigh: readonly NeighEntry[], fdb: readonly FdbEntry[], ports: readonly HostLink[]): Finding[] {
  const portOfMac = new Map(fdb.map((e) => [e.mac, e.port]));
  const portByName = new Map(ports.map((p) => [p.ifname, p]));
  const ipsByPort = new Map<HostLink, string[]>();
  for (const n of neigh) {
    const name = portOfMac.get(n.mac);
    const port = name === undefined ? undefined : portByName.get(name);
    if (!port) continue;
    const list = ipsByPort.get(port) ?? [];
    list.push(n.ip);
    ipsByPort.set(port, list);
  }
  return [...ipsByPort].map(([p, ips]) => ({ ifindex: p.ifindex, ifname: p.ifname, ips: sortIps(ips), source: 'bridge' as const }));
}

/** An interface inside a pod's netns, from `ip -j addr show`. */
export interface NetnsInterface {
  readonly ifindex: number;
  readonly ifname: string;
  readonly peerIfindex?: number;
  readonly peerNetnsid?: number;
  /** Global-scope addresses (no link-local, no loopback). */
  readonly ips: readonly string[];
}

/** `ip -j addr show` run inside a netns → interfaces with their global addresses (lo left out). */
export function parseNetnsAddrs(text: string): NetnsInterface[] {
  const out: NetnsInterface[] = [];
  for (const l of parseJsonArray(text, 'ip addr')) {
    if (!isObj(l)) continue;
    const ifindex = int(l['ifindex']);
    const ifname = str(l['ifname']);
    if (ifindex === undefined || ifname === undefined || str(l['link_type']) === 'loopback') continue;
    const ips: string[] = [];
    for (const a of Array.isArray(l['addr_info']) ? l['addr_info'] : []) {
      if (!isObj(a) || str(a['scope']) !== 'global') continue;
      const ip = canonicalIp(str(a['local']) ?? '');
      if (ip && isPodAddress(ip)) ips.push(ip);
    }
    const peerIfindex = int(l['link_index']);
    const peerNetnsid = int(l['link_netnsid']);
    out.push({
      ifindex, ifname, ips: sortIps(ips),
      ...(peerIfindex !== undefined ? { peerIfindex } : {}),
      ...(peerNetnsid !== undefined ? { peerNetnsid } : {}),
    });
  }
  return out;
}

/**
 * The interfaces of netns `netns` whose peer is a host-side pair end pointing back at them.
 * Interface indexes repeat across namespaces, so both directions must agree; when the root's id
 * of this netns is known (`ip netns list` for named ones), the host end's `link_netnsid` must be it.
 */
export function matchNetnsPeers(netns: string, ifaces: readonly NetnsInterface[], links: readonly HostLink[] | ReadonlyMap<number, HostLink>, nsid?: number): Finding[] {
  const byIndex = links instanceof Map ? links : new Map((links as readonly HostLink[]).map((l) => [l.ifindex, l]));
  const out: Finding[] = [];
  for (const p of ifaces) {
    if (p.peerNetnsid === undefined || p.peerIfindex === undefined) continue;
    const host = byIndex.get(p.peerIfindex);
    if (!host || !isPodFacingPair(host) || host.peerIfindex !== p.ifindex) continue;
    if (nsid !== undefined && host.peerNetnsid !== nsid) continue;
    out.push({ ifindex: host.ifindex, ifname: host.ifname, ips: p.ips, source: 'netns', netns });
  }
  return out;
}

/**
 * Merges findings by ifindex (union of addresses; `source` = the most exact method), ordered by
 * ifindex. An address claimed by two interfaces is kept on both and reported: attribution by
 * that address is ambiguous until the stale side goes away.
 */
export function mergeFindings(findings: readonly Finding[], include?: (ifname: string) => boolean): DiscoveryResult {
  const byIndex = new Map<number, { ifname: string; ips: Set<string>; sources: Set<DiscoverySource>; netns?: string }>();
  for (const f of findings) {
    if (include && !include(f.ifname)) continue;
    let e = byIndex.get(f.ifindex);
    if (!e) byIndex.set(f.ifindex, (e = { ifname: f.ifname, ips: new Set(), sources: new Set() }));
    for (const ip of f.ips) e.ips.add(ip);
    e.sources.add(f.source);
    if (f.netns !== undefined && e.netns === undefined) e.netns = f.netns;
  }
  const interfaces: PodInterface[] = [...byIndex].sort(([a], [b]) => a - b).map(([ifindex, e]) => ({
    ifindex, ifname: e.ifname, ips: sortIps(e.ips),
    ...(e.netns !== undefined ? { netns: e.netns } : {}),
    source: PRECEDENCE.find((s) => e.sources.has(s))!,
    sources: SOURCE_ORDER.filter((s) => e.sources.has(s)),
  }));
  const owners = new Map<string, string[]>();
  for (const i of interfaces) for (const ip of i.ips) owners.set(ip, [...(owners.get(ip) ?? []), i.ifname]);
  const warnings: DiscoveryWarning[] = [];
  for (const [ip, names] of owners) {
    if (names.length > 1) warnings.push({ method: 'merge', message: `${ip} is claimed by several interfaces (${names.join(', ')}); attribution by this address is ambiguous` });
  }
  return { interfaces, warnings };
}

// ---------------------------------------------------------------------------------------------
// Commands

/** execFile, no shell; ENOENT names the package, a timeout says so, a failure carries stderr. */
export const execCommand: CommandRunner = (argv, timeoutMs) => {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return Promise.reject(new Error('empty command'));
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: MAX_OUTPUT_BYTES, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null; code?: unknown };
      if (e.code === 'ENOENT') return reject(new Error(`${cmd} not found: apt-get install ${PACKAGE_OF[cmd] ?? cmd}`));
      if (e.killed || e.signal) return reject(new Error(`${argv.join(' ')}: timed out after ${timeoutMs} ms`));
      if (e.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') return reject(new Error(`${argv.join(' ')}: output above ${MAX_OUTPUT_BYTES} bytes`));
      reject(new Error(`${argv.join(' ')} failed (exit ${String(e.code)})${stderr.trim() ? `: ${stderr.trim()}` : ''}`));
    });
  });
};

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Runs `fn` over `items`, at most `limit` at a time. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

interface Ctx {
  readonly run: (argv: readonly string[]) => Promise<string>;
  readonly links: readonly HostLink[];
  readonly warn: (method: DiscoverySource, message: string) => void;
}

async function routeMethod(ctx: Ctx): Promise<Finding[]> {
  const dumps = await Promise.all([
    ctx.run(['ip', '-j', '-4', 'route', 'show', 'table', 'all']),
    ctx.run(['ip', '-j', '-6', 'route', 'show', 'table', 'all']),
  ]);
  return parseRoutes(dumps, ctx.links);
}

async function bridgeMethod(ctx: Ctx): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const [bridge, ports] of parseBridgePorts(ctx.links)) {
    try {
      const [neigh, fdb] = await Promise.all([
        ctx.run(['ip', '-j', 'neigh', 'show', 'dev', bridge]),
        ctx.run(['bridge', '-j', 'fdb', 'show', 'br', bridge]),
      ]);
      out.push(...bridgeFindings(parseNeigh(neigh), parseFdb(fdb, bridge), ports));
    } catch (err) {
      ctx.warn('bridge', `bridge ${bridge}: ${message(err)}`); // a bridge that vanished meanwhile spoils only itself
    }
  }
  return out;
}

/** Netns mounts under `dirs` whose names pass `filter`, deduplicated by inode, without our own netns (Docker's `default`). */
async function listNetnsFiles(dirs: readonly string[], ctx: Ctx, filter?: (name: string) => boolean): Promise<NetnsFile[]> {
  const own = await stat('/proc/self/ns/net');
  const ipNetnsDir = await realpath('/var/run/netns').catch(() => '/run/netns');
  const seen = new Set<number>([own.ino]);
  const out: NetnsFile[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') ctx.warn('netns', `${dir}: ${message(err)}`);
      continue;
    }
    const isIpDir = (await realpath(dir).catch(() => dir)) === ipNetnsDir;
    for (const name of names) {
      if (filter && !filter(name)) continue;
      const path = join(dir, name);
      try {
        const st = await stat(path);
        if (st.dev !== own.dev) { ctx.warn('netns', `${path}: not a network namespace mount (stale?)`); continue; }
        if (seen.has(st.ino)) continue;
        seen.add(st.ino);
        const key = `${st.dev}:${st.ino}`;
        out.push(isIpDir ? { label: name, path, named: name, key } : { label: path, path, key });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') ctx.warn('netns', `${path}: ${message(err)}`); // ENOENT: deleted meanwhile
      }
    }
  }
  return out;
}

/**
 * The file of a network namespace as `PodInterface.netns` names it: a path, or a name — a mount in
 * the directory of `ip netns` (listNetnsFiles names only those), which the netns method enters with
 * `ip -n <name>`, i.e. iproute2's NETNS_RUN_DIR /var/run/netns.
 */
export function netnsPath(netns: string): string {
  return netns.includes('/') ? netns : join('/var/run/netns', netns);
}

/** `ip -j netns list` → name → the root netns's id for it (names without an id are left out). */
export function parseNetnsIds(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const n of parseJsonArray(text, 'ip netns list')) {
    if (!isObj(n)) continue;
    const name = str(n['name']);
    const id = int(n['id']);
    if (name !== undefined && id !== undefined) out.set(name, id);
  }
  return out;
}

interface NetnsCacheUse { readonly cache: NetnsCache; readonly maxAgeMs: number; readonly now: number }

/** Findings that may be kept: at least one host peer, and every peer with an address. */
const complete = (found: readonly Finding[]): boolean => found.length > 0 && found.every((f) => f.ips.length > 0);

async function netnsMethod(ctx: Ctx, reader: NetworkReader, dirs: readonly string[], concurrency: number,
  filter?: (name: string) => boolean, cached?: NetnsCacheUse): Promise<Finding[]> {
  const files = await listNetnsFiles(dirs, ctx, filter);
  if (cached) for (const k of [...cached.cache.keys()]) if (!files.some((f) => f.key === k)) cached.cache.delete(k);
  if (files.length === 0) return [];
  const byIndex = new Map(ctx.links.map((l) => [l.ifindex, l])); // once, not once per namespace
  const perNs = await mapLimit(files, concurrency, async (f) => {
    try {
      const hit = cached?.cache.get(f.key);
      if (hit && cached && cached.now - hit.at < cached.maxAgeMs) {
        const found = matchNetnsPeers(f.label, hit.ifaces, byIndex, hit.nsid);
        if (complete(found)) return found;
      }
      const { ifaces, nsid } = await reader.netns(f);
      const found = matchNetnsPeers(f.label, ifaces, byIndex, nsid);
      if (cached) {
        if (complete(found)) cached.cache.set(f.key, { ifaces, nsid, at: cached.now });
        else cached.cache.delete(f.key);
      }
      return found;
    } catch (err) {
      ctx.warn('netns', `${f.label}: ${message(err)}`); // a pod torn down meanwhile spoils only itself
      return [];
    }
  });
  const found = perNs.flat();
  // Without ids (unnamed mounts), a coincidence of indexes could let two namespaces claim one host end.
  const claims = new Map<number, Finding[]>();
  for (const f of found) claims.set(f.ifindex, [...(claims.get(f.ifindex) ?? []), f]);
  return [...claims.values()].flatMap((c) => {
    if (c.length === 1) return c;
    ctx.warn('netns', `${c[0]!.ifname} is claimed by several namespaces (${c.map((f) => f.netns).join(', ')}); left to the other methods`);
    return [];
  });
}

/** Links and namespaces read with `ip` (and `nsenter` for unnamed mounts): one process per namespace. */
export function commandReader(run: (argv: readonly string[]) => Promise<string>): NetworkReader {
  let ids: Promise<Map<string, number>> | undefined;
  return {
    links: async () => parseLinks(await run(['ip', '-j', '-d', 'link', 'show'])),
    netns: async (f) => {
      const argv = f.named ? ['ip', '-n', f.named, '-j', 'addr', 'show'] : ['nsenter', `--net=${f.path}`, 'ip', '-j', 'addr', 'show'];
      const ifaces = parseNetnsAddrs(await run(argv));
      // `ip netns list` once per reader, and only when a named namespace needs it
      const nsid = f.named ? (await (ids ??= run(['ip', '-j', 'netns', 'list']).then(parseNetnsIds))).get(f.named) : undefined;
      return { ifaces, nsid };
    },
  };
}

/** RTM_NEWLINK messages → links as parseLinks reads `ip -j -d link show` (link_index only with a peer namespace, as iproute2 prints it). */
export function hostLinksFromRtnl(links: readonly RtnlLink[]): HostLink[] {
  const names = new Map(links.map((l) => [l.ifindex, l.ifname]));
  return links.map((l): HostLink => {
    const peer = l.linkNetnsid !== undefined && l.link !== undefined && l.link !== 0;
    return {
      ifindex: l.ifindex, ifname: l.ifname,
      ...(l.kind !== undefined ? { kind: l.kind } : {}),
      ...(l.master !== undefined ? { master: names.get(l.master) ?? `if${l.master}` } : {}),
      ...(l.slaveKind !== undefined ? { slaveKind: l.slaveKind } : {}),
      ...(peer ? { peerIfindex: l.link } : {}),
      ...(l.linkNetnsid !== undefined ? { peerNetnsid: l.linkNetnsid } : {}),
      loopback: l.type === ARPHRD_LOOPBACK || (l.flags & IFF_LOOPBACK) !== 0,
    };
  }).sort((a, b) => a.ifindex - b.ifindex);
}

/** RTM_NEWLINK + RTM_NEWADDR messages of a namespace → its interfaces as parseNetnsAddrs reads `ip -j addr show`. */
export function netnsInterfacesFromRtnl(links: readonly RtnlLink[], addrs: readonly RtnlAddr[]): NetnsInterface[] {
  const ipsOf = new Map<number, string[]>();
  for (const a of addrs) {
    if (a.scope !== 0 || a.local === undefined) continue; // global scope only
    const ip = canonicalIp(a.local);
    if (!ip || !isPodAddress(ip)) continue;
    const list = ipsOf.get(a.ifindex) ?? [];
    list.push(ip);
    ipsOf.set(a.ifindex, list);
  }
  return links.filter((l) => l.type !== ARPHRD_LOOPBACK).map((l): NetnsInterface => ({
    ifindex: l.ifindex, ifname: l.ifname, ips: sortIps(ipsOf.get(l.ifindex) ?? []),
    ...(l.linkNetnsid !== undefined && l.link !== undefined && l.link !== 0 ? { peerIfindex: l.link } : {}),
    ...(l.linkNetnsid !== undefined ? { peerNetnsid: l.linkNetnsid } : {}),
  }));
}

/**
 * Links and namespaces read through rtnetlink: one socket in the root namespace per reader, and per
 * namespace a socket created inside it (setns there and back) and dumped from here. No process.
 */
export function netlinkReader(enter: NetnsEnter = new NetnsEnter()): NetworkReader & { close(): void } {
  let root: Rtnetlink | undefined;
  const rootSocket = (): Rtnetlink => (root ??= Rtnetlink.open());
  return {
    links: () => Promise.resolve().then(() => hostLinksFromRtnl(rootSocket().links())),
    netns: (f) => Promise.resolve().then(() => {
      const r = rootSocket();
      const { sock, nsid } = enter.run(f.path, (nsFd) => ({ sock: Rtnetlink.open(), nsid: r.nsid(nsFd) }));
      try {
        return { ifaces: netnsInterfacesFromRtnl(sock.links(), sock.addrs()), nsid };
      } finally {
        sock.close();
      }
    }),
    close: () => { root?.close(); root = undefined; enter.close(); },
  };
}

/** Which host-side interface carries which pod addresses, with every method's problems as warnings. */
export async function discoverPodInterfacesDetailed(opts: DiscoveryOptions = {}): Promise<DiscoveryResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const exec = opts.run ?? execCommand;
  const run = (argv: readonly string[]): Promise<string> => exec(argv, timeoutMs);
  const own = opts.reader === undefined && opts.run === undefined ? netlinkReader() : undefined;
  const reader = opts.reader ?? own ?? commandReader(run);
  try {
    // Every method needs the links; without them nothing can be found, so this one throws.
    const links = await reader.links();
    const warnings: DiscoveryWarning[] = [];
    const ctx: Ctx = { run, links, warn: (method, msg) => warnings.push({ method, message: msg }) };
    const guard = (method: DiscoverySource, p: () => Promise<Finding[]>): Promise<Finding[]> =>
      (opts.methods ?? SOURCE_ORDER).includes(method) ? p().catch((err: unknown) => { ctx.warn(method, message(err)); return []; }) : Promise.resolve([]);
    const results = await Promise.all([
      guard('route', () => routeMethod(ctx)),
      guard('bridge', () => bridgeMethod(ctx)),
      guard('netns', () => netnsMethod(ctx, reader, opts.netnsDirs ?? DEFAULT_NETNS_DIRS, opts.concurrency ?? DEFAULT_CONCURRENCY, opts.netnsFilter,
        opts.netnsCache ? { cache: opts.netnsCache, maxAgeMs: opts.netnsMaxAgeMs ?? DEFAULT_NETNS_MAX_AGE_MS, now: (opts.now ?? Date.now)() } : undefined)),
    ]);
    const merged = mergeFindings(results.flat(), opts.include);
    // Methods run concurrently: order warnings by method (stable within one) so output is reproducible.
    const rank = (w: DiscoveryWarning): number => WARNING_ORDER.indexOf(w.method);
    return { interfaces: merged.interfaces, warnings: [...warnings.sort((a, b) => rank(a) - rank(b)), ...merged.warnings] };
  } finally {
    own?.close();
  }
}

/** Which host-side interface carries which pod addresses (warnings dropped; see the Detailed variant). */
export async function discoverPodInterfaces(opts?: DiscoveryOptions): Promise<PodInterface[]> {
  return (await discoverPodInterfacesDetailed(opts)).interfaces;
}

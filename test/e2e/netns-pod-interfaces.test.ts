/**
 * Pod-interface discovery against the real kernel: three CNI styles side by side — (a) found by
 * route (and netns), (b) by bridge (and netns when its bare mounts' dir is given), (c) by netns
 * only — plus decoys that must not be taken for pods.
 *
 *   (a) routed (Calico-like)  netns fvpi-r0, eth0 198.18.250.10/32 + fd00:f0e1:fa::10/128
 *                             ── veth ── fvpir0, host routes /32 and /128 dev fvpir0
 *   (b) bridge (bridge CNI)   fvpibr0 198.18.251.1/24; netns mounts /run/fvpi-netns/fvpi-b{0,1}
 *                             (unnamed for `ip netns`: entered with nsenter), eth0 .10/.11/24,
 *                             veths fvpib{0,1} enslaved; one UDP datagram each fills neigh + FDB
 *   (c) netns only            netns fvpi-n0, eth0 198.18.252.10/24 + fd00:f0e1:fc::10/64 (+ its
 *                             fe80:: link-local), veth fvpin0: no route, no bridge
 *   decoys                    198.18.251.99/32 dev fvpibr0 (a /32 on a bridge); a veth pair with
 *                             both ends in the root netns (fvpix0/fvpix1, like cilium_host) with
 *                             198.18.253.10/32 dev fvpix0
 *
 * Only interfaces, namespaces and mounts named fvpi* are created; leftovers of a crashed run are
 * removed first, everything is removed after.
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { listInterfaces } from '../../src/kernel/netdev.js';
import { run } from '../../src/lab/run.js';
import {
  commandReader, discoverPodInterfacesDetailed, execCommand, netlinkReader,
  type CommandRunner, type DiscoveryResult, type NetnsCache, type NetworkReader, type PodInterface,
} from '../../src/netns/pod-interfaces.js';
import { describeRoot } from '../helpers/root.js';

const PREFIX = 'fvpi';
const MOUNT_DIR = '/run/fvpi-netns';
const ours = (ifname: string): boolean => ifname.startsWith(PREFIX);

async function ip(...args: string[]): Promise<string> {
  return (await run(['ip', ...args])).stdout;
}
async function ipBatch(lines: readonly string[], netns?: string): Promise<void> {
  await run(['ip', ...(netns ? ['-n', netns] : []), '-batch', '-'], { input: lines.join('\n') + '\n' });
}
async function nsenter(path: string, argv: readonly string[]): Promise<void> {
  await run(['nsenter', `--net=${path}`, ...argv]);
}
/** Per-interface sysctl of one of our own interfaces (never a global one). */
async function ifSysctl(family: 'ipv4' | 'ipv6', ifname: string, key: string, value: string): Promise<void> {
  await writeFile(`/proc/sys/net/${family}/conf/${ifname}/${key}`, value);
}

async function cleanup(): Promise<void> {
  const named = JSON.parse((await ip('-j', 'netns', 'list')) || '[]') as Array<{ name: string }>;
  for (const { name } of named.filter((n) => n.name.startsWith(`${PREFIX}-`))) await run(['ip', 'netns', 'del', name], { allowFail: true });
  const mounts = await readdir(MOUNT_DIR).catch(() => [] as string[]);
  for (const f of mounts) {
    await run(['umount', `${MOUNT_DIR}/${f}`], { allowFail: true });
    await rm(`${MOUNT_DIR}/${f}`, { force: true });
  }
  await rm(MOUNT_DIR, { recursive: true, force: true });
  // Deleting one end of a veth deletes both; routes go with their device.
  for (const { name } of listInterfaces().filter((l) => ours(l.name))) await run(['ip', 'link', 'del', name], { allowFail: true });
}

async function buildRouted(): Promise<void> {
  await ip('netns', 'add', 'fvpi-r0');
  await ip('link', 'add', 'fvpir0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', 'fvpi-r0');
  // IPv6 on, but silent: no RS, no DAD, no link-local of its own.
  for (const [k, v] of [['accept_ra', '0'], ['router_solicitations', '0'], ['accept_dad', '0'], ['addr_gen_mode', '1']] as const) {
    await ifSysctl('ipv6', 'fvpir0', k, v);
  }
  await ipBatch(['link set lo up', 'link set eth0 up', 'addr add 198.18.250.10/32 dev eth0',
    'addr add fd00:f0e1:fa::10/128 dev eth0 nodad'], 'fvpi-r0');
  await ipBatch(['link set fvpir0 up', 'route add 198.18.250.10/32 dev fvpir0 scope link', 'route add fd00:f0e1:fa::10/128 dev fvpir0']);
}

async function buildBridge(): Promise<void> {
  await mkdir(MOUNT_DIR, { recursive: true });
  await ip('link', 'add', 'fvpibr0', 'type', 'bridge', 'forward_delay', '0');
  await ifSysctl('ipv6', 'fvpibr0', 'disable_ipv6', '1');
  await ipBatch(['addr add 198.18.251.1/24 dev fvpibr0', 'link set fvpibr0 up', 'route add 198.18.251.99/32 dev fvpibr0']);
  for (const i of [0, 1]) {
    const path = `${MOUNT_DIR}/fvpi-b${i}`;
    await writeFile(path, '');
    await run(['unshare', `--net=${path}`, 'true']); // a persistent netns bind-mounted on `path`
    await ip('link', 'add', `fvpib${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', path);
    await ifSysctl('ipv6', `fvpib${i}`, 'disable_ipv6', '1');
    await ip('link', 'set', `fvpib${i}`, 'master', 'fvpibr0', 'up');
    await nsenter(path, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1']);
    await run(['nsenter', `--net=${path}`, 'ip', '-batch', '-'], {
      input: ['link set lo up', 'link set eth0 up', `addr add 198.18.251.1${i}/24 dev eth0`, 'route add default via 198.18.251.1'].join('\n') + '\n',
    });
  }
  // One datagram from each pod to the bridge address: ARP fills the bridge's neighbours and FDB.
  for (const i of [0, 1]) await nsenter(`${MOUNT_DIR}/fvpi-b${i}`, ['bash', '-c', 'echo x > /dev/udp/198.18.251.1/9']);
  const deadline = Date.now() + 3_000;
  for (;;) {
    const neigh = JSON.parse((await ip('-j', 'neigh', 'show', 'dev', 'fvpibr0')) || '[]') as Array<{ lladdr?: string }>;
    if (neigh.filter((n) => n.lladdr).length >= 2) break;
    if (Date.now() > deadline) throw new Error(`bridge neighbours did not appear: ${JSON.stringify(neigh)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function buildNetnsOnly(): Promise<void> {
  await ip('netns', 'add', 'fvpi-n0');
  await ip('link', 'add', 'fvpin0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', 'fvpi-n0');
  await ifSysctl('ipv6', 'fvpin0', 'disable_ipv6', '1');
  await ip('link', 'set', 'fvpin0', 'up');
  // IPv6 stays on inside: eth0 gets a fe80:: link-local, which must be ignored.
  await ipBatch(['link set eth0 up', 'addr add 198.18.252.10/24 dev eth0', 'addr add fd00:f0e1:fc::10/64 dev eth0 nodad'], 'fvpi-n0');
}

async function buildDecoys(): Promise<void> {
  await ip('link', 'add', 'fvpix0', 'type', 'veth', 'peer', 'name', 'fvpix1');
  await ifSysctl('ipv6', 'fvpix0', 'disable_ipv6', '1');
  await ifSysctl('ipv6', 'fvpix1', 'disable_ipv6', '1');
  await ipBatch(['link set fvpix0 up', 'link set fvpix1 up', 'route add 198.18.253.10/32 dev fvpix0']);
}

describeRoot('pod interface discovery', 'creates network namespaces, veths and a bridge', () => {
  const ifindex = new Map<string, number>();
  let hostOwn: string[] = [];

  beforeAll(async () => {
    await cleanup();
    // The host's own interfaces (uplinks, loopback, ...): never a pod interface. Other sessions'
    // lab veths (pod-facing, peer in another netns) may come and go and are legitimately found.
    const links = JSON.parse(await ip('-j', '-d', 'link', 'show')) as Array<{ ifname: string; link_netnsid?: number; linkinfo?: { info_kind?: string } }>;
    hostOwn = links.filter((l) => !(l.linkinfo?.info_kind === 'veth' && l.link_netnsid !== undefined)).map((l) => l.ifname);
    try {
      await buildRouted();
      await buildBridge();
      await buildNetnsOnly();
      await buildDecoys();
    } catch (err) {
      await cleanup();
      throw err;
    }
    for (const l of listInterfaces()) if (ours(l.name)) ifindex.set(l.name, l.ifindex);
  });
  afterAll(async () => {
    await cleanup();
    expect(listInterfaces().filter((l) => ours(l.name))).toEqual([]);
  });

  const expected = (ifname: string, ips: string[], source: PodInterface['source'], sources: PodInterface['source'][], netns?: string): PodInterface => ({
    ifindex: ifindex.get(ifname)!, ifname, ips, ...(netns ? { netns } : {}), source, sources,
  });
  const oursOnly = (r: DiscoveryResult): PodInterface[] => r.interfaces.filter((i) => ours(i.ifname));
  const ourWarnings = (r: DiscoveryResult): string[] => r.warnings.map((w) => w.message).filter((m) => m.includes(PREFIX));

  it('routes and bridges alone (no netns dirs): (a) by route, (b) by bridge, (c) unseen', async () => {
    const r = await discoverPodInterfacesDetailed({ netnsDirs: [] });
    expect(oursOnly(r)).toEqual([
      expected('fvpir0', ['198.18.250.10', 'fd00:f0e1:fa::10'], 'route', ['route']),
      expected('fvpib0', ['198.18.251.10'], 'bridge', ['bridge']),
      expected('fvpib1', ['198.18.251.11'], 'bridge', ['bridge']),
    ]);
    expect(ourWarnings(r)).toEqual([]);
  });

  it('default netns dirs: named netns add (a)\'s and (c)\'s namespaces; (c) is found by netns only', async () => {
    const r = await discoverPodInterfacesDetailed({ include: ours });
    expect(r.interfaces).toEqual([
      expected('fvpir0', ['198.18.250.10', 'fd00:f0e1:fa::10'], 'netns', ['route', 'netns'], 'fvpi-r0'),
      expected('fvpib0', ['198.18.251.10'], 'bridge', ['bridge']),
      expected('fvpib1', ['198.18.251.11'], 'bridge', ['bridge']),
      expected('fvpin0', ['198.18.252.10', 'fd00:f0e1:fc::10'], 'netns', ['netns'], 'fvpi-n0'),
    ]);
    expect(ourWarnings(r)).toEqual([]);
  });

  it('an extra netns dir of bare mounts (entered with nsenter) adds (b)\'s namespaces by path', async () => {
    const r = await discoverPodInterfacesDetailed({ netnsDirs: ['/var/run/netns', MOUNT_DIR], include: ours });
    expect(r.interfaces).toEqual([
      expected('fvpir0', ['198.18.250.10', 'fd00:f0e1:fa::10'], 'netns', ['route', 'netns'], 'fvpi-r0'),
      expected('fvpib0', ['198.18.251.10'], 'netns', ['bridge', 'netns'], `${MOUNT_DIR}/fvpi-b0`),
      expected('fvpib1', ['198.18.251.11'], 'netns', ['bridge', 'netns'], `${MOUNT_DIR}/fvpi-b1`),
      expected('fvpin0', ['198.18.252.10', 'fd00:f0e1:fc::10'], 'netns', ['netns'], 'fvpi-n0'),
    ]);
    expect(ourWarnings(r)).toEqual([]);
  });

  it('never reports the host\'s own interfaces, the bridge, or a veth with both ends in the root netns', async () => {
    const r = await discoverPodInterfacesDetailed({ netnsDirs: ['/var/run/netns', MOUNT_DIR] });
    const names = r.interfaces.map((i) => i.ifname);
    expect(names.filter((n) => hostOwn.includes(n))).toEqual([]);
    expect(names).not.toContain('fvpibr0');
    expect(names).not.toContain('fvpix0');
    expect(names).not.toContain('fvpix1');
    expect(r.interfaces.flatMap((i) => i.ips)).not.toContain('198.18.251.99');
    expect(r.interfaces.flatMap((i) => i.ips)).not.toContain('198.18.253.10');
    expect(r.interfaces.map((i) => i.ifindex)).toEqual([...r.interfaces.map((i) => i.ifindex)].sort((a, b) => a - b));
  });

  it('a netns dir holding a plain file warns about it and still finds the rest', async () => {
    await writeFile(`${MOUNT_DIR}/not-a-netns`, '');
    try {
      const r = await discoverPodInterfacesDetailed({ netnsDirs: [MOUNT_DIR], include: ours });
      expect(r.warnings).toContainEqual({ method: 'netns', message: `${MOUNT_DIR}/not-a-netns: not a network namespace mount (stale?)` });
      expect(r.interfaces.map((i) => i.ifname)).toEqual(['fvpir0', 'fvpib0', 'fvpib1']);
    } finally {
      await rm(`${MOUNT_DIR}/not-a-netns`, { force: true });
    }
  });
  it('with a namespace cache, a second discovery enters no namespace and finds the same; a new address is read again', async () => {
    const cache: NetnsCache = new Map();
    const argvs: string[][] = [];
    const counting: CommandRunner = (argv, t) => { argvs.push([...argv]); return execCommand(argv, t); };
    const opts = { netnsDirs: ['/var/run/netns', MOUNT_DIR], include: ours, netnsCache: cache, run: counting };
    const first = await discoverPodInterfacesDetailed(opts);
    // our namespaces only: other tests' labs may come and go meanwhile
    const entered = (): number => argvs.filter((a) => (a.includes('-n') || a[0] === 'nsenter') && a.some((x) => x.includes('fvpi'))).length;
    expect(entered()).toBeGreaterThanOrEqual(4); // (a), (b) ×2 and (c) at least
    argvs.length = 0;
    const second = await discoverPodInterfacesDetailed(opts);
    expect(second.interfaces).toEqual(first.interfaces);
    expect(entered()).toBe(0);
    // an entry past its age is read again
    argvs.length = 0;
    const later = await discoverPodInterfacesDetailed({ ...opts, netnsMaxAgeMs: 0 });
    expect(later.interfaces).toEqual(first.interfaces);
    expect(entered()).toBeGreaterThanOrEqual(4);
  });

  it('rtnetlink reads what `ip` prints: the root\'s links and each of our namespaces (named and bare mounts), with its id', async () => {
    const run = (argv: readonly string[]): Promise<string> => execCommand(argv, 5_000);
    const viaIp = commandReader(run);
    const viaNetlink = netlinkReader();
    try {
      const [a, b] = [await viaIp.links(), await viaNetlink.links()];
      // other sessions' labs may add or remove links between the two reads: compare ours
      expect(b.filter((l) => ours(l.ifname))).toEqual(a.filter((l) => ours(l.ifname)));
      expect(b.filter((l) => hostOwn.includes(l.ifname))).toEqual(a.filter((l) => hostOwn.includes(l.ifname)));
      for (const f of [
        { label: 'fvpi-r0', path: '/var/run/netns/fvpi-r0', named: 'fvpi-r0', key: '' },
        { label: 'fvpi-n0', path: '/var/run/netns/fvpi-n0', named: 'fvpi-n0', key: '' },
        { label: `${MOUNT_DIR}/fvpi-b0`, path: `${MOUNT_DIR}/fvpi-b0`, key: '' },
      ]) {
        const [x, y] = [await viaIp.netns(f), await viaNetlink.netns(f)];
        expect(y.ifaces, f.label).toEqual(x.ifaces);
        if (f.named) expect(y.nsid, f.label).toEqual(x.nsid);
        expect(y.ifaces.some((i) => i.ips.length > 0), f.label).toBe(true);
      }
    } finally {
      viaNetlink.close();
    }
  });

  it('by default no process is started; a netns filter leaves every other namespace unread', async () => {
    const argvs: string[][] = [];
    const counting: CommandRunner = (argv, t) => { argvs.push([...argv]); return execCommand(argv, t); };
    const inner = netlinkReader();
    const entered: string[] = [];
    const reader: NetworkReader = { links: () => inner.links(), netns: (f) => { entered.push(f.label); return inner.netns(f); } };
    try {
      const r = await discoverPodInterfacesDetailed({ methods: ['netns'], run: counting, reader, netnsFilter: (n) => n === 'fvpi-n0' || n === 'fvpi-r0', include: ours });
      expect(argvs).toEqual([]);
      expect(entered.sort()).toEqual(['fvpi-n0', 'fvpi-r0']);
      expect(r.interfaces).toEqual([
        expected('fvpir0', ['198.18.250.10', 'fd00:f0e1:fa::10'], 'netns', ['netns'], 'fvpi-r0'),
        expected('fvpin0', ['198.18.252.10', 'fd00:f0e1:fc::10'], 'netns', ['netns'], 'fvpi-n0'),
      ]);
    } finally {
      inner.close();
    }
  });
});

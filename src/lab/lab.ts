/**
 * A throwaway lab of network namespaces ("pods") for the demo, the e2e tests and the benchmark.
 *
 * Topology (per pod i of lab <name>):
 *
 *   netns fovea-<name>-<i>                         root netns
 *   eth0 198.18.X.(10+i)/32  ── veth ──  fv<name>-<i> (no address, forwarding=1)
 *   default via 169.254.1.1 (onlink)               198.18.X.(10+i)/32 dev fv<name>-<i>
 *
 * Pod-to-pod traffic is routed by the root netns and crosses both pods' host-side veths (where
 * Fovea attaches its tc programs), and goes through the `forward` hook of the lab's nft table.
 *
 * Why this addressing (the Calico pattern): every pod is a /32, the host owns no lab address,
 * and the pods' gateway 169.254.1.1 is a name only — both sides have *permanent* neighbour
 * entries with fixed MACs, so no ARP/ND ever crosses the veths and `ip -s link` counters move
 * by exactly the packets a test sends. IPv6 is disabled on lab interfaces unless `ipv6: true`.
 *
 * Forwarding: IPv4 checks `forwarding` of the *input* device only (ip_route_input_slow →
 * IN_DEV_FORWARD), so setting `net.ipv4.conf.<hostveth>.forwarding=1` suffices and the global
 * `net.ipv4.ip_forward` stays untouched. IPv6 checks the global `all.forwarding` unless the
 * input device has `force_forwarding=1` (Linux ≥ 6.17), which the lab sets per veth; on older
 * kernels `ipv6: true` fails with a clear error rather than touching the global switch.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { access, writeFile } from 'node:fs/promises';
import { pino } from 'pino';
import type { Logger } from '../log.js';
import { nftRuleCounters, type Counter } from './kernel-truth.js';
import { run, type RunOptions, type RunResult } from './run.js';
import { labScriptPath, whenReady } from './traffic.js';

/** Port that the lab's nft table drops (UDP and TCP) between pods → NETFILTER_DROP. */
export const DENY_PORT = 7777;
/** The pods' (virtual) default gateway; never assigned to an interface. */
export const GATEWAY_V4 = '169.254.1.1';
export const GATEWAY_V6 = 'fe80::1';

export interface LabOptions {
  /** Short prefix, 1–4 chars of [a-z0-9], starting with a letter (e.g. 'demo', 't1'). */
  readonly name: string;
  readonly pods: number;
  /** Also give pods IPv6 addresses (fd00:f0ea:0:<X>::<10+i>/128). Default false. */
  readonly ipv6?: boolean;
  /** Port dropped by the nft policy; default DENY_PORT. */
  readonly denyPort?: number;
  /** Index (0–511) of the /24 inside 198.18.0.0/15; default derived from the name. */
  readonly subnet?: number;
  readonly logger?: Logger;
}

export interface Pod {
  readonly index: number;
  readonly netns: string;
  readonly ip: string;
  readonly ipv6?: string;
  /** Host-side veth, root netns: where Fovea attaches. */
  readonly hostIfname: string;
  /** Pod-side veth, inside `netns`. */
  readonly podIfname: string;
  readonly hostMac: string;
  readonly podMac: string;
}

/**
 * IPv6 cannot be kept silent: joining the solicited-node groups sends unsolicited MLD reports
 * (repeated at a random delay up to this interval). Shrinking it to 10 ms and waiting
 * MLD_SETTLE_MS after creation leaves the veths quiet before any test counts packets.
 */
const MLD_FAST = [['mldv1_unsolicited_report_interval', '10'], ['mldv2_unsolicited_report_interval', '10']] as const;
const MLD_SETTLE_MS = 300;

const NAME_RE = /^[a-z][a-z0-9]{0,3}$/;
const MAX_PODS = 200;

const netnsName = (name: string, i: number): string => `fovea-${name}-${i}`;
const netnsPrefix = (name: string): string => `fovea-${name}-`;
/** The `-` separator keeps lab 't1' pod 0 ('fvt1-0') apart from lab 't' pod 10 ('fvt-10'). */
const hostIfname = (name: string, i: number): string => `fv${name}-${i}`;
const hostIfPrefix = (name: string): string => `fv${name}-`;
const nftTableName = (name: string): string => `fovea_${name}`;
/** TUN device of a delay line towards pod i (delayTowards). */
const delayIfname = (name: string, i: number): string => `fvd${name}-${i}`;
const delayIfPrefix = (name: string): string => `fvd${name}-`;
/** Routing table and rule priority of delay lines: packets coming out of the TUN go to the pod's veth. */
const DELAY_RULE_PRIORITY = 100;
const delayTable = (subnet: number, i: number): number => 10_000 + subnet * MAX_PODS + i;

function validateName(name: string): void {
  if (!NAME_RE.test(name)) throw new Error(`lab name must match ${NAME_RE} (≤4 chars, lower-case), got '${name}'`);
}

/** FNV-1a of the name, folded into the 512 /24s of 198.18.0.0/15. */
function subnetOf(name: string): number {
  let h = 0x811c9dc5;
  for (const ch of name) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h % 512;
}

function mac(side: number, subnet: number, i: number): string {
  const b = [0x02, side, subnet >> 8, subnet & 0xff, i >> 8, i & 0xff];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

async function ensureRootAndTools(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('not root: the lab creates network namespaces, veths and nft tables (run as root)');
  await run(['ip', '-V']);
  await run(['nft', '--version']);
}

async function listNetns(): Promise<string[]> {
  const { stdout } = await run(['ip', '-j', 'netns', 'list'], { allowFail: true });
  if (!stdout.trim()) return [];
  return (JSON.parse(stdout) as Array<{ name: string }>).map((n) => n.name);
}

async function listLinks(): Promise<string[]> {
  const { stdout } = await run(['ip', '-j', 'link', 'show']);
  return (JSON.parse(stdout) as Array<{ ifname: string }>).map((l) => l.ifname);
}

/** Kill processes still running in a netns (lab workers), or the netns and its veth outlive `ip netns del`. */
async function killNetnsPids(ns: string): Promise<void> {
  const { stdout } = await run(['ip', 'netns', 'pids', ns], { allowFail: true });
  for (const pid of stdout.split(/\s+/).filter(Boolean).map(Number)) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  }
}

async function removeAll(name: string, log: Logger): Promise<void> {
  const nsPrefix = netnsPrefix(name);
  for (const ns of (await listNetns()).filter((n) => n.startsWith(nsPrefix))) {
    await killNetnsPids(ns);
    await run(['ip', 'netns', 'del', ns], { allowFail: true });
    log.debug({ netns: ns }, 'removed netns');
  }
  // Deleting one end of a veth pair deletes both; routes and per-interface sysctls go with it.
  const ifPrefix = hostIfPrefix(name);
  for (const ifname of (await listLinks()).filter((l) => l.startsWith(delayIfPrefix(name)))) {
    await run(['ip', 'rule', 'del', 'priority', String(DELAY_RULE_PRIORITY), 'iif', ifname], { allowFail: true });
    await run(['ip', 'link', 'del', ifname], { allowFail: true });
  }
  for (const ifname of (await listLinks()).filter((l) => l.startsWith(ifPrefix))) {
    await run(['ip', 'link', 'del', ifname], { allowFail: true });
    log.debug({ ifname }, 'removed veth');
  }
  await run(['nft', 'delete', 'table', 'inet', nftTableName(name)], { allowFail: true });
}

export class Lab {
  private destroyed = false;
  private readonly children = new Set<ChildProcess>();

  private constructor(
    readonly name: string,
    readonly pods: readonly Pod[],
    readonly nftTable: string,
    readonly denyPort: number,
    readonly subnet: number,
    readonly ipv6: boolean,
    private readonly log: Logger,
  ) {}

  /** Removes leftovers (netns, veths, nft table) of a previous run with this name, e.g. after a crash. */
  static async cleanupStale(name: string, logger?: Logger): Promise<void> {
    validateName(name);
    await ensureRootAndTools();
    await removeAll(name, logger ?? pino({ level: 'silent' }));
  }

  static async create(opts: LabOptions): Promise<Lab> {
    const { name, pods: count } = opts;
    validateName(name);
    if (!Number.isInteger(count) || count < 1 || count > MAX_PODS) throw new Error(`pods must be an integer in 1..${MAX_PODS}, got ${count}`);
    const log = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'lab', lab: name });
    const ipv6 = opts.ipv6 ?? false;
    const denyPort = opts.denyPort ?? DENY_PORT;
    const subnet = opts.subnet ?? subnetOf(name);
    if (!Number.isInteger(subnet) || subnet < 0 || subnet > 511) throw new Error(`subnet must be in 0..511, got ${subnet}`);

    await ensureRootAndTools();
    await removeAll(name, log);
    if (ipv6) {
      try { await access('/proc/sys/net/ipv6/conf/default/force_forwarding'); } catch {
        throw new Error('ipv6 lab needs per-interface IPv6 forwarding (net.ipv6.conf.<if>.force_forwarding, Linux ≥ 6.17); use ipv6: false');
      }
    }
    const v4Net = `198.${18 + (subnet >> 8)}.${subnet & 0xff}`;
    await assertSubnetFree(v4Net, hostIfPrefix(name));

    const pods: Pod[] = [];
    for (let i = 0; i < count; i++) {
      pods.push({
        index: i,
        netns: netnsName(name, i),
        ip: `${v4Net}.${10 + i}`,
        ...(ipv6 ? { ipv6: `fd00:f0ea:0:${subnet.toString(16)}::${(10 + i).toString(16)}` } : {}),
        hostIfname: hostIfname(name, i),
        podIfname: 'eth0',
        hostMac: mac(0xf0, subnet, i),
        podMac: mac(0xf1, subnet, i),
      });
    }
    const lab = new Lab(name, pods, nftTableName(name), denyPort, subnet, ipv6, log);
    try {
      for (const pod of pods) await lab.createPod(pod);
      await lab.createNftTable();
      if (ipv6) await new Promise((r) => setTimeout(r, MLD_SETTLE_MS));
    } catch (err) {
      await lab.destroy().catch(() => undefined);
      throw err;
    }
    log.info({ pods: pods.length, subnet: `${v4Net}.0/24`, ipv6, denyPort }, 'lab created');
    return lab;
  }

  private async createPod(p: Pod): Promise<void> {
    await run(['ip', 'netns', 'add', p.netns]);
    await run(['ip', 'link', 'add', p.hostIfname, 'address', p.hostMac, 'type', 'veth',
      'peer', 'name', p.podIfname, 'address', p.podMac, 'netns', p.netns]);

    // Host side: sysctls before the link comes up, so IPv6 never emits RS/DAD/MLD when disabled.
    const conf4 = `/proc/sys/net/ipv4/conf/${p.hostIfname}`;
    const conf6 = `/proc/sys/net/ipv6/conf/${p.hostIfname}`;
    await writeFile(`${conf4}/forwarding`, '1');
    await writeFile(`${conf4}/rp_filter`, '0');
    await writeFile(`${conf4}/accept_redirects`, '0');
    await writeFile(`${conf4}/send_redirects`, '0');
    if (this.ipv6) {
      for (const [k, v] of [['accept_ra', '0'], ['router_solicitations', '0'], ['accept_dad', '0'],
        ['addr_gen_mode', '1'], ['force_forwarding', '1'], ...MLD_FAST] as const) await writeFile(`${conf6}/${k}`, v);
    } else {
      await writeFile(`${conf6}/disable_ipv6`, '1');
    }

    // Pod side, one process: sysctls, addresses, the onlink default route, a permanent neighbour.
    const podSysctls = [
      'net.ipv4.conf.eth0.accept_redirects=0',
      ...(this.ipv6
        ? ['net.ipv6.conf.eth0.accept_ra=0', 'net.ipv6.conf.eth0.router_solicitations=0',
          'net.ipv6.conf.eth0.accept_dad=0', 'net.ipv6.conf.eth0.addr_gen_mode=1',
          ...MLD_FAST.map(([k, v]) => `net.ipv6.conf.eth0.${k}=${v}`)]
        : ['net.ipv6.conf.eth0.disable_ipv6=1', 'net.ipv6.conf.lo.disable_ipv6=1']),
    ];
    await run(['ip', 'netns', 'exec', p.netns, 'sysctl', '-q', '-w', ...podSysctls]);
    const podBatch = [
      'link set lo up',
      `link set ${p.podIfname} up`,
      `addr add ${p.ip}/32 dev ${p.podIfname}`,
      `neigh replace ${GATEWAY_V4} lladdr ${p.hostMac} dev ${p.podIfname} nud permanent`,
      `route add ${GATEWAY_V4} dev ${p.podIfname} scope link`,
      `route add default via ${GATEWAY_V4} dev ${p.podIfname} onlink`,
      ...(p.ipv6 ? [
        `addr add ${p.ipv6}/128 dev ${p.podIfname} nodad`,
        `neigh replace ${GATEWAY_V6} lladdr ${p.hostMac} dev ${p.podIfname} nud permanent`,
        `route add ::/0 via ${GATEWAY_V6} dev ${p.podIfname}`,
      ] : []),
    ];
    await run(['ip', '-n', p.netns, '-batch', '-'], { input: podBatch.join('\n') + '\n' });

    const hostBatch = [
      `link set ${p.hostIfname} up`,
      ...(this.ipv6 ? [`addr add ${GATEWAY_V6}/64 dev ${p.hostIfname} nodad`] : []),
      `route add ${p.ip}/32 dev ${p.hostIfname} scope link`,
      `neigh replace ${p.ip} lladdr ${p.podMac} dev ${p.hostIfname} nud permanent`,
      ...(p.ipv6 ? [
        `route add ${p.ipv6}/128 dev ${p.hostIfname}`,
        `neigh replace ${p.ipv6} lladdr ${p.podMac} dev ${p.hostIfname} nud permanent`,
      ] : []),
    ];
    await run(['ip', '-batch', '-'], { input: hostBatch.join('\n') + '\n' });
    this.log.debug({ pod: p }, 'pod created');
  }

  private async createNftTable(): Promise<void> {
    // Only traffic entering from this lab's veths is matched; `policy accept` leaves the rest alone.
    const iif = `${hostIfPrefix(this.name)}*`;
    const script = `
table inet ${this.nftTable} {
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "${iif}" udp dport ${this.denyPort} counter drop comment "deny-udp"
    iifname "${iif}" tcp dport ${this.denyPort} counter drop comment "deny-tcp"
  }
}
`;
    await run(['nft', '-f', '-'], { input: script });
  }

  /** Counters of the deny rules: `{ 'deny-udp': {packets, bytes}, 'deny-tcp': {...} }`. */
  async denyCounters(): Promise<Record<string, Counter>> {
    return nftRuleCounters(this.nftTable);
  }

  pod(i: number): Pod {
    const p = this.pods[i];
    if (!p) throw new Error(`lab ${this.name} has no pod ${i} (pods: ${this.pods.length})`);
    return p;
  }

  /** Runs argv inside pod i to completion; throws on a non-zero exit unless `allowFail`. */
  exec(podIndex: number, argv: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return run(['ip', 'netns', 'exec', this.pod(podIndex).netns, ...argv], opts);
  }

  /**
   * Starts a long-running argv inside pod i (`ip netns exec` execs it, so the pid is the command's).
   * The lab kills children still running on destroy().
   */
  spawn(podIndex: number, argv: readonly string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.pod(podIndex).netns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    child.on('error', () => this.children.delete(child));
    return child;
  }

  /**
   * Delays every packet routed towards pod i by `ms` (the host kernel has no sch_netem): the pod's
   * host route points into a TUN device whose reader (delay-line.mjs) holds each packet `ms` and
   * writes it back; an `ip rule` sends what comes out of the TUN to the pod's veth. Packets the pod
   * sends are not delayed. stop() restores the route and says how many packets were delayed.
   */
  async delayTowards(podIndex: number, ms: number): Promise<{ stop(): Promise<{ delayed: number }> }> {
    const p = this.pod(podIndex);
    const tun = delayIfname(this.name, podIndex);
    const table = String(delayTable(this.subnet, podIndex));
    await run(['ip', 'tuntap', 'add', 'dev', tun, 'mode', 'tun']);
    await writeFile(`/proc/sys/net/ipv6/conf/${tun}/disable_ipv6`, '1');
    await writeFile(`/proc/sys/net/ipv4/conf/${tun}/forwarding`, '1');
    await writeFile(`/proc/sys/net/ipv4/conf/${tun}/rp_filter`, '0');
    const child = spawn(process.execPath, [labScriptPath('delay-line.mjs'), JSON.stringify({ dev: tun, ms })], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.add(child);
    const line = await whenReady(child, `delay line ${tun}`);
    await run(['ip', '-batch', '-'], { input: [
      `link set ${tun} up`,
      `route add ${p.ip}/32 dev ${p.hostIfname} scope link table ${table}`,
      `rule add priority ${DELAY_RULE_PRIORITY} iif ${tun} lookup ${table}`,
      `route replace ${p.ip}/32 dev ${tun} scope link`,
    ].join('\n') + '\n' });
    let stopped: Promise<{ delayed: number }> | undefined;
    return {
      stop: () => (stopped ??= (async () => {
        await run(['ip', 'route', 'replace', `${p.ip}/32`, 'dev', p.hostIfname, 'scope', 'link']);
        await run(['ip', 'rule', 'del', 'priority', String(DELAY_RULE_PRIORITY), 'iif', tun], { allowFail: true });
        await run(['ip', 'route', 'flush', 'table', table], { allowFail: true });
        child.kill('SIGTERM');
        await line.exited;
        await run(['ip', 'link', 'del', tun], { allowFail: true });
        const result = line.stdout().trim().split('\n').reverse().find((l) => l.includes('"event":"result"'));
        return { delayed: result ? (JSON.parse(result) as { delayed: number }).delayed : 0 };
      })()),
    };
  }

  /** Idempotent: kills lab children, deletes netns, veths and the nft table. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const c of this.children) c.kill('SIGKILL');
    this.children.clear();
    await removeAll(this.name, this.log);
    this.log.info('lab destroyed');
  }
}

/** Refuses a /24 that already carries routes not belonging to this lab (another lab's hash, or the host's). */
async function assertSubnetFree(v4Net: string, ourIfPrefix: string): Promise<void> {
  const { stdout } = await run(['ip', '-j', 'route', 'show', 'root', `${v4Net}.0/24`]);
  const routes = JSON.parse(stdout || '[]') as Array<{ dst: string; dev?: string }>;
  const foreign = routes.filter((r) => !(r.dev ?? '').startsWith(ourIfPrefix));
  if (foreign.length > 0) {
    throw new Error(`subnet ${v4Net}.0/24 is in use (${foreign.map((r) => `${r.dst} dev ${r.dev}`).join(', ')}); pick another lab name or pass subnet`);
  }
}

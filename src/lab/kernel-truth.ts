/**
 * Ground truth: the kernel's own counters, read the way an operator would (nft, ip -s link,
 * /proc/net/snmp). Tests and the benchmark compare Fovea's numbers against these — exactly.
 */
import { readFile } from 'node:fs/promises';
import { run } from './run.js';

export interface Counter {
  readonly packets: number;
  readonly bytes: number;
}

/**
 * Counters of every rule that has both a `counter` and a `comment` in an nftables table,
 * keyed by the comment (the lab sets `comment "deny-udp"` / `"deny-tcp"`).
 */
export async function nftRuleCounters(table: string, family = 'inet'): Promise<Record<string, Counter>> {
  const { stdout } = await run(['nft', '-j', 'list', 'table', family, table]);
  return parseNftCounters(stdout);
}

/** Exported for unit tests: parse `nft -j list table` output. */
export function parseNftCounters(json: string): Record<string, Counter> {
  const doc = JSON.parse(json) as { nftables?: Array<Record<string, unknown>> };
  const out: Record<string, Counter> = {};
  for (const item of doc.nftables ?? []) {
    const rule = item['rule'] as { comment?: string; expr?: Array<Record<string, unknown>> } | undefined;
    if (!rule?.comment) continue;
    for (const e of rule.expr ?? []) {
      const c = e['counter'] as { packets?: number; bytes?: number } | undefined;
      if (c) out[rule.comment] = { packets: c.packets ?? 0, bytes: c.bytes ?? 0 };
    }
  }
  return out;
}

export interface LinkStats {
  readonly rxPackets: number;
  readonly rxBytes: number;
  readonly txPackets: number;
  readonly txBytes: number;
  readonly rxDropped: number;
  readonly txDropped: number;
}

/** `ip -s -j link show dev <ifname>` (in `netns` if given), 64-bit counters. */
export async function linkStats(ifname: string, netns?: string): Promise<LinkStats> {
  const argv = ['ip', ...(netns ? ['-n', netns] : []), '-s', '-j', 'link', 'show', 'dev', ifname];
  const { stdout } = await run(argv);
  const [link] = JSON.parse(stdout) as Array<{ stats64?: { rx: Record<string, number>; tx: Record<string, number> } }>;
  const s = link?.stats64;
  if (!s) throw new Error(`no stats64 for ${ifname}${netns ? ` in ${netns}` : ''}`);
  return {
    rxPackets: s.rx['packets'] ?? 0,
    rxBytes: s.rx['bytes'] ?? 0,
    txPackets: s.tx['packets'] ?? 0,
    txBytes: s.tx['bytes'] ?? 0,
    rxDropped: s.rx['dropped'] ?? 0,
    txDropped: s.tx['dropped'] ?? 0,
  };
}

/**
 * SNMP MIB counters of a netns (root netns if omitted): /proc/net/snmp (Ip, Icmp, Tcp, Udp, …),
 * /proc/net/netstat (TcpExt, IpExt, …) and /proc/net/snmp6 (grouped as Ip6, Icmp6, Udp6, UdpLite6).
 * Access as `snmp.Udp.NoPorts`, `snmp.Tcp.OutRsts`, `snmp.Ip.ForwDatagrams`, `snmp.Udp6.NoPorts`.
 */
export type SnmpCounters = Record<string, Record<string, number>>;

const FILES = ['/proc/net/snmp', '/proc/net/netstat', '/proc/net/snmp6'] as const;
const SEP = '\n--fovea-sep--\n';

export async function snmpCounters(netns?: string): Promise<SnmpCounters> {
  let texts: string[];
  if (netns) {
    // /proc/net follows the reading process's netns, so read from inside the pod in one process.
    const script = FILES.map((f) => `cat ${f} 2>/dev/null`).join(`; printf '${SEP.replace(/\n/g, '\\n')}'; `);
    const { stdout } = await run(['ip', 'netns', 'exec', netns, 'sh', '-c', script]);
    texts = stdout.split(SEP);
  } else {
    texts = await Promise.all(FILES.map((f) => readFile(f, 'utf8').catch(() => '')));
  }
  const out: SnmpCounters = {};
  parseProcNetPairs(texts[0] ?? '', out);
  parseProcNetPairs(texts[1] ?? '', out);
  parseSnmp6(texts[2] ?? '', out);
  return out;
}

/** `Group: Name1 Name2\nGroup: v1 v2` pairs, as in /proc/net/snmp and /proc/net/netstat. */
export function parseProcNetPairs(text: string, out: SnmpCounters = {}): SnmpCounters {
  const lines = text.split('\n').filter((l) => l.includes(':'));
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const [g1, ...names] = (lines[i] ?? '').trim().split(/\s+/);
    const [g2, ...values] = (lines[i + 1] ?? '').trim().split(/\s+/);
    if (!g1 || g1 !== g2) continue;
    const group = (out[g1.replace(/:$/, '')] ??= {});
    names.forEach((n, j) => { group[n] = Number(values[j]); });
  }
  return out;
}

/** `Udp6InDatagrams 12` lines → out.Udp6.InDatagrams = 12. */
export function parseSnmp6(text: string, out: SnmpCounters = {}): SnmpCounters {
  for (const line of text.split('\n')) {
    const m = /^(Ip6|Icmp6|UdpLite6|Udp6)(\S+)\s+(\d+)/.exec(line.trim());
    if (!m) continue;
    (out[m[1]!] ??= {})[m[2]!] = Number(m[3]);
  }
  return out;
}

/** Difference `after - before` for one counter, 0 when absent. */
export function snmpDelta(before: SnmpCounters, after: SnmpCounters, group: string, name: string): number {
  return (after[group]?.[name] ?? 0) - (before[group]?.[name] ?? 0);
}

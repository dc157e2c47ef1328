/**
 * The kernel's per-network-namespace protocol counters, as /proc/net prints them, parsed into the
 * bounded set Fovea exports (`fovea.netstack.counter`, `fovea.pod.netstack.counter`). Pure: the
 * probe reads the text (src/kernel/netns.ts for a pod's namespace), this module only parses it.
 *
 * Formats (net/ipv4/proc.c, net/ipv6/proc.c):
 *   /proc/net/snmp, /proc/net/netstat   per protocol, a header line and a value line with the same
 *                                       `Proto:` prefix: `Tcp: RtoAlgorithm RtoMin ...` then
 *                                       `Tcp: 1 200 ...` (values are decimal; Tcp MaxConn is -1)
 *   /proc/net/snmp6                     one `Name value` line per counter, the protocol in the
 *                                       name (`Udp6NoPorts 0`); absent when IPv6 is disabled
 *
 * Counter names are `<Proto>.<Field>` as the kernel spells them; snmp6 fields lose their protocol
 * prefix (`Udp6NoPorts` → `Udp6.NoPorts`). A protocol block that cannot be read as a whole
 * (header/value count mismatch, a non-numeric value, a missing or repeated line) is skipped and
 * reported as a problem: a half-understood block could shift every value by one column.
 */

/** Where each exported protocol's block lives. */
export type NetstackFile = 'snmp' | 'netstat' | 'snmp6';

/** The exported counters: protocol → the fields taken from its block. */
export const NETSTACK_FIELDS = {
  Tcp: { file: 'snmp', fields: ['ActiveOpens', 'PassiveOpens', 'AttemptFails', 'EstabResets', 'RetransSegs', 'InErrs', 'OutRsts'] },
  TcpExt: { file: 'netstat', fields: ['ListenOverflows', 'ListenDrops'] },
  Udp: { file: 'snmp', fields: ['InErrors', 'RcvbufErrors', 'SndbufErrors', 'NoPorts'] },
  Udp6: { file: 'snmp6', fields: ['InErrors', 'RcvbufErrors', 'SndbufErrors', 'NoPorts'] },
  Ip: { file: 'snmp', fields: ['InDiscards', 'OutDiscards'] },
  Ip6: { file: 'snmp6', fields: ['InDiscards', 'OutDiscards'] },
} as const satisfies Record<string, { file: NetstackFile; fields: readonly string[] }>;

type Fields = typeof NETSTACK_FIELDS;
type Proto = keyof Fields;
/** `Tcp.ActiveOpens`, `TcpExt.ListenDrops`, `Udp6.NoPorts`, ... */
export type NetstackCounterName = { [P in Proto]: `${P}.${Fields[P]['fields'][number]}` }[Proto];

const PROTOS = Object.keys(NETSTACK_FIELDS) as Proto[];

/** file → the protocols read from it */
const WANTED: ReadonlyMap<NetstackFile, ReadonlySet<Proto>> = new Map((['snmp', 'netstat', 'snmp6'] as const)
  .map((f) => [f, new Set(PROTOS.filter((p) => NETSTACK_FIELDS[p].file === f))]));

/** Every exported counter name, in export order (21). */
export const NETSTACK_COUNTERS: readonly NetstackCounterName[] = PROTOS.flatMap(
  (p) => NETSTACK_FIELDS[p].fields.map((f) => `${p}.${f}` as NetstackCounterName));

export interface NetstackCounter {
  readonly counter: NetstackCounterName;
  /** The kernel's cumulative value (unsigned long; exact below 2^53). */
  readonly value: number;
}

export interface NetstackProblem {
  readonly file: NetstackFile;
  readonly protocol: string;
  readonly reason: string;
}

export interface NetstackTexts {
  readonly snmp?: string | undefined;
  readonly netstat?: string | undefined;
  /** undefined when the file does not exist (IPv6 disabled): its counters are simply not exported */
  readonly snmp6?: string | undefined;
}

export interface NetstackReading {
  readonly counters: NetstackCounter[];
  /** Protocol blocks skipped because they could not be read as a whole. */
  readonly problems: NetstackProblem[];
}

const INTEGER = /^-?\d+$/;
/** The kernel's own layout after `Proto:`: each name or value preceded by exactly one space. */
const NAMES_LINE = /^(?: \S+)+$/;
const VALUES_LINE = /^(?: -?\d+)+$/;
/** An snmp6 line: a name, blanks (spaces, a tab), a decimal value. */
const SNMP6_LINE = /^([A-Za-z0-9]+)[ \t]+(\d+)[ \t]*$/;

type Block = { ok: true; values: Map<string, number> } | { ok: false; reason: string };

/** How many times ' ' occurs in s[from, to). */
function spaces(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = s.indexOf(' ', from); i !== -1 && i < to; i = s.indexOf(' ', i + 1)) n++;
  return n;
}

/**
 * A header + value pair in the kernel's layout, without splitting the lines: these run to 130
 * columns (TcpExt) of which a few are wanted, read every collection for every pod. undefined when
 * the lines are not in that layout (then the careful path below says what is wrong).
 */
function fastBlock(names: string, values: string, fields: readonly string[]): Block | undefined {
  if (!NAMES_LINE.test(names) || !VALUES_LINE.test(values) || spaces(names, 0, names.length) !== spaces(values, 0, values.length)) return undefined;
  const padded = names + ' ';
  const out = new Map<string, number>();
  for (const field of fields) {
    const at = padded.indexOf(` ${field} `);
    if (at === -1) continue;
    let pos = 0; // the column's leading space in `values`: the k-th space, k = the column's index
    for (let k = spaces(padded, 0, at); k > 0; k--) pos = values.indexOf(' ', pos + 1);
    const next = values.indexOf(' ', pos + 1);
    out.set(field, Number(values.slice(pos + 1, next === -1 ? undefined : next)));
  }
  return { ok: true, values: out };
}

/** The same pair read token by token: every way it can be wrong gets a reason. */
function carefulBlock(names: string, values: string): Block {
  const header = names.trim().split(/\s+/).filter(Boolean);
  const vals = values.trim().split(/\s+/).filter(Boolean);
  if (header.length === 0) return { ok: false, reason: 'empty block' };
  if (header.length !== vals.length) return { ok: false, reason: `${header.length} names but ${vals.length} values` };
  const bad = vals.findIndex((v) => !INTEGER.test(v));
  if (bad >= 0) return { ok: false, reason: `${header[bad]}: not a number (${JSON.stringify(vals[bad])})` };
  return { ok: true, values: new Map(header.map((h, i) => [h, Number(vals[i])])) };
}

/** snmp / netstat: the wanted protocols' header + value line pairs. */
function tableBlocks(text: string, wanted: ReadonlySet<Proto>): Map<Proto, Block> {
  const lines = new Map<Proto, string[]>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const proto = line.slice(0, colon) as Proto;
    if (!wanted.has(proto)) continue;
    const rest = line.slice(colon + 1);
    const seen = lines.get(proto);
    if (seen) seen.push(rest); else lines.set(proto, [rest]);
  }
  const out = new Map<Proto, Block>();
  for (const proto of wanted) {
    const pair = lines.get(proto);
    if (!pair) { out.set(proto, { ok: false, reason: 'no such block' }); continue; }
    if (pair.length !== 2) { out.set(proto, { ok: false, reason: `${pair.length} lines, want a header and a value line` }); continue; }
    const [names, values] = pair as [string, string];
    out.set(proto, fastBlock(names, values, NETSTACK_FIELDS[proto].fields) ?? carefulBlock(names, values));
  }
  return out;
}

/** snmp6: `Name value` lines of the wanted protocols (the name starts with the protocol: Ip6, Udp6; not UdpLite6). */
function snmp6Blocks(text: string, wanted: ReadonlySet<Proto>): Map<Proto, Block> {
  const values = new Map<Proto, Map<string, number>>();
  const bad = new Map<Proto, string>();
  const protos = [...wanted];
  for (const line of text.split('\n')) {
    const proto = protos.find((p) => line.startsWith(p));
    if (proto === undefined || bad.has(proto)) continue;
    const m = SNMP6_LINE.exec(line);
    if (!m) { bad.set(proto, `${/^\S*/.exec(line)![0]}: not a "name value" line`); continue; }
    let byField = values.get(proto);
    if (!byField) values.set(proto, (byField = new Map()));
    const field = m[1]!.slice(proto.length);
    if (byField.has(field)) { bad.set(proto, `${m[1]}: repeated`); continue; }
    byField.set(field, Number(m[2]));
  }
  const out = new Map<Proto, Block>();
  for (const proto of wanted) {
    const reason = bad.get(proto);
    const m = values.get(proto);
    out.set(proto, reason !== undefined ? { ok: false, reason } : m ? { ok: true, values: m } : { ok: false, reason: 'no such counters' });
  }
  return out;
}

/**
 * The exported counters from the texts of one network namespace's snmp, netstat and snmp6. Never
 * throws. A file not given (undefined) contributes nothing and is no problem; a field the running
 * kernel does not print is left out.
 */
export function parseNetstack(texts: NetstackTexts): NetstackReading {
  const blocks = new Map<Proto, Block>();
  for (const [file, wanted] of WANTED) {
    const text = texts[file];
    if (text === undefined) continue;
    const found = file === 'snmp6' ? snmp6Blocks(text, wanted) : tableBlocks(text, wanted);
    for (const [p, b] of found) blocks.set(p, b);
  }
  const counters: NetstackCounter[] = [];
  const problems: NetstackProblem[] = [];
  for (const proto of PROTOS) {
    const b = blocks.get(proto);
    if (!b) continue;
    if (!b.ok) { problems.push({ file: NETSTACK_FIELDS[proto].file, protocol: proto, reason: b.reason }); continue; }
    for (const field of NETSTACK_FIELDS[proto].fields) {
      const value = b.values.get(field);
      if (value !== undefined) counters.push({ counter: `${proto}.${field}` as NetstackCounterName, value });
    }
  }
  return { counters, problems };
}

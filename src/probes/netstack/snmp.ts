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
 * reported as a problem: a half-understood block could shift every value by one column. In snmp6,
 * where each counter is a line of its own, only the wanted counters' lines are read.
 *
 * Read every collection for every pod, so the text is searched, not split: the lines of a wanted
 * protocol are found with indexOf, and only the wanted columns of the kernel's layout are taken.
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

/** proto → its counters' names, in its fields' order */
const COUNTER_NAMES = {} as Record<Proto, readonly NetstackCounterName[]>;
for (const p of PROTOS) COUNTER_NAMES[p] = NETSTACK_FIELDS[p].fields.map((f) => `${p}.${f}` as NetstackCounterName);

/** Every exported counter name, in export order (21). */
export const NETSTACK_COUNTERS: readonly NetstackCounterName[] = PROTOS.flatMap((p) => COUNTER_NAMES[p]);

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

/** Values of a block's wanted fields, in NETSTACK_FIELDS order (undefined: not printed by this kernel). */
type Block = { ok: true; values: Array<number | undefined> } | { ok: false; reason: string };

/** Where a line of `text` that begins with `prefix` starts, at or after `from` (0, or the end of a line); -1 when none does. */
function lineWith(text: string, prefix: string, from: number): number {
  if (from === 0 && text.startsWith(prefix)) return 0;
  const at = text.indexOf(`\n${prefix}`, from);
  return at === -1 ? -1 : at + 1;
}

/** The end of the line starting at `at` (its '\n', or the end of the text). */
function lineEnd(text: string, at: number): number {
  const end = text.indexOf('\n', at);
  return end === -1 ? text.length : end;
}

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
  const out: Array<number | undefined> = [];
  for (const field of fields) {
    let at = names.indexOf(` ${field} `);
    if (at === -1 && names.endsWith(` ${field}`)) at = names.length - field.length - 1;
    if (at === -1) { out.push(undefined); continue; }
    let pos = 0; // the column's leading space in `values`: the k-th space, k = the column's index
    for (let k = spaces(names, 0, at); k > 0; k--) pos = values.indexOf(' ', pos + 1);
    const next = values.indexOf(' ', pos + 1);
    out.push(Number(values.slice(pos + 1, next === -1 ? undefined : next)));
  }
  return { ok: true, values: out };
}

/** The same pair read token by token: every way it can be wrong gets a reason. */
function carefulBlock(names: string, values: string, fields: readonly string[]): Block {
  const header = names.trim().split(/\s+/).filter(Boolean);
  const vals = values.trim().split(/\s+/).filter(Boolean);
  if (header.length === 0) return { ok: false, reason: 'empty block' };
  if (header.length !== vals.length) return { ok: false, reason: `${header.length} names but ${vals.length} values` };
  const bad = vals.findIndex((v) => !INTEGER.test(v));
  if (bad >= 0) return { ok: false, reason: `${header[bad]}: not a number (${JSON.stringify(vals[bad])})` };
  return { ok: true, values: fields.map((f) => { const i = header.indexOf(f); return i === -1 ? undefined : Number(vals[i]); }) };
}

/** snmp / netstat: the protocol's header + value line pair (the lines that begin with `Proto:`), found without splitting the text. */
function tableBlock(text: string, proto: Proto): Block {
  const prefix = `${proto}:`;
  const header = lineWith(text, prefix, 0);
  if (header === -1) return { ok: false, reason: 'no such block' };
  const headerEnd = lineEnd(text, header);
  const value = lineWith(text, prefix, headerEnd);
  let lines = value === -1 ? 1 : 2;
  const valueEnd = value === -1 ? -1 : lineEnd(text, value);
  for (let at = value === -1 ? -1 : lineWith(text, prefix, valueEnd); at !== -1; at = lineWith(text, prefix, lineEnd(text, at))) lines++;
  if (lines !== 2) return { ok: false, reason: `${lines} lines, want a header and a value line` };
  const names = text.slice(header + prefix.length, headerEnd);
  const values = text.slice(value + prefix.length, valueEnd);
  const fields = NETSTACK_FIELDS[proto].fields;
  return fastBlock(names, values, fields) ?? carefulBlock(names, values, fields);
}

const isBlank = (c: number) => c === 0x20 || c === 0x09;
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isAlnum = (c: number) => isDigit(c) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

/** Where the line named exactly `name` (not a longer name) starts, at or after `from`; -1 when none does. */
function namedLine(text: string, name: string, from: number): number {
  for (let at = lineWith(text, name, from); at !== -1; at = lineWith(text, name, at + name.length)) {
    if (!isAlnum(text.charCodeAt(at + name.length))) return at; // NaN past the end: not alnum
  }
  return -1;
}

/**
 * snmp6: the `<Proto><Field> value` line of each wanted field, looked up by name (no other line is
 * read: one line per counter, so a line elsewhere cannot shift these). A wanted line that is not a
 * name, blanks and a decimal value, or that is there twice, spoils its protocol.
 */
function snmp6Block(text: string, proto: Proto): Block {
  if (lineWith(text, proto, 0) === -1) return { ok: false, reason: 'no such counters' };
  const out: Array<number | undefined> = [];
  for (const field of NETSTACK_FIELDS[proto].fields) {
    const name = proto + field;
    const at = namedLine(text, name, 0);
    if (at === -1) { out.push(undefined); continue; }
    const end = lineEnd(text, at);
    let i = at + name.length;
    const blanks = i;
    while (i < end && isBlank(text.charCodeAt(i))) i++;
    const digits = i;
    while (i < end && isDigit(text.charCodeAt(i))) i++;
    const value = i;
    while (i < end && isBlank(text.charCodeAt(i))) i++;
    if (digits === blanks || value === digits || i !== end) {
      const token = /^\S*/.exec(text.slice(at, end))![0];
      return { ok: false, reason: `${token}: not a "name value" line` };
    }
    if (namedLine(text, name, end) !== -1) return { ok: false, reason: `${name}: repeated` };
    out.push(Number(text.slice(digits, value)));
  }
  return { ok: true, values: out };
}

/**
 * The exported counters from the texts of one network namespace's snmp, netstat and snmp6. Never
 * throws. A file not given (undefined) contributes nothing and is no problem; a field the running
 * kernel does not print is left out.
 */
export function parseNetstack(texts: NetstackTexts): NetstackReading {
  const counters: NetstackCounter[] = [];
  const problems: NetstackProblem[] = [];
  for (const proto of PROTOS) {
    const { file, fields } = NETSTACK_FIELDS[proto];
    const text = texts[file];
    if (text === undefined) continue;
    const b = file === 'snmp6' ? snmp6Block(text, proto) : tableBlock(text, proto);
    if (!b.ok) { problems.push({ file, protocol: proto, reason: b.reason }); continue; }
    for (let i = 0; i < fields.length; i++) {
      const value = b.values[i];
      if (value !== undefined) counters.push({ counter: COUNTER_NAMES[proto][i]!, value });
    }
  }
  return { counters, problems };
}

/**
 * Hubble label selectors (`hubble observe --label 'k8s:app in (web, api)'`), matched against a
 * flow endpoint's Cilium label list (`["k8s:app=web", "reserved:world"]`) with Cilium's semantics:
 *
 * - the selector is first rewritten as Hubble's labelparser.go does: a key's colon source prefix
 *   becomes a dot prefix (`k8s:app` → `k8s.app`) and a key without one gets `any.` (`app` →
 *   `any.app`), so that it is a valid Kubernetes label key;
 * - then parsed with the Kubernetes selector grammar (exists `key`, `!key`, `=`, `==`, `!=`,
 *   `in (…)`, `notin (…)`, `>`/`<` with integers; comma = AND) and its key/value validation;
 * - each requirement looks its key up in the label list as Cilium's LabelArray does: source `any`
 *   matches every source (the reverse does not hold), the first label with the key (list sorted
 *   by key) gives the value, and two `cidr` keys match when the label's prefix lies in the key's.
 *
 * The Go netip address parser lives here too, because Cilium's `cidr:` labels need it; the IP
 * filters in filter.ts reuse it so both parse addresses the way the Hubble server does.
 */

// ---------------------------------------------------------------------------------------------
// Go helpers: unicode.IsSpace, netip.ParseAddr / ParsePrefix / Prefix.Contains

/** Go's unicode.IsSpace (JS's \s also takes U+FEFF, Go does not). */
export function isGoSpace(cp: number): boolean {
  if (cp <= 0xff) return cp === 0x20 || (cp >= 0x09 && cp <= 0x0d) || cp === 0x85 || cp === 0xa0;
  return cp === 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp === 0x2028 || cp === 0x2029
    || cp === 0x202f || cp === 0x205f || cp === 0x3000;
}

/** What parseAddrInto found: an IPv4 address, an IPv6 one, or an IPv6 one with a zone (`%eth0`). */
export const ADDR_V4 = 4;
export const ADDR_V6 = 6;
export const ADDR_V6_ZONE = 7;

// netip's error texts, indexed by -(code + 1)
const ADDR_ERRORS = [
  'unable to parse IP', 'missing IPv6 address', 'IPv4 field has octet with leading zero', 'IPv4 field has value >255',
  'IPv4 field must have at least one digit', 'IPv4 address too long', 'unexpected character', 'IPv4 address too short',
  'zone must be a non-empty string', 'each group must have 4 or less digits', 'IPv6 field has value >=2^16',
  'each colon-separated field must have at least one digit', 'embedded IPv4 address must replace the final 2 fields of the address',
  'too many hex fields to fit an embedded IPv4 at the end of the address', 'unexpected character, want colon',
  'colon must be followed by more characters', 'multiple :: in address', 'trailing garbage after address',
  'address string too short', 'the :: must expand to at least one field of zeros',
] as const;
const E = (message: (typeof ADDR_ERRORS)[number]): number => -(ADDR_ERRORS.indexOf(message) + 1);

/** The text of a negative parseAddrInto result. */
export function addrError(code: number): string {
  return ADDR_ERRORS[-code - 1] ?? 'unable to parse IP';
}

function parseIPv4Fields(s: string, start: number, end: number, out: Uint8Array, off: number): number {
  let val = 0;
  let pos = 0;
  let digits = 0;
  for (let k = start; k < end; k++) {
    const c = s.charCodeAt(k);
    if (c >= 48 && c <= 57) {
      if (digits === 1 && val === 0) return E('IPv4 field has octet with leading zero');
      val = val * 10 + c - 48;
      digits++;
      if (val > 255) return E('IPv4 field has value >255');
    } else if (c === 46) {
      if (k === start || k === end - 1 || s.charCodeAt(k - 1) === 46) return E('IPv4 field must have at least one digit');
      if (pos === 3) return E('IPv4 address too long');
      out[off + pos++] = val;
      val = 0;
      digits = 0;
    } else {
      return E('unexpected character');
    }
  }
  if (pos < 3) return E('IPv4 address too short');
  out[off + 3] = val;
  return 0;
}

function parseIPv6Into(s: string, out: Uint8Array): number {
  let end = s.length;
  const pct = s.indexOf('%');
  if (pct !== -1) {
    if (pct === s.length - 1) return E('zone must be a non-empty string');
    end = pct;
  }
  const kind = pct === -1 ? ADDR_V6 : ADDR_V6_ZONE;
  let p = 0;
  let ellipsis = -1;
  if (end >= 2 && s.charCodeAt(0) === 58 && s.charCodeAt(1) === 58) {
    ellipsis = 0;
    p = 2;
    if (p === end) {
      out.fill(0);
      return kind;
    }
  }
  let i = 0;
  while (i < 16) {
    let off = 0;
    let acc = 0;
    for (; p + off < end; off++) {
      const c = s.charCodeAt(p + off);
      let d: number;
      if (c >= 48 && c <= 57) d = c - 48;
      else if (c >= 97 && c <= 102) d = c - 87;
      else if (c >= 65 && c <= 70) d = c - 55;
      else break;
      acc = acc * 16 + d;
      if (off > 3) return E('each group must have 4 or less digits');
      if (acc > 0xffff) return E('IPv6 field has value >=2^16');
    }
    if (off === 0) return E('each colon-separated field must have at least one digit');
    if (p + off < end && s.charCodeAt(p + off) === 46) {
      if (ellipsis < 0 && i !== 12) return E('embedded IPv4 address must replace the final 2 fields of the address');
      if (i + 4 > 16) return E('too many hex fields to fit an embedded IPv4 at the end of the address');
      const r = parseIPv4Fields(s, p, end, out, i);
      if (r < 0) return r;
      p = end;
      i += 4;
      break;
    }
    out[i] = acc >> 8;
    out[i + 1] = acc & 0xff;
    i += 2;
    p += off;
    if (p === end) break;
    if (s.charCodeAt(p) !== 58) return E('unexpected character, want colon');
    if (p + 1 === end) return E('colon must be followed by more characters');
    p++;
    if (s.charCodeAt(p) === 58) {
      if (ellipsis >= 0) return E('multiple :: in address');
      ellipsis = i;
      p++;
      if (p === end) break;
    }
  }
  if (p !== end) return E('trailing garbage after address');
  if (i < 16) {
    if (ellipsis < 0) return E('address string too short');
    const n = 16 - i;
    for (let j = i - 1; j >= ellipsis; j--) out[j + n] = out[j]!;
    out.fill(0, ellipsis, ellipsis + n);
  } else if (ellipsis >= 0) {
    return E('the :: must expand to at least one field of zeros');
  }
  return kind;
}

/**
 * Go's netip.ParseAddr into `out` (16 bytes; an IPv4 address fills out[0..3]), without
 * allocating. Returns ADDR_V4 / ADDR_V6 / ADDR_V6_ZONE, or a negative code (see addrError).
 * IPv4-mapped IPv6 (`::ffff:1.2.3.4`) stays IPv6, as in Go.
 */
export function parseAddrInto(s: string, out: Uint8Array): number {
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c === 46) {
      const r = parseIPv4Fields(s, 0, s.length, out, 0);
      return r < 0 ? r : ADDR_V4;
    }
    if (c === 58) return parseIPv6Into(s, out);
    if (c === 37) return E('missing IPv6 address');
  }
  return E('unable to parse IP');
}

/** A netip.Prefix: the address as written (host bits kept, as Go keeps them) and its length. */
export interface IpPrefix {
  readonly v4: boolean;
  readonly bytes: Uint8Array;
  readonly bits: number;
}

/** Go's netip.ParsePrefix; returns the error text instead of throwing. */
export function parsePrefix(s: string): IpPrefix | string {
  const slash = s.lastIndexOf('/');
  if (slash < 0) return 'no \'/\'';
  const bytes = new Uint8Array(16);
  const kind = parseAddrInto(s.slice(0, slash), bytes);
  if (kind < 0) return addrError(kind);
  if (kind === ADDR_V6_ZONE) return 'IPv6 zones cannot be present in a prefix';
  const bitsText = s.slice(slash + 1);
  // Go refuses a sign and leading zeros here (strconv.Atoi alone would accept them)
  if (!/^(0|[1-9][0-9]*)$/.test(bitsText)) return `bad bits after slash: ${JSON.stringify(bitsText)}`;
  const bits = Number(bitsText);
  const max = kind === ADDR_V4 ? 32 : 128;
  if (bits > max) return 'prefix length out of range';
  return { v4: kind === ADDR_V4, bytes: kind === ADDR_V4 ? bytes.slice(0, 4) : bytes, bits };
}

/** Prefix.Contains for an address parsed by parseAddrInto: same family, no zone, same leading bits. */
export function prefixContains(prefix: IpPrefix, kind: number, addr: Uint8Array): boolean {
  if (kind === ADDR_V6_ZONE || kind < 0 || prefix.v4 !== (kind === ADDR_V4)) return false;
  const whole = prefix.bits >> 3;
  for (let i = 0; i < whole; i++) if (prefix.bytes[i] !== addr[i]) return false;
  const rest = prefix.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((prefix.bytes[whole]! ^ addr[whole]!) & mask) === 0;
}

// ---------------------------------------------------------------------------------------------
// Cilium labels (pkg/labels ParseLabel, ParseLabelArrayFromArray)

export interface CiliumLabel {
  readonly source: string;
  readonly key: string;
  readonly value: string;
  /** the key as a prefix, for source `cidr` (IPv6 written with '-' for ':') */
  readonly prefix?: IpPrefix;
}

/** Labels of one endpoint, sorted by key (stably: Go's sort of a short list keeps equal keys in order). */
export type LabelArray = readonly CiliumLabel[];

function parseSource(s: string, delim: string): [source: string, rest: string] {
  if (s === '') return ['', ''];
  if (s[0] === '$') return ['reserved', s.slice(1)];
  const i = s.indexOf(delim);
  if (i < 0) {
    if (delim !== '.' && s.startsWith('reserved.')) return ['reserved', s.slice('reserved.'.length)];
    return ['', s];
  }
  return [s.slice(0, i), s.slice(i + 1)];
}

function cidrKeyPrefix(source: string, key: string): IpPrefix | undefined {
  if (source !== 'cidr') return undefined;
  const p = parsePrefix(key.replaceAll('-', ':'));
  return typeof p === 'string' ? undefined : p;
}

function parseLabelWith(s: string, delim: string): CiliumLabel {
  const [src, next] = parseSource(s, delim);
  const source = src === '' ? 'unspec' : src;
  let key = next;
  let value = '';
  const eq = next.indexOf('=');
  if (eq >= 0) {
    if (eq === 0 && src === 'reserved') {
      key = next.slice(1);
    } else {
      key = next.slice(0, eq);
      value = next.slice(eq + 1);
    }
  }
  const prefix = cidrKeyPrefix(source, key);
  return prefix ? { source, key, value, prefix } : { source, key, value };
}

/** Cilium's ParseLabel: `source:key=value`, `source:key`, `key=value` (source unspec), `$host` (reserved:host). */
export function parseCiliumLabel(s: string): CiliumLabel {
  return parseLabelWith(s, ':');
}

export function parseLabelArray(labels: readonly string[]): LabelArray {
  return labels.map(parseCiliumLabel).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

const NO_LABELS: LabelArray = [];

/**
 * Parsed label lists by list identity. Flows of one endpoint share their list (the identity
 * cache hands out the same array), so one compiled filter parses each list once, however many
 * selectors read it; the cache goes away with the compiled filter.
 */
export class LabelArrayCache {
  readonly #parsed = new WeakMap<readonly string[], LabelArray>();

  get(labels: readonly string[] | null | undefined): LabelArray {
    if (!labels || labels.length === 0) return NO_LABELS;
    let parsed = this.#parsed.get(labels);
    if (!parsed) {
      parsed = parseLabelArray(labels);
      this.#parsed.set(labels, parsed);
    }
    return parsed;
  }
}

// ---------------------------------------------------------------------------------------------
// Hubble's translation of Cilium source prefixes (filters/labelparser.go)

function runeAt(s: string, i: number): number {
  return s.codePointAt(i)!;
}
function runeLength(cp: number): number {
  return cp > 0xffff ? 2 : 1;
}

/**
 * `k8s:app in (a, b), !reserved:host, tier` → `k8s.app in (a, b), !reserved.host, any.tier`.
 * Mirrors labelparser.go character for character, quirks included: a key runs until space, `=`,
 * `!` or `,` (so `app>1` is one "key" that the selector parser later splits), and only the first
 * colon of a key becomes a dot.
 */
export function translateSelector(selector: string): string {
  let out = '';
  let i = 0;
  const n = selector.length;
  while (i < n) {
    // up to the next key: spaces and '!'
    while (i < n) {
      const cp = runeAt(selector, i);
      if (!isGoSpace(cp) && cp !== 0x21) break;
      out += String.fromCodePoint(cp);
      i += runeLength(cp);
    }
    // the key
    let key = '';
    while (i < n) {
      const cp = runeAt(selector, i);
      if (isGoSpace(cp) || cp === 0x3d || cp === 0x21 || cp === 0x2c) break;
      key += String.fromCodePoint(cp);
      i += runeLength(cp);
    }
    if (!key.includes(':')) key = `any:${key}`;
    out += key.replace(':', '.');
    // up to the next selector: past a ',' outside parentheses
    let nesting = 0;
    while (i < n) {
      const cp = runeAt(selector, i);
      i += runeLength(cp);
      if (cp === 0x28) nesting++;
      else if (cp === 0x29) nesting--;
      out += String.fromCodePoint(cp);
      if (cp === 0x2c && nesting === 0) break;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Kubernetes label selector grammar (apimachinery labels.Parse, as vendored by Cilium)

const Tok = {
  Error: 0, End: 1, ClosePar: 2, Comma: 3, DoesNotExist: 4, DoubleEquals: 5, Equals: 6, GreaterThan: 7, Identifier: 8,
  In: 9, LessThan: 10, NotEquals: 11, NotIn: 12, OpenPar: 13,
} as const;
type Tok = (typeof Tok)[keyof typeof Tok];

const KEYWORDS: ReadonlyMap<string, Tok> = new Map([
  [')', Tok.ClosePar], [',', Tok.Comma], ['!', Tok.DoesNotExist], ['==', Tok.DoubleEquals], ['=', Tok.Equals],
  ['>', Tok.GreaterThan], ['in', Tok.In], ['<', Tok.LessThan], ['!=', Tok.NotEquals], ['notin', Tok.NotIn],
  ['(', Tok.OpenPar],
]);

const isSelectorSpace = (c: string): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const isSpecial = (c: string): boolean => c === '=' || c === '!' || c === '(' || c === ')' || c === ',' || c === '>' || c === '<';

interface Scanned { readonly tok: Tok; readonly lit: string }

/** The lexer works on the string's units and, like Go's on bytes, takes NUL for the end. */
function scan(s: string): Scanned[] {
  let pos = 0;
  const read = (): string => {
    if (pos < s.length) return s[pos++]!;
    pos++;
    return '\0';
  };
  const items: Scanned[] = [];
  for (;;) {
    let ch = read();
    while (isSelectorSpace(ch)) ch = read();
    let item: Scanned;
    if (ch === '\0') {
      item = { tok: Tok.End, lit: '' };
    } else if (isSpecial(ch)) {
      pos--;
      // the longest run of special characters that still is an operator
      let buffer = '';
      let last: Scanned | undefined;
      for (;;) {
        const c = read();
        if (c === '\0') break;
        if (!isSpecial(c)) {
          pos--;
          break;
        }
        buffer += c;
        const tok = KEYWORDS.get(buffer);
        if (tok !== undefined) {
          last = { tok, lit: buffer };
        } else if (last) {
          pos--;
          break;
        }
      }
      item = last ?? { tok: Tok.Error, lit: `error expected: keyword found '${buffer}'` };
    } else {
      pos--;
      let buffer = '';
      for (;;) {
        const c = read();
        if (c === '\0') break;
        if (isSpecial(c) || isSelectorSpace(c)) {
          pos--;
          break;
        }
        buffer += c;
      }
      item = { tok: KEYWORDS.get(buffer) ?? Tok.Identifier, lit: buffer };
    }
    items.push(item);
    if (item.tok === Tok.End) return items;
  }
}

type Operator = 'exists' | '!' | 'in' | 'notin' | '=' | '==' | '!=' | 'gt' | 'lt';

interface Requirement {
  readonly key: string;
  readonly op: Operator;
  readonly values: readonly string[];
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** apimachinery IsQualifiedName: `[prefix/]name`, prefix a DNS subdomain, name ≤ 63 characters. */
function keyProblems(key: string): string[] {
  const problems: string[] = [];
  const parts = key.split('/');
  let name: string;
  if (parts.length === 1) {
    name = parts[0]!;
  } else if (parts.length === 2) {
    const prefix = parts[0]!;
    name = parts[1]!;
    if (prefix.length === 0) problems.push('prefix part must be non-empty');
    else {
      if (prefix.length > 253) problems.push('prefix part must be no more than 253 bytes');
      if (!DNS1123_SUBDOMAIN.test(prefix)) problems.push('prefix part must be a lowercase RFC 1123 subdomain');
    }
  } else {
    return ['a valid label key has an optional DNS subdomain prefix and one \'/\' (e.g. \'example.com/MyName\')'];
  }
  if (name.length === 0) problems.push('name part must be non-empty');
  else if (name.length > 63) problems.push('name part must be no more than 63 bytes');
  if (!LABEL_NAME.test(name)) {
    problems.push('name part must consist of alphanumeric characters, \'-\', \'_\' or \'.\', and must start and end with an alphanumeric character');
  }
  return problems;
}

function valueProblems(value: string): string[] {
  const problems: string[] = [];
  if (value.length > 63) problems.push('must be no more than 63 bytes');
  if (!LABEL_VALUE.test(value)) {
    problems.push('a valid label must be an empty string or consist of alphanumeric characters, \'-\', \'_\' or \'.\', and must start and end with an alphanumeric character');
  }
  return problems;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Go's strconv.ParseInt(s, 10, 64), or undefined. */
function parseInt64(s: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const v = BigInt(s);
  return v < INT64_MIN || v > INT64_MAX ? undefined : v;
}

/** NewRequirement's validation; throws the reasons. */
function requirement(key: string, op: Operator, values: readonly string[]): Requirement {
  const problems = keyProblems(key).map((p) => `key ${JSON.stringify(key)}: ${p}`);
  if ((op === 'gt' || op === 'lt')) {
    for (const v of values) {
      if (parseInt64(v) === undefined) problems.push(`value ${JSON.stringify(v)}: for '>', '<' operators, the value must be an integer`);
    }
  }
  for (const v of values) for (const p of valueProblems(v)) problems.push(`value ${JSON.stringify(v)}: ${p}`);
  if (problems.length) throw new Error(problems.join('; '));
  return { key, op, values };
}

/** labels.Parse: the requirements of a selector (none: it selects everything). Throws on bad syntax. */
function parseRequirements(selector: string): Requirement[] {
  const items = scan(selector);
  let position = 0;
  // in a value position the keywords `in` and `notin` are plain identifiers
  const asValue = (t: Tok): Tok => (t === Tok.In || t === Tok.NotIn ? Tok.Identifier : t);
  const lookahead = (values: boolean): Scanned => {
    const it = items[position]!;
    return values ? { tok: asValue(it.tok), lit: it.lit } : it;
  };
  const consume = (values: boolean): Scanned => {
    const it = lookahead(values);
    position++;
    return it;
  };

  const parseValues = (): string[] => {
    const open = consume(true);
    if (open.tok !== Tok.OpenPar) throw new Error(`found '${open.lit}' expected: '('`);
    const first = lookahead(true);
    if (first.tok === Tok.ClosePar) {
      consume(true);
      return [''];
    }
    if (first.tok !== Tok.Identifier && first.tok !== Tok.Comma) throw new Error(`found '${first.lit}', expected: ',', ')' or identifier`);
    // "(a,,b)", "(,a)" and "(a,)" all hold the empty value too
    const set = new Set<string>();
    for (;;) {
      const t = consume(true);
      if (t.tok === Tok.Identifier) {
        set.add(t.lit);
        const next = lookahead(true);
        if (next.tok === Tok.Comma) continue;
        if (next.tok === Tok.ClosePar) break;
        throw new Error(`found '${next.lit}', expected: ',' or ')'`);
      } else if (t.tok === Tok.Comma) {
        if (set.size === 0) set.add('');
        const next = lookahead(true);
        if (next.tok === Tok.ClosePar) {
          set.add('');
          break;
        }
        if (next.tok === Tok.Comma) set.add('');
      } else {
        throw new Error(`found '${t.lit}', expected: ',', or identifier`);
      }
    }
    const close = consume(true);
    if (close.tok !== Tok.ClosePar) throw new Error(`found '${first.lit}', expected: ')'`);
    return [...set].sort();
  };

  const parseRequirement = (): Requirement => {
    let t = consume(true);
    let op: Operator | undefined;
    if (t.tok === Tok.DoesNotExist) {
      op = '!';
      t = consume(true);
    }
    if (t.tok !== Tok.Identifier) throw new Error(`found '${t.lit}', expected: identifier`);
    const key = t.lit;
    const problems = keyProblems(key);
    if (problems.length) throw new Error(`key ${JSON.stringify(key)}: ${problems.join('; ')}`);
    const next = lookahead(true).tok;
    if ((next === Tok.End || next === Tok.Comma) && op === undefined) op = 'exists';
    if (op !== undefined) return requirement(key, op, []);
    const o = consume(false);
    const ops: Partial<Record<Tok, Operator>> = {
      [Tok.In]: 'in', [Tok.NotIn]: 'notin', [Tok.Equals]: '=', [Tok.DoubleEquals]: '==', [Tok.NotEquals]: '!=',
      [Tok.GreaterThan]: 'gt', [Tok.LessThan]: 'lt',
    };
    const operator = ops[o.tok];
    if (!operator) throw new Error(`found '${o.lit}', expected: in, notin, =, ==, !=, >, <`);
    if (operator === 'in' || operator === 'notin') return requirement(key, operator, parseValues());
    const v = lookahead(true);
    if (v.tok === Tok.End || v.tok === Tok.Comma) return requirement(key, operator, ['']);
    const value = consume(true);
    if (value.tok !== Tok.Identifier) throw new Error(`found '${value.lit}', expected: identifier`);
    return requirement(key, operator, [value.lit]);
  };

  const out: Requirement[] = [];
  for (;;) {
    const t = lookahead(true);
    if (t.tok === Tok.End) return out;
    if (t.tok !== Tok.Identifier && t.tok !== Tok.DoesNotExist) {
      throw new Error(`found '${t.lit}', expected: !, identifier, or 'end of string'`);
    }
    out.push(parseRequirement());
    const after = consume(true);
    if (after.tok === Tok.End) return out;
    if (after.tok !== Tok.Comma) throw new Error(`found '${after.lit}', expected: ',' or 'end of string'`);
    const next = lookahead(true);
    if (next.tok !== Tok.Identifier && next.tok !== Tok.DoesNotExist) {
      throw new Error(`found '${next.lit}', expected: identifier after ','`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Matching (LabelArray.Lookup / Has with ParseSelectDotLabel keys)

/** True when the endpoint's labels satisfy the selector. */
export type LabelSelector = (labels: LabelArray) => boolean;

/** A selector key `source.key` as Cilium reads it (ParseSelectDotLabel: no source, or `unspec`, is `any`). */
function selectLabel(dotted: string): CiliumLabel {
  const l = parseLabelWith(dotted, '.');
  return l.source === 'unspec' ? { ...l, source: 'any' } : l;
}

/** Label.HasKey: `target` may be looser (source `any`; for `cidr`, a wider prefix). */
function hasKey(l: CiliumLabel, target: CiliumLabel, targetAny: boolean): boolean {
  if (!targetAny && l.source !== target.source) return false;
  if (target.source === 'cidr' && l.source === 'cidr') {
    const tc = target.prefix;
    const lc = l.prefix;
    return !!tc && !!lc && tc.bits <= lc.bits && prefixContains(tc, lc.v4 ? ADDR_V4 : ADDR_V6, lc.bytes);
  }
  return l.key === target.key;
}

function lookupIndex(labels: LabelArray, target: CiliumLabel, targetAny: boolean): number {
  for (let i = 0; i < labels.length; i++) if (hasKey(labels[i]!, target, targetAny)) return i;
  return -1;
}

function compileRequirement(r: Requirement): LabelSelector {
  const target = selectLabel(r.key);
  const any = target.source === 'any';
  const values = r.values;
  const has = values.length === 1 ? ((v: string) => v === values[0]) : (v: string) => values.includes(v);
  switch (r.op) {
    case 'exists':
      return (ls) => lookupIndex(ls, target, any) >= 0;
    case '!':
      return (ls) => lookupIndex(ls, target, any) < 0;
    case 'in': case '=': case '==':
      return (ls) => {
        const i = lookupIndex(ls, target, any);
        return i >= 0 && has(ls[i]!.value);
      };
    case 'notin': case '!=':
      return (ls) => {
        const i = lookupIndex(ls, target, any);
        return i < 0 || !has(ls[i]!.value);
      };
    case 'gt': case 'lt': {
      const bound = parseInt64(values[0]!)!;
      const greater = r.op === 'gt';
      return (ls) => {
        const i = lookupIndex(ls, target, any);
        if (i < 0) return false;
        const v = parseInt64(ls[i]!.value);
        return v !== undefined && (greater ? v > bound : v < bound);
      };
    }
  }
}

/**
 * Compiles one Hubble label selector. Throws an Error naming the selector when it is not valid
 * (as Hubble answers INVALID_ARGUMENT). The empty selector selects everything, as upstream.
 */
export function compileLabelSelector(selector: string): LabelSelector {
  let requirements: Requirement[];
  try {
    requirements = parseRequirements(translateSelector(selector));
  } catch (e) {
    throw new Error(`invalid label selector ${JSON.stringify(selector)}: ${(e as Error).message}`);
  }
  const checks = requirements.map(compileRequirement);
  if (checks.length === 0) return () => true;
  if (checks.length === 1) return checks[0]!;
  return (ls) => {
    for (let i = 0; i < checks.length; i++) if (!checks[i]!(ls)) return false;
    return true;
  };
}

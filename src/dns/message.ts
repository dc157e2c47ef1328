/**
 * DNS messages as the kernel hands them over: the first bytes (up to 512) of one message seen on
 * port 53, TCP's 2-byte length prefix already stripped. Copies are cut short on purpose, so this
 * parser reads as far as the copy reaches and says how far that was; it never throws, and every
 * message it cannot read gets one of a few error kinds (DNS_PARSE_ERRORS) for counting.
 *
 * What is decoded: the header (flags, counts), the question, the answers (name, type, ttl, and the
 * data of A, AAAA, CNAME, PTR, NS as text), and the OPT record of the additional section when the
 * copy reaches it (EDNS: the upper bits of the rcode, the UDP size, the DO bit). The authority and
 * additional sections are otherwise only walked over. A malformed name, or malformed data of a
 * decoded record, anywhere the copy reaches fails the message, with what was read before it kept
 * as `partial`; the data of other records is skipped by its length unchecked.
 *
 * Names are lower-case dotted text without the final dot, the root is '.', and bytes that are not
 * plain in a label are escaped as dig writes them: `\.` `\\` `\"` `\(` `\)` `\;` `\@` `\$`, and
 * `\DDD` (decimal) for bytes outside 0x21..0x7e. Punycode (`xn--`) labels stay as they are on the
 * wire: matching suffixes works on that form, and showing Unicode is a display's business.
 *
 * Bounded work: compression pointers must point strictly before the name part that contains them,
 * and a name reached through a pointer must end before that part begins. Each byte of the copy is
 * therefore read at most once per name, so no pointer chain loops and a name costs at most one
 * pass over the copy; a name has at most 255 octets (RFC 1035 §3.1), hence at most 127 labels.
 * A pointer to the start of a name decoded earlier in the message (the usual case: the question,
 * a CNAME's data) takes that name's text instead of decoding it again.
 */

/**
 * Why a message could not be read. A closed set: exporters count by it.
 * - `short_header`: fewer than the 12 bytes of a header.
 * - `truncated`: the copy ends inside the question. A copy that ends among the answers (or
 *   later) is no error: see `answersTruncated`.
 * - `too_many_questions`: qdcount above 1. RFC 9619 makes 1 the maximum and no server answers
 *   more; a count above it says the bytes are not a DNS message (e.g. qdcount 65535).
 * - `name_too_long`: a name over 255 octets in wire form (RFC 1035 §3.1), pointers followed.
 * - `bad_label_type`: a length byte 0x40..0xbf. Its top bits 01 are the extended label types
 *   (RFC 6891 §5, none in use) and 10 is reserved. A "label of 64 bytes" is the same byte on the
 *   wire as extended type 0x40, so there is no separate label-too-long kind.
 * - `bad_pointer`: a compression pointer into the header or past the end of the copy (valid
 *   pointers point back, so a cut copy never causes this).
 * - `pointer_loop`: a pointer that does not point strictly before the name part containing it
 *   (to itself, forward, or back into the chain being followed), or a name reached through a
 *   pointer that runs into the part that pointed to it. RFC 1035 §4.1.4 allows pointers only to a
 *   prior occurrence; refusing the rest is what keeps pointer-following finite.
 * - `bad_rdata`: a decoded record whose data does not fit its length (an A record of other than
 *   4 bytes, an AAAA of other than 16, a CNAME/PTR/NS name not ending exactly at the data's end).
 * Bytes after the last record are not an error: the copy rarely reaches them, and they change
 * nothing that is reported.
 */
export type DnsParseError =
  | 'short_header'
  | 'truncated'
  | 'too_many_questions'
  | 'name_too_long'
  | 'bad_label_type'
  | 'bad_pointer'
  | 'pointer_loop'
  | 'bad_rdata';

export const DNS_PARSE_ERRORS: readonly DnsParseError[] = [
  'short_header', 'truncated', 'too_many_questions', 'name_too_long',
  'bad_label_type', 'bad_pointer', 'pointer_loop', 'bad_rdata',
];

export interface DnsFlags {
  readonly qr: boolean;
  readonly opcode: number;
  readonly aa: boolean;
  readonly tc: boolean;
  readonly rd: boolean;
  readonly ra: boolean;
  readonly ad: boolean;
  readonly cd: boolean;
  /** 4 header bits; 12 bits when an OPT record was read (RFC 6891 §6.1.3). */
  readonly rcode: number;
  readonly rcodeName: string;
}

export interface DnsCounts {
  readonly qd: number;
  readonly an: number;
  readonly ns: number;
  readonly ar: number;
}

export interface DnsQuestion {
  readonly name: string;
  readonly type: number;
  readonly typeName: string;
  readonly class: number;
}

export interface DnsAnswer {
  readonly name: string;
  readonly type: number;
  readonly typeName: string;
  readonly class: number;
  /** Seconds; a value with the top bit set counts as 0 (RFC 2181 §8). */
  readonly ttl: number;
  /** Address or name for A, AAAA, CNAME, PTR, NS; `<n bytes>` for other types. */
  readonly data: string;
}

/** From the OPT pseudo-record (RFC 6891 §6.1). */
export interface DnsEdns {
  readonly udpSize: number;
  readonly version: number;
  readonly dnssecOk: boolean;
}

/** What was read before an error: the header always, then the question and answers reached. */
export interface DnsPartialMessage {
  readonly id: number;
  readonly flags: DnsFlags;
  readonly counts: DnsCounts;
  /** Undefined when qdcount is 0 (or the question was not reached). */
  readonly question: DnsQuestion | undefined;
  readonly answers: readonly DnsAnswer[];
}

export interface DnsMessage extends DnsPartialMessage {
  /**
   * The copy ended before the answer section did; `answers` holds the complete ones before the
   * cut. `answers.length < counts.an` without this flag means `maxAnswers` capped the list.
   */
  readonly answersTruncated: boolean;
  /** NODATA: a NOERROR answer to a standard query (opcode 0) with no answers and TC clear. */
  readonly empty: boolean;
  /** Undefined when the message has no OPT record or the copy ends before it. */
  readonly edns: DnsEdns | undefined;
}

export type DnsParseResult =
  | { readonly ok: true; readonly message: DnsMessage }
  | { readonly ok: false; readonly error: DnsParseError; readonly partial?: DnsPartialMessage };

export interface DnsParseOptions {
  /** Answers decoded at most (default 16); the rest are walked over. */
  readonly maxAnswers?: number;
}

const HEADER_SIZE = 12;
/** RFC 1035 §3.1: a name is at most 255 octets with its length bytes and the root's 0. */
const MAX_NAME_OCTETS = 255;
const DEFAULT_MAX_ANSWERS = 16;
const TYPE_A = 1, TYPE_NS = 2, TYPE_CNAME = 5, TYPE_PTR = 12, TYPE_AAAA = 28, TYPE_OPT = 41;

const RCODE_NAMES: readonly string[] = [
  'NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED',
  'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE',
];

const QTYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [1, 'A'], [2, 'NS'], [5, 'CNAME'], [6, 'SOA'], [12, 'PTR'], [15, 'MX'], [16, 'TXT'],
  [28, 'AAAA'], [33, 'SRV'], [35, 'NAPTR'], [41, 'OPT'], [43, 'DS'], [46, 'RRSIG'], [47, 'NSEC'],
  [48, 'DNSKEY'], [64, 'SVCB'], [65, 'HTTPS'], [255, 'ANY'], [257, 'CAA'],
]);

/** NOERROR … NOTZONE for 0..10, `RCODE<n>` for any other number. */
export function rcodeName(n: number): string {
  return RCODE_NAMES[n] ?? `RCODE${n}`;
}

/** The mnemonic of a common RR type, `TYPE<n>` (RFC 3597) for any other number. */
export function qtypeName(n: number): string {
  return QTYPE_NAMES.get(n) ?? `TYPE${n}`;
}

/**
 * Whether `name` is `suffix` or lies under it, label by label and ignoring case:
 * 'svc.cluster.local' matches 'svc.cluster.local' and 'a.svc.cluster.local', not
 * 'xsvc.cluster.local'. The suffix may start (and end) with '.'; '' and '.' match every name.
 * Names are in this module's text form, so an escaped dot (`a\.svc…`) is no label boundary.
 */
export function nameMatchesSuffix(name: string, suffix: string): boolean {
  let s = suffix.toLowerCase();
  if (s.startsWith('.')) s = s.slice(1);
  if (s.endsWith('.') && !s.endsWith('\\.')) s = s.slice(0, -1);
  if (s === '') return true;
  let n = name.toLowerCase();
  if (n.endsWith('.') && !n.endsWith('\\.') && n !== '.') n = n.slice(0, -1);
  if (n === s) return true;
  if (n.length <= s.length + 1 || !n.endsWith(s)) return false;
  const dot = n.length - s.length - 1;
  if (n.charCodeAt(dot) !== 0x2e) return false;
  // The dot separates labels unless an odd number of backslashes escapes it.
  let slashes = 0;
  for (let i = dot - 1; i >= 0 && n.charCodeAt(i) === 0x5c; i--) slashes++;
  return slashes % 2 === 0;
}

/**
 * A name in DNS wire format (length-prefixed labels, as a question carries it) → this module's
 * text form. A name cut short (the kernel keeps its first bytes) keeps its whole labels and ends
 * in '…'. Undefined when empty or unreadable (a compression pointer, a label over 63 bytes).
 */
export function wireName(name: Uint8Array): string | undefined {
  let pos = 0;
  let cut = false;
  for (;;) {
    if (pos >= name.length) { cut = true; break; }
    const l = name[pos]!;
    if (l === 0) break;
    if (l > 63) return undefined;
    if (pos + 1 + l > name.length) { cut = true; break; }
    pos += 1 + l;
  }
  if (cut && pos === 0) return undefined;
  const msg = new Uint8Array(HEADER_SIZE + pos + 1 + 4);
  msg[5] = 1; // qdcount
  msg.set(name.subarray(0, pos), HEADER_SIZE);
  const r = parseDnsMessage(msg);
  const q = r.ok ? r.message.question : r.partial?.question;
  if (!q) return undefined;
  return cut ? `${q.name === '.' ? '' : q.name}…` : q.name;
}

/** Parses one DNS message (or the start of one); never throws. */
export function parseDnsMessage(buf: Uint8Array, opts?: DnsParseOptions): DnsParseResult {
  const len = buf.length;
  if (len < HEADER_SIZE) return { ok: false, error: 'short_header' };
  const maxAnswers = opts?.maxAnswers ?? DEFAULT_MAX_ANSWERS;
  const id = (buf[0]! << 8) | buf[1]!;
  const b2 = buf[2]!, b3 = buf[3]!;
  const counts: DnsCounts = {
    qd: (buf[4]! << 8) | buf[5]!,
    an: (buf[6]! << 8) | buf[7]!,
    ns: (buf[8]! << 8) | buf[9]!,
    ar: (buf[10]! << 8) | buf[11]!,
  };
  let flags = headerFlags(b2, b3, b3 & 0x0f);
  const answers: DnsAnswer[] = [];
  let question: DnsQuestion | undefined;

  if (counts.qd > 1) return failed('too_many_questions', { id, flags, counts, question, answers });
  const name: NameRead = { text: '', end: 0, error: undefined, known: [], texts: [] };
  let pos = HEADER_SIZE;
  if (counts.qd === 1) {
    if (!readName(buf, pos, len, 'truncated', true, name)) return failed(name.error!, { id, flags, counts, question, answers });
    pos = name.end;
    if (pos + 4 > len) return failed('truncated', { id, flags, counts, question, answers });
    const type = (buf[pos]! << 8) | buf[pos + 1]!;
    question = { name: name.text, type, typeName: qtypeName(type), class: (buf[pos + 2]! << 8) | buf[pos + 3]! };
    pos += 4;
  }

  // Answers: decoded up to maxAnswers, then walked over. A cut copy ends the walk, not the parse.
  let answersTruncated = false;
  let edns: DnsEdns | undefined;
  let extendedRcode = 0;
  const records = counts.an + counts.ns + counts.ar;
  for (let i = 0; i < records; i++) {
    const inAnswers = i < counts.an;
    const decode = inAnswers && answers.length < maxAnswers;
    if (!readName(buf, pos, len, 'truncated', decode, name)) {
      if (name.error === 'truncated') { answersTruncated = inAnswers; break; }
      return failed(name.error!, { id, flags, counts, question, answers });
    }
    pos = name.end;
    const owner = name.text;
    if (pos + 10 > len) { answersTruncated = inAnswers; break; }
    const type = (buf[pos]! << 8) | buf[pos + 1]!;
    const cls = (buf[pos + 2]! << 8) | buf[pos + 3]!;
    const ttlRaw = ((buf[pos + 4]! << 24) | (buf[pos + 5]! << 16) | (buf[pos + 6]! << 8) | buf[pos + 7]!) >>> 0;
    const rdStart = pos + 10;
    const rdEnd = rdStart + ((buf[pos + 8]! << 8) | buf[pos + 9]!);
    if (rdEnd > len) { answersTruncated = inAnswers; break; }
    if (decode) {
      const data = rdataText(buf, type, rdStart, rdEnd, name);
      if (data === undefined) return failed(name.error!, { id, flags, counts, question, answers });
      answers.push({
        name: owner, type, typeName: qtypeName(type), class: cls, ttl: ttlRaw > 0x7fffffff ? 0 : ttlRaw, data,
      });
    } else if (type === TYPE_OPT && i >= counts.an + counts.ns && edns === undefined) {
      edns = { udpSize: cls, version: (ttlRaw >>> 16) & 0xff, dnssecOk: (ttlRaw & 0x8000) !== 0 };
      extendedRcode = ttlRaw >>> 24;
    }
    pos = rdEnd;
  }
  if (extendedRcode !== 0) flags = headerFlags(b2, b3, (extendedRcode << 4) | (b3 & 0x0f));
  const empty = flags.qr && flags.opcode === 0 && flags.rcode === 0 && !flags.tc && counts.an === 0;
  return { ok: true, message: { id, flags, counts, question, answers, answersTruncated, empty, edns } };
}

function failed(error: DnsParseError, partial: DnsPartialMessage): DnsParseResult {
  return { ok: false, error, partial };
}

function headerFlags(b2: number, b3: number, rcode: number): DnsFlags {
  return {
    qr: (b2 & 0x80) !== 0, opcode: (b2 >> 3) & 0x0f, aa: (b2 & 0x04) !== 0, tc: (b2 & 0x02) !== 0,
    rd: (b2 & 0x01) !== 0, ra: (b3 & 0x80) !== 0, ad: (b3 & 0x20) !== 0, cd: (b3 & 0x10) !== 0,
    rcode, rcodeName: rcodeName(rcode),
  };
}

/**
 * Out-parameters of readName and rdataText, and the names decoded so far in this message: most
 * pointers point at the start of an earlier name (the question, a CNAME's data), which is then
 * not decoded again.
 */
interface NameRead {
  text: string;
  /** Offset after the name where it starts (after its first pointer, if any). */
  end: number;
  error: DnsParseError | undefined;
  /** Decoded names, three numbers each: where it starts, where its own bytes end, its octets. */
  readonly known: number[];
  /** Their texts, in the same order. */
  readonly texts: string[];
}

/**
 * Reads the name at `start`; its own bytes must lie below `bound`, and running past it is
 * `overrun` ('truncated' at the copy's end, 'bad_rdata' at a record data's end). Sets out.text
 * (when `text`), out.end, or out.error and returns false.
 */
function readName(
  buf: Uint8Array, start: number, bound: number, overrun: DnsParseError, text: boolean, out: NameRead,
): boolean {
  let pos = start;
  let limit = start;      // a pointer must point below this: the start of the part being read
  let jumped = false;     // past a pointer, running into `bound` means the pointer was bad
  let octets = 1;         // the root's 0
  let end = -1;
  let s = '';
  for (;;) {
    if (pos >= bound) return failName(out, jumped ? 'pointer_loop' : overrun);
    const b = buf[pos]!;
    if (b === 0) break;
    if (b >= 0xc0) {
      if (pos + 1 >= bound) return failName(out, jumped ? 'pointer_loop' : overrun);
      const target = ((b & 0x3f) << 8) | buf[pos + 1]!;
      if (end < 0) end = pos + 2;
      if (target < HEADER_SIZE || target >= buf.length) return failName(out, 'bad_pointer');
      if (target >= limit) return failName(out, 'pointer_loop');
      // A name decoded before whose own bytes end below this part reads the same again.
      for (let k = 0; k < out.known.length; k += 3) {
        if (out.known[k] !== target || out.known[k + 1]! > limit) continue;
        octets += out.known[k + 2]! - 1;
        if (octets > MAX_NAME_OCTETS) return failName(out, 'name_too_long');
        const known = out.texts[k / 3]!;
        if (text) s = s.length === 0 ? known : known === '.' ? s : s + '.' + known;
        return readDone(out, start, end, s, octets, text);
      }
      bound = limit;
      limit = target;
      pos = target;
      jumped = true;
      continue;
    }
    if (b >= 0x40) return failName(out, 'bad_label_type');
    const labelEnd = pos + 1 + b;
    if (labelEnd > bound) return failName(out, jumped ? 'pointer_loop' : overrun);
    octets += 1 + b;
    if (octets > MAX_NAME_OCTETS) return failName(out, 'name_too_long');
    if (text) s = appendLabel(s.length === 0 ? s : s + '.', buf, pos + 1, labelEnd);
    pos = labelEnd;
  }
  return readDone(out, start, end < 0 ? pos + 1 : end, s, octets, text);
}

function readDone(out: NameRead, start: number, end: number, s: string, octets: number, text: boolean): true {
  out.end = end;
  out.error = undefined;
  if (!text) return true;
  out.text = s.length === 0 ? '.' : s;
  out.known.push(start, end, octets);
  out.texts.push(out.text);
  return true;
}

function failName(out: NameRead, error: DnsParseError): false {
  out.error = error;
  return false;
}

/** `s` and then one label as text: lower-case, escaped as dig escapes it. */
function appendLabel(s: string, buf: Uint8Array, from: number, to: number): string {
  // Character by character: cheaper than one String.fromCharCode.apply over a subarray (measured).
  for (let i = from; i < to; i++) {
    const c = buf[i]!;
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d) s += String.fromCharCode(c);
    else if (c >= 0x41 && c <= 0x5a) s += String.fromCharCode(c | 0x20);
    else if (c === 0x2e || c === 0x5c || c === 0x22 || c === 0x28 || c === 0x29 || c === 0x3b || c === 0x40 || c === 0x24) {
      s += '\\' + String.fromCharCode(c);
    } else if (c > 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += c < 10 ? `\\00${c}` : c < 100 ? `\\0${c}` : `\\${c}`;
  }
  return s;
}

/** Data of a record as text, or undefined with out.error set. Uses `out` as scratch. */
function rdataText(buf: Uint8Array, type: number, start: number, end: number, out: NameRead): string | undefined {
  const size = end - start;
  switch (type) {
    case TYPE_A:
      if (size !== 4) break;
      return `${buf[start]}.${buf[start + 1]}.${buf[start + 2]}.${buf[start + 3]}`;
    case TYPE_AAAA:
      if (size !== 16) break;
      return ipv6Text(buf, start);
    case TYPE_CNAME: case TYPE_PTR: case TYPE_NS:
      if (!readName(buf, start, end, 'bad_rdata', true, out)) return undefined;
      if (out.end !== end) break;
      return out.text;
    default:
      return `<${size} bytes>`;
  }
  out.error = 'bad_rdata';
  return undefined;
}

/**
 * The agent's one spelling of an IPv6 address (src/net/ip.ts canonicalIp): RFC 5952 lower-case,
 * the first longest run of two or more zero groups as '::', IPv4-mapped addresses as IPv4.
 */
function ipv6Text(buf: Uint8Array, at: number): string {
  let mapped = buf[at + 10] === 0xff && buf[at + 11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) if (buf[at + i] !== 0) mapped = false;
  if (mapped) return `${buf[at + 12]}.${buf[at + 13]}.${buf[at + 14]}.${buf[at + 15]}`;
  let bestStart = -1, bestLen = 1, runStart = -1;
  for (let g = 0; g <= 8; g++) {
    const zero = g < 8 && buf[at + 2 * g] === 0 && buf[at + 2 * g + 1] === 0;
    if (zero) { if (runStart < 0) runStart = g; continue; }
    if (runStart >= 0 && g - runStart > bestLen) { bestStart = runStart; bestLen = g - runStart; }
    runStart = -1;
  }
  let s = '';
  for (let g = 0; g < 8; g++) {
    if (g === bestStart) { s += '::'; g += bestLen - 1; continue; }
    if (s.length !== 0 && !s.endsWith(':')) s += ':';
    s += (((buf[at + 2 * g]! << 8) | buf[at + 2 * g + 1]!)).toString(16);
  }
  return s;
}

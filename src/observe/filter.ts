/**
 * Which events a `fovea observe` client wants. The filter is plain, JSON-serialisable data: the CLI
 * builds it from flags (parseFilterFlags), sends it to the agent, and the agent checks every event
 * against it before serialising anything (compileFilter).
 *
 * Semantics (as `hubble observe`): the values of one filter are OR-ed, different filters AND-ed, an
 * empty list does not filter. Pod, namespace, IP and port match either end of the event.
 */
import { isIPv4 } from 'node:net';
import { hint, type ConfigIssue } from '../config/issues.js';
import { parseDuration } from '../config/schema.js';
import type { EventName, NetworkEvent, Verdict } from '../events/types.js';
import { canonicalIp } from '../net/ip.js';
import { nameMatchesSuffix } from '../dns/message.js';
import { EVENT, VERDICT } from '../names.js';

export const VERDICTS: readonly Verdict[] = Object.values(VERDICT);

/** `--event` values → the event names they select (`tcp`: every TCP event). */
export const EVENT_KINDS: Readonly<Record<string, readonly EventName[]>> = {
  drop: [EVENT.drop],
  flow: [EVENT.flow],
  reset: [EVENT.tcpReset],
  'connect-failed': [EVENT.tcpConnectFailed],
  retransmit: [EVENT.tcpRetransmit],
  tcp: [EVENT.tcpReset, EVENT.tcpConnectFailed, EVENT.tcpRetransmit],
  dns: [EVENT.dns, EVENT.dnsTimeout],
};
/** `other` also matches events that were not IP at all (transport 'unknown'). */
export const FILTER_PROTOCOLS = ['tcp', 'udp', 'icmp', 'other'] as const;
export type FilterProtocol = (typeof FILTER_PROTOCOLS)[number];

/** `--pod name`, `--pod ns/name`, `--pod ns/prefix*`, `--pod prefix*`. */
export interface PodSelector {
  /** absent: the pod name in any namespace */
  readonly namespace?: string;
  readonly name: string;
  /** name is a prefix (the flag ended in `*`) */
  readonly prefix: boolean;
}

/** An address or a CIDR: `address` is the canonical network address (host bits cleared). */
export interface IpPrefix {
  readonly address: string;
  readonly prefixLength: number;
}

export interface EventFilter {
  /** `--event` values (EVENT_KINDS keys); absent or empty: every event */
  readonly events?: readonly string[];
  /** `--dns-name` suffixes (label-aware, lower case): DNS events whose question is under one */
  readonly dnsNames?: readonly string[];
  /** `--rcode` values, upper case (NXDOMAIN, SERVFAIL …, TIMEOUT): DNS events with that outcome */
  readonly rcodes?: readonly string[];
  readonly verdicts: readonly Verdict[];
  /** kernel drop reason names, upper case */
  readonly reasons: readonly string[];
  readonly pods: readonly PodSelector[];
  readonly namespaces: readonly string[];
  readonly ips: readonly IpPrefix[];
  readonly ports: readonly number[];
  readonly protocols: readonly FilterProtocol[];
  /** only events at or after this Unix time (ms) */
  readonly sinceMs?: number;
}

export const EMPTY_FILTER: EventFilter = {
  verdicts: [], reasons: [], pods: [], namespaces: [], ips: [], ports: [], protocols: [],
};

/** A value that did not parse, and why. */
export interface Invalid { readonly error: string }

export function isInvalid(v: unknown): v is Invalid {
  return typeof v === 'object' && v !== null && 'error' in v;
}

// ---------------------------------------------------------------------------------------------
// IP addresses as numbers

interface IpNumber { readonly version: 4 | 6; readonly value: bigint }

function v4Number(text: string): bigint {
  let n = 0;
  for (const part of text.split('.')) n = n * 256 + Number(part);
  return BigInt(n);
}

/** Canonical (or any valid) IP text → version and value; undefined for anything else. */
function ipNumber(text: string): IpNumber | undefined {
  if (isIPv4(text)) return { version: 4, value: v4Number(text) };
  const canon = canonicalIp(text);
  if (canon === undefined) return undefined;
  if (isIPv4(canon)) return { version: 4, value: v4Number(canon) }; // IPv4-mapped IPv6
  // the URL serializer never writes a dotted tail, so canon is hex groups with at most one "::"
  const [head = '', tail] = canon.split('::');
  const groups = (s: string): string[] => (s === '' ? [] : s.split(':'));
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  let value = 0n;
  for (const g of all) value = (value << 16n) | BigInt(parseInt(g, 16));
  return { version: 6, value };
}

const bits = (version: 4 | 6): number => (version === 4 ? 32 : 128);

function maskOf(version: 4 | 6, prefixLength: number): bigint {
  const total = BigInt(bits(version));
  const all = (1n << total) - 1n;
  return prefixLength === 0 ? 0n : (all >> (total - BigInt(prefixLength))) << (total - BigInt(prefixLength));
}

function ipText(n: IpNumber): string {
  if (n.version === 4) {
    const v = Number(n.value);
    return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
  }
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((n.value >> BigInt(i * 16)) & 0xffffn).toString(16));
  return canonicalIp(groups.join(':')) ?? groups.join(':');
}

/** "10.0.0.0/8", "fd00::/64", "10.1.2.3", "::1" → a prefix (host bits cleared); or why not. */
export function parseIpPrefix(text: string): IpPrefix | Invalid {
  const s = text.trim();
  const slash = s.indexOf('/');
  const addr = slash < 0 ? s : s.slice(0, slash);
  const n = ipNumber(addr);
  if (n === undefined) return { error: `not an IP address or CIDR: ${JSON.stringify(text)} (examples: 10.0.0.7, 10.0.0.0/8, fd00::/64)` };
  let prefixLength = bits(n.version);
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > bits(n.version)) {
      return { error: `bad prefix length in ${JSON.stringify(text)}: an IPv${n.version} prefix length is 0..${bits(n.version)}` };
    }
    prefixLength = Number(p);
  }
  return { address: ipText({ version: n.version, value: n.value & maskOf(n.version, prefixLength) }), prefixLength };
}

// ---------------------------------------------------------------------------------------------
// Single values (shared by the flag parser and the wire validation in protocol.ts)

/** A reason name: letters, digits and '_' (the kernel's, or UNKNOWN_<n>); SKB_DROP_REASON_ may be given. */
export function parseReason(text: string): string | Invalid {
  const s = text.trim().toUpperCase().replace(/^SKB_DROP_REASON_/, '');
  if (!/^[A-Z0-9_]+$/.test(s)) return { error: `not a drop reason name: ${JSON.stringify(text)} (e.g. NETFILTER_DROP, NO_SOCKET; \`fovea reasons\` lists this kernel's)` };
  return s;
}

export function parseVerdict(text: string): Verdict | Invalid {
  const s = text.trim().toUpperCase();
  const v = VERDICTS.find((x) => x === s);
  return v ?? { error: `unknown verdict ${JSON.stringify(text)}: one of ${VERDICTS.join(', ')}${hint(s, VERDICTS)}` };
}

export function parseProtocol(text: string): FilterProtocol | Invalid {
  const s = text.trim().toLowerCase();
  const p = FILTER_PROTOCOLS.find((x) => x === s || (x === 'icmp' && s === 'icmpv6'));
  return p ?? { error: `unknown protocol ${JSON.stringify(text)}: one of ${FILTER_PROTOCOLS.join(', ')}${hint(s, FILTER_PROTOCOLS)}` };
}

export function parsePort(text: string): number | Invalid {
  const s = text.trim();
  if (!/^\d+$/.test(s)) return { error: `not a port number: ${JSON.stringify(text)}` };
  const n = Number(s);
  if (n > 65535) return { error: `port ${s} is out of range: ports are 0..65535` };
  return n;
}

/** Kubernetes object names: lower-case alphanumerics, '-' and '.'; upper case tolerated. */
const NAME_RE = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/;
const NAME_PREFIX_RE = /^[A-Za-z0-9._-]*$/;

export function parseNamespace(text: string): string | Invalid {
  const s = text.trim();
  if (!NAME_RE.test(s) || s.length > 253) return { error: `not a namespace name: ${JSON.stringify(text)}` };
  return s;
}

export function parsePodSelector(text: string): PodSelector | Invalid {
  const s = text.trim();
  const bad = { error: `not a pod: ${JSON.stringify(text)} (expected name, namespace/name, or a prefix ending in "*": namespace/web-*)` };
  const parts = s.split('/');
  if (parts.length > 2) return bad;
  const nameWithStar = parts[parts.length - 1]!;
  const namespace = parts.length === 2 ? parts[0]! : undefined;
  if (namespace !== undefined && !NAME_RE.test(namespace)) return bad;
  const prefix = nameWithStar.endsWith('*');
  const name = prefix ? nameWithStar.slice(0, -1) : nameWithStar;
  if (prefix ? !NAME_PREFIX_RE.test(name) || (name === '' && namespace === undefined) : !NAME_RE.test(name)) return bad;
  return { ...(namespace !== undefined ? { namespace } : {}), name, prefix };
}

const RFC3339_RE = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** "30s", "5m", "1h", "1.5h", "250ms" (a duration before now) or an RFC3339 time → Unix ms. */
export function parseSince(text: string, nowMs: number): number | Invalid {
  const s = text.trim();
  const bad = { error: `not a duration or time: ${JSON.stringify(text)} (examples: 30s, 5m, 1h, 2024-05-01T12:00:00Z)` };
  if (RFC3339_RE.test(s)) {
    const t = Date.parse(s.replace(' ', 'T'));
    return Number.isFinite(t) ? t : bad;
  }
  // a bare number would be milliseconds to the config parser: too easy to misread here
  if (!/[a-z]\s*$/i.test(s)) return bad;
  const ms = parseDuration(s);
  return typeof ms === 'number' && Number.isFinite(ms) ? nowMs - ms : bad;
}

/** A `--dns-name` suffix: a DNS name (labels of [A-Za-z0-9_-], dots), any case, a leading dot allowed. */
export function parseDnsSuffix(text: string): string | Invalid {
  const s = text.trim().toLowerCase().replace(/^\./, '').replace(/\.$/, '');
  if (!s || s.length > 253 || !s.split('.').every((l) => /^[a-z0-9_*-]{1,63}$/.test(l))) {
    return { error: `not a DNS name suffix: ${JSON.stringify(text)} (e.g. svc.cluster.local)` };
  }
  return s;
}

const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE', 'TIMEOUT'];

/** An `--rcode` value: a response code name (or RCODE<n>), or TIMEOUT; any case. */
export function parseRcode(text: string): string | Invalid {
  const s = text.trim().toUpperCase();
  if (RCODES.includes(s) || /^RCODE\d{1,4}$/.test(s)) return s;
  return { error: `unknown response code ${JSON.stringify(text)}: one of ${RCODES.join(', ')}${hint(s, RCODES)}` };
}

/** An `--event` value, any case. */
export function parseEventKind(text: string): string | Invalid {
  const s = text.trim().toLowerCase();
  if (EVENT_KINDS[s]) return s;
  const kinds = Object.keys(EVENT_KINDS);
  return { error: `unknown event ${JSON.stringify(text)}: one of ${kinds.join(', ')}${hint(s, kinds)}` };
}

// ---------------------------------------------------------------------------------------------
// Flags → filter

/** Flag values as node:util parseArgs returns them (every filter flag repeatable). */
export interface FilterFlagValues {
  readonly event?: readonly string[];
  readonly 'dns-name'?: readonly string[];
  readonly rcode?: readonly string[];
  readonly verdict?: readonly string[];
  readonly reason?: readonly string[];
  readonly pod?: readonly string[];
  readonly namespace?: readonly string[];
  readonly ip?: readonly string[];
  readonly port?: readonly string[];
  readonly protocol?: readonly string[];
  readonly since?: string;
}

export type ParsedFilter =
  | { readonly ok: true; readonly filter: EventFilter }
  | { readonly ok: false; readonly issues: ConfigIssue[] };

/** Every value of every flag (repeated, or comma-separated), deduplicated in order. */
function collect<T>(flag: string, raw: readonly string[] | undefined, parse: (s: string) => T | Invalid,
  issues: ConfigIssue[]): T[] {
  const out: T[] = [];
  const seen = new Set<string>();
  for (const value of raw ?? []) {
    for (const part of value.split(',')) {
      const r = parse(part);
      if (isInvalid(r)) {
        issues.push({ source: 'flag', path: '', origin: `--${flag}`, message: r.error });
        continue;
      }
      const k = JSON.stringify(r);
      if (!seen.has(k)) { seen.add(k); out.push(r); }
    }
  }
  return out;
}

/** CLI values → a filter; every bad value reported (as flag issues), none thrown. */
export function parseFilterFlags(values: FilterFlagValues, nowMs: number = Date.now()): ParsedFilter {
  const issues: ConfigIssue[] = [];
  const events = collect('event', values.event, parseEventKind, issues);
  const dnsNames = collect('dns-name', values['dns-name'], parseDnsSuffix, issues);
  const rcodes = collect('rcode', values.rcode, parseRcode, issues);
  const filter: EventFilter = {
    ...(events.length ? { events } : {}),
    ...(dnsNames.length ? { dnsNames } : {}),
    ...(rcodes.length ? { rcodes } : {}),
    verdicts: collect('verdict', values.verdict, parseVerdict, issues),
    reasons: collect('reason', values.reason, parseReason, issues),
    pods: collect('pod', values.pod, parsePodSelector, issues),
    namespaces: collect('namespace', values.namespace, parseNamespace, issues),
    ips: collect('ip', values.ip, parseIpPrefix, issues),
    ports: collect('port', values.port, parsePort, issues),
    protocols: collect('protocol', values.protocol, parseProtocol, issues),
  };
  let sinceMs: number | undefined;
  if (values.since !== undefined) {
    const r = parseSince(values.since, nowMs);
    if (isInvalid(r)) issues.push({ source: 'flag', path: '', origin: '--since', message: r.error });
    else sinceMs = r;
  }
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, filter: sinceMs === undefined ? filter : { ...filter, sinceMs } };
}

// ---------------------------------------------------------------------------------------------
// Matching

export type EventMatcher = (ev: NetworkEvent) => boolean;

interface CompiledPrefix { readonly version: 4 | 6; readonly network: bigint; readonly mask: bigint }

/** Parsed event addresses: events repeat the same few addresses, so parse each once. */
const IP_CACHE_MAX = 4096;

/**
 * A fast predicate for `filter`: the agent compiles a client's filter once and runs it on every
 * event. Cheapest checks first; the IP check parses an address only when an IP filter is set.
 */
export function compileFilter(filter: EventFilter): EventMatcher {
  const names = new Set<string>((filter.events ?? []).flatMap((k) => EVENT_KINDS[k] ?? []));
  const dnsNames = filter.dnsNames ?? [];
  const rcodes = new Set(filter.rcodes ?? []);
  const verdicts = new Set<string>(filter.verdicts);
  const reasons = new Set(filter.reasons.map((r) => r.toUpperCase()));
  const protocols = new Set<string>(filter.protocols);
  if (protocols.has('other')) protocols.add('unknown');
  const ports = new Set(filter.ports);
  const namespaces = new Set(filter.namespaces);
  const pods = filter.pods;
  const since = filter.sinceMs;
  const prefixes: CompiledPrefix[] = [];
  for (const p of filter.ips) {
    const n = ipNumber(p.address);
    if (n === undefined) continue; // validated before it gets here
    const mask = maskOf(n.version, p.prefixLength);
    prefixes.push({ version: n.version, network: n.value & mask, mask });
  }
  const cache = new Map<string, IpNumber | null>();
  const parsed = (ip: string): IpNumber | null => {
    let n = cache.get(ip);
    if (n === undefined) {
      if (cache.size >= IP_CACHE_MAX) cache.clear();
      n = ipNumber(ip) ?? null;
      cache.set(ip, n);
    }
    return n;
  };
  const ipMatches = (ip: string): boolean => {
    if (ip === '') return false;
    const n = parsed(ip);
    if (n === null) return false;
    for (const p of prefixes) if (p.version === n.version && (n.value & p.mask) === p.network) return true;
    return false;
  };
  const podMatches = (ns: string | undefined, pod: string | undefined): boolean => {
    if (pod === undefined) return false;
    for (const s of pods) {
      if (s.namespace !== undefined && s.namespace !== ns) continue;
      if (s.prefix ? pod.startsWith(s.name) : pod === s.name) return true;
    }
    return false;
  };

  return (ev) => {
    if (since !== undefined && !(ev.timeMs >= since)) return false;
    if (names.size > 0 && !names.has(ev.name)) return false;
    if (dnsNames.length > 0 && !(ev.dns?.name !== undefined && dnsNames.some((sfx) => nameMatchesSuffix(ev.dns!.name!, sfx)))) return false;
    if (rcodes.size > 0 && !(ev.dns && rcodes.has(ev.dns.kind === 'timeout' ? 'TIMEOUT' : ev.dns.rcode ?? ''))) return false;
    if (verdicts.size > 0 && (ev.verdict === undefined || !verdicts.has(ev.verdict))) return false;
    if (reasons.size > 0 && (ev.reason === undefined || !reasons.has(ev.reason.toUpperCase()))) return false;
    if (protocols.size > 0 && !protocols.has(ev.transport)) return false;
    const src = ev.source;
    const dst = ev.destination;
    if (ports.size > 0 && !((src.port !== undefined && ports.has(src.port)) || (dst.port !== undefined && ports.has(dst.port)))) return false;
    if (namespaces.size > 0 && !((src.namespace !== undefined && namespaces.has(src.namespace))
      || (dst.namespace !== undefined && namespaces.has(dst.namespace)))) return false;
    if (pods.length > 0 && !podMatches(src.namespace, src.pod) && !podMatches(dst.namespace, dst.pod)) return false;
    if (prefixes.length > 0 && !ipMatches(src.ip) && !ipMatches(dst.ip)) return false;
    return true;
  };
}

/** Whether `ev` passes `filter` (compiles the filter each call: use compileFilter in loops). */
export function matches(ev: NetworkEvent, filter: EventFilter): boolean {
  return compileFilter(filter)(ev);
}

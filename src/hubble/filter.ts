/**
 * Server-side evaluation of Hubble `flow.FlowFilter` messages (GetFlowsRequest whitelist and
 * blacklist), with the semantics of Cilium's pkg/hubble/filters, quirks included, so that
 * `hubble observe` flags, Hubble Relay and Hubble UI select the same flows from Fovea as from a
 * Cilium agent:
 *
 * - a flow is sent when it matches one whitelist entry (or the whitelist is empty) and no
 *   blacklist entry; within an entry every field that is set must match; within a field, one of
 *   its values must match;
 * - a repeated field that is empty is not set (Go's nil after unmarshalling);
 * - a value upstream refuses (empty pod name, bad port, unknown protocol, bad IP, bad regexp, bad
 *   label selector, …) throws FilterError, which the server answers with INVALID_ARGUMENT;
 * - the one field Fovea cannot evaluate, `experimental.cel_expression`, throws FilterError too:
 *   ignoring a filter would make a blacklist entry match everything.
 *
 * Filters are compiled once per request; the per-flow predicate runs pre-built closures and
 * allocates nothing on the common paths (no regexps for exact matches, label lists parsed once
 * per list, IP prefixes checked against a reused scratch buffer).
 */
import protobuf from 'protobufjs';
import { compileGoRegexp, equalFold, goToLower, goTrimSpace } from './go-regexp.js';
import { hubbleTypes } from './proto.js';
import { requestURIPath } from './go-url.js';
import type { Flow, Layer4 } from './types.js';
import {
  addrError, compileLabelSelector, LabelArrayCache, parseAddrInto, parsePrefix, prefixContains,
  type IpPrefix, type LabelSelector,
} from './label-selector.js';

/** A filter the server refuses (gRPC INVALID_ARGUMENT); the message says which entry and why. */
export class FilterError extends Error {
  override readonly name = 'FilterError';
}

export type FlowPredicate = (flow: Flow) => boolean;
type Check = FlowPredicate;

// Cilium's monitor message type of L7 access-log events (pkg/monitor/api MessageTypeAccessLog)
const MESSAGE_TYPE_ACCESS_LOG = 129;
// flow.Verdict DROPPED
const DROPPED = 2;
// ciliumDefaults.ClusterName: the cluster of a node name written without one
const DEFAULT_CLUSTER = 'default';

// ---------------------------------------------------------------------------------------------
// Reading a FlowFilter (a decoded protobufjs message or a plain object with the .proto's names)

type Fields = Readonly<Record<string, unknown>>;

function isFields(v: unknown): v is Fields {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const UINT64_LIMIT = 2n ** 64n;

/** A uint64 as protobufjs gives it (Long, number, string) or a bigint. */
function toUint64(v: unknown): bigint | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? BigInt(v) : undefined;
  if (typeof v === 'bigint') return v >= 0n && v < UINT64_LIMIT ? v : undefined;
  if (typeof v === 'string') return /^[0-9]+$/.test(v) && BigInt(v) < UINT64_LIMIT ? BigInt(v) : undefined;
  if (isFields(v) && typeof v['low'] === 'number' && typeof v['high'] === 'number') {
    return (BigInt(v['high'] >>> 0) << 32n) | BigInt(v['low'] >>> 0);
  }
  return undefined;
}

/** One whitelist/blacklist entry, read field by field; errors name the entry. */
class Entry {
  constructor(readonly fields: Fields, readonly where: string) {}

  error(message: string): FilterError {
    return new FilterError(`${this.where}: ${message}`);
  }

  /** A repeated field: undefined when absent or empty (upstream's nil). */
  list(name: string): readonly unknown[] | undefined {
    const v = this.fields[name];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) throw this.error(`${name} must be a list`);
    return v.length ? v : undefined;
  }

  #typed<T>(name: string, ok: (v: unknown) => v is T, what: string): readonly T[] | undefined {
    const l = this.list(name);
    if (l && !l.every(ok)) throw this.error(`${name} must hold ${what}`);
    return l as readonly T[] | undefined;
  }

  strings(name: string): readonly string[] | undefined {
    return this.#typed(name, (v): v is string => typeof v === 'string', 'strings');
  }

  bools(name: string): readonly boolean[] | undefined {
    return this.#typed(name, (v): v is boolean => typeof v === 'boolean', 'booleans');
  }

  uint32s(name: string): readonly number[] | undefined {
    return this.#typed(name, (v): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff, 'uint32 numbers');
  }

  /** An enum field: numbers, or value names resolved with the .proto's enum. */
  enums(name: string): readonly number[] | undefined {
    const l = this.list(name);
    if (!l) return undefined;
    const type = hubbleTypes().FlowFilter.fields[name]?.resolvedType;
    const values = type instanceof protobuf.Enum ? type.values : {};
    return l.map((v) => {
      if (typeof v === 'number' && Number.isInteger(v)) return v;
      if (typeof v === 'string' && values[v] !== undefined) return values[v];
      throw this.error(`${name}: ${JSON.stringify(v)} is not a value of the enum`);
    });
  }

  messages(name: string): readonly Fields[] | undefined {
    return this.#typed(name, isFields, 'messages');
  }
}

function str(m: Fields, name: string): string {
  const v = m[name];
  return typeof v === 'string' ? v : '';
}
function num(m: Fields, name: string): number {
  const v = m[name];
  return typeof v === 'number' ? v : 0;
}
function bool(m: Fields, name: string): boolean {
  return m[name] === true;
}

// ---------------------------------------------------------------------------------------------
// Matching helpers

function oneOf<T>(values: readonly T[]): (v: T) => boolean {
  if (values.length === 1) {
    const only = values[0];
    return (v) => v === only;
  }
  if (values.length <= 8) return (v) => values.includes(v);
  const set = new Set(values);
  return (v) => set.has(v);
}

function anyOf(checks: readonly Check[]): Check {
  if (checks.length === 1) return checks[0]!;
  return (f) => {
    for (let i = 0; i < checks.length; i++) if (checks[i]!(f)) return true;
    return false;
  };
}

function allOf(checks: readonly Check[]): Check {
  switch (checks.length) {
    case 0: return () => true;
    case 1: return checks[0]!;
    case 2: {
      const [a, b] = checks as [Check, Check];
      return (f) => a(f) && b(f);
    }
    default:
      return (f) => {
        for (let i = 0; i < checks.length; i++) if (!checks[i]!(f)) return false;
        return true;
      };
  }
}

/** Shared by every entry of one compileFlowFilters call. */
interface Context {
  readonly labels: LabelArrayCache;
}

type Builder = (e: Entry, out: Check[], ctx: Context) => void;

type FlowEndpoint = NonNullable<Flow['source']>;
type Endpoint = (f: Flow) => FlowEndpoint | undefined;
const sourceEndpoint: Endpoint = (f) => f.source ?? undefined;
const destinationEndpoint: Endpoint = (f) => f.destination ?? undefined;

// ---------------------------------------------------------------------------------------------
// The filters, one builder per upstream file

/** ip.go: exact addresses compared as written, CIDRs with netip semantics. */
function ipCheck(e: Entry, values: readonly string[], get: (f: Flow) => string | undefined): Check {
  const exact: string[] = [];
  const prefixes: IpPrefix[] = [];
  const scratch = new Uint8Array(16);
  for (const ip of values) {
    if (ip.includes('/')) {
      const p = parsePrefix(ip);
      if (typeof p === 'string') throw e.error(`invalid IP prefix ${JSON.stringify(ip)} in filter: ${p}`);
      prefixes.push(p);
    } else {
      const kind = parseAddrInto(ip, scratch);
      if (kind < 0) throw e.error(`invalid IP address ${JSON.stringify(ip)} in filter: ${addrError(kind)}`);
      exact.push(ip);
    }
  }
  const isExact = oneOf(exact);
  return (f) => {
    const ip = get(f);
    if (!ip) return false;
    if (exact.length && isExact(ip)) return true;
    if (prefixes.length === 0) return false;
    // the scratch buffer belongs to this closure and is read before it returns
    const kind = parseAddrInto(ip, scratch);
    if (kind < 0) return false;
    for (let i = 0; i < prefixes.length; i++) if (prefixContains(prefixes[i]!, kind, scratch)) return true;
    return false;
  };
}

/** k8s/utils.go ParseNamespaceName: "ns/name", "ns/" (any name), "/name" (any namespace), "name" (namespace "default"). */
function parseNamespaceName(s: string): [namespace: string, name: string] {
  const parts = s.split('/');
  const ns = parts[0]!;
  if (parts.length > 1) return [ns, parts[1]!];
  return ns === '' ? ['', ''] : ['default', ns];
}

/** k8s.go: the name is a prefix; an event without namespace and name never matches. */
function namespacedNameCheck(e: Entry, what: string, names: readonly string[], ns: (f: Flow) => string, name: (f: Flow) => string): Check {
  const wanted = names.map((n) => {
    if (n === '') throw e.error(`${what}invalid filter, name must not be empty`);
    const [namespace, prefix] = parseNamespaceName(n);
    return { namespace, prefix };
  });
  return (f) => {
    const eventNs = ns(f);
    const eventName = name(f);
    if (eventNs === '' && eventName === '') return false;
    for (const w of wanted) {
      if ((w.prefix === '' || eventName.startsWith(w.prefix)) && (w.namespace === '' || w.namespace === eventNs)) return true;
    }
    return false;
  };
}

const FQDN_ANY = '(?:[-0-9_a-z]+(?:\\.[-0-9_a-z]+)*)';
const FQDN_ANY_RE = new RegExp(`^${FQDN_ANY}$`);

interface NamePattern {
  /** the name itself when the pattern has no '*' */
  readonly exact?: string;
  /** regexp source (unanchored) */
  readonly source: string;
}

/** patterns.go: trimmed, one trailing dot dropped, lower-cased; '*' matches `[-.0-9a-z]*`. */
function fqdnPattern(pattern: string): NamePattern {
  let p = goTrimSpace(pattern);
  if (p.endsWith('.')) p = p.slice(0, -1);
  p = goToLower(p);
  if (p === '') throw new Error('empty pattern');
  if (p.endsWith('.')) throw new Error('multiple trailing dots in pattern');
  let source = '';
  let wildcard = false;
  for (const ch of p) {
    if (ch === '.') source += '\\.';
    else if (ch === '*') {
      source += '[-.0-9a-z]*';
      wildcard = true;
    } else if (/^[-0-9_a-z]$/.test(ch)) source += ch;
    else throw new Error(`${JSON.stringify(ch)}: invalid rune in pattern`);
  }
  return wildcard ? { source } : { exact: p, source };
}

function nameMatcher(p: NamePattern | undefined): (name: string) => boolean {
  if (!p) return (name) => FQDN_ANY_RE.test(name);
  if (p.exact !== undefined) {
    const exact = p.exact;
    return (name) => name === exact;
  }
  const re = new RegExp(`^(?:${p.source})$`);
  return (name) => re.test(name);
}

/** fqdn.go: one of the endpoint's names matches one pattern. */
function fqdnCheck(e: Entry, what: string, patterns: readonly string[], names: (f: Flow) => readonly string[] | undefined): Check {
  const exact = new Set<string>();
  const wild: string[] = [];
  for (const pattern of patterns) {
    let p: NamePattern;
    try {
      p = fqdnPattern(pattern);
    } catch (err) {
      throw e.error(`invalid ${what} filter: ${(err as Error).message}`);
    }
    if (p.exact !== undefined) exact.add(p.exact);
    else wild.push(p.source);
  }
  const re = wild.length ? new RegExp(`^(?:${wild.join('|')})$`) : undefined;
  return (f) => {
    const list = names(f);
    if (!list) return false;
    for (let i = 0; i < list.length; i++) {
      const n = list[i]!;
      if (exact.has(n) || (re !== undefined && re.test(n))) return true;
    }
    return false;
  };
}

/**
 * nodename.go: patterns `[cluster/]node`, each part an FQDN pattern (empty: any); a pattern
 * without a cluster matches every cluster, and a node name without one is in cluster "default".
 */
function nodeNameCheck(e: Entry, patterns: readonly string[]): Check {
  const full: string[] = [];
  const local: Array<(name: string) => boolean> = [];
  for (const pattern of patterns) {
    try {
      if (pattern === '') throw new Error('empty pattern');
      const parts = pattern.split('/');
      if (parts.length > 2) throw new Error('too many slashes in pattern');
      const [clusterText, nodeText] = parts.length === 1 ? ['', parts[0]!] : [parts[0]!, parts[1]!];
      const cluster = clusterText === '' ? undefined : fqdnPattern(clusterText);
      const node = nodeText === '' ? undefined : fqdnPattern(nodeText);
      full.push(`${cluster?.source ?? FQDN_ANY}/${node?.source ?? FQDN_ANY}`);
      // decided now for names without a cluster, so they need no "default/" prefix per flow
      if (nameMatcher(cluster)(DEFAULT_CLUSTER)) local.push(nameMatcher(node));
    } catch (err) {
      throw e.error(`invalid node name filter: ${(err as Error).message}`);
    }
  }
  const re = new RegExp(`^(?:${full.join('|')})$`);
  return (f) => {
    const name = f.node_name;
    if (!name) return false;
    if (name.indexOf('/') >= 0) return re.test(name);
    for (let i = 0; i < local.length; i++) if (local[i]!(name)) return true;
    return false;
  };
}

function labelCheck(e: Entry, what: string, selectors: readonly string[], labels: (f: Flow) => readonly string[] | undefined, ctx: Context): Check {
  const compiled: LabelSelector[] = selectors.map((s) => {
    try {
      return compileLabelSelector(s);
    } catch (err) {
      throw e.error(`invalid ${what} label filter: ${(err as Error).message}`);
    }
  });
  const cache = ctx.labels;
  return (f) => {
    const ls = cache.get(labels(f));
    for (let i = 0; i < compiled.length; i++) if (compiled[i]!(ls)) return true;
    return false;
  };
}

/** port.go: decimal uint16 strings; the port of TCP, else UDP, else SCTP. */
function portCheck(e: Entry, what: string, values: readonly string[], source: boolean): Check {
  const ports = values.map((p) => {
    if (!/^[0-9]+$/.test(p) || Number(p) > 0xffff) throw e.error(`invalid ${what} port filter: invalid port ${JSON.stringify(p)}`);
    return Number(p);
  });
  const has = oneOf(ports);
  return (f) => {
    const l4 = f.l4;
    if (l4 == null) return false;
    const ports = l4.TCP ?? l4.UDP ?? l4.SCTP;
    if (ports == null) return false;
    return has(((source ? ports.source_port : ports.destination_port) ?? 0) & 0xffff);
  };
}

function regexps(e: Entry, patterns: readonly string[], describe: (pattern: string, reason: string) => string): RegExp[] {
  return patterns.map((p) => {
    try {
      return compileGoRegexp(p);
    } catch (err) {
      throw e.error(describe(p, (err as Error).message));
    }
  });
}

function matchesOne(res: readonly RegExp[], s: string): boolean {
  for (let i = 0; i < res.length; i++) if (res[i]!.test(s)) return true;
  return false;
}

type HttpView = NonNullable<NonNullable<Flow['l7']>['http']>;
const httpOf = (f: Flow): HttpView | undefined => f.l7?.http ?? undefined;

const TCP_FLAGS = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR', 'NS'] as const;

function flagMask(flags: object): number {
  const f = flags as Readonly<Record<string, unknown>>;
  let mask = 0;
  for (let i = 0; i < TCP_FLAGS.length; i++) if (f[TCP_FLAGS[i]!] === true) mask |= 1 << i;
  return mask;
}

type L4Extra = Layer4 & { readonly VRRP?: object | null; readonly IGMP?: object | null };

const L4_PROTOCOLS = ['icmp', 'icmpv4', 'icmpv6', 'tcp', 'udp', 'sctp', 'vrrp', 'igmp'] as const;
const L7_PROTOCOLS = ['dns', 'http', 'kafka'] as const;
const EXPERIMENTAL_FIELDS: ReadonlySet<string> = new Set(['cel_expression']);

/** In upstream's DefaultFilters order, so the first error reported is the one Hubble reports. */
const BUILDERS: ReadonlyArray<readonly [fields: readonly string[], build: Builder]> = [
  [['uuid'], (e, out) => {
    const v = e.strings('uuid');
    if (v) {
      const has = oneOf(v);
      out.push((f) => has(f.uuid ?? ''));
    }
  }],
  [['event_type'], (e, out) => {
    const types = e.messages('event_type')?.map((m) => ({ type: num(m, 'type'), matchSub: bool(m, 'match_sub_type'), sub: num(m, 'sub_type') }));
    if (!types) return;
    out.push((f) => {
      const ev = f.event_type;
      if (ev == null) return false;
      const type = ev.type ?? 0;
      const sub = ev.sub_type ?? 0;
      for (const t of types) {
        if (t.type !== 0 && t.type !== type) continue;
        if (t.matchSub && t.sub !== sub) continue;
        return true;
      }
      return false;
    });
  }],
  [['verdict'], (e, out) => {
    const v = e.enums('verdict');
    if (v) {
      const has = oneOf(v);
      out.push((f) => has(f.verdict ?? 0));
    }
  }],
  [['drop_reason_desc'], (e, out) => {
    const v = e.enums('drop_reason_desc');
    if (v) {
      const has = oneOf(v);
      out.push((f) => f.verdict === DROPPED && has(f.drop_reason_desc ?? 0));
    }
  }],
  [['reply'], (e, out) => {
    const v = e.bools('reply');
    if (v) {
      const has = oneOf(v);
      // upstream: a DROPPED flow without is_reply counts as not a reply (old clients filtered the
      // deprecated `reply`, always false on drops); any other flow without is_reply never matches
      out.push((f) => (f.is_reply == null ? f.verdict === DROPPED && has(false) : has(f.is_reply.value ?? false)));
    }
  }],
  [['encrypted'], (e, out) => {
    const v = e.bools('encrypted');
    if (v) {
      const has = oneOf(v);
      out.push((f) => has(f.IP?.encrypted ?? false));
    }
  }],
  [['source_identity', 'destination_identity'], (e, out) => {
    for (const [name, endpoint] of [['source_identity', sourceEndpoint], ['destination_identity', destinationEndpoint]] as const) {
      const v = e.uint32s(name);
      if (!v) continue;
      const has = oneOf(v);
      out.push((f) => {
        const ep = endpoint(f);
        return ep != null && has(ep.identity ?? 0);
      });
    }
  }],
  [['protocol'], (e, out) => {
    const v = e.strings('protocol');
    if (!v) return;
    const want = new Set<string>();
    for (const p of v) {
      const lower = goToLower(p);
      if (!(L4_PROTOCOLS as readonly string[]).includes(lower) && !(L7_PROTOCOLS as readonly string[]).includes(lower)) {
        throw e.error(`invalid protocol filter: unknown protocol: ${JSON.stringify(p)}`);
      }
      want.add(lower);
    }
    const icmp4 = want.has('icmp') || want.has('icmpv4');
    const icmp6 = want.has('icmp') || want.has('icmpv6');
    const tcp = want.has('tcp');
    const udp = want.has('udp');
    const sctp = want.has('sctp');
    const vrrp = want.has('vrrp');
    const igmp = want.has('igmp');
    const dns = want.has('dns');
    const http = want.has('http');
    const kafka = want.has('kafka');
    out.push((f) => {
      const l4 = f.l4 as L4Extra | undefined;
      if (l4 != null) {
        if ((tcp && l4.TCP != null) || (udp && l4.UDP != null) || (icmp4 && l4.ICMPv4 != null) || (icmp6 && l4.ICMPv6 != null)
          || (sctp && l4.SCTP != null) || (vrrp && l4.VRRP != null) || (igmp && l4.IGMP != null)) return true;
      }
      const l7 = f.l7;
      return l7 != null && ((dns && l7.dns != null) || (http && l7.http != null) || (kafka && l7.kafka != null));
    });
  }],
  [['source_ip', 'destination_ip', 'source_ip_xlated'], (e, out) => {
    const getters: ReadonlyArray<readonly [string, (f: Flow) => string | undefined]> = [
      ['source_ip', (f) => f.IP?.source], ['destination_ip', (f) => f.IP?.destination], ['source_ip_xlated', (f) => f.IP?.source_xlated],
    ];
    for (const [name, get] of getters) {
      const v = e.strings(name);
      if (v) out.push(ipCheck(e, v, get));
    }
  }],
  [['source_pod', 'destination_pod'], (e, out) => {
    for (const [name, endpoint] of [['source_pod', sourceEndpoint], ['destination_pod', destinationEndpoint]] as const) {
      const v = e.strings(name);
      if (v) out.push(namespacedNameCheck(e, '', v, (f) => endpoint(f)?.namespace ?? '', (f) => endpoint(f)?.pod_name ?? ''));
    }
  }],
  [['source_workload', 'destination_workload'], (e, out) => {
    for (const [name, endpoint] of [['source_workload', sourceEndpoint], ['destination_workload', destinationEndpoint]] as const) {
      const wanted = e.messages(name)?.map((m) => ({ name: str(m, 'name'), kind: str(m, 'kind') }));
      if (!wanted) continue;
      // an empty name or kind matches any
      out.push((f) => {
        const workloads = endpoint(f)?.workloads;
        if (!workloads) return false;
        for (const w of workloads) {
          for (const x of wanted) {
            if ((x.name === '' || x.name === (w.name ?? '')) && (x.kind === '' || x.kind === (w.kind ?? ''))) return true;
          }
        }
        return false;
      });
    }
  }],
  [['source_service', 'destination_service'], (e, out) => {
    const src = e.strings('source_service');
    if (src) out.push(namespacedNameCheck(e, 'invalid source service filter: ', src, (f) => f.source_service?.namespace ?? '', (f) => f.source_service?.name ?? ''));
    const dst = e.strings('destination_service');
    if (dst) out.push(namespacedNameCheck(e, 'invalid destination service filter: ', dst, (f) => f.destination_service?.namespace ?? '', (f) => f.destination_service?.name ?? ''));
  }],
  [['source_fqdn', 'destination_fqdn', 'dns_query'], (e, out) => {
    const src = e.strings('source_fqdn');
    if (src) out.push(fqdnCheck(e, 'source fqdn', src, (f) => f.source_names));
    const dst = e.strings('destination_fqdn');
    if (dst) out.push(fqdnCheck(e, 'destination fqdn', dst, (f) => f.destination_names));
    const queries = e.strings('dns_query');
    if (queries) {
      const res = regexps(e, queries, (p, r) => `invalid DNS query filter: failed to compile regexp ${JSON.stringify(p)}: ${r}`);
      out.push((f) => {
        const dns = f.l7?.dns;
        return dns != null && matchesOne(res, dns.query ?? '');
      });
    }
  }],
  [['source_label', 'destination_label', 'node_labels'], (e, out, ctx) => {
    const src = e.strings('source_label');
    if (src) out.push(labelCheck(e, 'source', src, (f) => f.source?.labels, ctx));
    const dst = e.strings('destination_label');
    if (dst) out.push(labelCheck(e, 'destination', dst, (f) => f.destination?.labels, ctx));
    const node = e.strings('node_labels');
    if (node) out.push(labelCheck(e, 'node', node, (f) => f.node_labels, ctx));
  }],
  [['source_port', 'destination_port'], (e, out) => {
    const src = e.strings('source_port');
    if (src) out.push(portCheck(e, 'source', src, true));
    const dst = e.strings('destination_port');
    if (dst) out.push(portCheck(e, 'destination', dst, false));
  }],
  [['http_status_code', 'http_method', 'http_path', 'http_url', 'http_header'], (e, out) => {
    // upstream refuses HTTP filters unless the entry's event types include access-log (L7) events
    const types = e.messages('event_type');
    const compatible = !types || types.some((t) => num(t, 'type') === MESSAGE_TYPE_ACCESS_LOG);
    const requireL7 = (what: string): void => {
      if (!compatible) throw e.error(`filtering by ${what} requires the event type filter to only match 'l7' events`);
    };
    const codes = e.strings('http_status_code');
    if (codes) {
      requireL7('http status code');
      const full: string[] = [];
      const prefixes: string[] = [];
      for (const s of codes) {
        if (/^[1-5][0-9]{2}$/.test(s)) full.push(s);
        else if (/^[1-5][0-9]?\+$/.test(s)) prefixes.push(s.slice(0, -1));
        else throw e.error(`invalid http status code filter: invalid status code prefix: ${JSON.stringify(s)}`);
      }
      out.push((f) => {
        const code = httpOf(f)?.code ?? 0;
        if (code === 0) return false;
        const text = String(code).padStart(3, '0');
        return full.includes(text) || prefixes.some((p) => text.startsWith(p));
      });
    }
    const methods = e.strings('http_method');
    if (methods) {
      requireL7('http method');
      out.push((f) => {
        const method = httpOf(f)?.method;
        return !!method && methods.some((m) => equalFold(method, m));
      });
    }
    const paths = e.strings('http_path');
    if (paths) {
      requireL7('http path');
      const res = regexps(e, paths, (p, r) => `invalid http path filter: ${p}: ${r}`);
      out.push((f) => {
        const url = httpOf(f)?.url;
        if (!url) return false;
        const path = requestURIPath(url);
        return path !== undefined && matchesOne(res, path);
      });
    }
    const urls = e.strings('http_url');
    if (urls) {
      requireL7('http url');
      const res = regexps(e, urls, (p, r) => `invalid http url filter: ${p}: ${r}`);
      out.push((f) => {
        const url = httpOf(f)?.url;
        return !!url && matchesOne(res, url);
      });
    }
    const headers = e.messages('http_header')?.map((m) => ({ key: str(m, 'key'), value: str(m, 'value') }));
    if (headers) {
      requireL7('http headers');
      out.push((f) => {
        const have = httpOf(f)?.headers;
        if (!have || have.length === 0) return false;
        for (const h of have) {
          for (const w of headers) if (w.key === (h.key ?? '') && w.value === (h.value ?? '')) return true;
        }
        return false;
      });
    }
  }],
  [['tcp_flags'], (e, out) => {
    // one entry matches when the flow has all of its flags (and maybe more)
    const masks = e.messages('tcp_flags')?.map(flagMask);
    if (!masks) return;
    out.push((f) => {
      const flags = f.l4?.TCP?.flags;
      if (flags == null) return false;
      const have = flagMask(flags);
      for (const m of masks) if ((have & m) === m) return true;
      return false;
    });
  }],
  [['node_name'], (e, out) => {
    const v = e.strings('node_name');
    if (v) out.push(nodeNameCheck(e, v));
  }],
  [['source_cluster_name', 'destination_cluster_name'], (e, out) => {
    for (const [name, endpoint] of [['source_cluster_name', sourceEndpoint], ['destination_cluster_name', destinationEndpoint]] as const) {
      const v = e.strings(name);
      if (!v) continue;
      if (v.includes('')) throw e.error('invalid filter, name must not be empty');
      const has = oneOf(v);
      out.push((f) => has(endpoint(f)?.cluster_name ?? ''));
    }
  }],
  [['ip_version'], (e, out) => {
    const v = e.enums('ip_version');
    if (v) {
      const has = oneOf(v);
      out.push((f) => has(f.IP?.ipVersion ?? 0));
    }
  }],
  [['trace_id'], (e, out) => {
    const v = e.strings('trace_id');
    if (v) {
      const has = oneOf(v);
      out.push((f) => has(f.trace_context?.parent?.trace_id ?? ''));
    }
  }],
  [['traffic_direction'], (e, out) => {
    const v = e.enums('traffic_direction');
    if (v) {
      const has = oneOf(v);
      out.push((f) => has(f.traffic_direction ?? 0));
    }
  }],
  [['experimental'], (e) => {
    const x = e.fields['experimental'];
    if (x === undefined || x === null) return;
    if (!isFields(x)) throw e.error('experimental must be a message');
    const inner = new Entry(x, `${e.where}.experimental`);
    if (inner.strings('cel_expression')) {
      throw e.error('cel_expression filters are not supported by this server (Fovea)');
    }
    rejectUnknownKeys(inner, EXPERIMENTAL_FIELDS);
  }],
  [['interface'], (e, out) => {
    const wanted = e.messages('interface')?.map((m) => ({ index: num(m, 'index'), name: str(m, 'name') }));
    if (!wanted) return;
    out.push((f) => {
      const iface = f.interface;
      if (iface == null) return false;
      for (const w of wanted) {
        if (w.index > 0 && w.index !== (iface.index ?? 0)) continue;
        if (w.name !== '' && w.name !== (iface.name ?? '')) continue;
        return true;
      }
      return false;
    });
  }],
  [['ip_trace_id'], (e, out) => {
    const l = e.list('ip_trace_id');
    if (!l) return;
    const ids = l.map((v) => {
      const id = toUint64(v);
      if (id === undefined) throw e.error(`ip_trace_id: ${JSON.stringify(String(v))} is not a uint64`);
      return id;
    });
    const texts = new Set(ids.map(String));
    const numbers = new Set(ids.filter((id) => id <= BigInt(Number.MAX_SAFE_INTEGER)).map(Number));
    out.push((f) => {
      const id: unknown = f.ip_trace_id?.trace_id;
      if (id === undefined || id === null) return numbers.has(0);
      if (typeof id === 'number') return numbers.has(id);
      if (typeof id === 'string') return texts.has(id);
      const big = toUint64(id);
      return big !== undefined && texts.has(big.toString());
    });
  }],
];

/** Every FlowFilter field, each evaluated or (experimental.cel_expression) refused. */
export const FILTER_FIELDS: readonly string[] = BUILDERS.flatMap(([fields]) => fields);
const KNOWN_FIELDS = new Set(FILTER_FIELDS);

/** A set field this module does not know would otherwise be ignored: refuse it instead. */
function rejectUnknownKeys(e: Entry, known: ReadonlySet<string>): void {
  for (const key of Object.keys(e.fields)) {
    if (known.has(key)) continue;
    const v = e.fields[key];
    if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) continue;
    throw e.error(`unknown field ${key}`);
  }
}

function compileEntry(filter: unknown, where: string, ctx: Context): Check {
  if (!isFields(filter)) throw new FilterError(`${where}: not a FlowFilter message`);
  const e = new Entry(filter, where);
  rejectUnknownKeys(e, KNOWN_FIELDS);
  const checks: Check[] = [];
  for (const [, build] of BUILDERS) build(e, checks, ctx);
  return allOf(checks);
}

/**
 * Compiles a GetFlowsRequest's whitelist and blacklist (decoded FlowFilter messages) into one
 * predicate: true for a flow to send. Throws FilterError for a filter upstream would refuse or
 * that Fovea cannot evaluate.
 */
export function compileFlowFilters(whitelist: readonly unknown[], blacklist: readonly unknown[]): FlowPredicate {
  const ctx: Context = { labels: new LabelArrayCache() };
  const allowed = whitelist.map((ff, i) => compileEntry(ff, `whitelist[${i}]`, ctx));
  const denied = blacklist.map((ff, i) => compileEntry(ff, `blacklist[${i}]`, ctx));
  const allow = allowed.length ? anyOf(allowed) : undefined;
  const deny = denied.length ? anyOf(denied) : undefined;
  if (!allow && !deny) return () => true;
  if (!deny) return allow!;
  if (!allow) return (f) => !deny(f);
  return (f) => allow(f) && !deny(f);
}

export { compileGoRegexp } from './go-regexp.js';
export { requestURIPath } from './go-url.js';
export { unknownFilterFields } from './filter-wire.js';

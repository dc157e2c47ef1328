/**
 * Hubble FlowFilter evaluation (src/hubble/filter.ts): every FlowFilter field with a flow it
 * matches and one it does not, the values upstream refuses, whitelist/blacklist semantics, the
 * refused CEL field, the RE2 → JS regexp translation, and the raw-bytes check for fields protobufjs
 * would drop. Filters are built the way the server gets them: encoded and decoded as a
 * GetFlowsRequest. Cases marked "upstream" restate ones of cilium/cilium pkg/hubble/filters/*_test.go.
 */
import { describe, expect, it } from 'vitest';
import {
  FILTER_FIELDS, FilterError, compileFlowFilters, compileGoRegexp, requestURIPath, unknownFilterFields,
} from '../../src/hubble/filter.js';
import { hubbleTypes } from '../../src/hubble/proto.js';
import type { Flow } from '../../src/hubble/types.js';

type FilterObject = Record<string, unknown>;

const T = hubbleTypes();

/** The whitelist and blacklist as the server sees them: encoded by a client, decoded by protobufjs. */
function decodeRequest(whitelist: readonly FilterObject[], blacklist: readonly FilterObject[] = []): { whitelist: unknown[]; blacklist: unknown[] } {
  const bytes = T.GetFlowsRequest.encode({ whitelist, blacklist }).finish();
  return T.GetFlowsRequest.decode(bytes) as unknown as { whitelist: unknown[]; blacklist: unknown[] };
}

function compile(whitelist: readonly FilterObject[], blacklist: readonly FilterObject[] = []): (f: Flow) => boolean {
  const r = decodeRequest(whitelist, blacklist);
  return compileFlowFilters(r.whitelist, r.blacklist);
}

function filterError(whitelist: readonly FilterObject[], blacklist: readonly FilterObject[] = []): string {
  try {
    compile(whitelist, blacklist);
  } catch (e) {
    expect(e).toBeInstanceOf(FilterError);
    return (e as Error).message;
  }
  throw new Error(`no FilterError for ${JSON.stringify({ whitelist, blacklist })}`);
}

/** A TCP flow as Fovea reports one (no L7, FQDN or trace data). */
const base: Flow = {
  uuid: 'a1b2', verdict: 1, Type: 1,
  IP: { source: '10.1.0.5', destination: '10.2.0.9', ipVersion: 1 },
  l4: { TCP: { source_port: 40000, destination_port: 443, flags: { SYN: true, ACK: true } } },
  source: {
    identity: 1234, namespace: 'shop', pod_name: 'checkout-7d9f-abc', cluster_name: 'c1',
    labels: ['k8s:app=checkout', 'k8s:io.kubernetes.pod.namespace=shop'], workloads: [{ name: 'checkout', kind: 'Deployment' }],
  },
  destination: {
    identity: 5678, namespace: 'payments', pod_name: 'api-0', labels: ['k8s:app=api', 'reserved:remote-node'],
    workloads: [{ name: 'api', kind: 'StatefulSet' }],
  },
  node_name: 'kind-worker', node_labels: ['kubernetes.io/hostname=kind-worker'],
  event_type: { type: 4, sub_type: 5 }, traffic_direction: 2, is_reply: { value: false },
  interface: { index: 7, name: 'lxc1a2b' }, destination_service: { name: 'api', namespace: 'payments' },
};
const drop: Flow = { ...base, verdict: 2, drop_reason_desc: 133, event_type: { type: 1, sub_type: 133 }, is_reply: undefined };
const udp: Flow = { ...base, l4: { UDP: { source_port: 5353, destination_port: 53 } } };
const icmp6: Flow = { ...base, IP: { source: 'fd00::5', destination: '2001:db8::1', ipVersion: 2 }, l4: { ICMPv6: { type: 128 } } };
const bare: Flow = { verdict: 1 };
const dns: Flow = { ...udp, Type: 2, l7: { dns: { query: 'example.com.' } }, source_names: ['www.example.com'], destination_names: ['db.internal'] };
const http: Flow = {
  ...base, Type: 2, event_type: { type: 129 },
  l7: { http: { code: 404, method: 'GET', url: 'http://shop.example:8080/api/v1/items?x=1', headers: [{ key: 'x-trace', value: '1' }] } },
};

interface Case {
  readonly filter: FilterObject;
  readonly yes: readonly Flow[];
  readonly no: readonly Flow[];
}

const L7 = { event_type: [{ type: 129 }] };

/** Per field: flows the filter selects and flows it does not. */
const CASES: Readonly<Record<string, readonly Case[]>> = {
  uuid: [{ filter: { uuid: ['a1b2', 'zz'] }, yes: [base], no: [{ ...base, uuid: 'c3' }, bare] }],
  source_ip: [
    { filter: { source_ip: ['10.1.0.5'] }, yes: [base], no: [{ ...base, IP: { source: '10.1.0.6' } }, bare] },
    { filter: { source_ip: ['10.1.0.0/16', 'fd00::/8'] }, yes: [base, icmp6], no: [{ ...base, IP: { source: '10.2.0.1' } }] },
    // upstream compares exact addresses as written, CIDRs as addresses
    { filter: { source_ip: ['FD00::5'] }, yes: [], no: [icmp6] },
    { filter: { source_ip: ['FD00::5/128'] }, yes: [icmp6], no: [base] },
  ],
  source_ip_xlated: [{ filter: { source_ip_xlated: ['192.168.0.0/24'] }, yes: [{ ...base, IP: { source_xlated: '192.168.0.7' } }], no: [base] }],
  destination_ip: [{ filter: { destination_ip: ['10.2.0.9', '2001:db8::/32'] }, yes: [base, icmp6], no: [{ ...base, IP: { destination: '10.2.0.8' } }] }],
  source_pod: [
    { filter: { source_pod: ['shop/checkout'] }, yes: [base], no: [{ ...base, source: { namespace: 'other', pod_name: 'checkout-1' } }] },
    // a bare name is in namespace "default"; "ns/" any pod of ns; "/name" a pod in any namespace
    { filter: { source_pod: ['checkout'] }, yes: [{ ...base, source: { namespace: 'default', pod_name: 'checkout-1' } }], no: [base] },
    { filter: { source_pod: ['shop/'] }, yes: [base], no: [{ ...base, source: { namespace: 'payments', pod_name: 'x' } }] },
    { filter: { source_pod: ['/checkout-7'] }, yes: [base], no: [{ ...base, source: { namespace: 'shop', pod_name: 'api' } }] },
    // "/" has no namespace and no name: any endpoint that has either, never one with neither
    { filter: { source_pod: ['/'] }, yes: [base], no: [bare] },
    // only the first two parts count
    { filter: { source_pod: ['shop/checkout/ignored'] }, yes: [base], no: [] },
  ],
  destination_pod: [{ filter: { destination_pod: ['payments/api-'] }, yes: [base], no: [{ ...base, destination: { namespace: 'payments', pod_name: 'db-0' } }] }],
  source_fqdn: [{ filter: { source_fqdn: ['*.example.com'] }, yes: [dns], no: [base, { ...dns, source_names: ['example.com'] }] }],
  destination_fqdn: [
    { filter: { destination_fqdn: ['  DB.Internal.  '] }, yes: [dns], no: [base, { ...dns, destination_names: ['db.internal.x'] }] },
  ],
  source_label: [{ filter: { source_label: ['k8s:app=checkout'] }, yes: [base], no: [{ ...base, source: { labels: ['k8s:app=web'] } }, bare] }],
  destination_label: [
    { filter: { destination_label: ['app in (api, db), reserved:remote-node'] }, yes: [base], no: [{ ...base, destination: { labels: ['k8s:app=api'] } }] },
  ],
  node_labels: [{ filter: { node_labels: ['kubernetes.io/hostname in (kind-worker, kind-worker2)'] }, yes: [base], no: [{ ...base, node_labels: [] }] }],
  source_service: [
    { filter: { source_service: ['shop/web'] }, yes: [{ ...base, source_service: { namespace: 'shop', name: 'web-v2' } }], no: [base] },
  ],
  destination_service: [
    { filter: { destination_service: ['payments/api'] }, yes: [base], no: [{ ...base, destination_service: { namespace: 'default', name: 'api' } }] },
    { filter: { destination_service: ['api'] }, yes: [{ ...base, destination_service: { namespace: 'default', name: 'api' } }], no: [base] },
  ],
  source_workload: [
    { filter: { source_workload: [{ name: 'checkout' }] }, yes: [base], no: [bare] },
    { filter: { source_workload: [{ kind: 'Deployment' }] }, yes: [base], no: [{ ...base, source: { workloads: [{ name: 'checkout', kind: 'Job' }] } }] },
    { filter: { source_workload: [{ name: 'checkout', kind: 'StatefulSet' }] }, yes: [], no: [base] },
  ],
  destination_workload: [{ filter: { destination_workload: [{ name: 'x' }, { kind: 'StatefulSet' }] }, yes: [base], no: [{ ...base, destination: {} }] }],
  source_cluster_name: [{ filter: { source_cluster_name: ['c1'] }, yes: [base], no: [{ ...base, source: { cluster_name: 'c2' } }, bare] }],
  destination_cluster_name: [{ filter: { destination_cluster_name: ['c1'] }, yes: [{ ...base, destination: { cluster_name: 'c1' } }], no: [base] }],
  traffic_direction: [{ filter: { traffic_direction: [2] }, yes: [base], no: [{ ...base, traffic_direction: 1 }, bare] }],
  verdict: [{ filter: { verdict: [1] }, yes: [base], no: [drop] }],
  drop_reason_desc: [
    // only on dropped flows
    { filter: { drop_reason_desc: [133] }, yes: [drop], no: [{ ...drop, drop_reason_desc: 134 }, { ...base, drop_reason_desc: 133 }] },
  ],
  interface: [
    { filter: { interface: [{ index: 7 }] }, yes: [base], no: [{ ...base, interface: { index: 8, name: 'lxc1a2b' } }, bare] },
    { filter: { interface: [{ index: 7, name: 'eth0' }, { name: 'lxc1a2b' }] }, yes: [base], no: [{ ...base, interface: { index: 7, name: 'eth1' } }] },
  ],
  event_type: [
    { filter: { event_type: [{ type: 4 }] }, yes: [base], no: [drop, bare] },
    { filter: { event_type: [{ type: 4, match_sub_type: true, sub_type: 0 }] }, yes: [{ ...base, event_type: { type: 4 } }], no: [base] },
    // type 0 is any type (but the flow must have an event type)
    { filter: { event_type: [{ type: 0, match_sub_type: true, sub_type: 133 }] }, yes: [drop], no: [base, bare] },
  ],
  http_status_code: [
    { filter: { ...L7, http_status_code: ['404'] }, yes: [http], no: [base] },
    { filter: { ...L7, http_status_code: ['4+'] }, yes: [http], no: [{ ...http, l7: { http: { code: 500 } } }] },
    { filter: { ...L7, http_status_code: ['40+'] }, yes: [http], no: [{ ...http, l7: { http: { code: 0 } } }] },
  ],
  protocol: [
    { filter: { protocol: ['TCP'] }, yes: [base], no: [udp, bare] },
    { filter: { protocol: ['icmp'] }, yes: [icmp6, { ...base, l4: { ICMPv4: { type: 8 } } }], no: [base] },
    { filter: { protocol: ['icmpv4', 'DNS'] }, yes: [dns], no: [icmp6] },
    { filter: { protocol: ['http'] }, yes: [http], no: [base] },
  ],
  source_port: [
    { filter: { source_port: ['40000'] }, yes: [base], no: [udp, icmp6] },
    // decimal with leading zeros, as strconv.ParseUint takes it
    { filter: { source_port: ['05353'] }, yes: [udp], no: [base] },
  ],
  destination_port: [{ filter: { destination_port: ['443', '53'] }, yes: [base, udp], no: [icmp6, bare] }],
  reply: [
    { filter: { reply: [false] }, yes: [base, drop], no: [{ ...base, is_reply: { value: true } }, { ...base, is_reply: undefined }] },
    // is_reply unset: only a DROPPED flow counts, as not a reply
    { filter: { reply: [true] }, yes: [{ ...base, is_reply: { value: true } }], no: [base, drop] },
  ],
  dns_query: [
    { filter: { dns_query: ['^example\\.'] }, yes: [dns], no: [base, { ...dns, l7: { dns: { query: 'www.example.com.' } } }] },
    { filter: { dns_query: ['(?i)EXAMPLE\\.COM\\.\\z'] }, yes: [dns], no: [{ ...dns, l7: { dns: { query: 'example.com.org' } } }] },
    // a flow with a DNS record but no query matches a pattern that matches ""
    { filter: { dns_query: [''] }, yes: [{ ...dns, l7: { dns: {} } }], no: [base] },
  ],
  source_identity: [
    { filter: { source_identity: [1234] }, yes: [base], no: [{ ...base, source: { identity: 1 } }] },
    // identity 0 matches an endpoint without one, never a flow without the endpoint
    { filter: { source_identity: [0] }, yes: [{ ...base, source: {} }], no: [bare] },
  ],
  destination_identity: [{ filter: { destination_identity: [5678, 2] }, yes: [base], no: [{ ...base, destination: { identity: 3 } }] }],
  http_method: [{ filter: { ...L7, http_method: ['get'] }, yes: [http], no: [base, { ...http, l7: { http: { method: 'POST' } } }] }],
  http_path: [
    { filter: { ...L7, http_path: ['^/api/v[0-9]+/items$'] }, yes: [http, { ...http, l7: { http: { url: '/api/v2/items' } } }],
      no: [base, { ...http, l7: { http: { url: 'api/v1/items' } } }, { ...http, l7: { http: { url: '/api/v1/items%zz' } } }] },
    // the path is unescaped
    { filter: { ...L7, http_path: ['^/a b$'] }, yes: [{ ...http, l7: { http: { url: '/a%20b' } } }], no: [] },
  ],
  http_url: [{ filter: { ...L7, http_url: ['shop\\.example:8080'] }, yes: [http], no: [base, { ...http, l7: { http: { url: 'http://other/' } } }] }],
  http_header: [
    { filter: { ...L7, http_header: [{ key: 'x-trace', value: '1' }] }, yes: [http], no: [base, { ...http, l7: { http: { headers: [{ key: 'x-trace', value: '2' }] } } }] },
  ],
  tcp_flags: [
    { filter: { tcp_flags: [{ SYN: true }] }, yes: [base], no: [udp, { ...base, l4: { TCP: { source_port: 1 } } }] },
    // all flags of one entry; entries OR-ed
    { filter: { tcp_flags: [{ SYN: true, FIN: true }] }, yes: [], no: [base] },
    { filter: { tcp_flags: [{ FIN: true }, { ACK: true, SYN: true }] }, yes: [base], no: [] },
  ],
  node_name: [
    { filter: { node_name: ['kind-worker'] }, yes: [base, { ...base, node_name: 'c1/kind-worker' }], no: [{ ...base, node_name: 'kind-worker2' }, bare] },
    { filter: { node_name: ['kind-*'] }, yes: [base], no: [{ ...base, node_name: 'worker' }] },
    // a node name without a cluster is in cluster "default"
    { filter: { node_name: ['default/kind-worker'] }, yes: [base], no: [{ ...base, node_name: 'c1/kind-worker' }] },
    { filter: { node_name: ['c1/'] }, yes: [{ ...base, node_name: 'c1/anything' }], no: [base, { ...base, node_name: 'c1/a/b' }] },
    { filter: { node_name: ['KIND-WORKER.'] }, yes: [base], no: [{ ...base, node_name: 'KIND-WORKER' }] },
  ],
  ip_version: [{ filter: { ip_version: [2] }, yes: [icmp6], no: [base, bare] }, { filter: { ip_version: [0] }, yes: [bare], no: [base] }],
  // unset = "" / 0: such a filter value selects the flows without one (all of Fovea's)
  trace_id: [
    { filter: { trace_id: ['4bf92f3577b34da6'] }, yes: [{ ...base, trace_context: { parent: { trace_id: '4bf92f3577b34da6' } } }], no: [base] },
    { filter: { trace_id: [''] }, yes: [base], no: [{ ...base, trace_context: { parent: { trace_id: 'x' } } }] },
  ],
  ip_trace_id: [
    { filter: { ip_trace_id: [42] }, yes: [{ ...base, ip_trace_id: { trace_id: 42 } }, { ...base, ip_trace_id: { trace_id: '42' } }], no: [base] },
    { filter: { ip_trace_id: [0] }, yes: [base], no: [{ ...base, ip_trace_id: { trace_id: 1 } }] },
    { filter: { ip_trace_id: ['18446744073709551615'] }, yes: [{ ...base, ip_trace_id: { trace_id: '18446744073709551615' } }], no: [base] },
  ],
  encrypted: [
    { filter: { encrypted: [false] }, yes: [base, bare], no: [{ ...base, IP: { ...base.IP, encrypted: true } }] },
    { filter: { encrypted: [true] }, yes: [{ ...base, IP: { ...base.IP, encrypted: true } }], no: [base] },
  ],
};

describe('every FlowFilter field', () => {
  it('is evaluated or refused, and has cases here', () => {
    const protoFields = T.FlowFilter.fieldsArray.map((f) => f.name).sort();
    expect([...FILTER_FIELDS].sort()).toEqual(protoFields);
    expect([...Object.keys(CASES), 'experimental'].sort()).toEqual(protoFields);
  });

  for (const [field, cases] of Object.entries(CASES)) {
    describe(field, () => {
      cases.forEach((c, i) => {
        it(`case ${i}: ${JSON.stringify(c.filter)}`, () => {
          expect(Object.keys(c.filter)).toContain(field);
          const keep = compile([c.filter]);
          c.yes.forEach((f, j) => expect(keep(f), `yes[${j}]`).toBe(true));
          c.no.forEach((f, j) => expect(keep(f), `no[${j}]`).toBe(false));
          // in a blacklist the same entry drops exactly those flows
          const drop = compile([], [c.filter]);
          c.yes.forEach((f, j) => expect(drop(f), `blacklisted yes[${j}]`).toBe(false));
          c.no.forEach((f, j) => expect(drop(f), `blacklisted no[${j}]`).toBe(true));
        });
      });
    });
  }
});

describe('values upstream refuses', () => {
  it.each<[string, FilterObject, string]>([
    ['empty pod name', { source_pod: [''] }, 'name must not be empty'],
    ['empty destination pod name', { destination_pod: ['shop/', ''] }, 'name must not be empty'],
    ['empty service name', { destination_service: [''] }, 'invalid destination service filter: invalid filter, name must not be empty'],
    ['empty cluster name', { source_cluster_name: ['c1', ''] }, 'name must not be empty'],
    ['bad IP', { source_ip: ['10.0.0.256'] }, 'invalid IP address "10.0.0.256" in filter: IPv4 field has value >255'],
    ['IPv4 leading zero', { destination_ip: ['010.0.0.1'] }, 'leading zero'],
    ['bad prefix length', { source_ip: ['10.0.0.0/33'] }, 'invalid IP prefix "10.0.0.0/33"'],
    ['zone in prefix', { source_ip_xlated: ['fe80::1%eth0/64'] }, 'zones'],
    ['port too big', { source_port: ['65536'] }, 'invalid source port filter: invalid port "65536"'],
    ['negative port', { destination_port: ['-1'] }, 'invalid destination port filter'],
    ['signed port', { destination_port: ['+80'] }, 'invalid port "+80"'],
    ['empty port', { destination_port: [''] }, 'invalid port ""'],
    ['unknown protocol', { protocol: ['tcp', 'quic'] }, 'invalid protocol filter: unknown protocol: "quic"'],
    ['empty FQDN', { source_fqdn: [' '] }, 'empty pattern'],
    ['FQDN dots', { destination_fqdn: ['a.com..'] }, 'multiple trailing dots in pattern'],
    ['FQDN rune', { source_fqdn: ['ex@mple.com'] }, 'invalid rune in pattern'],
    ['node name slashes', { node_name: ['a/b/c'] }, 'too many slashes in pattern'],
    ['empty node name', { node_name: [''] }, 'empty pattern'],
    ['node name rune', { node_name: ['c1/n!'] }, 'invalid rune'],
    ['source label', { source_label: ['app in ('] }, 'invalid source label filter: invalid label selector "app in ("'],
    ['destination label', { destination_label: ['app=a b'] }, 'invalid destination label filter'],
    ['node label', { node_labels: ['a/b/c'] }, 'invalid node label filter'],
    ['DNS regexp', { dns_query: ['(a'] }, 'invalid DNS query filter: failed to compile regexp "(a"'],
    ['ungreedy regexp', { dns_query: ['(?U)a+'] }, '(?U)'],
    ['status code', { ...L7, http_status_code: ['600'] }, 'invalid http status code filter: invalid status code prefix: "600"'],
    ['status prefix', { ...L7, http_status_code: ['4xx'] }, 'invalid status code prefix'],
    ['path regexp', { ...L7, http_path: ['['] }, 'invalid http path filter: ['],
    ['url regexp', { ...L7, http_url: ['a\\'] }, 'invalid http url filter'],
    ['HTTP method without L7 events', { event_type: [{ type: 4 }], http_method: ['GET'] }, 'filtering by http method requires the event type filter to only match \'l7\' events'],
    ['HTTP status code without L7 events', { event_type: [{ type: 1 }], http_status_code: ['200'] }, 'filtering by http status code requires'],
    ['HTTP path without L7 events', { event_type: [{ type: 4 }], http_path: ['/'] }, 'filtering by http path requires'],
    ['HTTP url without L7 events', { event_type: [{ type: 4 }], http_url: ['/'] }, 'filtering by http url requires'],
    ['HTTP header without L7 events', { event_type: [{ type: 4 }], http_header: [{ key: 'a', value: 'b' }] }, 'filtering by http headers requires'],
  ])('%s', (_name, filter, message) => {
    expect(filterError([filter])).toContain(message);
  });

  it('HTTP filters pass with no event type filter, or one that includes access-log events', () => {
    expect(() => compile([{ http_method: ['GET'] }])).not.toThrow();
    expect(() => compile([{ event_type: [{ type: 4 }, { type: 129 }], http_method: ['GET'] }])).not.toThrow();
  });

  it('names the entry', () => {
    expect(filterError([{}, { source_pod: [''] }])).toMatch(/^whitelist\[1\]: /);
    expect(filterError([], [{ protocol: ['x'] }])).toMatch(/^blacklist\[0\]: /);
  });
});

describe('experimental.cel_expression (no CEL evaluator in Fovea)', () => {
  const cel = { experimental: { cel_expression: ['_flow.verdict == Verdict.DROPPED'] } };
  it('is refused in a whitelist', () => {
    expect(filterError([cel])).toBe('whitelist[0]: cel_expression filters are not supported by this server (Fovea)');
  });
  it('is refused in a blacklist, where ignoring it would match everything', () => {
    expect(filterError([], [{ verdict: [2], ...cel }])).toContain('cel_expression filters are not supported by this server (Fovea)');
  });
  it('an experimental message without expressions is no filter', () => {
    expect(compile([{ experimental: {} }])(base)).toBe(true);
  });
});

describe('whitelist, blacklist and entries', () => {
  it('no filters keep everything', () => {
    expect(compile([])(base)).toBe(true);
    expect(compileFlowFilters([], [])(bare)).toBe(true);
  });
  it('whitelist entries are OR-ed', () => {
    const keep = compile([{ source_pod: ['payments/'] }, { destination_port: ['53'] }]);
    expect(keep(udp)).toBe(true);
    expect(keep(base)).toBe(false);
    expect(keep({ ...base, source: { namespace: 'payments', pod_name: 'x' } })).toBe(true);
  });
  it('the fields of one entry are AND-ed', () => {
    const keep = compile([{ source_pod: ['shop/'], destination_port: ['53'] }]);
    expect(keep(udp)).toBe(true);
    expect(keep(base)).toBe(false);
    expect(keep({ ...udp, source: { namespace: 'x', pod_name: 'y' } })).toBe(false);
  });
  it('a flow matching any blacklist entry is dropped, whatever the whitelist says', () => {
    const keep = compile([{ source_pod: ['shop/'] }], [{ verdict: [2] }, { destination_port: ['53'] }]);
    expect(keep(base)).toBe(true);
    expect(keep(drop)).toBe(false);
    expect(keep(udp)).toBe(false);
    expect(keep({ ...base, source: { namespace: 'x', pod_name: 'y' } })).toBe(false);
  });
  it('an empty entry matches everything (upstream): whitelisted keeps all, blacklisted drops all', () => {
    expect(compile([{}, { verdict: [2] }])(base)).toBe(true);
    expect(compile([], [{}])(base)).toBe(false);
  });
  it('a set field this module does not know is refused, not ignored', () => {
    expect(() => compileFlowFilters([{ sourcePod: ['shop/'] }], [])).toThrow(FilterError);
    expect(() => compileFlowFilters([], [{ experimental: { cel: ['x'] } }])).toThrow('unknown field cel');
    expect(() => compileFlowFilters([null], [])).toThrow('not a FlowFilter');
  });
  it('takes plain objects with enum names too', () => {
    expect(compileFlowFilters([{ verdict: ['DROPPED'] }], [])(drop)).toBe(true);
    expect(() => compileFlowFilters([{ verdict: ['NOPE'] }], [])).toThrow('not a value of the enum');
  });
  it('label selectors of several entries read the same flows', () => {
    const keep = compile([{ source_label: ['app=web'] }, { destination_label: ['app=api'] }], [{ source_label: ['k8s:app=checkout', 'nope'] }]);
    expect(keep(base)).toBe(false);
    expect(keep({ ...base, source: { labels: ['k8s:app=web'] } })).toBe(true);
    expect(keep({ ...base, source: { labels: ['k8s:app=other'] } })).toBe(true);
  });
});

describe('compileGoRegexp (RE2 as JS)', () => {
  const m = (re: string, s: string): boolean => compileGoRegexp(re).test(s);
  it('leading flag groups', () => {
    expect(m('(?i)abc', 'xABCx')).toBe(true);
    expect(m('(?s)a.b', 'a\nb')).toBe(true);
    expect(m('(?m)^b$', 'a\nb\nc')).toBe(true);
    expect(m('^b$', 'a\nb\nc')).toBe(false);
    expect(m('(?is)A.B', 'a\nb')).toBe(true);
    expect(m('(?i)(?-i)A', 'a')).toBe(false);
  });
  it('. excludes only \\n, \\s is ASCII', () => {
    expect(m('a.b', 'a\nb')).toBe(false);
    expect(m('a.b', 'a\rb')).toBe(true);
    expect(m('a\\sb', 'a\u000bb')).toBe(false);
    expect(m('a\\sb', 'a\tb')).toBe(true);
  });
  it('RE2 spellings', () => {
    expect(m('\\Aab\\z', 'ab')).toBe(true);
    expect(m('\\Aab\\z', 'ab\n')).toBe(false);
    expect(m('^\\Qa.b\\E$', 'a.b')).toBe(true);
    expect(m('^\\Qa.b\\E$', 'axb')).toBe(false);
    expect(m('(?P<v>a)b', 'ab')).toBe(true);
    expect(m('^[[:digit:]]+$', '123')).toBe(true);
    expect(m('^\\pL+$', 'héllo')).toBe(true);
    expect(m('\\p{Greek}', 'λ')).toBe(true);
    expect(m('\\x{41}\\101\\x41', 'AAA')).toBe(true);
    expect(m('^/api/{id}$', '/api/{id}')).toBe(true);
    expect(m('^a{2}$', 'aa')).toBe(true);
    expect(m('\\:\\@', ':@')).toBe(true);
    expect(m('^[]a]+$', ']a]')).toBe(true);
  });
  it.each(['a(?i)b', '(?U)a', 'a(?=b)', '(?<!a)b', '\\C', 'x{1001}', '\\1', '\\8', '(a', 'a\\', '\\Z', '[[:^alpha:]]'])('refuses %s', (re) => {
    expect(() => compileGoRegexp(re)).toThrow();
  });
});

describe('requestURIPath (Go url.ParseRequestURI)', () => {
  it.each<[string, string | undefined]>([
    ['http://h:80/a/b?q=1', '/a/b'], ['/a%2Fb', '/a/b'], ['*', '*'], ['mailto:x', ''], ['http://h', ''], ['a/b', undefined],
    ['', undefined], ['/a%zz', undefined], ['http://h:x/a', undefined], ['http://u@h/a', '/a'], ['http://h h/a', undefined],
    ['http://[::1]:80/a', '/a'], ['/a\nb', undefined], [':x', undefined],
  ])('%s', (raw, path) => {
    expect(requestURIPath(raw)).toBe(path);
  });
});

describe('unknownFilterFields', () => {
  const varint = (n: number): number[] => {
    const out: number[] = [];
    while (n > 0x7f) {
      out.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    out.push(n);
    return out;
  };
  const tag = (field: number, wire: number): number[] => varint((field << 3) | wire);
  const len = (field: number, body: number[]): number[] => [...tag(field, 2), ...varint(body.length), ...body];
  const text = (s: string): number[] => [...Buffer.from(s)];

  it('lists field numbers FlowFilter does not define, per entry', () => {
    // whitelist[0] = { source_pod: ["a"], <41>: 1 }; blacklist[0] = { verdict: [2] (packed), <50>: "x" }
    const white = [...len(2, text('a')), ...tag(41, 0), 1];
    const black = [...len(5, [2]), ...len(50, text('x'))];
    const bytes = Uint8Array.from([...tag(1, 0), 10, ...len(6, white), ...len(5, black)]);
    expect(unknownFilterFields(bytes)).toEqual(['whitelist[0]: unknown field 41', 'blacklist[0]: unknown field 50']);
    // protobufjs drops them: without this check the blacklist entry would be verdict alone
    const decoded = T.GetFlowsRequest.decode(bytes) as unknown as { whitelist: Array<Record<string, unknown>>; blacklist: Array<Record<string, unknown>> };
    expect(decoded.whitelist[0]!['source_pod']).toEqual(['a']);
    expect(decoded.blacklist[0]!['verdict']).toEqual([2]);
  });

  it('looks into experimental and the other nested messages', () => {
    const white = [...len(999, [...len(1, text('true')), ...tag(2, 0), 1]), ...len(23, [...tag(2, 0), 1, ...tag(10, 0), 1])];
    const bytes = Uint8Array.from([...len(6, []), ...len(6, white)]);
    expect(unknownFilterFields(bytes)).toEqual(['whitelist[1].experimental: unknown field 2', 'whitelist[1].tcp_flags[0]: unknown field 10']);
  });

  it('is empty for what the .proto defines', () => {
    const bytes = T.GetFlowsRequest.encode({
      number: 5, follow: true,
      whitelist: [{ source_pod: ['a'], tcp_flags: [{ SYN: true }], event_type: [{ type: 1 }], ip_trace_id: [7], experimental: { cel_expression: ['x'] } }],
      blacklist: [{ verdict: [2], http_header: [{ key: 'k', value: 'v' }] }],
    }).finish();
    expect(unknownFilterFields(bytes)).toEqual([]);
    expect(unknownFilterFields(new Uint8Array())).toEqual([]);
  });

  it.each<[string, number[]]>([
    ['truncated entry', [...tag(6, 2), 5, 0x12]],
    ['truncated varint', [...tag(1, 0), 0x80]],
    ['bad wire type', [...tag(6, 2), 2, ...tag(3, 7)]],
    ['field number 0', [0x02, 0x00]],
    ['nested message past its entry', [...tag(6, 2), 3, ...tag(999, 2).slice(0, 2), 5]],
  ])('refuses malformed data: %s', (_name, bytes) => {
    expect(() => unknownFilterFields(Uint8Array.from(bytes))).toThrow(FilterError);
  });
});

/** `fovea observe` filters: flag parsing (with its errors) and matching, each filter alone and combined. */
import { describe, expect, it } from 'vitest';
import { formatIssues } from '../../src/config/issues.js';
import type { EventEndpoint, NetworkEvent } from '../../src/events/types.js';
import {
  EMPTY_FILTER, compileFilter, matches, parseFilterFlags, parseIpPrefix, type EventFilter, type FilterFlagValues,
} from '../../src/observe/filter.js';

const NOW = Date.parse('2025-03-01T12:00:00Z');

function ep(over: Partial<EventEndpoint> = {}): EventEndpoint {
  return { ip: '10.0.0.1', kind: 'external', ...over };
}

function ev(over: Partial<NetworkEvent> = {}): NetworkEvent {
  return {
    name: 'fovea.network.packet.drop', timeMs: NOW, verdict: 'DROPPED', reason: 'NETFILTER_DROP',
    source: ep({ ip: '10.1.0.5', port: 40000, kind: 'pod', namespace: 'shop', pod: 'checkout-7d9f-abc' }),
    destination: ep({ ip: '10.2.0.9', port: 443, kind: 'pod', namespace: 'payments', pod: 'api-0' }),
    ipVersion: 4, transport: 'tcp', protocol: 6, node: 'n1', ...over,
  };
}

function filter(values: FilterFlagValues): EventFilter {
  const r = parseFilterFlags(values, NOW);
  if (!r.ok) throw new Error(formatIssues(r.issues));
  return r.filter;
}

function problems(values: FilterFlagValues): string {
  const r = parseFilterFlags(values, NOW);
  if (r.ok) throw new Error(`expected a problem for ${JSON.stringify(values)}`);
  return formatIssues(r.issues);
}

const flow = ev({ name: 'fovea.network.flow', verdict: 'FORWARDED', reason: undefined, transport: 'udp', protocol: 17,
  source: ep({ ip: '192.168.1.10', port: 5353 }), destination: ep({ ip: '192.168.1.20', port: 53, kind: 'service', namespace: 'kube-system' }) });
const v6 = ev({ ipVersion: 6, transport: 'icmp', protocol: 58,
  source: ep({ ip: 'fd00:10::5' }), destination: ep({ ip: '2001:db8::1' }) });

describe('matching', () => {
  it('an empty filter matches everything', () => {
    for (const e of [ev(), flow, v6]) expect(matches(e, EMPTY_FILTER)).toBe(true);
    expect(parseFilterFlags({}, NOW)).toEqual({ ok: true, filter: EMPTY_FILTER });
  });

  it('--verdict, case-insensitive, values OR-ed', () => {
    expect(matches(ev(), filter({ verdict: ['dropped'] }))).toBe(true);
    expect(matches(flow, filter({ verdict: ['DROPPED'] }))).toBe(false);
    expect(matches(flow, filter({ verdict: ['forwarded'] }))).toBe(true);
    const both = filter({ verdict: ['DROPPED', 'FORWARDED'] });
    expect([ev(), flow].every((e) => matches(e, both))).toBe(true);
  });

  it('--reason: any case, optional SKB_DROP_REASON_ prefix; events without a reason never match', () => {
    expect(matches(ev(), filter({ reason: ['netfilter_drop'] }))).toBe(true);
    expect(matches(ev(), filter({ reason: ['SKB_DROP_REASON_NETFILTER_DROP'] }))).toBe(true);
    expect(matches(ev(), filter({ reason: ['NO_SOCKET'] }))).toBe(false);
    expect(matches(ev(), filter({ reason: ['NO_SOCKET', 'NETFILTER_DROP'] }))).toBe(true);
    expect(matches(ev({ reason: 'UNKNOWN_77' }), filter({ reason: ['unknown_77'] }))).toBe(true);
    expect(matches(flow, filter({ reason: ['NETFILTER_DROP'] }))).toBe(false);
  });

  it('--pod: name in any namespace, namespace/name, trailing * prefix; either end', () => {
    expect(matches(ev(), filter({ pod: ['api-0'] }))).toBe(true); // destination
    expect(matches(ev(), filter({ pod: ['payments/api-0'] }))).toBe(true);
    expect(matches(ev(), filter({ pod: ['shop/api-0'] }))).toBe(false); // wrong namespace
    expect(matches(ev(), filter({ pod: ['checkout-*'] }))).toBe(true); // source, prefix
    expect(matches(ev(), filter({ pod: ['shop/checkout*'] }))).toBe(true);
    expect(matches(ev(), filter({ pod: ['shop/*'] }))).toBe(true); // every pod of the namespace
    expect(matches(ev(), filter({ pod: ['checkout'] }))).toBe(false); // exact name without *
    expect(matches(ev(), filter({ pod: ['other', 'api-0'] }))).toBe(true);
    expect(matches(flow, filter({ pod: ['api-*'] }))).toBe(false); // no pods at all
  });

  it('--namespace: either end, exact', () => {
    expect(matches(ev(), filter({ namespace: ['shop'] }))).toBe(true);
    expect(matches(ev(), filter({ namespace: ['payments'] }))).toBe(true);
    expect(matches(ev(), filter({ namespace: ['sho'] }))).toBe(false);
    expect(matches(flow, filter({ namespace: ['kube-system'] }))).toBe(true); // a service's namespace
  });

  it('--ip: addresses and CIDRs, IPv4 and IPv6, either end', () => {
    expect(matches(ev(), filter({ ip: ['10.2.0.9'] }))).toBe(true);
    expect(matches(ev(), filter({ ip: ['10.2.0.10'] }))).toBe(false);
    expect(matches(ev(), filter({ ip: ['10.1.0.0/16'] }))).toBe(true);
    expect(matches(ev(), filter({ ip: ['10.0.0.0/8'] }))).toBe(true);
    expect(matches(ev(), filter({ ip: ['10.3.0.0/16'] }))).toBe(false);
    expect(matches(ev(), filter({ ip: ['0.0.0.0/0'] }))).toBe(true);
    expect(matches(ev(), filter({ ip: ['10.1.0.5/32'] }))).toBe(true);
    expect(matches(v6, filter({ ip: ['fd00::/8'] }))).toBe(true);
    expect(matches(v6, filter({ ip: ['fd00:10::/32'] }))).toBe(true);
    expect(matches(v6, filter({ ip: ['fd00:11::/32'] }))).toBe(false);
    expect(matches(v6, filter({ ip: ['2001:DB8:0:0::1'] }))).toBe(true); // any spelling of the address
    expect(matches(v6, filter({ ip: ['2001:db8::/128'] }))).toBe(false);
    expect(matches(v6, filter({ ip: ['::/0'] }))).toBe(true);
    // v4 prefixes never match v6 addresses and back
    expect(matches(v6, filter({ ip: ['0.0.0.0/0'] }))).toBe(false);
    expect(matches(ev(), filter({ ip: ['::/0'] }))).toBe(false);
    // IPv4-mapped IPv6 in the filter is the IPv4 address
    expect(matches(ev(), filter({ ip: ['::ffff:10.2.0.9'] }))).toBe(true);
    // OR over values
    expect(matches(ev(), filter({ ip: ['192.168.0.0/16', '10.2.0.9'] }))).toBe(true);
    // an event without an IP (not IP at all) never matches
    expect(matches(ev({ source: ep({ ip: '' }), destination: ep({ ip: '' }), ipVersion: 0 }), filter({ ip: ['0.0.0.0/0'] }))).toBe(false);
  });

  it('CIDR host bits are cleared; prefixes are canonical', () => {
    expect(parseIpPrefix('10.1.2.3/8')).toEqual({ address: '10.0.0.0', prefixLength: 8 });
    expect(parseIpPrefix('10.1.2.3')).toEqual({ address: '10.1.2.3', prefixLength: 32 });
    expect(parseIpPrefix('FD00:0:0:0::1/64')).toEqual({ address: 'fd00::', prefixLength: 64 });
    expect(parseIpPrefix('2001:db8::ff/120')).toEqual({ address: '2001:db8::', prefixLength: 120 });
    expect(parseIpPrefix('::1')).toEqual({ address: '::1', prefixLength: 128 });
    expect(parseIpPrefix('fe80::1/10')).toEqual({ address: 'fe80::', prefixLength: 10 });
    expect(matches(ev({ source: ep({ ip: 'fe80::abcd' }) }), { ...EMPTY_FILTER, ips: [{ address: 'fe80::', prefixLength: 10 }] })).toBe(true);
    expect(matches(ev({ source: ep({ ip: 'febf::1' }) }), { ...EMPTY_FILTER, ips: [{ address: 'fe80::', prefixLength: 10 }] })).toBe(true);
    expect(matches(ev({ source: ep({ ip: 'fec0::1' }) }), { ...EMPTY_FILTER, ips: [{ address: 'fe80::', prefixLength: 10 }] })).toBe(false);
  });

  it('--port: either end', () => {
    expect(matches(ev(), filter({ port: ['443'] }))).toBe(true);
    expect(matches(ev(), filter({ port: ['40000'] }))).toBe(true);
    expect(matches(ev(), filter({ port: ['80'] }))).toBe(false);
    expect(matches(ev(), filter({ port: ['80', '443'] }))).toBe(true);
    expect(matches(v6, filter({ port: ['0'] }))).toBe(false); // no ports on ICMP
  });

  it('--protocol: tcp, udp, icmp (v4 and v6), other (also non-IP)', () => {
    expect(matches(ev(), filter({ protocol: ['tcp'] }))).toBe(true);
    expect(matches(ev(), filter({ protocol: ['UDP'] }))).toBe(false);
    expect(matches(flow, filter({ protocol: ['udp'] }))).toBe(true);
    expect(matches(v6, filter({ protocol: ['icmp'] }))).toBe(true);
    expect(matches(v6, filter({ protocol: ['icmpv6'] }))).toBe(true);
    expect(matches(ev({ transport: 'other', protocol: 47 }), filter({ protocol: ['other'] }))).toBe(true);
    expect(matches(ev({ transport: 'unknown', ipVersion: 0 }), filter({ protocol: ['other'] }))).toBe(true);
    expect(matches(ev(), filter({ protocol: ['udp', 'tcp'] }))).toBe(true);
  });

  it('--since: a duration before now or an RFC3339 time', () => {
    const f = filter({ since: '5m' });
    expect(f.sinceMs).toBe(NOW - 300_000);
    expect(matches(ev({ timeMs: NOW - 299_000 }), f)).toBe(true);
    expect(matches(ev({ timeMs: NOW - 300_000 }), f)).toBe(true); // inclusive
    expect(matches(ev({ timeMs: NOW - 301_000 }), f)).toBe(false);
    expect(filter({ since: '30s' }).sinceMs).toBe(NOW - 30_000);
    expect(filter({ since: '1h' }).sinceMs).toBe(NOW - 3_600_000);
    expect(filter({ since: '1.5h' }).sinceMs).toBe(NOW - 5_400_000);
    expect(filter({ since: '2025-03-01T11:00:00Z' }).sinceMs).toBe(NOW - 3_600_000);
    expect(filter({ since: '2025-03-01T13:00:00.500+02:00' }).sinceMs).toBe(NOW - 3_600_000 + 500);
  });

  it('different filters are AND-ed', () => {
    const f = filter({ verdict: ['DROPPED'], namespace: ['shop'], port: ['443'], protocol: ['tcp'], reason: ['netfilter_drop'], ip: ['10.2.0.0/16'], pod: ['api-*'] });
    expect(matches(ev(), f)).toBe(true);
    expect(matches(ev({ verdict: 'FORWARDED' }), f)).toBe(false);
    expect(matches(ev({ transport: 'udp' }), f)).toBe(false);
    expect(matches(ev({ reason: 'NO_SOCKET' }), f)).toBe(false);
    expect(matches(ev({ destination: ep({ ip: '10.2.0.9', port: 80, namespace: 'payments', pod: 'api-0' }) }), f)).toBe(false);
    expect(matches(ev({ timeMs: NOW - 10_000 }), { ...f, sinceMs: NOW - 5_000 })).toBe(false);
  });

  it('repeated and comma-separated values are the same filter, deduplicated', () => {
    expect(filter({ port: ['80,443', '80'] }).ports).toEqual([80, 443]);
    expect(filter({ verdict: ['dropped', 'DROPPED'] }).verdicts).toEqual(['DROPPED']);
    expect(filter({ pod: ['shop/web-*'] }).pods).toEqual([{ namespace: 'shop', name: 'web-', prefix: true }]);
    expect(filter({ pod: ['web'] }).pods).toEqual([{ name: 'web', prefix: false }]);
  });

  it('a compiled filter gives the same answers as matches() across many events', () => {
    const f = filter({ ip: ['10.0.0.0/8', 'fd00::/8'], protocol: ['tcp', 'icmp'] });
    const m = compileFilter(f);
    for (let i = 0; i < 10_000; i++) {
      const e = ev({ source: ep({ ip: i % 2 ? `10.0.${i % 256}.1` : `192.168.${i % 256}.1` }), destination: ep({ ip: `172.16.0.${i % 256}` }) });
      expect(m(e)).toBe(i % 2 === 1);
    }
  });
});

describe('bad values', () => {
  it('bad IPs and CIDRs', () => {
    expect(problems({ ip: ['10.0.0.256'] })).toBe('flag --ip: not an IP address or CIDR: "10.0.0.256" (examples: 10.0.0.7, 10.0.0.0/8, fd00::/64)');
    expect(problems({ ip: ['pod-a'] })).toMatch(/^flag --ip: not an IP address or CIDR: "pod-a"/);
    expect(problems({ ip: ['10.0.0.0/33'] })).toBe('flag --ip: bad prefix length in "10.0.0.0/33": an IPv4 prefix length is 0..32');
    expect(problems({ ip: ['fd00::/129'] })).toMatch(/IPv6 prefix length is 0\.\.128/);
    expect(problems({ ip: ['10.0.0.0/'] })).toMatch(/bad prefix length/);
    expect(problems({ ip: ['10.0.0.0/-1'] })).toMatch(/bad prefix length/);
    expect(problems({ ip: ['fd00:::1'] })).toMatch(/not an IP address/);
  });

  it('ports out of range or not numbers', () => {
    expect(problems({ port: ['65536'] })).toBe('flag --port: port 65536 is out of range: ports are 0..65535');
    expect(problems({ port: ['-1'] })).toBe('flag --port: not a port number: "-1"');
    expect(problems({ port: ['http'] })).toBe('flag --port: not a port number: "http"');
    expect(problems({ port: ['80.5'] })).toMatch(/not a port number/);
  });

  it('unknown verdicts and protocols, with a suggestion', () => {
    expect(problems({ verdict: ['DROPED'] })).toBe('flag --verdict: unknown verdict "DROPED": one of FORWARDED, DROPPED; did you mean "DROPPED"?');
    expect(problems({ verdict: ['ACCEPT'] })).toBe('flag --verdict: unknown verdict "ACCEPT": one of FORWARDED, DROPPED');
    expect(problems({ protocol: ['tpc'] })).toMatch(/^flag --protocol: unknown protocol "tpc": one of tcp, udp, icmp, other/);
    expect(problems({ protocol: ['sctp'] })).toBe('flag --protocol: unknown protocol "sctp": one of tcp, udp, icmp, other');
  });

  it('bad --since', () => {
    for (const s of ['5', 'yesterday', '5 minutes', '-5m', '2025-13-01T00:00:00Z', '2025-03-01', '2025-03-01T12:00:00']) {
      expect(problems({ since: s })).toMatch(/^flag --since: not a duration or time: .*\(examples: 30s, 5m, 1h, 2024-05-01T12:00:00Z\)$/);
    }
  });

  it('bad pods, namespaces and reasons', () => {
    for (const p of ['a/b/c', '/x', 'shop/', 'we*b', '*', 'x y']) expect(problems({ pod: [p] })).toMatch(/^flag --pod: not a pod:/);
    expect(problems({ namespace: ['a/b'] })).toBe('flag --namespace: not a namespace name: "a/b"');
    expect(problems({ reason: ['no socket'] })).toMatch(/^flag --reason: not a drop reason name: "no socket"/);
  });

  it('every problem is reported at once, one line each', () => {
    const text = problems({ port: ['99999'], ip: ['x'], verdict: ['maybe'], since: 'soon', protocol: ['tcp'] });
    expect(text.split('\n').map((l) => l.split(':')[0])).toEqual(['flag --verdict', 'flag --ip', 'flag --port', 'flag --since']);
  });
});

describe('--event: drops, flows and TCP events by kind', () => {
  const reset = ev({ name: 'fovea.tcp.reset', verdict: undefined, reason: undefined, tcp: { kind: 'reset_sent', side: 'server' } });
  const failed = ev({ name: 'fovea.tcp.connect.failed', verdict: undefined, reason: undefined, tcp: { kind: 'connect_failed', side: 'client', failure: 'timeout' } });
  const retrans = ev({ name: 'fovea.tcp.retransmit', verdict: undefined, reason: undefined, tcp: { kind: 'retransmit', side: 'client', segments: 2 } });
  const drop = ev();
  const all = [drop, flow, reset, failed, retrans];
  const names = (f: EventFilter): string[] => all.filter((e) => matches(e, f)).map((e) => e.name);

  it('selects by kind, any case, OR-ed; tcp means the three TCP events', () => {
    expect(names(filter({ event: ['reset'] }))).toEqual(['fovea.tcp.reset']);
    expect(names(filter({ event: ['DROP,connect-failed'] }))).toEqual(['fovea.network.packet.drop', 'fovea.tcp.connect.failed']);
    expect(names(filter({ event: ['tcp'] }))).toEqual(['fovea.tcp.reset', 'fovea.tcp.connect.failed', 'fovea.tcp.retransmit']);
    expect(names(filter({}))).toHaveLength(5);
  });

  it('a verdict filter never matches TCP events (they have no verdict); other filters apply to them', () => {
    expect(names(filter({ verdict: ['DROPPED'] }))).toEqual(['fovea.network.packet.drop']);
    expect(names(filter({ event: ['tcp'], namespace: ['payments'] }))).toHaveLength(3);
    expect(names(filter({ event: ['tcp'], port: ['8443'] }))).toHaveLength(0);
  });

  it('an unknown kind is a flag problem with a hint', () => {
    expect(problems({ event: ['resets'] })).toMatch(/--event.*unknown event "resets".*reset/s);
  });
});

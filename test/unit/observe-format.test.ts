/** `fovea observe` output: cells, the aligned table (plain and coloured), follow rows, JSON lines. */
import { describe, expect, it } from 'vitest';
import type { EventEndpoint, NetworkEvent } from '../../src/events/types.js';
import {
  COLUMNS, FollowTable, eventCells, formatEndpoint, formatJsonLine, formatLost, formatProto, formatSummary, formatTable, formatTime,
} from '../../src/observe/format.js';

const T = new Date(2025, 2, 1, 9, 5, 7, 42).getTime(); // local time: 09:05:07.042
const ESC = '\x1b[';
const strip = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, '');

function ep(over: Partial<EventEndpoint> = {}): EventEndpoint {
  return { ip: '10.0.0.1', kind: 'external', ...over };
}

const drop: NetworkEvent = {
  name: 'fovea.network.packet.drop', timeMs: T + 0.75, verdict: 'DROPPED', reason: 'NETFILTER_DROP', reasonCode: 6,
  source: ep({ ip: '10.1.0.5', port: 40000, kind: 'pod', namespace: 'shop', pod: 'checkout-7d9f' }),
  destination: ep({ ip: '10.2.0.9', port: 443, kind: 'pod', namespace: 'payments', pod: 'api-0' }),
  ipVersion: 4, transport: 'tcp', protocol: 6, tcpFlags: 'SYN', length: 60, interface: 'veth12ab', suppressed: 41, node: 'n1',
};
const flow: NetworkEvent = {
  name: 'fovea.network.flow', timeMs: T + 1_000, verdict: 'FORWARDED',
  source: ep({ ip: 'fd00::5', port: 5353 }), destination: ep({ ip: '2001:db8::1', port: 53 }),
  ipVersion: 6, transport: 'udp', protocol: 17, node: 'n1', interface: 'veth9',
  flow: { state: 'ended', packets: 12, bytes: 3_500, totalPackets: 40, totalBytes: 9_000, firstSeenMs: T - 5_000, lastSeenMs: T + 1_000 },
};

describe('cells', () => {
  it('time is local HH:MM:SS.mmm, fractions of a ms cut', () => {
    expect(formatTime(T)).toBe('09:05:07.042');
    expect(formatTime(T + 0.999)).toBe('09:05:07.042');
    expect(formatTime(new Date(2025, 0, 1, 23, 59, 59, 999).getTime())).toBe('23:59:59.999');
  });

  it('endpoints: namespace/pod or IP, with :port; IPv6 bracketed before a port', () => {
    expect(formatEndpoint(drop.source)).toBe('shop/checkout-7d9f:40000');
    expect(formatEndpoint(ep({ ip: '10.0.0.1', port: 80 }))).toBe('10.0.0.1:80');
    expect(formatEndpoint(ep({ ip: '10.0.0.1' }))).toBe('10.0.0.1');
    expect(formatEndpoint(ep({ ip: 'fd00::5', port: 53 }))).toBe('[fd00::5]:53');
    expect(formatEndpoint(ep({ ip: 'fd00::5' }))).toBe('fd00::5');
    expect(formatEndpoint(ep({ ip: '' }))).toBe('-');
    expect(formatEndpoint(ep({ ip: '10.0.0.1', pod: 'lonely' }))).toBe('lonely');
    expect(formatEndpoint(ep({ ip: '10.0.0.1', kind: 'service', namespace: 'default', service: 'kubernetes', port: 443 }))).toBe('10.0.0.1:443');
  });

  it('protocol with TCP flags', () => {
    expect(formatProto(drop)).toBe('TCP SYN');
    expect(formatProto({ ...drop, tcpFlags: 'SYN|ACK' })).toBe('TCP SYN|ACK');
    expect(formatProto({ ...drop, tcpFlags: undefined })).toBe('TCP');
    expect(formatProto(flow)).toBe('UDP');
    expect(formatProto({ ...drop, transport: 'icmp', ipVersion: 4 })).toBe('ICMP');
    expect(formatProto({ ...drop, transport: 'icmp', ipVersion: 6 })).toBe('ICMPv6');
    expect(formatProto({ ...drop, transport: 'other', protocol: 47 })).toBe('proto 47');
    expect(formatProto({ ...drop, transport: 'unknown', ipVersion: 0, protocol: 0 })).toBe('non-IP');
  });

  it('summary: drop reason, interface, suppressed; flow state, packets and bytes', () => {
    expect(formatSummary(drop)).toBe('NETFILTER_DROP on veth12ab (+41 suppressed)');
    expect(formatSummary({ ...drop, suppressed: 0 })).toBe('NETFILTER_DROP on veth12ab');
    expect(formatSummary({ ...drop, suppressed: undefined, interface: undefined })).toBe('NETFILTER_DROP');
    expect(formatSummary({ ...drop, reason: undefined })).toBe('UNKNOWN_6 on veth12ab (+41 suppressed)');
    expect(formatSummary(flow)).toBe('ended, 12 packets, 3.42 KiB');
    expect(formatSummary({ ...flow, flow: { ...flow.flow!, state: 'new', packets: 1, bytes: 60 } })).toBe('new, 1 packet, 60 B');
  });

  it('a row has one cell per column', () => {
    expect(eventCells(drop)).toEqual(['09:05:07.042', 'shop/checkout-7d9f:40000', 'payments/api-0:443', 'TCP SYN', 'DROPPED', 'NETFILTER_DROP on veth12ab (+41 suppressed)']);
    expect(eventCells(drop)).toHaveLength(COLUMNS.length);
  });
});

describe('table', () => {
  it('columns as wide as their widest cell, two spaces apart, no trailing spaces', () => {
    const text = formatTable([drop, flow], { color: false });
    expect(text).toBe([
      'TIME          SOURCE                    DESTINATION         PROTO    VERDICT    SUMMARY',
      '09:05:07.042  shop/checkout-7d9f:40000  payments/api-0:443  TCP SYN  DROPPED    NETFILTER_DROP on veth12ab (+41 suppressed)',
      '09:05:08.042  [fd00::5]:5353            [2001:db8::1]:53    UDP      FORWARDED  ended, 12 packets, 3.42 KiB',
      '',
    ].join('\n'));
    expect(formatTable([], { color: false })).toBe('');
  });

  it('colours: DROPPED red, FORWARDED green, alignment unchanged; none when off', () => {
    const coloured = formatTable([drop, flow], { color: true });
    expect(coloured).toContain(`${ESC}31mDROPPED  ${ESC}0m`);
    expect(coloured).toContain(`${ESC}32mFORWARDED${ESC}0m`);
    expect(strip(coloured)).toBe(formatTable([drop, flow], { color: false }));
    expect(formatTable([drop, flow], { color: false })).not.toContain(ESC);
  });

  it('follow rows line up at the fixed minimum widths and a wider value widens the column from then on', () => {
    const t = new FollowTable({ color: false });
    const header = t.header();
    const r1 = t.row(drop);
    const r2 = t.row(flow);
    const col = (line: string, name: string): number => line.indexOf(name);
    expect(col(r1, 'DROPPED')).toBe(col(header, 'VERDICT'));
    expect(col(r2, 'FORWARDED')).toBe(col(header, 'VERDICT'));
    expect(col(r1, 'payments/')).toBe(col(header, 'DESTINATION'));
    const wide = { ...drop, source: ep({ pod: 'a-very-long-pod-name-that-is-wider-than-32', namespace: 'ns', port: 1 }) };
    const r3 = t.row(wide);
    const r4 = t.row(drop);
    expect(col(r4, 'DROPPED')).toBe(col(r3, 'DROPPED'));
    expect(col(r4, 'DROPPED')).toBeGreaterThan(col(header, 'VERDICT'));
    const ct = new FollowTable({ color: true });
    expect(strip(ct.row(drop))).toBe(new FollowTable({ color: false }).row(drop));
  });
});

describe('json and notices', () => {
  it('json: the event exactly, one line', () => {
    const line = formatJsonLine(drop);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toContain('\n');
    expect(JSON.parse(line)).toEqual(drop);
    expect(line).toBe(JSON.stringify(drop) + '\n');
  });

  it('lost notice', () => {
    expect(formatLost(1)).toMatch(/^fovea observe: 1 event lost: this client read too slowly/);
    expect(formatLost(250)).toMatch(/^fovea observe: 250 events lost/);
  });
});

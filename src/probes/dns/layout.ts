/**
 * ABI of DNS observability (mirror of bpf/dns.h; the maps live in the traffic probe's object).
 * test/abi compares these numbers with the BTF of bpf/build/traffic.bpf.o and checks golden bytes.
 */
import type { MapSnapshot } from '../../kernel/map.js';
import { addressText } from '../addresses.js';

export const DNS_PORT = 53;
/** Latency buckets: the bounds of TCP_LATENCY_BOUNDS_S, plus one above. */
export const DNS_LATENCY_BUCKETS = 17;
export const DNS_PENDING_NAME = 128;
export const DNS_EVENT_COPY = 512;

/** enum dns_view */
export const DNS_VIEW = { client: 0, server: 1 } as const;

/** struct dns_pending_key */
export const DNS_PENDING_KEY = {
  size: 40, client: 0, server: 16, clientPort: 32, id: 34, view: 36, proto: 37, ipVersion: 38, pad: 39,
} as const;

/** struct dns_pending */
export const DNS_PENDING = {
  size: 144, sentNs: 0, ifindex: 8, qtype: 12, nameLen: 14, pad: 15, name: 16,
} as const;

/** struct dns_key */
export const DNS_KEY = {
  size: 40, client: 0, server: 16, qtype: 32, view: 34, proto: 35, ipVersion: 36, pad: 37,
} as const;

/** struct dns_stats */
export const DNS_STATS = {
  size: 304, queries: 0, responses: 8, empty: 136, unmatched: 144, latencyCount: 152, latencySumNs: 160, latencyBuckets: 168,
} as const;

/** struct dns_name_key */
export const DNS_NAME_KEY = { size: 16, hash: 0, qtype: 8, view: 10, pad: 11 } as const;

/** struct dns_name_stats */
export const DNS_NAME_STATS = { size: 272, queries: 0, responses: 8, nameLen: 136, pad: 137, name: 144 } as const;

/** enum dns_error → `fovea.failure.kind` (probe `dns`) */
export const DNS_ERRORS = ['map_full', 'pending_full', 'malformed', 'names_full'] as const;
/**
 * Which of DNS_ERRORS lost counts (pending_full loses a latency, not a count; names_full a message's
 * count by name, never its count in the other DNS metrics).
 */
export const DNS_ERRORS_LOSING = new Set(['map_full', 'malformed']);

/** enum dns_event_slot */
export const DNS_EVENT_SLOT = { failed: 0, other: 1 } as const;
export const DNS_EVENT_SLOTS = 2;

/** struct dns_config (value of dns_cfg[0]) */
export const DNS_CONFIG = { size: 24, enabled: 0, events: 4, perWindow: 8, names: 12, windowNs: 16 } as const;

/** struct dns_event */
export const DNS_EVENT = {
  size: 584, timestampNs: 0, suppressed: 8, latencyNs: 16, src: 24, dst: 40, sport: 56, dport: 58, ifindex: 60,
  msgLen: 64, copyLen: 66, view: 68, proto: 69, ipVersion: 70, direction: 71, data: 72,
} as const;

/** Which messages become events: none, failed responses (NXDOMAIN, SERVFAIL, REFUSED), or all. */
export type DnsEventMode = 'off' | 'failed' | 'all';

export function encodeDnsConfig(c: { enabled: boolean; events: DnsEventMode; perWindow: number; windowNs: bigint; names: boolean }): Buffer {
  const b = Buffer.alloc(DNS_CONFIG.size);
  b.writeUInt32LE(c.enabled ? 1 : 0, DNS_CONFIG.enabled);
  b.writeUInt32LE(c.events === 'all' ? 2 : c.events === 'failed' ? 1 : 0, DNS_CONFIG.events);
  b.writeUInt32LE(c.perWindow, DNS_CONFIG.perWindow);
  b.writeUInt32LE(c.names ? 1 : 0, DNS_CONFIG.names);
  b.writeBigUInt64LE(c.windowNs, DNS_CONFIG.windowNs);
  return b;
}

const ipv = (v: number): 4 | 6 => (v === 6 ? 6 : 4);

/** One dns_stats entry. */
export interface DnsRecord {
  readonly client: string;
  readonly server: string;
  readonly qtype: number;
  readonly view: number;
  readonly proto: number;
  readonly ipVersion: number;
  readonly queries: number;
  /** by response code 0..15 */
  readonly responses: readonly number[];
  readonly empty: number;
  readonly unmatched: number;
  readonly latencyCount: number;
  readonly latencySumNs: number;
  readonly latencyBuckets: readonly number[];
  /** hex of the raw key */
  readonly recordKey: string;
}

export function decodeDnsStats(s: MapSnapshot): DnsRecord[] {
  const out: DnsRecord[] = [];
  for (let i = 0; i < s.count; i++) {
    const k = i * s.keySize;
    const v = i * s.valueStride;
    const u64 = (off: number): number => Number(s.values.readBigUInt64LE(v + off));
    const ipVersion = s.keys[k + DNS_KEY.ipVersion]!;
    const responses: number[] = [];
    for (let r = 0; r < 16; r++) responses.push(u64(DNS_STATS.responses + r * 8));
    const latencyBuckets: number[] = [];
    for (let b = 0; b < DNS_LATENCY_BUCKETS; b++) latencyBuckets.push(u64(DNS_STATS.latencyBuckets + b * 8));
    out.push({
      client: addressText(s.keys, k + DNS_KEY.client, ipv(ipVersion)),
      server: addressText(s.keys, k + DNS_KEY.server, ipv(ipVersion)),
      qtype: s.keys.readUInt16LE(k + DNS_KEY.qtype),
      view: s.keys[k + DNS_KEY.view]!,
      proto: s.keys[k + DNS_KEY.proto]!,
      ipVersion,
      queries: u64(DNS_STATS.queries),
      responses,
      empty: u64(DNS_STATS.empty),
      unmatched: u64(DNS_STATS.unmatched),
      latencyCount: u64(DNS_STATS.latencyCount),
      latencySumNs: u64(DNS_STATS.latencySumNs),
      latencyBuckets,
      recordKey: s.keys.toString('hex', k, k + s.keySize),
    });
  }
  return out;
}

/** One dns_names entry: messages with one question name, query type and view. */
export interface DnsNameRecord {
  /** the name in wire format (letters lowered), possibly cut at DNS_PENDING_NAME bytes */
  readonly name: Buffer;
  readonly qtype: number;
  readonly view: number;
  readonly queries: number;
  /** by response code 0..15 */
  readonly responses: readonly number[];
  /** hex of the raw key */
  readonly recordKey: string;
}

export function decodeDnsNames(s: MapSnapshot): DnsNameRecord[] {
  const out: DnsNameRecord[] = [];
  for (let i = 0; i < s.count; i++) {
    const k = i * s.keySize;
    const v = i * s.valueStride;
    const responses: number[] = [];
    for (let r = 0; r < 16; r++) responses.push(Number(s.values.readBigUInt64LE(v + DNS_NAME_STATS.responses + r * 8)));
    const nameLen = Math.min(s.values[v + DNS_NAME_STATS.nameLen]!, DNS_PENDING_NAME);
    out.push({
      name: Buffer.from(s.values.subarray(v + DNS_NAME_STATS.name, v + DNS_NAME_STATS.name + nameLen)),
      qtype: s.keys.readUInt16LE(k + DNS_NAME_KEY.qtype),
      view: s.keys[k + DNS_NAME_KEY.view]!,
      queries: Number(s.values.readBigUInt64LE(v + DNS_NAME_STATS.queries)),
      responses,
      recordKey: s.keys.toString('hex', k, k + s.keySize),
    });
  }
  return out;
}

/** One dns_pending entry: a query still waiting for its response. */
export interface DnsPendingQuery {
  readonly client: string;
  readonly server: string;
  readonly clientPort: number;
  readonly id: number;
  readonly view: number;
  readonly proto: number;
  readonly ipVersion: number;
  readonly sentNs: bigint;
  readonly ifindex: number;
  readonly qtype: number;
  /** the question name in wire format (length-prefixed labels), possibly cut */
  readonly name: Buffer;
  /** the raw key, to delete the entry */
  readonly key: Buffer;
}

export function decodeDnsPending(s: MapSnapshot): DnsPendingQuery[] {
  const out: DnsPendingQuery[] = [];
  for (let i = 0; i < s.count; i++) {
    const k = i * s.keySize;
    const v = i * s.valueStride;
    const ipVersion = s.keys[k + DNS_PENDING_KEY.ipVersion]!;
    const nameLen = Math.min(s.values[v + DNS_PENDING.nameLen]!, DNS_PENDING_NAME);
    out.push({
      client: addressText(s.keys, k + DNS_PENDING_KEY.client, ipv(ipVersion)),
      server: addressText(s.keys, k + DNS_PENDING_KEY.server, ipv(ipVersion)),
      clientPort: s.keys.readUInt16LE(k + DNS_PENDING_KEY.clientPort),
      id: s.keys.readUInt16LE(k + DNS_PENDING_KEY.id),
      view: s.keys[k + DNS_PENDING_KEY.view]!,
      proto: s.keys[k + DNS_PENDING_KEY.proto]!,
      ipVersion,
      sentNs: s.values.readBigUInt64LE(v + DNS_PENDING.sentNs),
      ifindex: s.values.readUInt32LE(v + DNS_PENDING.ifindex),
      qtype: s.values.readUInt16LE(v + DNS_PENDING.qtype),
      name: Buffer.from(s.values.subarray(v + DNS_PENDING.name, v + DNS_PENDING.name + nameLen)),
      key: Buffer.from(s.keys.subarray(k, k + s.keySize)),
    });
  }
  return out;
}

/** A decoded dns_event, before the message is parsed. */
export interface RawDnsEvent {
  readonly timestampNs: bigint;
  readonly suppressed: number;
  readonly latencyNs: number;
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
  readonly ifindex: number;
  readonly msgLen: number;
  readonly view: number;
  readonly proto: number;
  readonly ipVersion: number;
  readonly direction: number;
  /** the copied DNS message bytes (a copy, safe to keep) */
  readonly data: Buffer;
}

export function decodeDnsEvent(v: DataView, off: number, len: number): RawDnsEvent {
  if (len < DNS_EVENT.size) throw new RangeError(`dns event of ${len} bytes, expected ${DNS_EVENT.size}`);
  const ipVersion = v.getUint8(off + DNS_EVENT.ipVersion);
  const addr = (at: number): string => addressText(Buffer.from(v.buffer, v.byteOffset + off + at, 16), 0, ipv(ipVersion));
  const copyLen = Math.min(v.getUint16(off + DNS_EVENT.copyLen, true), DNS_EVENT_COPY);
  return {
    timestampNs: v.getBigUint64(off + DNS_EVENT.timestampNs, true),
    suppressed: Number(v.getBigUint64(off + DNS_EVENT.suppressed, true)),
    latencyNs: Number(v.getBigUint64(off + DNS_EVENT.latencyNs, true)),
    src: addr(DNS_EVENT.src),
    dst: addr(DNS_EVENT.dst),
    sport: v.getUint16(off + DNS_EVENT.sport, true),
    dport: v.getUint16(off + DNS_EVENT.dport, true),
    ifindex: v.getUint32(off + DNS_EVENT.ifindex, true),
    msgLen: v.getUint16(off + DNS_EVENT.msgLen, true),
    view: v.getUint8(off + DNS_EVENT.view),
    proto: v.getUint8(off + DNS_EVENT.proto),
    ipVersion,
    direction: v.getUint8(off + DNS_EVENT.direction),
    data: Buffer.from(new Uint8Array(v.buffer, v.byteOffset + off + DNS_EVENT.data, copyLen)),
  };
}

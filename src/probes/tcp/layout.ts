/**
 * ABI of the tcp probe (mirror of bpf/tcp.h). test/abi compares these numbers with the BTF of
 * bpf/build/tcp.bpf.o and checks golden bytes.
 */
import type { MapSnapshot } from '../../kernel/map.js';
import { addressText } from '../addresses.js';
import { DROP_EVENT_CONFIG, DROP_EVENT_LIMIT } from '../drop/layout.js';

/** struct tcp_conn_key */
export const TCP_CONN_KEY = {
  size: 40,
  local: 0,        // __u8[16]
  remote: 16,      // __u8[16]
  netns: 32,       // __u32
  serverPort: 36,  // __u16 host order
  side: 38,        // __u8 enum tcp_side
  ipVersion: 39,   // __u8
} as const;

/** Buckets of the latency histograms (TCP_LATENCY_BUCKETS): 16 bounds and one above them. */
export const TCP_LATENCY_BUCKETS = 17;
/** enum tcp_failure: index → `fovea.tcp.failure` value */
export const TCP_FAILURES = ['reset', 'timeout', 'unreachable', 'other'] as const;

/** struct tcp_conn_stats (value of tcp_stats; shared by CPUs) */
export const TCP_CONN_STATS = {
  size: 376,
  retransSegs: 0,
  resetsSent: 8,
  resetsReceived: 16,
  opened: 24,
  failed: 32,            // __u64[4] by enum tcp_failure
  closed: 64,
  handshakeCount: 72,
  handshakeSumNs: 80,
  handshakeBuckets: 88,  // __u64[17]
  rttCount: 224,
  rttSumNs: 232,
  rttBuckets: 240,       // __u64[17]
} as const;

/** struct tcp_state_key */
export const TCP_STATE_KEY = {
  size: 24,
  local: 0,      // __u8[16]
  netns: 16,     // __u32
  state: 20,     // __u8 the kernel's TCP state
  ipVersion: 21, // __u8
  pad: 22,       // __u16 zero
} as const;

/** struct tcp_sock_info (value of tcp_socks; the agent never reads it, the ABI test checks it) */
export const TCP_SOCK_INFO = {
  size: 40,
  synSentNs: 0,  // __u64
  gauge: 8,      // struct tcp_state_key
  side: 32,      // __u8
  pad: 33,       // __u8[7]
} as const;

/** enum tcp_side */
export const TCP_SIDE = { unknown: 0, client: 1, server: 2 } as const;

/** enum tcp_error → `fovea.failure.kind` */
export const TCP_ERRORS = ['map_full', 'update_failed', 'socket_map_full', 'state_map_full'] as const;
/** Which of TCP_ERRORS lost counts (the socket and state maps only feed the gauge and handshake time). */
export const TCP_ERRORS_LOSING = new Set(['map_full', 'update_failed']);

/**
 * The kernel's TCP states (include/net/tcp_states.h) → `network.connection.state` (OpenTelemetry
 * semantic conventions). CLOSE is never counted (a socket leaves the gauge there); NEW_SYN_RECV
 * and BOUND_INACTIVE are not socket states of a connection and are not reported.
 */
export const TCP_STATE_NAMES: Record<number, string | undefined> = {
  1: 'established', 2: 'syn_sent', 3: 'syn_received', 4: 'fin_wait_1', 5: 'fin_wait_2', 6: 'time_wait',
  7: 'close', 8: 'close_wait', 9: 'last_ack', 10: 'listen', 11: 'closing',
};

/** One histogram as the kernel keeps it. */
export interface LatencyHistogram {
  readonly count: number;
  readonly sumNs: number;
  /** TCP_LATENCY_BUCKETS counts, not cumulative */
  readonly buckets: readonly number[];
}

/** One tcp_stats entry. */
export interface TcpConnRecord {
  readonly local: string;
  readonly remote: string;
  readonly netns: number;
  readonly serverPort: number;
  readonly side: number;
  readonly ipVersion: number;
  readonly retransSegs: number;
  readonly resetsSent: number;
  readonly resetsReceived: number;
  readonly opened: number;
  /** by TCP_FAILURES */
  readonly failed: readonly number[];
  readonly closed: number;
  readonly handshake: LatencyHistogram;
  readonly rtt: LatencyHistogram;
  /** hex of the raw key: identity of the kernel record */
  readonly recordKey: string;
}

function histogram(values: Buffer, at: number, countOff: number, sumOff: number, bucketsOff: number): LatencyHistogram {
  const buckets: number[] = [];
  for (let b = 0; b < TCP_LATENCY_BUCKETS; b++) buckets.push(Number(values.readBigUInt64LE(at + bucketsOff + b * 8)));
  return {
    count: Number(values.readBigUInt64LE(at + countOff)),
    sumNs: Number(values.readBigUInt64LE(at + sumOff)),
    buckets,
  };
}

export function decodeTcpConns(s: MapSnapshot): TcpConnRecord[] {
  const out: TcpConnRecord[] = [];
  for (let i = 0; i < s.count; i++) {
    const k = i * s.keySize;
    const v = i * s.valueStride;
    const ipVersion = s.keys[k + TCP_CONN_KEY.ipVersion]!;
    const u64 = (off: number): number => Number(s.values.readBigUInt64LE(v + off));
    const failed: number[] = [];
    for (let f = 0; f < TCP_FAILURES.length; f++) failed.push(u64(TCP_CONN_STATS.failed + f * 8));
    out.push({
      local: addressText(s.keys, k + TCP_CONN_KEY.local, ipVersion === 6 ? 6 : 4),
      remote: addressText(s.keys, k + TCP_CONN_KEY.remote, ipVersion === 6 ? 6 : 4),
      netns: s.keys.readUInt32LE(k + TCP_CONN_KEY.netns),
      serverPort: s.keys.readUInt16LE(k + TCP_CONN_KEY.serverPort),
      side: s.keys[k + TCP_CONN_KEY.side]!,
      ipVersion,
      retransSegs: u64(TCP_CONN_STATS.retransSegs),
      resetsSent: u64(TCP_CONN_STATS.resetsSent),
      resetsReceived: u64(TCP_CONN_STATS.resetsReceived),
      opened: u64(TCP_CONN_STATS.opened),
      failed,
      closed: u64(TCP_CONN_STATS.closed),
      handshake: histogram(s.values, v, TCP_CONN_STATS.handshakeCount, TCP_CONN_STATS.handshakeSumNs, TCP_CONN_STATS.handshakeBuckets),
      rtt: histogram(s.values, v, TCP_CONN_STATS.rttCount, TCP_CONN_STATS.rttSumNs, TCP_CONN_STATS.rttBuckets),
      recordKey: s.keys.toString('hex', k, k + s.keySize),
    });
  }
  return out;
}

/** One tcp_state_counts entry: sockets of one local address in one state now. */
export interface TcpStateCount {
  readonly local: string;
  readonly netns: number;
  readonly state: number;
  readonly ipVersion: number;
  readonly sockets: number;
  /** the raw key, hex */
  readonly recordKey: string;
}

export function decodeTcpStates(s: MapSnapshot): TcpStateCount[] {
  const out: TcpStateCount[] = [];
  for (let i = 0; i < s.count; i++) {
    const k = i * s.keySize;
    const ipVersion = s.keys[k + TCP_STATE_KEY.ipVersion]!;
    out.push({
      local: addressText(s.keys, k + TCP_STATE_KEY.local, ipVersion === 6 ? 6 : 4),
      netns: s.keys.readUInt32LE(k + TCP_STATE_KEY.netns),
      state: s.keys[k + TCP_STATE_KEY.state]!,
      ipVersion,
      sockets: Number(s.values.readBigInt64LE(i * s.valueStride)),
      recordKey: s.keys.toString('hex', k, k + s.keySize),
    });
  }
  return out;
}

// ---- events (ring buffer tcp_events) ----

/** enum tcp_event_type */
export const TCP_EVENT_TYPE = { retransmit: 0, resetSent: 1, resetReceived: 2, connectFailed: 3 } as const;
export const TCP_EVENT_TYPES = 4;

/**
 * struct tcp_event_config and struct tcp_event_limit have the drop events' layouts (the same
 * rate-limit scheme; where drop_event_limit keeps its `tick`, tcp_event_limit has `pad`); test/abi
 * checks both objects against these tables.
 */
export const TCP_EVENT_CONFIG = DROP_EVENT_CONFIG;
const { tick, ...sharedLimitFields } = DROP_EVENT_LIMIT;
export const TCP_EVENT_LIMIT = { ...sharedLimitFields, pad: tick } as const;
export { encodeDropEventConfig as encodeTcpEventConfig } from '../drop/layout.js';

/** struct tcp_event */
export const TCP_EVENT = {
  size: 72,
  timestampNs: 0,  // __u64
  suppressed: 8,   // __u64
  local: 16,       // __u8[16]
  remote: 32,      // __u8[16]
  netns: 48,       // __u32
  localPort: 52,   // __u16 host order
  remotePort: 54,  // __u16 host order
  type: 56,        // __u8 enum tcp_event_type
  ipVersion: 57,   // __u8
  side: 58,        // __u8 enum tcp_side
  state: 59,       // __u8
  detail: 60,      // __u32
  cpu: 64,         // __u32
  error: 68,       // __u32
} as const;

/** A decoded tcp_event, before identity. */
export interface RawTcpEvent {
  readonly timestampNs: bigint;
  readonly suppressed: number;
  readonly local: string;
  readonly remote: string;
  readonly netns: number;
  readonly localPort: number;
  readonly remotePort: number;
  readonly type: number;
  readonly ipVersion: number;
  readonly side: number;
  readonly state: number;
  readonly detail: number;
  readonly cpu: number;
  readonly error: number;
}

/** Decodes one ring record. Short records throw. */
export function decodeTcpEvent(v: DataView, off: number, len: number): RawTcpEvent {
  if (len < TCP_EVENT.size) throw new RangeError(`tcp event of ${len} bytes, expected ${TCP_EVENT.size}`);
  const ipVersion = v.getUint8(off + TCP_EVENT.ipVersion);
  const addr = (at: number): string => addressText(Buffer.from(v.buffer, v.byteOffset + off + at, 16), 0, ipVersion === 6 ? 6 : 4);
  return {
    timestampNs: v.getBigUint64(off + TCP_EVENT.timestampNs, true),
    suppressed: Number(v.getBigUint64(off + TCP_EVENT.suppressed, true)),
    local: addr(TCP_EVENT.local),
    remote: addr(TCP_EVENT.remote),
    netns: v.getUint32(off + TCP_EVENT.netns, true),
    localPort: v.getUint16(off + TCP_EVENT.localPort, true),
    remotePort: v.getUint16(off + TCP_EVENT.remotePort, true),
    type: v.getUint8(off + TCP_EVENT.type),
    ipVersion,
    side: v.getUint8(off + TCP_EVENT.side),
    state: v.getUint8(off + TCP_EVENT.state),
    detail: v.getUint32(off + TCP_EVENT.detail, true),
    cpu: v.getUint32(off + TCP_EVENT.cpu, true),
    error: v.getUint32(off + TCP_EVENT.error, true),
  };
}

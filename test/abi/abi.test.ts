/**
 * ABI: the structs and enums that cross from the eBPF objects to user space must match the TS
 * layout tables byte by byte (bpf/drop.h ↔ src/probes/drop/layout.ts, bpf/traffic.h ↔
 * src/probes/traffic/layout.ts, bpf/tcp.h ↔ src/probes/tcp/layout.ts).
 *
 * 1. Struct sizes and member offsets from the BTF of the compiled objects (bpf/build).
 * 2. Enum values. The ABI enums type nothing in the programs, so clang does not emit them into
 *    the objects' BTF; the test compiles the ABI header alone (clang -g -target bpf) into a
 *    BTF-only object and reads them from there. The header is the source of truth, so this
 *    checks the same thing. (If a later change types a map key with the enum, the object's own
 *    BTF is used instead.)
 * 3. Golden bytes: hand-written map entries, every byte commented (padding included), through
 *    the decoders with a 3-CPU per-CPU snapshot → exact values.
 * 4. Map names and key/value sizes the probes use, from the objects opened but not loaded.
 * Plus constants shared by C and TS that no BTF carries (tcp latency bounds), read from the sources.
 *
 * Needs: libbpf.so.1 and bpf/build/*.bpf.o (`bash scripts/build-bpf.sh`). No root.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Btf, type BtfEnumValue, type StructLayout } from '../../src/kernel/btf.js';
import { libbpf } from '../../src/kernel/libbpf.js';
import type { MapSnapshot } from '../../src/kernel/map.js';
import { BpfObject } from '../../src/kernel/object.js';
import { SYMBOL_BATCH, SYMBOL_OBJECT, SYMBOL_QUERY } from '../../src/kernel/symbolize.js';
import {
  DROP_ARRAY_REASONS, DROP_ERRORS, DROP_FLOW_KEY, DROP_IP, DROP_KEY, DROP_KEY_SLOTS, DROP_TRANSPORTS, decodeDropReasonCounts, dropReasonIndex, DROP_LOCATION_KEY, DROP_REASON_NONE_GIVEN, DROP_POD_KEY, DROP_TRANSPORT, DROP_VALUE, decodeDropCounts, decodeDropKey, encodeDropKey,
  DROP_EVENT, DROP_EVENT_CONFIG, DROP_EVENT_LIMIT, DROP_EVENT_SLOTS, decodeDropEvent, encodeDropEventConfig,
} from '../../src/probes/drop/layout.js';
import { DROP_OBJECT, DROP_OBJECT_NO_EVENTS } from '../../src/probes/drop/probe.js';
import {
  TRAFFIC_EGRESS, TRAFFIC_ERRORS, TRAFFIC_INGRESS, TRAFFIC_KEY, TRAFFIC_VALUE, decodeTrafficCounts, encodeTrafficKey,
  TRAFFIC_SLOT, TRAFFIC_SLOTS, FLOW_KEY, FLOW_VALUE,
} from '../../src/probes/traffic/layout.js';
import { TRAFFIC_OBJECT } from '../../src/probes/traffic/probe.js';
import {
  TCP_CONN_KEY, TCP_CONN_STATS, TCP_ERRORS, TCP_EVENT, TCP_EVENT_CONFIG, TCP_EVENT_LIMIT, TCP_EVENT_TYPE, TCP_EVENT_TYPES,
  TCP_FAILURES, TCP_LATENCY_BUCKETS, TCP_SIDE, TCP_SOCK_INFO, TCP_STATE_KEY, decodeTcpConns, decodeTcpEvent, decodeTcpStates,
} from '../../src/probes/tcp/layout.js';
import { TCP_OBJECT, TCP_TRACEPOINTS, tcpPrograms } from '../../src/probes/tcp/probe.js';
import {
  DNS_CONFIG, DNS_ERRORS, DNS_EVENT, DNS_NAME_KEY, DNS_NAME_STATS, DNS_EVENT_COPY, DNS_EVENT_SLOT, DNS_EVENT_SLOTS, DNS_KEY, DNS_LATENCY_BUCKETS, DNS_PENDING,
  DNS_PENDING_KEY, DNS_PENDING_NAME, DNS_STATS, DNS_VIEW, decodeDnsEvent,
} from '../../src/probes/dns/layout.js';
import { TCP_FAILURE, TCP_LATENCY_BOUNDS_S } from '../../src/names.js';

const BUILD = resolve('bpf/build');
const DROP_O = join(BUILD, DROP_OBJECT);
const DROP_NOEV_O = join(BUILD, DROP_OBJECT_NO_EVENTS);
const TRAFFIC_O = join(BUILD, TRAFFIC_OBJECT);
const TCP_O = join(BUILD, TCP_OBJECT);
const SYMBOL_O = join(BUILD, SYMBOL_OBJECT);

/** Which objects are missing; in CI a missing object fails instead of skipping. */
const missing = [DROP_O, DROP_NOEV_O, TRAFFIC_O, TCP_O, SYMBOL_O].filter((p) => !existsSync(p));
if (missing.length && process.env['CI'] === 'true') {
  throw new Error(`ABI test needs ${missing.join(', ')}: run \`bash scripts/build-bpf.sh\``);
}
const describeObjects = missing.length ? describe.skip : describe;
if (missing.length) console.warn(`[abi] skipped: ${missing.join(', ')} missing — run \`bash scripts/build-bpf.sh\``);

function layout(btf: Btf, name: string): StructLayout {
  const l = btf.structLayout(name);
  if (!l) throw new Error(`struct ${name} not in BTF of ${btf.source}`);
  return l;
}

/** offset of every member, by name */
const offsets = (l: StructLayout): Record<string, number> => Object.fromEntries(l.members.map((m) => [m.name, m.offset]));
const sizes = (l: StructLayout): Record<string, number> => Object.fromEntries(l.members.map((m) => [m.name, m.size]));

describeObjects('struct layouts: object BTF == TS layout tables', () => {
  let dropBtf: Btf;
  let trafficBtf: Btf;
  beforeAll(() => {
    dropBtf = Btf.parse(DROP_O);
    trafficBtf = Btf.parse(TRAFFIC_O);
  });
  afterAll(() => {
    dropBtf?.close();
    trafficBtf?.close();
  });

  it('struct drop_key', () => {
    const l = layout(dropBtf, 'drop_key');
    expect(l.size).toBe(DROP_KEY.size);
    // every member, in order: a new C member without a TS entry fails here
    expect(offsets(l)).toEqual({
      reason: DROP_KEY.reason, ip_version: DROP_KEY.ipVersion, transport: DROP_KEY.transport, pad: DROP_KEY.pad,
    });
    expect(sizes(l)).toEqual({ reason: 4, ip_version: 1, transport: 1, pad: 2 });
    expect(l.members.map((m) => m.name)).toEqual(['reason', 'ip_version', 'transport', 'pad']);
  });

  it('struct drop_location_key (kernels without drop reasons)', () => {
    const l = layout(dropBtf, 'drop_location_key');
    expect(l.size).toBe(DROP_LOCATION_KEY.size);
    expect(offsets(l)).toEqual({
      location: DROP_LOCATION_KEY.location, ip_version: DROP_LOCATION_KEY.ipVersion, transport: DROP_LOCATION_KEY.transport,
      pad: DROP_LOCATION_KEY.pad, pad2: DROP_LOCATION_KEY.pad2,
    });
    expect(sizes(l)).toEqual({ location: 8, ip_version: 1, transport: 1, pad: 2, pad2: 4 });
  });

  it('DROP_REASON_NONE_GIVEN is the header\'s value', () => {
    const m = /#define DROP_REASON_NONE_GIVEN (0x[0-9a-fA-F]+)U/.exec(readFileSync('bpf/drop.h', 'utf8'));
    expect(Number(m?.[1])).toBe(DROP_REASON_NONE_GIVEN);
  });

  it('struct drop_value', () => {
    const l = layout(dropBtf, 'drop_value');
    expect(l.size).toBe(DROP_VALUE.size);
    expect(offsets(l)).toEqual({ packets: DROP_VALUE.packets, bytes: DROP_VALUE.bytes });
    expect(sizes(l)).toEqual({ packets: 8, bytes: 8 });
  });

  it('struct traffic_value', () => {
    const l = layout(trafficBtf, 'traffic_value');
    expect(l.size).toBe(TRAFFIC_VALUE.size);
    expect(offsets(l)).toEqual({ packets: TRAFFIC_VALUE.packets, bytes: TRAFFIC_VALUE.bytes, flags: TRAFFIC_VALUE.flags, pad: TRAFFIC_VALUE.pad });
    // __u64[2] each, indexed by enum traffic_direction; __u32 flags; __u32 pad
    expect(sizes(l)).toEqual({ packets: 16, bytes: 16, flags: 4, pad: 4 });
  });

  it('struct flow_key / flow_value', () => {
    const k = layout(trafficBtf, 'flow_key');
    expect(k.size).toBe(FLOW_KEY.size);
    expect(offsets(k)).toEqual({ src: FLOW_KEY.src, dst: FLOW_KEY.dst, sport: FLOW_KEY.sport, dport: FLOW_KEY.dport,
      ifindex: FLOW_KEY.ifindex, proto: FLOW_KEY.proto, ip_version: FLOW_KEY.ipVersion, direction: FLOW_KEY.direction, pad: FLOW_KEY.pad });
    const v = layout(trafficBtf, 'flow_value');
    expect(v.size).toBe(FLOW_VALUE.size);
    expect(offsets(v)).toEqual({ packets: FLOW_VALUE.packets, bytes: FLOW_VALUE.bytes, first_seen_ns: FLOW_VALUE.firstSeenNs,
      last_seen_ns: FLOW_VALUE.lastSeenNs, tcp_flags: FLOW_VALUE.tcpFlags, pad: FLOW_VALUE.tcpFlags + 1 });
  });

  it('struct drop_pod_key / drop_flow_key / drop_ip', () => {
    const p = layout(dropBtf, 'drop_pod_key');
    expect(p.size).toBe(DROP_POD_KEY.size);
    expect(offsets(p)).toEqual({ pod_id: DROP_POD_KEY.podId, reason: DROP_POD_KEY.reason, side: DROP_POD_KEY.side,
      transport: DROP_POD_KEY.transport, ip_version: DROP_POD_KEY.ipVersion, pad: DROP_POD_KEY.pad });
    const f = layout(dropBtf, 'drop_flow_key');
    expect(f.size).toBe(DROP_FLOW_KEY.size);
    expect(offsets(f)).toEqual({ src: DROP_FLOW_KEY.src, dst: DROP_FLOW_KEY.dst, sport: DROP_FLOW_KEY.sport, dport: DROP_FLOW_KEY.dport,
      reason: DROP_FLOW_KEY.reason, proto: DROP_FLOW_KEY.proto, ip_version: DROP_FLOW_KEY.ipVersion, pad: DROP_FLOW_KEY.pad });
    expect(layout(dropBtf, 'drop_ip').size).toBe(DROP_IP.size);
  });

  it('struct drop_event / drop_event_limit / drop_event_config', () => {
    const e = headerStruct('drop.h', 'drop_event');
    expect(e.size).toBe(DROP_EVENT.size);
    expect(offsets(e)).toEqual({
      timestamp_ns: DROP_EVENT.timestampNs, location: DROP_EVENT.location, suppressed: DROP_EVENT.suppressed,
      reason: DROP_EVENT.reason, len: DROP_EVENT.len, ifindex: DROP_EVENT.ifindex, netns: DROP_EVENT.netns,
      src: DROP_EVENT.src, dst: DROP_EVENT.dst, sport: DROP_EVENT.sport, dport: DROP_EVENT.dport, proto: DROP_EVENT.proto,
      ip_version: DROP_EVENT.ipVersion, tcp_flags: DROP_EVENT.tcpFlags, transport: DROP_EVENT.transport, cpu: DROP_EVENT.cpu, pad: DROP_EVENT.pad,
    });
    expect(sizes(e)).toMatchObject({ timestamp_ns: 8, location: 8, suppressed: 8, src: 16, dst: 16, sport: 2, dport: 2, tcp_flags: 1, cpu: 4 });
    const l = layout(dropBtf, 'drop_event_limit');
    expect(l.size).toBe(DROP_EVENT_LIMIT.size);
    expect(offsets(l)).toEqual({
      window_start_ns: DROP_EVENT_LIMIT.windowStartNs, pending: DROP_EVENT_LIMIT.pending, suppressed: DROP_EVENT_LIMIT.suppressed,
      ring_full: DROP_EVENT_LIMIT.ringFull, emitted: DROP_EVENT_LIMIT.emitted, in_window: DROP_EVENT_LIMIT.inWindow, tick: DROP_EVENT_LIMIT.tick,
    });
    const c = layout(dropBtf, 'drop_event_config');
    expect(c.size).toBe(DROP_EVENT_CONFIG.size);
    expect(offsets(c)).toEqual({ enabled: DROP_EVENT_CONFIG.enabled, per_window: DROP_EVENT_CONFIG.perWindow, window_ns: DROP_EVENT_CONFIG.windowNs });
  });

  it('struct traffic_slot', () => {
    const l = layout(trafficBtf, 'traffic_slot');
    expect(l.size).toBe(TRAFFIC_SLOT.size);
    expect(offsets(l)).toEqual({ ifindex: TRAFFIC_SLOT.ifindex, pad: TRAFFIC_SLOT.pad, counts: TRAFFIC_SLOT.counts });
    expect(sizes(l)).toEqual({ ifindex: 4, pad: 4, counts: TRAFFIC_VALUE.size });
  });
});

describeObjects('struct layouts: tcp.bpf.o BTF == src/probes/tcp/layout.ts', () => {
  let tcpBtf: Btf;
  beforeAll(() => {
    tcpBtf = Btf.parse(TCP_O);
  });
  afterAll(() => {
    tcpBtf?.close();
  });

  /** From the object's BTF when a map types it there; a ring record only from the header alone. */
  const structOf = (name: string): StructLayout => tcpBtf.structLayout(name) ?? headerStruct('tcp.h', name);

  it('struct tcp_conn_key', () => {
    const l = structOf('tcp_conn_key');
    expect(l.size).toBe(TCP_CONN_KEY.size);
    // every member, in order: a new C member without a TS entry fails here
    expect(l.members.map((m) => m.name)).toEqual(['local', 'remote', 'netns', 'server_port', 'side', 'ip_version']);
    expect(offsets(l)).toEqual({
      local: TCP_CONN_KEY.local, remote: TCP_CONN_KEY.remote, netns: TCP_CONN_KEY.netns, server_port: TCP_CONN_KEY.serverPort,
      side: TCP_CONN_KEY.side, ip_version: TCP_CONN_KEY.ipVersion,
    });
    expect(sizes(l)).toEqual({ local: 16, remote: 16, netns: 4, server_port: 2, side: 1, ip_version: 1 });
  });

  it('struct tcp_conn_stats (histogram arrays of TCP_LATENCY_BUCKETS, failed[] of TCP_FAILURES.length)', () => {
    const l = structOf('tcp_conn_stats');
    expect(l.size).toBe(TCP_CONN_STATS.size);
    expect(l.members.map((m) => m.name)).toEqual([
      'retrans_segs', 'resets_sent', 'resets_received', 'opened', 'failed', 'closed',
      'handshake_count', 'handshake_sum_ns', 'handshake_buckets', 'rtt_count', 'rtt_sum_ns', 'rtt_buckets',
    ]);
    expect(offsets(l)).toEqual({
      retrans_segs: TCP_CONN_STATS.retransSegs, resets_sent: TCP_CONN_STATS.resetsSent, resets_received: TCP_CONN_STATS.resetsReceived,
      opened: TCP_CONN_STATS.opened, failed: TCP_CONN_STATS.failed, closed: TCP_CONN_STATS.closed,
      handshake_count: TCP_CONN_STATS.handshakeCount, handshake_sum_ns: TCP_CONN_STATS.handshakeSumNs,
      handshake_buckets: TCP_CONN_STATS.handshakeBuckets, rtt_count: TCP_CONN_STATS.rttCount, rtt_sum_ns: TCP_CONN_STATS.rttSumNs,
      rtt_buckets: TCP_CONN_STATS.rttBuckets,
    });
    expect(sizes(l)).toEqual({
      retrans_segs: 8, resets_sent: 8, resets_received: 8, opened: 8, failed: 8 * TCP_FAILURES.length, closed: 8,
      handshake_count: 8, handshake_sum_ns: 8, handshake_buckets: 8 * TCP_LATENCY_BUCKETS,
      rtt_count: 8, rtt_sum_ns: 8, rtt_buckets: 8 * TCP_LATENCY_BUCKETS,
    });
  });

  it('struct tcp_state_key / tcp_sock_info (the gauge key embedded in the socket record)', () => {
    const k = structOf('tcp_state_key');
    expect(k.size).toBe(TCP_STATE_KEY.size);
    expect(k.members.map((m) => m.name)).toEqual(['local', 'netns', 'state', 'ip_version', 'pad']);
    expect(offsets(k)).toEqual({
      local: TCP_STATE_KEY.local, netns: TCP_STATE_KEY.netns, state: TCP_STATE_KEY.state, ip_version: TCP_STATE_KEY.ipVersion, pad: TCP_STATE_KEY.pad,
    });
    expect(sizes(k)).toEqual({ local: 16, netns: 4, state: 1, ip_version: 1, pad: 2 });
    const s = structOf('tcp_sock_info');
    expect(s.size).toBe(TCP_SOCK_INFO.size);
    expect(s.members.map((m) => m.name)).toEqual(['syn_sent_ns', 'gauge', 'side', 'pad']);
    expect(offsets(s)).toEqual({ syn_sent_ns: TCP_SOCK_INFO.synSentNs, gauge: TCP_SOCK_INFO.gauge, side: TCP_SOCK_INFO.side, pad: TCP_SOCK_INFO.pad });
    expect(sizes(s)).toEqual({ syn_sent_ns: 8, gauge: TCP_STATE_KEY.size, side: 1, pad: 7 });
  });

  it('struct tcp_event (a ring record: from the header alone when the object does not carry it)', () => {
    const e = structOf('tcp_event');
    expect(e.size).toBe(TCP_EVENT.size);
    expect(e.members.map((m) => m.name)).toEqual([
      'timestamp_ns', 'suppressed', 'local', 'remote', 'netns', 'local_port', 'remote_port', 'type', 'ip_version', 'side', 'state',
      'detail', 'cpu', 'error',
    ]);
    expect(offsets(e)).toEqual({
      timestamp_ns: TCP_EVENT.timestampNs, suppressed: TCP_EVENT.suppressed, local: TCP_EVENT.local, remote: TCP_EVENT.remote,
      netns: TCP_EVENT.netns, local_port: TCP_EVENT.localPort, remote_port: TCP_EVENT.remotePort, type: TCP_EVENT.type,
      ip_version: TCP_EVENT.ipVersion, side: TCP_EVENT.side, state: TCP_EVENT.state, detail: TCP_EVENT.detail, cpu: TCP_EVENT.cpu,
      error: TCP_EVENT.error,
    });
    expect(sizes(e)).toEqual({
      timestamp_ns: 8, suppressed: 8, local: 16, remote: 16, netns: 4, local_port: 2, remote_port: 2, type: 1, ip_version: 1,
      side: 1, state: 1, detail: 4, cpu: 4, error: 4,
    });
  });

  it('struct tcp_event_config / tcp_event_limit (the drop events\' tables, reused)', () => {
    const c = structOf('tcp_event_config');
    expect(c.size).toBe(TCP_EVENT_CONFIG.size);
    expect(offsets(c)).toEqual({ enabled: TCP_EVENT_CONFIG.enabled, per_window: TCP_EVENT_CONFIG.perWindow, window_ns: TCP_EVENT_CONFIG.windowNs });
    expect(sizes(c)).toEqual({ enabled: 4, per_window: 4, window_ns: 8 });
    const l = structOf('tcp_event_limit');
    expect(l.size).toBe(TCP_EVENT_LIMIT.size);
    expect(offsets(l)).toEqual({
      window_start_ns: TCP_EVENT_LIMIT.windowStartNs, pending: TCP_EVENT_LIMIT.pending, suppressed: TCP_EVENT_LIMIT.suppressed,
      ring_full: TCP_EVENT_LIMIT.ringFull, emitted: TCP_EVENT_LIMIT.emitted, in_window: TCP_EVENT_LIMIT.inWindow, pad: TCP_EVENT_LIMIT.pad,
    });
    expect(sizes(l)).toEqual({ window_start_ns: 8, pending: 8, suppressed: 8, ring_full: 8, emitted: 8, in_window: 4, pad: 4 });
  });
});

/**
 * Enum values of an ABI header: from the object's BTF when present there, else from a BTF-only
 * object compiled from the header alone.
 */
function headerEnums(header: string, names: readonly string[]): Record<string, BtfEnumValue[]> {
  // a global of each enum type makes clang emit the enum into BTF
  return withHeaderBtf(header, names.map((n) => `enum ${n} abi_${n};`), (btf) => Object.fromEntries(names.map((n) => {
    const v = btf.enumValues(n);
    if (!v) throw new Error(`enum ${n} not in BTF compiled from bpf/${header}`);
    return [n, v];
  })));
}

/**
 * Layout of a struct of an ABI header that the object's BTF does not carry (a ring buffer record
 * is only reached through a pointer in the program): compiled for BPF from the header alone.
 */
function headerStruct(header: string, name: string): StructLayout {
  return withHeaderBtf(header, [`struct ${name} abi_${name};`], (btf) => layout(btf, name));
}

function withHeaderBtf<T>(header: string, decls: readonly string[], use: (btf: Btf) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'fovea-abi-'));
  try {
    const src = join(dir, 'abi.c');
    writeFileSync(src, [
      'typedef unsigned char __u8; typedef unsigned short __u16;',
      'typedef unsigned int __u32; typedef unsigned long long __u64;',
      `#include "${resolve('bpf', header)}"`,
      ...decls,
      '',
    ].join('\n'));
    const obj = join(dir, 'abi.o');
    execFileSync(process.env['CLANG'] ?? 'clang', ['-g', '-O2', '-target', 'bpf', '-c', src, '-o', obj], { stdio: 'pipe' });
    const btf = Btf.parse(obj);
    try {
      return use(btf);
    } finally {
      btf.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function enumsOf(objectPath: string, header: string, names: readonly string[]): Record<string, BtfEnumValue[]> {
  const btf = Btf.parse(objectPath);
  let fromObject: Record<string, BtfEnumValue[]> | undefined;
  try {
    const found = names.map((n) => [n, btf.enumValues(n)] as const);
    if (found.every(([, v]) => v)) fromObject = Object.fromEntries(found) as Record<string, BtfEnumValue[]>;
  } finally {
    btf.close();
  }
  return fromObject ?? headerEnums(header, names);
}

const asRecord = (v: BtfEnumValue[]): Record<string, number> => Object.fromEntries(v.map((e) => [e.name, e.value]));

let clang = true;
try {
  execFileSync(process.env['CLANG'] ?? 'clang', ['--version'], { stdio: 'pipe' });
} catch {
  clang = false;
  if (process.env['CI'] === 'true') throw new Error('ABI enum test needs clang (apt-get install clang)');
  console.warn('[abi] enum checks skipped: clang not installed (apt-get install clang)');
}

describe.skipIf(missing.length > 0 || !clang)('enum values: C header == TS tables', () => {
  it('enum drop_transport ↔ DROP_TRANSPORT', () => {
    const { drop_transport: e } = enumsOf(DROP_O, 'drop.h', ['drop_transport']);
    expect(asRecord(e!)).toEqual({
      DROP_TRANSPORT_UNKNOWN: 0, DROP_TRANSPORT_TCP: 1, DROP_TRANSPORT_UDP: 2, DROP_TRANSPORT_ICMP: 3, DROP_TRANSPORT_OTHER: 4,
    });
    // the TS table maps exactly those values, UNKNOWN to "no attribute"
    const fromTs = Object.fromEntries(e!.map(({ name, value }) => [name, DROP_TRANSPORT[value]]));
    expect(fromTs).toEqual({
      DROP_TRANSPORT_UNKNOWN: undefined, DROP_TRANSPORT_TCP: 'tcp', DROP_TRANSPORT_UDP: 'udp',
      DROP_TRANSPORT_ICMP: 'icmp', DROP_TRANSPORT_OTHER: 'other',
    });
    expect(Object.keys(DROP_TRANSPORT).map(Number).sort()).toEqual(e!.map((x) => x.value).sort());
  });

  it('enum drop_error ↔ DROP_ERRORS (index = value, MAX = length)', () => {
    const { drop_error: e } = enumsOf(DROP_O, 'drop.h', ['drop_error']);
    const r = asRecord(e!);
    expect(r).toEqual({ DROP_ERR_MAP_FULL: 0, DROP_ERR_UPDATE: 1, DROP_ERR_HEADER_READ: 2, DROP_ERR_POD_MAP_FULL: 3, DROP_ERR_FLOW_INSERT: 4, DROP_ERR_MAX: 5 });
    expect(DROP_ERRORS[r['DROP_ERR_POD_MAP_FULL']!]).toBe('pod_map_full');
    expect(DROP_ERRORS[r['DROP_ERR_FLOW_INSERT']!]).toBe('flow_insert_failed');
    expect(DROP_ERRORS[r['DROP_ERR_MAP_FULL']!]).toBe('map_full');
    expect(DROP_ERRORS[r['DROP_ERR_UPDATE']!]).toBe('update_failed');
    expect(DROP_ERRORS[r['DROP_ERR_HEADER_READ']!]).toBe('header_unreadable');
    expect(DROP_ERRORS).toHaveLength(r['DROP_ERR_MAX']!);
  });

  it('enum traffic_direction ↔ TRAFFIC_INGRESS/EGRESS, enum traffic_error ↔ TRAFFIC_ERRORS', () => {
    const { traffic_direction: d, traffic_error: e } = enumsOf(TRAFFIC_O, 'traffic.h', ['traffic_direction', 'traffic_error']);
    expect(asRecord(d!)).toEqual({ TRAFFIC_INGRESS, TRAFFIC_EGRESS });
    const r = asRecord(e!);
    expect(r).toEqual({ TRAFFIC_ERR_MAP_FULL: 0, TRAFFIC_ERR_UPDATE: 1, TRAFFIC_ERR_FLOW_INSERT: 2, TRAFFIC_ERR_MAX: 3 });
    expect(TRAFFIC_ERRORS[r['TRAFFIC_ERR_FLOW_INSERT']!]).toBe('flow_insert_failed');
    expect(TRAFFIC_ERRORS[r['TRAFFIC_ERR_MAP_FULL']!]).toBe('map_full');
    expect(TRAFFIC_ERRORS[r['TRAFFIC_ERR_UPDATE']!]).toBe('update_failed');
    expect(TRAFFIC_ERRORS).toHaveLength(r['TRAFFIC_ERR_MAX']!);
  });
});

describe.skipIf(missing.length > 0 || !clang)('enum values: bpf/tcp.h == src/probes/tcp/layout.ts', () => {
  const tcpEnums = (): Record<string, Record<string, number>> => {
    const e = enumsOf(TCP_O, 'tcp.h', ['tcp_side', 'tcp_failure', 'tcp_error', 'tcp_event_type']);
    return Object.fromEntries(Object.entries(e).map(([k, v]) => [k, asRecord(v)]));
  };

  it('enum tcp_side ↔ TCP_SIDE', () => {
    const r = tcpEnums()['tcp_side']!;
    expect(r).toEqual({ TCP_SIDE_UNKNOWN: 0, TCP_SIDE_CLIENT: 1, TCP_SIDE_SERVER: 2 });
    expect(TCP_SIDE).toEqual({ unknown: r['TCP_SIDE_UNKNOWN'], client: r['TCP_SIDE_CLIENT'], server: r['TCP_SIDE_SERVER'] });
  });

  it('enum tcp_failure ↔ TCP_FAILURES (index = value, MAX = length), values of fovea.tcp.failure', () => {
    const r = tcpEnums()['tcp_failure']!;
    expect(r).toEqual({ TCP_FAIL_RESET: 0, TCP_FAIL_TIMEOUT: 1, TCP_FAIL_UNREACHABLE: 2, TCP_FAIL_OTHER: 3, TCP_FAIL_MAX: 4 });
    expect(TCP_FAILURES[r['TCP_FAIL_RESET']!]).toBe('reset');
    expect(TCP_FAILURES[r['TCP_FAIL_TIMEOUT']!]).toBe('timeout');
    expect(TCP_FAILURES[r['TCP_FAIL_UNREACHABLE']!]).toBe('unreachable');
    expect(TCP_FAILURES[r['TCP_FAIL_OTHER']!]).toBe('other');
    expect(TCP_FAILURES).toHaveLength(r['TCP_FAIL_MAX']!);
    // the attribute values documented in names.ts are exactly these
    expect([...TCP_FAILURES].sort()).toEqual(Object.values(TCP_FAILURE).sort());
  });

  it('enum tcp_error ↔ TCP_ERRORS (index = value, MAX = length)', () => {
    const r = tcpEnums()['tcp_error']!;
    expect(r).toEqual({ TCP_ERR_MAP_FULL: 0, TCP_ERR_UPDATE: 1, TCP_ERR_SOCK_MAP_FULL: 2, TCP_ERR_STATE_MAP_FULL: 3, TCP_ERR_MAX: 4 });
    expect(TCP_ERRORS[r['TCP_ERR_MAP_FULL']!]).toBe('map_full');
    expect(TCP_ERRORS[r['TCP_ERR_UPDATE']!]).toBe('update_failed');
    expect(TCP_ERRORS[r['TCP_ERR_SOCK_MAP_FULL']!]).toBe('socket_map_full');
    expect(TCP_ERRORS[r['TCP_ERR_STATE_MAP_FULL']!]).toBe('state_map_full');
    expect(TCP_ERRORS).toHaveLength(r['TCP_ERR_MAX']!);
  });

  it('enum tcp_event_type ↔ TCP_EVENT_TYPE, TYPES = TCP_EVENT_TYPES', () => {
    const r = tcpEnums()['tcp_event_type']!;
    expect(r).toEqual({
      TCP_EVENT_RETRANSMIT: 0, TCP_EVENT_RESET_SENT: 1, TCP_EVENT_RESET_RECEIVED: 2, TCP_EVENT_CONNECT_FAILED: 3, TCP_EVENT_TYPES: 4,
    });
    expect(TCP_EVENT_TYPE).toEqual({
      retransmit: r['TCP_EVENT_RETRANSMIT'], resetSent: r['TCP_EVENT_RESET_SENT'], resetReceived: r['TCP_EVENT_RESET_RECEIVED'],
      connectFailed: r['TCP_EVENT_CONNECT_FAILED'],
    });
    expect(TCP_EVENT_TYPES).toBe(r['TCP_EVENT_TYPES']);
  });
});

describe('constants: tcp latency buckets (bpf/tcp.h, bpf/tcp.bpf.c) == src/names.ts', () => {
  const header = readFileSync(resolve('bpf/tcp.h'), 'utf8');
  const source = readFileSync(resolve('bpf/tcp.bpf.c'), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');

  it('TCP_LATENCY_BUCKETS == 1 + TCP_LATENCY_BOUNDS_S.length, in the header and the TS table', () => {
    const m = /^#define\s+TCP_LATENCY_BUCKETS\s+(\d+)\s*$/m.exec(header);
    expect(m, 'TCP_LATENCY_BUCKETS not defined in bpf/tcp.h').not.toBeNull();
    expect(Number(m![1])).toBe(TCP_LATENCY_BUCKETS);
    expect(TCP_LATENCY_BUCKETS).toBe(1 + TCP_LATENCY_BOUNDS_S.length);
  });

  it('TCP_LATENCY_BOUNDS_NS in tcp.bpf.c == TCP_LATENCY_BOUNDS_S × 1e9, bound by bound', () => {
    const m = /TCP_LATENCY_BOUNDS_NS\s*\[([^\]]*)\]\s*=\s*\{([^}]*)\}/.exec(source);
    expect(m, 'TCP_LATENCY_BOUNDS_NS[] = { ... } not found in bpf/tcp.bpf.c').not.toBeNull();
    expect(m![1]!.replace(/\s+/g, '')).toBe('TCP_LATENCY_BUCKETS-1');
    const ns = m![2]!.split(',').map((x) => x.trim()).filter(Boolean).map((x) => {
      expect(x).toMatch(/^\d+(ULL|UL|U|LL)?$/i);
      return BigInt(x.replace(/[ul]+$/i, ''));
    });
    expect(ns).toHaveLength(TCP_LATENCY_BOUNDS_S.length);
    // exact: an integer number of ns divided by 1e9 rounds to the same double as the decimal literal
    expect(ns.map((n) => Number(n) / 1e9)).toEqual([...TCP_LATENCY_BOUNDS_S]);
    expect(ns.map(String)).toEqual(TCP_LATENCY_BOUNDS_S.map((s) => String(Math.round(s * 1e9))));
    for (let i = 1; i < ns.length; i++) expect(ns[i]! > ns[i - 1]!).toBe(true);
  });
});

describeObjects('maps the probes use: names and sizes in the objects (opened, not loaded)', () => {
  const cases = [
    // object, map, key size, value size (one CPU slot), the TS table that decodes it
    { obj: DROP_O, map: 'drop_counts', key: DROP_KEY.size, value: DROP_VALUE.size },
    { obj: DROP_O, map: 'drop_reason_counts', key: 4 /* __u32 slot index */, value: DROP_VALUE.size },
    { obj: DROP_NOEV_O, map: 'drop_reason_counts', key: 4 /* __u32 slot index */, value: DROP_VALUE.size },
    { obj: DROP_O, map: 'drop_location_counts', key: DROP_LOCATION_KEY.size, value: DROP_VALUE.size },
    { obj: DROP_NOEV_O, map: 'drop_location_counts', key: DROP_LOCATION_KEY.size, value: DROP_VALUE.size },
    { obj: DROP_O, map: 'drop_errors', key: 4 /* __u32 enum drop_error */, value: 8 /* __u64 */ },
    { obj: TRAFFIC_O, map: 'traffic_counts', key: TRAFFIC_KEY.size, value: TRAFFIC_VALUE.size },
    { obj: TRAFFIC_O, map: 'traffic_errors', key: 4 /* __u32 enum traffic_error */, value: 8 /* __u64 */ },
    { obj: TRAFFIC_O, map: 'traffic_slots', key: 4 /* __u32 slot index */, value: TRAFFIC_SLOT.size },
  ];
  for (const c of cases) {
    it(`${c.map}: key ${c.key} B, value ${c.value} B, per-CPU`, () => {
      const obj = BpfObject.open(c.obj);
      try {
        expect(obj.isLoaded).toBe(false);
        const m = obj.map(c.map);
        expect({ key: m.keySize, value: m.valueSize, perCpu: m.perCpu }).toEqual({ key: c.key, value: c.value, perCpu: true });
      } finally {
        obj.close();
      }
    });
  }

  it('error arrays have one slot per TS failure kind', () => {
    const d = BpfObject.open(DROP_O);
    const t = BpfObject.open(TRAFFIC_O);
    try {
      expect(d.map('drop_errors').maxEntries).toBe(DROP_ERRORS.length);
      // compiled-in size of the reason array, before the agent sizes it to the kernel's reasons
      expect(d.map('drop_reason_counts').maxEntries).toBe(DROP_ARRAY_REASONS * DROP_KEY_SLOTS);
      expect(d.map('drop_event_limits').maxEntries).toBe(DROP_EVENT_SLOTS);
      expect(d.map('drop_event_limits').valueSize).toBe(DROP_EVENT_LIMIT.size);
      expect(d.map('drop_event_cfg').valueSize).toBe(DROP_EVENT_CONFIG.size);
      expect(d.map('drop_events').maxEntries % 4096).toBe(0);
      expect(t.map('traffic_errors').maxEntries).toBe(TRAFFIC_ERRORS.length);
      expect(t.map('traffic_slots').maxEntries).toBe(TRAFFIC_SLOTS);
    } finally {
      d.close();
      t.close();
    }
  });

  it('the drop object without events has the same programs and counting maps, and no ring buffer', () => {
    const d = BpfObject.open(DROP_NOEV_O);
    try {
      for (const p of ['drop_tp_btf', 'drop_raw_tp']) expect(d.program(p).name).toBe(p);
      for (const m of ['drop_counts', 'drop_reason_counts', 'drop_errors', 'drop_pod_ips', 'drop_pod_counts', 'drop_flows']) expect(d.map(m).name).toBe(m);
      for (const m of ['drop_events', 'drop_event_cfg', 'drop_event_limits']) expect(() => d.map(m)).toThrow(/ENOENT|find map/);
    } finally {
      d.close();
    }
  });

  it('programs the probes load exist', () => {
    const d = BpfObject.open(DROP_O);
    const t = BpfObject.open(TRAFFIC_O);
    try {
      for (const p of ['drop_tp_btf', 'drop_raw_tp']) expect(d.program(p).name).toBe(p);
      for (const p of ['traffic_ingress', 'traffic_egress']) expect(t.program(p).name).toBe(p);
    } finally {
      d.close();
      t.close();
    }
  });
});

describeObjects('tcp.bpf.o: maps and programs (opened, not loaded)', () => {
  const cases = [
    // map, key size, value size (one CPU slot for per-CPU maps), per-CPU
    { map: 'tcp_stats', key: TCP_CONN_KEY.size, value: TCP_CONN_STATS.size, perCpu: false }, // shared, atomic adds
    { map: 'tcp_socks', key: 8 /* __u64 the socket's kernel address */, value: TCP_SOCK_INFO.size, perCpu: false },
    { map: 'tcp_state_counts', key: TCP_STATE_KEY.size, value: 8 /* __s64 */, perCpu: false },
    { map: 'tcp_errors', key: 4 /* __u32 enum tcp_error */, value: 8 /* __u64 */, perCpu: true },
    { map: 'tcp_event_cfg', key: 4 /* __u32 0 */, value: TCP_EVENT_CONFIG.size, perCpu: false },
    { map: 'tcp_event_limits', key: 4 /* __u32 enum tcp_event_type */, value: TCP_EVENT_LIMIT.size, perCpu: true },
    { map: 'tcp_events', key: 0, value: 0, perCpu: false }, // ring buffer: records, no key or value
  ];
  for (const c of cases) {
    it(`${c.map}: key ${c.key} B, value ${c.value} B${c.perCpu ? ', per-CPU' : ''}`, () => {
      const obj = BpfObject.open(TCP_O);
      try {
        expect(obj.isLoaded).toBe(false);
        const m = obj.map(c.map);
        expect({ key: m.keySize, value: m.valueSize, perCpu: m.perCpu }).toEqual({ key: c.key, value: c.value, perCpu: c.perCpu });
      } finally {
        obj.close();
      }
    });
  }

  it('arrays have one slot per TS index; the ring is page-sized', () => {
    const obj = BpfObject.open(TCP_O);
    try {
      expect(obj.map('tcp_errors').maxEntries).toBe(TCP_ERRORS.length);
      expect(obj.map('tcp_event_limits').maxEntries).toBe(TCP_EVENT_TYPES);
      expect(obj.map('tcp_event_cfg').maxEntries).toBe(1);
      expect(obj.map('tcp_events').maxEntries).toBe(256 * 1024); // TCP_EVENT_RING_BYTES, the probe's default too
      expect(obj.map('tcp_events').maxEntries % 4096).toBe(0);
    } finally {
      obj.close();
    }
  });

  it('exactly the six programs, each on the tracepoint the probe names', () => {
    // every program of the object (a seventh would be loaded by default and never attached)
    const lib = libbpf();
    const h = lib.bpf_object__open_file(TCP_O, null);
    expect(h).toBeTruthy();
    const names: string[] = [];
    try {
      for (let p = lib.bpf_object__next_program(h, null); p; p = lib.bpf_object__next_program(h, p)) names.push(lib.bpf_program__name(p));
    } finally {
      lib.bpf_object__close(h);
    }
    const six = ['tcp_retransmit', 'tcp_retransmit_err', 'tcp_retransmit_synack', 'tcp_send_reset', 'tcp_receive_reset', 'tcp_set_state'];
    expect([...names].sort()).toEqual([...six].sort());
    const obj = BpfObject.open(TCP_O);
    try {
      for (const p of six) expect(obj.program(p).name).toBe(p);
    } finally {
      obj.close();
    }
    // whatever the kernel's arity, the probe picks programs of this object, one per tracepoint
    for (const arity of [2, 3]) {
      const chosen = tcpPrograms((tp) => (tp === 'tcp_retransmit_skb' ? arity : 1)).programs;
      expect(chosen).toHaveLength(TCP_TRACEPOINTS.length);
      for (const p of chosen) expect(six).toContain(p);
    }
    // the section of each program (the attach point) in the source
    const source = readFileSync(resolve('bpf/tcp.bpf.c'), 'utf8');
    const sections = Object.fromEntries([...source.matchAll(/SEC\("raw_tp\/(\w+)"\)\s*\n\s*int\s+(\w+)\s*\(/g)].map((m) => [m[2], m[1]]));
    expect(sections).toEqual({
      tcp_retransmit: 'tcp_retransmit_skb', tcp_retransmit_err: 'tcp_retransmit_skb', tcp_retransmit_synack: 'tcp_retransmit_synack',
      tcp_send_reset: 'tcp_send_reset', tcp_receive_reset: 'tcp_receive_reset', tcp_set_state: 'inet_sock_set_state',
    });
    expect([...new Set(Object.values(sections))].sort()).toEqual([...TCP_TRACEPOINTS].sort());
  });
});

// ---------------------------------------------------------------------------------------------
// Golden bytes. Little-endian throughout (x86-64 and arm64 BPF are both LE).

describe('golden bytes: struct drop_key', () => {
  // reason 0x0102_0304 (arbitrary: shows the byte order), IPv6, UDP
  const key = Buffer.from([
    0x04, 0x03, 0x02, 0x01, // 0..3  reason   __u32 LE = 0x01020304
    0x06,                   // 4     ip_version __u8 = 6
    0x02,                   // 5     transport  __u8 = DROP_TRANSPORT_UDP
    0x00, 0x00,             // 6..7  pad        __u16, always zero (a non-zero pad would be a different hash key)
  ]);

  it('decodes', () => {
    expect(decodeDropKey(key)).toEqual({ reason: 0x01020304, ipVersion: 6, transport: 2 });
  });

  it('encodes to exactly the same 8 bytes (pad zeroed) — lookups by key depend on it', () => {
    expect(encodeDropKey({ reason: 0x01020304, ipVersion: 6, transport: 2 })).toEqual(key);
  });

  it('decodes at an offset inside a packed key array', () => {
    const two = Buffer.concat([Buffer.alloc(8, 0xff), key]);
    expect(decodeDropKey(two, 8)).toEqual({ reason: 0x01020304, ipVersion: 6, transport: 2 });
  });

  it('subsystem reasons use the upper 16 bits of the u32', () => {
    const k = Buffer.from([
      0x01, 0x00, 0x03, 0x00, // reason = 0x0003_0001 (subsystem 3, reason 1)
      0x00,                   // ip_version = 0: not IP
      0x00,                   // transport = DROP_TRANSPORT_UNKNOWN
      0x00, 0x00,             // pad
    ]);
    expect(decodeDropKey(k)).toEqual({ reason: 0x30001, ipVersion: 0, transport: 0 });
  });
});

describe('golden bytes: drop_counts snapshot, 3 CPUs', () => {
  // Two entries. keySize 8; per-CPU value slot = sizeof(struct drop_value) = 16 (already a
  // multiple of 8, so no slot padding); valueStride = 3 * 16 = 48.
  const keys = Buffer.from([
    // entry 0: reason 3 (NO_SOCKET on 6.18; values differ between kernels), IPv4, UDP
    0x03, 0x00, 0x00, 0x00, //  0..3  reason = 3
    0x04,                   //  4     ip_version = 4
    0x02,                   //  5     transport = UDP
    0x00, 0x00,             //  6..7  pad
    // entry 1: reason 0x10000 + 5 (subsystem reason), not IP
    0x05, 0x00, 0x01, 0x00, //  8..11 reason = 0x00010005
    0x00,                   // 12     ip_version = 0
    0x00,                   // 13     transport = UNKNOWN
    0x00, 0x00,             // 14..15 pad
  ]);
  const values = Buffer.from([
    // entry 0, CPU 0: packets = 1, bytes = 60
    0x01, 0, 0, 0, 0, 0, 0, 0,          //   0..7   packets __u64
    0x3c, 0, 0, 0, 0, 0, 0, 0,          //   8..15  bytes   __u64
    // entry 0, CPU 1: packets = 0x1_0000_0000 (needs the high word), bytes = 0x0102 (258)
    0, 0, 0, 0, 0x01, 0, 0, 0,          //  16..23  packets
    0x02, 0x01, 0, 0, 0, 0, 0, 0,       //  24..31  bytes
    // entry 0, CPU 2: packets = 2, bytes = 0
    0x02, 0, 0, 0, 0, 0, 0, 0,          //  32..39  packets
    0, 0, 0, 0, 0, 0, 0, 0,             //  40..47  bytes
    // entry 1, CPU 0: nothing
    0, 0, 0, 0, 0, 0, 0, 0,             //  48..55  packets
    0, 0, 0, 0, 0, 0, 0, 0,             //  56..63  bytes
    // entry 1, CPU 1: nothing
    0, 0, 0, 0, 0, 0, 0, 0,             //  64..71  packets
    0, 0, 0, 0, 0, 0, 0, 0,             //  72..79  bytes
    // entry 1, CPU 2: packets = 7, bytes = 0xffff_ffff_ffff_fff0 (near u64 max: stays exact as bigint)
    0x07, 0, 0, 0, 0, 0, 0, 0,          //  80..87  packets
    0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // 88..95 bytes
  ]);
  const snap: MapSnapshot = { count: 2, keys, values, keySize: DROP_KEY.size, valueStride: 48, cpus: 3 };

  it('sums the CPU slots exactly', () => {
    expect(decodeDropCounts(snap)).toEqual([
      { reason: 3, ipVersion: 4, transport: 2, packets: 1n + 0x1_0000_0000n + 2n, bytes: 60n + 258n },
      { reason: 0x10005, ipVersion: 0, transport: 0, packets: 7n, bytes: 0xffff_ffff_ffff_fff0n },
    ]);
  });

  it('reads only `count` entries even when the buffers are larger (batch reads over-allocate)', () => {
    const big: MapSnapshot = { ...snap, count: 1, keys: Buffer.concat([keys, Buffer.alloc(64, 0xee)]), values: Buffer.concat([values, Buffer.alloc(480, 0xee)]) };
    expect(decodeDropCounts(big)).toHaveLength(1);
  });
});

describe('drop_reason_counts: the slot layout in bpf/drop.h', () => {
  const header = readFileSync(resolve('bpf/drop.h'), 'utf8');
  const define = (name: string): string => header.match(new RegExp(`^#define ${name} (.+)$`, 'm'))?.[1]?.trim() ?? '';

  it('constants and the index formula match the C header', () => {
    expect(Number(define('DROP_ARRAY_REASONS'))).toBe(DROP_ARRAY_REASONS);
    expect(Number(define('DROP_TRANSPORTS'))).toBe(DROP_TRANSPORTS);
    expect(define('DROP_KEY_SLOTS')).toBe('(3 * DROP_TRANSPORTS)');
    expect(DROP_KEY_SLOTS).toBe(3 * DROP_TRANSPORTS);
    // every enum drop_transport value has a slot (DROP_TRANSPORT_OTHER is the largest)
    expect(Number(header.match(/DROP_TRANSPORT_OTHER = (\d+)/)?.[1])).toBe(DROP_TRANSPORTS - 1);
    const source = readFileSync(resolve('bpf/drop.bpf.c'), 'utf8');
    expect(source).toContain('key->reason * DROP_KEY_SLOTS + family * DROP_TRANSPORTS + key->transport');
    expect(source).toContain('key->ip_version == 4 ? 1 : key->ip_version == 6 ? 2 : 0');
  });
});

describe('golden bytes: drop_reason_counts snapshot, 2 CPUs', () => {
  // keySize 4 (__u32 slot index); value slot = sizeof(struct drop_value) = 16; stride = 32.
  const keys = Buffer.from([
    0x8c, 0x00, 0x00, 0x00, // 0..3 index 140 = 9 * 15 + 1 * 5 + 0: reason 9, IPv4, transport UNKNOWN
    0x8d, 0x00, 0x00, 0x00, // 4..7 index 141: reason 9, IPv4, TCP (never hit: left out)
    0x48, 0x00, 0x00, 0x00, // 8..11 index 72 = 4 * 15 + 2 * 5 + 2: reason 4, IPv6, UDP
  ]);
  const values = Buffer.from([
    0x02, 0, 0, 0, 0, 0, 0, 0,  0x64, 0, 0, 0, 0, 0, 0, 0, // entry 0, CPU 0: packets 2, bytes 100
    0x01, 0, 0, 0, 0, 0, 0, 0,  0x3a, 0, 0, 0, 0, 0, 0, 0, // entry 0, CPU 1: packets 1, bytes 58
    0, 0, 0, 0, 0, 0, 0, 0,     0, 0, 0, 0, 0, 0, 0, 0,    // entry 1, CPU 0: nothing
    0, 0, 0, 0, 0, 0, 0, 0,     0, 0, 0, 0, 0, 0, 0, 0,    // entry 1, CPU 1: nothing
    0, 0, 0, 0, 0, 0, 0, 0,     0, 0, 0, 0, 0, 0, 0, 0,    // entry 2, CPU 0: nothing
    0, 0, 0, 0, 0x01, 0, 0, 0,  0x10, 0, 0, 0, 0, 0, 0, 0, // entry 2, CPU 1: packets 2^32, bytes 16
  ]);
  it('decodes index → (reason, family, transport) and sums CPUs exactly', () => {
    expect(decodeDropReasonCounts({ count: 3, keys, values, keySize: 4, valueStride: 32, cpus: 2 })).toEqual([
      { reason: 9, ipVersion: 4, transport: 0, packets: 3n, bytes: 158n },
      { reason: 4, ipVersion: 6, transport: 2, packets: 0x1_0000_0000n, bytes: 16n },
    ]);
    expect(dropReasonIndex({ reason: 9, ipVersion: 4, transport: 0 })).toBe(0x8c);
    expect(dropReasonIndex({ reason: 4, ipVersion: 6, transport: 2 })).toBe(0x48);
  });
});

describe('golden bytes: traffic_counts snapshot, 3 CPUs', () => {
  // keySize 4 (__u32 ifindex); value slot = sizeof(struct traffic_value) = 40; stride = 120.
  const keys = Buffer.from([
    0x07, 0x00, 0x00, 0x00, // 0..3 ifindex = 7
  ]);
  const slot = (rxP: number, txP: number, rxB: number, txB: number): number[] => {
    const b = Buffer.alloc(40);           // 32..39: flags (__u32) and pad, zero here
    b.writeBigUInt64LE(BigInt(rxP), 0);  // packets[TRAFFIC_INGRESS]
    b.writeBigUInt64LE(BigInt(txP), 8);  // packets[TRAFFIC_EGRESS]
    b.writeBigUInt64LE(BigInt(rxB), 16); // bytes[TRAFFIC_INGRESS]
    b.writeBigUInt64LE(BigInt(txB), 24); // bytes[TRAFFIC_EGRESS]
    return [...b];
  };
  const values = Buffer.from([
    // CPU 0, written out byte by byte:
    0x0a, 0, 0, 0, 0, 0, 0, 0,    //  0..7   packets[0] ingress = 10
    0x14, 0, 0, 0, 0, 0, 0, 0,    //  8..15  packets[1] egress  = 20
    0xe8, 0x03, 0, 0, 0, 0, 0, 0, // 16..23  bytes[0]   ingress = 1000
    0xd0, 0x07, 0, 0, 0, 0, 0, 0, // 24..31  bytes[1]   egress  = 2000
    0x01, 0, 0, 0,                // 32..35  flags = TRAFFIC_F_FLOWS (not a counter: ignored by the decoder)
    0, 0, 0, 0,                   // 36..39  pad
    // CPU 1 (same layout; built by slot() to keep the table readable)
    ...slot(1, 2, 100, 200),      // 40..79
    // CPU 2
    ...slot(0, 3, 0, 300),        // 80..119
  ]);
  const snap: MapSnapshot = { count: 1, keys, values, keySize: TRAFFIC_KEY.size, valueStride: 120, cpus: 3 };

  it('decodes per direction, summed over CPUs', () => {
    expect(decodeTrafficCounts(snap)).toEqual([
      { ifindex: 7, rxPackets: 11n, txPackets: 25n, rxBytes: 1100n, txBytes: 2500n },
    ]);
  });

  it('encodes the key as 4 LE bytes', () => {
    expect(encodeTrafficKey(7)).toEqual(keys);
    expect(encodeTrafficKey(0x01020304)).toEqual(Buffer.from([0x04, 0x03, 0x02, 0x01]));
  });
});

describe('golden bytes: struct drop_event and drop_event_config', () => {
  // An IPv4 TCP SYN dropped on CPU 1: 10.0.0.1:40000 → 10.0.0.2:80, reason 6, 60 bytes, ifindex 7,
  // netns 4026531840, 3 drops suppressed before it, kernel location 0xffffffff81234567.
  const hex =
    '0100000000000000' + // timestamp_ns = 1
    '67452381ffffffff' + // location
    '0300000000000000' + // suppressed = 3
    '06000000' + '3c000000' + '07000000' + '000000f0' + // reason, len, ifindex, netns (0xf0000000)
    '00000000000000000000ffff0a000001' + // src ::ffff:10.0.0.1
    '00000000000000000000ffff0a000002' + // dst
    '9c40' + '0050' + // sport 40000, dport 80 (network order)
    '06' + '04' + '02' + '01' + // proto TCP, ipv4, flags SYN, transport TCP
    '01000000' + '00000000'; // cpu 1, pad
  it('decodes every field', () => {
    const b = Buffer.from(hex, 'hex');
    expect(b.length).toBe(DROP_EVENT.size);
    // the record sits at an offset inside a bigger area, like in the ring
    const area = new Uint8Array(8 + b.length + 8);
    area.set(b, 8);
    const e = decodeDropEvent(new DataView(area.buffer), 8, b.length);
    expect(e).toEqual({
      timestampNs: 1n, location: 0xffffffff81234567n, suppressed: 3, reason: 6, len: 60, ifindex: 7, netns: 0xf0000000,
      src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 80, proto: 6, ipVersion: 4, tcpFlags: 2, transport: 1, cpu: 1,
    });
  });
  it('a short record is refused, not misread', () => {
    expect(() => decodeDropEvent(new DataView(new ArrayBuffer(64)), 0, 40)).toThrow(/40 bytes, expected 88/);
  });
  it('config encodes little-endian', () => {
    expect(encodeDropEventConfig({ enabled: true, perWindow: 100, windowNs: 1_000_000_000n }).toString('hex'))
      .toBe('01000000' + '64000000' + '00ca9a3b00000000');
  });
});

describe('golden bytes: tcp_stats entries (struct tcp_conn_key → struct tcp_conn_stats)', () => {
  // tcp_stats is a shared hash (not per-CPU): one value per key, valueStride = sizeof(struct tcp_conn_stats) = 376.
  const keys = Buffer.from([
    // entry 0: the client end of 10.0.0.10 → 10.0.0.11:5432, IPv4 (as IPv4-mapped IPv6), netns 0xf0000001
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, // 0..11  local: ::ffff: prefix
    10, 0, 0, 10,                             // 12..15 local: 10.0.0.10
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, // 16..27 remote: ::ffff: prefix
    10, 0, 0, 11,                             // 28..31 remote: 10.0.0.11
    0x01, 0x00, 0x00, 0xf0,                   // 32..35 netns __u32 LE = 0xf0000001
    0x38, 0x15,                               // 36..37 server_port __u16 LE = 0x1538 = 5432 (host order, not network)
    0x01,                                     // 38     side = TCP_SIDE_CLIENT
    0x04,                                     // 39     ip_version = 4
    // entry 1: the server end of fd00::2 ← 2001:db8::1 on port 443, IPv6, netns 0xf0000002
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,       // 40..47 local: 2001:db8:0:0:
    0, 0, 0, 0, 0, 0, 0, 0x01,                // 48..55 local: 0:0:0:1
    0xfd, 0x00, 0, 0, 0, 0, 0, 0,             // 56..63 remote: fd00:0:0:0:
    0, 0, 0, 0, 0, 0, 0, 0x02,                // 64..71 remote: 0:0:0:2
    0x02, 0x00, 0x00, 0xf0,                   // 72..75 netns = 0xf0000002
    0xbb, 0x01,                               // 76..77 server_port = 0x01bb = 443
    0x02,                                     // 78     side = TCP_SIDE_SERVER
    0x06,                                     // 79     ip_version = 6
  ]);
  const zeros = (n: number): string => '0000000000000000'.repeat(n);
  const values = Buffer.from(
    // entry 0 (offsets within the value)
    '0200000001000000' + //   0..7   retrans_segs = 0x1_0000_0002 (needs the high word)
    '0100000000000000' + //   8..15  resets_sent = 1
    '0200000000000000' + //  16..23  resets_received = 2
    '0500000000000000' + //  24..31  opened = 5
    '0300000000000000' + //  32..39  failed[TCP_FAIL_RESET] = 3
    '0201000000000000' + //  40..47  failed[TCP_FAIL_TIMEOUT] = 0x0102 = 258 (shows the byte order)
    zeros(1) +           //  48..55  failed[TCP_FAIL_UNREACHABLE] = 0
    '0100000000000000' + //  56..63  failed[TCP_FAIL_OTHER] = 1
    '0400000000000000' + //  64..71  closed = 4
    '0500000000000000' + //  72..79  handshake_count = 5
    '808d5b0000000000' + //  80..87  handshake_sum_ns = 6_000_000 (6 ms)
    zeros(3) +           //  88..111 handshake_buckets[0..2] = 0 (≤ 0.1, 0.25, 0.5 ms)
    '0200000000000000' + // 112..119 handshake_buckets[3] = 2 (≤ 1 ms)
    '0300000000000000' + // 120..127 handshake_buckets[4] = 3 (≤ 2.5 ms)
    zeros(12) +          // 128..223 handshake_buckets[5..16] = 0
    '0600000000000000' + // 224..231 rtt_count = 6
    '80d423d205000000' + // 232..239 rtt_sum_ns = 25_000_400_000 (4 × 0.1 ms + 2 × 12.5 s)
    '0400000000000000' + // 240..247 rtt_buckets[0] = 4 (≤ 0.1 ms)
    zeros(15) +          // 248..367 rtt_buckets[1..15] = 0
    '0200000000000000' + // 368..375 rtt_buckets[16] = 2 (above the last bound, 10 s)
    // entry 1
    zeros(3) +           //   0..23  retrans_segs, resets_sent, resets_received = 0
    '0700000000000000' + //  24..31  opened = 7 (passive: a server's)
    zeros(43),           //  32..375 failed[4], closed, both histograms = 0
    'hex');
  const snap: MapSnapshot = { count: 2, keys, values, keySize: TCP_CONN_KEY.size, valueStride: TCP_CONN_STATS.size, cpus: 1 };
  const none = Array<number>(17).fill(0);

  it('the hand-written entries have the ABI sizes', () => {
    expect(keys.length).toBe(2 * 40);
    expect(values.length).toBe(2 * 376);
  });

  it('decodes every field of both entries', () => {
    expect(decodeTcpConns(snap)).toEqual([
      {
        local: '10.0.0.10', remote: '10.0.0.11', netns: 0xf0000001, serverPort: 5432, side: 1, ipVersion: 4,
        retransSegs: 0x1_0000_0002, resetsSent: 1, resetsReceived: 2, opened: 5, failed: [3, 258, 0, 1], closed: 4,
        handshake: { count: 5, sumNs: 6_000_000, buckets: [0, 0, 0, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] },
        rtt: { count: 6, sumNs: 25_000_400_000, buckets: [4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2] },
        recordKey: '00000000000000000000ffff0a00000a' + '00000000000000000000ffff0a00000b' + '010000f0' + '3815' + '01' + '04',
      },
      {
        local: '2001:db8::1', remote: 'fd00::2', netns: 0xf0000002, serverPort: 443, side: 2, ipVersion: 6,
        retransSegs: 0, resetsSent: 0, resetsReceived: 0, opened: 7, failed: [0, 0, 0, 0], closed: 0,
        handshake: { count: 0, sumNs: 0, buckets: none }, rtt: { count: 0, sumNs: 0, buckets: none },
        recordKey: '20010db8000000000000000000000001' + 'fd000000000000000000000000000002' + '020000f0' + 'bb01' + '02' + '06',
      },
    ]);
  });

  it('reads only `count` entries even when the buffers are larger (batch reads over-allocate)', () => {
    const big: MapSnapshot = { ...snap, count: 1, keys: Buffer.concat([keys, Buffer.alloc(40, 0xee)]), values: Buffer.concat([values, Buffer.alloc(376, 0xee)]) };
    expect(decodeTcpConns(big).map((r) => r.local)).toEqual(['10.0.0.10']);
  });
});

describe('golden bytes: tcp_state_counts entries (struct tcp_state_key → __s64)', () => {
  const keys = Buffer.from([
    // entry 0: 10.0.0.10 in netns 0xf0000001, ESTABLISHED
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, // 0..11  local: ::ffff: prefix
    10, 0, 0, 10,                             // 12..15 local: 10.0.0.10
    0x01, 0x00, 0x00, 0xf0,                   // 16..19 netns = 0xf0000001
    0x01,                                     // 20     state = TCP_ESTABLISHED (1)
    0x04,                                     // 21     ip_version = 4
    0x00, 0x00,                               // 22..23 pad, always zero
    // entry 1: ::1 in netns 0xf0000000, LISTEN
    0, 0, 0, 0, 0, 0, 0, 0,                   // 24..31 local: 0:0:0:0:
    0, 0, 0, 0, 0, 0, 0, 0x01,                // 32..39 local: 0:0:0:1
    0x00, 0x00, 0x00, 0xf0,                   // 40..43 netns = 0xf0000000
    0x0a,                                     // 44     state = TCP_LISTEN (10)
    0x06,                                     // 45     ip_version = 6
    0x00, 0x00,                               // 46..47 pad
  ]);
  const values = Buffer.from(
    '0300000000000000' + // entry 0: 3 sockets
    'feffffffffffffff',  // entry 1: -2 (signed: a decrement counted before its increment)
    'hex');
  const snap: MapSnapshot = { count: 2, keys, values, keySize: TCP_STATE_KEY.size, valueStride: 8, cpus: 1 };

  it('decodes address, netns, state and a signed count', () => {
    expect(keys.length).toBe(2 * 24);
    expect(decodeTcpStates(snap)).toEqual([
      { local: '10.0.0.10', netns: 0xf0000001, state: 1, ipVersion: 4, sockets: 3, recordKey: keys.toString('hex', 0, 24) },
      { local: '::1', netns: 0xf0000000, state: 10, ipVersion: 6, sockets: -2, recordKey: keys.toString('hex', 24, 48) },
    ]);
  });
});

describe('golden bytes: struct tcp_event', () => {
  // A connect from [2001:db8::1]:40000 to [fd00::2]:443 that timed out, on CPU 3, netns 0xf0000002,
  // 2 events of this type suppressed before it.
  const hex =
    '0010a5d4e8000000' + //  0..7   timestamp_ns = 1_000_000_000_000
    '0200000000000000' + //  8..15  suppressed = 2
    '20010db8000000000000000000000001' + // 16..31 local 2001:db8::1
    'fd000000000000000000000000000002' + // 32..47 remote fd00::2
    '020000f0' +         // 48..51 netns = 0xf0000002
    '409c' +             // 52..53 local_port = 40000 (host order, LE)
    'bb01' +             // 54..55 remote_port = 443
    '03' +               // 56     type = TCP_EVENT_CONNECT_FAILED
    '06' +               // 57     ip_version = 6
    '01' +               // 58     side = TCP_SIDE_CLIENT
    '02' +               // 59     state = TCP_SYN_SENT (where it failed from)
    '01000000' +         // 60..63 detail = TCP_FAIL_TIMEOUT
    '03000000' +         // 64..67 cpu = 3
    '6e000000';          // 68..71 error = 110 (ETIMEDOUT)

  it('decodes every field, at an offset inside the ring area', () => {
    const b = Buffer.from(hex, 'hex');
    expect(b.length).toBe(TCP_EVENT.size);
    const area = new Uint8Array(16 + b.length + 8);
    area.set(b, 16);
    expect(decodeTcpEvent(new DataView(area.buffer), 16, b.length)).toEqual({
      timestampNs: 1_000_000_000_000n, suppressed: 2, local: '2001:db8::1', remote: 'fd00::2', netns: 0xf0000002,
      localPort: 40000, remotePort: 443, type: 3, ipVersion: 6, side: 1, state: 2, detail: 1, cpu: 3, error: 110,
    });
  });

  it('an IPv4 event reads its addresses from the mapped form', () => {
    const b = Buffer.from(hex, 'hex');
    Buffer.from('00000000000000000000ffff0a000001', 'hex').copy(b, 16); // local ::ffff:10.0.0.1
    Buffer.from('00000000000000000000ffff0a000002', 'hex').copy(b, 32); // remote ::ffff:10.0.0.2
    b[57] = 4;                                                          // ip_version = 4
    const e = decodeTcpEvent(new DataView(b.buffer, b.byteOffset, b.length), 0, b.length);
    expect([e.local, e.remote, e.ipVersion]).toEqual(['10.0.0.1', '10.0.0.2', 4]);
  });

  it('a short record is refused, not misread', () => {
    expect(() => decodeTcpEvent(new DataView(new ArrayBuffer(80)), 0, 71)).toThrow(/71 bytes, expected 72/);
  });
});

// ---- DNS (bpf/dns.h, maps in traffic.bpf.o) ----

describeObjects('struct layouts: bpf/dns.h (traffic.bpf.o) == src/probes/dns/layout.ts', () => {
  let btf: Btf;
  beforeAll(() => { btf = Btf.parse(TRAFFIC_O); });
  afterAll(() => { btf?.close(); });
  const structOf = (name: string): StructLayout => btf.structLayout(name) ?? headerStruct('dns.h', name);

  it('struct dns_pending_key / dns_pending', () => {
    const k = structOf('dns_pending_key');
    expect(k.size).toBe(DNS_PENDING_KEY.size);
    expect(offsets(k)).toEqual({
      client: DNS_PENDING_KEY.client, server: DNS_PENDING_KEY.server, client_port: DNS_PENDING_KEY.clientPort, id: DNS_PENDING_KEY.id,
      view: DNS_PENDING_KEY.view, proto: DNS_PENDING_KEY.proto, ip_version: DNS_PENDING_KEY.ipVersion, pad: DNS_PENDING_KEY.pad,
    });
    const v = structOf('dns_pending');
    expect(v.size).toBe(DNS_PENDING.size);
    expect(offsets(v)).toEqual({
      sent_ns: DNS_PENDING.sentNs, ifindex: DNS_PENDING.ifindex, qtype: DNS_PENDING.qtype, name_len: DNS_PENDING.nameLen,
      pad: DNS_PENDING.pad, name: DNS_PENDING.name,
    });
    expect(sizes(v)['name']).toBe(DNS_PENDING_NAME);
  });

  it('struct dns_key / dns_stats', () => {
    const k = structOf('dns_key');
    expect(k.size).toBe(DNS_KEY.size);
    expect(offsets(k)).toEqual({
      client: DNS_KEY.client, server: DNS_KEY.server, qtype: DNS_KEY.qtype, view: DNS_KEY.view, proto: DNS_KEY.proto,
      ip_version: DNS_KEY.ipVersion, pad: DNS_KEY.pad,
    });
    const v = structOf('dns_stats');
    expect(v.size).toBe(DNS_STATS.size);
    expect(offsets(v)).toEqual({
      queries: DNS_STATS.queries, responses: DNS_STATS.responses, empty: DNS_STATS.empty, unmatched: DNS_STATS.unmatched,
      latency_count: DNS_STATS.latencyCount, latency_sum_ns: DNS_STATS.latencySumNs, latency_buckets: DNS_STATS.latencyBuckets,
    });
    expect(sizes(v)).toMatchObject({ responses: 16 * 8, latency_buckets: DNS_LATENCY_BUCKETS * 8 });
  });

  it('struct dns_name_key / dns_name_stats', () => {
    const k = structOf('dns_name_key');
    expect(k.size).toBe(DNS_NAME_KEY.size);
    expect(offsets(k)).toEqual({ hash: DNS_NAME_KEY.hash, qtype: DNS_NAME_KEY.qtype, view: DNS_NAME_KEY.view, pad: DNS_NAME_KEY.pad });
    const v = structOf('dns_name_stats');
    expect(v.size).toBe(DNS_NAME_STATS.size);
    expect(offsets(v)).toEqual({
      queries: DNS_NAME_STATS.queries, responses: DNS_NAME_STATS.responses, name_len: DNS_NAME_STATS.nameLen,
      pad: DNS_NAME_STATS.pad, name: DNS_NAME_STATS.name,
    });
    expect(sizes(v)).toMatchObject({ responses: 16 * 8, name: DNS_PENDING_NAME });
  });

  it('struct dns_config / dns_event_limit / dns_event', () => {
    const c = structOf('dns_config');
    expect(c.size).toBe(DNS_CONFIG.size);
    expect(offsets(c)).toEqual({ enabled: DNS_CONFIG.enabled, events: DNS_CONFIG.events, per_window: DNS_CONFIG.perWindow, names: DNS_CONFIG.names, window_ns: DNS_CONFIG.windowNs });
    const l = structOf('dns_event_limit');
    expect(l.size).toBe(DROP_EVENT_LIMIT.size);
    expect(offsets(l)).toEqual({
      window_start_ns: DROP_EVENT_LIMIT.windowStartNs, pending: DROP_EVENT_LIMIT.pending, suppressed: DROP_EVENT_LIMIT.suppressed,
      ring_full: DROP_EVENT_LIMIT.ringFull, emitted: DROP_EVENT_LIMIT.emitted, in_window: DROP_EVENT_LIMIT.inWindow, pad: DROP_EVENT_LIMIT.tick /* where drop_event_limit keeps its tick */,
    });
    const e = structOf('dns_event');
    expect(e.size).toBe(DNS_EVENT.size);
    expect(offsets(e)).toEqual({
      timestamp_ns: DNS_EVENT.timestampNs, suppressed: DNS_EVENT.suppressed, latency_ns: DNS_EVENT.latencyNs, src: DNS_EVENT.src,
      dst: DNS_EVENT.dst, sport: DNS_EVENT.sport, dport: DNS_EVENT.dport, ifindex: DNS_EVENT.ifindex, msg_len: DNS_EVENT.msgLen,
      copy_len: DNS_EVENT.copyLen, view: DNS_EVENT.view, proto: DNS_EVENT.proto, ip_version: DNS_EVENT.ipVersion,
      direction: DNS_EVENT.direction, data: DNS_EVENT.data,
    });
    expect(sizes(e)['data']).toBe(DNS_EVENT_COPY);
  });

  it('the maps in the object (opened, not loaded): sizes of keys and values', () => {
    const obj = BpfObject.open(TRAFFIC_O);
    try {
      const m = (n: string) => obj.map(n);
      expect([m('dns_pending').keySize, m('dns_pending').valueSize]).toEqual([DNS_PENDING_KEY.size, DNS_PENDING.size]);
      expect([m('dns_stats').keySize, m('dns_stats').valueSize]).toEqual([DNS_KEY.size, DNS_STATS.size]);
      expect([m('dns_names').keySize, m('dns_names').valueSize]).toEqual([DNS_NAME_KEY.size, DNS_NAME_STATS.size]);
      expect(m('dns_cfg').valueSize).toBe(DNS_CONFIG.size);
      expect(m('dns_event_limits').valueSize).toBe(DROP_EVENT_LIMIT.size);
      expect(m('dns_errors').maxEntries).toBe(DNS_ERRORS.length);
      expect(m('dns_event_limits').maxEntries).toBe(DNS_EVENT_SLOTS);
    } finally {
      obj.close();
    }
  });
});

describe.skipIf(!clang)('enum values: bpf/dns.h == src/probes/dns/layout.ts', () => {
  it('dns_view, dns_error, dns_event_slot and the sizes', () => {
    const names = ['DNS_VIEW_CLIENT', 'DNS_VIEW_SERVER', 'DNS_ERR_MAP_FULL', 'DNS_ERR_PENDING_FULL', 'DNS_ERR_MALFORMED', 'DNS_ERR_NAMES_FULL', 'DNS_ERR_MAX',
      'DNS_EVENT_FAILED', 'DNS_EVENT_OTHER', 'DNS_EVENT_SLOTS'];
    const values = withHeaderBtf('dns.h', ['enum dns_view abi_v; enum dns_error abi_e; enum dns_event_slot abi_s;'], (btf) => {
      const out: Record<string, number> = {};
      for (const e of ['dns_view', 'dns_error', 'dns_event_slot']) for (const v of btf.enumValues(e) ?? []) out[v.name] = v.value;
      return out;
    });
    expect(Object.keys(values).sort()).toEqual([...names].sort());
    expect([values['DNS_VIEW_CLIENT'], values['DNS_VIEW_SERVER']]).toEqual([DNS_VIEW.client, DNS_VIEW.server]);
    expect(values['DNS_ERR_MAX']).toBe(DNS_ERRORS.length);
    expect([values['DNS_ERR_MAP_FULL'], values['DNS_ERR_PENDING_FULL'], values['DNS_ERR_MALFORMED'], values['DNS_ERR_NAMES_FULL']]).toEqual([0, 1, 2, 3]);
    expect(DNS_ERRORS).toEqual(['map_full', 'pending_full', 'malformed', 'names_full']);
    expect([values['DNS_EVENT_FAILED'], values['DNS_EVENT_OTHER'], values['DNS_EVENT_SLOTS']]).toEqual([DNS_EVENT_SLOT.failed, DNS_EVENT_SLOT.other, DNS_EVENT_SLOTS]);
  });

  it('DNS_LATENCY_BOUNDS_NS in traffic.bpf.c == TCP_LATENCY_BOUNDS_S × 1e9 (one bucket scheme)', () => {
    const src = readFileSync(resolve('bpf/traffic.bpf.c'), 'utf8');
    const body = /DNS_LATENCY_BOUNDS_NS\[[^\]]*\]\s*=\s*\{([^}]*)\}/.exec(src)?.[1] ?? '';
    const ns = [...body.matchAll(/(\d+)ULL/g)].map((m) => Number(m[1]));
    expect(ns).toEqual(TCP_LATENCY_BOUNDS_S.map((s) => Math.round(s * 1e9)));
    expect(DNS_LATENCY_BUCKETS).toBe(TCP_LATENCY_BOUNDS_S.length + 1);
  });
});

describe('golden bytes: struct dns_event (a NOERROR response, IPv4, UDP)', () => {
  it('decodes every field and copies exactly copy_len bytes of the message', () => {
    const b = Buffer.alloc(DNS_EVENT.size);
    b.writeBigUInt64LE(123_456_789n, 0);         // timestamp_ns
    b.writeBigUInt64LE(4n, 8);                   // suppressed
    b.writeBigUInt64LE(2_500_000n, 16);          // latency_ns: 2.5 ms
    b[24 + 10] = 0xff; b[24 + 11] = 0xff;        // src ::ffff:10.0.0.53 (bytes 24..39)
    b.set([10, 0, 0, 53], 24 + 12);
    b[40 + 10] = 0xff; b[40 + 11] = 0xff;        // dst ::ffff:10.0.0.1 (40..55)
    b.set([10, 0, 0, 1], 40 + 12);
    b.writeUInt16LE(53, 56);                     // sport (host order)
    b.writeUInt16LE(40000, 58);                  // dport
    b.writeUInt32LE(7, 60);                      // ifindex
    b.writeUInt16LE(300, 64);                    // msg_len: longer than the copy
    b.writeUInt16LE(5, 66);                      // copy_len
    b[68] = 0;                                   // view: client
    b[69] = 17;                                  // proto: UDP
    b[70] = 4;                                   // ip_version
    b[71] = 1;                                   // direction: egress at the host veth (to the pod)
    b.set([1, 2, 3, 4, 5, 6], 72);               // data: 5 bytes count, the 6th is beyond copy_len
    const e = decodeDnsEvent(new DataView(b.buffer, b.byteOffset, b.length), 0, b.length);
    expect(e).toEqual({
      timestampNs: 123_456_789n, suppressed: 4, latencyNs: 2_500_000, src: '10.0.0.53', dst: '10.0.0.1', sport: 53, dport: 40000,
      ifindex: 7, msgLen: 300, view: 0, proto: 17, ipVersion: 4, direction: 1, data: Buffer.from([1, 2, 3, 4, 5]),
    });
    expect(() => decodeDnsEvent(new DataView(b.buffer, b.byteOffset, b.length), 0, b.length - 1)).toThrow(RangeError);
  });
});

// ---- the symboliser (bpf/symbol.h, symbol.bpf.o) ----

describeObjects('symbol.bpf.o: struct symbol_query and its map == src/kernel/symbolize.ts', () => {
  it('struct symbol_query', () => {
    const btf = Btf.parse(SYMBOL_O);
    try {
      const l = layout(btf, 'symbol_query');
      expect(l.size).toBe(SYMBOL_QUERY.size);
      expect(offsets(l)).toEqual({ addr: SYMBOL_QUERY.addr, text: SYMBOL_QUERY.text });
      expect(sizes(l)).toEqual({ addr: 8, text: SYMBOL_QUERY.textSize });
    } finally {
      btf.close();
    }
  });
  it('the header\'s SYMBOL_BATCH and SYMBOL_TEXT, and the map\'s size', () => {
    const h = readFileSync('bpf/symbol.h', 'utf8');
    expect(Number(/#define SYMBOL_BATCH (\d+)/.exec(h)?.[1])).toBe(SYMBOL_BATCH);
    expect(Number(/#define SYMBOL_TEXT (\d+)/.exec(h)?.[1])).toBe(SYMBOL_QUERY.textSize);
    const obj = BpfObject.open(SYMBOL_O);
    try {
      const m = obj.map('symbol_queries');
      expect({ entries: m.maxEntries, key: m.keySize, value: m.valueSize, perCpu: m.perCpu })
        .toEqual({ entries: SYMBOL_BATCH, key: 4, value: SYMBOL_QUERY.size, perCpu: false });
      expect(obj.program('symbolize').name).toBe('symbolize');
    } finally {
      obj.close();
    }
  });
});

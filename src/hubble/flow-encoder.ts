/**
 * The wire encoding of a GetFlowsResponse carrying a Fovea flow, written by hand: the Hubble
 * server sends tens of thousands of flows per second, and protobufjs's reflection-driven encoder
 * took 5.9 µs for one drop's response, against 3.1 µs for FlowBuilder.facts + encodeFactsFrame
 * together (`node bench/manual/hubble-encode.mjs`). Here each endpoint's
 * encoding is made once per endpoint object (FlowBuilder reuses one object per pod, and a field
 * mask reuses one masked copy per object) and the rest is written straight into one buffer.
 *
 * Only the fields FlowBuilder sets are written here; a flow with any other field present (which
 * Fovea never builds, but a field mask may shape) goes through protobufjs instead. A unit test
 * decodes both encodings of many flows and requires the same message.
 */
import { timestampOf } from './time.js';
import type { AnyMessage, Flow, FlowEndpoint, FlowFacts, Layer4, ServiceRef, TcpFlagsMessage, Timestamp } from './types.js';

const LEN = 2;
const VARINT = 0;

/** A growable buffer that writes protobuf's wire format. */
class Writer {
  buf: Buffer;
  pos = 0;

  constructor(size = 1024) {
    this.buf = Buffer.allocUnsafe(size);
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  varint(v: number): void {
    this.room(10);
    const b = this.buf;
    let p = this.pos;
    while (v > 0x7f) {
      b[p++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    b[p++] = v;
    this.pos = p;
  }

  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  uint(field: number, v: number | undefined): void {
    if (!v) return;
    this.tag(field, VARINT);
    this.varint(v);
  }

  bool(field: number, v: boolean | undefined): void {
    if (!v) return;
    this.tag(field, VARINT);
    this.varint(1);
  }

  string(field: number, s: string | undefined): void {
    if (!s) return;
    this.tag(field, LEN);
    this.text(s);
  }

  /**
   * A length-prefixed UTF-8 string. Short ASCII ones (most here) are copied byte by byte; the
   * others go through Node's native UTF-8 writer (a call costs about as much as the loop's first
   * ~30 characters) after a 1-byte length slot, fixed up by end().
   */
  text(s: string): void {
    const len = s.length;
    if (len <= 24) {
      this.room(len + 1);
      const b = this.buf;
      let p = this.pos + 1;
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) break;
        b[p++] = c;
      }
      if (i === len) {
        b[this.pos] = len;
        this.pos = p;
        return;
      }
    }
    this.room(len * 3 + 1); // UTF-8 takes at most 3 bytes per UTF-16 unit
    const start = this.pos + 1;
    this.pos = start + this.buf.write(s, start, 'utf8');
    this.end(start);
  }

  bytes(field: number, b: Uint8Array): void {
    this.tag(field, LEN);
    this.varint(b.length);
    this.raw(b);
  }

  double(v: number): void {
    this.room(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  raw(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Starts a length-delimited field; returns where its content begins (after a 1-byte length slot). */
  begin(field: number): number {
    this.tag(field, LEN);
    this.room(1);
    this.pos += 1;
    return this.pos;
  }

  /** Ends the field begun at `start`: writes its length, moving the content when it needs more than a byte. */
  end(start: number): void {
    const len = this.pos - start;
    if (len < 128) {
      this.buf[start - 1] = len;
      return;
    }
    let extra = 0;
    for (let v = len; v > 0x7f; v = Math.floor(v / 128)) extra++;
    this.room(extra);
    this.buf.copyWithin(start + extra, start, this.pos);
    this.pos += extra;
    let p = start - 1;
    let v = len;
    while (v > 0x7f) {
      this.buf[p++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[p] = v;
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

/** Flow keys this encoder writes; anything else makes encodeFlowResponse use protobufjs. */
const KNOWN = new Set([
  'time', 'uuid', 'emitter', 'verdict', 'drop_reason', 'IP', 'l4', 'source', 'destination', 'Type', 'node_name',
  'node_labels', 'reply', 'event_type', 'source_service', 'destination_service', 'traffic_direction',
  'trace_observation_point', 'drop_reason_desc', 'is_reply', 'interface', 'Summary', 'extensions',
]);
const KNOWN_ENDPOINT = new Set(['ID', 'identity', 'cluster_name', 'namespace', 'labels', 'pod_name', 'workloads']);
/** Layer4 members this encoder writes (not VRRP, IGMP). */
const KNOWN_L4 = new Set(['TCP', 'UDP', 'ICMPv4', 'ICMPv6', 'SCTP']);

function timestamp(w: Writer, field: number, t: Timestamp | undefined): void {
  if (!t) return;
  const s = w.begin(field);
  w.uint(1, t.seconds);
  w.uint(2, t.nanos);
  w.end(s);
}

function flags(w: Writer, f: TcpFlagsMessage): void {
  const s = w.begin(3);
  w.bool(1, f.FIN); w.bool(2, f.SYN); w.bool(3, f.RST); w.bool(4, f.PSH); w.bool(5, f.ACK);
  w.bool(6, f.URG); w.bool(7, f.ECE); w.bool(8, f.CWR); w.bool(9, f.NS);
  w.end(s);
}

function layer4(w: Writer, l4: Layer4): void {
  const s = w.begin(6);
  const ports = (field: number, p: { source_port?: number; destination_port?: number; flags?: TcpFlagsMessage }): void => {
    const ps = w.begin(field);
    w.uint(1, p.source_port);
    w.uint(2, p.destination_port);
    if (p.flags) flags(w, p.flags);
    w.end(ps);
  };
  const icmp = (field: number, m: { type?: number; code?: number }): void => {
    const is = w.begin(field);
    w.uint(1, m.type);
    w.uint(2, m.code);
    w.end(is);
  };
  if (l4.TCP) ports(1, l4.TCP);
  else if (l4.UDP) ports(2, l4.UDP);
  else if (l4.ICMPv4) icmp(3, l4.ICMPv4);
  else if (l4.ICMPv6) icmp(4, l4.ICMPv6);
  else if (l4.SCTP) ports(5, l4.SCTP);
  w.end(s);
}

/** Encoded Endpoint messages, once per endpoint object. */
const endpointCache = new WeakMap<FlowEndpoint, Uint8Array>();

function endpointBytes(e: FlowEndpoint): Uint8Array | undefined {
  let b = endpointCache.get(e);
  if (b) return b;
  for (const k of Object.keys(e)) if (!KNOWN_ENDPOINT.has(k)) return undefined;
  const w = new Writer(256);
  w.uint(1, e.ID);
  w.uint(2, e.identity);
  w.string(3, e.namespace);
  for (const l of e.labels ?? []) { w.tag(4, LEN); w.text(l); }
  w.string(5, e.pod_name);
  for (const wl of e.workloads ?? []) {
    const s = w.begin(6);
    w.string(1, wl.name);
    w.string(2, wl.kind);
    w.end(s);
  }
  w.string(7, e.cluster_name);
  b = Buffer.from(w.finish());
  endpointCache.set(e, b);
  return b;
}

function any(w: Writer, field: number, a: AnyMessage): void {
  const s = w.begin(field);
  w.string(1, a.type_url);
  // a field mask can keep type_url alone (`extensions.type_url`)
  if (a.value?.length) w.bytes(2, a.value);
  w.end(s);
}

function labelsAndEmitter(w: Writer, f: Flow): void {
  // every element of a repeated string, the empty one too
  for (const l of f.node_labels ?? []) { w.tag(37, LEN); w.text(l); }
  if (f.emitter) {
    const s = w.begin(41);
    w.string(1, f.emitter.name);
    w.string(2, f.emitter.version);
    w.end(s);
  }
}

/**
 * The fields every flow of a node has alike (Type, node_name; node_labels, emitter), encoded once
 * for the objects FlowBuilder shares between flows (fields 10–11 and 37–41: each pair sits together
 * in field-number order, so writing them as blocks keeps protobuf's canonical order).
 */
let shared: { type: number | undefined; node: string | undefined; labels: unknown; emitter: unknown; typeAndNode: Uint8Array; labelsAndEmitter: Uint8Array } | undefined;

function constants(f: Flow): typeof shared {
  if (!f.emitter || !f.node_name) return undefined;
  return constantsOf(f.Type, f.node_name, f.node_labels, f.emitter);
}

function constantsOf(type: number | undefined, node: string, labels: readonly string[] | undefined, emitter: { readonly name?: string; readonly version?: string }): NonNullable<typeof shared> {
  const s = shared;
  if (s && s.type === type && s.node === node && s.labels === labels && s.emitter === emitter) return s;
  const a = new Writer(128);
  a.uint(10, type);
  a.string(11, node);
  const b = new Writer(256);
  labelsAndEmitter(b, { node_labels: labels, emitter } as Flow);
  shared = { type, node, labels, emitter, typeAndNode: Buffer.from(a.finish()), labelsAndEmitter: Buffer.from(b.finish()) };
  return shared;
}

/** source_service (20) and destination_service (21). */
function services(w: Writer, source: ServiceRef | undefined, destination: ServiceRef | undefined): void {
  for (const [field, svc] of [[20, source], [21, destination]] as const) {
    if (!svc) continue;
    const s = w.begin(field);
    w.string(1, svc.name);
    w.string(2, svc.namespace);
    w.end(s);
  }
}

/** The frame written in `w` after its 5-byte prefix, as its own buffer. */
function frameOut(w: Writer): Uint8Array {
  const out = Buffer.allocUnsafe(w.pos);
  w.buf.copy(out, 0, 0, w.pos);
  out[0] = 0;
  out.writeUInt32BE(w.pos - 5, 1);
  return out;
}

/** Writes the Flow's fields; false when it holds something this encoder does not know. */
function flowFields(w: Writer, f: Flow, ours: boolean): boolean {
  if (!ours) {
    for (const k in f) if (!KNOWN.has(k) && (f as Record<string, unknown>)[k] !== undefined) return false;
    if (f.l4) for (const k in f.l4) if (!KNOWN_L4.has(k) && (f.l4 as Record<string, unknown>)[k] !== undefined) return false;
  }
  const src = f.source ? endpointBytes(f.source) : undefined;
  const dst = f.destination ? endpointBytes(f.destination) : undefined;
  if ((f.source && !src) || (f.destination && !dst)) return false;
  timestamp(w, 1, f.time);
  w.uint(2, f.verdict);
  w.uint(3, f.drop_reason);
  if (f.IP) {
    const s = w.begin(5);
    w.string(1, f.IP.source);
    w.string(2, f.IP.destination);
    w.uint(3, f.IP.ipVersion);
    w.bool(4, f.IP.encrypted);
    w.string(5, f.IP.source_xlated);
    w.end(s);
  }
  if (f.l4) layer4(w, f.l4);
  if (src) w.bytes(8, src);
  if (dst) w.bytes(9, dst);
  const c = constants(f);
  if (c) w.raw(c.typeAndNode);
  else {
    w.uint(10, f.Type);
    w.string(11, f.node_name);
  }
  w.bool(16, f.reply);
  if (f.event_type) {
    const s = w.begin(19);
    w.uint(1, f.event_type.type);
    w.uint(2, f.event_type.sub_type);
    w.end(s);
  }
  services(w, f.source_service, f.destination_service);
  w.uint(22, f.traffic_direction);
  w.uint(24, f.trace_observation_point);
  w.uint(25, f.drop_reason_desc);
  if (f.is_reply) {
    const s = w.begin(26);
    w.bool(1, f.is_reply.value);
    w.end(s);
  }
  if (f.interface) {
    const s = w.begin(28);
    w.uint(1, f.interface.index);
    w.string(2, f.interface.name);
    w.end(s);
  }
  w.string(34, f.uuid);
  if (c) w.raw(c.labelsAndEmitter);
  else labelsAndEmitter(w, f);
  w.string(100000, f.Summary);
  if (f.extensions) any(w, 150000, f.extensions);
  return true;
}

const scratch = new Writer(4096);

/**
 * One framed gRPC message (5-byte prefix + GetFlowsResponse{flow, node_name, time}), or
 * undefined when the flow holds fields this encoder does not write (use protobufjs then).
 */
/**
 * `ours`: the flow is FlowBuilder.build's output as it is (no field mask shaped it), so it holds
 * only fields this encoder knows: the check for others is skipped.
 */
export function encodeFlowResponseFrame(flow: Flow, nodeName: string, time: Timestamp, ours = false): Uint8Array | undefined {
  // seconds before 1970 are negative int64 varints, which this writer does not make
  if (time.seconds < 0 || (flow.time?.seconds ?? 0) < 0) return undefined;
  const w = scratch;
  w.pos = 5; // the gRPC frame prefix, filled in below
  const s = w.begin(1);
  if (!flowFields(w, flow, ours)) return undefined;
  w.end(s);
  w.string(1000, nodeName);
  timestamp(w, 1001, time);
  return frameOut(w);
}

/**
 * The framed GetFlowsResponse of a flow's facts, written without a Flow message — the server's
 * common path (no field mask, no filter keeping a Flow). Byte for byte what
 * encodeFlowResponseFrame(toFlow(facts)) writes (a unit test keeps the two equal), with the
 * flow's time as the response's. Undefined where that one would fall back.
 */
export function encodeFactsFrame(f: FlowFacts): Uint8Array | undefined {
  const t = timestampOf(f.timeMs);
  if (t.seconds < 0) return undefined;
  const src = endpointBytes(f.source);
  const dst = endpointBytes(f.destination);
  if (!src || !dst) return undefined;
  const w = scratch;
  w.pos = 5;
  const s = w.begin(1);
  const ts = w.begin(1);
  w.uint(1, t.seconds);
  w.uint(2, t.nanos);
  w.end(ts);
  w.uint(2, f.verdict);
  w.uint(3, f.dropCode);
  if (f.ipVersion) {
    const ip = w.begin(5);
    w.string(1, f.src);
    w.string(2, f.dst);
    w.uint(3, f.ipVersion === 4 ? 1 : 2);
    w.end(ip);
  }
  if (f.l4 !== 'none') {
    const l4 = w.begin(6);
    const member = w.begin(f.l4 === 'TCP' ? 1 : f.l4 === 'UDP' ? 2 : f.l4 === 'ICMPv4' ? 3 : 4);
    if (f.l4 === 'TCP' || f.l4 === 'UDP') {
      w.uint(1, f.sport);
      w.uint(2, f.dport);
      if (f.l4 === 'TCP' && f.flags) flags(w, f.flags);
    }
    w.end(member);
    w.end(l4);
  }
  w.bytes(8, src);
  w.bytes(9, dst);
  const c = constantsOf(1, f.node, f.nodeLabels, f.emitter);
  w.raw(c.typeAndNode);
  w.bool(16, f.reply);
  const et = w.begin(19);
  w.uint(1, f.eventType.type);
  w.uint(2, f.eventType.sub_type);
  w.end(et);
  services(w, f.sourceService, f.destinationService);
  w.uint(22, f.direction);
  w.uint(24, f.point);
  w.uint(25, f.dropCode);
  if (f.reply !== undefined) {
    const r = w.begin(26);
    w.bool(1, f.reply);
    w.end(r);
  }
  if (f.iface) {
    const i = w.begin(28);
    w.uint(1, f.iface.index);
    w.string(2, f.iface.name);
    w.end(i);
  }
  w.string(34, f.uuid);
  w.raw(c.labelsAndEmitter);
  w.string(100000, f.summary);
  if (f.extension) any(w, 150000, f.extension);
  w.end(s);
  w.string(1000, f.node);
  const rt = w.begin(1001);
  w.uint(1, t.seconds);
  w.uint(2, t.nanos);
  w.end(rt);
  return frameOut(w);
}

/** Fovea's extension fields: string and number values, keys sorted (protobuf's deterministic map order). */
export type ExtensionFields = Readonly<Record<string, string | number>>;

/** Struct {fovea: {...fields}} into `w`. */
function writeStruct(w: Writer, fields: ExtensionFields): void {
  // Struct.fields (1) is a map<string, Value>: one entry message per key
  const outer = w.begin(1);
  w.string(1, 'fovea');
  const value = w.begin(2);
  const struct = w.begin(5); // Value.struct_value
  for (const key in fields) {
    const v = fields[key]!;
    const entry = w.begin(1);
    w.string(1, key);
    const val = w.begin(2);
    if (typeof v === 'number') {
      w.tag(2, 1); // number_value: double, fixed64
      w.double(v);
    } else {
      w.tag(3, LEN);
      w.text(v);
    }
    w.end(val);
    w.end(entry);
  }
  w.end(struct);
  w.end(value);
  w.end(outer);
}

const structScratch = new Writer(1024);

/** The Struct Fovea puts in Flow.extensions, encoded: {fovea: {...fields}}. */
export function encodeExtensionStruct(fields: ExtensionFields): Uint8Array {
  const w = structScratch;
  w.pos = 0;
  writeStruct(w, fields);
  return Buffer.from(w.finish());
}

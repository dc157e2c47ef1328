/**
 * Protobuf writing shared by the OTLP request encoders (log-encoder.ts for events, metric-encoder.ts
 * for metrics): each writes byte for byte what the upstream @opentelemetry/otlp-transformer
 * serialiser of its signal writes, at a fraction of its cost (tests compare the two).
 *
 * Why: the upstream serialisers measure and write every string twice, one character at a time, and
 * shift each nested message to fit its length prefix. Here attribute keys, frequent string
 * KeyValues, resources and scopes are encoded once and kept, every message's size is computed
 * before it is written (so length prefixes are written once, in place), and strings are written by
 * Buffer's native encoder. The rules of the common messages (AnyValue's int_value for integers in
 * the int64 range, `for…in` attribute order, Resource's dropped_attributes_count always written,
 * InstrumentationScope's empty version omitted) are upstream's common-serializer.js.
 */
import type { HrTime } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';

const MIN_INT64 = -(2 ** 63);
const MAX_INT64 = 2 ** 63;

export function varintSize(v: number): number {
  if (v < 0) return 10;
  if (v <= 0xffffffff) {
    let u = v >>> 0;
    let n = 1;
    while (u > 0x7f) { u >>>= 7; n++; }
    return n;
  }
  let low = v >>> 0;
  let high = (v / 0x100000000) >>> 0;
  let n = 1;
  while (high > 0 || low > 0x7f) { low = ((low >>> 7) | (high << 25)) >>> 0; high >>>= 7; n++; }
  return n;
}

const tagSize = (field: number): number => varintSize(field << 3);
export const lenDelimited = (field: number, len: number): number => tagSize(field) + varintSize(len) + len;

export class Writer {
  buf: Buffer;
  pos = 0;

  /** `size` bytes to write, into `into` (which must hold at least that many) or a new buffer */
  constructor(size: number, into?: Buffer) {
    this.buf = into ?? Buffer.allocUnsafe(size);
  }

  varint(v: number): void {
    const b = this.buf;
    if (v >= 0 && v <= 0xffffffff) {
      let u = v >>> 0;
      while (u > 0x7f) { b[this.pos++] = (u & 0x7f) | 0x80; u >>>= 7; }
      b[this.pos++] = u;
      return;
    }
    this.words(v);
    let low = this.low;
    let high = this.high;
    while (high > 0 || low > 0x7f) {
      b[this.pos++] = (low & 0x7f) | 0x80;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    b[this.pos++] = low & 0x7f;
  }

  /** scratch of words() */
  private low = 0;
  private high = 0;

  /** 64 bits of `v` as [low, high] (negative: two's complement), as the upstream writer computes them */
  private words(v: number): void {
    if (v >= 0) {
      this.low = v >>> 0;
      this.high = (v / 0x100000000) >>> 0;
      return;
    }
    const abs = Math.abs(v);
    let low = (~(abs >>> 0) >>> 0) + 1;
    let high = ~((abs / 0x100000000) >>> 0) >>> 0;
    if (low > 0xffffffff) { low = 0; high = (high + 1) >>> 0; }
    this.low = low;
    this.high = high;
  }

  /** sfixed64 (upstream writeSfixed64: a fraction is cut, as `>>> 0` cuts it) */
  sfixed64(v: number): void {
    this.words(v);
    this.fixed64(this.low, this.high);
  }

  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  bytes(src: Uint8Array): void {
    const n = src.length;
    if (n < 12) {
      // short copies: a loop beats set()'s call overhead (Node 20: set() wins from ~12 bytes)
      const b = this.buf;
      let p = this.pos;
      for (let i = 0; i < n; i++) b[p++] = src[i]!;
      this.pos = p;
      return;
    }
    this.buf.set(src, this.pos);
    this.pos += n;
  }

  /** a string whose UTF-8 length is `len` */
  string(s: string, len: number): void {
    this.varint(len);
    this.pos += this.buf.write(s, this.pos, len, 'utf8');
  }

  fixed64(lo: number, hi: number): void {
    const b = this.buf;
    let p = this.pos;
    b[p++] = lo; b[p++] = lo >>> 8; b[p++] = lo >>> 16; b[p++] = lo >>> 24;
    b[p++] = hi; b[p++] = hi >>> 8; b[p++] = hi >>> 16; b[p++] = hi >>> 24;
    this.pos = p;
  }

  /** An HrTime as fixed64 nanoseconds, as upstream's writeHrTimeAsFixed64 computes them. */
  hrTime(t: HrTime): void {
    const seconds = t[0];
    const nanos = t[1];
    // the times of one export repeat (every point's end, most points' start): the last two are kept
    if (seconds === times.seconds[0] && nanos === times.nanos[0]) { this.fixed64(times.low[0]!, times.high[0]!); return; }
    if (seconds === times.seconds[1] && nanos === times.nanos[1]) { this.fixed64(times.low[1]!, times.high[1]!); return; }
    const lower = (seconds & 0xffff) * 1e9;
    const upper = ((seconds / 0x10000) >>> 0) * 1e9;
    const low = (lower >>> 0) + ((((upper & 0xffff) * 0x10000) >>> 0)) + nanos;
    const high = (Math.floor(lower / 0x100000000) + ((upper / 0x10000) >>> 0) + Math.floor(low / 0x100000000)) >>> 0;
    const slot = times.next;
    times.next ^= 1;
    times.seconds[slot] = seconds;
    times.nanos[slot] = nanos;
    times.low[slot] = low >>> 0;
    times.high[slot] = high;
    this.fixed64(low >>> 0, high);
  }

  double(v: number): void {
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }
}

/** Writer.hrTime's last two times and their words (the slot written next alternates). */
const times = {
  seconds: [Number.NaN, Number.NaN], nanos: [Number.NaN, Number.NaN], low: [0, 0], high: [0, 0], next: 0,
};

/** A key's KeyValue.key field (tag, length, bytes), encoded once. */
const keyCache = new Map<string, Buffer>();
function keyField(key: string): Buffer {
  let b = keyCache.get(key);
  if (!b) {
    const utf8 = Buffer.from(key, 'utf8');
    b = Buffer.concat([Buffer.from([0x0a]), varintBuffer(utf8.length), utf8]);
    if (keyCache.size < 4096) keyCache.set(key, b);
  }
  return b;
}

function varintBuffer(v: number): Buffer {
  const w = new Writer(10);
  w.varint(v);
  return w.buf.subarray(0, w.pos);
}

/** Size of an AnyValue's content (without its own tag and length). */
export function anyValueSize(v: unknown): number {
  switch (typeof v) {
    case 'string': return lenDelimited(1, Buffer.byteLength(v, 'utf8'));
    case 'boolean': return 2;
    case 'number':
      return Number.isInteger(v) && v >= MIN_INT64 && v < MAX_INT64 ? 1 + varintSize(v) : 9;
    case 'object': {
      if (v === null) return 0;
      if (v instanceof Uint8Array) return lenDelimited(7, v.length);
      if (Array.isArray(v)) {
        let n = 0;
        for (const item of v) n += lenDelimited(1, anyValueSize(item));
        return lenDelimited(5, n);
      }
      let n = 0;
      for (const k in v) {
        if (!Object.prototype.hasOwnProperty.call(v, k)) continue;
        n += lenDelimited(1, keyValueSize(k, (v as Record<string, unknown>)[k]));
      }
      return lenDelimited(6, n);
    }
    default: return 0;
  }
}

/**
 * Whole KeyValue messages with a string value, encoded once: most event attributes repeat from
 * small sets (verdicts, reasons, pod, namespace and workload names, interfaces), so writing one is
 * a copy. Per key, two generations of at most KV_PER_KEY values each: a value is looked up in the
 * current one, then in the previous one (and moved into the current one); when the current one is
 * full it becomes the previous one and the old previous one is dropped. Values still in use (a live
 * pod's name) are carried forward, values no longer used (a deleted pod's) go after two turns, so
 * a churning cluster's new names keep being cached; at most 2 × KV_PER_KEY values per key are held.
 *
 * Each generation writes its values into its own chunks (KeyValueArena), not into Node's shared
 * Buffer pool: a cached value is long-lived, and a small slice of the pool keeps the pool's whole
 * 8 KiB block alive — under pod churn each new pod's names pinned about one block (5.4 MB for
 * 1,000 pods' values of 3 keys, against the ~0.2 MB the values are; test/unit/otlp-attribute-cache).
 * A value carried forward is copied into the current generation's chunks, so a dropped generation
 * frees all of its memory.
 *
 * A generation also ends when it is older than KV_GENERATION_MS and a value is missing: under
 * steady pod churn the cache then holds the values used in the last one or two such spans (about
 * what the pods with series use), not 2 × KV_PER_KEY per key — which at 15 new pods a minute took
 * over two hours to fill, every new name a few hundred bytes of heap more (an hour of churn read
 * as growth). The clock is read on a miss only.
 */
export const KV_PER_KEY = 1024;
/** A generation older than this ends at the next value missing from the cache (`--pod-series-ttl`'s default). */
export const KV_GENERATION_MS = 5 * 60_000;
/** A generation's first chunk; each next one is twice the last, up to KV_CHUNK_MAX. */
const KV_CHUNK_MIN = 256;
const KV_CHUNK_MAX = 16_384;

/** Bump allocation in chunks owned by one generation of one key (own ArrayBuffers, not the pool). */
class KeyValueArena {
  private chunk: Buffer | undefined;
  private pos = 0;
  /** bytes of the chunks allocated (tests) */
  allocated = 0;

  alloc(size: number): Buffer {
    if (size > KV_CHUNK_MAX / 4) return Buffer.allocUnsafeSlow(size);
    if (!this.chunk || this.pos + size > this.chunk.length) {
      const next = Math.min(KV_CHUNK_MAX, Math.max(KV_CHUNK_MIN, (this.chunk?.length ?? 0) * 2));
      this.chunk = Buffer.allocUnsafeSlow(Math.max(next, size));
      this.allocated += this.chunk.length;
      this.pos = 0;
    }
    const b = this.chunk.subarray(this.pos, this.pos + size);
    this.pos += size;
    return b;
  }
}
interface KeyValueGeneration { readonly values: Map<string, Buffer>; readonly arena: KeyValueArena; readonly born: number }
interface KeyValueGenerations { current: KeyValueGeneration; previous: KeyValueGeneration }
const kvCache = new Map<string, KeyValueGenerations>();
const newGeneration = (born: number): KeyValueGeneration => ({ values: new Map(), arena: new KeyValueArena(), born });

function cachedKeyValue(key: string, value: string): Buffer | undefined {
  let gens = kvCache.get(key);
  if (!gens) {
    if (kvCache.size >= 4096) return undefined;
    const now = Date.now();
    kvCache.set(key, (gens = { current: newGeneration(now), previous: newGeneration(now) }));
  }
  const hit = gens.current.values.get(value);
  if (hit) return hit;
  const carried = gens.previous.values.get(value);
  const now = Date.now();
  if (gens.current.values.size >= KV_PER_KEY || now - gens.current.born > KV_GENERATION_MS) {
    gens.previous = gens.current;
    gens.current = newGeneration(now);
  }
  let b: Buffer;
  if (carried) {
    b = gens.current.arena.alloc(carried.length);
    carried.copy(b);
  } else {
    const k = keyField(key);
    const len = Buffer.byteLength(value, 'utf8');
    const any = lenDelimited(1, len);
    const size = k.length + lenDelimited(2, any);
    const w = new Writer(size, gens.current.arena.alloc(size));
    w.bytes(k);
    w.tag(2, 2);
    w.varint(any);
    w.tag(1, 2);
    w.string(value, len);
    b = w.buf;
  }
  gens.current.values.set(value, b);
  return b;
}

/** How many values of `key` the KeyValue cache holds now (tests). */
export function cachedValueCount(key: string): number {
  const gens = kvCache.get(key);
  return gens ? gens.current.values.size + gens.previous.values.size : 0;
}

/** Bytes of the chunks the cache holds for `key` now (tests). */
export function cachedChunkBytes(key: string): number {
  const gens = kvCache.get(key);
  return gens ? gens.current.arena.allocated + gens.previous.arena.allocated : 0;
}

/** Whether the KeyValue of `key` = `value` is cached now, without touching the cache (tests). */
export function isKeyValueCached(key: string, value: string): boolean {
  const gens = kvCache.get(key);
  return gens !== undefined && (gens.current.values.has(value) || gens.previous.values.has(value));
}

function keyValueSize(key: string, value: unknown): number {
  if (typeof value === 'string') {
    const c = cachedKeyValue(key, value);
    if (c) return c.length;
  }
  return keyField(key).length + lenDelimited(2, anyValueSize(value));
}

export function writeAnyValue(w: Writer, v: unknown): void {
  switch (typeof v) {
    case 'string':
      w.tag(1, 2);
      w.string(v, Buffer.byteLength(v, 'utf8'));
      return;
    case 'boolean':
      w.tag(2, 0);
      w.varint(v ? 1 : 0);
      return;
    case 'number':
      if (Number.isInteger(v) && v >= MIN_INT64 && v < MAX_INT64) { w.tag(3, 0); w.varint(v); } else { w.tag(4, 1); w.double(v); }
      return;
    case 'object': {
      if (v === null) return;
      if (v instanceof Uint8Array) { w.tag(7, 2); w.varint(v.length); w.bytes(v); return; }
      if (Array.isArray(v)) {
        w.tag(5, 2);
        let n = 0;
        for (const item of v) n += lenDelimited(1, anyValueSize(item));
        w.varint(n);
        for (const item of v) { w.tag(1, 2); w.varint(anyValueSize(item)); writeAnyValue(w, item); }
        return;
      }
      w.tag(6, 2);
      w.varint(kvListContentSize(v as Record<string, unknown>));
      for (const k in v) {
        if (!Object.prototype.hasOwnProperty.call(v, k)) continue;
        const val = (v as Record<string, unknown>)[k];
        w.tag(1, 2);
        w.varint(keyValueSize(k, val));
        writeKeyValue(w, k, val);
      }
      return;
    }
    default:
  }
}

function kvListContentSize(v: Record<string, unknown>): number {
  let n = 0;
  for (const k in v) {
    if (!Object.prototype.hasOwnProperty.call(v, k)) continue;
    n += lenDelimited(1, keyValueSize(k, v[k]));
  }
  return n;
}

function writeKeyValue(w: Writer, key: string, value: unknown): void {
  if (typeof value === 'string') {
    const c = cachedKeyValue(key, value);
    if (c) { w.bytes(c); return; }
  }
  w.bytes(keyField(key));
  w.tag(2, 2);
  w.varint(anyValueSize(value));
  writeAnyValue(w, value);
}

/**
 * Repeated KeyValue under `field`: the own enumerable keys in the order upstream's `for…in` with
 * hasOwnProperty visits them (Object.keys keeps that order, without the per-key runtime lookups
 * for…in costs on objects of many different shapes), their values and sizes.
 */
export interface AttributePlan {
  readonly keys: string[];
  readonly values: unknown[];
  readonly sizes: number[];
  /** the whole KeyValue, when cached */
  readonly cached: (Buffer | undefined)[];
  /** the whole repeated field's bytes */
  readonly total: number;
  /** the whole repeated field, written once (plans of frozen sets): writing it is one copy */
  readonly bytes: Buffer | undefined;
}

// every plan has the same fields (one object shape where plans are read)
const NO_ATTRIBUTES: AttributePlan = { keys: [], values: [], sizes: [], cached: [], total: 0, bytes: undefined };

/**
 * Plans of frozen attribute sets, by field number: a frozen object cannot change, so neither can its
 * plan, and its repeated field is written once into `bytes` (the plan keeps nothing else).
 */
const frozenPlans = new WeakMap<object, AttributePlan[]>();

export function planAttributes(attrs: Record<string, unknown> | undefined, field: number): AttributePlan {
  if (!attrs) return NO_ATTRIBUTES;
  if (!Object.isFrozen(attrs)) return makePlan(attrs, field);
  let byField = frozenPlans.get(attrs);
  if (!byField) frozenPlans.set(attrs, (byField = []));
  return (byField[field] ??= writtenPlan(makePlan(attrs, field), field));
}

/** `p` written out once: its bytes and total, nothing else kept. */
function writtenPlan(p: AttributePlan, field: number): AttributePlan {
  if (p.total === 0) return NO_ATTRIBUTES;
  const w = new Writer(p.total);
  writeAttributes(w, p, field);
  if (w.pos !== p.total) throw new Error(`attribute plan: wrote ${w.pos} bytes, planned ${p.total}`);
  return { keys: [], values: [], sizes: [], cached: [], total: p.total, bytes: w.buf };
}

function makePlan(attrs: Record<string, unknown>, field: number): AttributePlan {
  const keys = Object.keys(attrs);
  const values = new Array<unknown>(keys.length);
  const sizes = new Array<number>(keys.length);
  const cached = new Array<Buffer | undefined>(keys.length);
  let total = 0;
  for (let i = 0; i < keys.length; i++) {
    const v = attrs[keys[i]!];
    values[i] = v;
    const c = typeof v === 'string' ? cachedKeyValue(keys[i]!, v) : undefined;
    cached[i] = c;
    const size = c ? c.length : keyValueSize(keys[i]!, v);
    sizes[i] = size;
    total += lenDelimited(field, size);
  }
  return { keys, values, sizes, cached, total, bytes: undefined };
}

export function writeAttributes(w: Writer, p: AttributePlan, field: number): void {
  if (p.bytes) { w.bytes(p.bytes); return; }
  for (let i = 0; i < p.keys.length; i++) {
    w.tag(field, 2);
    w.varint(p.sizes[i]!);
    const c = p.cached[i];
    if (c) w.bytes(c);
    else writeKeyValue(w, p.keys[i]!, p.values[i]);
  }
}

/** Resource and scope messages: the same objects recur in every batch, so their bytes are kept. */
const resourceBytes = new WeakMap<Resource, Buffer>();
const scopeBytes = new WeakMap<InstrumentationScope, Buffer>();

export function encodeResource(r: Resource): Buffer {
  let b = resourceBytes.get(r);
  if (!b) {
    const attrs = planAttributes(r.attributes as Record<string, unknown> | undefined, 1);
    const content = attrs.total + 2;
    const w = new Writer(lenDelimited(1, content));
    w.tag(1, 2);
    w.varint(content);
    writeAttributes(w, attrs, 1);
    w.tag(2, 0);
    w.varint(0);
    b = w.buf.subarray(0, w.pos);
    // A resource with async attributes may still change: keep only settled ones.
    if (!(r as { asyncAttributesPending?: boolean }).asyncAttributesPending) resourceBytes.set(r, b);
  }
  return b;
}

export function encodeScope(s: InstrumentationScope): Buffer {
  let b = scopeBytes.get(s);
  if (!b) {
    const attrs = planAttributes((s as { attributes?: Record<string, unknown> }).attributes, 3);
    const dropped = (s as { droppedAttributesCount?: number }).droppedAttributesCount;
    const nameLen = Buffer.byteLength(s.name, 'utf8');
    const versionLen = s.version ? Buffer.byteLength(s.version, 'utf8') : 0;
    const content = lenDelimited(1, nameLen) + (s.version ? lenDelimited(2, versionLen) : 0)
      + attrs.total + (dropped ? 1 + varintSize(dropped) : 0);
    const w = new Writer(lenDelimited(1, content));
    w.tag(1, 2);
    w.varint(content);
    w.tag(1, 2);
    w.string(s.name, nameLen);
    if (s.version) { w.tag(2, 2); w.string(s.version, versionLen); }
    writeAttributes(w, attrs, 3);
    if (dropped) { w.tag(4, 0); w.varint(dropped); }
    b = w.buf.subarray(0, w.pos);
    scopeBytes.set(s, b);
  }
  return b;
}


/**
 * ExportMetricsServiceRequest encoding for the OTLP metric exporters, byte for byte what
 * `ProtobufMetricsSerializer` (@opentelemetry/otlp-transformer, metrics-serializer.js) writes for
 * the same ResourceMetrics — tests compare the two on seeded random ResourceMetrics of every shape
 * and on the agent's own collections — at a fraction of its cost (the protobuf writing and its
 * caches: otlp-protobuf.ts).
 *
 * Why: at every export (10 s by default) the agent in pod mode sends thousands of data points whose
 * attribute keys, and most of their values, repeat from export to export; serialising them upstream
 * was the largest single cost of an idle agent after reading the pods' counters (issue 12).
 *
 * Upstream's field order and omissions, kept here: NumberDataPoint writes its times, then the value
 * (as_int as sfixed64 when the instrument's value type is INT, as_double otherwise), then its
 * attributes; histogram points write sum/min/max only when defined and the bucket arrays only when
 * not empty; an exponential histogram point writes its attributes first, scale only when not 0, and
 * both bucket messages always (offset only when not 0); temporality is written when known (DELTA 1,
 * CUMULATIVE 2), is_monotonic only when true; description, unit and schema URLs only when not empty;
 * a metric of an unknown data point type is written with its name and no data. No exemplars and no
 * flags (upstream writes none).
 */
import { ValueType } from '@opentelemetry/api';
import {
  AggregationTemporality, DataPointType,
  type DataPoint, type ExponentialHistogram, type Histogram, type MetricData, type MetricDescriptor, type ResourceMetrics,
  type ScopeMetrics,
} from '@opentelemetry/sdk-metrics';
import {
  encodeResource, encodeScope, lenDelimited, planAttributes, varintSize, writeAttributes, Writer,
  type AttributePlan,
} from './otlp-protobuf.js';

/**
 * The two passes' shared state: the measuring pass records, in the order the writing pass consumes
 * them, every length-delimited message's content size and every data point's attribute plan.
 * Encoding is synchronous, so one set serves every call.
 */
const sizes: number[] = [];
const plans: AttributePlan[] = [];
let sizeAt = 0;
let planAt = 0;

/** A metric's name, description and unit fields, encoded once per name (checked against the descriptor). */
interface Header { readonly description: string; readonly unit: string; readonly bytes: Buffer }
const headers = new Map<string, Header>();

function metricHeader(d: MetricDescriptor): Buffer {
  const h = headers.get(d.name);
  if (h && h.description === d.description && h.unit === d.unit) return h.bytes;
  const nameLen = Buffer.byteLength(d.name, 'utf8');
  const descLen = d.description ? Buffer.byteLength(d.description, 'utf8') : 0;
  const unitLen = d.unit ? Buffer.byteLength(d.unit, 'utf8') : 0;
  const w = new Writer(lenDelimited(1, nameLen) + (d.description ? lenDelimited(2, descLen) : 0) + (d.unit ? lenDelimited(3, unitLen) : 0));
  w.tag(1, 2);
  w.string(d.name, nameLen);
  if (d.description) { w.tag(2, 2); w.string(d.description, descLen); }
  if (d.unit) { w.tag(3, 2); w.string(d.unit, unitLen); }
  if (headers.size < 4096 || h) headers.set(d.name, { description: d.description, unit: d.unit, bytes: w.buf });
  return w.buf;
}

function protoTemporality(t: AggregationTemporality): number {
  switch (t) {
    case AggregationTemporality.DELTA: return 1;
    case AggregationTemporality.CUMULATIVE: return 2;
    default: return 0;
  }
}

const zigzag32 = (v: number): number => ((v << 1) ^ (v >> 31)) >>> 0;

function writeWords(w: Writer, v: number): void {
  w.fixed64(v >>> 0, (v / 0x100000000) >>> 0);
}

// ---- measuring pass: content sizes, recorded in writing order ----

/** Each measure* reserves its own size's slot first (pre-order), returns the content size. */
function reserve(): number {
  sizes.push(0);
  return sizes.length - 1;
}

function measureAttributes(attrs: DataPoint<unknown>['attributes'] | undefined, field: number): number {
  const p = planAttributes(attrs as Record<string, unknown> | undefined, field);
  plans.push(p);
  return p.total;
}

/** A number point's size follows from its attribute plan: no slot of its own (writeNumberPoint computes it again). */
function measureNumberPoint(dp: DataPoint<number>): number {
  return 27 + measureAttributes(dp.attributes, 7); // start, time and value: tag + 8 bytes each
}

function measureHistogramPoint(dp: DataPoint<Histogram>): number {
  const slot = reserve();
  const h = dp.value;
  let n = 27; // start, time, count
  if (h.sum !== undefined) n += 9;
  if (h.buckets.counts.length > 0) n += lenDelimited(6, 8 * h.buckets.counts.length);
  if (h.buckets.boundaries.length > 0) n += lenDelimited(7, 8 * h.buckets.boundaries.length);
  n += measureAttributes(dp.attributes, 9);
  if (h.min !== undefined) n += 9;
  if (h.max !== undefined) n += 9;
  sizes[slot] = n;
  return n;
}

function measureBuckets(offset: number, counts: readonly number[]): number {
  const slot = reserve();
  let n = offset !== 0 ? 1 + varintSize(zigzag32(offset)) : 0;
  if (counts.length > 0) {
    let packed = 0;
    for (const c of counts) packed += varintSize(c);
    sizes.push(packed);
    n += lenDelimited(2, packed);
  }
  sizes[slot] = n;
  return n;
}

function measureExponentialPoint(dp: DataPoint<ExponentialHistogram>): number {
  const slot = reserve();
  const h = dp.value;
  let n = measureAttributes(dp.attributes, 1) + 27; // attributes, start, time, count
  if (h.sum !== undefined) n += 9;
  if (h.scale !== 0) n += 1 + varintSize(zigzag32(h.scale));
  n += 9; // zero_count
  n += lenDelimited(8, measureBuckets(h.positive.offset, h.positive.bucketCounts));
  n += lenDelimited(9, measureBuckets(h.negative.offset, h.negative.bucketCounts));
  if (h.min !== undefined) n += 9;
  if (h.max !== undefined) n += 9;
  sizes[slot] = n;
  return n;
}

/** The data message (Gauge, Sum, Histogram, ExponentialHistogram); undefined for an unknown type. */
function measureData(m: MetricData): number | undefined {
  const slot = reserve();
  let n = 0;
  switch (m.dataPointType) {
    case DataPointType.GAUGE:
    case DataPointType.SUM:
      for (const dp of m.dataPoints) n += lenDelimited(1, measureNumberPoint(dp));
      break;
    case DataPointType.HISTOGRAM:
      for (const dp of m.dataPoints) n += lenDelimited(1, measureHistogramPoint(dp));
      break;
    case DataPointType.EXPONENTIAL_HISTOGRAM:
      for (const dp of m.dataPoints) n += lenDelimited(1, measureExponentialPoint(dp));
      break;
    default:
      sizes.length = slot;
      return undefined;
  }
  if (m.dataPointType !== DataPointType.GAUGE && protoTemporality(m.aggregationTemporality) !== 0) n += 2;
  if (m.dataPointType === DataPointType.SUM && m.isMonotonic) n += 2;
  sizes[slot] = n;
  return n;
}

const DATA_FIELD: Record<DataPointType, number> = {
  [DataPointType.GAUGE]: 5,
  [DataPointType.SUM]: 7,
  [DataPointType.HISTOGRAM]: 9,
  [DataPointType.EXPONENTIAL_HISTOGRAM]: 10,
};

function measureMetric(m: MetricData): number {
  const slot = reserve();
  let n = metricHeader(m.descriptor).length;
  const data = measureData(m);
  if (data !== undefined) n += lenDelimited(DATA_FIELD[m.dataPointType], data);
  sizes[slot] = n;
  return n;
}

/**
 * ResourceMetrics and ScopeMetrics alike: their head (the resource's or the scope's field 1, as
 * kept by otlp-protobuf.ts), their items under field 2, the schema URL under field 3.
 */
function measureGroup<T>(head: Buffer, items: readonly T[], measureItem: (item: T) => number, schemaUrl: string | undefined): number {
  const slot = reserve();
  let n = head.length;
  for (const item of items) n += lenDelimited(2, measureItem(item));
  if (schemaUrl) n += lenDelimited(3, Buffer.byteLength(schemaUrl, 'utf8'));
  sizes[slot] = n;
  return n;
}

const measureScopeMetrics = (sm: ScopeMetrics): number => measureGroup(encodeScope(sm.scope), sm.metrics, measureMetric, sm.scope.schemaUrl);

// ---- writing pass: the same walk, each message's size taken in the order it was recorded ----

function open(w: Writer, field: number): void {
  w.tag(field, 2);
  w.varint(sizes[sizeAt++]!);
}

/** Every data point's start_time_unix_nano (2) and time_unix_nano (3). */
function writeTimes(w: Writer, dp: DataPoint<unknown>): void {
  w.tag(2, 1);
  w.hrTime(dp.startTime);
  w.tag(3, 1);
  w.hrTime(dp.endTime);
}

/** Both histogram points' times, count (4) and sum (5, when defined). */
function writeTimesCountSum(w: Writer, dp: DataPoint<Histogram | ExponentialHistogram>): void {
  writeTimes(w, dp);
  w.tag(4, 1);
  writeWords(w, dp.value.count);
  if (dp.value.sum !== undefined) { w.tag(5, 1); w.double(dp.value.sum); }
}

function writeNumberPoint(w: Writer, dp: DataPoint<number>, valueType: ValueType | undefined): void {
  const plan = plans[planAt++]!;
  w.tag(1, 2);
  w.varint(27 + plan.total);
  writeTimes(w, dp);
  if (valueType === ValueType.INT) { w.tag(6, 1); w.sfixed64(dp.value); } else { w.tag(4, 1); w.double(dp.value); }
  writeAttributes(w, plan, 7);
}

function writeHistogramPoint(w: Writer, dp: DataPoint<Histogram>): void {
  open(w, 1);
  const h = dp.value;
  writeTimesCountSum(w, dp);
  const counts = h.buckets.counts;
  if (counts.length > 0) {
    w.tag(6, 2);
    w.varint(8 * counts.length);
    for (const c of counts) writeWords(w, c);
  }
  const bounds = h.buckets.boundaries;
  if (bounds.length > 0) {
    w.tag(7, 2);
    w.varint(8 * bounds.length);
    for (const b of bounds) w.double(b);
  }
  writeAttributes(w, plans[planAt++]!, 9);
  if (h.min !== undefined) { w.tag(11, 1); w.double(h.min); }
  if (h.max !== undefined) { w.tag(12, 1); w.double(h.max); }
}

function writeBuckets(w: Writer, field: number, offset: number, counts: readonly number[]): void {
  open(w, field);
  if (offset !== 0) { w.tag(1, 0); w.varint(zigzag32(offset)); }
  if (counts.length > 0) {
    open(w, 2);
    for (const c of counts) w.varint(c);
  }
}

function writeExponentialPoint(w: Writer, dp: DataPoint<ExponentialHistogram>): void {
  open(w, 1);
  const h = dp.value;
  writeAttributes(w, plans[planAt++]!, 1);
  writeTimesCountSum(w, dp);
  if (h.scale !== 0) { w.tag(6, 0); w.varint(zigzag32(h.scale)); }
  w.tag(7, 1);
  writeWords(w, h.zeroCount);
  writeBuckets(w, 8, h.positive.offset, h.positive.bucketCounts);
  writeBuckets(w, 9, h.negative.offset, h.negative.bucketCounts);
  if (h.min !== undefined) { w.tag(12, 1); w.double(h.min); }
  if (h.max !== undefined) { w.tag(13, 1); w.double(h.max); }
}

function writeMetric(w: Writer, m: MetricData): void {
  open(w, 2);
  w.bytes(metricHeader(m.descriptor));
  switch (m.dataPointType) {
    case DataPointType.GAUGE:
    case DataPointType.SUM:
      open(w, DATA_FIELD[m.dataPointType]);
      for (const dp of m.dataPoints) writeNumberPoint(w, dp, m.descriptor.valueType);
      break;
    case DataPointType.HISTOGRAM:
      open(w, DATA_FIELD[m.dataPointType]);
      for (const dp of m.dataPoints) writeHistogramPoint(w, dp);
      break;
    case DataPointType.EXPONENTIAL_HISTOGRAM:
      open(w, DATA_FIELD[m.dataPointType]);
      for (const dp of m.dataPoints) writeExponentialPoint(w, dp);
      break;
    default:
      return;
  }
  const temporality = m.dataPointType !== DataPointType.GAUGE ? protoTemporality(m.aggregationTemporality) : 0;
  if (temporality !== 0) { w.tag(2, 0); w.varint(temporality); }
  if (m.dataPointType === DataPointType.SUM && m.isMonotonic) { w.tag(3, 0); w.varint(1); }
}

function writeGroup<T>(w: Writer, field: number, head: Buffer, items: readonly T[], writeItem: (w: Writer, item: T) => void, schemaUrl: string | undefined): void {
  open(w, field);
  w.bytes(head);
  for (const item of items) writeItem(w, item);
  if (schemaUrl) { w.tag(3, 2); w.string(schemaUrl, Buffer.byteLength(schemaUrl, 'utf8')); }
}

const writeScopeMetrics = (w: Writer, sm: ScopeMetrics): void => writeGroup(w, 2, encodeScope(sm.scope), sm.metrics, writeMetric, sm.scope.schemaUrl);

/**
 * ExportMetricsServiceRequest with `rm` as its one ResourceMetrics, as ProtobufMetricsSerializer
 * writes it: into a new buffer, or into the one `buffer(size)` gives (at least `size` bytes; the
 * request is its first `size`).
 */
export function encodeMetricsExportRequest(rm: ResourceMetrics, buffer?: (size: number) => Buffer): Uint8Array {
  sizes.length = 0;
  plans.length = 0;
  sizeAt = 0;
  planAt = 0;
  try {
    const resource = encodeResource(rm.resource);
    const total = lenDelimited(1, measureGroup(resource, rm.scopeMetrics, measureScopeMetrics, rm.resource.schemaUrl));
    const w = new Writer(total, buffer?.(total));
    writeGroup(w, 1, resource, rm.scopeMetrics, writeScopeMetrics, rm.resource.schemaUrl);
    if (w.pos !== total || sizeAt !== sizes.length || planAt !== plans.length) {
      throw new Error(`metric encoder: wrote ${w.pos} bytes, planned ${total}`);
    }
    return w.buf.length === total ? w.buf : w.buf.subarray(0, total);
  } finally {
    // the plans hold the last export's attribute values: let them go
    sizes.length = 0;
    plans.length = 0;
  }
}

/**
 * ExportLogsServiceRequest encoding for the event exporter, byte for byte what
 * `ProtobufLogsSerializer` (@opentelemetry/otlp-transformer) writes for the same records — a test
 * compares the two over thousands of random records — at a fraction of its cost (the protobuf
 * writing and its caches: otlp-protobuf.ts).
 *
 * Why: event records carry ~30 attributes whose keys repeat in every record; at the default rate
 * limits a node's connection churn produces hundreds of events per second, and serialising them
 * upstream was most of the agent's CPU (124 µs per record in a profile, `FOVEA_CPU_PROFILE`).
 */
import type { AnyValue } from '@opentelemetry/api-logs';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import {
  anyValueSize, encodeResource, encodeScope, lenDelimited, planAttributes, varintSize, writeAnyValue,
  writeAttributes, Writer, type AttributePlan,
} from './otlp-protobuf.js';

interface RecordPlan {
  readonly record: ReadableLogRecord;
  readonly size: number;
  readonly attrs: AttributePlan;
  readonly severityTextLen: number;
  readonly bodySize: number;
  readonly eventNameLen: number;
  readonly traceId: Buffer | undefined;
  readonly spanId: Buffer | undefined;
}

function planRecord(r: ReadableLogRecord): RecordPlan {
  let n = 9; // time_unix_nano
  if (r.severityNumber !== undefined && r.severityNumber !== 0) n += 1 + varintSize(r.severityNumber);
  const severityTextLen = r.severityText ? Buffer.byteLength(r.severityText, 'utf8') : 0;
  if (r.severityText) n += lenDelimited(3, severityTextLen);
  const bodySize = r.body !== undefined ? anyValueSize(r.body as AnyValue) : 0;
  if (r.body !== undefined) n += lenDelimited(5, bodySize);
  const attrs = planAttributes(r.attributes as Record<string, unknown> | undefined, 6);
  n += attrs.total;
  n += 1 + varintSize(r.droppedAttributesCount);
  const sc = r.spanContext;
  if (sc?.traceFlags) n += 5;
  const traceId = sc?.traceId ? Buffer.from(sc.traceId, 'hex') : undefined;
  const spanId = sc?.spanId ? Buffer.from(sc.spanId, 'hex') : undefined;
  if (traceId) n += lenDelimited(9, traceId.length);
  if (spanId) n += lenDelimited(10, spanId.length);
  n += 9; // observed_time_unix_nano
  const eventNameLen = r.eventName ? Buffer.byteLength(r.eventName, 'utf8') : 0;
  if (r.eventName) n += lenDelimited(12, eventNameLen);
  return { record: r, size: n, attrs, severityTextLen, bodySize, eventNameLen, traceId, spanId };
}

function writeRecord(w: Writer, p: RecordPlan): void {
  const r = p.record;
  w.tag(2, 2);
  w.varint(p.size);
  w.tag(1, 1);
  w.hrTime(r.hrTime);
  if (r.severityNumber !== undefined && r.severityNumber !== 0) { w.tag(2, 0); w.varint(r.severityNumber); }
  if (r.severityText) { w.tag(3, 2); w.string(r.severityText, p.severityTextLen); }
  if (r.body !== undefined) { w.tag(5, 2); w.varint(p.bodySize); writeAnyValue(w, r.body); }
  writeAttributes(w, p.attrs, 6);
  w.tag(7, 0);
  w.varint(r.droppedAttributesCount);
  const sc = r.spanContext;
  if (sc?.traceFlags) { w.tag(8, 5); w.buf.writeUInt32LE(sc.traceFlags >>> 0, w.pos); w.pos += 4; }
  if (p.traceId) { w.tag(9, 2); w.varint(p.traceId.length); w.bytes(p.traceId); }
  if (p.spanId) { w.tag(10, 2); w.varint(p.spanId.length); w.bytes(p.spanId); }
  w.tag(11, 1);
  w.hrTime(r.hrTimeObserved);
  if (r.eventName) { w.tag(12, 2); w.string(r.eventName, p.eventNameLen); }
}

/** ExportLogsServiceRequest for `records`, grouped by resource, then scope, in first-seen order. */
export function encodeLogsExportRequest(records: readonly ReadableLogRecord[]): Uint8Array {
  const byResource = new Map<Resource, Map<InstrumentationScope, RecordPlan[]>>();
  for (const r of records) {
    let scopes = byResource.get(r.resource);
    if (!scopes) byResource.set(r.resource, (scopes = new Map()));
    let plans = scopes.get(r.instrumentationScope);
    if (!plans) scopes.set(r.instrumentationScope, (plans = []));
    plans.push(planRecord(r));
  }
  // sizes, innermost first
  let total = 0;
  const resourceSizes: number[] = [];
  const scopeSizes: number[] = [];
  for (const [resource, scopes] of byResource) {
    let rl = encodeResource(resource).length;
    for (const [scope, plans] of scopes) {
      let sl = encodeScope(scope).length;
      for (const p of plans) sl += lenDelimited(2, p.size);
      if (scope.schemaUrl) sl += lenDelimited(3, Buffer.byteLength(scope.schemaUrl, 'utf8'));
      scopeSizes.push(sl);
      rl += lenDelimited(2, sl);
    }
    if (resource.schemaUrl) rl += lenDelimited(3, Buffer.byteLength(resource.schemaUrl, 'utf8'));
    resourceSizes.push(rl);
    total += lenDelimited(1, rl);
  }
  const w = new Writer(total);
  let ri = 0;
  let si = 0;
  for (const [resource, scopes] of byResource) {
    w.tag(1, 2);
    w.varint(resourceSizes[ri++]!);
    w.bytes(encodeResource(resource));
    for (const [scope, plans] of scopes) {
      w.tag(2, 2);
      w.varint(scopeSizes[si++]!);
      w.bytes(encodeScope(scope));
      for (const p of plans) writeRecord(w, p);
      if (scope.schemaUrl) { w.tag(3, 2); w.string(scope.schemaUrl, Buffer.byteLength(scope.schemaUrl, 'utf8')); }
    }
    if (resource.schemaUrl) { w.tag(3, 2); w.string(resource.schemaUrl, Buffer.byteLength(resource.schemaUrl, 'utf8')); }
  }
  if (w.pos !== total) throw new Error(`log encoder: wrote ${w.pos} bytes, planned ${total}`);
  return w.buf;
}

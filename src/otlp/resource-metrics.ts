/**
 * A decoded ExportMetricsServiceRequest (the test receiver's form, receiver.ts) back in the SDK's
 * shape, ResourceMetrics, as a metric reader would have handed it to the exporter — so that what a
 * real agent sent can be serialised again, by the upstream serializer and by
 * src/export/metric-encoder.ts, and the bytes compared (test/unit/metric-encoder.test.ts,
 * bench/manual/metric-encode.mjs, the wire tests).
 *
 * Faithful for what OTLP carries and the serializers read: AnyValue kinds (int_value as a number:
 * exact below 2^53), times, int or double points (the descriptor's value type is the points'),
 * temporality, monotonicity, histogram sum/min/max only when present, exponential histograms.
 */
import { ValueType, type HrTime } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AggregationTemporality, DataPointType, InstrumentType,
  type MetricData, type ResourceMetrics, type ScopeMetrics,
} from '@opentelemetry/sdk-metrics';
import type { AnyValue, ExportMetricsServiceRequest, KeyValue } from './receiver.js';

/** The decoded fields receiver.ts's interfaces leave out (proto-loader's `defaults` and `oneofs` forms). */
interface Decoded { [k: string]: unknown }

function anyValue(v: AnyValue | null | undefined): unknown {
  switch (v?.value) {
    case 'stringValue': return v.stringValue;
    case 'boolValue': return v.boolValue;
    case 'intValue': return Number(v.intValue);
    case 'doubleValue': return v.doubleValue;
    case 'arrayValue': return (v.arrayValue?.values ?? []).map(anyValue);
    case 'kvlistValue': return attributes(v.kvlistValue?.values);
    case 'bytesValue': return new Uint8Array(v.bytesValue ?? []);
    default: return undefined;
  }
}

function attributes(kvs: KeyValue[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of kvs ?? []) out[kv.key] = anyValue(kv.value);
  return out;
}

function hrTime(ns: unknown): HrTime {
  const n = BigInt(ns as string);
  return [Number(n / 1_000_000_000n), Number(n % 1_000_000_000n)];
}

const TEMPORALITY: Record<string, AggregationTemporality> = {
  AGGREGATION_TEMPORALITY_DELTA: AggregationTemporality.DELTA,
  AGGREGATION_TEMPORALITY_CUMULATIVE: AggregationTemporality.CUMULATIVE,
};

/** a proto3 `optional` field: present when proto-loader named it in its synthetic oneof */
const optional = (o: Decoded, field: string): number | undefined => (o[`_${field}`] === field ? o[field] as number : undefined);

const points = (data: Decoded | undefined): Decoded[] => (data?.['dataPoints'] as Decoded[] | undefined) ?? [];

function metric(m: Decoded): MetricData {
  const kind = m['data'] as string | undefined;
  const data = kind ? m[kind] as Decoded : undefined;
  const ps = points(data);
  const common = (p: Decoded) => ({
    attributes: attributes(p['attributes'] as KeyValue[]), startTime: hrTime(p['startTimeUnixNano']), endTime: hrTime(p['timeUnixNano']),
  });
  const descriptor = {
    name: m['name'] as string, description: m['description'] as string, unit: m['unit'] as string,
    valueType: ps.some((p) => p['value'] === 'asInt') ? ValueType.INT : ValueType.DOUBLE, type: InstrumentType.COUNTER,
  };
  // UNSPECIFIED (or none): a value the serializers write as nothing
  const aggregationTemporality = TEMPORALITY[data?.['aggregationTemporality'] as string] ?? (-1 as AggregationTemporality);
  switch (kind) {
    case 'sum':
    case 'gauge':
      return {
        descriptor, aggregationTemporality, isMonotonic: data!['isMonotonic'] === true,
        dataPointType: kind === 'sum' ? DataPointType.SUM : DataPointType.GAUGE,
        dataPoints: ps.map((p) => ({ ...common(p), value: p['value'] === 'asInt' ? Number(p['asInt']) : p['asDouble'] as number })),
      } as MetricData;
    case 'histogram':
      return {
        descriptor, aggregationTemporality, dataPointType: DataPointType.HISTOGRAM,
        dataPoints: ps.map((p) => ({
          ...common(p),
          value: {
            buckets: { boundaries: p['explicitBounds'] as number[], counts: (p['bucketCounts'] as string[]).map(Number) },
            count: Number(p['count']), sum: optional(p, 'sum'), min: optional(p, 'min'), max: optional(p, 'max'),
          },
        })),
      } as MetricData;
    case 'exponentialHistogram':
      return {
        descriptor, aggregationTemporality, dataPointType: DataPointType.EXPONENTIAL_HISTOGRAM,
        dataPoints: ps.map((p) => {
          const buckets = (b: Decoded | undefined) => ({ offset: (b?.['offset'] as number) ?? 0, bucketCounts: ((b?.['bucketCounts'] as string[]) ?? []).map(Number) });
          return {
            ...common(p),
            value: {
              count: Number(p['count']), sum: optional(p, 'sum'), min: optional(p, 'min'), max: optional(p, 'max'),
              scale: p['scale'] as number, zeroCount: Number(p['zeroCount']),
              positive: buckets(p['positive'] as Decoded), negative: buckets(p['negative'] as Decoded),
            },
          };
        }),
      } as MetricData;
    default:
      throw new Error(`metric ${String(m['name'])}: data ${String(kind)} has no SDK form here`);
  }
}

/** The request's ResourceMetrics (an exporter sends one per request) in the SDK's shape. */
export function toResourceMetrics(request: ExportMetricsServiceRequest): ResourceMetrics {
  if (request.resourceMetrics.length !== 1) throw new Error(`${request.resourceMetrics.length} ResourceMetrics in one request`);
  const rm = request.resourceMetrics[0] as unknown as Decoded;
  const res = rm['resource'] as Decoded | undefined;
  const schemaUrl = rm['schemaUrl'] as string | undefined;
  return {
    resource: resourceFromAttributes(attributes(res?.['attributes'] as KeyValue[]) as never, schemaUrl ? { schemaUrl } : {}),
    scopeMetrics: (rm['scopeMetrics'] as Decoded[]).map((sm): ScopeMetrics => {
      const scope = (sm['scope'] ?? {}) as Decoded;
      const scopeAttrs = scope['attributes'] as KeyValue[] | undefined;
      return {
        scope: {
          name: scope['name'] as string,
          ...(scope['version'] ? { version: scope['version'] as string } : {}),
          ...(sm['schemaUrl'] ? { schemaUrl: sm['schemaUrl'] as string } : {}),
          ...(scopeAttrs?.length ? { attributes: attributes(scopeAttrs) } : {}),
          ...(scope['droppedAttributesCount'] ? { droppedAttributesCount: scope['droppedAttributesCount'] } : {}),
        } as ScopeMetrics['scope'],
        metrics: (sm['metrics'] as Decoded[]).map(metric),
      };
    }),
  };
}

/**
 * What an exporter sent, checked against the upstream serializer: each request's bytes equal what
 * `ProtobufMetricsSerializer` (@opentelemetry/otlp-transformer) writes for the same ResourceMetrics
 * (decoded back by src/otlp/resource-metrics.ts) — so the agent's own encoder
 * (src/export/metric-encoder.ts) changed nothing on the wire.
 */
import { ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import type { ReceivedExport } from '../../src/otlp/receiver.js';
import { toResourceMetrics } from '../../src/otlp/resource-metrics.js';

/** Indexes of the requests whose bytes differ from upstream's (none expected); throws on an empty list. */
export function requestsUnlikeUpstream(requests: readonly ReceivedExport[]): number[] {
  if (requests.length === 0) throw new Error('no request received');
  const differ: number[] = [];
  requests.forEach((r, i) => {
    const theirs = Buffer.from(ProtobufMetricsSerializer.serializeRequest(toResourceMetrics(r.request))!);
    if (!theirs.equals(r.body)) differ.push(i);
  });
  return differ;
}

/**
 * NetworkEvent → OTLP log record (sdk-logs ReadableLogRecord), the shape the OTLP log exporters
 * serialise. One record per event, named by `eventName` (fovea.network.packet.drop,
 * fovea.network.flow); DROPPED is WARN, FORWARDED is INFO; the body is a one-line summary for
 * humans, the attributes carry everything for queries (names in src/names.ts).
 *
 * Kubernetes association: the collector's k8sattributes processor reads resource attributes only,
 * after groupbyattrs lifts record attributes to the resource. So when an end of the event is a pod
 * on this node (`local`), its k8s.pod.uid / k8s.pod.name / k8s.namespace.name are set on the record
 * (the source when both ends are local, as a pod's own egress is the more common question).
 *
 * Absent values are omitted, never written as undefined or ''.
 */
import type { HrTime } from '@opentelemetry/api';
import { SeverityNumber, type LogAttributes } from '@opentelemetry/api-logs';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { EventEndpoint, NetworkEvent } from '../events/types.js';
import { ATTR, METER_NAME, VERDICT } from '../names.js';
import { packageVersion } from './resource.js';

let scope: InstrumentationScope | undefined;

/**
 * The instrumentation scope of every event record. One object for the process: the OTLP
 * serialiser groups records by scope identity.
 */
export function eventScope(): InstrumentationScope {
  return (scope ??= { name: METER_NAME, version: packageVersion() });
}

/**
 * Unix ms (with a sub-ms fraction) → [seconds, nanoseconds], rounded to the microsecond: a double
 * holding today's Unix time in ms resolves ~0.24 µs, so finer digits would be noise.
 */
export function msToHrTime(ms: number): HrTime {
  const micros = Math.round(ms * 1000);
  const seconds = Math.floor(micros / 1e6);
  return [seconds, (micros - seconds * 1e6) * 1000];
}

/**
 * The record for one event. `observedMs`: when the agent read it (the record's observed time).
 */
export function eventToLogRecord(event: NetworkEvent, resource: Resource, observedMs: number): ReadableLogRecord {
  // drops, resets and failed connects are the "something went wrong" records
  const dropped = event.verdict === VERDICT.dropped || (event.tcp !== undefined && event.tcp.kind !== 'retransmit')
    || (event.dns !== undefined && dnsFailed(event.dns));
  return {
    hrTime: msToHrTime(event.timeMs),
    hrTimeObserved: msToHrTime(observedMs),
    severityNumber: dropped ? SeverityNumber.WARN : SeverityNumber.INFO,
    severityText: dropped ? 'WARN' : 'INFO',
    body: eventSummary(event),
    eventName: event.name,
    resource,
    instrumentationScope: eventScope(),
    attributes: eventAttributes(event),
    droppedAttributesCount: 0,
  };
}

type EndField = Exclude<keyof EventEndpoint, 'local'>;

/** The attribute of each field of an event's two ends, in the order they are set. */
const END_ATTRS: Record<'source' | 'destination', Record<EndField, string>> = {
  source: {
    ip: ATTR.srcAddress, port: ATTR.srcPort, kind: ATTR.srcKind, namespace: ATTR.srcNamespace,
    workloadKind: ATTR.srcWorkloadKind, workloadName: ATTR.srcWorkload, pod: ATTR.srcPod,
    podUid: ATTR.srcPodUid, service: ATTR.srcService, node: ATTR.srcNode,
  },
  destination: {
    ip: ATTR.dstAddress, port: ATTR.dstPort, kind: ATTR.dstKind, namespace: ATTR.dstNamespace,
    workloadKind: ATTR.dstWorkloadKind, workloadName: ATTR.dstWorkload, pod: ATTR.dstPod,
    podUid: ATTR.dstPodUid, service: ATTR.dstService, node: ATTR.dstNode,
  },
};

/** END_ATTRS as [field, attribute] pairs, in its order: made once, not at every record. */
const SOURCE_ATTRS = Object.entries(END_ATTRS.source) as [EndField, string][];
const DESTINATION_ATTRS = Object.entries(END_ATTRS.destination) as [EndField, string][];

/** Every attribute of an event's record (see the file comment). */
export function eventAttributes(e: NetworkEvent): LogAttributes {
  const a: LogAttributes = {};
  const set = (key: string, v: string | number | undefined): void => {
    if (v !== undefined && v !== '') a[key] = v;
  };
  set(ATTR.verdict, e.verdict);
  set(ATTR.dropReason, e.reason);
  if (e.transport !== 'unknown') set(ATTR.transport, e.transport);
  if (e.ipVersion === 4 || e.ipVersion === 6) set(ATTR.networkType, `ipv${e.ipVersion}`);

  for (const [field, key] of SOURCE_ATTRS) set(key, e.source[field]);
  for (const [field, key] of DESTINATION_ATTRS) set(key, e.destination[field]);

  set(ATTR.interfaceName, e.interface);
  set(ATTR.netns, e.netns);
  set(ATTR.eventDirection, e.direction);
  set(ATTR.dropLocation, e.location);
  set(ATTR.eventsSuppressed, e.suppressed);
  set(ATTR.tcpFlags, e.tcpFlags);
  set(ATTR.packetLength, e.length);

  const t = e.tcp;
  if (t) {
    set(ATTR.tcpEventKind, t.kind);
    set(ATTR.tcpSide, t.side);
    set(ATTR.connectionState, t.state);
    set(ATTR.tcpFailure, t.failure);
    set(ATTR.errorType, t.error);
    set(ATTR.tcpSegments, t.segments);
  }

  const d = e.dns;
  if (d) {
    set(ATTR.dnsKind, d.kind);
    set(ATTR.dnsView, d.view);
    set(ATTR.dnsId, d.id);
    set(ATTR.dnsQuestionName, d.name);
    set(ATTR.dnsQuestionType, d.type);
    set(ATTR.dnsResponseCode, d.rcode);
    if (d.answers?.length) set(ATTR.dnsAnswers, d.answers.join(','));
    if (d.empty !== undefined) a[ATTR.dnsAnswerEmpty] = d.empty;
    set(ATTR.dnsLatency, d.latencyMs);
    set(ATTR.dnsMalformed, d.malformed);
  }

  const f = e.flow;
  if (f) {
    set(ATTR.flowState, f.state);
    set(ATTR.flowRecordPackets, f.packets);
    set(ATTR.flowRecordBytes, f.bytes);
    set(ATTR.flowTotalPackets, f.totalPackets);
    set(ATTR.flowTotalBytes, f.totalBytes);
  }

  // The local pod, for the collector's association (resource attributes after groupbyattrs).
  const local = isLocalPod(e.source) ? e.source : isLocalPod(e.destination) ? e.destination : undefined;
  if (local) {
    set(ATTR.podUid, local.podUid);
    set(ATTR.podName, local.pod);
    set(ATTR.namespace, local.namespace);
  }
  return a;
}

function isLocalPod(ep: EventEndpoint): boolean {
  return ep.local === true && ep.kind === 'pod';
}

/**
 * One line for humans, e.g.
 * `DROPPED NETFILTER_DROP tcp 10.0.0.1:40000 (default/client-7f9) → 10.0.0.2:80 (default/server) on veth1`,
 * `FORWARDED tcp 10.0.0.1:40000 (default/client-7f9) → 10.0.0.2:80 (svc default/web) on veth1: flow new, 3 packets, 180 bytes`.
 */
export function eventSummary(e: NetworkEvent): string {
  const parts: string[] = [e.verdict ?? tcpHeadline(e)];
  if (e.reason) parts.push(e.reason);
  parts.push(e.transport);
  parts.push(endpointText(e.source), '→', endpointText(e.destination));
  if (e.interface) parts.push('on', e.interface);
  let line = parts.join(' ');
  if (e.suppressed) line += ` (+${e.suppressed} suppressed)`;
  const f = e.flow;
  if (f) line += `: flow ${f.state}, ${f.packets} packets, ${f.bytes} bytes`;
  const t = e.tcp;
  if (t) line += `: ${tcpDetail(t)}`;
  if (e.dns) line += `: ${dnsDetail(e.dns)}`;
  return line;
}

/** A DNS response with a failing code, or a timeout. */
export function dnsFailed(d: NonNullable<NetworkEvent['dns']>): boolean {
  return d.kind === 'timeout' || (d.rcode !== undefined && d.rcode !== 'NOERROR');
}

/** e.g. `query A web.shop.svc.cluster.local`, `NXDOMAIN A nope.example (1.2 ms)`, `timeout A api.example after 5000 ms`. */
export function dnsDetail(d: NonNullable<NetworkEvent['dns']>): string {
  const q = [d.type, d.name].filter(Boolean).join(' ') || '?';
  const ms = d.latencyMs !== undefined ? `${d.latencyMs < 10 ? d.latencyMs.toFixed(2) : d.latencyMs.toFixed(0)} ms` : '';
  let s: string;
  if (d.kind === 'query') s = `query ${q}`;
  else if (d.kind === 'timeout') s = `timeout ${q}${ms ? ` after ${ms}` : ''}`;
  else s = `${d.rcode ?? 'response'} ${q}${d.answers?.length ? ` → ${d.answers.slice(0, 3).join(', ')}${d.answers.length > 3 ? ' …' : ''}` : ''}${d.empty ? ' (no answer)' : ''}${ms ? ` (${ms})` : ''}`;
  if (d.malformed) s += ` [malformed: ${d.malformed}]`;
  return s;
}

/** The kind of a TCP event in capitals, where drops and flows have their verdict: RESET, CONNECT_FAILED, RETRANSMIT. */
export function tcpHeadline(e: NetworkEvent): string {
  if (e.dns) return e.dns.kind === 'timeout' ? 'DNS_TIMEOUT' : 'DNS';
  switch (e.tcp?.kind) {
    case 'reset_sent': case 'reset_received': return 'RESET';
    case 'connect_failed': return 'CONNECT_FAILED';
    case 'retransmit': return 'RETRANSMIT';
    default: return '-';
  }
}

/** e.g. `reset received by the client (syn_sent)`, `connect failed: timeout (ETIMEDOUT)`, `2 segments sent again`. */
export function tcpDetail(t: NonNullable<NetworkEvent['tcp']>): string {
  const state = t.state ? ` (${t.state})` : '';
  switch (t.kind) {
    case 'reset_sent': return `reset sent by the ${t.side === 'unknown' ? 'socket' : t.side}${state}`;
    case 'reset_received': return `reset received by the ${t.side === 'unknown' ? 'socket' : t.side}${state}`;
    case 'connect_failed': return `connect failed: ${t.failure ?? 'other'}${t.error ? ` (${t.error})` : ''}`;
    case 'retransmit': return `${t.segments ?? 1} segment${t.segments === 1 ? '' : 's'} sent again${state}`;
  }
}

function endpointText(ep: EventEndpoint): string {
  const ip = ep.ip === '' ? '?' : ep.ip;
  let text = ep.port === undefined ? ip : `${ip.includes(':') ? `[${ip}]` : ip}:${ep.port}`;
  const who = identityText(ep);
  if (who) text += ` (${who})`;
  return text;
}

function identityText(ep: EventEndpoint): string | undefined {
  const ns = (name: string): string => (ep.namespace ? `${ep.namespace}/${name}` : name);
  switch (ep.kind) {
    case 'pod': return ep.pod ? ns(ep.pod) : ep.workloadName ? ns(ep.workloadName) : undefined;
    case 'service': return ep.service ? `svc ${ns(ep.service)}` : undefined;
    case 'node': return ep.node ? `node ${ep.node}` : undefined;
    default: return undefined;
  }
}

/**
 * Drop and flow events as OTLP log records over real loopback sockets, gRPC and http/protobuf,
 * into the receiver built from the official proto files: the real EventLogExporter in front of the
 * real upstream log exporters. Exact counts (every event carries a unique sequence in source.port),
 * attributes as mapped, a collector restarted in the middle of a stream (nothing lost within the
 * queue bound; beyond it, exactly the counted queue_full events missing), and the errors the real
 * exporters report classified as retry / reject / too large. No root needed.
 */
import * as grpc from '@grpc/grpc-js';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { LogRecordExporter } from '@opentelemetry/sdk-logs';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { NetworkEvent } from '../../src/events/types.js';
import { classifyExportError, createEventLogExporter, createOtlpLogExporter, type EventLogExporter } from '../../src/export/log-queue.js';
import { eventAttributes, eventToLogRecord, msToHrTime } from '../../src/export/log-records.js';
import { createMetricsPipeline } from '../../src/export/metrics-pipeline.js';
import { resolveOtlpSettings, type OtlpOverrides, type OtlpSettings } from '../../src/export/otlp-settings.js';
import { buildResource } from '../../src/export/resource.js';
import { EVENT, VERDICT } from '../../src/names.js';
import { otlpProtoDir } from '../../src/otlp/paths.js';
import { OtlpReceiver, type ReceivedLogRecord } from '../../src/otlp/receiver.js';
import { freePort, missingArtifacts } from '../helpers/victoria.js';

const missing = missingArtifacts(() => otlpProtoDir());
const logger = pino({ level: 'silent' });
const resource = buildResource({ env: {}, nodeName: 'node-a', hostName: 'host-a' }).resource;
const PROTOCOLS = ['grpc', 'http/protobuf'] as const;
type Protocol = (typeof PROTOCOLS)[number];

function logsSettings(overrides: OtlpOverrides): OtlpSettings {
  const r = resolveOtlpSettings({}, { timeoutMs: 2_000, ...overrides }, 'logs');
  if (!r.ok) throw new Error(r.issues.join('\n'));
  return r.settings;
}

/** The receiver's endpoint for `protocol`; for http, the metrics URL, as a shared config would give it. */
function endpointOf(rx: OtlpReceiver, protocol: Protocol): string {
  return protocol === 'grpc' ? rx.endpoint : rx.httpEndpoint;
}

/** Event number `seq` (1-based): drops and flows alternate, `seq` in source.port. */
function event(seq: number): NetworkEvent {
  const client = { ip: '10.1.0.5', port: seq, kind: 'pod' as const, namespace: 'shop', pod: 'cart-7f9', podUid: 'uid-cart',
    workloadKind: 'Deployment', workloadName: 'cart', node: 'node-a', local: true };
  const server = { ip: '10.1.1.9', port: 5432, kind: 'pod' as const, namespace: 'db', pod: 'pg-0', podUid: 'uid-pg',
    workloadKind: 'StatefulSet', workloadName: 'pg', node: 'node-b', local: false };
  const common = { timeMs: 1_700_000_000_000 + seq + 0.25, source: client, destination: server, ipVersion: 4 as const,
    transport: 'tcp' as const, protocol: 6, interface: 'veth-cart', netns: 4026532000, direction: 'egress' as const, node: 'node-a' };
  if (seq % 2 === 1) {
    return { ...common, name: EVENT.drop, verdict: VERDICT.dropped, reason: 'NETFILTER_DROP', reasonCode: 6, tcpFlags: 'SYN',
      length: 60, location: 'nft_do_chain+0x3c4', suppressed: seq % 5 };
  }
  return { ...common, name: EVENT.flow, verdict: VERDICT.forwarded, tcpFlags: 'SYN|ACK',
    flow: { state: 'new', packets: 2, bytes: 120, totalPackets: 2, totalBytes: 120, firstSeenMs: 1_700_000_000_000, lastSeenMs: 1_700_000_000_001 } };
}
const events = (from: number, to: number): NetworkEvent[] => Array.from({ length: to - from + 1 }, (_, i) => event(from + i));
const seqOf = (r: ReceivedLogRecord): number => r.attrs['source.port'] as number;

/** Sequence numbers received by all of `receivers`, with how many times each. */
function received(receivers: readonly OtlpReceiver[]): Map<number, number> {
  const seen = new Map<number, number>();
  for (const rx of receivers) for (const r of rx.logRecords()) seen.set(seqOf(r), (seen.get(seqOf(r)) ?? 0) + 1);
  return seen;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(missing !== undefined)(`OTLP events → receiver${missing ? ` (skipped: ${missing})` : ''}`, () => {
  const open: Array<EventLogExporter | OtlpReceiver | LogRecordExporter> = [];
  afterEach(async () => {
    for (const x of open.splice(0).reverse()) await (x instanceof OtlpReceiver ? x.stop() : x.shutdown());
  });

  async function receiver(port = 0, httpPort = 0): Promise<OtlpReceiver> {
    const rx = await OtlpReceiver.start({ port, httpPort });
    open.push(rx);
    return rx;
  }

  function exporter(settings: OtlpSettings, opts: { maxQueue?: number; maxBatch?: number; maxInFlight?: number } = {}): EventLogExporter {
    const q = createEventLogExporter({ settings, resource, logger, lingerMs: 20, initialBackoffMs: 100, maxBackoffMs: 400, ...opts });
    open.push(q);
    return q;
  }

  for (const protocol of PROTOCOLS) {
    it(`delivers N events exactly once with their name, severity, body, time and attributes (${protocol})`, async () => {
      const rx = await receiver();
      const settings = logsSettings({ protocol, endpoint: endpointOf(rx, protocol) });
      if (protocol === 'http/protobuf') expect(settings.endpoint).toBe(rx.httpLogsEndpoint);
      const q = exporter(settings, { maxBatch: 128 });
      const n = 1_000;
      for (let i = 1; i <= n; i += 50) q.publish(events(i, i + 49));
      expect(await q.forceFlush(20_000)).toBe(true);

      const records = rx.logRecords();
      expect(records).toHaveLength(n);
      const seen = received([rx]);
      expect(seen.size).toBe(n);
      expect([...seen.values()].every((c) => c === 1)).toBe(true);
      expect(records.map(seqOf)).toEqual(Array.from({ length: n }, (_, i) => i + 1)); // in order
      expect(rx.logRequests.every((r) => r.transport === (protocol === 'grpc' ? 'grpc' : 'http'))).toBe(true);
      expect(rx.requestCount).toBe(0); // nothing on the metrics side

      for (const seq of [1, 2]) {
        const e = event(seq);
        const r = records[seq - 1]!;
        expect(r.eventName).toBe(e.name);
        expect(r.severityText).toBe(seq === 1 ? 'WARN' : 'INFO');
        expect(r.severityNumber).toBe(seq === 1 ? 'SEVERITY_NUMBER_WARN' : 'SEVERITY_NUMBER_INFO');
        const [s, ns] = msToHrTime(e.timeMs);
        expect(r.timeUnixNano).toBe((BigInt(s) * 1_000_000_000n + BigInt(ns)).toString());
        expect(BigInt(r.observedTimeUnixNano)).toBeGreaterThan(0n);
        expect(r.body).toBe(eventToLogRecord(e, resource, 0).body);
        expect(r.attrs).toEqual(eventAttributes(e));
        expect(r.scope.name).toBe('fovea');
        expect(r.resource).toMatchObject({ 'service.name': 'fovea', 'k8s.node.name': 'node-a', 'host.name': 'host-a' });
      }
      expect(records[0]!.attrs).toMatchObject({ 'fovea.verdict': 'DROPPED', 'fovea.drop.reason': 'NETFILTER_DROP',
        'source.port': 1, 'destination.port': 5432, 'k8s.pod.uid': 'uid-cart', 'fovea.destination.workload.name': 'pg' });
      expect(q.stats()).toMatchObject({ published: n, exported: n, queued: 0, lost: { queue_full: 0, export_rejected: 0 }, exportsFailed: 0 });
    });

    it(`overlaps up to maxInFlight requests against a collector with a round trip, each event exactly once (${protocol})`, async () => {
      const rx = await receiver();
      rx.answerLogsAfter(50);
      const n = 4_000; // 40 batches of 100: a burst, as a flow read hands over
      for (const maxInFlight of [1, 4]) {
        const q = exporter(logsSettings({ protocol, endpoint: endpointOf(rx, protocol) }), { maxQueue: 10_000, maxBatch: 100, maxInFlight });
        const from = rx.logRequests.length;
        const t0 = Date.now();
        q.publish(events(1, n));
        expect(await q.forceFlush(20_000)).toBe(true);
        const ms = Date.now() - t0;
        const requests = rx.logRequests.slice(from);
        expect(requests).toHaveLength(40);
        // the receiver's own count of requests it had not answered yet when each arrived
        expect(Math.max(...requests.map((r) => r.concurrent))).toBe(maxInFlight);
        if (maxInFlight === 1) expect(ms).toBeGreaterThanOrEqual(40 * 50); // one round trip per batch
        const seen = received([rx]);
        expect(seen.size).toBe(n);
        expect([...seen.values()].every((c) => c === 1)).toBe(true);
        expect(q.stats()).toMatchObject({ published: n, exported: n, queued: 0, lost: { queue_full: 0, export_rejected: 0 }, exportsFailed: 0, exportsOk: 40 });
        await q.shutdown();
        rx.clear();
      }
    });

    it(`loses nothing across a collector restart in the middle of a stream (${protocol})`, async () => {
      const port = await freePort();
      const httpPort = await freePort();
      const first = await receiver(port, httpPort);
      const q = exporter(logsSettings({ protocol, endpoint: endpointOf(first, protocol) }), { maxQueue: 10_000, maxBatch: 64 });
      let seq = 0;
      const stream = async (ms: number): Promise<void> => {
        const until = Date.now() + ms;
        while (Date.now() < until) { q.publish(events(seq + 1, seq + 5)); seq += 5; await sleep(10); }
      };
      await stream(500);
      await first.waitForLogs((r) => r.length > 0, 10_000);
      await first.stop();
      await stream(1_500); // the collector is gone: ~750 events, far below the bound
      expect(q.stats().exportsFailed).toBeGreaterThan(0);
      const second = await receiver(port, httpPort);
      await stream(500);
      expect(await q.forceFlush(30_000)).toBe(true);

      const seen = received([first, second]);
      expect(second.logRecords().length).toBeGreaterThan(0);
      expect(seen.size).toBe(seq);
      expect([...seen.entries()].filter(([, c]) => c !== 1)).toEqual([]); // exactly once
      expect(Math.min(...seen.keys())).toBe(1);
      expect(Math.max(...seen.keys())).toBe(seq);
      expect(q.stats()).toMatchObject({ published: seq, exported: seq, queued: 0, lost: { queue_full: 0, export_rejected: 0 },
        consecutiveFailures: 0 });
    });

    it(`beyond the queue bound, exactly the counted queue_full events are missing, the oldest ones (${protocol})`, async () => {
      const port = await freePort();
      const httpPort = await freePort();
      const first = await receiver(port, httpPort);
      const q = exporter(logsSettings({ protocol, endpoint: endpointOf(first, protocol) }), { maxQueue: 100, maxBatch: 20 });
      q.publish(events(1, 50));
      expect(await q.forceFlush(10_000)).toBe(true);
      await first.stop();
      for (let i = 51; i <= 350; i += 10) { q.publish(events(i, i + 9)); await sleep(5); } // 300 events, bound 100
      const lost = q.stats().lost.queue_full;
      expect(lost).toBeGreaterThanOrEqual(200);
      const second = await receiver(port, httpPort);
      expect(await q.forceFlush(30_000)).toBe(true);

      const seen = received([first, second]);
      const total = 350;
      expect([...seen.values()].every((c) => c === 1)).toBe(true);
      expect(total - seen.size).toBe(q.stats().lost.queue_full);
      expect(q.stats()).toMatchObject({ published: total, exported: seen.size, queued: 0, lost: { export_rejected: 0 } });
      // What is missing is one block of the oldest events not in flight: a batch in flight is never
      // dropped (the http exporter retries inside one export call, so one may be in flight during
      // the outage), everything newer than the block arrived.
      const missingSeqs = Array.from({ length: total }, (_, i) => i + 1).filter((s) => !seen.has(s));
      const lo = Math.min(...missingSeqs);
      const hi = Math.max(...missingSeqs);
      expect(hi - lo + 1).toBe(missingSeqs.length);
      expect(lo).toBeLessThanOrEqual(51 + 20);
      expect(hi).toBeGreaterThanOrEqual(total - 100);
      for (let s = hi + 1; s <= total; s++) expect(seen.has(s), `event ${s}`).toBe(true);
    });

    it(`counts batches the collector rejects as invalid, retries refusals until it accepts (${protocol})`, async () => {
      const rx = await receiver();
      const q = exporter(logsSettings({ protocol, endpoint: endpointOf(rx, protocol) }), { maxBatch: 10 });
      rx.failRequests(true, 'malformed', { grpc: grpc.status.INVALID_ARGUMENT, http: 400 });
      q.publish(events(1, 25));
      expect(await q.forceFlush(10_000)).toBe(true);
      expect(q.stats()).toMatchObject({ exported: 0, lost: { export_rejected: 25, queue_full: 0 }, consecutiveFailures: 0 });

      rx.failRequests(true, 'overloaded'); // UNAVAILABLE / 503
      q.publish(events(26, 40));
      const flushed = q.forceFlush(20_000);
      await sleep(1_500);
      expect(q.stats().consecutiveFailures).toBeGreaterThan(0);
      rx.failRequests(false);
      expect(await flushed).toBe(true);
      expect(rx.logRecords().map(seqOf)).toEqual(Array.from({ length: 15 }, (_, i) => 26 + i));
      expect(q.stats()).toMatchObject({ exported: 15, queued: 0, lost: { export_rejected: 25, queue_full: 0 } });
    });
  }

  it('classifies the errors the real exporters report', async () => {
    const rx = await receiver();
    const record = eventToLogRecord(event(1), resource, Date.now());
    const attempt = async (protocol: Protocol, endpoint: string, timeoutMs = 2_000): Promise<ExportResult> => {
      const ex = createOtlpLogExporter(logsSettings({ protocol, endpoint, timeoutMs }));
      open.push(ex);
      return new Promise((resolve) => ex.export([record], resolve));
    };
    const cases: Array<[Protocol, { grpc?: grpc.status; http?: number }, string]> = [
      ['grpc', { grpc: grpc.status.INVALID_ARGUMENT }, 'reject'],
      ['grpc', { grpc: grpc.status.UNAVAILABLE }, 'retry'],
      ['grpc', { grpc: grpc.status.RESOURCE_EXHAUSTED }, 'retry'], // a limit, not the message size
      ['grpc', { grpc: grpc.status.UNAUTHENTICATED }, 'retry'],
      ['http/protobuf', { http: 400 }, 'reject'],
      ['http/protobuf', { http: 413 }, 'too_large'],
      ['http/protobuf', { http: 401 }, 'retry'],
      ['http/protobuf', { http: 500 }, 'retry'],
    ];
    for (const [protocol, kind, expected] of cases) {
      rx.failRequests(true, 'refused', kind);
      const r = await attempt(protocol, endpointOf(rx, protocol));
      expect(r.code, JSON.stringify(kind)).toBe(ExportResultCode.FAILED);
      expect(classifyExportError(r.error), `${protocol} ${JSON.stringify(kind)}: ${String(r.error)}`).toBe(expected);
    }
    rx.failRequests(false);
    // Nobody listening: connection refused (gRPC UNAVAILABLE; http ECONNREFUSED after upstream retries).
    const closed = await freePort();
    for (const [protocol, endpoint] of [['grpc', `http://127.0.0.1:${closed}`], ['http/protobuf', `http://127.0.0.1:${closed}/v1/logs`]] as const) {
      const r = await attempt(protocol, endpoint, 500);
      expect(r.code).toBe(ExportResultCode.FAILED);
      expect(classifyExportError(r.error), `${protocol}: ${String(r.error)}`).toBe('retry');
    }
  });

  it('the metrics exporter built from the shared transport options still delivers (grpc, http/protobuf)', async () => {
    const rx = await receiver();
    for (const protocol of PROTOCOLS) {
      const r = resolveOtlpSettings({}, { protocol, endpoint: endpointOf(rx, protocol), intervalMs: 60_000, timeoutMs: 2_000, headers: { 'x-t': protocol } });
      if (!r.ok) throw new Error(r.issues.join('\n'));
      const p = createMetricsPipeline({ settings: r.settings, resource, logger, cardinalityLimit: 10 });
      p.meter.createCounter(`fovea.test.${protocol === 'grpc' ? 'grpc' : 'http'}`).add(7);
      await p.forceFlush();
      await p.shutdown();
    }
    expect(rx.latest('fovea.test.grpc')).toBe(7);
    expect(rx.latest('fovea.test.http')).toBe(7);
    expect(rx.requests.map((e) => e.headers['x-t'])).toEqual(expect.arrayContaining(['grpc', 'http/protobuf']));
    expect(rx.logRecords()).toHaveLength(0);
  });
});

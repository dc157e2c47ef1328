/**
 * EventLogExporter: the bounded queue in front of the OTLP log exporter. A fake exporter (the
 * public LogRecordExporter interface) and fake timers; no sleeps. Events carry their sequence
 * number in source.port so every test can check order and exactly-once delivery.
 */
import { connect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPExporterError } from '@opentelemetry/otlp-exporter-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { LogRecordExporter, ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { pino, type Logger } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { EventOutput } from '../../src/events/pipeline.js';
import type { NetworkEvent } from '../../src/events/types.js';
import { classifyExportError, EventLogExporter, type EventLogExporterOptions } from '../../src/export/log-queue.js';
import { EVENT, VERDICT } from '../../src/names.js';

type Responder = (records: readonly ReadableLogRecord[], call: number) => ExportResult | 'hold';

/** Answers each export after `latencyMs` (fake time) with what `respond` says; 'hold' never answers. */
class FakeLogExporter implements LogRecordExporter {
  calls: { records: ReadableLogRecord[]; at: number; cb: (r: ExportResult) => void; result?: ExportResult }[] = [];
  inFlight = 0;
  maxInFlight = 0;
  shutdowns = 0;
  constructor(public respond: Responder = () => ({ code: ExportResultCode.SUCCESS }), public latencyMs = 5) {}

  export(records: ReadableLogRecord[], cb: (r: ExportResult) => void): void {
    const call = this.calls.length;
    const entry: FakeLogExporter['calls'][number] = { records, at: Date.now(), cb };
    this.calls.push(entry);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    setTimeout(() => {
      const r = this.respond(records, call);
      if (r === 'hold') return;
      this.inFlight--;
      entry.result = r;
      cb(r);
    }, this.latencyMs);
  }
  /** Sequence numbers of the records of successful calls (or the calls `pick` picks), in call order. */
  delivered(pick: (call: number) => boolean = (i) => this.calls[i]?.result?.code === ExportResultCode.SUCCESS): number[] {
    return this.calls.flatMap((c, i) => (pick(i) ? c.records.map((r) => r.attributes['source.port'] as number) : []));
  }
  forceFlush(): Promise<void> { return Promise.resolve(); }
  shutdown(): Promise<void> { this.shutdowns++; return Promise.resolve(); }
}

const ok = (): ExportResult => ({ code: ExportResultCode.SUCCESS });
const unavailable = (): ExportResult => ({ code: ExportResultCode.FAILED, error: grpcError(grpc.status.UNAVAILABLE, 'No connection established') });

/** The shape grpc-js gives a failed call (call.ts callErrorFromStatus): an Error with code, details, metadata. */
function grpcError(code: grpc.status, details: string): Error {
  return Object.assign(new Error(`${code} ${grpc.status[code]}: ${details}`), { code, details, metadata: new grpc.Metadata() });
}

function event(seq: number): NetworkEvent {
  return {
    name: EVENT.drop, timeMs: 1_700_000_000_000 + seq, verdict: VERDICT.dropped, reason: 'NO_SOCKET',
    source: { ip: '10.0.0.1', port: seq, kind: 'external' }, destination: { ip: '10.0.0.2', port: 80, kind: 'external' },
    ipVersion: 4, transport: 'tcp', protocol: 6, node: 'n',
  };
}
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const events = (from: number, to: number): NetworkEvent[] => range(from, to).map(event);

function capture(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>); } });
  return { logger, lines };
}

function make(exporter: LogRecordExporter, opts: Partial<EventLogExporterOptions> = {}): { q: EventLogExporter; lines: Array<Record<string, unknown>> } {
  const { logger, lines } = capture();
  const q = new EventLogExporter({ exporter, resource: resourceFromAttributes({ 'service.name': 'fovea' }), logger, random: () => 0, ...opts });
  return { q, lines };
}

/** Every published event is in exactly one place. */
function expectAccounted(q: EventLogExporter): void {
  const s = q.stats();
  expect(s.exported + s.queued + s.lost.queue_full + s.lost.export_rejected + s.unsent).toBe(s.published);
}

describe('EventLogExporter', () => {
  beforeEach(() => { vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] }); });
  afterEach(() => { vi.useRealTimers(); });

  it('sends a partial batch after the linger, a full batch at once, oldest first', async () => {
    const ex = new FakeLogExporter();
    const { q } = make(ex, { maxBatch: 10, lingerMs: 200 });
    q.publish(events(1, 3));
    await vi.advanceTimersByTimeAsync(199);
    expect(ex.calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(ex.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(10);
    q.publish(events(4, 25)); // 22 events: two full batches at once, the rest after the linger
    await vi.advanceTimersByTimeAsync(20);
    expect(ex.calls.map((c) => c.records.length)).toEqual([3, 10, 10]);
    await vi.advanceTimersByTimeAsync(300);
    expect(ex.delivered()).toEqual(range(1, 25));
    expect(q.stats()).toMatchObject({ published: 25, exported: 25, queued: 0, exportsOk: 4, exportsFailed: 0 });
    expect(ex.calls[0]?.records[0]?.eventName).toBe('fovea.network.packet.drop');
  });

  it('when full, drops the oldest events and counts them as queue_full exactly', async () => {
    let down = true;
    const ex = new FakeLogExporter(() => (down ? unavailable() : ok()));
    const { q } = make(ex, { maxQueue: 100, maxBatch: 10, lingerMs: 0 });
    for (let i = 1; i <= 250; i++) {
      q.publish([event(i)]);
      await vi.advanceTimersByTimeAsync(10);
    }
    expect(q.stats()).toMatchObject({ published: 250, queued: 100, lost: { queue_full: 150, export_rejected: 0 } });
    down = false;
    await vi.advanceTimersByTimeAsync(60_000);
    // Only the newest 100 survive, delivered once each and in order.
    expect(ex.delivered()).toEqual(range(151, 250));
    expect(q.stats()).toMatchObject({ exported: 100, queued: 0, lost: { queue_full: 150, export_rejected: 0 } });
    expectAccounted(q);
  });

  it('never drops events of the batch in flight: the oldest of the rest go', async () => {
    const held: Array<(r: ExportResult) => void> = [];
    const ex = new FakeLogExporter();
    ex.respond = (_r, call) => (call === 0 ? 'hold' : ok());
    const { q } = make(ex, { maxQueue: 100, maxBatch: 10, lingerMs: 0 });
    q.publish(events(1, 10));
    await vi.advanceTimersByTimeAsync(10);
    expect(ex.calls).toHaveLength(1); // 1..10 in flight, held
    held.push(ex.calls[0]!.cb);
    q.publish(events(11, 210)); // 200 more: 90 fit beside the 10 in flight
    expect(q.stats()).toMatchObject({ queued: 100, lost: { queue_full: 110 } });
    ex.inFlight--;
    ex.calls[0]!.result = ok();
    held[0]!(ok());
    await vi.advanceTimersByTimeAsync(1_000);
    expect(ex.delivered()).toEqual([...range(1, 10), ...range(121, 210)]);
    expect(q.stats()).toMatchObject({ exported: 100, queued: 0, lost: { queue_full: 110 } });
    expect(ex.maxInFlight).toBe(1);
    expectAccounted(q);
  });

  it('retries a failed batch with exponential backoff, keeping order and losing nothing within the bound', async () => {
    const failures = 7;
    const ex = new FakeLogExporter((_r, call) => (call < failures ? unavailable() : ok()), 5);
    const { q } = make(ex, { maxQueue: 1_000, maxBatch: 50, lingerMs: 0, initialBackoffMs: 1_000, maxBackoffMs: 30_000 });
    const t0 = Date.now();
    q.publish(events(1, 20));
    // keep publishing during the outage, under the bound
    for (let i = 0; i < 30; i++) {
      await vi.advanceTimersByTimeAsync(1_000);
      q.publish(events(21 + i * 10, 30 + i * 10));
    }
    await vi.advanceTimersByTimeAsync(200_000);
    const starts = ex.calls.slice(0, failures + 1).map((c) => c.at - t0);
    const gaps = starts.slice(1).map((t, i) => t - starts[i]! - 5); // minus the fake latency
    expect(gaps).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
    // The first retries resend the same head batch; then everything, in order, exactly once.
    expect(ex.calls.slice(0, failures + 1).every((c) => c.records.length === 20)).toBe(true);
    expect(ex.delivered()).toEqual(range(1, 320));
    expect(q.stats()).toMatchObject({ published: 320, exported: 320, queued: 0, lost: { queue_full: 0, export_rejected: 0 },
      exportsFailed: failures, consecutiveFailures: 0 });
    expect(ex.maxInFlight).toBe(1);
  });

  it('applies jitter below the nominal delay', async () => {
    const ex = new FakeLogExporter((_r, call) => (call < 2 ? unavailable() : ok()), 5);
    const { q } = make(ex, { lingerMs: 0, random: () => 1 }); // the largest jitter: 20 % shorter
    q.publish(events(1, 1));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(ex.calls.map((c) => c.at - ex.calls[0]!.at)).toEqual([0, 5 + 800, 5 + 800 + 5 + 1_600]);
  });

  it('drops batches the collector rejects as invalid and counts them as export_rejected', async () => {
    const ex = new FakeLogExporter((_r, call) => {
      if (call === 0) return { code: ExportResultCode.FAILED, error: grpcError(grpc.status.INVALID_ARGUMENT, 'bad record') };
      if (call === 2) return { code: ExportResultCode.FAILED, error: new OTLPExporterError('Bad Request', 400, 'bad') };
      return ok();
    });
    const { q, lines } = make(ex, { maxBatch: 10, lingerMs: 0 });
    q.publish(events(1, 40));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(ex.calls).toHaveLength(4); // no backoff after a rejection
    expect(ex.delivered()).toEqual([...range(11, 20), ...range(31, 40)]);
    expect(q.stats()).toMatchObject({ exported: 20, queued: 0, lost: { queue_full: 0, export_rejected: 20 }, exportsFailed: 2,
      consecutiveFailures: 0 });
    expect(lines.filter((l) => String(l['msg']).includes('rejected'))).toHaveLength(1); // rate-limited
    expectAccounted(q);
  });

  it('splits batches the collector refuses as too large instead of dropping them', async () => {
    const ex = new FakeLogExporter((records) => (records.length > 3
      ? { code: ExportResultCode.FAILED, error: new OTLPExporterError('Payload Too Large', 413, '') }
      : ok()));
    const { q } = make(ex, { maxBatch: 16, lingerMs: 0 });
    q.publish(events(1, 16));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(ex.calls.map((c) => c.records.length).slice(0, 3)).toEqual([16, 8, 4]);
    expect(ex.delivered()).toEqual(range(1, 16));
    expect(q.stats()).toMatchObject({ exported: 16, lost: { queue_full: 0, export_rejected: 0 } });
  });

  it('keeps exactly one export in flight under a steady stream with slow exports', async () => {
    const ex = new FakeLogExporter(() => ok(), 300);
    const { q } = make(ex, { maxQueue: 10_000, maxBatch: 100, lingerMs: 50 });
    for (let i = 0; i < 100; i++) {
      q.publish(events(i * 37 + 1, i * 37 + 37));
      await vi.advanceTimersByTimeAsync(20);
    }
    await vi.advanceTimersByTimeAsync(60_000);
    expect(ex.maxInFlight).toBe(1);
    expect(ex.delivered()).toEqual(range(1, 3_700));
  });

  it('treats an export that never answers as failed after exportTimeoutMs, and ignores its late answer', async () => {
    const ex = new FakeLogExporter((_r, call) => (call === 0 ? 'hold' : ok()));
    const { q } = make(ex, { lingerMs: 0, exportTimeoutMs: 5_000, initialBackoffMs: 1_000 });
    q.publish(events(1, 5));
    await vi.advanceTimersByTimeAsync(5_999);
    expect(ex.calls).toHaveLength(1);
    expect(q.stats().lastError).toMatch(/did not complete within 5000 ms/);
    await vi.advanceTimersByTimeAsync(100);
    expect(ex.calls).toHaveLength(2);
    ex.calls[0]!.cb(ok()); // late: ignored, not counted twice
    expect(q.stats()).toMatchObject({ exported: 5, exportsOk: 1, exportsFailed: 1 });
  });

  it('forceFlush sends at once, cutting the linger and a backoff in progress', async () => {
    let down = true;
    const ex = new FakeLogExporter(() => (down ? unavailable() : ok()));
    const { q } = make(ex, { lingerMs: 10_000, initialBackoffMs: 20_000 });
    q.publish(events(1, 3));
    const first = q.forceFlush(60_000);
    await vi.advanceTimersByTimeAsync(10);
    expect(ex.calls).toHaveLength(1); // no linger; it failed: 20 s backoff now
    down = false;
    const second = q.forceFlush(60_000);
    await vi.advanceTimersByTimeAsync(10);
    expect(ex.calls).toHaveLength(2);
    await expect(first).resolves.toBe(true);
    await expect(second).resolves.toBe(true);
    expect(q.stats().exported).toBe(3);
  });

  it('shutdown flushes what is queued, then shuts the exporter down; idempotent', async () => {
    const ex = new FakeLogExporter();
    const { q, lines } = make(ex, { lingerMs: 1_000 });
    q.publish(events(1, 30));
    const done = q.shutdown(5_000);
    expect(q.shutdown(5_000)).toBe(done);
    await vi.advanceTimersByTimeAsync(50);
    await done;
    expect(ex.delivered()).toEqual(range(1, 30));
    expect(ex.shutdowns).toBe(1);
    expect(q.stats()).toMatchObject({ exported: 30, queued: 0, unsent: 0 });
    q.publish(events(31, 32)); // after shutdown: counted, not queued
    expect(q.stats()).toMatchObject({ published: 32, queued: 0, unsent: 2 });
    expect(lines.some((l) => l['msg'] === 'event exporter stopped')).toBe(true);
  });

  it('shutdown with the collector down ends at its timeout and counts what is left as unsent', async () => {
    const ex = new FakeLogExporter(() => unavailable());
    const { q, lines } = make(ex, { lingerMs: 0, maxBatch: 10 });
    q.publish(events(1, 25));
    const done = q.shutdown(3_000);
    await vi.advanceTimersByTimeAsync(3_000);
    await done;
    expect(q.stats()).toMatchObject({ published: 25, exported: 0, queued: 0, unsent: 25 });
    expect(lines.some((l) => l['unsent'] === 25 && String(l['msg']).includes('not sent'))).toBe(true);
    expectAccounted(q);
  });

  it('logs failures at a limited rate: the first at once, then one a minute, and one on recovery', async () => {
    let down = true;
    const ex = new FakeLogExporter(() => (down ? unavailable() : ok()), 0);
    const { q, lines } = make(ex, { lingerMs: 0, initialBackoffMs: 1_000, maxBackoffMs: 5_000, failureLogIntervalMs: 60_000 });
    q.publish(events(1, 1));
    await vi.advanceTimersByTimeAsync(130_000); // ~27 failures
    const failed = lines.filter((l) => String(l['msg']).startsWith('OTLP event export failed'));
    expect(q.stats().exportsFailed).toBeGreaterThan(20);
    expect(failed).toHaveLength(3); // at 0 s, ~60 s, ~120 s
    expect(failed[1]?.['failures']).toBeGreaterThan(10);
    down = false;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(lines.filter((l) => l['msg'] === 'OTLP event export recovered')).toHaveLength(1);
    expect(q.stats()).toMatchObject({ exported: 1, consecutiveFailures: 0 });
  });

  it('survives a synchronous exporter without deep recursion', async () => {
    const ex: LogRecordExporter = {
      export: (_r, cb) => cb(ok()),
      forceFlush: () => Promise.resolve(),
      shutdown: () => Promise.resolve(),
    };
    const { q } = make(ex, { maxQueue: 50_000, maxBatch: 1, lingerMs: 0 });
    q.publish(events(1, 50_000));
    await vi.advanceTimersByTimeAsync(10);
    expect(q.stats()).toMatchObject({ exported: 50_000, queued: 0 });
  });
});

describe('EventLogExporter with several exports in flight (maxInFlight)', () => {
  beforeEach(() => { vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] }); });
  afterEach(() => { vi.useRealTimers(); });

  it('overlaps up to maxInFlight exports, never more, each batch sent once and in order', async () => {
    for (const maxInFlight of [1, 3]) {
      const ex = new FakeLogExporter(() => ok(), 300);
      const { q } = make(ex, { maxQueue: 10_000, maxBatch: 100, lingerMs: 50, maxInFlight });
      q.publish(events(1, 1_000)); // a flow read's burst: 10 full batches at once
      const t0 = Date.now();
      expect(await Promise.all([q.forceFlush(60_000), vi.advanceTimersByTimeAsync(10_000)]).then(([d]) => d)).toBe(true);
      expect(ex.maxInFlight).toBe(maxInFlight);
      expect(ex.calls.map((c) => c.records.length)).toEqual(Array.from({ length: 10 }, () => 100));
      expect(ex.delivered()).toEqual(range(1, 1_000)); // sent in publish order, each once
      // one round trip per batch with one in flight; three overlap: 4 rounds of 300 ms instead of 10
      expect(ex.calls.at(-1)!.at - t0).toBe(maxInFlight === 1 ? 9 * 300 : 3 * 300);
      expect(q.stats()).toMatchObject({ published: 1_000, exported: 1_000, queued: 0, exportsOk: 10 });
      expectAccounted(q);
    }
  });

  it('a failed batch among several in flight is sent again after the backoff, before anything newer; nothing is lost or sent twice', async () => {
    const ex = new FakeLogExporter((_r, call) => (call === 1 ? unavailable() : ok()), 100);
    const { q } = make(ex, { maxQueue: 10_000, maxBatch: 10, lingerMs: 0, maxInFlight: 3, initialBackoffMs: 1_000 });
    q.publish(events(1, 100));
    await vi.advanceTimersByTimeAsync(99);
    expect(ex.calls).toHaveLength(3); // 1-10, 11-20, 21-30 in flight
    await vi.advanceTimersByTimeAsync(1);
    // the answers in order: 1-10 ok (31-40 goes out: no failure known yet), 11-20 failed, 21-30 ok — then no new batch during the backoff
    expect(ex.calls).toHaveLength(4);
    await vi.advanceTimersByTimeAsync(100);
    expect(ex.calls).toHaveLength(4);
    expect(q.stats()).toMatchObject({ exported: 30, exportsFailed: 1, consecutiveFailures: 1, queued: 70 });
    await vi.advanceTimersByTimeAsync(899);
    expect(ex.calls).toHaveLength(4);
    await vi.advanceTimersByTimeAsync(1);
    expect(ex.calls.slice(4).map((c) => c.records[0]!.attributes['source.port'])).toEqual([11, 41, 51]); // the failed batch first
    await vi.advanceTimersByTimeAsync(2_000);
    const delivered = ex.delivered();
    expect(delivered).toEqual([...range(1, 10), ...range(21, 40), ...range(11, 20), ...range(41, 100)]);
    expect(q.stats()).toMatchObject({ published: 100, exported: 100, queued: 0, lost: { queue_full: 0, export_rejected: 0 },
      exportsOk: 10, exportsFailed: 1, consecutiveFailures: 0 });
    expectAccounted(q);
  });

  it('when full, drops the oldest events not in flight (a failed batch waiting first), never those in flight', async () => {
    const ex = new FakeLogExporter((_r, call) => (call === 0 ? unavailable() : call === 1 ? 'hold' : ok()), 10);
    const { q } = make(ex, { maxQueue: 50, maxBatch: 10, lingerMs: 0, maxInFlight: 2, initialBackoffMs: 1_000 });
    q.publish(events(1, 20));
    await vi.advanceTimersByTimeAsync(10); // 1-10 failed and wait for the backoff; 11-20 in flight, held
    expect(q.stats()).toMatchObject({ exportsFailed: 1, queued: 20 });
    q.publish(events(21, 65)); // 45 more, 15 over the bound: 1-10 go first, then 21-25 from the ring
    expect(q.stats()).toMatchObject({ queued: 50, lost: { queue_full: 15 } });
    ex.inFlight--;
    ex.calls[1]!.result = ok();
    ex.calls[1]!.cb(ok());
    await vi.advanceTimersByTimeAsync(5_000);
    expect(ex.delivered()).toEqual([...range(11, 20), ...range(26, 65)]);
    expect(q.stats()).toMatchObject({ published: 65, exported: 50, queued: 0, lost: { queue_full: 15, export_rejected: 0 } });
    expect(ex.maxInFlight).toBe(2);
    expectAccounted(q);
  });

  it('splits a too-large batch in its place while others are in flight', async () => {
    const ex = new FakeLogExporter((records) => (records.length > 4
      ? { code: ExportResultCode.FAILED, error: new OTLPExporterError('Payload Too Large', 413, '') }
      : ok()), 10);
    const { q } = make(ex, { maxBatch: 16, lingerMs: 0, maxInFlight: 2 });
    q.publish(events(1, 32));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(ex.delivered()).toEqual(range(1, 32));
    expect(q.stats()).toMatchObject({ published: 32, exported: 32, queued: 0, lost: { queue_full: 0, export_rejected: 0 } });
    expect(ex.maxInFlight).toBeLessThanOrEqual(2);
    expectAccounted(q);
  });

  it('shutdown counts every batch in flight or waiting as unsent, and ignores their late answers', async () => {
    const ex = new FakeLogExporter(() => 'hold');
    const { q } = make(ex, { maxBatch: 10, lingerMs: 0, maxInFlight: 3 });
    q.publish(events(1, 45));
    await vi.advanceTimersByTimeAsync(10);
    expect(ex.calls).toHaveLength(3);
    const done = q.shutdown(1_000);
    await vi.advanceTimersByTimeAsync(1_000);
    await done;
    for (const c of ex.calls) c.cb(ok()); // late
    expect(q.stats()).toMatchObject({ published: 45, exported: 0, queued: 0, unsent: 45, exportsOk: 0 });
    expectAccounted(q);
  });
});

describe('classifyExportError', () => {
  it('rejects malformed requests, splits too-large ones and retries everything else', async () => {
    // gRPC: the ServiceError shape of the upstream gRPC transport
    expect(classifyExportError(grpcError(grpc.status.INVALID_ARGUMENT, 'x'))).toBe('reject');
    expect(classifyExportError(grpcError(grpc.status.RESOURCE_EXHAUSTED, 'Received message larger than max (5000000 vs. 4194304)'))).toBe('too_large');
    expect(classifyExportError(grpcError(grpc.status.RESOURCE_EXHAUSTED, 'memory limit'))).toBe('retry');
    for (const s of [grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.UNAUTHENTICATED, grpc.status.PERMISSION_DENIED,
      grpc.status.INTERNAL, grpc.status.UNIMPLEMENTED, grpc.status.CANCELLED]) {
      expect(classifyExportError(grpcError(s, 'x')), grpc.status[s]).toBe('retry');
    }
    // http/protobuf: OTLPExporterError with the HTTP status, or without one after upstream retries
    expect(classifyExportError(new OTLPExporterError('Bad Request', 400, ''))).toBe('reject');
    expect(classifyExportError(new OTLPExporterError('Payload Too Large', 413, ''))).toBe('too_large');
    for (const code of [401, 403, 404, 500, 501]) expect(classifyExportError(new OTLPExporterError('x', code, '')), String(code)).toBe('retry');
    expect(classifyExportError(new OTLPExporterError('Export failed with retryable status'))).toBe('retry');
    // a real network error (string code)
    const refused = await new Promise<Error>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: 1 });
      s.on('error', resolve);
    });
    expect((refused as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    expect(classifyExportError(refused)).toBe('retry');
    expect(classifyExportError(new Error('Concurrent export limit reached'))).toBe('retry');
    expect(classifyExportError(undefined)).toBe('retry');
  });
});

describe('EventLogExporter as an event stage output', () => {
  it('fits EventOutput: name, stats, close', async () => {
    const { q } = make(new FakeLogExporter(), { lingerMs: 0 });
    const output: EventOutput = q;
    expect(output.name).toBe('otlp');
    output.publish(events(1, 3));
    await output.close(1_000);
    expect(output.stats?.()).toMatchObject({ exported: 3, queued: 0, lost: { queue_full: 0, export_rejected: 0 } });
  });
});

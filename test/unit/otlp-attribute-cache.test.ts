/**
 * The OTLP encoders' cache of whole string KeyValues (src/export/otlp-protobuf.ts) under churn: a
 * cluster whose pods come and go sends ever new names under the same keys. The cache must keep
 * caching new names (the old one stopped at 1,024 values per key and kept the first names for the
 * agent's life), forget names no longer used, keep those in use, stay bounded — and the bytes must
 * stay upstream's all along.
 */
import { ValueType } from '@opentelemetry/api';
import { ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType, InstrumentType, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { encodeMetricsExportRequest } from '../../src/export/metric-encoder.js';
import { cachedValueCount, isKeyValueCached, KV_GENERATION_MS, KV_PER_KEY, planAttributes } from '../../src/export/otlp-protobuf.js';

const resource = resourceFromAttributes({ 'service.name': 'fovea' });
const KEY = 'test.churn.pod.name';

/** One export: the pods alive now, each one series; half the sets frozen, as the agent's sources keep theirs. */
function exportOf(pods: readonly string[], at: number): ResourceMetrics {
  return {
    resource,
    scopeMetrics: [{
      scope: { name: 'fovea', version: '0.1.0' },
      metrics: [{
        descriptor: { name: 'fovea.pod.netstack.counter', description: '', unit: '', valueType: ValueType.DOUBLE, type: InstrumentType.COUNTER },
        dataPointType: DataPointType.SUM, aggregationTemporality: AggregationTemporality.CUMULATIVE, isMonotonic: true,
        dataPoints: pods.map((p, i) => {
          const attributes = { [KEY]: p, 'k8s.namespace.name': 'default', n: i };
          return { startTime: [at, 0], endTime: [at + 10, 5], attributes: i % 2 ? Object.freeze(attributes) : attributes, value: i * 1.5 };
        }),
      }],
    }],
  } as unknown as ResourceMetrics;
}

describe('the KeyValue cache under pod churn', () => {
  afterEach(() => { vi.useRealTimers(); });

  it('holds the values used in the last one or two generation spans, not 2 × KV_PER_KEY: deleted pods are forgotten in time', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(1_800_000_000_000);
    const key = 'test.time.pod.name';
    const plan = (pod: string): void => { planAttributes({ [key]: pod }, 1); };
    // 15 new pods a minute (the churn bench's rate), 50 alive, each alive pod's name used every 10 s export;
    // 3 hours: 2,700 names, more than 2 × KV_PER_KEY
    let next = 0;
    let alive: string[] = [];
    const counts: number[] = [];
    for (let t = 0; t < 3 * 3600; t += 10) {
      vi.setSystemTime(1_800_000_000_000 + t * 1000);
      if (t % 20 === 0) alive = alive.slice(alive.length >= 50 ? 5 : 0);
      while (alive.length < 50) alive.push(`pod-${next++}`);
      for (const p of alive) plan(p);
      for (const p of alive) expect(isKeyValueCached(key, p)).toBe(true);
      if (t % 600 === 0) counts.push(cachedValueCount(key));
    }
    expect(next).toBeGreaterThan(2 * KV_PER_KEY);
    // two spans of 5 min hold at most the names alive in 10+ min: 50 + 15/min × 10 min ≈ 200, +1 span's worth
    const bound = 50 + Math.ceil((15 * 3 * KV_GENERATION_MS) / 60_000);
    expect(Math.max(...counts)).toBeLessThanOrEqual(bound);
    // and it is steady: the last hour's counts no larger than the first hour's after 20 min
    expect(Math.max(...counts.slice(-6))).toBeLessThanOrEqual(Math.max(...counts.slice(2, 6)) + 20);
    // a name gone for two spans is forgotten
    expect(isKeyValueCached(key, 'pod-0')).toBe(false);
  });

  it('keeps caching new names, forgets gone ones, keeps live ones, bounded, bytes as upstream', () => {
    const live = ['always-there-0', 'always-there-1'];
    let next = 0;
    let alive: string[] = [];
    // 50 pods alive, 5 replaced per export, 1,000 exports: 5,000 names, far more than one generation holds
    for (let e = 0; e < 1000; e++) {
      while (alive.length < 50) alive.push(`pod-${next++}`);
      const rm = exportOf([...live, ...alive], 1_700_000_000 + e * 10);
      const ours = Buffer.from(encodeMetricsExportRequest(rm));
      const theirs = Buffer.from(ProtobufMetricsSerializer.serializeRequest(rm)!);
      if (!ours.equals(theirs)) throw new Error(`export ${e}: ${ours.length} bytes vs upstream ${theirs.length}`);
      // every name sent is cached, the newest included
      for (const p of [...live, ...alive]) expect(isKeyValueCached(KEY, p), `export ${e}: ${p}`).toBe(true);
      expect(cachedValueCount(KEY)).toBeLessThanOrEqual(2 * KV_PER_KEY);
      alive = alive.slice(5);
    }
    expect(next).toBeGreaterThan(4 * KV_PER_KEY);
    // the first names, gone for thousands of exports, are forgotten
    for (let i = 0; i < 100; i++) expect(isKeyValueCached(KEY, `pod-${i}`)).toBe(false);
  });

  it("holds what its values are, not Node's Buffer pool blocks: 1,000 new pods' names cost well under 1 MB", () => {
    // A small Buffer from Node's pool is a slice of an 8 KiB block, and one long-lived slice keeps the whole
    // block alive. The agent allocates small transient Buffers all the time (exports, decoders), so cached
    // values written into the pool between them pinned a block each: +5.35 MB here before the cache had its
    // own chunks. Measured in a fresh Node (dist/, built by test/global-setup.ts): this worker's own traffic
    // with vitest moves its ArrayBuffer memory by megabytes.
    const script = `
      const { planAttributes, cachedValueCount, cachedChunkBytes } = await import('./dist/src/export/otlp-protobuf.js');
      const keys = ['k8s.pod.name', 'k8s.pod.uid', 'network.interface.name'];
      // full collections until ArrayBuffers freed on V8's threads are counted out
      const settle = async () => { for (let k = 0; k < 3; k++) { gc(); await new Promise((r) => setTimeout(r, 20)); } };
      await settle();
      const before = process.memoryUsage().arrayBuffers;
      let transient = [];
      for (let i = 0; i < 1000; i++) {
        planAttributes({ [keys[0]]: 'pod-' + i + '-abcdefgh', [keys[1]]: 'uid-' + i + '-0000-1111-2222-333344445555', [keys[2]]: 'fvchm-' + i }, 1);
        for (let j = 0; j < 50; j++) transient.push(Buffer.allocUnsafe(100)); // from the pool, garbage soon
        if (transient.length > 500) transient = [];
      }
      transient = [];
      await settle();
      const held = process.memoryUsage().arrayBuffers - before;
      console.log(JSON.stringify({ held, values: keys.reduce((a, k) => a + cachedValueCount(k), 0), chunks: keys.reduce((a, k) => a + cachedChunkBytes(k), 0) }));`;
    const r = JSON.parse(execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' })) as { held: number; values: number; chunks: number };
    expect(r.values).toBe(3000);
    // the values are ~30-70 bytes each (~0.15 MB); their chunks a little more (each a power of 2 up to 16 KiB)
    expect(r.chunks).toBeLessThan(300_000);
    expect(r.held).toBeLessThan(r.chunks + 100_000);
  });
});

/**
 * The full collection after exports (src/agent/export-gc.ts): run when the growth since the last
 * full collection reaches the budget, at most once per interval; V8's real gc() frees what an
 * export leaves behind.
 */
import { describe, expect, it } from 'vitest';
import { ExportGarbageCollector, fullCollection, heapAndBuffers, watchFullCollections } from '../../src/agent/export-gc.js';

const MB = 1024 * 1024;

/** A collector over a scripted heap: `used` is what usage() reads; collect() sets it to `live`. */
function scripted(budgetBytes = 2 * MB, minIntervalMs = 20_000) {
  const s = { used: 10 * MB, live: 10 * MB, t: 0, runs: 0 };
  const gc = new ExportGarbageCollector({
    budgetBytes, minIntervalMs, usage: () => s.used, now: () => s.t,
    collect: () => { s.runs++; s.used = s.live; s.t += 5; },
  });
  return { s, gc };
}

describe('full collections after exports', () => {
  it('runs once the growth since the last full collection reaches the budget, and not before', () => {
    const { s, gc } = scripted();
    expect(gc.afterExport()).toBe(false); // the first reading is the floor
    const grown: boolean[] = [];
    for (let i = 1; i <= 3; i++) {
      s.t += 10_000;
      s.used += 0.8 * MB; // what an export leaves behind
      grown.push(gc.afterExport());
    }
    // 0.8, 1.6: below 2 MB; 2.4: collected
    expect(grown).toEqual([false, false, true]);
    expect(s.runs).toBe(1);
    expect(gc.stats()).toEqual({ collections: 1, totalMs: 5 });
    // the floor is what the collection left: the next one needs the budget again
    s.t += 30_000;
    s.used += 1.9 * MB;
    expect(gc.afterExport()).toBe(false);
  });

  it('a lower reading (V8 collected on its own) becomes the floor', () => {
    const { s, gc } = scripted();
    gc.afterExport();
    s.t += 10_000; s.used = 8 * MB; // V8's own full collection
    expect(gc.afterExport()).toBe(false);
    s.t += 10_000; s.used = 9.9 * MB;
    expect(gc.afterExport()).toBe(false); // 1.9 MB above the new floor
    s.t += 10_000; s.used = 10.1 * MB;
    expect(gc.afterExport()).toBe(true);
  });

  it("none after an interval in which V8 collected on its own (load); its own collections are not taken for V8's", () => {
    const { s, gc } = scripted();
    gc.afterExport();
    s.t += 10_000; s.used += 3 * MB;
    gc.fullCollectionSeen(s.t - 5_000); // V8's, between the exports
    expect(gc.afterExport()).toBe(false);
    s.t += 10_000; s.used += 1 * MB; // the reading after V8's collection is the floor: 1 MB above it
    expect(gc.afterExport()).toBe(false);
    s.t += 10_000; s.used += 1.5 * MB;
    expect(gc.afterExport()).toBe(true);
    gc.fullCollectionSeen(s.t - 5); // the entry of the collection just run: ours, not V8's
    s.t += 30_000; s.used += 2.5 * MB;
    expect(gc.afterExport()).toBe(true);
  });

  it('at most one collection per interval, however fast memory grows (a storm)', () => {
    const { s, gc } = scripted(2 * MB, 20_000);
    gc.afterExport();
    let runs = 0;
    for (let i = 0; i < 12; i++) {
      s.t += 5_000; // exports every 5 s
      s.used += 50 * MB; s.live += 40 * MB;
      if (gc.afterExport()) runs++;
    }
    // 60 s of exports: a collection at most every 20 s (the first at 5 s, then 25, 45)
    expect(runs).toBe(3);
  });

  it("V8's gc() frees what an export leaves behind: promoted objects and ArrayBuffers", () => {
    const collect = fullCollection();
    expect(collect).toBeTypeOf('function');
    const gc = new ExportGarbageCollector({ budgetBytes: MB, minIntervalMs: 0, collect: collect! });
    collect!();
    expect(gc.afterExport()).toBe(false); // the floor: the heap after a full collection
    const before = heapAndBuffers();
    // an export's leftovers: objects and 4 buffers of 348 KB, then dropped
    let garbage: unknown[] | undefined = Array.from({ length: 4 }, () => Buffer.alloc(348_731, 1));
    for (let i = 0; i < 20_000; i++) garbage.push({ i, s: `point ${i}` });
    const grown = heapAndBuffers() - before;
    expect(grown).toBeGreaterThan(2 * MB);
    garbage = undefined;
    expect(gc.afterExport()).toBe(true);
    // most of it freed (the test runner allocates a little meanwhile)
    expect(heapAndBuffers() - before).toBeLessThan(grown - 2 * MB);
    expect(gc.stats().collections).toBe(1);
    expect(garbage).toBeUndefined();
  });

  it("watchFullCollections: V8's gc performance entries reach the collector (a full collection not its own)", async () => {
    const collect = fullCollection()!;
    const gc = new ExportGarbageCollector({ budgetBytes: 1, minIntervalMs: 0, collect });
    const stop = watchFullCollections(gc);
    try {
      collect();
      await new Promise((r) => setTimeout(r, 50));
      gc.afterExport(); // the floor: the heap after a full collection
      // growth no collection frees: over the budget, so only V8's own collection stops ours
      const live = Array.from({ length: 4 }, () => Buffer.alloc(348_731, 1));
      collect(); // someone else's full collection
      await new Promise((r) => setTimeout(r, 50)); // entries are delivered asynchronously
      expect(gc.afterExport()).toBe(false); // skipped: V8 collected in this interval
      expect(gc.stats().collections).toBe(0);
      expect(live).toHaveLength(4);
    } finally {
      stop();
    }
  });
});

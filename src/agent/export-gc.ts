/**
 * A full garbage collection after an OTLP metrics export, when what the exports left behind since
 * the last full collection adds up to a budget (docs/benchmark.md, "Peak memory": the growth after
 * start-up).
 *
 * Why: an idle agent's memory grows with every export until V8's next full collection. Each export
 * with 50 pods promotes some of its objects to the old generation (its own scavenges happen while
 * they are alive) and leaves ArrayBuffers there: the gRPC transport copies the 348 KB request twice
 * (a Buffer of its own, then the gRPC frame). V8 starts a full collection when the old generation
 * reaches its limit, counting ArrayBuffer memory only once it has grown by 64 MB; measured there,
 * every 60–90 s, by then 6–8 MB above where the last one left it. A full collection of the idle
 * agent's heap takes a few ms, so one every few exports keeps that growth to the budget.
 *
 * The collection runs on the event loop right after an export's result (never during one), at
 * most once per `minIntervalMs`, not after an interval in which V8 ran a full collection of its own
 * (under load it does, often: a forced one would only add a pause while events pour in), and not at
 * all where V8 does not give the function (then nothing changes but memory).
 */
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';

/** The agent's budget: a collection every 2–3 exports of 50 pods (~1 MB left behind each) */
export const EXPORT_GC_BUDGET_BYTES = 2 * 1024 * 1024;
/** at most one collection of ours per 20 s, whatever the load (V8 collects on its own under load) */
export const EXPORT_GC_MIN_INTERVAL_MS = 20_000;

/** What the growth is measured on: V8's used heap plus ArrayBuffer memory, bytes. */
export function heapAndBuffers(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** V8's full collection (gc() of --expose-gc, from a context of its own), or undefined where it cannot be had. */
export function fullCollection(): (() => void) | undefined {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? () => { (gc as () => void)(); } : undefined;
  } catch {
    return undefined;
  }
}

export interface ExportGcOptions {
  /** growth of `usage()` since the last full collection that starts one after an export */
  readonly budgetBytes: number;
  /** fewest ms from one collection of ours to the next */
  readonly minIntervalMs: number;
  readonly collect: () => void;
  readonly usage?: () => number;
  readonly now?: () => number;
}

export interface ExportGcStats {
  /** full collections run after exports */
  readonly collections: number;
  /** their total duration, ms */
  readonly totalMs: number;
}

export class ExportGarbageCollector {
  /** usage() after the last full collection: ours, or lower readings (V8's own collections) */
  private floor = Infinity;
  private lastAt = -Infinity;
  /** when our last collection ran (performance.now() ms), to tell V8's own from it */
  private ours = { from: -Infinity, to: -Infinity };
  private v8Collected = false;
  private collections = 0;
  private totalMs = 0;
  private readonly usage: () => number;
  private readonly now: () => number;

  constructor(private readonly opts: ExportGcOptions) {
    this.usage = opts.usage ?? heapAndBuffers;
    this.now = opts.now ?? (() => performance.now());
  }

  /**
   * V8 ran a full collection that started at `startTime` (performance.now() ms): unless it was ours,
   * the next export only takes its reading as the floor.
   */
  fullCollectionSeen(startTime: number): void {
    if (startTime >= this.ours.from - 1 && startTime <= this.ours.to + 1) return;
    this.v8Collected = true;
  }

  /** Call once an export's result is in. Returns true when it ran a collection. */
  afterExport(): boolean {
    const used = this.usage();
    if (this.v8Collected) {
      this.v8Collected = false;
      this.floor = used;
      return false;
    }
    if (used < this.floor) {
      this.floor = used;
      return false;
    }
    const t0 = this.now();
    if (used - this.floor < this.opts.budgetBytes || t0 - this.lastAt < this.opts.minIntervalMs) return false;
    this.opts.collect();
    const t1 = this.now();
    this.ours = { from: t0, to: t1 };
    this.lastAt = t1;
    this.collections++;
    this.totalMs += t1 - t0;
    this.floor = this.usage();
    return true;
  }

  stats(): ExportGcStats {
    return { collections: this.collections, totalMs: this.totalMs };
  }
}

/** Tells `collector` of V8's full collections (gc performance entries) until the returned function is called. */
export function watchFullCollections(collector: ExportGarbageCollector): () => void {
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (isFullCollection(e)) collector.fullCollectionSeen(e.startTime);
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}

function isFullCollection(e: PerformanceEntry): boolean {
  return (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR;
}

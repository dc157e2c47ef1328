/**
 * V8's young generation held at its initial size while the agent starts and idles, let grow again
 * at the first sign of allocation pressure (docs/benchmark.md, "Peak memory: what the agent's VmHWM
 * is made of").
 *
 * The young generation is two semi-spaces that V8 doubles (up to --max-semi-space-size, 64 MB per
 * semi-space in the image: src/runtime.ts) each time the bytes surviving its scavenges add up to its
 * size, and shrinks only at some full collections. Loading the module graph, the BPF programs and
 * the first pod discovery make enough survivors to grow it from 1 to 8 MB per semi-space within two
 * seconds of the start, and it stays there: ~14 MB of the agent's resident memory that idle work
 * (an export every 10 s) does not need. V8 reads its growth factor at each growth, so a factor of 1
 * set at run time holds the size; the command line cannot (V8 raises a factor below 2 to 2 when it
 * configures the heap), hence bin/fovea.js calls holdYoungGeneration() before it loads the CLI.
 *
 * Event storms need the large young generation: the events and flows kept for `fovea observe` and
 * the Hubble API live a fraction of a second, and a small young generation copies them at every
 * scavenge (src/runtime.ts: twice the CPU with 16 MB, events lost). So once the agent runs,
 * releaseYoungGenerationUnderPressure() watches the scavenges and restores V8's growth factor for
 * good when SCAVENGES_PER_SECOND of them happen within a second — a storm makes hundreds; an idle
 * export with 50 pods ~10, within ~50 ms.
 */
import v8 from 'node:v8';
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';
import type { Logger } from '../log.js';

/** V8's own growth factor (--semi-space-growth-factor's default) */
export const V8_SEMI_SPACE_GROWTH_FACTOR = 2;
/** scavenges within one second that release the hold */
export const SCAVENGES_PER_SECOND = 20;

let held = false;

/** Stops the young generation from growing (until releaseYoungGeneration). Call after V8 configured its heap, i.e. at run time. */
export function holdYoungGeneration(): void {
  v8.setFlagsFromString('--semi-space-growth-factor=1');
  held = true;
}

/** Lets the young generation grow as V8 would by default. */
export function releaseYoungGeneration(): void {
  v8.setFlagsFromString(`--semi-space-growth-factor=${V8_SEMI_SPACE_GROWTH_FACTOR}`);
  held = false;
}

export function youngGenerationHeld(): boolean {
  return held;
}

/**
 * While the young generation is held: releases it at the first second with `scavenges` scavenges
 * (young-generation collections), then stops watching. Returns a stop function (for shutdown).
 */
export function releaseYoungGenerationUnderPressure(logger: Logger, scavenges = SCAVENGES_PER_SECOND): () => void {
  if (!held) return () => undefined;
  const recent: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (!isScavenge(e)) continue;
      recent.push(e.startTime);
      while (recent[0]! < e.startTime - 1000) recent.shift();
      if (recent.length >= scavenges) {
        observer.disconnect();
        releaseYoungGeneration();
        logger.info({ scavengesInOneSecond: recent.length }, 'allocation pressure: young generation allowed to grow');
        return;
      }
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}

function isScavenge(e: PerformanceEntry): boolean {
  return (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR;
}

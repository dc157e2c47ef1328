/**
 * A CPU profile of the running agent, for finding what it spends time on (FOVEA_CPU_PROFILE=<file>).
 * `node --cpu-prof` cannot be used: its SIGPROF timer interrupts the BPF verifier during load
 * (EAGAIN), so the profiler starts through the inspector after the probes are loaded and the
 * profile (Chrome DevTools `.cpuprofile` JSON) is written when the agent stops.
 */
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector';
import { writeHeapSnapshot } from 'node:v8';
import type { Logger } from '../log.js';

export interface CpuProfile {
  /** stops profiling and writes the file */
  stop(): Promise<void>;
}

function post<T>(session: Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => {
    session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result as T)));
  });
}

export async function startCpuProfile(file: string, logger: Logger, samplingIntervalUs = 1000): Promise<CpuProfile> {
  const session = new Session();
  session.connect();
  await post(session, 'Profiler.enable');
  await post(session, 'Profiler.setSamplingInterval', { interval: samplingIntervalUs });
  await post(session, 'Profiler.start');
  logger.info({ file, samplingIntervalUs }, 'cpu profile started (FOVEA_CPU_PROFILE)');
  return {
    async stop() {
      const { profile } = await post<{ profile: unknown }>(session, 'Profiler.stop');
      session.disconnect();
      await writeFile(file, JSON.stringify(profile));
      logger.info({ file }, 'cpu profile written');
    },
  };
}

/**
 * What the agent allocates (FOVEA_ALLOC_PROFILE=<file>): V8's sampling heap profiler, one sample per
 * `samplingIntervalBytes` allocated on average, keeping the samples of objects the GC already freed —
 * the garbage an idle agent makes is what its collections cost. Started once the probes are loaded,
 * written (Chrome DevTools `.heapprofile` JSON, sizes per allocating function) when the agent stops.
 * `kept` 'promoted' (FOVEA_PROMOTED_PROFILE=<file>) drops the samples of objects a scavenge freed and
 * keeps those a full collection freed: what outlived the young generation and filled the old one,
 * which is what brings on the full collections (and their concurrent marking) of an idle agent.
 */
export async function startAllocationProfile(file: string, logger: Logger, kept: 'all' | 'promoted', samplingIntervalBytes = 16_384): Promise<CpuProfile> {
  const session = new Session();
  session.connect();
  await post(session, 'HeapProfiler.enable');
  await post(session, 'HeapProfiler.startSampling', {
    samplingInterval: samplingIntervalBytes, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: kept === 'all',
  });
  logger.info({ file, samplingIntervalBytes, kept }, kept === 'all' ? 'allocation profile started (FOVEA_ALLOC_PROFILE)' : 'promoted-allocation profile started (FOVEA_PROMOTED_PROFILE)');
  return {
    async stop() {
      const { profile } = await post<{ profile: unknown }>(session, 'HeapProfiler.stopSampling');
      session.disconnect();
      await writeFile(file, JSON.stringify(profile));
      logger.info({ file }, 'allocation profile written');
    },
  };
}

/** A heap snapshot (FOVEA_HEAP_SNAPSHOT=<file>) and the process's memory figures, written when the agent stops. */
export function writeHeapFigures(file: string, logger: Logger): void {
  const m = process.memoryUsage();
  const mb = (n: number): number => Math.round(n / 1e5) / 10;
  logger.info({ file, rssMB: mb(m.rss), heapTotalMB: mb(m.heapTotal), heapUsedMB: mb(m.heapUsed), externalMB: mb(m.external), arrayBuffersMB: mb(m.arrayBuffers) }, 'memory at stop');
  writeHeapSnapshot(file);
}

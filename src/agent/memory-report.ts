/**
 * The agent's memory after a full collection, on demand (FOVEA_MEMORY_REPORT=<file>): on SIGUSR2
 * the agent asks V8 for a full, memory-reducing garbage collection (the inspector's
 * HeapProfiler.collectGarbage), then writes one JSON object (MemoryReport) to <file> (written
 * beside it and renamed, so a reader never sees half of one). A debug and test hook, off unless the
 * variable is set (SIGUSR2 then keeps its default action); when on, V8 keeps the bytecode of
 * functions not run lately instead of flushing it, so heap figures do not fall and rise with that.
 *
 * Why not RSS: a single RSS sample is mostly V8's young generation (up to 3 × 16 MiB semi-spaces on
 * 64-bit Node 20) and heap pages not yet given back, both set by when the last collection ran —
 * under load, ±17 MB between two samples of an agent that holds the same (test/e2e/pods-churn).
 * What a leak moves and collection timing does not is what is still reachable after a full
 * collection (`heapUsedBytes`), the memory outside the heap that JS objects hold
 * (`externalBytes`), what malloc has handed out and not been given back (`mallocInUseBytes`:
 * libbpf's objects, koffi's, Node's), and open file descriptors (`openFds`: attached links, kept
 * namespace files).
 */
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { getHeapSpaceStatistics, getHeapStatistics, setFlagsFromString } from 'node:v8';
import koffi from 'koffi';
import type { Logger } from '../log.js';
import { libc } from '../kernel/libbpf.js';

export interface MemoryReport {
  /** 1 for the first report, then one more per SIGUSR2 */
  readonly seq: number;
  /** V8 heap still reachable after the full collection (v8.getHeapStatistics().used_heap_size) */
  readonly heapUsedBytes: number;
  /**
   * the part of it that is objects the program holds: heapUsedBytes less compiled code (the code
   * spaces, which grow and shrink as V8 compiles, optimizes and flushes functions) and V8's
   * read-only space
   */
  readonly heapObjectBytes: number;
  /** memory outside V8's heap held by JS objects (ArrayBuffers, Buffers), after the collection */
  readonly externalBytes: number;
  /** bytes malloc has handed out and not taken back (glibc mallinfo2: uordblks + hblkhd); undefined without glibc ≥ 2.33 */
  readonly mallocInUseBytes: number | undefined;
  readonly openFds: number;
  /** for comparison only: resident set size right after the collection */
  readonly rssBytes: number;
}

let mallinfo2: (() => Record<string, number | bigint>) | null | undefined;

/** glibc's in-use figure (bytes), or undefined where mallinfo2 is missing (glibc < 2.33, musl). */
export function mallocInUse(): number | undefined {
  if (mallinfo2 === undefined) {
    try {
      const t = koffi.struct('fovea_mallinfo2', {
        arena: 'size_t', ordblks: 'size_t', smblks: 'size_t', hblks: 'size_t', hblkhd: 'size_t',
        usmblks: 'size_t', fsmblks: 'size_t', uordblks: 'size_t', fordblks: 'size_t', keepcost: 'size_t',
      });
      mallinfo2 = libc().func('mallinfo2', t, []) as () => Record<string, number | bigint>;
    } catch {
      mallinfo2 = null;
    }
  }
  if (!mallinfo2) return undefined;
  const m = mallinfo2();
  return Number(m['uordblks']) + Number(m['hblkhd']);
}

function fullCollection(session: Session): Promise<void> {
  return new Promise((resolve, reject) => {
    session.post('HeapProfiler.collectGarbage', (err) => (err ? reject(err) : resolve()));
  });
}

/** The figures now, after a full collection. */
export async function measureMemory(session: Session, seq: number): Promise<MemoryReport> {
  await fullCollection(session);
  const heap = getHeapStatistics();
  let heapObjectBytes = 0;
  for (const s of getHeapSpaceStatistics()) {
    if (!s.space_name.startsWith('code_') && s.space_name !== 'read_only_space') heapObjectBytes += s.space_used_size;
  }
  return {
    seq,
    heapUsedBytes: heap.used_heap_size,
    heapObjectBytes,
    externalBytes: heap.external_memory,
    mallocInUseBytes: mallocInUse(),
    openFds: readdirSync('/proc/self/fd').length - 1, // less the directory's own
    rssBytes: process.memoryUsage.rss(),
  };
}

function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** Reads a report written by the agent (tests, tools). */
export function readMemoryReport(file: string): MemoryReport | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as MemoryReport;
  } catch {
    return undefined;
  }
}

/** Installs the SIGUSR2 handler; returns what removes it. */
export function installMemoryReport(file: string, logger: Logger): () => void {
  // V8 throws away the bytecode of functions not run lately (it is compiled again when they run):
  // up to 0.4 MB of heap objects here, gone or back depending on when collections ran
  setFlagsFromString('--no-flush-bytecode');
  const session = new Session();
  session.connect();
  let seq = 0;
  let last = Promise.resolve();
  const onSignal = (): void => {
    // one at a time, one report per signal
    last = last.then(() => measureMemory(session, ++seq))
      .then((r) => writeAtomically(file, JSON.stringify(r) + '\n'))
      .catch((err: Error) => logger.warn({ file, err: err.message }, 'memory report failed'));
  };
  process.on('SIGUSR2', onSignal);
  logger.info({ file }, 'memory report on SIGUSR2 (FOVEA_MEMORY_REPORT)');
  return () => {
    process.off('SIGUSR2', onSignal);
    session.disconnect();
  };
}

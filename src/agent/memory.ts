/**
 * glibc malloc's thresholds, fixed at the agent's start so its memory stays small while idle
 * (docs/benchmark.md, "Peak memory: what the agent's VmHWM is made of").
 *
 * By default glibc raises its mmap threshold to the size of any mmap'ed block that is freed (up to
 * 32 MiB), and its trim threshold to twice that. libbpf parses the kernel's BTF to load each BPF
 * object (/sys/kernel/btf/vmlinux, 5.5 MB on the benchmark's kernel) and frees it: from then on,
 * blocks up to that size come from the brk heap, and up to twice that much of it stays resident
 * once free. Measured there (pod mode, 50 pods, idle): 14.5–15.8 MB of brk heap after 80 s, 6.7–9.8
 * MB with the thresholds fixed at glibc's initial 128 KiB — what MALLOC_MMAP_THRESHOLD_=131072
 * MALLOC_TRIM_THRESHOLD_=131072 would do, set here so that every way of starting the agent (the
 * image, the CLI, the benchmark) gets it. Tuning only: where mallopt is missing (not glibc) or
 * refuses, nothing changes but memory.
 */
import type { Logger } from '../log.js';
import { libc } from '../kernel/libbpf.js';

const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;
/** glibc's initial (and default) mmap and trim thresholds */
export const MALLOC_THRESHOLD = 128 * 1024;

export function fixMallocThresholds(logger: Logger): boolean {
  try {
    const mallopt = libc().func('int mallopt(int param, int value)') as (param: number, value: number) => number;
    // mallopt returns 1 on success, 0 on error (errno not set)
    const ok = mallopt(M_MMAP_THRESHOLD, MALLOC_THRESHOLD) === 1 && mallopt(M_TRIM_THRESHOLD, MALLOC_THRESHOLD) === 1;
    if (!ok) logger.debug('mallopt refused the malloc thresholds');
    return ok;
  } catch (err) {
    logger.debug({ err: (err as Error).message }, 'malloc thresholds not set (no mallopt: not glibc?)');
    return false;
  }
}

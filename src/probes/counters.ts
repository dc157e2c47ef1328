/** Reading the per-CPU error-counter arrays every probe keeps (`<probe>_errors`). */
import { sumPerCpuU64, type ReadableMap } from '../kernel/map.js';
import type { RecordFailure } from './types.js';

export function readFailureCounters(
  map: ReadableMap, kinds: readonly string[], losing: ReadonlySet<string>,
): RecordFailure[] {
  const snap = map.readAll();
  const out: RecordFailure[] = [];
  for (let i = 0; i < snap.count; i++) {
    const idx = snap.keys.readUInt32LE(i * snap.keySize);
    const kind = kinds[idx];
    if (!kind) continue;
    out.push({ kind, count: Number(sumPerCpuU64(snap, i, 0)), lost: losing.has(kind) });
  }
  return out;
}

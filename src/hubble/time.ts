/** google.protobuf.Timestamp ⇄ Unix milliseconds (with a fraction). */
import type { Timestamp } from './types.js';

export function timestampOf(ms: number): Timestamp {
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6);
  // a fraction that rounds up to a whole second belongs to the next second
  return nanos >= 1_000_000_000 ? { seconds: seconds + 1, nanos: nanos - 1_000_000_000 } : { seconds, nanos };
}

export function timestampMs(t: { seconds?: unknown; nanos?: unknown } | null | undefined): number | undefined {
  if (!t) return undefined;
  const s = Number(typeof t.seconds === 'object' && t.seconds !== null ? String(t.seconds) : t.seconds ?? 0);
  const n = Number(t.nanos ?? 0);
  return s * 1000 + n / 1e6;
}

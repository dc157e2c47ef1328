/**
 * Logs at most once per interval per key; counts what it suppressed. Periodic callbacks use
 * `warn`; counters of repeated occurrences (n at a time) use `note` and `reset`.
 */
import type { Logger } from '../log.js';

export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly logger: Logger, private readonly intervalMs = 60_000, private readonly now = Date.now) {}

  warn(key: string, obj: Record<string, unknown>, msg: string): void {
    const t = this.now();
    const e = this.last.get(key);
    if (e && t - e.at < this.intervalMs) {
      e.suppressed++;
      return;
    }
    this.logger.warn({ ...obj, ...(e?.suppressed ? { suppressedSinceLast: e.suppressed } : {}) }, msg);
    this.last.set(key, { at: t, suppressed: 0 });
  }

  private readonly pending = new Map<string, { at: number; count: number }>();

  /**
   * Adds `n` occurrences under `key`; at most once per interval calls `log` with every occurrence
   * since its last call (the first occurrence is logged at once).
   */
  note(key: string, n: number, log: (count: number) => void): void {
    let e = this.pending.get(key);
    if (!e) this.pending.set(key, (e = { at: -Infinity, count: 0 }));
    e.count += n;
    const t = this.now();
    if (t - e.at < this.intervalMs) return;
    log(e.count);
    e.at = t;
    e.count = 0;
  }

  /** Forgets `key` (e.g. on recovery): its next occurrence is logged at once. */
  reset(key: string): void {
    this.pending.delete(key);
  }
}

/** Logs at most once per interval per key; counts what it suppressed. Periodic callbacks use it. */
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
}

/**
 * Privileged end-to-end tests: run as root; elsewhere they skip and say why — except in CI
 * (CI=true), where not being able to run them is a failure.
 */
import { describe, it } from 'vitest';

export const isRoot = process.getuid?.() === 0;

/** `describe` for tests that need root; fails in CI when not root. */
export function describeRoot(name: string, why: string, fn: () => void): void {
  if (!isRoot && process.env['CI'] === 'true') {
    it(`${name} must run as root in CI`, () => { throw new Error(`${name}: ${why} — CI runs as root`); });
    return;
  }
  describe.skipIf(!isRoot)(isRoot ? name : `${name} — skipped: ${why} (run as root)`, fn);
}

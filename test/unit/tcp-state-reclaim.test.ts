import { describe, expect, it } from 'vitest';
import { reclaimZeroGauge, type GaugeMap } from '../../src/probes/tcp/state-reclaim.js';

/** What a program on another CPU does (gauge_add): add to the entry, or insert the delta when the key is missing. */
const programAdds = (delta: bigint) => (m: Map<string, bigint>): void => { m.set('k', (m.get('k') ?? 0n) + delta); };

/** A map whose programs act between the reclaimer's steps: `between[i]` runs after its i-th call (take or insert). */
function fakeMap(initial: bigint | undefined, between: ((m: Map<string, bigint>) => void)[] = []) {
  const m = new Map<string, bigint>();
  const key = Buffer.from('k');
  if (initial !== undefined) m.set('k', initial);
  const calls: string[] = [];
  const after = (): void => { between[calls.length - 1]?.(m); };
  const map: GaugeMap = {
    take: (k) => { calls.push('take'); const v = m.get(k.toString()); m.delete(k.toString()); after(); return v; },
    insert: (k, v) => { calls.push('insert'); const ok = !m.has(k.toString()); if (ok) m.set(k.toString(), v); after(); return ok; },
  };
  return { m, key, map, calls };
}

describe('reclaimZeroGauge: deleting a tcp_state_counts entry read as 0 without losing a socket', () => {
  it('still 0 when taken: deleted, nothing put back', () => {
    const f = fakeMap(0n);
    expect(reclaimZeroGauge(f.map, f.key)).toBe(0n);
    expect(f.m.has('k')).toBe(false);
    expect(f.calls).toEqual(['take']);
  });

  it('already gone: nothing to do', () => {
    const f = fakeMap(undefined);
    expect(reclaimZeroGauge(f.map, f.key)).toBe(0n);
    expect(f.m.size).toBe(0);
  });

  it('a socket entered the state after the read: its +1 is put back', () => {
    const f = fakeMap(1n);
    expect(reclaimZeroGauge(f.map, f.key)).toBe(1n);
    expect(f.m.get('k')).toBe(1n);
  });

  it('a program inserts the key between the take and the put-back: the two are summed, whatever the order', () => {
    // taken +1; another socket enters (inserted +1) before the put-back; then the sum goes back
    const f = fakeMap(1n, [programAdds(1n)]);
    expect(reclaimZeroGauge(f.map, f.key)).toBe(1n);
    expect(f.m.get('k')).toBe(2n);
    expect(f.calls).toEqual(['take', 'insert', 'take', 'insert']);
  });

  it('the socket that was taken leaves meanwhile (its −1 inserted): they cancel, the key stays deleted', () => {
    const f = fakeMap(1n, [programAdds(-1n)]);
    expect(reclaimZeroGauge(f.map, f.key)).toBe(1n);
    expect(f.m.has('k')).toBe(false);
    expect(f.calls).toEqual(['take', 'insert', 'take']);
  });

  it('a key re-inserted at every attempt: a clear error after a bounded number of rounds, the value not silently dropped', () => {
    const re = (m: Map<string, bigint>) => { m.set('k', 0n); };
    const f = fakeMap(1n, Array.from({ length: 1000 }, () => re));
    expect(() => reclaimZeroGauge(f.map, f.key)).toThrow(/could not put back 1 after 64 attempts/);
  });
});

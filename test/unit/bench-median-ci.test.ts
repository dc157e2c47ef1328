import { describe, expect, it } from 'vitest';
import { medianCi, olsSlopeCi } from '../../bench/util.js';

describe('medianCi (bench: distribution-free 95% CI of a median)', () => {
  it('takes the order statistics of the binomial table', () => {
    // n = 100: ranks 40 and 61 (coverage 96.5%); n = 20: ranks 6 and 15 (95.9%)
    const xs = (n: number): number[] => Array.from({ length: n }, (_, i) => n - i); // unsorted on purpose
    expect(medianCi(xs(100))).toMatchObject({ n: 100, median: 50.5, lo: 40, hi: 61, k: 40 });
    expect(medianCi(xs(100)).coveragePct).toBeCloseTo(96.48, 1);
    expect(medianCi(xs(20))).toMatchObject({ lo: 6, hi: 15, k: 6 });
    expect(medianCi(xs(6))).toMatchObject({ lo: 1, hi: 6, k: 1 });
  });

  it('has no interval below 6 samples', () => {
    const m = medianCi([3, 1, 2, 5, 4]);
    expect(m.median).toBe(3);
    expect(m.lo).toBeNaN();
    expect(m.hi).toBeNaN();
  });

  it('covers the true median about 95% of the time or more (simulation, heavy tails)', () => {
    let seed = 12345;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    let covered = 0;
    const trials = 2000;
    for (let t = 0; t < trials; t++) {
      // Cauchy around 100: the mean's t-interval is meaningless here, the median's is not
      const xs = Array.from({ length: 60 }, () => 100 + Math.tan(Math.PI * (rnd() - 0.5)));
      const m = medianCi(xs);
      if (m.lo <= 100 && 100 <= m.hi) covered++;
    }
    expect(covered / trials).toBeGreaterThan(0.93);
  });
});

describe('olsSlopeCi (bench: least-squares slope with its 95% CI)', () => {
  it('matches a hand computation, and is exact on a line', () => {
    // x 1..5, y 2 4 5 4 5: slope 0.6, residual sum of squares 2.4, Sxx 10 → se √(2.4/3/10) = 0.2828; t(3) = 3.182
    const r = olsSlopeCi([1, 2, 3, 4, 5], [2, 4, 5, 4, 5]);
    expect(r.n).toBe(5);
    expect(r.slope).toBeCloseTo(0.6, 10);
    expect(r.lo).toBeCloseTo(0.6 - 3.182 * Math.sqrt(0.08), 6);
    expect(r.hi).toBeCloseTo(0.6 + 3.182 * Math.sqrt(0.08), 6);
    expect(olsSlopeCi([0, 10, 20, 30], [5, 6, 7, 8])).toMatchObject({ slope: 0.1, lo: 0.1, hi: 0.1 });
    expect(olsSlopeCi([1, 2], [1, 2]).slope).toBeNaN();
  });
});

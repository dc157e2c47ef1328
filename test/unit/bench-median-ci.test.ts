import { describe, expect, it } from 'vitest';
import { medianCi } from '../../bench/util.js';

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

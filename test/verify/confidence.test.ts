import { describe, expect, it } from 'vitest';
import {
  betaQuantile,
  clopperPearsonLower,
  lnGamma,
  parityLowerBound,
  regularizedBeta,
} from '../../src/verify/confidence.js';
import { floorPercent, partialLine } from '../../src/verify/headline.js';

/** P(X ≥ s) for X ~ Binomial(n, p), summed term by term in log space (independent of the beta function). */
function upperTail(s: number, n: number, p: number): number {
  let lnC = 0; // ln C(n, 0)
  let sum = 0;
  for (let j = 0; j <= n; j++) {
    if (j > 0) lnC += Math.log(n - j + 1) - Math.log(j);
    if (j >= s) sum += Math.exp(lnC + j * Math.log(p) + (n - j) * Math.log1p(-p));
  }
  return sum;
}

describe('sample confidence: exact one-sided Clopper–Pearson', () => {
  it('no differing row: alpha^(1/n) — 1,000 rows give parity ≥ 99.70 %', () => {
    expect(clopperPearsonLower(1000, 1000)).toBe(0.05 ** (1 / 1000));
    expect(parityLowerBound(1000, 0)).toBeCloseTo(99.700875, 5);
    expect(floorPercent(parityLowerBound(1000, 0))).toBe('99.70');
    expect(clopperPearsonLower(0, 0)).toBe(0);
    expect(clopperPearsonLower(0, 10)).toBe(0);
  });

  it('with differing rows the bound L solves P(X ≥ s | n, L) = alpha', () => {
    for (const [s, n] of [
      [9, 10],
      [998, 1000],
      [950, 1000],
      [1, 3],
      [4000, 5000],
    ] as const) {
      const L = clopperPearsonLower(s, n);
      expect(upperTail(s, n, L)).toBeCloseTo(0.05, 6);
      expect(L).toBeLessThan(s / n);
    }
    // textbook figure: 1 failure in 10 → mismatch ≤ 39.4 % at 95 %
    expect(1 - clopperPearsonLower(9, 10)).toBeCloseTo(0.39416, 4);
    // large samples stay finite and ordered
    expect(clopperPearsonLower(999_990, 1_000_000)).toBeGreaterThan(clopperPearsonLower(999_900, 1_000_000));
  });

  it('the building blocks: ln Γ, I_x(a, b) and its quantile', () => {
    expect(lnGamma(10)).toBeCloseTo(Math.log(362880), 10);
    expect(lnGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 10);
    expect(regularizedBeta(0.3, 1, 1)).toBeCloseTo(0.3, 12);
    expect(regularizedBeta(0.5, 3, 3)).toBeCloseTo(0.5, 12);
    expect(regularizedBeta(betaQuantile(0.05, 7, 4), 7, 4)).toBeCloseTo(0.05, 10);
    expect(() => clopperPearsonLower(11, 10)).toThrow(RangeError);
  });

  it('partial line and percent floors never round up', () => {
    expect(floorPercent(99.999)).toBe('99.99');
    expect(partialLine(1234, 5000, 1)).toBe(
      'partial: compared 1,234 of 5,000 rows (24.6 %), 1 difference so far — not a proof of parity',
    );
    expect(partialLine(4999, 5000, 0)).toBe(
      'partial: compared 4,999 of 5,000 rows (99.9 %), 0 differences so far — not a proof of parity',
    );
  });
});

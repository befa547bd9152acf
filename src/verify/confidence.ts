/**
 * Confidence bounds for sampled verification (the `sample` tier): how low parity can be, at a given confidence,
 * when `n` randomly chosen rows were compared and `k` of them differed.
 *
 * Method: the **exact one-sided Clopper–Pearson bound** (Clopper & Pearson, Biometrika 26(4), 1934). For `s`
 * matching rows out of `n`, the lower bound `L` on the share of matching rows at confidence `1 − α` is the value
 * of `p` at which `P(X ≥ s | n, p) = α`, which is the `α` quantile of the Beta(`s`, `n − s + 1`)
 * distribution. With no differing row (`s = n`) it has the closed form `L = α^(1/n)`: 1,000 matching rows give
 * `L = 0.05^(1/1000) ≈ 0.99700`, "parity ≥ 99.70 % at 95 % confidence". The bound is exact (never optimistic)
 * for sampling with replacement and conservative for sampling without replacement from a finite table (the
 * sample tier's `ORDER BY random() LIMIT n`): the hypergeometric bound would be at least as high.
 *
 * The Beta quantile is found by bisection on the regularized incomplete beta function, evaluated with its
 * continued fraction (modified Lentz) and `ln Γ` by the Lanczos approximation — pure arithmetic, no dependency.
 */

/** ln Γ(x) for x > 0 (Lanczos, g = 7, nine coefficients; relative error about 1e-15). */
export function lnGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  x -= 1;
  let a = c[0]!;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** The continued fraction of the incomplete beta function (Numerical Recipes' `betacf`, modified Lentz). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const TINY = 1e-300,
    EPS = 1e-15;
  const maxIterations = 10_000 + 20 * Math.ceil(Math.sqrt(Math.max(a, b)));
  const qab = a + b,
    qap = a + 1,
    qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= maxIterations; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) break;
  }
  return h;
}

/** The regularized incomplete beta function I_x(a, b), for a, b > 0 and 0 ≤ x ≤ 1. */
export function regularizedBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log1p(-x));
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(a, b, x)) / a;
  return 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** The `q` quantile (0 < q < 1) of the Beta(a, b) distribution, by bisection to about 1e-14. */
export function betaQuantile(q: number, a: number, b: number): number {
  let lo = 0,
    hi = 1;
  for (let i = 0; i < 200 && hi - lo > 1e-14; i++) {
    const mid = (lo + hi) / 2;
    if (regularizedBeta(mid, a, b) < q) lo = mid;
    else hi = mid;
  }
  return lo; // the lower end: a lower bound is never rounded up
}

/**
 * One-sided exact Clopper–Pearson lower bound (0..1) of a proportion: `successes` of `n` trials, confidence
 * `1 − alpha` (default 95 %). 0 when nothing succeeded or nothing was tried; `alpha^(1/n)` when all succeeded.
 * Throws a RangeError on counts that are not whole numbers with 0 ≤ successes ≤ n, or alpha outside (0, 1).
 */
export function clopperPearsonLower(successes: number, n: number, alpha = 0.05): number {
  if (!Number.isInteger(successes) || !Number.isInteger(n) || successes < 0 || successes > n)
    throw new RangeError(`clopperPearsonLower: need whole numbers 0 ≤ successes ≤ n, got ${successes} of ${n}`);
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`clopperPearsonLower: alpha must lie in (0, 1), got ${alpha}`);
  if (n === 0 || successes === 0) return 0;
  if (successes === n) return alpha ** (1 / n);
  return betaQuantile(alpha, successes, n - successes + 1);
}

/**
 * The lower bound of parity, in percent, after comparing `sampled` random rows of which `differing` differed:
 * {@link clopperPearsonLower}`(sampled − differing, sampled)` × 100 at 95 % confidence (`alpha` 0.05).
 */
export function parityLowerBound(sampled: number, differing: number, alpha = 0.05): number {
  return clopperPearsonLower(sampled - differing, sampled, alpha) * 100;
}

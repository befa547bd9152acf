/**
 * Small helpers of time and collections that every module shares: defined here once (test/architecture.test.ts
 * checks that no other module defines its own).
 */

/**
 * Waits `ms` milliseconds, or less when `signal` aborts first (never rejects). The timer does not outlive an
 * abort.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** The shape of an exponential backoff: `baseMs × 2^(attempt−1)`, at most `capMs`, with optional jitter. */
export interface BackoffPolicy {
  /** The wait after the first attempt, ms. */
  baseMs: number;
  /** The longest wait, ms. */
  capMs: number;
  /**
   * `none` (the default): exactly the capped value; `half`: uniformly in [½, 1] of it (spreads retries but keeps
   * a floor); `full`: uniformly in [0, 1] of it ("full jitter": best for many retriers contending on one row).
   */
  jitter?: 'none' | 'half' | 'full';
}

/**
 * The wait before attempt `attempt + 1` (`attempt` ≥ 1 attempts were made): `baseMs × 2^(attempt−1)` capped at
 * `capMs`, jittered per `policy.jitter`, in whole milliseconds.
 */
export function backoffMs(attempt: number, policy: BackoffPolicy): number {
  const raw = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(Math.max(0, attempt - 1), 52));
  const j = policy.jitter ?? 'none';
  return Math.round(j === 'none' ? raw : j === 'half' ? raw * (0.5 + Math.random() * 0.5) : raw * Math.random());
}

/** Groups items by a key, keeping their order (push, not spread: linear in the number of items). */
export function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    const list = m.get(k);
    if (list) list.push(it);
    else m.set(k, [it]);
  }
  return m;
}

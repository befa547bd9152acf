import { backoffMs, sleep, type BackoffPolicy } from '../core/async.js';
import { classifyError, isTransientKind } from '../stores/errors.js';

/**
 * True for errors after which the whole transaction can simply run again: the kinds `deadlock`,
 * `serialization`, `lock_timeout` and `connection` (a lost or refused connection: the server restarted, a proxy
 * dropped us) of `classifyError` (src/stores/errors.ts). The transaction was rolled back, so nothing of it is
 * half-written.
 */
export function isTransient(e: unknown): boolean {
  return isTransientKind(classifyError(e));
}

/** The backoff of {@link withRetry}: 200 ms doubling to 5 s, full jitter. */
export const RETRY_BACKOFF: BackoffPolicy = { baseMs: 200, capMs: 5000, jitter: 'full' };

/**
 * Runs `fn`, retrying failures that `retryIf` accepts (default {@link isTransient}) with exponential backoff and
 * full jitter ({@link RETRY_BACKOFF}: 100 ms × 2^attempt, capped at 5 s), at most `attempts` times in all;
 * `onRetry` hears of each retry. Other errors are thrown at once.
 */
export async function withRetry<T>(
  fn: () => Promise<T>,
  o: {
    attempts?: number;
    onRetry?: (e: unknown, attempt: number, waitMs: number) => void;
    retryIf?: (e: unknown) => boolean;
  } = {},
): Promise<T> {
  const attempts = o.attempts ?? 8;
  const retryIf = o.retryIf ?? isTransient;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (attempt >= attempts || !retryIf(e)) throw e;
      const wait = backoffMs(attempt, RETRY_BACKOFF);
      o.onRetry?.(e, attempt, wait);
      await sleep(wait);
    }
  }
}

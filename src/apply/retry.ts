import { TandemError } from '../core/errors.js';

/**
 * True for errors after which the whole transaction can simply run again: deadlocks and serialization
 * failures (PostgreSQL 40P01/40001, MySQL errno 1213/1205), and a lost or refused connection (the server
 * restarted, a proxy dropped us). The transaction was rolled back, so nothing of it is half-written.
 */
export function isTransient(e: unknown): boolean {
  if (!(e instanceof TandemError)) return false;
  if (e.code === 'TANDEM_ERR_STORE_UNREACHABLE') return true;
  const d = e.detail as { sqlstate?: string; errno?: number };
  return d.sqlstate === '40P01' || d.sqlstate === '40001' || d.errno === 1213 || d.errno === 1205;
}

/**
 * Runs `fn`, retrying failures that `retryIf` accepts (default {@link isTransient}) with exponential backoff and
 * full jitter (100 ms × 2^attempt, capped at 5 s), at most `attempts` times in all; `onRetry` hears of each
 * retry. Other errors are thrown at once.
 */
export async function withRetry<T>(fn: () => Promise<T>, o: { attempts?: number; onRetry?: (e: unknown, attempt: number, waitMs: number) => void; retryIf?: (e: unknown) => boolean } = {}): Promise<T> {
  const attempts = o.attempts ?? 8;
  const retryIf = o.retryIf ?? isTransient;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (attempt >= attempts || !retryIf(e)) throw e;
      const wait = Math.random() * Math.min(5000, 100 * 2 ** attempt);
      o.onRetry?.(e, attempt, wait);
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

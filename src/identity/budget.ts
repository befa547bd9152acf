/**
 * The global budget of legacy-store queries: a token bucket shared by every login of the process. A credential
 * stuffing run against unknown identifiers makes every attempt fall through to the legacy store; the bucket keeps
 * that load at a configured rate, whatever the attack rate. Waiters are served in order (a token can be reserved
 * ahead, the bucket going negative); a caller that would wait longer than its limit gets
 * `TANDEM_ERR_IDENTITY_BUSY` at once.
 *
 * The bucket is per process: with N application instances, give each `perSecond / N`.
 */
import { TandemError } from '../core/errors.js';
import { identityBusy } from './errors.js';

/** Settings of {@link TokenBucket}. */
export interface TokenBucketOptions {
  /** Tokens added per second (the sustained rate). */
  perSecond: number;
  /** Largest number of tokens held (the burst). Default: `perSecond` (one second's worth), at least 1. */
  burst?: number;
  /** Longest a caller waits for a token before `TANDEM_ERR_IDENTITY_BUSY`. Default 250 ms. */
  maxWaitMs?: number;
}

/** A token bucket with ordered waiting (see the module comment). */
export class TokenBucket {
  readonly perSecond: number;
  readonly burst: number;
  readonly maxWaitMs: number;
  #tokens: number;
  #last: number;
  #now: () => number;

  /**
   * @param options rate, burst and longest wait
   * @param now the clock in ms (tests)
   * @throws TANDEM_ERR_CONFIG_INVALID for a non-positive rate or burst, or a negative wait
   */
  constructor(options: TokenBucketOptions, now: () => number = () => performance.now()) {
    const { perSecond, burst = Math.max(1, perSecond), maxWaitMs = 250 } = options;
    if (!(perSecond > 0) || !Number.isFinite(perSecond))
      throw new TandemError('CONFIG_INVALID', 'legacy query budget: perSecond must be a positive number', {
        parameter: 'perSecond',
      });
    if (!(burst >= 1) || !Number.isFinite(burst))
      throw new TandemError('CONFIG_INVALID', 'legacy query budget: burst must be ≥ 1', { parameter: 'burst' });
    if (!(maxWaitMs >= 0))
      throw new TandemError('CONFIG_INVALID', 'legacy query budget: maxWaitMs must be ≥ 0', { parameter: 'maxWaitMs' });
    this.perSecond = perSecond;
    this.burst = burst;
    this.maxWaitMs = maxWaitMs;
    this.#now = now;
    this.#tokens = burst;
    this.#last = now();
  }

  #refill(): void {
    const t = this.#now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((t - this.#last) / 1000) * this.perSecond);
    this.#last = t;
  }

  /** Tokens available now (may be negative while callers wait for reserved tokens). */
  available(): number {
    this.#refill();
    return this.#tokens;
  }

  /**
   * Takes one token, waiting for it when needed.
   * @throws TANDEM_ERR_IDENTITY_BUSY (reason `legacy budget`) when the wait would exceed `maxWaitMs`
   */
  async take(): Promise<void> {
    this.#refill();
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return;
    }
    const waitMs = ((1 - this.#tokens) / this.perSecond) * 1000;
    if (waitMs > this.maxWaitMs) throw identityBusy(0, 0, 'legacy budget');
    this.#tokens -= 1;
    await new Promise((r) => setTimeout(r, Math.ceil(waitMs)));
  }
}

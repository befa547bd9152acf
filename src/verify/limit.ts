import type { Store } from '../stores/types.js';

/**
 * A counting semaphore: at most `size` holders at once, the others wait in arrival order (FIFO, so a segment
 * queued before a bisection query is served before it). Used by the checksum tier to bound the queries in
 * flight on each store (`verify.concurrency`).
 */
export class Limiter {
  private held = 0;
  private readonly waiting: (() => void)[] = [];

  /** `size` ≥ 1 holders at once (a smaller value counts as 1). */
  constructor(readonly size: number) {
    if (!(size >= 1)) this.size = 1;
  }

  /** Waits for a free slot and takes it; the caller must {@link release} it exactly once. */
  acquire(): Promise<void> {
    if (this.held < this.size) {
      this.held++;
      return Promise.resolve();
    }
    return new Promise((res) => this.waiting.push(res));
  }

  /** Gives a slot back (to the first waiter, if any). */
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.held--;
  }

  /** Runs `fn` holding a slot; the slot is released when it settles. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}

/**
 * How many segments the checksum tier may checksum at once between `source` and `target`: `wanted`
 * (`verify.concurrency`, `--concurrency`), bounded by what both stores can run at the same time
 * ({@link Store.connections} less one, left for the key probes; a store that does not say, or has one connection — SQLite, PGlite — runs one
 * query at a time, so the run is sequential). Every segment needs a query on both stores at once, so the
 * smaller store bounds it. At least 1.
 */
export function effectiveConcurrency(wanted: number, source: Store, target: Store): number {
  // one connection of a pooled store is left for the key probes that plan the next segments
  const room = (s: Store) => {
    const n = Math.floor(s.connections ?? 1);
    return n > 1 ? n - 1 : 1;
  };
  return Math.max(1, Math.min(Math.floor(wanted) || 1, room(source), room(target)));
}

/**
 * Chunk sizing and throttling for keyset scans.
 *
 * The chunk size adapts so one chunk takes about `chunkSeconds` (default 0.5 s): after each chunk the next size
 * is `size × target / elapsed`, moved at most ×2 or ÷2 per step, within [minRows, maxRows]. A rate limit
 * (`maxRowsPerSecond`) holds from the first chunk on: no chunk is larger than the rate allows in one target
 * chunk time (the first one included), and after every chunk — the last one too — the caller waits until that
 * chunk's rows are paid for at the rate, counted from when the chunk started or from when the previous one was
 * paid for, whichever is later. So rows / elapsed stays at or under the cap over the whole run and over any
 * run of consecutive chunks (no burst to catch up after a slow chunk). The throttle reason is reported in
 * progress lines, as gh-ost does.
 *
 * The operator retunes a running pacer ({@link Pacer.setRate}, {@link Pacer.setChunkSeconds}: `tandem ctl tune`);
 * the change holds from the next chunk on, and the rows already paid for stay paid for at the old rate.
 */
export interface PacerOptions {
  chunkSeconds: number;
  initialChunkRows: number;
  maxChunkRows: number;
  minChunkRows?: number;
  maxRowsPerSecond?: number;
}

export class Pacer {
  size: number;
  /** Why the scan is waiting right now, or null when it runs at full speed. */
  throttle: string | null = null;
  /** performance.now() until which the rows so far are paid for at the rate. */
  private paidUntil = performance.now();

  /** True when a rate limit is set. */
  get limited(): boolean {
    return this.o.maxRowsPerSecond !== undefined;
  }

  private readonly o: PacerOptions;

  constructor(options: PacerOptions) {
    this.o = { ...options };
    this.size = Math.min(this.o.initialChunkRows, this.o.maxChunkRows, this.rateCap());
  }

  /** The rate limit in force, rows per second (undefined: none). */
  get maxRowsPerSecond(): number | undefined {
    return this.o.maxRowsPerSecond;
  }

  /** The chunk time in force, seconds. */
  get chunkSeconds(): number {
    return this.o.chunkSeconds;
  }

  /**
   * Sets the rate limit from the next chunk on: rows per second (> 0), or null/undefined for none. A lower rate
   * shrinks the next chunk to what the rate allows in one chunk time; lifting the limit lets the chunk size grow
   * again as chunks complete. Returns true when the rate changed.
   */
  setRate(maxRowsPerSecond: number | null | undefined): boolean {
    const next = maxRowsPerSecond ?? undefined;
    if (next === this.o.maxRowsPerSecond) return false;
    this.o.maxRowsPerSecond = next;
    if (next === undefined) this.throttle = null;
    this.size = Math.max(1, Math.min(this.size, this.rateCap()));
    return true;
  }

  /** Sets the target seconds of one chunk (> 0) from the next chunk on. Returns true when it changed. */
  setChunkSeconds(chunkSeconds: number): boolean {
    if (chunkSeconds === this.o.chunkSeconds) return false;
    this.o.chunkSeconds = chunkSeconds;
    this.size = Math.max(1, Math.min(this.size, this.rateCap()));
    return true;
  }

  /** The largest chunk the rate allows: the rows of one target chunk time (at least 1); Infinity when unlimited. */
  private rateCap(): number {
    return this.o.maxRowsPerSecond ? Math.max(1, Math.ceil(this.o.maxRowsPerSecond * this.o.chunkSeconds)) : Infinity;
  }

  /**
   * Records a chunk of `rows` that took `seconds` (ending now); returns the milliseconds to wait before the next
   * chunk starts — and, with a rate limit, before the run may count as done after the last one.
   */
  record(rows: number, seconds: number): number {
    if (rows >= this.size * 0.9 && seconds > 0) {
      const ideal = (this.size * this.o.chunkSeconds) / seconds;
      const next = Math.min(this.size * 2, Math.max(this.size / 2, ideal));
      this.size = Math.round(Math.min(this.o.maxChunkRows, Math.max(this.o.minChunkRows ?? 10, next)));
    }
    if (!this.o.maxRowsPerSecond) return 0;
    const now = performance.now();
    const chunkStart = now - seconds * 1000;
    this.paidUntil = Math.max(this.paidUntil, chunkStart) + (rows / this.o.maxRowsPerSecond) * 1000;
    const wait = Math.max(0, this.paidUntil - now);
    this.throttle = wait > 0 ? `max-rows-per-second=${this.o.maxRowsPerSecond}` : null;
    // a chunk never exceeds what the rate allows in one target chunk time
    this.size = Math.min(this.size, this.rateCap());
    return wait;
  }
}

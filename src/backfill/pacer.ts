/**
 * Chunk sizing and throttling for keyset scans.
 *
 * The chunk size adapts so one chunk takes about `chunkSeconds` (default 0.5 s): after each chunk the next size
 * is `size × target / elapsed`, moved at most ×2 or ÷2 per step, within [minRows, maxRows]. A rate limit
 * (`maxRowsPerSecond`) is a token bucket over the whole run: after a chunk the pacer sleeps until the rows so
 * far fit the rate. The throttle reason is reported in progress lines, as gh-ost does.
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
  private readonly startedAt = performance.now();
  private rows = 0;

  /** True when a rate limit is set. */
  get limited(): boolean {
    return this.o.maxRowsPerSecond !== undefined;
  }

  constructor(private readonly o: PacerOptions) {
    this.size = Math.min(o.initialChunkRows, o.maxChunkRows);
  }

  /** Records a chunk of `rows` that took `seconds`; returns the milliseconds to wait before the next one. */
  record(rows: number, seconds: number): number {
    this.rows += rows;
    if (rows >= this.size * 0.9 && seconds > 0) {
      const ideal = (this.size * this.o.chunkSeconds) / seconds;
      const next = Math.min(this.size * 2, Math.max(this.size / 2, ideal));
      this.size = Math.round(Math.min(this.o.maxChunkRows, Math.max(this.o.minChunkRows ?? 10, next)));
    }
    if (!this.o.maxRowsPerSecond) return 0;
    const due = (this.rows / this.o.maxRowsPerSecond) * 1000;
    const elapsed = performance.now() - this.startedAt;
    const wait = Math.max(0, due - elapsed);
    this.throttle = wait > 0 ? `max-rows-per-second=${this.o.maxRowsPerSecond}` : null;
    // a chunk never exceeds what the rate allows in one target chunk time
    this.size = Math.max(1, Math.min(this.size, Math.ceil(this.o.maxRowsPerSecond * this.o.chunkSeconds)));
    return wait;
  }
}

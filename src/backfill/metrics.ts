import { counter } from '../core/metrics.js';

/**
 * The backfill's event metrics (src/core/metrics.ts; catalogue in docs/metrics.md). The control-plane figures
 * (checkpoint rows, state, throttle) are gauges filled at scrape time by src/runtime/metrics.ts.
 */
export const backfillMetrics = {
  /** Source rows this process copied (committed chunks, checkpoint included), per entity. */
  copied: counter(
    'tandem_backfill_rows_copied_total',
    'source rows the backfill copied in committed chunks (this process), per entity',
    ['entity'],
  ),
};

import { gauge, snapshot } from '../core/metrics.js';

/**
 * Verify's gauges, in the process-wide metrics registry (src/core/metrics.ts, prom-client): served as
 * Prometheus text by `/metrics`, and as JSON by `verifyMetrics.snapshot()`.
 *
 * Gauges (labels in braces):
 * - `tandem_verify_parity_ratio{entity}` — share of compared rows that match, 0..1, from the last pass;
 * - `tandem_verify_rows{entity}` — source rows compared by the last pass;
 * - `tandem_verify_mismatches{entity,state}` — mismatches in the control plane by state
 *   (pending, confirmed, repaired, resolved);
 * - `tandem_verify_last_pass_timestamp_seconds{entity}` — Unix time the last pass of the entity ended;
 * - `tandem_verify_last_pass_seconds{entity}` — how long it took.
 */
/** Verify's metrics as JSON (`{ metric: [{ labels, value }] }`); the same registry serves `/metrics`. */
export const verifyMetrics = { snapshot };

/** The gauges verify publishes (see the module comment). */
export const parityGauge = gauge(
  'tandem_verify_parity_ratio',
  'share of compared rows that match (0..1), per entity, from the last verification pass',
  ['entity'],
);
export const rowsGauge = gauge('tandem_verify_rows', 'source rows compared by the last verification pass, per entity', [
  'entity',
]);
export const mismatchGauge = gauge(
  'tandem_verify_mismatches',
  'mismatches recorded in the control plane, per entity and state',
  ['entity', 'state'],
);
export const lastPassGauge = gauge(
  'tandem_verify_last_pass_timestamp_seconds',
  'Unix time the last verification pass of the entity ended',
  ['entity'],
);
export const passSecondsGauge = gauge(
  'tandem_verify_last_pass_seconds',
  'duration of the last verification pass of the entity, seconds',
  ['entity'],
);

/** Publishes one pass's figures for an entity. `parity` in percent. */
export function publishPass(entity: string, parity: number, rows: number, seconds: number): void {
  parityGauge.set({ entity }, parity / 100);
  rowsGauge.set({ entity }, rows);
  lastPassGauge.set({ entity }, Date.now() / 1000);
  passSecondsGauge.set({ entity }, seconds);
}

import type { Store } from '../stores/types.js';

/**
 * The fleet's shadow comparison counts for the status model (`status.routing.shadow`).
 *
 * Placeholder until the guard's statistics land: the counts are published by every instance to the control plane
 * by src/routing/stats.ts (`readShadowCounts(control)`), which this build does not have yet. Until a source is
 * wired in (`MigrationOptions.shadowCounts`), status reports zeros with `source: 'none'`, so a zero is never
 * mistaken for "nothing mismatched".
 */

/** Shadow comparisons by outcome, summed over the fleet. `compared` = matched + mismatched + lagging. */
export interface ShadowCounts {
  compared: number;
  matched: number;
  mismatched: number;
  lagging: number;
  dropped: number;
}

/** Reads the fleet's shadow counts from the control store (e.g. `readShadowCounts` of src/routing/stats.ts). */
export type ShadowCountsSource = (control: Store) => Promise<ShadowCounts>;

/**
 * Where status's shadow counts came from: `none` (no source wired: all zero), `control-plane`, or `unavailable`
 * (the source failed: all zero).
 */
export type ShadowCountsOrigin = 'none' | 'control-plane' | 'unavailable';

/** The counts of `source`, or zeros marked `none` without one (`unavailable` when it fails). */
export async function shadowCountsFor(
  control: Store,
  source: ShadowCountsSource | undefined,
): Promise<ShadowCounts & { source: ShadowCountsOrigin }> {
  const zeros = { compared: 0, matched: 0, mismatched: 0, lagging: 0, dropped: 0 };
  if (!source) return { ...zeros, source: 'none' };
  try {
    return { ...(await source(control)), source: 'control-plane' };
  } catch {
    return { ...zeros, source: 'unavailable' };
  }
}

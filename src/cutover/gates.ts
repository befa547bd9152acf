/**
 * The gates of phase changes (docs/cutover.md "Gates"). Owned by the gates work of issue 12; this first version
 * only fixes the signature the cutover and the commands call.
 */
import type { Phase } from '../control/phase.js';
import type { Migration } from '../runtime/migration.js';
import type { GateResult } from './types.js';

/** Options of {@link checkGates}. */
export interface CheckGatesOptions {
  /** Wall clock for age checks (tests), ms since the epoch. Default `Date.now()`. */
  now?: number;
}

/**
 * The gates of moving `m` to phase `to`, each with its figure, threshold and verdict (config `gates`). Reads only.
 */
export async function checkGates(_m: Migration, _to: Phase, _o: CheckGatesOptions = {}): Promise<GateResult[]> {
  return [];
}

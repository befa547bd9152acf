import { TandemError } from '../core/errors.js';
import type { Store } from '../stores/types.js';
import { readState, writeState } from './state.js';

/** The phases of a migration, in order (DESIGN.md "Phases"). */
export const PHASES = [
  'prepare',
  'dual_write',
  'shadow',
  'canary',
  'new_primary',
  'legacy_read_only',
  'decommissioned',
] as const;
export type Phase = (typeof PHASES)[number];

/** Which store is primary for writes in a phase: legacy (source) up to `canary`, new (target) from `new_primary`. */
export function primaryRole(phase: Phase): 'legacy' | 'new' {
  return PHASES.indexOf(phase) >= PHASES.indexOf('new_primary') ? 'new' : 'legacy';
}

/** Whether writes in a phase record changes in an outbox (every phase but `prepare` and the post-rollback ends). */
export function capturesChanges(phase: Phase): boolean {
  return phase !== 'prepare' && phase !== 'legacy_read_only' && phase !== 'decommissioned';
}

/** Reads the phase from the control store; `prepare` when none was ever set. */
export async function readPhase(control: Store): Promise<Phase> {
  const v = await readState(control, control, 'phase');
  return v && (PHASES as readonly string[]).includes(v) ? (v as Phase) : 'prepare';
}

/** The phase after `phase` on the road, or null after `decommissioned`. */
export function nextPhase(phase: Phase): Phase | null {
  return PHASES[PHASES.indexOf(phase) + 1] ?? null;
}

/**
 * Sets the phase. Moving one step forward from `prepare` to `dual_write` needs no gate; any other change needs
 * its gates checked first — `gated: true` from a caller that checked them (`tandem phase advance`,
 * `tandem cutover`, src/cutover/gates.ts) — or `force` (the caller audits either). Throws
 * TANDEM_ERR_PHASE_INVALID for an unknown phase, or for a gated change asked without `gated` or `force`.
 */
export async function setPhase(
  control: Store,
  next: Phase,
  o: { force?: boolean; gated?: boolean } = {},
): Promise<{ from: Phase; to: Phase }> {
  if (!(PHASES as readonly string[]).includes(next))
    throw new TandemError('PHASE_INVALID', `unknown phase "${next}" (phases: ${PHASES.join(', ')})`);
  const from = await readPhase(control);
  const free = (from === 'prepare' && next === 'dual_write') || from === next;
  if (!free && !o.force && !o.gated)
    throw new TandemError(
      'PHASE_INVALID',
      `moving from ${from} to ${next} is gated: use tandem phase advance --to ${next} (it checks the gates; tandem cutover / tandem rollback for write cutover and back), or pass --force to move anyway (audited)`,
    );
  await writeState(control, 'phase', next);
  return { from, to: next };
}

/**
 * Where a rehearsal's result lives: one row of the control plane's `state` table (name `rehearsal`, value the
 * JSON of {@link RehearsalRecord}), written by `tandem rehearse` and read by the cutover gate. Only the newest is
 * kept; the audit log keeps every run.
 */
import { readState, writeState } from '../control/state.js';
import type { Store } from '../stores/types.js';
import type { RehearsalRecord } from './types.js';

const NAME = 'rehearsal';

/** Stores `r` as the newest rehearsal (replacing the one before). */
export async function saveRehearsal(control: Store, r: RehearsalRecord): Promise<void> {
  await writeState(control, NAME, JSON.stringify(r));
}

/** The newest rehearsal, or null when none ran (or its row cannot be read as one). */
export async function readRehearsal(control: Store): Promise<RehearsalRecord | null> {
  const v = await readState(control, control, NAME);
  if (!v) return null;
  try {
    const r = JSON.parse(v) as RehearsalRecord;
    return typeof r.at === 'string' && typeof r.passed === 'boolean' ? r : null;
  } catch {
    return null;
  }
}

/**
 * Where a rehearsal's result lives: one row of the control plane's `state` table (name `rehearsal`, value the
 * JSON of {@link RehearsalRecord}), written by `tandem rehearse` and read by the cutover gate. Only the newest is
 * kept; the audit log keeps every run.
 */
import type { Store } from '../stores/types.js';
import type { RehearsalRecord } from './types.js';

const NAME = 'rehearsal';

/** Stores `r` as the newest rehearsal (replacing the one before). */
export async function saveRehearsal(control: Store, r: RehearsalRecord): Promise<void> {
  const p = (i: number) => control.sql.param(i);
  const t = control.controlTable('state');
  const now = control.sql.now();
  const value = JSON.stringify(r);
  await control.transaction(async (tx) => {
    const n = await tx.execute(`UPDATE ${t} SET value = ${p(1)}, updated_at = ${now} WHERE name = ${p(2)}`, [
      value,
      NAME,
    ]);
    if (n === 0) await tx.execute(`INSERT INTO ${t} (name, value) VALUES (${p(1)}, ${p(2)})`, [NAME, value]);
  });
}

/** The newest rehearsal, or null when none ran (or its row cannot be read as one). */
export async function readRehearsal(control: Store): Promise<RehearsalRecord | null> {
  const rows = await control.query<{ value: string }>(
    `SELECT value FROM ${control.controlTable('state')} WHERE name = ${control.sql.param(1)}`,
    [NAME],
  );
  const v = rows[0]?.value;
  if (!v) return null;
  try {
    const r = JSON.parse(v) as RehearsalRecord;
    return typeof r.at === 'string' && typeof r.passed === 'boolean' ? r : null;
  } catch {
    return null;
  }
}

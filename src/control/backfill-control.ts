/**
 * The operator's live control of the backfill (gh-ost's interactive `throttle` / `no-throttle` / `chunk-size=`):
 * rows of the control-plane `state` table that every backfill reads before each chunk, so a pause or a new rate
 * takes effect on the running backfill — in every worker — within one chunk, without a restart.
 *
 * Rows (control-schema v2, no migration of their own): `backfill.paused` (`true`/`false`),
 * `backfill.max_rows_per_second` (decimal text; absent or `none`: the config's / the command line's rate),
 * `backfill.chunk_seconds` (decimal text; absent: the config's). A row that is absent or unreadable reads as
 * not paused / not tuned. Every change is audited, naming who asked (a token's name or `user@host`).
 */
import { audit } from './control.js';
import { putState, readStates } from './state.js';
import { TandemError } from '../core/errors.js';
import type { Store } from '../stores/types.js';

/** The state rows of the backfill control. */
export const BACKFILL_CONTROL_ROWS = {
  paused: 'backfill.paused',
  maxRowsPerSecond: 'backfill.max_rows_per_second',
  chunkSeconds: 'backfill.chunk_seconds',
} as const;

/** What the operator set: `null` fields mean "not tuned" (the config or the command line decides). */
export interface BackfillControl {
  paused: boolean;
  /** Rows per second across the backfill, or null (not tuned). */
  maxRowsPerSecond: number | null;
  /** Seconds one chunk should take, or null (not tuned). */
  chunkSeconds: number | null;
}

/** A tune request: a field left out is unchanged; `maxRowsPerSecond: null` removes the operator's rate. */
export interface BackfillTune {
  maxRowsPerSecond?: number | null;
  chunkSeconds?: number | null;
}

/** Who asked and through what, for the audit log. */
export interface ControlActor {
  /** The command named in the audit log (default `ctl pause`, `ctl resume`, `ctl tune`; the API passes `api …`). */
  command?: string;
  /** Who asked: `token:<name>` (API); default this process's `user@host`. The audit log's actor. */
  actor?: string;
}

const positive = (v: string | undefined): number | null => {
  if (v === undefined || v === 'none') return null;
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : null;
};

/** Reads the backfill control in one statement. Throws what the store throws. */
export async function readBackfillControl(control: Store): Promise<BackfillControl> {
  const v = await readStates(control, control, Object.values(BACKFILL_CONTROL_ROWS));
  return {
    paused: v.get(BACKFILL_CONTROL_ROWS.paused) === 'true',
    maxRowsPerSecond: positive(v.get(BACKFILL_CONTROL_ROWS.maxRowsPerSecond)),
    chunkSeconds: positive(v.get(BACKFILL_CONTROL_ROWS.chunkSeconds)),
  };
}

/**
 * Checks a tune request: `maxRowsPerSecond` a finite number > 0 (at most 1e9) or null, `chunkSeconds` in (0, 60]
 * or null, at least one of them given. Throws TANDEM_ERR_TUNE_INVALID naming the field; writes nothing.
 */
export function checkTune(t: BackfillTune): BackfillTune {
  const bad = (field: string, v: unknown, want: string) =>
    new TandemError('TUNE_INVALID', `${field} must be ${want}, not ${JSON.stringify(v)}`, { field });
  const out: BackfillTune = {};
  if (t.maxRowsPerSecond !== undefined) {
    const v = t.maxRowsPerSecond;
    if (v !== null && !(typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= 1e9))
      throw bad('maxRowsPerSecond', v, 'a number above 0 (at most 1e9), or null to remove the limit');
    out.maxRowsPerSecond = v;
  }
  if (t.chunkSeconds !== undefined) {
    const v = t.chunkSeconds;
    if (v !== null && !(typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= 60))
      throw bad('chunkSeconds', v, 'a number of seconds above 0 and at most 60, or null');
    out.chunkSeconds = v;
  }
  if (out.maxRowsPerSecond === undefined && out.chunkSeconds === undefined)
    throw new TandemError('TUNE_INVALID', 'a tune needs maxRowsPerSecond or chunkSeconds', { field: null });
  return out;
}

async function change(
  control: Store,
  rows: [string, string][],
  command: string,
  args: Record<string, unknown>,
  actor: string | undefined,
): Promise<{ from: BackfillControl; to: BackfillControl }> {
  const from = await readBackfillControl(control);
  await control.transaction(async (tx) => {
    for (const [name, value] of rows) await putState(tx, control, name, value);
  });
  const to = await readBackfillControl(control);
  await audit(control, { command, args, outcome: 'ok', actor });
  return { from, to };
}

/** Pauses every backfill after its chunk in flight (all workers). Audited. The control plane must exist. */
export function pauseBackfill(control: Store, a: ControlActor = {}) {
  return change(control, [[BACKFILL_CONTROL_ROWS.paused, 'true']], a.command ?? 'ctl pause', {}, a.actor);
}

/** Lets paused backfills go on. Audited. */
export function resumeBackfill(control: Store, a: ControlActor = {}) {
  return change(control, [[BACKFILL_CONTROL_ROWS.paused, 'false']], a.command ?? 'ctl resume', {}, a.actor);
}

/**
 * Changes the rate and/or chunk time of the running backfills (all workers, next chunk). Audited. Throws
 * TANDEM_ERR_TUNE_INVALID ({@link checkTune}) before writing anything.
 */
export function tuneBackfill(control: Store, t: BackfillTune, a: ControlActor = {}) {
  const ok = checkTune(t);
  const rows: [string, string][] = [];
  if (ok.maxRowsPerSecond !== undefined)
    rows.push([
      BACKFILL_CONTROL_ROWS.maxRowsPerSecond,
      ok.maxRowsPerSecond === null ? 'none' : String(ok.maxRowsPerSecond),
    ]);
  if (ok.chunkSeconds !== undefined)
    rows.push([BACKFILL_CONTROL_ROWS.chunkSeconds, ok.chunkSeconds === null ? 'none' : String(ok.chunkSeconds)]);
  return change(control, rows, a.command ?? 'ctl tune', { ...ok }, a.actor);
}

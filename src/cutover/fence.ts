/**
 * The write fence of cutover and rollback (docs/cutover.md "Fence", DESIGN.md guarantee 7): one row `writes` of
 * the control table `fence` (control schema v8) in every store — `epoch`, `phase`, `state` (`open` | `closed`).
 *
 * - Every dual write (src/capture/writer.ts) reads the row of the store it writes to **inside its own
 *   transaction, with a shared row lock** (`store.sql.shareLock`: PostgreSQL/PGlite `FOR SHARE`, MySQL/MariaDB
 *   `LOCK IN SHARE MODE`; SQLite's `BEGIN IMMEDIATE` already holds the one write lock), and goes on only when
 *   the row is `open` and its phase (when set) makes that store the primary the writer believes in
 *   ({@link fenceVerdict}).
 * - The cutover (and rollback) **closes** the row on the old primary with an `UPDATE` that bumps the epoch
 *   ({@link closeFence}). The `UPDATE` waits for every write holding the shared lock; once it commits, every
 *   write that starts reads `closed` and is held. So a write on the old primary either committed before the
 *   fence (its outbox row is there for the drain) or never commits there.
 * - The row stays closed (committed, not an open transaction: the drain's relay and SQLite's one writer are not
 *   blocked by it) through drain, sequences and flip; the flip opens the new primary's row with the new phase,
 *   then re-opens the old primary's row with the new phase, which makes every later write there — from an
 *   instance whose phase cache is stale — see that its store is no longer primary and refuse.
 *
 * Writes held at a closed fence record their wait, best-effort, in `fence_waits` of the control store
 * ({@link recordFenceWaits}); the cutover reads them after the release ({@link readFenceWaits}).
 */
import { primaryRole, type Phase, PHASES } from '../control/phase.js';
import { controlTableFor, sqlFor } from '../stores/dialects.js';
import type { Dialect, Executor, Store } from '../stores/types.js';
import type { WritePause } from './types.js';

/** The name of the fence row. */
export const FENCE_ROW = 'writes';

/** `open`: writes pass (when the phase agrees); `closed`: a cutover or rollback holds the fence, writes wait. */
export type FenceState = 'open' | 'closed';

/** The fence row of one store. */
export interface Fence {
  /** Bumped by every cutover and rollback; the same on both stores after a flip. */
  epoch: number;
  /** The phase the last flip set (null: no cutover ever ran — writes follow the control phase). */
  phase: Phase | null;
  /** Which store of the migration this row is in (`legacy` | `new`), set by the first flip; null before. */
  side: 'legacy' | 'new' | null;
  state: FenceState;
  /** Who closed it (`user@host pid`), or null. */
  holder: string | null;
  /** When the row last changed, epoch ms (database clock). */
  updatedMs: number;
}

/** What a write may do after reading a fence: go on, wait (`closed`), or not here (`stale`: the store is no longer primary). */
export type FenceVerdict = 'ok' | 'closed' | 'stale';

interface FenceRow {
  epoch: number | string;
  phase: string | null;
  side: string | null;
  state: string;
  holder: string | null;
  updated_ms: number | string;
}

function parse(r: FenceRow | undefined): Fence | null {
  if (!r) return null;
  const phase = r.phase && (PHASES as readonly string[]).includes(r.phase) ? (r.phase as Phase) : null;
  return {
    epoch: Number(r.epoch),
    phase,
    side: r.side === 'legacy' || r.side === 'new' ? r.side : null,
    state: r.state === 'closed' ? 'closed' : 'open',
    holder: r.holder,
    updatedMs: Number(r.updated_ms),
  };
}

/**
 * The SELECT of the fence row with the dialect's shared row lock, for a statement run on the application's own
 * connection of `dialect` (parameter 1: the row name).
 * @internal
 */
export function fenceReadSql(dialect: Dialect): string {
  const sql = sqlFor(dialect);
  return `SELECT epoch, phase, side, state, holder, updated_ms FROM ${controlTableFor(dialect, 'fence')} WHERE name = ${sql.param(1)}${sql.shareLock ?? ''}`;
}

/**
 * Reads the fence row of `store` through `via` (a transaction on it, or the store), with the shared lock when
 * `shared` (held until `via`'s transaction ends). Null when the row is missing.
 */
export async function readFence(store: Store, via: Executor = store, shared = false): Promise<Fence | null> {
  const rows = await via.query<FenceRow & Record<string, unknown>>(
    `SELECT epoch, phase, side, state, holder, updated_ms FROM ${store.controlTable('fence')} WHERE name = ${store.sql.param(1)}${shared ? (store.sql.shareLock ?? '') : ''}`,
    [FENCE_ROW],
  );
  return parse(rows[0]);
}

/** Reads the fence row with the shared lock through a raw query function of the application's connection. */
export async function readFenceVia(
  dialect: Dialect,
  query: (sql: string, params: unknown[]) => Promise<Record<string, unknown>[]>,
): Promise<Fence | null> {
  const rows = await query(fenceReadSql(dialect), [FENCE_ROW]);
  return parse(rows[0] as unknown as FenceRow | undefined);
}

/**
 * Whether a write may commit on the store whose fence is `f`, when the writer believes phase `believed` and
 * (when it knows) writes to `side`: `closed` while a cutover or rollback holds the fence; `stale` when the
 * fence's phase makes the other store primary — the store the row is in (`f.side`, else `side`, else the
 * primary the writer believes in) is not the primary — or when the writer believes the other store is primary;
 * else `ok`. A missing row (a store whose control schema predates v8) and a row no flip has set yet (`phase`
 * null) follow the writer's belief.
 */
export function fenceVerdict(f: Fence | null, believed: Phase, side?: 'legacy' | 'new'): FenceVerdict {
  if (!f) return 'ok';
  if (f.state === 'closed') return 'closed';
  if (!f.phase) return 'ok';
  const here = f.side ?? side ?? primaryRole(believed);
  if (primaryRole(f.phase) !== here || primaryRole(believed) !== here) return 'stale';
  return 'ok';
}

/** `user@host pid`, as written in the fence's holder column. */
function holderName(holder?: string): string {
  return (holder ?? `pid ${process.pid}`).slice(0, 250);
}

/**
 * Writes the fence row of `store` (inserting it if missing): `epoch`, `phase`, `state`. An `UPDATE` of the row:
 * it waits for every write holding the row's shared lock.
 */
export async function setFence(
  store: Store,
  f: { epoch: number; phase: Phase | null; side: 'legacy' | 'new' | null; state: FenceState; holder?: string | null },
): Promise<void> {
  const p = (i: number) => store.sql.param(i);
  const t = store.controlTable('fence');
  const now = store.sql.nowMs();
  const holder = f.state === 'closed' ? holderName(f.holder ?? undefined) : null;
  await store.transaction(async (tx) => {
    const n = await tx.execute(
      `UPDATE ${t} SET epoch = ${p(1)}, phase = ${p(2)}, side = ${p(3)}, state = ${p(4)}, holder = ${p(5)}, updated_ms = ${now} WHERE name = ${p(6)}`,
      [f.epoch, f.phase, f.side, f.state, holder, FENCE_ROW],
    );
    if (n === 0)
      await tx.execute(
        `INSERT INTO ${t} (name, epoch, phase, side, state, holder, updated_ms) VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, ${p(6)}, ${now})`,
        [FENCE_ROW, f.epoch, f.phase, f.side, f.state, holder],
      );
  });
}

/**
 * Closes the fence of `store` (the old primary) at `epoch`: from the commit of this `UPDATE` on, no write can
 * commit there (it waited for the writes already past the fence). Keeps the row's phase. Returns the fence as
 * written.
 */
export async function closeFence(store: Store, side: 'legacy' | 'new', epoch: number, holder?: string): Promise<Fence> {
  const cur = await readFence(store);
  await setFence(store, { epoch, phase: cur?.phase ?? null, side, state: 'closed', holder });
  return (await readFence(store))!;
}

/** The next epoch: one past the larger of both stores' fences. */
export async function nextEpoch(a: Store, b: Store): Promise<number> {
  const [fa, fb] = await Promise.all([readFence(a), readFence(b)]);
  return Math.max(fa?.epoch ?? 0, fb?.epoch ?? 0) + 1;
}

/**
 * Writes the phase in the control store (`state` row `phase`) without the gate checks of `setPhase`: the fenced
 * flip of cutover and rollback, which checked its own gates. Not audited here (the caller audits).
 */
export async function writePhase(control: Store, phase: Phase): Promise<void> {
  const p = (i: number) => control.sql.param(i);
  const t = control.controlTable('state');
  const now = control.sql.now();
  await control.transaction(async (tx) => {
    const n = await tx.execute(`UPDATE ${t} SET value = ${p(1)}, updated_at = ${now} WHERE name = ${p(2)}`, [
      phase,
      'phase',
    ]);
    if (n === 0) await tx.execute(`INSERT INTO ${t} (name, value) VALUES (${p(1)}, ${p(2)})`, ['phase', phase]);
  });
}

/** One held write, as a writer records it. */
export interface FenceWait {
  /** The epoch of the closed fence the write met. */
  epoch: number;
  waitMs: number;
  /** `ran` (on the old or the new primary, after the wait) or `fenced` (failed with TANDEM_ERR_WRITE_FENCED). */
  outcome: 'ran' | 'fenced';
}

/** Records held writes in `fence_waits` of the control store (best-effort: the caller ignores a failure). */
export async function recordFenceWaits(control: Store, instanceId: string, waits: FenceWait[]): Promise<void> {
  if (!waits.length) return;
  const params: unknown[] = [];
  const ph = (v: unknown) => (params.push(v), control.sql.param(params.length));
  const now = control.sql.nowMs();
  const values = waits.map(
    (w) => `(${ph(w.epoch)}, ${ph(Math.round(w.waitMs))}, ${ph(w.outcome)}, ${ph(instanceId)}, ${now})`,
  );
  await control.execute(
    `INSERT INTO ${control.controlTable('fence_waits')} (epoch, wait_ms, outcome, instance_id, at_ms) VALUES ${values.join(', ')}`,
    params,
  );
}

/** The waits recorded for the fences of `epochs` (every writer process's), ms. */
export async function readFenceWaits(control: Store, epochs: number[]): Promise<number[]> {
  if (!epochs.length) return [];
  const rows = await control.query<{ wait_ms: number | string }>(
    `SELECT wait_ms FROM ${control.controlTable('fence_waits')} WHERE epoch IN (${epochs.map((_, i) => control.sql.param(i + 1)).join(', ')})`,
    epochs,
  );
  return rows.map((r) => Number(r.wait_ms));
}

/** The write pause of a set of held waits (ms): count, p99 (nearest rank) and max. */
export function writePauseOf(waitsMs: number[]): WritePause {
  if (!waitsMs.length) return { held: 0, p99Ms: 0, maxMs: 0 };
  const s = [...waitsMs].sort((a, b) => a - b);
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil(0.99 * s.length) - 1));
  return { held: s.length, p99Ms: Math.round(s[rank]!), maxMs: Math.round(s[s.length - 1]!) };
}

/** Rows in the control store's dead-letter table (changes that did not reach the other store). */
export async function deadLetterCount(control: Store): Promise<number> {
  const r = await control.query<{ n: number | string }>(
    `SELECT count(*) AS n FROM ${control.controlTable('dead_letters')}`,
  );
  return Number(r[0]?.n ?? 0);
}

/**
 * The reverse-path probe of write cutover (docs/cutover.md "Write cutover"): before the fence, prove that the
 * path that will carry the new primary's writes back to legacy works — without writing a legacy entity table
 * (legacy is still the primary, and the legacy-write guard refuses it).
 *
 * Per entity, it:
 * 1. resolves the reverse entity (src/core/reverse.ts) — the legacy key must be rebuildable from the new rows;
 * 2. reads one new row (the first key of the first target table) the way the reverse relay reads it
 *    (`readSourceRows` of the reversed entity, every new table of the key), maps it to a legacy row
 *    (`mapRow`), reads the legacy row of that key and compares them column by column on their canonical
 *    encoding: the reverse mapping reproduces what legacy holds;
 * 3. in one transaction on the new store, inserts a probe change into the outbox (entity `__tandem_probe`) and
 *    claims it back as the reverse relay would (`claimOutbox`), then rolls back: the new primary's outbox takes
 *    and gives up changes;
 * 4. in one transaction on legacy, advances the version ledger (control table) for a probe key as the reverse
 *    apply would, then rolls back: legacy's ledger takes the reverse relay's writes.
 * The result is written back to the control plane's `state` (row `reverse_probe`), where status and the gates
 * read it ({@link readReverseProbe}).
 *
 * What it does not prove: that a write of a legacy entity row would succeed (a trigger, a privilege or a
 * constraint on legacy could still refuse it); the rollback's verification covers that after the fact.
 */
import { readSourceRows } from '../apply/apply.js';
import { canonicalize } from '../core/canonical.js';
import { errorLine } from '../core/errors.js';
import { mapRow, type ResolvedEntity } from '../core/mapping.js';
import { claimOutbox, outboxInsert } from '../outbox/outbox.js';
import type { Migration } from '../runtime/migration.js';
import type { Row, Store } from '../stores/types.js';

/** One entity's part of the probe. */
export interface EntityProbe {
  entity: string;
  /** False when a step failed (see `reason`). */
  ok: boolean;
  /** Whether a new row was read and compared with legacy (false for an empty table). */
  compared: boolean;
  /** Legacy columns compared; those that differed (names only, never values). */
  columns: number;
  differing: string[];
  reason?: string;
}

/** The result of {@link probeReversePath}, as stored in the control plane. */
export interface ReverseProbe {
  /** ISO-8601 UTC time it ran. */
  at: string;
  passed: boolean;
  /** Duration of the round trip, ms. */
  ms: number;
  /** The outbox claim on new and the ledger write on legacy worked. */
  outbox: boolean;
  ledger: boolean;
  entities: EntityProbe[];
  reason?: string;
}

const PROBE_ENTITY = '__tandem_probe';
const STATE_ROW = 'reverse_probe';

class Rollback extends Error {}

/** Runs `fn` in a transaction of `store` and rolls it back whatever happens; rethrows `fn`'s own error. */
async function rolledBack(store: Store, fn: (tx: import('../stores/types.js').Executor) => Promise<void>) {
  try {
    await store.transaction(async (tx) => {
      await fn(tx);
      throw new Rollback('probe rolled back');
    });
  } catch (e) {
    if (!(e instanceof Rollback)) throw e;
  }
}

async function probeEntity(m: Migration, forward: ResolvedEntity, reverse: ResolvedEntity): Promise<EntityProbe> {
  const out: EntityProbe = { entity: forward.name, ok: true, compared: false, columns: 0, differing: [] };
  const store = m.stores.new;
  const t = forward.targets[0]!;
  const st = store.sql.keyset({ table: t.table.name, columns: t.keyColumns, key: t.keyColumns, after: null, limit: 1 });
  const first = (await store.query(st.sql, st.params))[0];
  if (!first) return out;
  const keyValues = t.keyColumns.map((c) => first[c]);
  const rows = await readSourceRows(store, reverse, [keyValues]);
  if (!rows[0]) return out;
  const mapped = mapRow(reverse, rows[0]);
  const lt = reverse.targets[0]!;
  const legacyRows = await readSourceRows(m.stores.legacy, forward, [mapped.keyValues]);
  out.compared = true;
  out.columns = lt.columns.length;
  const legacy: Row | undefined = legacyRows[0];
  if (!legacy) {
    out.ok = false;
    out.reason = `the legacy row of the probed key is missing (the reverse relay would insert it)`;
    return out;
  }
  lt.columns.forEach((c, i) => {
    const enc = (v: unknown) => {
      try {
        return canonicalize(v, c);
      } catch {
        return `<unreadable:${typeof v}>`;
      }
    };
    if (enc(mapped.values[0]![i]) !== enc(legacy[c.name])) out.differing.push(c.name);
  });
  if (out.differing.length) {
    out.ok = false;
    out.reason = `the reverse mapping gives other values than legacy holds in column(s) ${out.differing.join(', ')}`;
  }
  return out;
}

/**
 * Proves the reverse path (see the module comment) and stores the result in the control plane. Never writes a
 * legacy entity table; everything it writes outside the `state` row is rolled back. Returns the result (a failed
 * step is `passed: false` with its reason, not an exception).
 */
export async function probeReversePath(m: Migration): Promise<ReverseProbe> {
  const started = Date.now();
  const r: ReverseProbe = { at: '', passed: false, ms: 0, outbox: false, ledger: false, entities: [] };
  try {
    const reversed = m.roles('new_primary').entities;
    for (const e of m.entities) r.entities.push(await probeEntity(m, e, reversed.find((x) => x.name === e.name)!));
    const { new: next, legacy } = m.stores;
    await rolledBack(next, async (tx) => {
      const ins = outboxInsert(next.dialect, [{ entity: PROBE_ENTITY, key: '["probe"]', keyValues: ['probe'] }]);
      await tx.execute(ins.sql, ins.params);
      const claimed = await claimOutbox(next, tx, 10_000);
      if (!claimed.some((c) => c.entity === PROBE_ENTITY)) throw new Error('the probe change was not claimed back');
      r.outbox = true;
    });
    await rolledBack(legacy, async (tx) => {
      const moved = await legacy.advanceLedger(
        tx,
        legacy.controlTable('version_ledger'),
        PROBE_ENTITY,
        [{ key: '["probe"]', version: BigInt(Date.now()), deleted: false }],
        'newer',
      );
      if (!moved.has('["probe"]')) throw new Error("legacy's version ledger did not take the probe entry");
      r.ledger = true;
    });
    const bad = r.entities.filter((e) => !e.ok);
    r.passed = !bad.length && r.outbox && r.ledger;
    if (bad.length) r.reason = bad.map((e) => `${e.entity}: ${e.reason}`).join('; ');
  } catch (e) {
    r.passed = false;
    r.reason = errorLine(e);
  }
  r.ms = Date.now() - started;
  r.at = new Date().toISOString();
  await saveState(m.stores.control, STATE_ROW, JSON.stringify(r));
  return r;
}

/** The newest reverse probe stored in the control plane, or null. */
export async function readReverseProbe(control: Store): Promise<ReverseProbe | null> {
  const rows = await control.query<{ value: string }>(
    `SELECT value FROM ${control.controlTable('state')} WHERE name = ${control.sql.param(1)}`,
    [STATE_ROW],
  );
  try {
    return rows[0] ? (JSON.parse(rows[0].value) as ReverseProbe) : null;
  } catch {
    return null;
  }
}

async function saveState(control: Store, name: string, value: string): Promise<void> {
  const p = (i: number) => control.sql.param(i);
  const t = control.controlTable('state');
  const now = control.sql.now();
  await control.transaction(async (tx) => {
    const n = await tx.execute(`UPDATE ${t} SET value = ${p(1)}, updated_at = ${now} WHERE name = ${p(2)}`, [
      value,
      name,
    ]);
    if (n === 0) await tx.execute(`INSERT INTO ${t} (name, value) VALUES (${p(1)}, ${p(2)})`, [name, value]);
  });
}

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyChanges } from '../src/apply/apply.js';
import { ensureControlSchema } from '../src/control/control.js';
import { setPhase } from '../src/control/phase.js';
import { isTandemError } from '../src/core/errors.js';
import { keyString } from '../src/core/mapping.js';
import { advanceSequences } from '../src/cutover/sequences.js';
import { sequenceWarnings } from '../src/cutover/warnings.js';
import { openMigration } from '../src/runtime/migration.js';
import { openStore } from '../src/stores/index.js';
import { runVerify } from '../src/verify/run.js';
import { quiet } from './runtime/helpers.js';

/**
 * The embedded engines (SQLite → PGlite): `apply.userTriggers: 'replica'` works on PGlite (its user is a
 * superuser) — a relay apply that restores a row the application changed fires no trigger and leaves the mapped
 * `last_update` as the source has it — while the application's own write still fires it; the serial behind the
 * copied keys is warned about and advanced; an SQLite target refuses the setting.
 */

const ROWS = 12;
const config = (source: string, target: string, apply = '') => ({
  source,
  target,
  ...(apply ? { apply: { userTriggers: apply as 'replica' } } : {}),
  entities: {
    films: {
      table: 'film',
      key: 'film_id',
      targets: [{ table: 'film', columns: { film_id: 'film_id', title: 'title', last_update: 'last_update' } }],
    },
  },
});

describe('target triggers and sequences on SQLite → PGlite', () => {
  let dir: string;
  let src: string;
  let tgt: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tandem-trge-'));
    src = `sqlite:${join(dir, 'legacy.db')}`;
    tgt = `pglite:${join(dir, 'new')}`;
    const s = await openStore(src);
    await s.execute('CREATE TABLE film (film_id INTEGER PRIMARY KEY, title TEXT NOT NULL, last_update TEXT NOT NULL)');
    for (let i = 1; i <= ROWS; i++)
      await s.execute('INSERT INTO film VALUES (?, ?, ?)', [i, `Film ${i}`, '2006-02-15 05:03:42.000000']);
    await s.close();
    const t = await openStore(tgt);
    for (const q of [
      'CREATE TABLE film (film_id serial PRIMARY KEY, title text NOT NULL, last_update timestamp(6) NOT NULL)',
      'CREATE TABLE fired (film_id int NOT NULL)',
      `CREATE FUNCTION film_touch() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO fired VALUES (NEW.film_id); NEW.last_update := now(); RETURN NEW; END $$`,
      'CREATE TRIGGER last_updated BEFORE UPDATE ON film FOR EACH ROW EXECUTE FUNCTION film_touch()',
    ])
      await t.execute(q);
    await t.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("replica: Tandem's writes fire no trigger, the application's do; the serial is warned about and advanced", async () => {
    const m = await openMigration(config(src, tgt, 'replica'), { log: quiet });
    try {
      const fired = async () =>
        Number((await m.stores.new.query<{ n: unknown }>('SELECT count(*) AS n FROM fired'))[0]!.n);
      await ensureControlSchema(m.stores.new);
      await setPhase(m.stores.control, 'dual_write', { force: true });
      const svc = m.services.backfill();
      await svc.start();
      expect((await svc.wait()).map((r) => r.status)).toEqual(['done']);
      // the application changes a row on the new side: its trigger fires
      await m.stores.new.execute(`UPDATE film SET title = 'app' WHERE film_id = 2`);
      expect(await fired()).toBe(1);
      const e = m.entities[0]!;
      await applyChanges(m.stores.legacy, m.stores.new, e, [{ key: keyString([2], e.keyColumns), keyValues: [2] }]);
      expect(await fired()).toBe(1);
      const v = await runVerify(m.stores.legacy, m.stores.new, m.entities, {
        mode: 'full',
        pageRows: 1000,
        maxReportedDifferences: 20,
      });
      expect(v.exitCode).toBe(0);

      const w = await sequenceWarnings(m, 'dual_write');
      expect(w).toEqual([
        {
          side: 'new',
          table: 'film',
          column: 'film_id',
          kind: 'sequence',
          sequence: 'public.film_film_id_seq',
          next: '1',
          max: String(ROWS),
        },
      ]);
      expect((await advanceSequences(m, 'new')).advanced).toBe(1);
      expect(await sequenceWarnings(m, 'dual_write')).toEqual([]);
      const ins = await m.stores.new.query<{ film_id: unknown }>(
        `INSERT INTO film (title, last_update) VALUES ('new', now()) RETURNING film_id`,
      );
      expect(Number(ins[0]!.film_id)).toBe(ROWS + 1);
    } finally {
      await m.close();
    }
  });

  it("an SQLite target refuses apply.userTriggers: 'replica'", async () => {
    await expect(openMigration(config(tgt, src, 'replica'), { log: quiet })).rejects.toSatisfy((e) =>
      isTandemError(e, 'APPLY_TRIGGERS_UNSUPPORTED'),
    );
  });
});

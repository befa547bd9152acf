import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyChanges } from '../src/apply/apply.js';
import { ensureControlSchema } from '../src/control/control.js';
import { setPhase } from '../src/control/phase.js';
import { isTandemError } from '../src/core/errors.js';
import { keyString } from '../src/core/mapping.js';
import { sequenceWarnings } from '../src/cutover/warnings.js';
import { openMigration } from '../src/runtime/migration.js';
import { runVerify } from '../src/verify/run.js';
import { createMysqlDatabase, createPgDatabase, runCli, writeConfig } from './helpers.js';
import { filmTriggerConfig } from './fixtures.js';
import { quiet } from './runtime/helpers.js';

/**
 * Issue 13 items 6 and 8 with a MariaDB target (PostgreSQL → MariaDB): MariaDB fires a BEFORE UPDATE trigger
 * even for an `INSERT … ON DUPLICATE KEY UPDATE` that changes nothing, so Tandem leaves unchanged rows out of the
 * write: duplicate relay deliveries and a backfill from the start fire the `last_update` trigger never and
 * verify stays green. `apply.userTriggers: 'replica'` is refused with a coded error (no per-session switch).
 * InnoDB moves AUTO_INCREMENT past explicitly inserted keys by itself: no warning, and an insert without a key
 * works after the backfill.
 */

const ROWS = 25;

const config = filmTriggerConfig;

describe('target triggers and sequences, PostgreSQL → MariaDB', () => {
  let src: Awaited<ReturnType<typeof createPgDatabase>>;
  let tgt: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let legacyApp: pg.Client;
  let newApp: mysql.Connection;
  let cfg: string;
  const fired = async () => {
    const [rows] = await newApp.query('SELECT count(*) AS n FROM fired');
    return Number((rows as { n: unknown }[])[0]!.n);
  };

  beforeAll(async () => {
    src = await createPgDatabase('tandem_trgm_src');
    tgt = await createMysqlDatabase('tandem_trgm_tgt');
    legacyApp = new pg.Client({ connectionString: src.url });
    await legacyApp.connect();
    await legacyApp.query(
      'CREATE TABLE film (film_id serial PRIMARY KEY, title text NOT NULL, last_update timestamp(6) NOT NULL)',
    );
    await legacyApp.query(
      `INSERT INTO film SELECT g, 'Film ' || g, '2006-02-15 05:03:42' FROM generate_series(1, ${ROWS}) g`,
    );
    newApp = await mysql.createConnection({ uri: tgt.url, multipleStatements: true });
    await newApp.query(`
      CREATE TABLE film (film_id INT AUTO_INCREMENT PRIMARY KEY, title VARCHAR(100) NOT NULL,
        last_update DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6));
      CREATE TABLE fired (film_id INT NOT NULL);
      CREATE TRIGGER last_updated BEFORE UPDATE ON film FOR EACH ROW SET NEW.last_update = NOW(6);
      CREATE TRIGGER film_count AFTER UPDATE ON film FOR EACH ROW INSERT INTO fired VALUES (NEW.film_id);`);
    cfg = writeConfig(config(src.url, tgt.url));
  });
  afterAll(async () => {
    await legacyApp?.end();
    await newApp?.end();
    await src?.drop().catch(() => {});
    await tgt?.drop().catch(() => {});
  });

  it('re-applying unchanged rows fires the trigger never; verify stays green', async () => {
    const b = await runCli(['backfill', '--config', cfg]);
    expect(b.code).toBe(0);
    expect(b.stderr).toMatch(/^warning: new table film has user trigger\(s\) film_count, last_updated: they fire/m);
    const m = await openMigration(cfg, { log: quiet });
    try {
      const e = m.entities[0]!;
      const keys = Array.from({ length: ROWS }, (_, i) => ({
        key: keyString([i + 1], e.keyColumns),
        keyValues: [i + 1],
      }));
      for (let round = 0; round < 2; round++)
        expect((await applyChanges(m.stores.legacy, m.stores.new, e, keys)).applied).toBe(ROWS);
      const svc = m.services.backfill({ restart: true });
      await svc.start();
      expect((await svc.wait()).map((r) => r.status)).toEqual(['done']);
      expect(await fired()).toBe(0);
      const v = await runVerify(m.stores.legacy, m.stores.new, m.entities, {
        mode: 'full',
        pageRows: 1000,
        maxReportedDifferences: 20,
      });
      expect(v.exitCode).toBe(0);

      // a real change is written, and fires the triggers once
      await legacyApp.query(`UPDATE film SET title = 'Changed' WHERE film_id = 7`);
      await applyChanges(m.stores.legacy, m.stores.new, e, [{ key: keyString([7], e.keyColumns), keyValues: [7] }]);
      const [rows] = await newApp.query('SELECT film_id FROM fired');
      expect(rows).toEqual([{ film_id: 7 }]);
      const [t] = await newApp.query('SELECT title FROM film WHERE film_id = 7');
      expect(t).toEqual([{ title: 'Changed' }]);

      // AUTO_INCREMENT follows explicit keys in InnoDB: nothing behind, and the application's insert works
      await ensureControlSchema(m.stores.control);
      expect(await sequenceWarnings(m, 'dual_write')).toEqual([]);
      const [ins] = await newApp.query(`INSERT INTO film (title) VALUES ('made on new')`);
      expect((ins as mysql.ResultSetHeader).insertId).toBe(ROWS + 1);
    } finally {
      await m.close();
    }
  });

  it('after write cutover warns about and syncs the legacy side (its serial never saw the copied keys)', async () => {
    const m = await openMigration(cfg, { log: quiet });
    try {
      await setPhase(m.stores.control, 'new_primary', { force: true });
      expect(await sequenceWarnings(m, 'new_primary')).toEqual([
        {
          side: 'legacy',
          table: 'film',
          column: 'film_id',
          kind: 'sequence',
          sequence: 'public.film_film_id_seq',
          next: '1',
          max: String(ROWS),
        },
      ]);
    } finally {
      await m.close();
    }
    const r = await runCli(['backfill', '--sync-sequences', '--config', cfg]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/sequences on legacy \(postgres:\/\/.*\): advanced 1 of 1/);
    const ins = await legacyApp.query(`INSERT INTO film (title, last_update) VALUES ('x', now()) RETURNING film_id`);
    expect(ins.rows[0].film_id).toBe(ROWS + 1);
  });

  it("refuses apply.userTriggers: 'replica' on MariaDB with a coded config error", async () => {
    const bad = writeConfig(config(src.url, tgt.url, `\n  apply: { userTriggers: 'replica' },`));
    await expect(openMigration(bad, { log: quiet })).rejects.toSatisfy((e) =>
      isTandemError(e, 'APPLY_TRIGGERS_UNSUPPORTED'),
    );
    const r = await runCli(['backfill', '--config', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/TANDEM_ERR_APPLY_TRIGGERS_UNSUPPORTED: apply\.userTriggers: 'replica' cannot be used/);
  });
});

import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyChanges } from '../src/apply/apply.js';
import { isTandemError } from '../src/core/errors.js';
import { keyString } from '../src/core/mapping.js';
import { preflightTriggerLines, sequenceWarningLines } from '../src/cutover/warnings.js';
import { openMigration } from '../src/runtime/migration.js';
import { createMysqlDatabase, createPgDatabase, PG_BASE, runCli, uniqueName, writeConfig } from './helpers.js';
import { filmTriggerConfig } from './fixtures.js';
import { quiet } from './runtime/helpers.js';

/**
 * Issue 13 items 6 and 8 end to end, MariaDB → PostgreSQL: the target keeps `last_update` with a BEFORE UPDATE
 * trigger (counting its firings in a side table). Re-applying unchanged rows (duplicate relay deliveries, a
 * backfill run again from the start) writes nothing, so the trigger does not fire and verify stays green;
 * `plan` and the backfill pre-flight name the trigger. A real change fires it once and verify then sees the
 * rewritten `last_update` (the trade-off); `tandem repair` cannot fix that with the triggers on, and can with
 * `apply: { userTriggers: 'replica' }`. The target's serial is behind the copied keys after the backfill: verify
 * and plan warn, `tandem backfill --sync-sequences` moves it, and the application's insert without a key works.
 */

const ROWS = 30;

const config = filmTriggerConfig;

describe('target triggers and sequences, MariaDB → PostgreSQL', () => {
  let src: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let tgt: Awaited<ReturnType<typeof createPgDatabase>>;
  let legacyApp: mysql.Connection;
  let newApp: pg.Client;
  let cfg: string;
  const fired = async () => Number((await newApp.query('SELECT count(*) AS n FROM fired')).rows[0].n);

  beforeAll(async () => {
    src = await createMysqlDatabase('tandem_trg_src');
    tgt = await createPgDatabase('tandem_trg_tgt');
    legacyApp = await mysql.createConnection({ uri: src.url, multipleStatements: true });
    await legacyApp.query(
      'CREATE TABLE film (film_id INT AUTO_INCREMENT PRIMARY KEY, title VARCHAR(100) NOT NULL, last_update DATETIME(6) NOT NULL)',
    );
    await legacyApp.query('INSERT INTO film VALUES ?', [
      Array.from({ length: ROWS }, (_, i) => [i + 1, `Film ${i + 1}`, '2006-02-15 05:03:42.000000']),
    ]);
    newApp = new pg.Client({ connectionString: tgt.url });
    await newApp.connect();
    await newApp.query(`
      CREATE TABLE film (film_id serial PRIMARY KEY, title text NOT NULL, last_update timestamp(6) NOT NULL DEFAULT now());
      CREATE TABLE fired (film_id int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
      CREATE FUNCTION film_touch() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO fired (film_id) VALUES (NEW.film_id); NEW.last_update := now(); RETURN NEW; END $$;
      CREATE TRIGGER last_updated BEFORE UPDATE ON film FOR EACH ROW EXECUTE FUNCTION film_touch();`);
    cfg = writeConfig(config(src.url, tgt.url));
  });
  afterAll(async () => {
    await legacyApp?.end();
    await newApp?.end();
    await src?.drop().catch(() => {});
    await tgt?.drop().catch(() => {});
  });

  it('names the trigger before copying, and re-applying unchanged rows fires it never', async () => {
    const b = await runCli(['backfill', '--config', cfg]);
    expect(b.code).toBe(0);
    expect(b.stderr).toMatch(/^warning: new table film has user trigger\(s\) last_updated: they fire on every row/m);
    expect((await newApp.query('SELECT count(*) AS n FROM film')).rows[0].n).toBe(String(ROWS));

    const plan = await runCli(['plan', '--json', '--config', cfg]);
    expect(plan.stderr).toBe('');
    const p = JSON.parse(plan.stdout);
    expect(p.targetTriggers).toEqual([{ side: 'new', table: 'film', entities: ['films'], triggers: ['last_updated'] }]);
    expect(p.userTriggers).toBe('fire');

    // duplicate relay deliveries of every key, twice, and a backfill from the start
    const m = await openMigration(cfg, { log: quiet });
    try {
      const e = m.entities[0]!;
      const keys = Array.from({ length: ROWS }, (_, i) => ({
        key: keyString([i + 1], e.keyColumns),
        keyValues: [i + 1],
      }));
      for (let round = 0; round < 2; round++) {
        const r = await applyChanges(m.stores.legacy, m.stores.new, e, keys);
        expect(r.applied).toBe(ROWS); // the ledger let them through (no version: last writer wins)
      }
      const svc = m.services.backfill({ restart: true });
      await svc.start();
      expect((await svc.wait()).map((r) => [r.status, r.copied])).toEqual([['done', ROWS]]);
    } finally {
      await m.close();
    }
    expect(await fired()).toBe(0);
    const v = await runCli(['verify', '--config', cfg]);
    expect(v.code).toBe(0);
  });

  it('warns about the serial behind the copied keys; backfill --sync-sequences moves it', async () => {
    const v = await runCli(['verify', '--json', '--config', cfg]);
    expect(v.code).toBe(0); // a warning, not a difference
    const report = JSON.parse(v.stdout);
    expect(report.sequences).toEqual([
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
    const plan = await runCli(['plan', '--config', cfg]);
    expect(plan.stdout).toContain(
      `warning: sequence public.film_film_id_seq of new.film.film_id is behind the copied keys: next value 1, max key ${ROWS}`,
    );
    expect(plan.stdout).toContain('fix: tandem backfill --sync-sequences');
    expect(sequenceWarningLines(report.sequences)).toEqual(
      plan.stdout.split('\n').filter((l) => l.includes('behind the copied keys')),
    );

    const sync = await runCli(['backfill', '--sync-sequences', '--config', cfg]);
    expect(sync.code).toBe(0);
    expect(sync.stdout).toMatch(/sequences on new \(postgres:\/\/.*\): advanced 1 of 1/);
    expect(sync.stdout).toMatch(
      new RegExp(`film\\.film_id\\s+sequence public\\.film_film_id_seq\\s+max ${ROWS}\\s+next 1 → ${ROWS + 1}`),
    );
    const audit = await newApp.query(
      `SELECT args, detail FROM tandem.audit_log WHERE command = 'sequences advance' ORDER BY 1 DESC LIMIT 1`,
    );
    expect(audit.rows[0].detail).toContain(`film.film_id 1→${ROWS + 1}`);
    const ins = await newApp.query(`INSERT INTO film (title) VALUES ('made on new') RETURNING film_id`);
    expect(ins.rows[0].film_id).toBe(ROWS + 1);
    await newApp.query('DELETE FROM film WHERE film_id = $1', [ROWS + 1]);
    const after = await runCli(['verify', '--json', '--config', cfg]);
    expect(JSON.parse(after.stdout).sequences).toEqual([]);
  });

  it('a real change fires it once; repair fixes the rewritten column only with userTriggers: replica', async () => {
    await legacyApp.query(`UPDATE film SET title = 'Changed' WHERE film_id = 3`);
    const m = await openMigration(cfg, { log: quiet });
    try {
      const e = m.entities[0]!;
      await applyChanges(m.stores.legacy, m.stores.new, e, [{ key: keyString([3], e.keyColumns), keyValues: [3] }]);
    } finally {
      await m.close();
    }
    expect((await newApp.query('SELECT film_id FROM fired')).rows).toEqual([{ film_id: 3 }]);
    // the trigger rewrote last_update, which the mapping carries: verify sees it
    expect((await runCli(['verify', '--config', cfg])).code).toBe(1);
    expect((await runCli(['repair', '--config', cfg])).code).not.toBe(2);
    expect(await fired()).toBe(2); // repair wrote the row again, the trigger fired again
    expect((await runCli(['verify', '--config', cfg])).code).toBe(1);

    const replica = writeConfig(config(src.url, tgt.url, `\n  apply: { userTriggers: 'replica' },`));
    const mr = await openMigration(replica, { log: quiet });
    try {
      expect(await preflightTriggerLines(mr)).toEqual([
        expect.stringMatching(/^warning: new table film has user trigger\(s\) last_updated: off for Tandem's writes/),
      ]);
    } finally {
      await mr.close();
    }
    const r = await runCli(['repair', '--config', replica]);
    expect(r.code).toBe(0);
    expect(await fired()).toBe(2); // off for Tandem's transactions
    expect((await runCli(['verify', '--config', replica])).code).toBe(0);
    // still on for the application's own writes
    await newApp.query(`UPDATE film SET title = 'App' WHERE film_id = 5`);
    expect(await fired()).toBe(3);
  });

  it('refuses userTriggers: replica with a coded error when the target user may not set the role', async () => {
    const role = uniqueName('tandem_nosu');
    await newApp.query(`CREATE ROLE ${role} LOGIN`);
    try {
      const url = `${PG_BASE.replace('postgres@', `${role}@`)}/${tgt.name}`;
      const cfgNoSu = writeConfig(config(src.url, url, `\n  apply: { userTriggers: 'replica' },`));
      await expect(openMigration(cfgNoSu, { log: quiet })).rejects.toSatisfy(
        (e) =>
          isTandemError(e, 'APPLY_TRIGGERS_REFUSED') &&
          /GRANT SET ON PARAMETER session_replication_role/.test((e as Error).message),
      );
    } finally {
      await newApp.query(`DROP ROLE ${role}`);
    }
  });
});

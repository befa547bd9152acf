import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fromPg } from '../src/capture/adapters.js';
import { createDualWriter } from '../src/capture/writer.js';
import { createLogger } from '../src/core/logger.js';
import { describeWithDataset } from './datasets.js';
import { createMysqlDatabase, createPgDatabase, runCli } from './helpers.js';
import {
  loadMysqlScript,
  loadPgScript,
  loadSakilaMysql,
  SAKILA,
  SAKILA_MYSQL_TARGET,
  SAKILA_PG_SCHEMA,
  SAKILA_ROWS,
} from './sakila-load.js';

/**
 * Issue 13, "Done when": Sakila (MariaDB, MySQL's own scripts) → Tandem's PostgreSQL port of it
 * (test/fixtures/sakila/postgres.sql: enum type, text[], domains, a partitioned payment with its foreign keys on
 * the partitions, last_update and fulltext triggers, character(20), bytea, timestamptz, identity and serial keys),
 * the way a user runs it: `tandem init`, the config edits listed below (none today), `tandem backfill`, `tandem verify` (full and
 * checksum), `tandem backfill --sync-sequences`; then write cutover, the application's updates on PostgreSQL and
 * the reverse relay back to MariaDB, which must keep every value. Last, the other direction on a few tables: the
 * PostgreSQL port as the source of a MariaDB target (test/fixtures/sakila/mysql-target.sql).
 */

/**
 * One edit of the config `tandem init` wrote: the one line that holds `find` (it must occur exactly once) becomes
 * `replace`, followed by `// edited: <why>`.
 */
interface ConfigEdit {
  why: string;
  find: string;
  replace: string;
}

/**
 * The ONLY edits made to init's config for Sakila → the PostgreSQL port, each for a schema difference init cannot
 * decide by itself. None: payment's key, the fill order, film.fulltext, the triggers and the types all come
 * right from init.
 */
const FORWARD_EDITS: ConfigEdit[] = [];

/**
 * The only edits made to init's config for the PostgreSQL port → the MariaDB target. None: text[] → SET (the
 * array's elements joined by commas), enum → ENUM, character(20) → CHAR(20), the partitioned payment keyed on the
 * target's payment_id all come right from init and the stores.
 */
const REVERSE_DIRECTION_EDITS: ConfigEdit[] = [];

/**
 * What the round trip does to legacy (MariaDB) at write cutover, besides Tandem's own steps: Sakila's MariaDB
 * schema has BEFORE INSERT triggers that overwrite a column of every inserted row with NOW() (they enforce the
 * dates of the legacy application's inserts). After cutover the rows the reverse relay inserts carry their dates
 * from PostgreSQL, and MariaDB cannot turn user triggers off for one session, so they are dropped.
 */
const LEGACY_STEPS_AT_CUTOVER = [
  'DROP TRIGGER customer_create_date',
  'DROP TRIGGER payment_date',
  'DROP TRIGGER rental_date',
];

/** Applies `edits` to the config file at `path`; fails the test naming an edit whose text is not there once. */
function editConfig(path: string, edits: ConfigEdit[]): string {
  const lines = readFileSync(path, 'utf8').split('\n');
  for (const e of edits) {
    const at = lines.flatMap((l, i) => (l.includes(e.find) ? [i] : []));
    expect(at.length, `config edit "${e.why}": ${JSON.stringify(e.find)} occurs ${at.length} times`).toBe(1);
    const indent = lines[at[0]!]!.match(/^\s*/)![0];
    lines[at[0]!] = `${indent}${e.replace} // edited: ${e.why}`;
  }
  const text = lines.join('\n');
  writeFileSync(path, text);
  return text;
}

type Db = Awaited<ReturnType<typeof createPgDatabase>>;

async function withPg<T>(url: string, f: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await f(c);
  } finally {
    await c.end();
  }
}

async function withMysql<T>(url: string, f: (c: mysql.Connection) => Promise<T>): Promise<T> {
  const c = await mysql.createConnection({ uri: url });
  try {
    return await f(c);
  } finally {
    await c.end();
  }
}

async function mysqlRows(url: string, sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  return withMysql(url, async (c) => (await c.query(sql, params))[0] as Record<string, unknown>[]);
}

/** Wall time of each CLI command of this file, printed at the end (how long Sakila takes, step by step). */
const timings: string[] = [];

/** Runs the CLI (a child process, as a user would); returns exit code and output, and records its wall time. */
async function cli(args: string[]) {
  const t0 = performance.now();
  const r = await runCli(args, { env: { TANDEM_LOG_LEVEL: 'warn' } });
  const shown = args.map((a) => (/:\/\//.test(a) ? '<url>' : a.startsWith('/') ? '<file>' : a)).join(' ');
  timings.push(`${((performance.now() - t0) / 1000).toFixed(1).padStart(5)} s  tandem ${shown}`);
  return r;
}

/** {@link cli} with `--config cfg`. */
const tandem = (args: string[], cfg: string) => cli([...args, '--config', cfg]);

const entitiesOf = (stdout: string) =>
  JSON.parse(stdout).entities as {
    entity: string;
    copied?: number;
    status?: string;
    sourceRows?: number;
    targetRows?: number;
    parity?: number;
    missing?: number;
    extra?: number;
    different?: number;
  }[];

/** The example's config: init's output for Sakila → the port, with the FORWARD_EDITS. */
const SAKILA_EXAMPLE_CONFIG = join(import.meta.dirname, '../examples/sakila/tandem.config.ts');

/** The 15 Sakila tables the PostgreSQL port has (film_text is left out: film.fulltext replaces it). */
const PORTED = Object.keys(SAKILA_ROWS)
  .filter((t) => t !== 'film_text')
  .sort();

/** The ported tables with a serial or identity key (all but the two link tables). */
const WITH_SEQUENCE = PORTED.filter((t) => !['film_actor', 'film_category'].includes(t));

describeWithDataset(SAKILA, 'Sakila MariaDB → PostgreSQL port → MariaDB (issue 13)', () => {
  let src: Db;
  let tgt: Db;
  const dropLater: Db[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'tandem-sakila-'));
  const cfg = join(dir, 'tandem.config.ts');
  let loadMs = 0;

  beforeAll(async () => {
    [src, tgt] = await Promise.all([createMysqlDatabase('tandem_sakila_src'), createPgDatabase('tandem_sakila')]);
    [loadMs] = await Promise.all([loadSakilaMysql(src.url), loadPgScript(tgt.url, SAKILA_PG_SCHEMA)]);
  });
  afterAll(async () => {
    console.log(`sakila: load ${(loadMs / 1000).toFixed(1)} s\n${timings.join('\n')}`);
    await Promise.all([src?.drop(), tgt?.drop(), ...dropLater.map((d) => d.drop())]);
  });

  it('loads MySQL’s Sakila into MariaDB in seconds, every row and the GEOMETRY column with it', async () => {
    expect(loadMs).toBeLessThan(10_000);
    for (const [table, n] of Object.entries(SAKILA_ROWS))
      expect(Number((await mysqlRows(src.url, `SELECT count(*) AS n FROM ${table}`))[0]!.n), table).toBe(n);
    const [loc] = await mysqlRows(src.url, 'SELECT ST_AsText(location) AS p FROM address WHERE address_id = 1');
    expect(loc!.p).toBe('POINT(-112.8185647 49.6999986)');
  });

  it('init → backfill → verify full and checksum with init’s config as it is; sequences past the keys', async () => {
    const init = await cli(['init', '--source', src.url, '--target', tgt.url, '--out', cfg]);
    expect(init.code, `${init.stdout}\n${init.stderr}`).toBe(0);
    expect(init.stdout).toMatch(/15 entities/);
    const text = editConfig(cfg, FORWARD_EDITS);
    // examples/sakila/tandem.config.ts is this very file (for the URLs of its README), formatted
    const code = (t: string, urls: [string, string]) =>
      t
        .replaceAll(urls[0], '<source>')
        .replaceAll(urls[1], '<target>')
        .split('\n')
        .filter((l, i, all) => !(l.startsWith('//') && all.slice(0, i).every((x) => x.startsWith('//'))))
        .join('')
        .replace(/\s+/g, '')
        .replace(/,([\]}])/g, '$1');
    expect(code(text, [src.url, tgt.url]), 'examples/sakila/tandem.config.ts is what init writes').toBe(
      code(readFileSync(SAKILA_EXAMPLE_CONFIG, 'utf8'), [
        'mysql://root@127.0.0.1:3306/sakila',
        'postgres://postgres@127.0.0.1:5432/sakila',
      ]),
    );
    // what init itself must get right on this schema
    const paymentKey = text.match(/payment: \{\s*table: 'payment',\s*key: (\[[^\]]*\]|'\w+')/)?.[1];
    expect(paymentKey, 'payment is keyed on what the partitioned target can upsert on').toMatch(
      /^\['payment_(date|id)', 'payment_(id|date)'\]$/,
    );
    expect(text, "film.fulltext is the trigger's: init must not write it").not.toMatch(/^\s*fulltext:/m);
    const order = JSON.parse(text.match(/order: (\[[^\]]*\])/)![1]!.replace(/'/g, '"')) as string[];
    for (const parent of ['customer', 'staff', 'rental'])
      expect(order.indexOf(parent), `${parent} before payment`).toBeLessThan(order.indexOf('payment'));

    const bf = await tandem(['backfill', '--json'], cfg);
    expect(bf.code, `${bf.stdout}\n${bf.stderr}`).toBe(0);
    const copied = entitiesOf(bf.stdout);
    expect(copied.map((e) => e.entity).sort()).toEqual(PORTED);
    for (const e of copied) expect(e, e.entity).toMatchObject({ status: 'done', copied: SAKILA_ROWS[e.entity] });

    for (const mode of ['full', 'checksum']) {
      const v = await tandem(['verify', '--mode', mode, '--json'], cfg);
      expect(v.code, `verify --mode ${mode}:\n${v.stdout}\n${v.stderr}`).toBe(0);
      // the sequences are still at 1: verify warns about each (serial, on the partitioned table too, and identity)
      const behind = JSON.parse(v.stdout).sequences as { side: string; table: string; kind: string; next: string }[];
      expect(behind.map((w) => w.table).sort()).toEqual(WITH_SEQUENCE);
      expect(behind.every((w) => w.side === 'new' && w.next === '1')).toBe(true);
      expect(behind.find((w) => w.table === 'payment')?.kind).toBe('sequence');
      expect(behind.find((w) => w.table === 'film')?.kind).toBe('identity');
      const res = entitiesOf(v.stdout);
      expect(res.map((e) => e.entity).sort()).toEqual(PORTED);
      for (const e of res)
        expect(e, `${mode} ${e.entity}`).toMatchObject({
          sourceRows: SAKILA_ROWS[e.entity],
          targetRows: SAKILA_ROWS[e.entity],
          parity: 100,
        });
    }

    // values as PostgreSQL holds them: the types of the port, not text look-alikes
    await withPg(tgt.url, async (c) => {
      const f = (await c.query('SELECT rating, special_features, release_year, fulltext FROM film WHERE film_id = 1'))
        .rows[0];
      expect(f).toMatchObject({ rating: 'PG', special_features: ['Deleted Scenes', 'Behind the Scenes'] });
      expect(f.release_year).toBe(2006);
      expect(f.fulltext).toContain("'dinosaur':2A"); // the target's own trigger filled it
      const l = (await c.query('SELECT name FROM language WHERE language_id = 1')).rows[0];
      expect(l.name).toBe('English'.padEnd(20));
      const s = (await c.query('SELECT picture FROM staff WHERE staff_id = 1')).rows[0];
      const [m] = await mysqlRows(src.url, 'SELECT picture FROM staff WHERE staff_id = 1');
      expect(Buffer.compare(s.picture, m!.picture as Buffer)).toBe(0);
      const a = (await c.query('SELECT location FROM address WHERE address_id = 1')).rows[0];
      const [w] = await mysqlRows(src.url, 'SELECT ST_AsBinary(location) AS wkb FROM address WHERE address_id = 1');
      expect((a.location as Buffer).toString('hex')).toBe((w!.wkb as Buffer).toString('hex'));
      const p = await c.query('SELECT tableoid::regclass AS part, count(*)::int AS n FROM payment GROUP BY 1');
      expect(p.rows.reduce((n, r) => n + r.n, 0)).toBe(SAKILA_ROWS.payment);
      expect(p.rows.length).toBeGreaterThan(1); // spread over the monthly partitions
    });

    // sequences: behind the copied keys after the backfill, past them after --sync-sequences
    const sync = await tandem(['backfill', '--sync-sequences'], cfg);
    expect(sync.code, `${sync.stdout}\n${sync.stderr}`).toBe(0);
    await withPg(tgt.url, async (c) => {
      const seqs = (
        await c.query(`
          SELECT c.relname AS tbl, a.attname AS col, pg_get_serial_sequence(format('%I', c.relname), a.attname) AS seq
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND a.attnum > 0
            AND NOT a.attisdropped AND pg_get_serial_sequence(format('%I', c.relname), a.attname) IS NOT NULL
          ORDER BY 1`)
      ).rows as { tbl: string; col: string; seq: string }[];
      expect(seqs.map((s) => s.tbl)).toEqual(WITH_SEQUENCE);
      for (const s of seqs) {
        const max = Number((await c.query(`SELECT max(${s.col}) AS m FROM ${s.tbl}`)).rows[0].m);
        const q = (await c.query(`SELECT last_value, is_called FROM ${s.seq}`)).rows[0];
        const next = Number(q.last_value) + (q.is_called ? 1 : 0);
        expect(next, `${s.seq} next value past max(${s.tbl}.${s.col}) = ${max}`).toBeGreaterThan(max);
      }
      // the application's first inserts without a key (identity and serial, the partitioned table too)
      await c.query('BEGIN');
      try {
        await c.query(`INSERT INTO actor (first_name, last_name) VALUES ('NEW', 'ACTOR')`);
        await c.query(`INSERT INTO country (country) VALUES ('Atlantis')`);
        await c.query(
          `INSERT INTO payment (customer_id, staff_id, rental_id, amount, payment_date) VALUES (1, 1, NULL, 1.99, '2005-07-01 10:00')`,
        );
      } finally {
        await c.query('ROLLBACK');
      }
    });
  });

  it('cutover to new_primary; updates on PostgreSQL reach MariaDB through the reverse relay, every value kept', async () => {
    expect((await tandem(['phase', 'set', 'dual_write'], cfg)).code).toBe(0);
    const cut = await tandem(['cutover', '--force', '--json'], cfg);
    expect(cut.code, `${cut.stdout}\n${cut.stderr}`).toBe(0);
    expect(JSON.parse(cut.stdout)).toMatchObject({ to: 'new_primary' });

    // the application, now on PostgreSQL, writes through Tandem's dual writer (outbox → reverse relay)
    const picture = Buffer.from([0x00, 0xff, 0x10, 0x00, 0x7f, 0x80]);
    const app = new pg.Client({ connectionString: tgt.url });
    await app.connect();
    const dual = await createDualWriter({ config: cfg, budgetMs: 0, log: createLogger({ level: 'silent' }) });
    let newLanguage = 0;
    try {
      await dual.write(fromPg(app), async (tx) => {
        await app.query(
          `UPDATE film SET rating = 'NC-17', special_features = ARRAY['Trailers', 'Commentaries'], release_year = 2007,
             title = 'ACADEMY DINOSAUR II' WHERE film_id = 1`,
        );
        await app.query(`UPDATE film SET special_features = '{}', rating = NULL WHERE film_id = 2`);
        await app.query(`UPDATE film SET special_features = NULL WHERE film_id = 3`);
        tx.changed('film', 1);
        tx.changed('film', 2);
        tx.changed('film', 3);
      });
      await dual.write(fromPg(app), async (tx) => {
        await app.query(`UPDATE language SET name = 'Klingon' WHERE language_id = 2`);
        const r = await app.query(`INSERT INTO language (name) VALUES ('Esperanto') RETURNING language_id`);
        newLanguage = r.rows[0].language_id;
        tx.changed('language', 2);
        tx.changed('language', newLanguage);
      });
      await dual.write(fromPg(app), async (tx) => {
        await app.query(`UPDATE staff SET picture = $1, active = false WHERE staff_id = 2`, [picture]);
        await app.query(`UPDATE actor SET first_name = 'PENÉLOPE ☃' WHERE actor_id = 1`);
        await app.query(`UPDATE customer SET active = false, email = NULL WHERE customer_id = 1`);
        tx.changed('staff', 2);
        tx.changed('actor', 1);
        tx.changed('customer', 1);
      });
      await dual.write(fromPg(app), async (tx) => {
        const r = await app.query(`UPDATE payment SET amount = 7.77 WHERE payment_id = 1 RETURNING payment_date`);
        tx.changed('payment', { payment_date: r.rows[0].payment_date, payment_id: 1 });
      });
    } finally {
      await dual.close();
      await app.end();
    }
    expect(newLanguage).toBe(7); // the identity was past the copied keys (cutover advances them too)

    const relay = await tandem(['relay', '--until-empty', '--json'], cfg);
    expect(relay.code, `${relay.stdout}\n${relay.stderr}`).toBe(0);
    expect(JSON.parse(relay.stdout)).toMatchObject({ changes: 9, applied: 9, deadLettered: 0 });

    const one = async (sql: string) => (await mysqlRows(src.url, sql))[0]!;
    expect(await one('SELECT title, rating, special_features, release_year FROM film WHERE film_id = 1')).toEqual({
      title: 'ACADEMY DINOSAUR II',
      rating: 'NC-17',
      special_features: 'Trailers,Commentaries',
      release_year: 2007,
    });
    expect(await one('SELECT rating, special_features FROM film WHERE film_id = 2')).toEqual({
      rating: null,
      special_features: '',
    });
    expect((await one('SELECT special_features FROM film WHERE film_id = 3')).special_features).toBeNull();
    expect((await one('SELECT name FROM language WHERE language_id = 2')).name).toBe('Klingon');
    expect((await one(`SELECT name FROM language WHERE language_id = ${newLanguage}`)).name).toBe('Esperanto');
    const staff = await one('SELECT picture, active FROM staff WHERE staff_id = 2');
    expect(Buffer.compare(staff.picture as Buffer, picture)).toBe(0);
    expect(staff.active).toBe(0);
    expect((await one('SELECT first_name FROM actor WHERE actor_id = 1')).first_name).toBe('PENÉLOPE ☃');
    // (customer_create_date, MariaDB's BEFORE INSERT trigger, must not have stamped create_date)
    expect(
      await one(
        `SELECT active, email, DATE_FORMAT(create_date, '%Y-%m-%d %T') AS created FROM customer WHERE customer_id = 1`,
      ),
    ).toEqual({ active: 0, email: null, created: '2006-02-14 22:04:36' });
    expect(
      await one(
        `SELECT amount, DATE_FORMAT(payment_date, '%Y-%m-%d %T') AS payment_date FROM payment WHERE payment_id = 1`,
      ),
    ).toEqual({
      amount: '7.77',
      payment_date: '2005-05-25 11:30:37', // MariaDB's payment_date trigger must not have stamped it
    });
    // last_update: PostgreSQL's trigger stamped the updated rows; MariaDB holds that same instant
    // (as seconds since the epoch on both sides, whatever the time zones of the sessions)
    const [pgFilm] = await withPg(
      tgt.url,
      async (c) =>
        (await c.query('SELECT extract(epoch FROM last_update)::bigint AS t FROM film WHERE film_id = 1')).rows,
    );
    expect(Number(pgFilm.t)).toBeGreaterThan(Date.parse('2020-01-01') / 1000);
    expect(Number((await one('SELECT UNIX_TIMESTAMP(last_update) AS t FROM film WHERE film_id = 1')).t)).toBe(
      Number(pgFilm.t),
    );

    // new rentals and payments on PostgreSQL: legacy's BEFORE INSERT triggers go first (LEGACY_STEPS_AT_CUTOVER)
    await withMysql(src.url, async (c) => {
      for (const step of LEGACY_STEPS_AT_CUTOVER) await c.query(step);
    });
    const app2 = new pg.Client({ connectionString: tgt.url });
    await app2.connect();
    const dual2 = await createDualWriter({ config: cfg, budgetMs: 0, log: createLogger({ level: 'silent' }) });
    let rental = 0;
    let payment = 0;
    try {
      await dual2.write(fromPg(app2), async (tx) => {
        const r = await app2.query(
          `INSERT INTO rental (rental_date, inventory_id, customer_id, staff_id) VALUES ('2006-02-20 10:00:00', 1, 1, 1) RETURNING rental_id`,
        );
        rental = r.rows[0].rental_id;
        tx.changed('rental', rental);
      });
      await dual2.write(fromPg(app2), async (tx) => {
        const r = await app2.query(
          `INSERT INTO payment (customer_id, staff_id, rental_id, amount, payment_date) VALUES (1, 1, $1, 3.99, '2006-02-20 10:05:00') RETURNING payment_id, payment_date`,
          [rental],
        );
        payment = r.rows[0].payment_id;
        tx.changed('payment', { payment_date: r.rows[0].payment_date, payment_id: payment });
      });
    } finally {
      await dual2.close();
      await app2.end();
    }
    // serial keys past the copied ones (max rental_id and payment_id are 16049; the sequence test above took one
    // payment_id in a rolled-back insert)
    expect(rental).toBe(16050);
    expect(payment).toBeGreaterThan(16049);
    const relay2 = await tandem(['relay', '--until-empty', '--json'], cfg);
    expect(relay2.code, `${relay2.stdout}\n${relay2.stderr}`).toBe(0);
    expect(JSON.parse(relay2.stdout)).toMatchObject({ changes: 2, applied: 2, deadLettered: 0 });
    expect(
      await one(
        `SELECT DATE_FORMAT(rental_date, '%Y-%m-%d %T') AS d, inventory_id, customer_id, return_date FROM rental WHERE rental_id = ${rental}`,
      ),
    ).toEqual({ d: '2006-02-20 10:00:00', inventory_id: 1, customer_id: 1, return_date: null });
    expect(
      await one(
        `SELECT DATE_FORMAT(payment_date, '%Y-%m-%d %T') AS d, amount, rental_id FROM payment WHERE payment_id = ${payment}`,
      ),
    ).toEqual({ d: '2006-02-20 10:05:00', amount: '3.99', rental_id: rental });

    // in new_primary verify compares new → legacy: every row and column of every table
    const v = await tandem(['verify', '--mode', 'full', '--json'], cfg);
    expect(v.code, `verify after the round trip:\n${v.stdout}\n${v.stderr}`).toBe(0);
    const after = entitiesOf(v.stdout);
    expect(after.map((e) => e.entity).sort()).toEqual(PORTED);
    for (const e of after) expect(e, e.entity).toMatchObject({ missing: 0, extra: 0, different: 0, parity: 100 });
  });

  it('the other direction: the PostgreSQL port → a MariaDB target (enum, text[] → SET, character(20), bytea, a partitioned source)', async () => {
    // a copy of the migrated PostgreSQL database without Tandem's schema: the port holding Sakila's rows
    const copy = await createPgDatabase('tandem_sakila_pgsrc');
    await copy.drop(); // the name only: CREATE DATABASE … TEMPLATE makes it
    await withPg(`${tgt.url.slice(0, tgt.url.lastIndexOf('/'))}/postgres`, (c) =>
      c.query(`CREATE DATABASE "${copy.name}" TEMPLATE "${tgt.name}"`),
    );
    dropLater.push(copy);
    await withPg(copy.url, (c) => c.query('DROP SCHEMA tandem CASCADE'));
    const my = await createMysqlDatabase('tandem_sakila_tgt');
    dropLater.push(my);
    await loadMysqlScript(my.url, SAKILA_MYSQL_TARGET);

    const out = join(dir, 'reverse.config.ts');
    const init = await cli(['init', '--source', copy.url, '--target', my.url, '--out', out]);
    expect(init.code, `${init.stdout}\n${init.stderr}`).toBe(0);
    expect(init.stdout).toMatch(/6 entities/);
    editConfig(out, REVERSE_DIRECTION_EDITS);
    const bf = await tandem(['backfill', '--json'], out);
    expect(bf.code, `${bf.stdout}\n${bf.stderr}`).toBe(0);
    const tables = ['actor', 'film', 'film_actor', 'language', 'payment', 'staff'];
    expect(
      entitiesOf(bf.stdout)
        .map((e) => e.entity)
        .sort(),
    ).toEqual(tables);
    const rows = await withPg(copy.url, async (c) => {
      const m: Record<string, number> = {};
      for (const t of tables) m[t] = Number((await c.query(`SELECT count(*) AS n FROM ${t}`)).rows[0].n);
      return m;
    });
    for (const mode of ['full', 'checksum']) {
      const v = await tandem(['verify', '--mode', mode, '--json'], out);
      expect(v.code, `verify --mode ${mode}:\n${v.stdout}\n${v.stderr}`).toBe(0);
      for (const e of entitiesOf(v.stdout))
        expect(e, `${mode} ${e.entity}`).toMatchObject({
          sourceRows: rows[e.entity],
          targetRows: rows[e.entity],
          parity: 100,
        });
    }
    const one = async (sql: string) => (await mysqlRows(my.url, sql))[0]!;
    expect(await one('SELECT rating, special_features, release_year FROM film WHERE film_id = 4')).toEqual({
      rating: 'G',
      special_features: 'Commentaries,Behind the Scenes',
      release_year: 2006,
    });
    expect((await one('SELECT name FROM language WHERE language_id = 1')).name).toBe('English');
    const [pic] = await withPg(
      copy.url,
      async (c) => (await c.query('SELECT picture FROM staff WHERE staff_id = 1')).rows,
    );
    expect(
      Buffer.compare((await one('SELECT picture FROM staff WHERE staff_id = 1')).picture as Buffer, pic.picture),
    ).toBe(0);
  });
});

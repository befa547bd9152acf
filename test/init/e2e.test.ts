/**
 * Issue 13 §1 end to end: a MariaDB source and a PostgreSQL target whose `payment` table is partitioned (primary
 * key on (payment_date, payment_id), foreign keys declared on the partitions only), with NOT NULL defaulted
 * columns, trigger-filled columns (a `last_update` trigger, a tsvector kept by `tsvector_update_trigger`) and an
 * ENUM mapped to a PostgreSQL enum type. `tandem init` writes a config that type-checks against Tandem's own
 * types and runs: `tandem backfill` and `tandem verify` exit 0. `--dry-run` writes nothing and prints both the
 * config and the problems.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliArgv, createMysqlDatabase, createPgDatabase } from '../helpers.js';

const ROOT = resolve(import.meta.dirname, '../..');

const MARIADB = [
  `CREATE TABLE customer (customer_id smallint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, name varchar(45) NOT NULL,
     last_update datetime NOT NULL DEFAULT current_timestamp() ON UPDATE current_timestamp())`,
  `CREATE TABLE film (film_id smallint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, title varchar(128) NOT NULL,
     rating enum('G','PG','PG-13','R','NC-17') DEFAULT 'G', location varchar(20) NULL)`,
  `CREATE TABLE payment (payment_id smallint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,
     customer_id smallint unsigned NOT NULL, amount decimal(5,2) NOT NULL, payment_date datetime NOT NULL,
     FOREIGN KEY (customer_id) REFERENCES customer (customer_id))`,
  `INSERT INTO customer (customer_id, name, last_update) VALUES (1, 'Mary', '2020-02-15 04:34:33'),
     (2, 'Patricia', '2020-02-15 04:34:33'), (3, 'Linda', '2021-03-01 10:00:00')`,
  `INSERT INTO film (film_id, title, rating, location) VALUES (1, 'Academy Dinosaur', 'PG', 'A1'),
     (2, 'Ace Goldfinger', 'G', NULL), (3, 'Adaptation Holes', 'NC-17', 'B2')`,
  `INSERT INTO payment (payment_id, customer_id, amount, payment_date) VALUES (1, 1, 2.99, '2020-05-25 11:30:37'),
     (2, 1, 0.99, '2020-05-28 10:35:23'), (3, 2, 5.99, '2021-06-15 00:54:12'), (4, 3, 4.99, '2021-06-15 18:02:53'),
     (5, 3, 9.99, '2020-12-31 23:59:59')`,
];

const POSTGRES = [
  `CREATE TYPE mpaa_rating AS ENUM ('G', 'PG', 'PG-13', 'R', 'NC-17')`,
  `CREATE TABLE customer (customer_id integer PRIMARY KEY, name text NOT NULL, active boolean NOT NULL DEFAULT true,
     last_update timestamp NOT NULL DEFAULT now())`,
  `CREATE TABLE film (film_id integer PRIMARY KEY, title text NOT NULL, rating mpaa_rating DEFAULT 'G',
     original_language_id integer, fulltext tsvector NOT NULL, last_update timestamp NOT NULL)`,
  `CREATE FUNCTION set_last_update() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN NEW.last_update = now(); RETURN NEW; END $$`,
  `CREATE TRIGGER last_updated BEFORE INSERT OR UPDATE ON film FOR EACH ROW EXECUTE FUNCTION set_last_update()`,
  `CREATE TRIGGER film_fulltext BEFORE INSERT OR UPDATE ON film FOR EACH ROW
     EXECUTE FUNCTION tsvector_update_trigger(fulltext, 'pg_catalog.english', title)`,
  `CREATE TABLE payment (payment_id integer NOT NULL, customer_id integer NOT NULL, amount numeric(5,2) NOT NULL,
     payment_date timestamp NOT NULL, PRIMARY KEY (payment_date, payment_id)) PARTITION BY RANGE (payment_date)`,
  `CREATE TABLE payment_p2020 PARTITION OF payment FOR VALUES FROM ('2020-01-01') TO ('2021-01-01')`,
  `CREATE TABLE payment_p2021 PARTITION OF payment FOR VALUES FROM ('2021-01-01') TO ('2022-01-01')`,
  `ALTER TABLE payment_p2020 ADD FOREIGN KEY (customer_id) REFERENCES customer (customer_id)`,
  `ALTER TABLE payment_p2021 ADD FOREIGN KEY (customer_id) REFERENCES customer (customer_id)`,
];

function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TANDEM_LOG_LEVEL: 'warn' };
  for (const k of ['SOURCE_URL', 'TARGET_URL', 'TANDEM']) delete env[k];
  return env;
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(cmd, args, { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '',
    stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((res, rej) => {
    child.on('error', rej);
    child.on('close', (code) => res({ code, stdout, stderr }));
  });
}

const tandem = (args: string[]) => run(process.execPath, [...cliArgv(), ...args]);

/**
 * Type-checks config files against Tandem's published types: `tsc --noEmit` with a tsconfig whose `paths` map
 * `tandem` to the package's `types` (dist/index.d.ts, built by the global setup), as a user's editor sees it
 * with the package installed.
 */
async function typeCheck(...files: string[]): Promise<{ code: number | null; out: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-tsc-'));
  const tsconfig = join(dir, 'tsconfig.json');
  writeFileSync(
    tsconfig,
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        lib: ['ES2023'],
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: ['node'],
        typeRoots: [join(ROOT, 'node_modules/@types')],
        paths: { tandem: [join(ROOT, 'dist/index.d.ts')] },
      },
      files,
    }),
  );
  const r = await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', tsconfig]);
  rmSync(dir, { recursive: true, force: true });
  return { code: r.code, out: r.stdout + r.stderr };
}

describe('tandem init: MariaDB → PostgreSQL with a partitioned table, defaults, triggers and an ENUM', () => {
  let src: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let tgt: Awaited<ReturnType<typeof createPgDatabase>>;
  const dir = mkdtempSync(join(tmpdir(), 'tandem-init-e2e-'));
  beforeAll(async () => {
    [src, tgt] = await Promise.all([createMysqlDatabase('tandem_init_s'), createPgDatabase('tandem_init_t')]);
    const m = await mysql.createConnection({ uri: src.url });
    for (const q of MARIADB) await m.query(q);
    await m.end();
    const p = new pg.Client({ connectionString: tgt.url });
    await p.connect();
    for (const q of POSTGRES) await p.query(q);
    await p.end();
  });
  afterAll(async () => {
    await Promise.all([src?.drop(), tgt?.drop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('--dry-run prints the config and the problems and writes nothing, even with --force', async () => {
    const out = join(dir, 'dry.config.ts');
    const r = await tandem(['init', '--source', src.url, '--target', tgt.url, '--out', out, '--dry-run', '--force']);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(out)).toBe(false);
    expect(r.stdout).toContain('export default defineConfig({');
    expect(r.stdout).toMatch(/\/\/ problems init sees \(\d+\):/);
    expect(r.stdout).toMatch(/payment +key \(payment_date, payment_id\): target "payment" is partitioned/);
    expect(r.stdout).toMatch(/film +source column "location" has no matching target column/);
    const j = await tandem(['init', '--source', src.url, '--target', tgt.url, '--out', out, '--dry-run', '--json']);
    expect(j.code, j.stderr).toBe(0);
    expect(existsSync(out)).toBe(false);
    const parsed = JSON.parse(j.stdout) as {
      config: string;
      problems: { entity: string | null; column: string | null }[];
    };
    expect(parsed.config).toContain("key: ['payment_date', 'payment_id'],");
    expect(parsed.problems).toContainEqual(expect.objectContaining({ entity: 'payment', column: null }));
    // a file already there is neither refused nor touched
    writeFileSync(out, '// mine\n');
    const again = await tandem(['init', '--source', src.url, '--target', tgt.url, '--out', out, '--dry-run']);
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe('// mine\n');
  });

  it('writes a config that type-checks, backfills and verifies with exit 0', async () => {
    const out = join(dir, 'tandem.config.ts');
    const init = await tandem(['init', '--source', src.url, '--target', tgt.url, '--out', out]);
    expect(init.code, init.stderr).toBe(0);
    const text = readFileSync(out, 'utf8');
    // the partitioned table: keyed on the target's primary key, filled after the table its partitions reference
    expect(text).toContain("order: ['customer', 'film', 'payment']");
    expect(text).toMatch(
      /key: \['payment_date', 'payment_id'\], \/\/ target "payment" is partitioned; its primary key is \(payment_date, payment_id\), not \(payment_id\)/,
    );
    // defaulted and trigger-filled NOT NULL columns are left to the database, never { value: null }
    expect(text).toContain('// active: left to its default');
    expect(text).toContain('// fulltext: filled by a trigger of the target (film_fulltext, last_updated)');
    expect(text).toContain('// last_update: filled by a trigger of the target (film_fulltext, last_updated)');
    expect(text).toContain('// original_language_id: { value: null }, // no source column: left NULL');
    expect(text).toContain("rating: 'rating',");
    expect(text).toMatch(/\/\/ source column 'location' has no matching target column/);
    expect(text).not.toContain('// ?:');
    // a MariaDB date into PostgreSQL: the zero-date cast is named on that line
    expect(text).toMatch(/payment_date: 'payment_date', \/\/ .*cast: 'zero-date-null'/);

    // with a control that must fail, so a check that checks nothing cannot pass
    const bad = join(dir, 'bad.config.ts');
    writeFileSync(bad, text.replace("rating: 'rating',", "rating: { from: 'rating', cast: 'no-such-cast' },"));
    const tsc = await typeCheck(out, bad);
    expect(tsc.out).toContain('bad.config.ts');
    expect(tsc.out).not.toContain('tandem.config.ts');
    expect(tsc.code).not.toBe(0);

    const bf = await tandem(['backfill', '--config', out, '--json']);
    expect(bf.code, `${bf.stdout}\n${bf.stderr}`).toBe(0);
    const backfilled = JSON.parse(bf.stdout).entities as { entity: string; status: string }[];
    expect(backfilled.map((e) => [e.entity, e.status])).toEqual([
      ['customer', 'done'],
      ['film', 'done'],
      ['payment', 'done'],
    ]);
    const v = await tandem(['verify', '--config', out, '--json']);
    expect(v.code, `${v.stdout}\n${v.stderr}`).toBe(0);
    const res = JSON.parse(v.stdout) as { ok: boolean; entities: { entity: string; targetRows: number }[] };
    expect(res.ok).toBe(true);
    expect(Object.fromEntries(res.entities.map((e) => [e.entity, e.targetRows]))).toEqual({
      customer: 3,
      film: 3,
      payment: 5,
    });
    // what the database filled: the default, the trigger-kept tsvector, both partitions
    const p = new pg.Client({ connectionString: tgt.url });
    await p.connect();
    try {
      const film = await p.query(`SELECT rating::text AS rating, fulltext::text AS ft FROM film WHERE film_id = 1`);
      expect(film.rows[0]).toEqual({ rating: 'PG', ft: "'academi':1 'dinosaur':2" });
      const parts = await p.query(
        `SELECT tableoid::regclass::text AS part, count(*)::int AS n FROM payment GROUP BY 1 ORDER BY 1`,
      );
      expect(parts.rows).toEqual([
        { part: 'payment_p2020', n: 3 },
        { part: 'payment_p2021', n: 2 },
      ]);
      const active = await p.query(`SELECT bool_and(active) AS all FROM customer`);
      expect(active.rows[0].all).toBe(true);
    } finally {
      await p.end();
    }
  });
});

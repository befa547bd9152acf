import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { dataset } from './datasets.js';

/**
 * Sakila for the tests (issue 13): MySQL's own scripts from `TANDEM_DATASETS/sakila` loaded into a MariaDB
 * database, and Tandem's own schemas for the other side (test/fixtures/sakila/: `postgres.sql`, the PostgreSQL
 * port, and `mysql-target.sql`, a MariaDB target for the PostgreSQL → MariaDB direction).
 */

const ROOT = resolve(import.meta.dirname, '..');
/** Sakila's two scripts (schema with its DELIMITER blocks, then the data): test/datasets.ts finds them. */
export const SAKILA = dataset('sakila', ['sakila-mv-schema.sql', 'sakila-mv-data.sql']);
/** Tandem's PostgreSQL port of Sakila (schema only). */
export const SAKILA_PG_SCHEMA = join(ROOT, 'test/fixtures/sakila/postgres.sql');
/** A MariaDB target for the PostgreSQL port (a few tables, schema only). */
export const SAKILA_MYSQL_TARGET = join(ROOT, 'test/fixtures/sakila/mysql-target.sql');

/** Rows per table of Sakila's data, as MySQL's scripts load them (film_text is filled by triggers on film). */
export const SAKILA_ROWS: Record<string, number> = {
  actor: 200,
  address: 603,
  category: 16,
  city: 600,
  country: 109,
  customer: 599,
  film: 1000,
  film_actor: 5462,
  film_category: 1000,
  film_text: 1000,
  inventory: 4581,
  language: 6,
  payment: 16049,
  rental: 16044,
  staff: 2,
  store: 2,
};

/**
 * Sakila's schema and data scripts as one script that loads into whatever database the client is connected to:
 * - without their `DROP SCHEMA` / `CREATE SCHEMA` / `USE sakila` lines, and without the `sakila.` qualifiers of
 *   the `actor_info` view;
 * - with the `/*!50705 … *\/` comments opened: MariaDB does not run MySQL 5.7's versioned comments, so it would
 *   load Sakila without `address.location` (GEOMETRY) and its 603 points; opened, MariaDB has them as MySQL does.
 * Throws when the scripts no longer have the shape these edits expect (so a changed data set fails loudly).
 */
export function sakilaMysqlScript(): string {
  const schema = readFileSync(SAKILA.file('sakila-mv-schema.sql'), 'utf8');
  const data = readFileSync(SAKILA.file('sakila-mv-data.sql'), 'utf8');
  const dbLines = /^(DROP SCHEMA|CREATE SCHEMA|USE)\b.*$/gm;
  const counts = [schema.match(dbLines)?.length, data.match(dbLines)?.length];
  if (counts[0] !== 3 || counts[1] !== 1) throw new Error(`sakila scripts: unexpected database lines ${counts}`);
  const versioned = /\/\*!50705 ([^*]*)\*\//g;
  const opened = [schema.match(versioned)?.length, data.match(versioned)?.length];
  if (opened[0] !== 2 || opened[1] !== SAKILA_ROWS.address)
    throw new Error(`sakila scripts: unexpected /*!50705 */ comments ${opened}`);
  return `${schema}\n${data}`
    .replace(dbLines, '')
    .replace(/\bsakila\./g, '')
    .replace(versioned, '$1');
}

/**
 * Loads Sakila (schema, triggers, procedures, data) into the MariaDB database of `url` through the `mariadb`
 * command-line client, which understands the scripts' `DELIMITER` blocks. Returns the wall time in ms (about 1 s
 * here). Throws with the client's stderr when it exits non-zero.
 */
export async function loadSakilaMysql(url: string): Promise<number> {
  const t0 = performance.now();
  const u = new URL(url);
  const args = [
    `--host=${u.hostname}`,
    `--port=${u.port || '3306'}`,
    `--user=${decodeURIComponent(u.username || 'root')}`,
    `--database=${decodeURIComponent(u.pathname.slice(1))}`,
    '--default-character-set=utf8mb4',
  ];
  const env = { ...process.env, ...(u.password ? { MYSQL_PWD: decodeURIComponent(u.password) } : {}) };
  const child = spawn('mariadb', args, { env, stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<number | null>((res, rej) => {
    child.on('error', rej);
    child.on('close', res);
  });
  child.stdin.end(sakilaMysqlScript());
  const code = await done;
  if (code !== 0) throw new Error(`mariadb client exited ${code} loading sakila: ${stderr}`);
  return performance.now() - t0;
}

/** Runs a schema script (several statements) on a PostgreSQL database. */
export async function loadPgScript(url: string, file: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(readFileSync(file, 'utf8'));
  } finally {
    await c.end();
  }
}

/** Runs a schema script (several statements, no DELIMITER blocks) on a MariaDB database. */
export async function loadMysqlScript(url: string, file: string): Promise<void> {
  const c = await mysql.createConnection({ uri: url, multipleStatements: true });
  try {
    await c.query(readFileSync(file, 'utf8'));
  } finally {
    await c.end();
  }
}

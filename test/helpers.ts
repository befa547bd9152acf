import { randomBytes } from 'node:crypto';
import pg from 'pg';
import mysql from 'mysql2/promise';

/** Base URLs of the local services (overridable for other machines). */
export const PG_BASE = process.env.TANDEM_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432';
export const MYSQL_BASE = process.env.TANDEM_TEST_MYSQL ?? 'mysql://root@127.0.0.1:3306';

/** A fresh, uniquely named database name: `<prefix>_<random>` (lower-case, safe in both servers). */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`.toLowerCase();
}

/** Creates an empty PostgreSQL database; returns its URL and a drop function. */
export async function createPgDatabase(prefix = 'tandem_t'): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  const name = uniqueName(prefix);
  const admin = new pg.Client({ connectionString: `${PG_BASE}/postgres` });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  return {
    url: `${PG_BASE}/${name}`,
    name,
    drop: async () => {
      const c = new pg.Client({ connectionString: `${PG_BASE}/postgres` });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    },
  };
}

/** Creates an empty MariaDB database; returns its URL and a drop function. */
export async function createMysqlDatabase(prefix = 'tandem_t'): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  const name = uniqueName(prefix);
  const c = await mysql.createConnection({ uri: `${MYSQL_BASE}/mysql` });
  await c.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await c.end();
  return {
    url: `${MYSQL_BASE}/${name}`,
    name,
    drop: async () => {
      const d = await mysql.createConnection({ uri: `${MYSQL_BASE}/mysql` });
      await d.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await d.end();
    },
  };
}

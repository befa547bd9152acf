import mysql from 'mysql2/promise';
import pg from 'pg';
import { syntheticUser } from '../src/demo/users.js';

/**
 * A small legacy schema in MariaDB (orgs, users with a version column, memberships with a composite key) and
 * its new counterpart in PostgreSQL (renamed columns, users split into users + user_profiles, foreign keys),
 * shared by the backfill, verify and bad-input tests.
 */
export async function createLegacyMysql(url: string, users: number): Promise<void> {
  const c = await mysql.createConnection({ uri: url, multipleStatements: true });
  await c.query(`
    CREATE TABLE orgs (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL);
    CREATE TABLE users (
      id BIGINT PRIMARY KEY, org_id INT NOT NULL, email VARCHAR(254) NOT NULL UNIQUE,
      first_name VARCHAR(100) NOT NULL, last_name VARCHAR(100) NOT NULL, bio TEXT NULL,
      status VARCHAR(16) NOT NULL, balance DECIMAL(12,2) NOT NULL, password_hash VARCHAR(255) NOT NULL,
      created_at DATETIME(6) NOT NULL, updated_at DATETIME(6) NOT NULL, version INT NOT NULL,
      FOREIGN KEY (org_id) REFERENCES orgs (id)
    );
    CREATE TABLE memberships (org_id INT NOT NULL, user_id BIGINT NOT NULL, role VARCHAR(20) NOT NULL, PRIMARY KEY (org_id, user_id));
  `);
  await c.query('INSERT INTO orgs VALUES ?', [Array.from({ length: 20 }, (_, i) => [i + 1, `Org ${i + 1} — ☃`])]);
  for (let i = 1; i <= users; i += 1000) {
    const batch = [];
    const mem = [];
    for (let id = i; id < Math.min(i + 1000, users + 1); id++) {
      const u = syntheticUser(id, 7);
      batch.push([
        u.id,
        (id % 20) + 1,
        u.email,
        u.first_name,
        u.last_name,
        u.bio,
        u.status,
        u.balance,
        u.password_hash,
        u.created_at,
        u.updated_at,
        u.version,
      ]);
      if (id % 3 === 0) mem.push([(id % 20) + 1, id, id % 2 ? 'admin' : 'member']);
    }
    await c.query('INSERT INTO users VALUES ?', [batch]);
    if (mem.length) await c.query('INSERT INTO memberships VALUES ?', [mem]);
  }
  await c.end();
}

export const NEW_SCHEMA = `
  CREATE TABLE organisations (id int PRIMARY KEY, display_name varchar(100) NOT NULL);
  CREATE TABLE users (
    id bigint PRIMARY KEY, organisation_id int NOT NULL REFERENCES organisations (id), email_address varchar(254) NOT NULL UNIQUE,
    password_hash text NOT NULL, status varchar(16) NOT NULL, balance numeric(12,2) NOT NULL,
    created_at timestamp(6) NOT NULL, updated_at timestamp(6) NOT NULL, origin varchar(10) NOT NULL);
  CREATE TABLE user_profiles (user_id bigint PRIMARY KEY REFERENCES users (id), given_name varchar(100) NOT NULL,
    family_name varchar(100) NOT NULL, display_name varchar(201) NOT NULL, bio text);
  CREATE TABLE memberships (organisation_id int NOT NULL REFERENCES organisations (id), user_id bigint NOT NULL REFERENCES users (id),
    role varchar(20) NOT NULL, PRIMARY KEY (organisation_id, user_id));
`;

export async function createNewPostgres(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(NEW_SCHEMA);
  await c.end();
}

/** The config text for the fixture, with overrides spliced into the `users` entity and the backfill block. */
export function fixtureConfig(
  source: string,
  target: string,
  o: { usersExtra?: string; backfill?: string; profilesColumns?: string } = {},
): string {
  return `import { defineConfig } from 'tandem';
export default defineConfig({
  source: ${JSON.stringify(source)},
  target: ${JSON.stringify(target)},
  backfill: ${o.backfill ?? '{ initialChunkRows: 500, maxChunkRows: 2000 }'},
  entities: {
    memberships: {
      table: 'memberships', key: ['org_id', 'user_id'],
      targets: [{ table: 'memberships', columns: { organisation_id: 'org_id', user_id: 'user_id', role: 'role' } }],
    },
    users: {
      table: 'users', key: 'id', version: 'version', sensitive: ['password_hash'],${o.usersExtra ?? ''}
      targets: [
        { table: 'users', columns: { id: 'id', organisation_id: 'org_id', email_address: 'email', password_hash: 'password_hash',
            status: 'status', balance: 'balance', created_at: 'created_at', updated_at: 'updated_at', origin: { value: 'legacy' } } },
        { table: 'user_profiles', columns: ${
          o.profilesColumns ??
          `{ user_id: 'id', given_name: 'first_name', family_name: 'last_name',
            display_name: { transform: (u) => u.first_name + ' ' + u.last_name }, bio: 'bio' }`
        } },
      ],
    },
    orgs: { table: 'orgs', key: 'id', targets: [{ table: 'organisations', columns: { id: 'id', display_name: 'name' } }] },
  },
});
`;
}

/** Counts that must agree after every committed chunk: checkpoint position, target rows, ledger entries. */
export async function backfillCounts(url: string) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const q = async (sql: string) => Number((await c.query(sql)).rows[0]?.n ?? 0);
    return {
      checkpoint: await q(`SELECT rows_copied AS n FROM tandem.checkpoints WHERE entity = 'users'`),
      users: await q(`SELECT count(*) AS n FROM users`),
      profiles: await q(`SELECT count(*) AS n FROM user_profiles`),
      ledger: await q(`SELECT count(*) AS n FROM tandem.version_ledger WHERE entity = 'users'`),
      status: (await c.query(`SELECT status FROM tandem.checkpoints WHERE entity = 'users'`)).rows[0]?.status as
        | string
        | undefined,
    };
  } finally {
    await c.end();
  }
}

/** True once the lease `scope` in the PostgreSQL control plane at `url` has expired (by the server's clock). */
export async function leaseExpired(url: string, scope: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query(
      `SELECT expires_ms <= (extract(epoch from clock_timestamp()) * 1000) AS gone FROM tandem.leases WHERE scope = $1`,
      [scope],
    );
    return r.rows[0]?.gone === true;
  } finally {
    await c.end();
  }
}

/**
 * The config of the target-trigger tests (test/triggers*.test.ts): one entity `films` copying `film` (film_id,
 * title, last_update) from `source` to `target`; `apply` is spliced in after the URLs (`\n  apply: { … },`).
 */
export const filmTriggerConfig = (
  source: string,
  target: string,
  apply = '',
): string => `import { defineConfig } from 'tandem';
export default defineConfig({
  source: ${JSON.stringify(source)}, target: ${JSON.stringify(target)},${apply}
  entities: {
    films: { table: 'film', key: 'film_id',
      targets: [{ table: 'film', columns: { film_id: 'film_id', title: 'title', last_update: 'last_update' } }] },
  },
});
`;

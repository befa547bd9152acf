/**
 * Real stores for the identity bridge tests: a legacy MariaDB database (the shared fixture's `users` table, whose
 * password hashes are replaced by hashes of several real legacy schemes computed here for known passwords) and a
 * new PostgreSQL database (the fixture's new schema, organisations filled, an expression index on
 * lower(email_address) for the `lower` lookup).
 */
import { createHash, randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { loadConfig } from '../../src/config/load.js';
import type { TandemConfig } from '../../src/config/schema.js';
import { md5CryptChecksum } from '../../src/identity/formats/md5-crypt.js';
import { phpassChecksum } from '../../src/identity/formats/phpass.js';
import { shaCryptChecksum } from '../../src/identity/formats/sha-crypt.js';
import { createLegacyMysql, createNewPostgres, fixtureConfig } from '../fixtures.js';
import { createMysqlDatabase, createPgDatabase, writeConfig } from '../helpers.js';

/** The legacy schemes the fixture users get, in turn (user id modulo the list length). */
export const SCHEMES = [
  'hex-md5',
  'django-sha1',
  'django-md5',
  'mysql41',
  'bcrypt',
  'phpass',
  'sha512-crypt',
  'md5-crypt',
  'ldap-ssha',
] as const;
export type FixtureScheme = (typeof SCHEMES)[number];

const hex = (alg: string, ...parts: (string | Buffer)[]) => {
  const h = createHash(alg);
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

/** A hash of `password` in `scheme`, computed with a fresh salt. */
export async function legacyHashOf(scheme: FixtureScheme, password: string): Promise<string> {
  const salt = randomBytes(6).toString('base64').replace(/[+/=]/g, 'x').slice(0, 8);
  switch (scheme) {
    case 'hex-md5':
      return hex('md5', password);
    case 'django-sha1':
      return `sha1$${salt}$${hex('sha1', salt, password)}`;
    case 'django-md5':
      return `md5$${salt}$${hex('md5', salt, password)}`;
    case 'mysql41':
      return `*${createHash('sha1').update(createHash('sha1').update(password, 'utf8').digest()).digest('hex').toUpperCase()}`;
    case 'bcrypt':
      return bcrypt.hashSync(password, 4);
    case 'phpass':
      return `$P$B${salt}${await phpassChecksum(Buffer.from(password, 'utf8'), salt, 13)}`;
    case 'sha512-crypt':
      return `$6$${salt}$${await shaCryptChecksum('sha512', Buffer.from(password, 'utf8'), Buffer.from(salt, 'latin1'), 5000)}`;
    case 'md5-crypt':
      return `$1$${salt}$${md5CryptChecksum(Buffer.from(password, 'utf8'), Buffer.from(salt, 'utf8'), '$1$')}`;
    case 'ldap-ssha': {
      const s = randomBytes(8);
      return `{SSHA}${Buffer.concat([createHash('sha1').update(password, 'utf8').update(s).digest(), s]).toString('base64')}`;
    }
  }
}

/** One legacy user of the fixture. */
export interface FixtureUser {
  id: number;
  email: string;
  password: string;
  hash: string;
  scheme: FixtureScheme;
}

/** The stores, config and users of one test file. */
export interface IdentityStores {
  mysqlUrl: string;
  pgUrl: string;
  configPath: string;
  config: TandemConfig;
  users: FixtureUser[];
  my: mysql.Connection;
  pg: pg.Client;
  drop(): Promise<void>;
}

/** The `identity` block spliced into the fixture config. */
export const IDENTITY_BLOCK = `
      identity: { identifier: 'email', password: 'password_hash', rawHex: { algorithm: 'md5' } },`;

/**
 * Creates both databases with `n` legacy users (ids 1..n). User `id` has the password `pw-<id>-ünï-<random>`
 * (unique, never a substring of another) and a hash of `SCHEMES[id % SCHEMES.length]` (or of `onlyScheme`);
 * `emails` overrides e-mails.
 */
export async function createIdentityStores(
  n: number,
  emails: Record<number, string> = {},
  onlyScheme?: FixtureScheme,
): Promise<IdentityStores> {
  const myDb = await createMysqlDatabase('tandem_idl');
  const pgDb = await createPgDatabase('tandem_idn');
  await createLegacyMysql(myDb.url, n);
  await createNewPostgres(pgDb.url);
  const my = await mysql.createConnection({ uri: myDb.url });
  const users: FixtureUser[] = [];
  const tag = randomBytes(3).toString('hex');
  for (let id = 1; id <= n; id++) {
    const scheme = onlyScheme ?? SCHEMES[id % SCHEMES.length]!;
    const password = `pw-${id}-\u00fcn\u00ef-${tag}x`;
    const hash = await legacyHashOf(scheme, password);
    const email = emails[id];
    if (email !== undefined)
      await my.query('UPDATE users SET password_hash = ?, email = ? WHERE id = ?', [hash, email, id]);
    else await my.query('UPDATE users SET password_hash = ? WHERE id = ?', [hash, id]);
    const [rows] = await my.query('SELECT email FROM users WHERE id = ?', [id]);
    users.push({ id, email: (rows as { email: string }[])[0]!.email, password, hash, scheme });
  }
  const c = new pg.Client({ connectionString: pgDb.url });
  await c.connect();
  await c.query(`INSERT INTO organisations SELECT g, 'Org ' || g FROM generate_series(1, 20) g`);
  await c.query('CREATE INDEX users_lower_email ON users (lower(email_address))');
  const configPath = writeConfig(fixtureConfig(myDb.url, pgDb.url, { usersExtra: IDENTITY_BLOCK }));
  const config = await loadConfig(configPath);
  return {
    mysqlUrl: myDb.url,
    pgUrl: pgDb.url,
    configPath,
    config,
    users,
    my,
    pg: c,
    async drop() {
      await my.end().catch(() => {});
      await c.end().catch(() => {});
      await Promise.all([myDb.drop(), pgDb.drop()]);
    },
  };
}

/** Cheap Argon2id parameters for tests where the policy itself is not under test. */
export const FAST_ARGON2 = { memoryCost: 1024, timeCost: 1, parallelism: 1 };

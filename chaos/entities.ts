/**
 * The chaos entities: their legacy and new tables per dialect, the Tandem config that maps one to the other, and
 * how the workload makes values. Every seed runs all four in one config:
 *
 * | entity | key | version | target |
 * |---|---|---|---|
 * | users | integer | `version` | split into `accounts` + `account_profiles`; `email` is a second unique index, swapped by the workload |
 * | memberships | composite (org_id, user_no) | `version` | `org_members` |
 * | devices | string (UUID) | `version` | `devices` (device_id) |
 * | settings | integer | none: last writer wins (`rev` is plain data to Tandem, the judge's write order) | `prefs` |
 *
 * Column types are chosen so that values round-trip exactly (integers, strings, 2-digit decimals, UUIDs): the
 * judge (chaos/judge.ts) compares them as text.
 */

export type SourceDialect = 'mysql' | 'postgres' | 'sqlite';
export type TargetDialect = 'mysql' | 'postgres';
type Row = Record<string, unknown>;

/** One chaos entity: what the writers need to know of it. */
export interface ChaosEntity {
  name: string;
  table: string;
  key: string[];
  /** The column the writer increments in the row-locking transaction (`version`, or `rev` for settings). */
  counter: string;
  /** Share of the workload's operations. */
  weight: number;
  /** Values of a fresh row (or of an update: all non-key columns new) for `key`, at counter `n`. */
  values(r: () => number, key: Row, n: number): Row;
}

const pick = <T>(r: () => number, a: readonly T[]) => a[Math.floor(r() * a.length)]!;
/** First names: one word each (the reverse mapping splits `display_name` at its first space). */
const NAMES = ['Ada', 'Bo', 'Chen', 'Dana', 'Eli', 'Fern', 'Gus', 'Hana', 'Ivo', 'June'];
const word = (r: () => number, n: number) =>
  Array.from({ length: n }, () => 'abcdefghijklmnopqrstuvwxyz'[Math.floor(r() * 26)]).join('');
const cents = (r: () => number) => (Math.floor(r() * 10_000_000) / 100).toFixed(2);

/** A UUID (v4 layout) from the generator `r`, lower case. */
export function uuidFrom(r: () => number): string {
  const h = Array.from({ length: 32 }, () => Math.floor(r() * 16).toString(16));
  h[12] = '4';
  h[16] = '89ab'[Math.floor(r() * 4)]!;
  const s = h.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

export const CHAOS_ENTITIES: ChaosEntity[] = [
  {
    name: 'users',
    table: 'users',
    key: ['id'],
    counter: 'version',
    weight: 0.4,
    values: (r, key, n) => ({
      ...key,
      email: `u${key.id}@example.com`,
      first_name: pick(r, NAMES),
      last_name: word(r, 3 + Math.floor(r() * 6)),
      bio: r() < 0.2 ? null : `bio ${word(r, 8)}`,
      status: pick(r, ['active', 'inactive', 'banned']),
      balance: cents(r),
      version: n,
    }),
  },
  {
    name: 'memberships',
    table: 'memberships',
    key: ['org_id', 'user_no'],
    counter: 'version',
    weight: 0.2,
    values: (r, key, n) => ({
      ...key,
      role: pick(r, ['owner', 'admin', 'member', 'guest']),
      points: Math.floor(r() * 1e9),
      version: n,
    }),
  },
  {
    name: 'devices',
    table: 'devices',
    key: ['id'],
    counter: 'version',
    weight: 0.2,
    values: (r, key, n) => ({
      ...key,
      name: `dev-${word(r, 6)}`,
      kind: pick(r, ['phone', 'tablet', 'laptop']),
      version: n,
    }),
  },
  {
    name: 'settings',
    table: 'settings',
    key: ['id'],
    counter: 'rev',
    weight: 0.2,
    values: (r, key, n) => ({ ...key, rev: n, value_text: r() < 0.15 ? null : `v=${word(r, 10)}` }),
  },
];

/** The legacy tables in `d`. */
export function sourceDdl(d: SourceDialect): string[] {
  const big = d === 'sqlite' ? 'INTEGER' : 'BIGINT';
  const uuid = d === 'postgres' ? 'uuid' : d === 'mysql' ? 'CHAR(36)' : 'TEXT';
  const text = d === 'sqlite' ? 'TEXT' : 'TEXT';
  return [
    `CREATE TABLE users (id ${big} PRIMARY KEY, email VARCHAR(254) NOT NULL UNIQUE, first_name VARCHAR(100) NOT NULL, last_name VARCHAR(100) NOT NULL,
      bio ${text} NULL, status VARCHAR(16) NOT NULL, balance DECIMAL(12,2) NOT NULL, version ${big} NOT NULL)`,
    `CREATE TABLE memberships (org_id INTEGER NOT NULL, user_no INTEGER NOT NULL, role VARCHAR(16) NOT NULL, points ${big} NOT NULL, version ${big} NOT NULL,
      PRIMARY KEY (org_id, user_no))`,
    `CREATE TABLE devices (id ${uuid} PRIMARY KEY NOT NULL, name VARCHAR(100) NOT NULL, kind VARCHAR(16) NOT NULL, version ${big} NOT NULL)`,
    `CREATE TABLE settings (id ${big} PRIMARY KEY, rev ${big} NOT NULL, value_text VARCHAR(200) NULL)`,
  ];
}

/** The new tables in `d` (PGlite: `postgres`). Each carries the version (settings: `rev`) so the judge can read it. */
export function targetDdl(d: TargetDialect): string[] {
  const uuid = d === 'postgres' ? 'uuid' : 'CHAR(36)';
  return [
    `CREATE TABLE accounts (id BIGINT PRIMARY KEY, email_address VARCHAR(254) NOT NULL UNIQUE, state VARCHAR(16) NOT NULL, balance DECIMAL(12,2) NOT NULL, version BIGINT NOT NULL)`,
    `CREATE TABLE account_profiles (account_id BIGINT PRIMARY KEY REFERENCES accounts (id), display_name VARCHAR(201) NOT NULL, bio TEXT NULL)`,
    `CREATE TABLE org_members (org_id INTEGER NOT NULL, user_no INTEGER NOT NULL, role VARCHAR(16) NOT NULL, points BIGINT NOT NULL, version BIGINT NOT NULL, PRIMARY KEY (org_id, user_no))`,
    `CREATE TABLE devices (device_id ${uuid} PRIMARY KEY NOT NULL, name VARCHAR(100) NOT NULL, kind VARCHAR(16) NOT NULL, version BIGINT NOT NULL)`,
    `CREATE TABLE prefs (id BIGINT PRIMARY KEY, rev BIGINT NOT NULL, value_text VARCHAR(200) NULL)`,
  ];
}

/** The Tandem config file of a seed. `control`: where the phase lives, if not the target. */
export function configText(o: { source: string; target: string; control?: string; transport?: string }): string {
  return `import { defineConfig } from 'tandem';
export default defineConfig({
  source: ${JSON.stringify(o.source)},
  target: ${JSON.stringify(o.target)},${o.control ? `\n  control: ${JSON.stringify(o.control)},` : ''}${o.transport ? `\n  transport: ${o.transport},` : ''}
  // a killed backfill's lease expires within 2 s (the chaos restarts it after that)
  backfill: { initialChunkRows: 500, maxChunkRows: 2000, chunkSeconds: 0.2, leaseSeconds: 2 },
  entities: {
    users: {
      table: 'users', key: 'id', version: 'version',
      targets: [
        { table: 'accounts', columns: { id: 'id', email_address: 'email', state: 'status', balance: 'balance', version: 'version' } },
        { table: 'account_profiles', columns: { account_id: 'id', display_name: { transform: (u) => u.first_name + ' ' + u.last_name }, bio: 'bio' } },
      ],
      // after write cutover the reverse relay rebuilds the names from display_name: first names have no space
      // (chaos/entities.ts NAMES), so the split at the first space is exact
      reverse: {
        columns: {
          first_name: (rows) => { const d = String(rows.account_profiles?.display_name ?? ''); return d.slice(0, d.indexOf(' ')); },
          last_name: (rows) => { const d = String(rows.account_profiles?.display_name ?? ''); return d.slice(d.indexOf(' ') + 1); },
        },
      },
    },
    memberships: {
      table: 'memberships', key: ['org_id', 'user_no'], version: 'version',
      targets: [{ table: 'org_members', columns: { org_id: 'org_id', user_no: 'user_no', role: 'role', points: 'points', version: 'version' } }],
    },
    devices: {
      table: 'devices', key: 'id', version: 'version',
      targets: [{ table: 'devices', columns: { device_id: 'id', name: 'name', kind: 'kind', version: 'version' } }],
    },
    // no version: last writer wins
    settings: {
      table: 'settings', key: 'id',
      targets: [{ table: 'prefs', columns: { id: 'id', rev: 'rev', value_text: 'value_text' } }],
    },
  },
});
`;
}

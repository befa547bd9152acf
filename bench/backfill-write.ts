/**
 * The write half of a backfill chunk on PostgreSQL, alone, A/B/C in one process (issue 15): the same 5,000-row
 * chunks of synthetic users (src/demo/users.ts, seed 42) written into an indexed `users` table (PRIMARY KEY id,
 * UNIQUE email) and a version ledger, in one transaction per chunk, by each write path in turn on freshly
 * truncated tables (after a CHECKPOINT), so the paths meet the same machine load:
 *
 * - `twoStep`: ledger advance (`unnest … ON CONFLICT … RETURNING`), then the upsert of the winners (the path
 *   before issue 15);
 * - `cte`: `sql.ledgeredUpsert`, one data-modifying statement;
 * - `copy`: COPY text into a temporary staging table, then one statement from it (what `sql.stagedUpsert` does);
 * - `floor`, `floorLedger`: plain COPY into the indexed table (and into the ledger): no version check, no
 *   conflict handling — what a guarded write cannot beat.
 *
 *   node --import tsx bench/backfill-write.ts [CHUNKS=40] [PATHS=twoStep,cte,copy] [ROUNDS=2]
 *
 * Prints one line per path and round: seconds, node CPU, load average. Uses (and drops) database `tandem_bench_write_<random>`.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { postgresSql, pgAdvanceLedger, pgArrayParam } from '../src/stores/postgres/sql.js';
import { syntheticUser } from '../src/demo/users.js';
import { PG_BASE } from './common.js';
const db = `tandem_bench_write_${randomBytes(4).toString('hex')}`;
const admin = new pg.Client({ connectionString: `${PG_BASE}/postgres` });
await admin.connect();
await admin.query(`DROP DATABASE IF EXISTS ${db}`);
await admin.query(`CREATE DATABASE ${db}`);
const c = new pg.Client({
  connectionString: `${PG_BASE}/${db}`,
  types: { getTypeParser: (() => (v: string) => v) as never },
});
await c.connect();
await c.query(`CREATE SCHEMA tandem; CREATE TABLE tandem.version_ledger (entity varchar(128) not null, entity_key varchar(512) not null, version bigint not null, deleted boolean not null, applied_at timestamptz not null default now(), primary key (entity, entity_key));
CREATE TABLE users (id bigint PRIMARY KEY, email varchar(254) NOT NULL UNIQUE, name varchar(200) NOT NULL, bio text, status varchar(16) NOT NULL, password_hash varchar(255) NOT NULL, balance numeric(12,2) NOT NULL, created_at timestamp(6) NOT NULL, updated_at timestamp(6) NOT NULL, version integer NOT NULL)`);
const sql = postgresSql('public');
const cols = [
  'id',
  'email',
  'name',
  'bio',
  'status',
  'password_hash',
  'balance',
  'created_at',
  'updated_at',
  'version',
];
const types = [
  'bigint',
  'character varying(254)',
  'character varying(200)',
  'text',
  'character varying(16)',
  'character varying(255)',
  'numeric(12,2)',
  'timestamp(6) without time zone',
  'timestamp(6) without time zone',
  'integer',
];
const cats = ['integer', 'text', 'text', 'text', 'text', 'text', 'decimal', 'timestamp', 'timestamp', 'integer'];
const info = cols.map((name, i) => ({ name, dataType: types[i], category: cats[i] })) as never;
const CH = 5000,
  N = Number(process.argv[2] ?? 40);
const chunks: { keys: string[]; versions: bigint[]; rows: unknown[][] }[] = [];
for (let k = 0; k < N; k++) {
  const rows: unknown[][] = [];
  for (let id = k * CH + 1; id <= (k + 1) * CH; id++) {
    const u = syntheticUser(id, 42);
    rows.push([
      String(u.id),
      u.email,
      `${u.first_name} ${u.last_name}`,
      u.bio,
      u.status,
      u.password_hash,
      u.balance,
      u.created_at,
      u.updated_at,
      u.version,
    ]);
  }
  const keyed = rows.map((r) => ({ k: JSON.stringify([r[0]]), r })).sort((a, b) => (a.k < b.k ? -1 : 1));
  chunks.push({
    keys: keyed.map((x) => x.k),
    versions: keyed.map((x) => BigInt(x.r[9] as number)),
    rows: keyed.map((x) => x.r),
  });
}
const tsv = (v: unknown): string => {
  if (v === null || v === undefined) return '\\N';
  const s = String(v);
  return /[\\\t\n\r]/.test(s)
    ? s.replace(/[\\\t\n\r]/g, (ch) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[ch]!)
    : s;
};
async function twoStep(ch: (typeof chunks)[0]) {
  await c.query('BEGIN');
  const won = new Set(
    (
      await c.query(pgAdvanceLedger('tandem.version_ledger', 'newer'), [
        'users',
        pgArrayParam(ch.keys),
        pgArrayParam(ch.versions),
        pgArrayParam(ch.keys.map(() => false)),
      ])
    ).rows.map((r) => r.entity_key),
  );
  const rows = ch.rows.filter((_, i) => won.has(ch.keys[i]!));
  await c.query('SAVEPOINT a');
  await c.query('SAVEPOINT b');
  const st = sql.upsert({ table: 'users', columns: cols, key: ['id'], rows, columnInfo: info });
  await c.query(st.sql, st.params);
  await c.query('RELEASE SAVEPOINT b');
  await c.query('RELEASE SAVEPOINT a');
  await c.query('COMMIT');
}
async function cte(ch: (typeof chunks)[0]) {
  await c.query('BEGIN');
  await c.query('SAVEPOINT a');
  const st = sql.ledgeredUpsert!({
    ledgerTable: 'tandem.version_ledger',
    entity: 'users',
    mode: 'newer',
    keys: ch.keys,
    versions: ch.versions,
    table: 'users',
    columns: cols,
    key: ['id'],
    rows: ch.rows,
    columnInfo: info,
  });
  await c.query(st.sql, st.params);
  await c.query('RELEASE SAVEPOINT a');
  await c.query('COMMIT');
}
let staged = false;
async function copy(ch: (typeof chunks)[0]) {
  if (!staged) {
    await c.query(
      `CREATE TEMP TABLE tandem_stage (tandem_k text, tandem_v int8, ${cols.map((cn, i) => `${cn} ${types[i]}`).join(', ')}) ON COMMIT DELETE ROWS`,
    );
    staged = true;
  }
  await c.query('BEGIN');
  await c.query('SAVEPOINT a');
  const lines: string[] = [];
  for (let i = 0; i < ch.rows.length; i++)
    lines.push(`${tsv(ch.keys[i])}\t${ch.versions[i]}\t${ch.rows[i]!.map(tsv).join('\t')}\n`);
  await pipeline(Readable.from([lines.join('')]), c.query(copyFrom(`COPY tandem_stage FROM STDIN`)));
  await c.query(
    `WITH l AS (INSERT INTO tandem.version_ledger AS l (entity, entity_key, version, deleted, applied_at) SELECT $1, s.tandem_k, s.tandem_v, false, now() FROM tandem_stage s ORDER BY s.tandem_k ON CONFLICT (entity, entity_key) DO UPDATE SET version = EXCLUDED.version, deleted = EXCLUDED.deleted, applied_at = EXCLUDED.applied_at WHERE l.version < EXCLUDED.version RETURNING l.entity_key)
   INSERT INTO users (${cols.join(', ')}) SELECT ${cols.map((x) => 's.' + x).join(', ')} FROM tandem_stage s JOIN l ON l.entity_key = s.tandem_k ON CONFLICT (id) DO UPDATE SET ${cols
     .slice(1)
     .map((x) => `${x} = EXCLUDED.${x}`)
     .join(', ')} WHERE (${cols
     .slice(1)
     .map((x) => 'users.' + x)
     .join(', ')}) IS DISTINCT FROM (${cols
     .slice(1)
     .map((x) => 'EXCLUDED.' + x)
     .join(', ')})`,
    ['users'],
  );
  await c.query('RELEASE SAVEPOINT a');
  await c.query('COMMIT');
}
async function floor(ch: (typeof chunks)[0]) {
  await c.query('BEGIN');
  const lines: string[] = [];
  for (let i = 0; i < ch.rows.length; i++) lines.push(`${ch.rows[i]!.map(tsv).join('\t')}\n`);
  await pipeline(Readable.from([lines.join('')]), c.query(copyFrom(`COPY users FROM STDIN`)));
  await c.query('COMMIT');
}
async function floorLedger(ch: (typeof chunks)[0]) {
  await c.query('BEGIN');
  const lines: string[] = [];
  for (let i = 0; i < ch.rows.length; i++) lines.push(`${ch.rows[i]!.map(tsv).join('\t')}\n`);
  await pipeline(Readable.from([lines.join('')]), c.query(copyFrom(`COPY users FROM STDIN`)));
  const l: string[] = [];
  for (let i = 0; i < ch.rows.length; i++) l.push(`users\t${ch.keys[i]}\t${ch.versions[i]}\tf\t2020-01-01\n`);
  await pipeline(Readable.from([l.join('')]), c.query(copyFrom(`COPY tandem.version_ledger FROM STDIN`)));
  await c.query('COMMIT');
}
const variants: Record<string, (ch: (typeof chunks)[0]) => Promise<void>> = { twoStep, cte, copy, floor, floorLedger };
const order = (process.argv[3] ?? 'twoStep,cte,copy').split(',');
for (let round = 0; round < Number(process.argv[4] ?? 2); round++)
  for (const name of order) {
    await c.query('TRUNCATE users, tandem.version_ledger');
    await c.query('CHECKPOINT');
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    for (const ch of chunks) await variants[name]!(ch);
    const cpu = process.cpuUsage(cpu0);
    console.log(
      `${name.padEnd(8)} ${((performance.now() - t0) / 1000).toFixed(2)} s for ${N * CH} rows; node cpu ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s; load ${readFileSync('/proc/loadavg', 'utf8').slice(0, 14)}`,
    );
  }
await c.end();
await admin.query(`DROP DATABASE ${db} WITH (FORCE)`);
await admin.end();

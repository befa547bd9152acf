import { predicateSql } from '../../core/where.js';
import { pgFenceShareLock } from './fence.js';
import { canonicalBoolean } from '../../core/canonical.js';
import { canonicalBit } from '../../core/extra-types.js';
import { checkIdentifier, ledgerWinsSql } from '../common.js';
import type {
  ColumnInfo,
  KeysetQuery,
  LedgeredUpsertQuery,
  LedgerMode,
  SqlDialect,
  Statement,
  StoreCapabilities,
  UpsertQuery,
} from '../types.js';
import { postgresPrepare } from './prepare.js';
import { pgArrayLiteral, readArray } from '../../core/composite.js';

/**
 * Quotes a PostgreSQL identifier: `"name"`, doubling embedded quotes.
 * @internal
 */
export function pgIdent(name: string): string {
  return `"${checkIdentifier(name).replace(/"/g, '""')}"`;
}

/**
 * SQL builders for PostgreSQL (and PGlite, which is PostgreSQL). `schema` qualifies user tables.
 * Keyset reads use row comparison `(a, b) > ($1, $2)`, which PostgreSQL serves from a composite index.
 * Bulk upserts use `unnest($1::type[], …)` so a chunk of any size is one statement with one parameter per column.
 * @internal
 */
export function postgresSql(schema: string): SqlDialect {
  const table = (name: string) => `${pgIdent(schema)}.${pgIdent(name)}`;
  const param = (i: number) => `$${i}`;
  return {
    ...pgControlSql,
    ident: pgIdent,
    table,
    param,
    keyset(q: KeysetQuery): Statement {
      const params: unknown[] = [];
      const keyExpr = q.key.map((k, i) =>
        q.byteOrder && isStringCategory(q.keyCategories?.[i]) ? `${pgIdent(k)} COLLATE "C"` : pgIdent(k),
      );
      const where: string[] = [];
      if (q.after) {
        const ph = q.after.map((v) => {
          params.push(v);
          return param(params.length);
        });
        where.push(`(${keyExpr.join(', ')}) > (${ph.join(', ')})`);
      }
      if (q.upTo) {
        const ph = q.upTo.map((v) => {
          params.push(v);
          return param(params.length);
        });
        where.push(`(${keyExpr.join(', ')}) <= (${ph.join(', ')})`);
      }
      if (q.where) where.push(predicateSql(q.where, param, params));
      const sql = `SELECT ${q.columns.map(pgIdent).join(', ')} FROM ${table(q.table)}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ${keyExpr.join(', ')} LIMIT ${Math.max(1, Math.floor(q.limit))}`;
      return { sql, params };
    },
    upsert(q: UpsertQuery): Statement {
      const cols = q.columns.map(pgIdent).join(', ');
      const conflict = pgUpsertConflict(table(q.table), q);
      if (q.columnInfo) {
        const u = pgUnnest(q, q.columnInfo, 1);
        return {
          sql: `INSERT INTO ${table(q.table)} (${cols}) SELECT ${u.select.join(', ')} FROM unnest(${u.casts.join(', ')}) AS u(${u.names.join(', ')}) ${conflict}`,
          params: u.params,
        };
      }
      const params: unknown[] = [];
      const values = q.rows.map(
        (r) =>
          `(${r
            .map((v) => {
              params.push(v);
              return param(params.length);
            })
            .join(', ')})`,
      );
      return { sql: `INSERT INTO ${table(q.table)} (${cols}) VALUES ${values.join(', ')} ${conflict}`, params };
    },
    ledgeredUpsert(q: LedgeredUpsertQuery): Statement {
      if (!q.columnInfo) throw new TypeError('ledgeredUpsert needs columnInfo');
      if (q.keys.length !== q.rows.length || q.versions.length !== q.rows.length)
        throw new TypeError('ledgeredUpsert: keys, versions and rows differ in length');
      const cols = q.columns.map(pgIdent).join(', ');
      const conflict = pgUpsertConflict(table(q.table), q);
      // $1 entity, $2 ledger keys, $3 versions, then one array per column
      const u = pgUnnest(q, q.columnInfo, 4);
      // u: the rows with their ledger key and version (materialized once, read by both writes);
      // l: the ledger's conditional upsert, RETURNING the keys whose version won; the target upsert takes only
      // the rows of those keys. Both are one statement: one snapshot, one round trip
      const sql = `WITH u AS MATERIALIZED (SELECT * FROM unnest($2::text[], $3::int8[], ${u.casts.join(', ')}) AS u(tandem_k, tandem_v, ${u.names.join(', ')})),
  l AS (INSERT INTO ${q.ledgerTable} AS l (entity, entity_key, version, deleted, applied_at)
    SELECT $1, u.tandem_k, u.tandem_v, false, now() FROM u
    ON CONFLICT (entity, entity_key) DO UPDATE SET version = EXCLUDED.version, deleted = EXCLUDED.deleted, applied_at = EXCLUDED.applied_at
    WHERE ${ledgerWinsSql(q.mode, 'l', 'EXCLUDED')}
    RETURNING l.entity_key),
  w AS (INSERT INTO ${table(q.table)} (${cols}) SELECT ${u.select.join(', ')} FROM u JOIN l ON l.entity_key = u.tandem_k ${conflict})
SELECT count(*)::int AS won FROM l`;
      return {
        sql,
        params: [q.entity, pgArrayParam(q.keys), pgArrayParam(q.versions), ...u.params],
      };
    },
    count(name: string): Statement {
      return { sql: `SELECT count(*) AS n FROM ${table(name)}`, params: [] };
    },
  };
}

/**
 * The `unnest` source of a bulk write: one array parameter per column (numbered from `first`), the casts
 * (`$n::type[]`), the column names of the unnest alias (`c0`, `c1`, …) and the select list over alias `u`. json
 * values travel as text (a JS array would otherwise become a PostgreSQL array literal); array columns travel as a
 * text[] of array literals, cast to their type row by row (unnest of a text[][] would flatten it); MySQL BIT(n)
 * bytes become binary digits, a BIT(1) flag a boolean (issue 13, types-b).
 */
function pgUnnest(
  q: UpsertQuery,
  info: ColumnInfo[],
  first: number,
): { params: unknown[]; casts: string[]; names: string[]; select: string[] } {
  const params = q.columns.map((_, ci) => {
    const c = info[ci]!;
    return pgArrayParam(q.rows.map((r) => pgCell(r[ci], c)));
  });
  const casts = info.map((c, i) =>
    c.category === 'array' ? `$${first + i}::text[]` : `$${first + i}::${arrayType(c.dataType)}`,
  );
  const names = info.map((_, i) => `c${i}`);
  const select = info.map((c, i) => (c.category === 'array' ? `u.c${i}::${c.dataType}` : `u.c${i}`));
  return { params, casts, names, select };
}

/**
 * The `ON CONFLICT (key) …` of an upsert into `qualified` (the table as written in `INSERT INTO`): update the
 * non-key columns where a value differs ({@link pgChangedWhere}), or do nothing when every column is a key column.
 * @internal
 */
export function pgUpsertConflict(qualified: string, q: UpsertQuery): string {
  const nonKey = q.columns.filter((c) => !q.key.includes(c));
  return nonKey.length
    ? `ON CONFLICT (${q.key.map(pgIdent).join(', ')}) DO UPDATE SET ${nonKey.map((c) => `${pgIdent(c)} = EXCLUDED.${pgIdent(c)}`).join(', ')} WHERE ${pgChangedWhere(qualified, q, nonKey)}`
    : `ON CONFLICT (${q.key.map(pgIdent).join(', ')}) DO NOTHING`;
}

/**
 * One mapped value as PostgreSQL takes it for a column of `c`'s category: MySQL BIT(n) bytes as binary digits, a
 * BIT(1) flag (bytes) into boolean, a json value that is not text as its JSON text, an array column's value as
 * its array literal text ({@link arrayCell}); anything else as it is. undefined becomes null.
 * @internal
 */
export function pgCell(v: unknown, c: ColumnInfo): unknown {
  if (c.category === 'array') return arrayCell(v);
  if (v === null || v === undefined) return null;
  if (c.category === 'bit' && typeof v !== 'string') return canonicalBit(v, c.bits);
  if (c.category === 'boolean' && Buffer.isBuffer(v)) return canonicalBoolean(v);
  if (c.category === 'json' && typeof v !== 'string') return JSON.stringify(v);
  return v;
}

/** Categories whose `=` is value identity in PostgreSQL (no json, xml, point: they have none or a loose one). */
const PG_EXACT_EQUALITY = new Set([
  'integer',
  'decimal',
  'float',
  'text',
  'boolean',
  'timestamp',
  'timestamptz',
  'date',
  'uuid',
  'binary',
]);

/**
 * The `WHERE` of an upsert's `DO UPDATE`: the existing row (`qualified`, the table as written in `INSERT INTO`)
 * differs from `EXCLUDED` in some non-key column, so a re-apply of unchanged rows writes nothing and fires no
 * UPDATE trigger (docs/mapping.md). `(a, b) IS DISTINCT FROM (EXCLUDED.a, EXCLUDED.b)`; a column whose
 * type has no exact `=` (json, arrays, intervals, citext, geometric and unknown types, or any column without
 * `columnInfo`) is compared by its text form (`::text`), which can only make more rows count as changed.
 */
function pgChangedWhere(qualified: string, q: UpsertQuery, nonKey: string[]): string {
  const side = (prefix: string) =>
    nonKey.map((c) => {
      const info = q.columnInfo?.[q.columns.indexOf(c)];
      const exact = info && PG_EXACT_EQUALITY.has(info.category) && info.dataType !== 'citext';
      return exact ? `${prefix}.${pgIdent(c)}` : `${prefix}.${pgIdent(c)}::text`;
    });
  return `(${side(qualified).join(', ')}) IS DISTINCT FROM (${side('EXCLUDED').join(', ')})`;
}

/**
 * Key columns ordered `COLLATE "C"` for byte order: text (or unknown) ones. Other types order by their own
 * comparison, which is byte order already where it matters (uuid compares its 16 bytes) and which may not
 * take a collation at all (`uuid COLLATE "C"` is an error).
 */
function isStringCategory(c: string | undefined): boolean {
  return c === 'text' || c === undefined;
}

/**
 * One value of an array column as the array literal text it is written as: a JS array (nested for more
 * dimensions) as `{"a","b"}`; a string that is a PostgreSQL array literal as it is; a JSON array text
 * (`["a","b"]`, from a JSON column) as the literal of its elements; NULL as null.
 */
function arrayCell(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) return pgArrayLiteral(v);
  const s = Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
  if (s.trimStart().startsWith('{')) return s;
  try {
    return pgArrayLiteral(readArray(s));
  } catch {
    return s; // PostgreSQL refuses it with its own message (malformed array literal)
  }
}

/** `varchar(60)` → `varchar(60)[]`; `character varying(60)` likewise; array types stay as they are. */
function arrayType(dataType: string): string {
  return dataType.endsWith('[]') ? dataType : `${dataType}[]`;
}

/**
 * The version-ledger advance as one statement: conditional upsert returning the keys that moved.
 * @internal
 */
export function pgAdvanceLedger(ledgerTable: string, mode: LedgerMode): string {
  return `INSERT INTO ${ledgerTable} AS l (entity, entity_key, version, deleted, applied_at)
    SELECT $1, u.k, u.v, u.d, now() FROM unnest($2::text[], $3::int8[], $4::bool[]) AS u(k, v, d)
    ON CONFLICT (entity, entity_key) DO UPDATE SET version = EXCLUDED.version, deleted = EXCLUDED.deleted, applied_at = EXCLUDED.applied_at
    WHERE ${ledgerWinsSql(mode, 'l', 'EXCLUDED')}
    RETURNING l.entity_key`;
}

/**
 * One array parameter as PostgreSQL's array literal text (`{"a","b\\"c",NULL}`), built with one `join` — the
 * same text `pg` would build element by element, at a fraction of the garbage. Strings are quoted with `\` and
 * `"` escaped; Buffers become `\\x…` (bytea hex); numbers, bigints and booleans their text; null `NULL`.
 * Values that are themselves arrays or objects (array-typed columns) are left to the driver: the JS array is
 * returned unchanged.
 * @internal
 */
export function pgArrayParam(values: unknown[]): string | unknown[] {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) parts[i] = 'NULL';
    else if (typeof v === 'string') parts[i] = `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
    else if (typeof v === 'number' || typeof v === 'bigint') parts[i] = String(v);
    else if (typeof v === 'boolean') parts[i] = v ? 't' : 'f';
    else if (Buffer.isBuffer(v)) parts[i] = `"\\\\x${v.toString('hex')}"`;
    else if (v instanceof Date) parts[i] = `"${v.toISOString()}"`;
    else return values;
  }
  return `{${parts.join(',')}}`;
}

/**
 * What PostgreSQL (and PGlite) can do.
 * @internal
 */
export const postgresCapabilities: StoreCapabilities = {
  skipLocked: true,
  maxParams: 65535,
  returning: true,
  arrayParams: true,
  abortsTransactionOnError: true,
  transactionalDdl: true,
  schemas: true,
  tableNameCase: 'sensitive',
  columnNamesFoldCase: false,
  enforcesTypes: true,
};

type ControlPart = Omit<SqlDialect, 'ident' | 'table' | 'param' | 'keyset' | 'upsert' | 'count' | 'checksum'>;

/**
 * The control-plane builders of PostgreSQL (clock, insert-ignore, DDL types, identity upserts, prepare).
 * @internal
 */
export const pgControlSql: ControlPart = {
  now: () => 'now()',
  utcNow: () => 'now()',
  nowPlus: (ms: number) => `now() + interval '${(Math.max(0, ms) / 1000).toFixed(3)} seconds'`,
  nowMs: () => '(floor(extract(epoch from clock_timestamp()) * 1000))::bigint',
  insertIgnore: (table: string, columns: string[], conflict: string[]) =>
    `INSERT INTO ${table} (${columns.map(pgIdent).join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')}) ON CONFLICT (${conflict.map(pgIdent).join(', ')}) DO NOTHING`,
  random: () => 'random()',
  intDiv: (a: string, b: string) => `${a} / ${b}`,
  beginWrite: 'BEGIN',
  shareLock: pgFenceShareLock,
  asyncCommit: 'SET LOCAL synchronous_commit TO OFF',
  userTriggersOff: 'SET LOCAL session_replication_role = replica',
  ddl: {
    text: (n: number) => `varchar(${n})`,
    bigint: 'bigint',
    bool: 'boolean',
    ts: 'timestamptz',
    serial: 'bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY',
    longtext: 'text',
    tableSuffix: '',
    inlineIndexes: false,
    indexName: (n: string) => n,
    createNamespace: 'CREATE SCHEMA IF NOT EXISTS tandem',
    lock: { acquire: `SELECT pg_advisory_xact_lock(${0x74616e64})`, release: null }, // 'tand'
  },
  identity: {
    ledgerWrite(table, mode) {
      const into = `${table} AS l (entity, entity_key, identifier, state, scheme, updated_ms, migrated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)`;
      if (mode === 'insert-only') return `INSERT INTO ${into} ON CONFLICT (entity, entity_key) DO NOTHING`;
      return `INSERT INTO ${into} ON CONFLICT (entity, entity_key) DO UPDATE SET identifier = EXCLUDED.identifier, state = EXCLUDED.state,
          scheme = COALESCE(EXCLUDED.scheme, l.scheme), updated_ms = EXCLUDED.updated_ms, migrated_ms = COALESCE(EXCLUDED.migrated_ms, l.migrated_ms)${
            mode === 'unless-migrated' ? ` WHERE l.state <> 'migrated'` : ''
          }`;
    },
    failureCount: (table) =>
      `INSERT INTO ${table} AS f (id, failures, last_failure_ms) VALUES ($1, 1, $2) ON CONFLICT (id) DO UPDATE SET failures = CASE WHEN f.last_failure_ms < $3 THEN 1 ELSE f.failures + 1 END, last_failure_ms = EXCLUDED.last_failure_ms`,
  },
  prepare: postgresPrepare,
};

import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFromStdin } from 'pg-copy-streams';
import { ledgerWinsSql } from '../common.js';
import type { ColumnInfo, LedgeredUpsertQuery, StagedUpsert } from '../types.js';
import { pgError } from './connection.js';
import { pgCell, pgIdent, pgUpsertConflict } from './sql.js';

/**
 * Bulk load on PostgreSQL (issue 15): a chunk's rows go to the server with `COPY … FROM STDIN` (text format) into a
 * temporary staging table of the connection, and one data-modifying statement takes them from there — the
 * version ledger's conditional upsert `RETURNING` the keys whose version won, joined to the staged rows, then the
 * target's `INSERT … ON CONFLICT (key) DO UPDATE … WHERE <a value differs>`. The way pgloader and pgcopydb load
 * (COPY), with the guarded apply's semantics kept: same ledger rule, same lock order, same conflict clause as
 * `sql.upsert` and `sql.ledgeredUpsert` (src/stores/postgres/sql.ts).
 *
 * The staging table is `pg_temp.tandem_stage_<hash>` (one per target table and column list, so a connection that
 * writes several entities keeps one each): `tandem_n` (the row's position: the order the ledger rows are locked
 * in), `tandem_k` (ledger key), `tandem_v` (version), then `c0…` typed as the target's columns, so the server
 * parses every value once, in COPY, with the column's own input function. `ON COMMIT DELETE ROWS` empties it at
 * every commit; `setup` also empties it, for a second chunk in one transaction.
 * @internal
 */
export function pgStagedUpsert(schema: string): (q: LedgeredUpsertQuery) => StagedUpsert {
  return (q) => {
    const info = q.columnInfo;
    if (!info) throw new TypeError('stagedUpsert needs columnInfo');
    if (q.keys.length !== q.rows.length || q.versions.length !== q.rows.length)
      throw new TypeError('stagedUpsert: keys, versions and rows differ in length');
    const target = `${pgIdent(schema)}.${pgIdent(q.table)}`;
    const hash = createHash('sha256')
      .update(JSON.stringify([schema, q.table, q.columns, info.map((c) => c.dataType)]))
      .digest('hex')
      .slice(0, 16);
    const stage = `pg_temp.${pgIdent(`tandem_stage_${hash}`)}`;
    const names = info.map((_, i) => `c${i}`);
    const setup = `CREATE TEMPORARY TABLE IF NOT EXISTS ${pgIdent(`tandem_stage_${hash}`)} (tandem_n int4, tandem_k text, tandem_v int8, ${info
      .map((c, i) => `${names[i]} ${c.dataType}`)
      .join(', ')}) ON COMMIT DELETE ROWS; DELETE FROM ${stage}`;
    const copy = `COPY ${stage} (tandem_n, tandem_k, tandem_v, ${names.join(', ')}) FROM STDIN`;
    const apply = `WITH l AS (INSERT INTO ${q.ledgerTable} AS l (entity, entity_key, version, deleted, applied_at)
    SELECT $1, s.tandem_k, s.tandem_v, false, now() FROM ${stage} s ORDER BY s.tandem_n
    ON CONFLICT (entity, entity_key) DO UPDATE SET version = EXCLUDED.version, deleted = EXCLUDED.deleted, applied_at = EXCLUDED.applied_at
    WHERE ${ledgerWinsSql(q.mode, 'l', 'EXCLUDED')}
    RETURNING l.entity_key),
  w AS (INSERT INTO ${target} (${q.columns.map(pgIdent).join(', ')}) SELECT ${names.map((n) => `s.${n}`).join(', ')} FROM ${stage} s JOIN l ON l.entity_key = s.tandem_k ${pgUpsertConflict(target, q)})
SELECT count(*)::int AS won FROM l`;
    return {
      setup,
      copy,
      data: pgCopyText(q.rows, q.keys, q.versions, info),
      apply: { sql: apply, params: [q.entity] },
    };
  };
}

/** A character COPY's text format escapes, and its escape. */
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const NEEDS_ESCAPE = /[\\\t\n\r]/;
const ESCAPED = /[\\\t\n\r]/g;

/**
 * One value as a field of COPY's text format: NULL as `\N`; text with `\`, tab, newline and carriage return
 * escaped (the empty string stays empty, distinct from NULL); bytea as `\x<hex>` (its backslash escaped);
 * booleans `t`/`f`; numbers and bigints as their text; a Date as ISO-8601; any other object (an array column's
 * value is already literal text here, see `pgCell`) as its JSON text.
 * @internal
 */
export function copyField(v: unknown): string {
  if (v === null || v === undefined) return '\\N';
  let s: string;
  if (typeof v === 'string') s = v;
  else if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  else if (typeof v === 'boolean') return v ? 't' : 'f';
  else if (Buffer.isBuffer(v)) return `\\\\x${v.toString('hex')}`;
  else if (v instanceof Date) return v.toISOString();
  else s = JSON.stringify(v);
  return NEEDS_ESCAPE.test(s) ? s.replace(ESCAPED, (c) => COPY_ESCAPES[c]!) : s;
}

/** The staged rows as COPY text: position, ledger key, version, then each column's value ({@link pgCell}). */
function pgCopyText(rows: unknown[][], keys: string[], versions: bigint[], info: ColumnInfo[]): string {
  const lines = new Array<string>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    let line = `${i}\t${copyField(keys[i])}\t${versions[i]}`;
    for (let ci = 0; ci < info.length; ci++) line += `\t${copyField(pgCell(r[ci], info[ci]!))}`;
    lines[i] = line;
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/**
 * Runs `COPY … FROM STDIN` on `client` and streams `data` into it; returns the rows the server loaded. Errors
 * become the store's ({@link pgError}: the server's message without the values it echoes).
 * @internal
 */
export async function pgCopyFrom(client: pg.PoolClient, copy: string, data: string, redacted: string): Promise<number> {
  const stream = client.query(copyFromStdin(copy));
  try {
    await pipeline(Readable.from([Buffer.from(data, 'utf8')]), stream);
  } catch (e) {
    throw pgError(e, redacted);
  }
  return Number(stream.rowCount ?? 0);
}

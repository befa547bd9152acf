import type { Executor, TableStats } from '../types.js';
import { pgIdent } from './sql.js';

/**
 * {@link Store.tableStats} on PostgreSQL (and PGlite): `pg_class.reltuples` (a table never analyzed, -1, is
 * counted instead), `pg_total_relation_size` (table, indexes, TOAST), and the user triggers of `pg_trigger`.
 * @internal
 */
export async function tableStatsPg(db: Executor, schema: string, tables: string[]): Promise<TableStats[]> {
  const out: TableStats[] = [];
  for (const table of tables) {
    const r = await db.query<{ oid: unknown; est: unknown; bytes: unknown }>(
      `SELECT c.oid::bigint AS oid, c.reltuples::float8 AS est, pg_total_relation_size(c.oid)::bigint AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`,
      [schema, table],
    );
    const row = r[0];
    if (!row) continue;
    let rows = Number(row.est);
    let estimated = true;
    if (!(rows >= 0)) {
      const c = await db.query<{ n: unknown }>(`SELECT count(*) AS n FROM ${pgIdent(schema)}.${pgIdent(table)}`);
      rows = Number(c[0]?.n ?? 0);
      estimated = false;
    }
    const tr = await db.query<{ name: string }>(
      `SELECT t.tgname AS name FROM pg_trigger t WHERE t.tgrelid = $1::bigint::oid AND NOT t.tgisinternal ORDER BY 1`,
      [String(row.oid)],
    );
    out.push({
      table,
      rows: Math.round(rows),
      estimated,
      bytes: Number(row.bytes),
      triggers: tr.map((t) => String(t.name)),
    });
  }
  return out;
}

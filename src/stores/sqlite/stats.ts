import type { Executor, TableStats } from '../types.js';
import { sqliteIdent } from './sql.js';

/**
 * {@link Store.tableStats} on SQLite: SQLite keeps no row estimate, so rows are counted; bytes are the sum of the
 * table's and its indexes' pages in the `dbstat` virtual table where the build has it (null otherwise); triggers
 * from `sqlite_master`.
 * @internal
 */
export async function tableStatsSqlite(db: Executor, tables: string[]): Promise<TableStats[]> {
  const out: TableStats[] = [];
  for (const table of tables) {
    const t = (
      await db.query<{ name: string }>(
        `SELECT name FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE`,
        [table],
      )
    )[0];
    if (!t) continue;
    const c = await db.query<{ n: unknown }>(`SELECT count(*) AS n FROM ${sqliteIdent(t.name)}`);
    let bytes: number | null = null;
    try {
      const b = await db.query<{ b: unknown }>(
        `SELECT sum(pgsize) AS b FROM dbstat WHERE name = ? OR name IN (SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?)`,
        [t.name, t.name],
      );
      bytes = b[0]?.b == null ? null : Number(b[0].b);
    } catch {
      /* built without dbstat */
    }
    const tr = await db.query<{ name: string }>(
      `SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? COLLATE NOCASE ORDER BY 1`,
      [t.name],
    );
    out.push({ table, rows: Number(c[0]?.n ?? 0), estimated: false, bytes, triggers: tr.map((x) => String(x.name)) });
  }
  return out;
}

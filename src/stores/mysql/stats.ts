import type { Executor, TableStats } from '../types.js';

/**
 * {@link Store.tableStats} on MySQL/MariaDB: `information_schema.TABLES` (`TABLE_ROWS`, an InnoDB estimate;
 * `DATA_LENGTH + INDEX_LENGTH`) and `information_schema.TRIGGERS` of the current database.
 * @internal
 */
export async function tableStatsMysql(db: Executor, tables: string[]): Promise<TableStats[]> {
  const out: TableStats[] = [];
  for (const table of tables) {
    const r = await db.query<{ n: unknown; b: unknown }>(
      `SELECT TABLE_ROWS AS n, DATA_LENGTH + INDEX_LENGTH AS b FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND TABLE_TYPE = 'BASE TABLE'`,
      [table],
    );
    if (!r[0]) continue;
    const tr = await db.query<{ name: unknown }>(
      `SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = ? ORDER BY 1`,
      [table],
    );
    out.push({
      table,
      rows: Number(r[0].n ?? 0),
      estimated: true,
      bytes: r[0].b == null ? null : Number(r[0].b),
      triggers: tr.map((t) => String(t.name)),
    });
  }
  return out;
}

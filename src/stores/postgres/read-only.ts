import { PG_READ_ONLY_TRIGGER, READ_ONLY_MARKER, foreignTriggerError, readOnlyChange } from '../read-only.js';
import { missingTable } from '../sequences.js';
import type { Executor, ReadOnlyChange, Store } from '../types.js';
import { pgIdent } from './sql.js';

/**
 * SQLSTATE of the refusal: `read_only_sql_transaction`, what PostgreSQL raises for a write in a read-only transaction.
 */
export const PG_READ_ONLY_STATE = '25006';

const FN = `${pgIdent('tandem')}.${pgIdent(PG_READ_ONLY_TRIGGER)}`;

const FUNCTION_SQL = `CREATE OR REPLACE FUNCTION ${FN}() RETURNS trigger LANGUAGE plpgsql AS $tandem$
BEGIN
  RAISE EXCEPTION '${READ_ONLY_MARKER} table % refuses writes (set by Tandem)', TG_TABLE_NAME USING ERRCODE = '${PG_READ_ONLY_STATE}';
END
$tandem$`;

/** The trigger named like Tandem's on `table`, if any: whether it runs Tandem's function. */
async function triggerOn(
  db: Executor,
  schema: string,
  table: string,
): Promise<{ ours: boolean; enabled: boolean } | null> {
  const rows = await db.query<{ fn_schema: string; fn_name: string; src: string; enabled: string }>(
    `SELECT pn.nspname AS fn_schema, p.proname AS fn_name, p.prosrc AS src, tg.tgenabled::text AS enabled
       FROM pg_trigger tg JOIN pg_class t ON t.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = t.relnamespace
       JOIN pg_proc p ON p.oid = tg.tgfoid JOIN pg_namespace pn ON pn.oid = p.pronamespace
      WHERE n.nspname = $1 AND t.relname = $2 AND tg.tgname = $3 AND NOT tg.tgisinternal`,
    [schema, table, PG_READ_ONLY_TRIGGER],
  );
  if (!rows.length) return null;
  const r = rows[0]!;
  return {
    ours: r.fn_schema === 'tandem' && r.fn_name === PG_READ_ONLY_TRIGGER && String(r.src).includes(READ_ONLY_MARKER),
    enabled: r.enabled !== 'D',
  };
}

async function assertTable(db: Executor, schema: string, url: string, table: string): Promise<void> {
  const exists = await db.query(
    `SELECT 1 FROM pg_class t JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = $1 AND t.relname = $2 AND t.relkind IN ('r', 'p')`,
    [schema, table],
  );
  if (!exists.length) throw missingTable(url, table);
}

/**
 * {@link Store.setReadOnly} on PostgreSQL and PGlite, in one transaction (DDL is transactional: all tables or
 * none): on, creates the function `tandem.tandem_read_only()` (`RAISE EXCEPTION … USING ERRCODE = '25006'`) and on
 * each table a statement-level trigger `tandem_read_only BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE`; off,
 * drops the trigger of that name only where it executes Tandem's function. Tandem's trigger found disabled is
 * enabled again (and reported created). The function is kept (other tables
 * or databases may use it; it does nothing by itself). Waits at most 10 s for each table's lock (`lock_timeout`).
 * @internal
 */
export function setReadOnlyPg(
  store: Pick<Store, 'transaction' | 'url'>,
  schema: string,
  tables: string[],
  on: boolean,
): Promise<ReadOnlyChange[]> {
  return store.transaction(async (tx) => {
    await tx.execute(`SET LOCAL lock_timeout = '10s'`);
    const out: ReadOnlyChange[] = [];
    let fnReady = false;
    for (const table of tables) {
      await assertTable(tx, schema, store.url, table);
      const t = `${pgIdent(schema)}.${pgIdent(table)}`;
      const found = await triggerOn(tx, schema, table);
      const change = readOnlyChange(table, on);
      if (found && !found.ours) {
        if (on) throw foreignTriggerError(store.url, table, [PG_READ_ONLY_TRIGGER]);
        change.foreign.push(PG_READ_ONLY_TRIGGER);
        change.readOnly = false;
      } else if (on && !found) {
        if (!fnReady) {
          await tx.execute('CREATE SCHEMA IF NOT EXISTS tandem');
          await tx.execute(FUNCTION_SQL);
          fnReady = true;
        }
        await tx.execute(
          `CREATE TRIGGER ${pgIdent(PG_READ_ONLY_TRIGGER)} BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${t} FOR EACH STATEMENT EXECUTE FUNCTION ${FN}()`,
        );
        change.created.push(PG_READ_ONLY_TRIGGER);
      } else if (on && found && !found.enabled) {
        // Tandem's trigger, disabled by someone (ALTER TABLE … DISABLE TRIGGER): enforce it again
        await tx.execute(`ALTER TABLE ${t} ENABLE TRIGGER ${pgIdent(PG_READ_ONLY_TRIGGER)}`);
        change.created.push(PG_READ_ONLY_TRIGGER);
      } else if (!on && found) {
        await tx.execute(`DROP TRIGGER ${pgIdent(PG_READ_ONLY_TRIGGER)} ON ${t}`);
        change.dropped.push(PG_READ_ONLY_TRIGGER);
      }
      out.push(change);
    }
    return out;
  });
}

/**
 * {@link Store.readOnlyTables} on PostgreSQL and PGlite: the tables holding Tandem's trigger, enabled.
 * @internal
 */
export async function readOnlyTablesPg(db: Executor, schema: string, tables: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const table of tables) {
    const t = await triggerOn(db, schema, table);
    if (t?.ours && t.enabled) out.push(table);
  }
  return out;
}

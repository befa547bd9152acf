import { advanceCounter, advanceEntry, bigOrNull, marginOf, missingTable } from '../sequences.js';
import type { AdvanceSequencesOptions, Executor, SequenceAdvance } from '../types.js';
import { pgIdent } from './sql.js';

/** One sequence that numbers a column, as the catalog tells it. */
type SequenceRow = {
  col: string;
  seq_oid: number | string;
  seq_schema: string;
  seq_name: string;
  ident: string;
  inc: string;
};

/**
 * The sequences numbering the columns of one table: owned sequences (`serial`, `OWNED BY`: `pg_depend` type `a`),
 * identity columns (type `i`), and sequences a column default calls `nextval` on (the default depends on them),
 * each once, by column position.
 */
const NUMBERED = `
  WITH tab AS (SELECT t.oid FROM pg_class t JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = $1 AND t.relname = $2),
  deps AS (
    SELECT d.refobjsubid AS attnum, d.objid AS seq FROM pg_depend d JOIN tab ON d.refobjid = tab.oid
     WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
    UNION
    SELECT ad.adnum, d.refobjid FROM pg_attrdef ad JOIN tab ON ad.adrelid = tab.oid
      JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid AND d.refclassid = 'pg_class'::regclass
  )
  SELECT a.attname AS col, s.oid::bigint AS seq_oid, sn.nspname AS seq_schema, s.relname AS seq_name,
         a.attidentity AS ident, q.seqincrement::text AS inc
    FROM deps CROSS JOIN tab
    JOIN pg_attribute a ON a.attrelid = tab.oid AND a.attnum = deps.attnum AND NOT a.attisdropped
    JOIN pg_class s ON s.oid = deps.seq AND s.relkind = 'S'
    JOIN pg_namespace sn ON sn.oid = s.relnamespace
    JOIN pg_sequence q ON q.seqrelid = s.oid
   ORDER BY a.attnum, s.oid`;

/**
 * {@link Store.advanceSequences} on PostgreSQL and PGlite: for each sequence numbering a column of the table
 * (serial and `OWNED BY` sequences, identity columns — `GENERATED ALWAYS|BY DEFAULT AS IDENTITY` —, and a
 * default's `nextval`), reads its next value (`last_value`, plus the increment once `is_called`) and the column's
 * `max`, and when the next value is not past `max + margin`, `setval(seq, max + 1 + margin, false)` (the next
 * `nextval` returns exactly that). A descending sequence is reported and left alone. `setval` is not
 * transactional: it takes effect at once.
 * @internal
 */
export async function advanceSequencesPg(
  db: Executor,
  schema: string,
  url: string,
  tables: string[],
  o?: AdvanceSequencesOptions,
): Promise<SequenceAdvance[]> {
  const margin = marginOf(o);
  const out: SequenceAdvance[] = [];
  for (const table of tables) {
    const exists = await db.query(
      `SELECT 1 FROM pg_class t JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = $1 AND t.relname = $2 AND t.relkind IN ('r', 'p')`,
      [schema, table],
    );
    if (!exists.length) throw missingTable(url, table);
    const seqs = await db.query<SequenceRow>(NUMBERED, [schema, table]);
    if (!seqs.length) {
      out.push(
        advanceEntry({
          table,
          column: null,
          kind: 'none',
          sequence: null,
          max: null,
          from: null,
          to: null,
          changed: false,
          note: 'no sequence or identity column',
        }),
      );
      continue;
    }
    for (const s of seqs) {
      const kind = s.ident === 'a' || s.ident === 'd' ? 'identity' : 'sequence';
      const seqName = `${s.seq_schema}.${s.seq_name}`;
      const seqSql = `${pgIdent(s.seq_schema)}.${pgIdent(s.seq_name)}`;
      const inc = BigInt(s.inc);
      const st = (
        await db.query<{ last_value: string; is_called: boolean }>(
          `SELECT last_value::text AS last_value, is_called FROM ${seqSql}`,
        )
      )[0]!;
      const last = BigInt(st.last_value);
      const from = st.is_called ? last + inc : last;
      const maxRow = await db.query<{ m: unknown }>(
        `SELECT max(${pgIdent(s.col)})::text AS m FROM ${pgIdent(schema)}.${pgIdent(table)}`,
      );
      const max = bigOrNull(maxRow[0]?.m);
      const base = { table, column: s.col, kind, sequence: seqName, max } as const;
      if (inc < 0n) {
        out.push(advanceEntry({ ...base, from, to: from, changed: false, note: 'descending sequence: left alone' }));
        continue;
      }
      out.push(
        await advanceCounter(base, from, margin, o?.dryRun, (to) =>
          db.query(`SELECT setval($1::oid::regclass, $2::bigint, false)`, [String(s.seq_oid), to.toString()]),
        ),
      );
    }
  }
  return out;
}

import { checkFits } from '../apply/apply.js';
import { mapRow, type ResolvedEntity } from '../core/mapping.js';
import type { Row, Store } from '../stores/types.js';

/**
 * Maps the first `rows` source rows of every entity and checks they fit the target columns, before anything
 * is written anywhere (not even the control plane). A mapping that cannot work — a transform that throws, a
 * type that does not fit — fails here instead of after hours of backfill. Values further into a table are
 * checked chunk by chunk as the backfill reaches them. Throws TANDEM_ERR_VALUE_DOES_NOT_FIT / _MAPPING_INVALID.
 */
export async function preflight(source: Store, entities: ResolvedEntity[], rows = 1000): Promise<void> {
  for (const e of entities) {
    const st = source.sql.keyset({
      table: e.source.name,
      columns: e.readColumns,
      key: e.key,
      keyCategories: e.keyColumns.map((c) => c.category),
      after: null,
      limit: rows,
    });
    const sample = await source.query<Row>(st.sql, st.params);
    checkFits(
      e,
      sample.map((r) => mapRow(e, r)),
    );
  }
}

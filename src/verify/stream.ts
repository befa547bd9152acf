import type { Row, SourcePredicate, Store, TypeCategory } from '../stores/types.js';

/**
 * Streams a table in key order by keyset pages of `pageRows` (never OFFSET, never one big result set), so memory
 * stays flat whatever the table size. `byteOrder` orders string keys by UTF-8 bytes on every engine, so two
 * stores with different collations stream keys in the same order. `range` limits the stream to keys in
 * (`after`, `upTo`] (either bound optional), as checksum bisection reads one segment.
 */
export async function* keysetStream(
  store: Store,
  q: { table: string; columns: string[]; key: string[]; keyCategories: TypeCategory[]; where?: SourcePredicate | null },
  pageRows: number,
  range: { after?: unknown[] | null; upTo?: unknown[] | null } = {},
): AsyncGenerator<Row> {
  const page = (after: unknown[] | null) => {
    const st = store.sql.keyset({ ...q, after, upTo: range.upTo ?? null, limit: pageRows, byteOrder: true });
    return store.query<Row>(st.sql, st.params);
  };
  let pending = page(range.after ?? null);
  for (;;) {
    const rows = await pending;
    const full = rows.length >= pageRows;
    if (full) {
      // fetch the next page while the caller consumes this one
      const last = rows[rows.length - 1]!;
      pending = page(q.key.map((k) => last[k]));
      pending.catch(() => {}); // surfaced when awaited
    }
    for (const r of rows) yield r;
    if (!full) return;
  }
}

/** An async iterator with one-item look-ahead, for merge joins. */
export class Peekable<T> {
  private head: IteratorResult<T> | null = null;
  constructor(private readonly it: AsyncIterator<T>) {}

  async peek(): Promise<T | undefined> {
    if (!this.head) this.head = await this.it.next();
    return this.head.done ? undefined : this.head.value;
  }

  async next(): Promise<T | undefined> {
    const v = await this.peek();
    this.head = null;
    return v;
  }
}

/**
 * Compares two canonical key tuples in the order the stores stream them: integers numerically, strings by UTF-8
 * bytes (what `COLLATE "C"`, `BINARY` and SQLite's BINARY collation do), everything else by its canonical text.
 * `null` sorts first. Returns <0, 0 or >0.
 */
export function compareKeys(a: (string | null)[], b: (string | null)[], categories: TypeCategory[]): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!,
      y = b[i]!;
    if (x === y) continue;
    if (x === null) return -1;
    if (y === null) return 1;
    const c = categories[i];
    if (c === 'integer') {
      const d = BigInt(x) - BigInt(y);
      if (d !== 0n) return d < 0n ? -1 : 1;
    } else if (c === 'decimal' || c === 'float') {
      const d = Number(x) - Number(y);
      if (d !== 0) return d < 0 ? -1 : 1;
    } else {
      const d = Buffer.compare(Buffer.from(x, 'utf8'), Buffer.from(y, 'utf8'));
      if (d !== 0) return d;
    }
  }
  return 0;
}

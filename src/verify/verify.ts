import { canonicalize } from '../core/canonical.js';
import { mapRow, type ResolvedEntity } from '../core/mapping.js';
import type { ColumnInfo, Row, Store } from '../stores/types.js';
import { compareKeys, keysetStream, Peekable } from './stream.js';

/** One differing column of a differing key. Values are canonical text, `null` for NULL, `[redacted]` when sensitive. */
export interface ColumnDifference {
  table: string;
  column: string;
  source: string | null;
  target: string | null;
}

/** One key that does not match: absent from the target, only in the target, or with different columns. */
export interface KeyDifference {
  entity: string;
  key: string;
  kind: 'missing' | 'extra' | 'different';
  columns: ColumnDifference[];
}

/** Per-entity verification figures. `parity` is matched / (source rows + extra rows), in percent. */
export interface EntityVerifyResult {
  entity: string;
  sourceRows: number;
  /** Rows of the entity's first target table. */
  targetRows: number;
  matched: number;
  missing: number;
  extra: number;
  different: number;
  parity: number;
  seconds: number;
}

export interface VerifyResult {
  entities: EntityVerifyResult[];
  /** The first `maxReportedDifferences` differing keys, in entity then key order. */
  differences: KeyDifference[];
  /** True when every entity is at 100% parity. */
  ok: boolean;
}

const REDACTED = '[redacted]';
const clip = (s: string | null) => (s !== null && s.length > 120 ? `${s.slice(0, 117)}...` : s);

function canon(v: unknown, c: ColumnInfo): string | null {
  try {
    return canonicalize(v, c);
  } catch (e) {
    return `<unreadable as ${c.category}: ${(e as Error).message.replace(/"[^"]*"/, 'value')}>`;
  }
}

/**
 * Full keyed comparison of mapping(source row) with the target rows of each entity, streamed in key order from
 * both stores at once (merge join over keyset pages; memory flat in table size). Values are compared in their
 * canonical encoding by target column type, so MariaDB, PostgreSQL, SQLite and PGlite values compare equal
 * when they mean the same. Writes nothing.
 */
export async function verifyEntities(
  source: Store,
  target: Store,
  entities: ResolvedEntity[],
  opts: { pageRows: number; maxReportedDifferences: number },
): Promise<VerifyResult> {
  const differences: KeyDifference[] = [];
  const note = (d: KeyDifference) => {
    if (differences.length < opts.maxReportedDifferences) differences.push(d);
  };
  const results: EntityVerifyResult[] = [];
  for (const e of entities) results.push(await verifyEntity(source, target, e, opts.pageRows, note));
  return { entities: results, differences, ok: results.every((r) => r.missing === 0 && r.extra === 0 && r.different === 0) };
}

async function verifyEntity(source: Store, target: Store, e: ResolvedEntity, pageRows: number, note: (d: KeyDifference) => void): Promise<EntityVerifyResult> {
  const started = performance.now();
  const keyCats = e.keyColumns.map((c) => c.category);
  const sourceRows = keysetStream(source, { table: e.source.name, columns: e.readColumns, key: e.key, keyCategories: keyCats }, pageRows);
  const targets = e.targets.map((t) => {
    const keyInfo = t.keyColumns.map((k) => t.table.columns.find((c) => c.name === k)!);
    const cols = [...new Set([...t.keyColumns, ...t.columns.map((c) => c.name)])];
    return {
      t,
      keyInfo,
      cursor: new Peekable(keysetStream(target, { table: t.table.name, columns: cols, key: t.keyColumns, keyCategories: keyInfo.map((c) => c.category) }, pageRows)[Symbol.asyncIterator]()),
      rows: 0,
      extra: 0,
    };
  });
  const shown = (table: string, c: ColumnInfo, v: string | null) => (e.sensitive.has(c.name) || e.sensitive.has(`${table}.${c.name}`) ? (v === null ? null : REDACTED) : clip(v));
  const tkey = (tg: (typeof targets)[number], r: Row) => tg.keyInfo.map((c) => canon(r[c.name], c));
  let n = 0, matched = 0, missing = 0, different = 0;

  const drainExtraBefore = async (tg: (typeof targets)[number], skey: (string | null)[] | null) => {
    for (;;) {
      const r = await tg.cursor.peek();
      if (!r) return;
      const k = tkey(tg, r);
      if (skey && compareKeys(k, skey, keyCats) >= 0) return;
      await tg.cursor.next();
      tg.rows++;
      tg.extra++;
      note({ entity: e.name, key: JSON.stringify(k), kind: 'extra', columns: [] });
    }
  };

  for await (const row of sourceRows) {
    n++;
    const m = mapRow(e, row);
    const skey = JSON.parse(m.key) as (string | null)[];
    const diffs: ColumnDifference[] = [];
    let absent = 0;
    for (let ti = 0; ti < targets.length; ti++) {
      const tg = targets[ti]!;
      await drainExtraBefore(tg, skey);
      const r = await tg.cursor.peek();
      if (!r || compareKeys(tkey(tg, r), skey, keyCats) !== 0) {
        absent++;
        diffs.push({ table: tg.t.table.name, column: '(row)', source: 'present', target: null });
        continue;
      }
      await tg.cursor.next();
      tg.rows++;
      tg.t.columns.forEach((c, ci) => {
        const want = canon(m.values[ti]![ci], c);
        const got = canon(r[c.name], c);
        if (want !== got) diffs.push({ table: tg.t.table.name, column: c.name, source: shown(tg.t.table.name, c, want), target: shown(tg.t.table.name, c, got) });
      });
    }
    if (absent === targets.length) {
      missing++;
      note({ entity: e.name, key: m.key, kind: 'missing', columns: [] });
    } else if (diffs.length) {
      different++;
      note({ entity: e.name, key: m.key, kind: 'different', columns: diffs });
    } else matched++;
  }
  for (const tg of targets) await drainExtraBefore(tg, null);
  const extra = Math.max(0, ...targets.map((t) => t.extra));
  const denom = n + extra;
  return {
    entity: e.name,
    sourceRows: n,
    targetRows: targets[0]!.rows,
    matched,
    missing,
    extra,
    different,
    parity: denom === 0 ? 100 : (matched / denom) * 100,
    seconds: (performance.now() - started) / 1000,
  };
}

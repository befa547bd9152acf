import { mapRow, type MappedRow, type ResolvedEntity, type ResolvedTarget } from '../core/mapping.js';
import type { ColumnInfo, Row, Store } from '../stores/types.js';
import { canonText } from '../core/encoding.js';
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
  /**
   * Source rows the mapping leaves out (a transform returned SKIP): not compared, not counted as missing, not in
   * the parity's denominator. Rows an entity's `where` leaves out are not read at all, so not counted here.
   */
  skipped?: number;
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

const canon = canonText;

/** Receives each differing key with its raw key values (as read from the side that has the row). */
export type DifferenceSink = (d: KeyDifference, keyValues: unknown[]) => void;

/** Options of {@link verifyEntity}. */
export interface RangeOptions {
  /** Only keys in (`after`, `upTo`] (source key values; either bound optional). */
  after?: unknown[] | null;
  upTo?: unknown[] | null;
  /** Checked every 1,000 source rows: returning true stops the comparison early (`complete: false`). */
  shouldStop?: () => boolean;
  /** Called every 1,000 source rows with the source rows compared so far (progress). */
  onProgress?: (compared: number) => void;
}

/** Figures of one keyed comparison, with `complete` false when `shouldStop` ended it early. */
export interface RangeVerifyResult extends EntityVerifyResult {
  complete: boolean;
}

/**
 * Full keyed comparison of mapping(source row) with the target rows of each entity, streamed in key order from
 * both stores at once (merge join over keyset pages; memory flat in table size). Values are compared in their
 * canonical encoding by target column type, so MariaDB, PostgreSQL, SQLite and PGlite values compare equal
 * when they mean the same. Writes nothing.
 *
 * `maxReportedDifferences` bounds the listed keys; `maxDifferences` (optional) is a budget: the comparison stops
 * once that many differing keys were found, and `complete` is false. `shouldStop` (checked every 1,000 rows)
 * stops it too (a time budget). `onDifference` sees every differing key with its raw key values; `onProgress`
 * the source rows compared so far (every 1,000 rows, and at the end of each entity with `done` = complete).
 */
export async function verifyEntities(
  source: Store,
  target: Store,
  entities: ResolvedEntity[],
  opts: {
    pageRows: number;
    maxReportedDifferences: number;
    maxDifferences?: number;
    shouldStop?: () => boolean;
    onDifference?: DifferenceSink;
    onProgress?: (entity: string, compared: number, done: boolean) => void;
  },
): Promise<Omit<VerifyResult, 'entities'> & { complete: boolean; entities: RangeVerifyResult[] }> {
  const differences: KeyDifference[] = [];
  let found = 0;
  const note: DifferenceSink = (d, kv) => {
    found++;
    if (differences.length < opts.maxReportedDifferences) differences.push(d);
    opts.onDifference?.(d, kv);
  };
  const stop = () =>
    (opts.maxDifferences !== undefined && found >= opts.maxDifferences) || (opts.shouldStop?.() ?? false);
  const results: RangeVerifyResult[] = [];
  let complete = true;
  for (const e of entities) {
    if (stop()) {
      complete = false;
      break;
    }
    const r = await verifyEntity(source, target, e, opts.pageRows, note, {
      shouldStop: stop,
      onProgress: opts.onProgress && ((n) => opts.onProgress!(e.name, n, false)),
    });
    opts.onProgress?.(e.name, r.sourceRows, r.complete);
    results.push(r);
    if (!r.complete) complete = false;
  }
  return {
    entities: results,
    differences,
    ok: results.every((r) => r.missing === 0 && r.extra === 0 && r.different === 0),
    complete,
  };
}

/** A target table of an entity as verify reads it: key columns with their metadata, columns read. */
export interface TargetReader {
  t: ResolvedTarget;
  keyInfo: ColumnInfo[];
  columns: string[];
}

/** How verify reads each target table of `e`. */
export function targetReaders(e: ResolvedEntity): TargetReader[] {
  return e.targets.map((t) => ({
    t,
    keyInfo: t.keyColumns.map((k) => t.table.columns.find((c) => c.name === k)!),
    columns: [...new Set([...t.keyColumns, ...t.columns.map((c) => c.name)])],
  }));
}

/**
 * Compares one mapped source row (or `null` when the key is absent from the source) with the target rows of the
 * same key (one per target table, `undefined` where absent). Returns the difference, or null when they match.
 * The canonical compare of the full verify, shared by checksum bisection, samples, continuous rechecks and
 * repair's dry run.
 */
export function compareKey(
  e: ResolvedEntity,
  key: string,
  m: MappedRow | null,
  targetRows: (Row | undefined)[],
): KeyDifference | null {
  const shown = (table: string, c: ColumnInfo, v: string | null) =>
    e.sensitive.has(c.name) || e.sensitive.has(`${table}.${c.name}`) ? (v === null ? null : REDACTED) : clip(v);
  // a row the mapping leaves out (SKIP, `where`) must be absent from the target: it compares as a source absence
  const row = m?.skipped ? null : m;
  if (!row) return targetRows.some((r) => r) ? { entity: e.name, key, kind: 'extra', columns: [] } : null;
  const diffs: ColumnDifference[] = [];
  let absent = 0;
  e.targets.forEach((t, ti) => {
    const r = targetRows[ti];
    if (!r) {
      absent++;
      diffs.push({ table: t.table.name, column: '(row)', source: 'present', target: null });
      return;
    }
    t.columns.forEach((c, ci) => {
      const want = canon(row.values[ti]![ci], c);
      const got = canon(r[c.name], c);
      if (want !== got)
        diffs.push({
          table: t.table.name,
          column: c.name,
          source: shown(t.table.name, c, want),
          target: shown(t.table.name, c, got),
        });
    });
  });
  if (absent === e.targets.length) return { entity: e.name, key, kind: 'missing', columns: [] };
  return diffs.length ? { entity: e.name, key, kind: 'different', columns: diffs } : null;
}

/**
 * The keyed merge join of one entity over the whole key range or (`after`, `upTo`]: source rows mapped,
 * target tables streamed alongside in the same byte order, every key classified as matched, missing, extra or
 * different (see {@link compareKey}). Differences go to `note`.
 */
export async function verifyEntity(
  source: Store,
  target: Store,
  e: ResolvedEntity,
  pageRows: number,
  note: DifferenceSink,
  range: RangeOptions = {},
): Promise<RangeVerifyResult> {
  const started = performance.now();
  const keyCats = e.keyColumns.map((c) => c.category);
  const bounds = { after: range.after ?? null, upTo: range.upTo ?? null };
  const sourceRows = keysetStream(
    source,
    { table: e.source.name, columns: e.readColumns, key: e.key, keyCategories: keyCats, where: e.where },
    pageRows,
    bounds,
  );
  const targets = targetReaders(e).map((tr) => ({
    ...tr,
    cursor: new Peekable(
      keysetStream(
        target,
        {
          table: tr.t.table.name,
          columns: tr.columns,
          key: tr.t.keyColumns,
          keyCategories: tr.keyInfo.map((c) => c.category),
        },
        pageRows,
        bounds,
      )[Symbol.asyncIterator](),
    ),
    rows: 0,
    extra: 0,
  }));
  const tkey = (tg: (typeof targets)[number], r: Row) => tg.keyInfo.map((c) => canon(r[c.name], c));
  let n = 0,
    matched = 0,
    missing = 0,
    different = 0,
    skipped = 0;
  let complete = true;

  const drainExtraBefore = async (tg: (typeof targets)[number], skey: (string | null)[] | null) => {
    for (;;) {
      const r = await tg.cursor.peek();
      if (!r) return;
      const k = tkey(tg, r);
      if (skey && compareKeys(k, skey, keyCats) >= 0) return;
      await tg.cursor.next();
      tg.rows++;
      tg.extra++;
      note(
        { entity: e.name, key: JSON.stringify(k), kind: 'extra', columns: [] },
        tg.t.keyColumns.map((c) => r[c]),
      );
    }
  };

  const it = sourceRows[Symbol.asyncIterator]();
  for (;;) {
    if (n % 1000 === 0 && n > 0) {
      range.onProgress?.(n);
      if (range.shouldStop?.()) {
        complete = false;
        await it.return?.(undefined);
        break;
      }
    }
    const next = await it.next();
    if (next.done) break;
    const row = next.value;
    n++;
    const m = mapRow(e, row);
    const skey = JSON.parse(m.key) as (string | null)[];
    const found: (Row | undefined)[] = [];
    for (const tg of targets) {
      await drainExtraBefore(tg, skey);
      const r = await tg.cursor.peek();
      if (!r || compareKeys(tkey(tg, r), skey, keyCats) !== 0) {
        found.push(undefined);
        continue;
      }
      await tg.cursor.next();
      tg.rows++;
      found.push(r);
    }
    const d = compareKey(e, m.key, m, found);
    if (m.skipped && !d) skipped++;
    else if (!d) matched++;
    else {
      if (d.kind === 'missing') missing++;
      else different++;
      note(d, m.keyValues);
    }
  }
  if (complete) for (const tg of targets) await drainExtraBefore(tg, null);
  const extra = Math.max(0, ...targets.map((t) => t.extra));
  const denom = n - skipped + extra;
  return {
    entity: e.name,
    sourceRows: n,
    skipped,
    targetRows: targets[0]!.rows,
    matched,
    missing,
    extra,
    different,
    parity: denom === 0 ? 100 : (matched / denom) * 100,
    seconds: (performance.now() - started) / 1000,
    complete,
  };
}

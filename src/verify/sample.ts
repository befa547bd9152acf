import { predicateSql, sourceCount } from '../core/where.js';
import type { ResolvedEntity } from '../core/mapping.js';
import type { Row, Store } from '../stores/types.js';
import { parityLowerBound } from './confidence.js';
import { canonicalKey, compareKeysNow } from './rows.js';
import type { DifferenceSink } from './verify.js';

/**
 * The `sample` tier: N random source keys compared field by field (the full verify's canonical compare), plus
 * a tenth as many random keys of each target table looked up in the source (rows only in the target).
 * Random keys come from `ORDER BY random() LIMIT N` (`RAND()` on MariaDB): one key-only scan and a top-N sort,
 * no hashing. Parity is bounded from below at 95 % confidence by the exact one-sided Clopper–Pearson bound
 * (src/verify/confidence.ts). A sample never proves parity, whatever its size: the report says "sample of N
 * rows", never "match", and the exit code carries bit 8 (not every row compared).
 */
export interface EntitySampleResult {
  entity: string;
  mode: 'sample';
  /** Source rows in the table (count). */
  sourceRows: number;
  /** Source keys sampled and compared. */
  sampled: number;
  /** Target keys sampled and looked up in the source. */
  sampledTarget: number;
  matched: number;
  missing: number;
  extra: number;
  different: number;
  /** matched / sampled, in percent: the share of the sample that matches (an estimate, not a proof). */
  parity: number;
  /**
   * Lower bound of the entity's parity at 95 % confidence, in percent: the exact one-sided Clopper–Pearson
   * bound from `sampled` and `missing + different` (1,000 rows, none differing: 99.70 %).
   */
  parityLowerBound: number;
  /** Upper bound of the mismatch rate at 95 % confidence, in percent: 100 − `parityLowerBound`. */
  mismatchUpper95: number;
  seconds: number;
  complete: boolean;
}

function randomOrder(store: Store): string {
  return store.sql.random();
}

/**
 * Upper bound of the two-sided 95% Wilson score interval for k successes in n trials (0..1). Kept for callers;
 * the sample tier reports the exact one-sided Clopper–Pearson bound instead ({@link parityLowerBound}).
 */
export function wilsonUpper(k: number, n: number, z = 1.96): number {
  if (n === 0) return 1;
  const p = k / n;
  const d = 1 + (z * z) / n;
  const c = p + (z * z) / (2 * n);
  const r = z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
  return Math.min(1, (c + r) / d);
}

/** Runs the sample tier with `size` source keys per entity. Throws what the stores throw. */
export async function sampleEntities(
  source: Store,
  target: Store,
  entities: ResolvedEntity[],
  size: number,
  note: DifferenceSink,
  shouldStop: () => boolean = () => false,
): Promise<{ entities: EntitySampleResult[]; complete: boolean }> {
  const out: EntitySampleResult[] = [];
  let complete = true;
  for (const e of entities) {
    if (shouldStop()) {
      complete = false;
      break;
    }
    const started = performance.now();
    const keyCols = e.key.map((k) => source.sql.ident(k)).join(', ');
    const cnt = sourceCount(source, e);
    const [count] = await source.query<Row>(cnt.sql, cnt.params);
    // only the rows the entity's `where` keeps are sampled
    const params: unknown[] = [];
    const pred = e.where ? ` WHERE ${predicateSql(e.where, (i) => source.sql.param(i), params)}` : '';
    const keys = await source.query<Row>(
      `SELECT ${keyCols} FROM ${source.sql.table(e.source.name)}${pred} ORDER BY ${randomOrder(source)} LIMIT ${Math.max(1, Math.floor(size))}`,
      params,
    );
    const toCheck = keys.map((r) => {
      const kv = e.key.map((k) => r[k]);
      return { key: canonicalKey(e.keyColumns, kv), keyValues: kv };
    });
    const res = await compareKeysNow(source, target, e, toCheck);
    let missing = 0,
      different = 0,
      extra = 0;
    for (const k of toCheck) {
      const d = res.get(k.key);
      if (!d) continue;
      if (d.kind === 'missing') missing++;
      else different++;
      note(d, k.keyValues);
    }
    // rows only in the target: a tenth as many random keys of each target table, looked up in the source
    let sampledTarget = 0;
    const perTarget = Math.max(1, Math.ceil(size / 10));
    for (const t of e.targets) {
      const tk = await target.query<Row>(
        `SELECT ${t.keyColumns.map((k) => target.sql.ident(k)).join(', ')} FROM ${target.sql.table(t.table.name)} ORDER BY ${randomOrder(target)} LIMIT ${perTarget}`,
      );
      const info = t.keyColumns.map((k) => t.table.columns.find((c) => c.name === k)!);
      const checks = tk.map((r) => {
        const kv = t.keyColumns.map((k) => r[k]);
        return { key: canonicalKey(info, kv), keyValues: kv };
      });
      sampledTarget += checks.length;
      const r2 = await compareKeysNow(
        source,
        target,
        e,
        checks.filter((c) => !res.has(c.key)),
      );
      for (const c of checks) {
        const d = r2.get(c.key);
        if (d?.kind === 'extra') {
          extra++;
          note(d, c.keyValues);
        }
      }
    }
    const sampled = toCheck.length;
    const matched = sampled - missing - different;
    const lower = parityLowerBound(sampled, missing + different);
    out.push({
      entity: e.name,
      mode: 'sample',
      sourceRows: Number(count?.n ?? 0),
      sampled,
      sampledTarget,
      matched,
      missing,
      extra,
      different,
      parity: sampled === 0 ? 100 : (matched / sampled) * 100,
      parityLowerBound: lower,
      mismatchUpper95: 100 - lower,
      seconds: (performance.now() - started) / 1000,
      complete: true,
    });
  }
  return { entities: out, complete };
}

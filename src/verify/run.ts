import { sourceCount } from '../core/where.js';
import type { ResolvedEntity } from '../core/mapping.js';
import type { Store } from '../stores/types.js';
import { checksumEntities, type ChecksumOptions, type EntityChecksumResult } from './checksum.js';
import { planEntity } from './plan.js';
import { assess, isExhaustive, type Assessment } from './headline.js';
import { publishPass } from './metrics.js';
import { quickEntities, type AggregateDifference, type EntityQuickResult } from './quick.js';
import { sampleEntities, type EntitySampleResult } from './sample.js';
import { verifyEntities, type DifferenceSink, type KeyDifference, type RangeVerifyResult } from './verify.js';

/** The tiers of `tandem verify --mode`. */
export const VERIFY_MODES = ['quick', 'checksum', 'sample', 'full'] as const;
export type VerifyMode = (typeof VERIFY_MODES)[number];

/**
 * Exit code bits of `tandem verify` (docs/verify.md): 0 is parity proven over every row (an exhaustive mode —
 * full or checksum — that ran to the end and found nothing); bit 1 differences found; bit 2 an error (nothing
 * else is reported then); bit 4 partial — a budget (`--max-differences`, `--max-seconds`) or SIGINT stopped the
 * run before the last key, so nothing is proven beyond what was covered; bit 8 not every row compared — the
 * mode is not exhaustive (`sample`, `quick`), so even without differences it proves no parity. Differences in
 * a partial run give 5; a sample at 0 differences 8, with differences 9.
 */
export const EXIT_BITS = { differences: 1, error: 2, partial: 4, notExhaustive: 8 } as const;

/**
 * The mode `tandem verify` runs without `--mode`: the fastest exhaustive one these stores allow for
 * `entities`. `checksum` when every entity has a side the engines checksum in SQL (columns they cannot encode
 * fall back one by one to a streamed comparison, src/verify/plan.ts); `full`, the streamed comparison, when
 * some entity has no side pushed down at all (both stores without checksum SQL: checksumming rows in JS
 * costs more than comparing them). Returns the mode and one line saying why. Pure; throws nothing.
 */
export function defaultMode(
  source: Store,
  target: Store,
  entities: ResolvedEntity[],
): { mode: 'checksum' | 'full'; reason: string } {
  const plans = entities.map((e) => planEntity(e, source, target));
  const none = plans.filter((p) => p.sourceMode === 'stream' && p.targets.every((t) => t.targetMode === 'stream'));
  if (none.length)
    return {
      mode: 'full',
      reason: `the default: the fastest exhaustive mode these stores allow (${none.map((p) => p.entity.name).join(', ')}: no side checksummed in SQL, so rows are compared streamed); --mode checksum forces segment checksums`,
    };
  const fallback = plans.flatMap((p) =>
    p.targets.filter((t) => t.streamed.length).map((t) => `${p.entity.name}.${t.target.table.name}`),
  );
  const streamedSides = plans.filter(
    (p) => p.sourceMode === 'stream' || p.targets.some((t) => t.targetMode === 'stream'),
  );
  const extra = [
    ...(fallback.length ? [`some columns compared by streaming in ${fallback.join(', ')}`] : []),
    ...(streamedSides.length ? [`one side streamed in ${streamedSides.map((p) => p.entity.name).join(', ')}`] : []),
  ];
  return {
    mode: 'checksum',
    reason: `the default: the fastest exhaustive mode these stores allow — segment checksums pushed down to both engines${extra.length ? ` (${extra.join('; ')}; see notes)` : ''}; --mode full streams every row`,
  };
}

/** Options of {@link runVerify}. */
export interface VerifyOptions {
  /** The tier; omitted: {@link defaultMode} picks the fastest exhaustive one (what `tandem verify` runs). */
  mode?: VerifyMode;
  /** Segments the checksum tier checksums at once (config `verify.concurrency`; default 4, bounded by the stores). */
  concurrency?: number;
  /** Keyset page size of streamed reads (config `verify.pageRows`). */
  pageRows: number;
  /** Differing keys listed in the report (config `verify.maxReportedDifferences`). */
  maxReportedDifferences: number;
  /** Budget: stop after this many differing keys. */
  maxDifferences?: number;
  /** Budget: stop starting new work after this many seconds. */
  maxSeconds?: number;
  /** Throttle of the checksum tier: source rows per second. */
  maxRowsPerSecond?: number;
  /** Seconds one checksum segment should take (default 0.5). */
  chunkSeconds?: number;
  /** Keys per entity of the sample tier (default 1,000). */
  sampleSize?: number;
  signal?: AbortSignal;
  /** Sees every differing key found, with its raw key values (to record mismatches). */
  onDifference?: DifferenceSink;
  /** Finer checksum knobs (segment sizes, split factor, row threshold). */
  checksum?: Partial<ChecksumOptions>;
  /**
   * Progress of the exhaustive tiers (full, checksum): source rows compared so far in `entity` of `total`
   * (counted when the run started), every 1,000 rows (full) or segment (checksum); `done` once the entity is
   * complete.
   */
  onProgress?: (p: { entity: string; compared: number; total: number; done: boolean }) => void;
}

/** One entity's row of the report; its fields depend on the tier. */
export type EntityReport =
  | (RangeVerifyResult & { mode: 'full' })
  | EntityChecksumResult
  | EntityQuickResult
  | EntitySampleResult;

/**
 * What `tandem verify` prints (`--json`) and exits with: one verification run. The {@link Assessment} fields
 * (`exhaustive`, `compared`, `rowsTotal`, `differenceCount`,
 * `headline`, `parityLowerBound`) state what was proven; "match" only when exhaustive, complete and equal.
 */
export interface VerifyReport extends Assessment {
  /** The mode that ran (chosen by `--mode`, or by default: see `modeChosen`). */
  mode: VerifyMode;
  /** `flag` when the caller named the mode, `default` when {@link defaultMode} chose it. */
  modeChosen: 'flag' | 'default';
  /** Why the default chose `mode` (only when `modeChosen` is `default`). */
  modeReason?: string;
  entities: EntityReport[];
  /** The first `maxReportedDifferences` differing keys. */
  differences: KeyDifference[];
  /** Differing aggregates (quick tier). */
  aggregates: AggregateDifference[];
  /** True when nothing differs in what was compared (not a proof of parity: see `exhaustive` and `complete`). */
  ok: boolean;
  /** False when a budget or a signal stopped the run early. */
  complete: boolean;
  /** The bitmask exit code ({@link EXIT_BITS}). */
  exitCode: number;
}

/**
 * The exit code of a report: bit 1 differences, bit 4 partial, bit 8 not every row compared; 0 only for parity
 * over everything by an exhaustive mode. A report without `exhaustive` counts as not exhaustive.
 */
export function exitCodeOf(r: Pick<VerifyReport, 'ok' | 'complete'> & { exhaustive?: boolean }): number {
  return (
    (r.ok ? 0 : EXIT_BITS.differences) |
    (r.complete ? 0 : EXIT_BITS.partial) |
    (r.exhaustive === true ? 0 : EXIT_BITS.notExhaustive)
  );
}

/** Source rows per entity (`count(*)`), for the partial headline and the progress line. */
async function countSourceRows(source: Store, entities: ResolvedEntity[]): Promise<Map<string, number>> {
  const totals = new Map<string, number>();
  for (const e of entities) {
    const st = sourceCount(source, e);
    totals.set(e.name, Number((await source.query<{ n: unknown }>(st.sql, st.params))[0]?.n ?? 0));
  }
  return totals;
}

/**
 * Runs one verification tier over `entities` (docs/verify.md): `quick` counts and aggregates, `checksum`
 * pushed-down segment checksums with recursive splitting, `sample` random keys field by field, `full` the
 * streamed keyed comparison; without `mode`, the fastest exhaustive one ({@link defaultMode}), and the report
 * says so (`modeChosen`, `modeReason`). The exhaustive tiers count the source rows first (how much a partial run covered,
 * and the progress). Publishes parity to the verify metrics only for entities an exhaustive tier compared to
 * the end (a sample, aggregates or a partial pass prove no parity). Writes nothing.
 * Throws what the stores throw (`TANDEM_ERR_STORE_*`, `TANDEM_ERR_MAPPING_INVALID`).
 */
export async function runVerify(
  source: Store,
  target: Store,
  entities: ResolvedEntity[],
  o: VerifyOptions,
): Promise<VerifyReport> {
  const started = performance.now();
  const chosen = o.mode === undefined ? defaultMode(source, target, entities) : null;
  const mode: VerifyMode = o.mode ?? chosen!.mode;
  const deadline = () =>
    (o.maxSeconds !== undefined && (performance.now() - started) / 1000 >= o.maxSeconds) ||
    (o.signal?.aborted ?? false);
  const totals = isExhaustive(mode) ? await countSourceRows(source, entities) : null;
  const progress =
    o.onProgress && totals
      ? (entity: string, compared: number, done: boolean) =>
          o.onProgress!({ entity, compared, total: Math.max(totals.get(entity) ?? 0, compared), done })
      : undefined;
  let report: Omit<
    VerifyReport,
    | 'exitCode'
    | 'exhaustive'
    | 'compared'
    | 'rowsTotal'
    | 'differenceCount'
    | 'headline'
    | 'parityLowerBound'
    | 'modeChosen'
    | 'modeReason'
  >;
  switch (mode) {
    case 'full': {
      const r = await verifyEntities(source, target, entities, {
        pageRows: o.pageRows,
        maxReportedDifferences: o.maxReportedDifferences,
        maxDifferences: o.maxDifferences,
        shouldStop: deadline,
        onDifference: o.onDifference,
        onProgress: progress,
      });
      report = {
        mode: 'full',
        entities: r.entities.map((e) => ({ ...e, mode: 'full' as const })),
        differences: r.differences,
        aggregates: [],
        ok: r.ok,
        complete: r.complete,
      };
      break;
    }
    case 'checksum': {
      const r = await checksumEntities(source, target, entities, {
        ...o.checksum,
        pageRows: o.pageRows,
        maxReportedDifferences: o.maxReportedDifferences,
        maxDifferences: o.maxDifferences,
        maxSeconds: o.maxSeconds,
        maxRowsPerSecond: o.maxRowsPerSecond,
        ...(o.chunkSeconds !== undefined ? { chunkSeconds: o.chunkSeconds } : {}),
        ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
        signal: o.signal,
        onDifference: o.onDifference,
        onProgress: progress,
      });
      report = {
        mode: 'checksum',
        entities: r.entities,
        differences: r.differences,
        aggregates: [],
        ok: r.ok,
        complete: r.complete,
      };
      break;
    }
    case 'sample': {
      const differences: KeyDifference[] = [];
      let found = 0;
      const note: DifferenceSink = (d, kv) => {
        found++;
        if (differences.length < o.maxReportedDifferences) differences.push(d);
        o.onDifference?.(d, kv);
      };
      const stop = () => deadline() || (o.maxDifferences !== undefined && found >= o.maxDifferences);
      const r = await sampleEntities(source, target, entities, o.sampleSize ?? 1000, note, stop);
      report = {
        mode: 'sample',
        entities: r.entities,
        differences,
        aggregates: [],
        ok: r.entities.every((e) => e.missing + e.extra + e.different === 0),
        complete: r.complete && r.entities.length === entities.length,
      };
      break;
    }
    case 'quick': {
      const r = await quickEntities(source, target, entities, deadline);
      const aggregates = r.entities.flatMap((e) => e.differing);
      report = {
        mode: 'quick',
        entities: r.entities,
        differences: [],
        aggregates,
        ok: aggregates.length === 0,
        complete: r.complete,
      };
      break;
    }
  }
  for (const e of report.entities) {
    // a gauge named parity holds proven parity only: exhaustive tiers, entity compared to its last key
    if (e.mode === 'quick' || e.mode === 'sample' || !e.complete) continue;
    publishPass(e.entity, e.parity, e.sourceRows, e.seconds);
  }
  const a = assess(mode, report.entities, report.complete, entities.length, totals);
  const full = {
    ...report,
    modeChosen: chosen ? ('default' as const) : ('flag' as const),
    ...(chosen ? { modeReason: chosen.reason } : {}),
    ...a,
  };
  return { ...full, exitCode: exitCodeOf(full) };
}

import type { Command } from 'commander';
import { sequenceWarningLines, sequenceWarnings } from '../cutover/warnings.js';
import type { Logger } from 'pino';
import { ProgressReporter } from '../backfill/progress.js';
import type { AuditEntry } from '../control/control.js';
import { TandemError, errorLine } from '../core/errors.js';
import { MAX_RECORDED_PER_ENTITY, recheckMismatches, type CycleReport } from '../verify/continuous.js';
import { verifyMetrics } from '../verify/metrics.js';
import { mismatchFigures, recordMismatches, type FoundDifference } from '../verify/mismatches.js';
import { formatCycle, formatReport } from '../verify/report.js';
import { EXIT_BITS, runVerify, VERIFY_MODES, type VerifyMode, type VerifyReport } from '../verify/run.js';
import {
  auditSafely,
  entityList,
  openContext,
  prepareControl,
  reportError,
  type CommandContext,
  stopOnSigint,
} from './context.js';
import { stopOn } from '../runtime/services/service.js';
import { commandHeartbeat } from './heartbeat.js';
import { lastVerifyOf, recordLastVerify } from '../runtime/last-verify.js';

interface VerifyCliOptions {
  mode?: string;
  entity?: string;
  json?: boolean;
  maxDifferences?: string;
  maxSeconds?: string;
  maxRowsPerSecond?: string;
  chunkSeconds?: string;
  concurrency?: string;
  sample?: string;
  continuous?: boolean;
  interval?: string;
  lagSeconds?: string;
  cycles?: string;
}

const HELP = `
Modes:
  (none)    the default: the fastest exhaustive mode these engines allow — checksum where the engines
            checksum the entity in SQL (a column they cannot encode is compared by streaming), else full;
            the report says which mode ran and why
  full      every row, every column, streamed in key order through Tandem
  checksum  pushed-down segment checksums in both engines; differing segments split down to rows;
            --concurrency N segments at once (default: config verify.concurrency, 4)
  sample    N random keys compared field by field (--sample N, default 1000)
  quick     counts, sums of numeric columns, counts per value of low-cardinality columns

Only full and checksum compare every row; only they, run to the end without a difference, say
"source and target match" and exit 0. sample reports "sample of N rows: K differences; parity ≥ X % at
95 % confidence" (exact one-sided Clopper–Pearson bound); quick reports what it compared ("counts equal",
"sums equal"); a stopped run reports "partial: compared N of M rows (X %), K differences so far".

Exit codes (a bitmask): 0 parity proven over every row (full or checksum, complete); 1 differences found;
2 error; 4 partial — a budget (--max-differences, --max-seconds) or SIGINT stopped the run early;
8 not every row compared (sample, quick). Combined: 5 differences in a partial run, 8 a sample or quick run
without differences, 9 with differences, 12 a partial sample. On a terminal, full and checksum show
progress on stderr (rows compared / total, %, rows/s, ETA). See docs/verify.md.`;

/** Parses a CLI number: `positive` (> 0) or non-negative; throws TANDEM_ERR_USAGE naming the option. */
function number(
  name: string,
  v: string | undefined,
  o: { integer?: boolean; zero?: boolean } = {},
): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(String(v).replace(/_/g, ''));
  if (!Number.isFinite(n) || (o.zero ? n < 0 : n <= 0) || (o.integer && !Number.isInteger(n)))
    throw new TandemError(
      'USAGE',
      `--${name} must be a ${o.zero ? 'non-negative' : 'positive'} ${o.integer ? 'integer' : 'number'}, not ${JSON.stringify(v)}`,
    );
  return n;
}

/**
 * Registers `tandem verify`: one tier (`--mode`; default: the fastest exhaustive one, `defaultMode`) over the configured entities, or continuous
 * reconciliation (`--continuous`). Prints the report (or JSON), records differing keys in the control plane's
 * mismatches, audits the run, and sets the bitmask exit code (docs/verify.md): 0 parity over every row, 1
 * differences, 2 error, 4 partial, 8 not every row compared (sample, quick). Option errors are
 * `TANDEM_ERR_USAGE` (exit 2).
 */
export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description(
      'compare mapping(source) with the target: full streaming, pushed-down checksums, samples or aggregates',
    )
    .option(
      '--mode <mode>',
      `tier: ${VERIFY_MODES.join(', ')} (default: the fastest exhaustive mode the engines allow — checksum, else full)`,
    )
    .option('--entity <names>', 'only these entities (comma-separated)')
    .option('--json', 'print the result as JSON')
    .option(
      '--max-differences <n>',
      'budget: stop after N differing keys, and list them (partial report); default: no budget, list 20 (config verify.maxReportedDifferences)',
    )
    .option('--max-seconds <s>', 'budget: stop starting new work after S seconds (partial report)')
    .option('--max-rows-per-second <n>', 'throttle the checksum tier: source rows per second')
    .option('--chunk-seconds <s>', 'seconds one checksum segment should take (default 0.5)')
    .option(
      '--concurrency <n>',
      'checksum segments at once, each on its own connection of both stores (default: config verify.concurrency, 4)',
    )
    .option('--sample <n>', 'keys per entity of the sample tier (default 1000)')
    .option('--continuous', 're-verify on a schedule (checksum tier), recheck recently applied keys, record mismatches')
    .option(
      '--interval <s>',
      'continuous: seconds between the starts of two passes (default: config ' + 'verify.intervalSeconds, else 60)',
    )
    .option(
      '--lag-seconds <s>',
      'seconds a difference must last before it is confirmed (default: with --continuous ' +
        'config verify.lagSeconds, 30; else 0)',
    )
    .option('--cycles <n>', 'continuous: stop after N passes (default: until SIGINT)')
    .addHelpText('after', HELP)
    .action(async (opts: VerifyCliOptions, cmd: Command) => {
      const configPath = cmd.optsWithGlobals().config as string;
      let parsed;
      try {
        parsed = parseOptions(opts);
      } catch (e) {
        process.exitCode = reportError(e);
        return;
      }
      let ctx: CommandContext;
      try {
        ctx = await openContext(configPath, entityList(opts.entity));
      } catch (e) {
        process.exitCode = reportError(e, !!opts.json);
        return;
      }
      const stop = stopOnSigint('stopping after the statements in flight');
      const args = {
        config: configPath,
        entity: opts.entity ?? null,
        mode: parsed.mode ?? 'default',
        continuous: !!opts.continuous,
      };
      const hb = await commandHeartbeat(ctx, 'verify', {
        mode: parsed.mode ?? 'default',
        continuous: !!opts.continuous,
      });
      try {
        process.exitCode = opts.continuous
          ? await continuous(ctx, parsed, opts, stop.signal, args)
          : await oneShot(ctx, parsed, opts, stop.signal, args);
      } catch (e) {
        await auditSafely(ctx, { command: 'verify', args, outcome: 'error', detail: errorLine(e) });
        process.exitCode = reportError(e);
      } finally {
        await hb.stop();
        stop.dispose();
        await ctx.close();
      }
    });
}

type Parsed = ReturnType<typeof parseOptions>;

/** Seconds between two passes of `tandem verify --continuous` when neither `--interval` nor the config says. */
export const DEFAULT_CONTINUOUS_INTERVAL = 60;

function parseOptions(opts: VerifyCliOptions) {
  // no --mode: the default picks the fastest exhaustive mode once the stores are open (runVerify)
  const mode = (opts.mode ?? (opts.continuous ? 'checksum' : undefined)) as VerifyMode | undefined;
  if (mode !== undefined && !VERIFY_MODES.includes(mode))
    throw new TandemError(
      'USAGE',
      `--mode must be one of ${VERIFY_MODES.join(', ')}, not ${JSON.stringify(opts.mode)}`,
    );
  if (opts.continuous && mode !== 'checksum')
    throw new TandemError('USAGE', '--continuous runs the checksum tier; leave out --mode or give --mode checksum');
  for (const o of ['interval', 'cycles'] as const)
    if (opts[o] !== undefined && !opts.continuous) throw new TandemError('USAGE', `--${o} needs --continuous`);
  if (opts.sample !== undefined && mode !== 'sample') throw new TandemError('USAGE', '--sample needs --mode sample');
  if (opts.concurrency !== undefined && mode !== undefined && mode !== 'checksum')
    throw new TandemError('USAGE', `--concurrency applies to the checksum tier, not --mode ${mode}`);
  return {
    mode,
    maxDifferences: number('max-differences', opts.maxDifferences, { integer: true }),
    maxSeconds: number('max-seconds', opts.maxSeconds, { zero: true }),
    maxRowsPerSecond: number('max-rows-per-second', opts.maxRowsPerSecond),
    chunkSeconds: number('chunk-seconds', opts.chunkSeconds),
    concurrency: number('concurrency', opts.concurrency, { integer: true }),
    sampleSize: number('sample', opts.sample, { integer: true }),
    intervalSeconds: number('interval', opts.interval, { zero: true }),
    lagSeconds: number('lag-seconds', opts.lagSeconds, { zero: true }),
    cycles: number('cycles', opts.cycles, { integer: true }),
  };
}

/**
 * The progress line of a one-shot run on a terminal (stderr, so `--json` output stays clean): the backfill's
 * reporter with the verb `compared`, one line per entity, ended with a newline when the run stops. Null off a
 * terminal: no progress output there.
 */
export function verifyProgress(
  log: Logger,
  out: NodeJS.WriteStream = process.stderr,
): {
  update: (p: { entity: string; compared: number; total: number; done: boolean }) => void;
  close: () => void;
} | null {
  if (!out.isTTY) return null;
  const reporter = new ProgressReporter(out, log, { verb: 'compared', event: 'verify.progress', logWhenNotTty: false });
  let current: string | null = null;
  return {
    update: (p: { entity: string; compared: number; total: number; done: boolean }) => {
      if (p.entity !== current) {
        reporter.close();
        reporter.reset();
        current = p.entity;
      }
      reporter.update({ entity: p.entity, copied: p.compared, total: p.total, throttle: null, done: p.done });
    },
    close: () => reporter.close(),
  };
}

/**
 * The audit outcome of a report: `differences` when any were found, `interrupted` when a budget or a signal
 * stopped it, `not_exhaustive` for a sample or quick run that found nothing (it proves no parity), `ok` only
 * for parity over every row.
 */
export function auditOutcome(r: Pick<VerifyReport, 'ok' | 'complete' | 'exhaustive'>): AuditEntry['outcome'] {
  return !r.ok ? 'differences' : !r.complete ? 'interrupted' : !r.exhaustive ? 'not_exhaustive' : 'ok';
}

/** One verification: report, record the differing keys as mismatches, audit. Returns the exit code. */
async function oneShot(
  ctx: CommandContext,
  p: Parsed,
  opts: VerifyCliOptions,
  signal: AbortSignal,
  args: Record<string, unknown>,
): Promise<number> {
  const found = new Map<string, FoundDifference[]>(ctx.entities.map((e) => [e.name, []]));
  const progress = verifyProgress(ctx.log);
  const startedAt = new Date().toISOString();
  const report = await runVerify(ctx.source, ctx.target, ctx.entities, {
    mode: p.mode,
    pageRows: ctx.config.verify.pageRows,
    maxReportedDifferences: p.maxDifferences ?? ctx.config.verify.maxReportedDifferences,
    maxDifferences: p.maxDifferences,
    maxSeconds: p.maxSeconds,
    maxRowsPerSecond: p.maxRowsPerSecond,
    chunkSeconds: p.chunkSeconds,
    concurrency: p.concurrency ?? ctx.config.verify.concurrency,
    sampleSize: p.sampleSize,
    signal,
    onDifference: (d, kv) => {
      const list = found.get(d.entity);
      if (list && list.length < MAX_RECORDED_PER_ENTITY) list.push({ difference: d, keyValues: kv });
    },
    onProgress: progress?.update,
  }).finally(() => progress?.close());
  await prepareControl(ctx);
  // the last verification of each entity, for tandem status
  await recordLastVerify(ctx.control, lastVerifyOf(report, startedAt)).catch((e) =>
    ctx.log.warn({ event: 'verify.record_failed', err: errorLine(e) }, 'could not record the last verification'),
  );
  const mismatches = await record(ctx, found, p.lagSeconds ?? 0, signal);
  // counters of the side written to that are behind the copied keys: a warning, the exit code is unchanged
  const sequences = await sequenceWarnings(ctx.migration, await ctx.migration.phase()).catch((e) => {
    ctx.log.warn({ event: 'verify.sequences_unread', err: errorLine(e) }, 'could not read the sequences');
    return [];
  });
  process.stdout.write(
    opts.json
      ? `${JSON.stringify({ ...report, ...(mismatches ? { mismatches } : {}), sequences })}\n`
      : `${[formatReport(report), ...sequenceWarningLines(sequences)].join('\n')}\n`,
  );
  await auditSafely(ctx, {
    command: 'verify',
    args,
    outcome: auditOutcome(report),
    detail: JSON.stringify({
      headline: report.headline,
      exhaustive: report.exhaustive,
      complete: report.complete,
      compared: report.compared,
      rowsTotal: report.rowsTotal,
      ...(report.parityLowerBound !== undefined ? { parityLowerBound: report.parityLowerBound } : {}),
      entities: report.entities.map((e) =>
        e.mode === 'quick'
          ? { entity: e.entity, mode: e.mode, differing: e.differing.length }
          : {
              entity: e.entity,
              mode: e.mode,
              parity: e.parity,
              missing: e.missing,
              extra: e.extra,
              different: e.different,
              complete: e.complete,
            },
      ),
    }),
  });
  return report.exitCode;
}

/**
 * Records the differing keys of a one-shot run in the control plane: confirmed at once without a lag window;
 * with one, pending, then compared again after the lag (confirmed or resolved). A failure to record is logged,
 * never fatal.
 */
async function record(
  ctx: CommandContext,
  found: Map<string, FoundDifference[]>,
  lagSeconds: number,
  signal: AbortSignal,
): Promise<Record<string, unknown> | null> {
  try {
    const now = Date.now();
    let any = false;
    for (const e of ctx.entities) {
      const list = found.get(e.name)!;
      if (list.length) any = true;
      await recordMismatches(ctx.control, e.name, list, now, lagSeconds === 0);
    }
    if (!any || lagSeconds === 0) return null;
    await new Promise<void>((res) => {
      const t = setTimeout(res, lagSeconds * 1000);
      signal.addEventListener(
        'abort',
        () => {
          clearTimeout(t);
          res();
        },
        { once: true },
      );
    });
    const moved: Record<string, unknown> = {};
    for (const e of ctx.entities)
      moved[e.name] = await recheckMismatches(ctx.source, ctx.target, ctx.control, e, Date.now(), lagSeconds * 1000);
    const names = ctx.entities.map((e) => e.name);
    const { counts, origins } = await mismatchFigures(ctx.control, names);
    return { rechecked: moved, counts, origins };
  } catch (err) {
    ctx.log.warn(
      { event: 'verify.record_failed', err: (err as Error).message },
      'could not record mismatches in the control plane',
    );
    return null;
  }
}

/** Continuous reconciliation until SIGINT or --cycles. Exit code of the last cycle. */
async function continuous(
  ctx: CommandContext,
  p: Parsed,
  opts: VerifyCliOptions,
  signal: AbortSignal,
  args: Record<string, unknown>,
): Promise<number> {
  await prepareControl(ctx);
  let last: CycleReport | null = null;
  // the flags override the config (verify.intervalSeconds, verify.lagSeconds), which overrides the defaults
  const svc = ctx.migration.services.verify({
    intervalSeconds: p.intervalSeconds ?? ctx.config.verify.intervalSeconds ?? DEFAULT_CONTINUOUS_INTERVAL,
    lagSeconds: p.lagSeconds ?? ctx.config.verify.lagSeconds,
    cycles: p.cycles,
    maxDifferences: p.maxDifferences,
    maxReportedDifferences: p.maxDifferences ?? ctx.config.verify.maxReportedDifferences,
    maxSeconds: p.maxSeconds,
    maxRowsPerSecond: p.maxRowsPerSecond,
    chunkSeconds: p.chunkSeconds,
    concurrency: p.concurrency,
    onError: 'fail',
    onCycle: (c) => {
      last = c;
      process.stdout.write(
        opts.json ? `${JSON.stringify({ ...c, metrics: verifyMetrics.snapshot() })}\n` : `${formatCycle(c)}\n`,
      );
    },
  });
  await svc.start();
  const unlink = stopOn(svc, signal);
  await svc.wait().finally(unlink);
  const l = last as CycleReport | null;
  const confirmed = l ? Object.values(l.mismatches).some((m) => m.confirmed > 0) : false;
  const partial = !l || !(l.pass as VerifyReport).complete;
  await auditSafely(ctx, {
    command: 'verify',
    args,
    outcome: confirmed ? 'differences' : partial ? 'interrupted' : 'ok',
    detail: l
      ? JSON.stringify({
          cycles: l.cycle,
          headline: l.pass.headline,
          complete: l.pass.complete,
          mismatches: l.mismatches,
        })
      : undefined,
  });
  return (confirmed ? EXIT_BITS.differences : 0) | (partial ? EXIT_BITS.partial : 0);
}

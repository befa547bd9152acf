import type { Command } from 'commander';
import type { EntityBackfillResult } from '../backfill/backfill.js';
import { formatDuration } from '../backfill/progress.js';
import { errorLine } from '../core/errors.js';
import { preflight } from '../backfill/preflight.js';
import { stopOn } from '../runtime/services/service.js';
import { commandHeartbeat } from './heartbeat.js';
import { advanceSequences, type SequencesReport } from '../cutover/sequences.js';
import { preflightTriggerLines, writtenSide } from '../cutover/warnings.js';
import {
  auditSafely,
  type CommandContext,
  entityList,
  EXIT,
  openContext,
  prepareControl,
  reportError,
  stopOnSignals,
} from './context.js';
import { sequencesLines } from './sequences.js';
import { intOption, numberOption } from './options.js';

/** Table of per-entity backfill results. */
export function formatBackfillSummary(results: EntityBackfillResult[]): string {
  const head = ['entity', 'copied', 'applied', 'total', 'time', 'rows/s', 'status'];
  const rows = results.map((r) => [
    r.entity,
    r.copied.toLocaleString('en-US'),
    r.applied.toLocaleString('en-US'),
    r.copiedTotal.toLocaleString('en-US'),
    formatDuration(r.seconds),
    r.seconds > 0 ? Math.round(r.copied / r.seconds).toLocaleString('en-US') : '-',
    r.status,
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => (i === 0 ? x.padEnd(w[i]!) : x.padStart(w[i]!))).join('  ');
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n');
}

/**
 * `tandem backfill --sync-sequences`: advances the counters of the side written to in the current phase (the new
 * store before write cutover, legacy after) past the copied keys, and audits it as `sequences advance` does.
 * Throws what `advanceSequences` throws (src/cutover/sequences.ts).
 */
async function syncSequences(ctx: CommandContext): Promise<SequencesReport> {
  const side = writtenSide(await ctx.migration.readPhase());
  const args = { side, dryRun: false, margin: 0, via: 'backfill --sync-sequences' };
  try {
    const r = await advanceSequences(ctx.migration, side);
    await auditSafely(ctx, {
      command: 'sequences advance',
      args,
      outcome: 'ok',
      detail: `advanced ${r.advanced} sequence(s) on ${r.side}: ${
        r.entries
          .filter((e) => e.to !== null && e.from !== e.to)
          .map((e) => `${e.table}.${e.column} ${e.from}→${e.to}`)
          .join(', ') || 'none'
      }`,
    });
    return r;
  } catch (e) {
    await auditSafely(ctx, { command: 'sequences advance', args, outcome: 'error', detail: errorLine(e) });
    throw e;
  }
}

export function registerBackfill(program: Command): void {
  program
    .command('backfill')
    .description('copy existing rows from source to target in keyset chunks (checkpointed, resumable, throttled)')
    .option('--entity <names>', 'only these entities (comma-separated)')
    .option('--max-rows-per-second <n>', 'throttle: rows per second (overrides the config)', numberOption({ above: 0 }))
    .option(
      '--workers <n>',
      "range workers in this process, each on its own key range (default the config's backfill.workers, else 1)",
      intOption({ min: 1, max: 64 }),
    )
    .option('--restart', 'start over from the first key even where a checkpoint exists (plans the ranges again)')
    .option('--json', 'print the summary as JSON')
    .option(
      '--sync-sequences',
      'after the copy, move every sequence, identity and AUTO_INCREMENT counter of the side written to (new before write cutover, legacy after) past the copied keys (audited)',
    )
    .addHelpText(
      'after',
      '\nUser triggers on the target tables are named in a warning line each before copying (docs/mapping.md "Target triggers").\nExit codes: 0 done, 2 error, 130 stopped by SIGINT (143 by SIGTERM) after a committed chunk (run again to resume).',
    )
    .action(
      async (
        opts: {
          entity?: string;
          maxRowsPerSecond?: number;
          workers?: number;
          restart?: boolean;
          json?: boolean;
          syncSequences?: boolean;
        },
        cmd: Command,
      ) => {
        const configPath = cmd.optsWithGlobals().config as string;
        let ctx;
        try {
          ctx = await openContext(configPath, entityList(opts.entity));
          await preflight(ctx.source, ctx.entities).catch(async (e) => {
            await ctx!.close();
            throw e;
          });
          // user triggers on the target tables: one warning line each, before copying (not an error)
          for (const line of await preflightTriggerLines(ctx.migration).catch(() => []))
            process.stderr.write(`${line}\n`);
        } catch (e) {
          process.exitCode = reportError(e, !!opts.json);
          return;
        }
        const stop = stopOnSignals('stopping after the current chunk commits');
        const args = {
          config: configPath,
          entity: opts.entity ?? null,
          maxRowsPerSecond: opts.maxRowsPerSecond ?? null,
          restart: !!opts.restart,
          ...(opts.workers ? { workers: opts.workers } : {}),
          ...(opts.syncSequences ? { syncSequences: true } : {}),
        };
        let hb: Awaited<ReturnType<typeof commandHeartbeat>> | undefined;
        try {
          await prepareControl(ctx);
          hb = await commandHeartbeat(ctx, 'backfill');
          const svc = ctx.migration.services.backfill({
            progressOut: process.stdout.isTTY ? process.stdout : null,
            restart: opts.restart,
            maxRowsPerSecond: opts.maxRowsPerSecond,
            workers: opts.workers,
            heartbeat: hb,
          });
          await svc.start();
          const unlink = stopOn(svc, stop.signal);
          const results = await svc.wait().finally(unlink);
          const interrupted = results.some((r) => r.status === 'interrupted');
          // --sync-sequences: after a finished copy, on the side written to in the current phase
          const seq = opts.syncSequences && !interrupted ? await syncSequences(ctx) : null;
          process.stdout.write(
            opts.json
              ? `${JSON.stringify({ entities: results, ...(seq ? { sequences: seq } : {}) })}\n`
              : `${[formatBackfillSummary(results), ...(seq ? sequencesLines(seq) : [])].join('\n')}\n`,
          );
          await auditSafely(ctx, {
            command: 'backfill',
            args,
            outcome: interrupted ? 'interrupted' : 'ok',
            detail: JSON.stringify(results.map((r) => ({ entity: r.entity, copied: r.copied, status: r.status }))),
          });
          process.exitCode = interrupted ? stop.exitCode : EXIT.ok;
        } catch (e) {
          await auditSafely(ctx, { command: 'backfill', args, outcome: 'error', detail: errorLine(e) });
          process.exitCode = reportError(e);
        } finally {
          await hb?.stop();
          stop.dispose();
          await ctx.close();
        }
      },
    );
}

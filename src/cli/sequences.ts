import type { Command } from 'commander';
import { ensureControlSchema } from '../control/control.js';
import { errorLine } from '../core/errors.js';
import { advanceSequences, type SequencesReport } from '../cutover/sequences.js';
import { SIDES, type Side } from '../cutover/sides.js';
import { auditSafely, EXIT, openContext, reportError } from './context.js';
import { enumOption, intOption } from './options.js';

const HELP = `
Moves every sequence, identity and AUTO_INCREMENT counter of the entities' tables on one side past the largest
key the tables hold, so the application's next insert without an explicit key does not collide with a copied
row: the new store's at write cutover (--side new, the default), legacy's at rollback (--side legacy, allowed
only after write cutover). A counter is never lowered. --dry-run prints what it would do and changes nothing.
Run it while nothing inserts into the tables (the cutover runs it behind its fence). Every run is audited.`;

/** The report as lines: one per numbered column (or table without one). */
export function sequencesLines(r: SequencesReport): string[] {
  const verb = r.dryRun ? 'would advance' : 'advanced';
  const out = [
    `sequences on ${r.side} (${r.store}): ${verb} ${r.advanced} of ${r.entries.filter((e) => e.kind !== 'none').length}${r.margin !== '0' ? `, margin ${r.margin}` : ''}${r.dryRun ? ' (dry run: nothing changed)' : ''}`,
  ];
  for (const e of r.entries) {
    const what = e.column ? `${e.table}.${e.column}` : e.table;
    if (e.kind === 'none') {
      out.push(`  ${what.padEnd(30)} no sequence${e.note ? ` (${e.note})` : ''}`);
      continue;
    }
    const moved = e.to !== null && e.from !== e.to;
    const seq = `${e.kind}${e.sequence && e.sequence !== e.table ? ` ${e.sequence}` : ''}`;
    const figures = moved ? `next ${e.from} → ${e.to}` : `next ${e.from ?? '-'}`;
    out.push(
      `  ${what.padEnd(30)} ${seq.padEnd(36)} max ${String(e.max ?? '-').padEnd(12)} ${figures}${!moved && e.note ? ` (${e.note})` : ''}`,
    );
  }
  return out;
}

/**
 * Registers `tandem sequences advance [--side new|legacy] [--dry-run] [--margin N] [--json]`
 * (src/cutover/sequences.ts): prints what it did (or would do) and audits the run. Exit 0, or 2 on an error
 * (`TANDEM_ERR_LEGACY_WRITE_REFUSED` for --side legacy before write cutover).
 */
export function registerSequences(program: Command): void {
  const seq = program
    .command('sequences')
    .description("sequences, identity and AUTO_INCREMENT counters of the entities' tables");
  seq
    .command('advance')
    .description('move every sequence of one side past the copied keys (never lowers one)')
    .option('--side <side>', `the store whose tables to advance: ${SIDES.join(' or ')}`, enumOption(SIDES), 'new')
    .option('--dry-run', 'print what would change, change nothing')
    .option('--margin <n>', 'leave N values unused past the largest key (default 0)', intOption({ min: 0 }))
    .option('--json', 'print the report as JSON')
    .addHelpText('after', HELP)
    .action(async (opts: { side: Side; dryRun?: boolean; margin?: number; json?: boolean }, cmd: Command) => {
      const configPath = cmd.optsWithGlobals().config as string;
      const args = { side: opts.side, dryRun: !!opts.dryRun, margin: opts.margin ?? 0 };
      let ctx: Awaited<ReturnType<typeof openContext>> | undefined;
      try {
        ctx = await openContext(configPath);
        await ensureControlSchema(ctx.control);
        const r = await advanceSequences(ctx.migration, opts.side, { dryRun: opts.dryRun, margin: opts.margin ?? 0 });
        process.stdout.write(opts.json ? `${JSON.stringify(r, null, 2)}\n` : `${sequencesLines(r).join('\n')}\n`);
        await auditSafely(ctx, {
          command: 'sequences advance',
          args,
          outcome: 'ok',
          detail: `${r.dryRun ? 'would advance' : 'advanced'} ${r.advanced} sequence(s) on ${r.side}: ${
            r.entries
              .filter((e) => e.to !== null && e.from !== e.to)
              .map((e) => `${e.table}.${e.column} ${e.from}→${e.to}`)
              .join(', ') || 'none'
          }`,
        });
        process.exitCode = EXIT.ok;
      } catch (e) {
        if (ctx) await auditSafely(ctx, { command: 'sequences advance', args, outcome: 'error', detail: errorLine(e) });
        process.exitCode = reportError(e);
      } finally {
        await ctx?.close();
      }
    });
}

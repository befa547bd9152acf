import type { Command } from 'commander';
import { DualWriter } from '../capture/writer.js';
import { errorLine } from '../core/errors.js';
import { defaultRehearsalSteps, dualLoadWriter, rehearsalLines, rehearse } from '../cutover/rehearse.js';
import { auditSafely, EXIT, openContext, prepareControl, reportError } from './context.js';
import { enumOption, intOption } from './options.js';

const HELP = `
On the configured (staging) stores, under a synthetic write load through the dual writer's phase-aware form:
cutover → rollback → cutover, measuring the write pause of each step (p99, max of the held writes), the
rollback's RTO, lost writes (by the load's own history, checked with plain SQL: must be 0) and parity after each
step (a full verification). The load writes only rows it creates (integer keys from 1,900,000,000, text keys
starting with 'tandem-load-') and deletes them at the end. The result is stored (the cutover gate reads it) and
audited. Ends in new_primary (the new store is primary), or with --end legacy rolled back once more.
Exit codes: 0 passed, 1 failed (the reason is printed), 2 error.`;

/** Registers `tandem rehearse [--writes-per-second N] [--end new_primary|legacy] [--json]`. */
export function registerRehearse(program: Command): void {
  program
    .command('rehearse')
    .description('rehearse cutover → rollback → cutover under a synthetic write load on staging; stores the result')
    .option('--writes-per-second <n>', 'target rate of the synthetic load', intOption({ min: 1, max: 100_000 }), 100)
    .option(
      '--end <where>',
      'where it ends: new_primary, or legacy (rolled back once more at the end)',
      enumOption(['new_primary', 'legacy'] as const),
      'new_primary',
    )
    .option('--json', 'print the report as JSON')
    .addHelpText('after', HELP)
    .action(async (opts: { writesPerSecond: number; end: 'new_primary' | 'legacy'; json?: boolean }, cmd: Command) => {
      const configPath = cmd.optsWithGlobals().config as string;
      let ctx: Awaited<ReturnType<typeof openContext>> | undefined;
      let dual: DualWriter | undefined;
      try {
        ctx = await openContext(configPath);
        await prepareControl(ctx);
        const m = ctx.migration;
        dual = new DualWriter(m, 50);
        const say = opts.json ? () => {} : (l: string) => process.stdout.write(`${l}\n`);
        const r = await rehearse(m, {
          steps: defaultRehearsalSteps(),
          writer: dualLoadWriter(dual, m.stores.legacy.sql, m.stores.new.sql),
          writesPerSecond: opts.writesPerSecond,
          end: opts.end,
          say,
        });
        process.stdout.write(opts.json ? `${JSON.stringify(r, null, 2)}\n` : `\n${rehearsalLines(r).join('\n')}\n`);
        process.exitCode = r.passed ? EXIT.ok : EXIT.differences;
      } catch (e) {
        if (ctx)
          await auditSafely(ctx, {
            command: 'rehearse',
            args: { writesPerSecond: opts.writesPerSecond, end: opts.end },
            outcome: 'error',
            detail: errorLine(e),
          });
        process.exitCode = reportError(e);
      } finally {
        await dual?.close().catch(() => {});
        await ctx?.close();
      }
    });
}

import type { Command } from 'commander';
import { isTandemError } from '../core/errors.js';
import { formatVerifyReport } from '../verify/report.js';
import { verifyEntities } from '../verify/verify.js';
import { auditSafely, entityList, EXIT, openContext, prepareControl, reportError } from './context.js';

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('compare mapping(source) with the target, row by row and column by column, streamed in key order')
    .option('--entity <names>', 'only these entities (comma-separated)')
    .option('--json', 'print the result as JSON')
    .option('--max-differences <n>', 'how many differing keys to list (default from config: 20)', (v) => Number(v))
    .addHelpText('after', '\nExit codes: 0 full parity, 1 differences found, 2 error.')
    .action(async (opts: { entity?: string; json?: boolean; maxDifferences?: number }, cmd: Command) => {
      const configPath = cmd.optsWithGlobals().config as string;
      let ctx;
      try {
        ctx = await openContext(configPath, entityList(opts.entity));
      } catch (e) {
        process.exitCode = reportError(e);
        return;
      }
      const args = { config: configPath, entity: opts.entity ?? null };
      try {
        const result = await verifyEntities(ctx.source, ctx.target, ctx.entities, {
          pageRows: ctx.config.verify.pageRows,
          maxReportedDifferences: opts.maxDifferences ?? ctx.config.verify.maxReportedDifferences,
        });
        process.stdout.write(opts.json ? `${JSON.stringify(result)}\n` : `${formatVerifyReport(result)}\n`);
        await prepareControl(ctx);
        await auditSafely(ctx, { command: 'verify', args, outcome: result.ok ? 'ok' : 'differences', detail: JSON.stringify(result.entities.map((e) => ({ entity: e.entity, parity: e.parity, missing: e.missing, extra: e.extra, different: e.different }))) });
        process.exitCode = result.ok ? EXIT.ok : EXIT.differences;
      } catch (e) {
        await auditSafely(ctx, { command: 'verify', args, outcome: 'error', detail: isTandemError(e) ? e.toLine() : String((e as Error)?.message ?? e) });
        process.exitCode = reportError(e);
      } finally {
        await ctx.close();
      }
    });
}

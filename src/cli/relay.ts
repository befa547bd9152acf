import type { Command } from 'commander';
import { runRelay } from '../apply/relay.js';
import { ensureControlSchema } from '../control/control.js';
import { TandemError, isTandemError } from '../core/errors.js';
import { auditSafely, entityList, EXIT, openContext, prepareControl, reportError } from './context.js';

export function registerRelay(program: Command): void {
  program
    .command('relay')
    .description('drain the outbox of the primary and apply every change to the secondary (run several at once to scale)')
    .option('--entity <names>', 'only these entities (comma-separated)')
    .option('--batch-size <n>', 'changes claimed per batch', (v) => Number(v), 500)
    .option('--max-attempts <n>', 'attempts before a change goes to the dead-letter table', (v) => Number(v), 10)
    .option('--until-empty', 'stop when nothing is due instead of polling')
    .option('--json', 'print the final figures as JSON')
    .addHelpText('after', '\nStops on SIGINT/SIGTERM after the batch in flight. Exit codes: 0, 2 error.')
    .action(async (opts: { entity?: string; batchSize: number; maxAttempts: number; untilEmpty?: boolean; json?: boolean }, cmd: Command) => {
      const configPath = cmd.optsWithGlobals().config as string;
      let ctx;
      try {
        for (const [name, v] of [['--batch-size', opts.batchSize], ['--max-attempts', opts.maxAttempts]] as const)
          if (!Number.isInteger(v) || v < 1) throw new TandemError('USAGE', `${name} must be a whole number ≥ 1`);
        ctx = await openContext(configPath, entityList(opts.entity));
      } catch (e) {
        process.exitCode = reportError(e);
        return;
      }
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const args = { config: configPath, entity: opts.entity ?? null, untilEmpty: !!opts.untilEmpty };
      try {
        await prepareControl(ctx);
        await ensureControlSchema(ctx.source);
        let last = 0;
        const stats = await runRelay({
          primary: ctx.source, secondary: ctx.target, control: ctx.control, entities: ctx.entities, log: ctx.log,
          batchSize: opts.batchSize, maxAttempts: opts.maxAttempts, untilEmpty: opts.untilEmpty, signal: stop.signal,
          onBatch: (s) => {
            if (Date.now() - last < 1000) return;
            last = Date.now();
            ctx!.log.info({ event: 'relay.progress', ...s }, `relay: ${s.changes} changes, ${s.applied} applied, ${s.deleted} deleted, ${s.deadLettered} dead-lettered, max lag ${s.maxLagMs} ms`);
          },
        });
        process.stdout.write(opts.json ? `${JSON.stringify(stats)}\n` : `relay: ${stats.changes} changes, ${stats.applied} rows applied, ${stats.deleted} deleted, ${stats.skipped} skipped (not newer), ${stats.deadLettered} dead-lettered, max lag ${stats.maxLagMs} ms\n`);
        await auditSafely(ctx, { command: 'relay', args, outcome: 'ok', detail: JSON.stringify(stats) });
        process.exitCode = EXIT.ok;
      } catch (e) {
        await auditSafely(ctx, { command: 'relay', args, outcome: 'error', detail: isTandemError(e) ? e.toLine() : String((e as Error)?.message ?? e) });
        process.exitCode = reportError(e);
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await ctx.close();
      }
    });
}

import type { Command } from 'commander';
import { isTandemError } from '../core/errors.js';
import { createLogger } from '../core/logger.js';
import { runDemo } from '../demo/demo.js';
import { runRoadDemo } from '../demo/road.js';
import { EXIT, reportError, stopOnSignals } from './context.js';
import { intOption } from './options.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'the whole road on embedded stores (SQLite → PGlite, no server): an application running throughout, backfill, relay, verify, shadow, canary with the guard, rehearsal, cutover, rollback, cutover, legacy read-only; --only-backfill: backfill and verify only',
    )
    .option(
      '--only-backfill',
      'the short version: generate, backfill and verify 100,000 users (no application, no cutover)',
    )
    .option(
      '--dir <dir>',
      'where the demo databases go: a new or empty folder, or one an earlier demo created (anything else is refused)',
      '.tandem-demo',
    )
    .option(
      '--rows <n>',
      'how many users (1 to 10,000,000; default 20,000 for the whole road, 100,000 with --only-backfill)',
      intOption({ min: 1, max: 10_000_000 }),
    )
    .option(
      '--writes-per-second <n>',
      "the application's write rate (the whole road)",
      intOption({ min: 1, max: 10_000 }),
      150,
    )
    .addHelpText(
      'after',
      '\nWith --only-backfill, SIGINT/SIGTERM stop the backfill after the chunk in flight (audited; resume with tandem backfill).\nExit codes: 0 parity (and, for the whole road, no lost write), 1 differences, 2 error, 130 stopped by SIGINT, 143 by SIGTERM.',
    )
    .action(async (opts: { rows?: number; dir: string; onlyBackfill?: boolean; writesPerSecond: number }) => {
      if (!opts.onlyBackfill) {
        try {
          const r = await runRoadDemo({
            rows: opts.rows ?? 20_000,
            dir: opts.dir,
            log: createLogger(),
            out: process.stdout,
            writesPerSecond: opts.writesPerSecond,
          });
          process.exitCode = r.lostWrites === 0 && r.parity === 100 ? EXIT.ok : EXIT.differences;
        } catch (e) {
          process.exitCode = reportError(e);
        }
        return;
      }
      const stop = stopOnSignals('stopping after the current chunk commits');
      try {
        const r = await runDemo({
          rows: opts.rows ?? 100_000,
          dir: opts.dir,
          log: createLogger(),
          out: process.stdout,
          signal: stop.signal,
        });
        process.exitCode = r.verify.ok ? EXIT.ok : EXIT.differences;
      } catch (e) {
        const code = reportError(e);
        process.exitCode = isTandemError(e, 'BACKFILL_INTERRUPTED') && stop.signal.aborted ? stop.exitCode : code;
      } finally {
        stop.dispose();
      }
    });
}
